"""Production inference: one call of a leaderboard's production model, paid for, traced and
possibly captured as a dataset row. Both routes (native and OpenAI-compatible) end here.

The life of a call (docs/inference.md):

1. Authorize: an API token (or a member's session) with the ``inference`` scope; dataset
   (``hpd_``) tokens are refused; another workspace's leaderboard is 404.
2. Resolve the production target (cached a few seconds per instance, ``target.py``).
3. Render the leaderboard prompt with the input (``render_prompt``, as evaluation does).
4. Reserve the worst-case cost on the token's budget (402 ``budget_exhausted``).
5. Call the production model through the provider layer; on a retryable failure (rate
   limited, upstream error, timeout) and when the leaderboard allows it, the next ranked
   model answers instead (``fallback_from`` says which failed).
6. Settle the reservation to the actual cost (release it on failure).
7. Emit the ``inference`` trace on the queue and, when the capture rule picks the call, add
   it as a pending dataset row; both run in parallel with the settlement and neither can fail
   the paid call (failures are logged and counted).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.identity.access import require_inference_caller, require_leaderboard_access
from drgero.identity.principal import Principal, Scope
from drgero.inference.capture import CaptureDecision, batch_id_for, captured_row, decide
from drgero.inference.request import InferenceRequest
from drgero.inference.target import ModelChoice, ProductionTarget, TargetCache, resolve
from drgero.leaderboards.prompt import render_prompt, render_turns

logger = logging.getLogger(__name__)

# Tokens a chat message costs beyond its text (role and separators), for the worst case.
MESSAGE_OVERHEAD_TOKENS = 16


@dataclass
class InferenceOutcome:
    output: str
    model: ModelChoice
    usage: dict[str, int]
    cost_usd: float | None
    latency_ms: float
    trace_id: str
    finish_reason: str
    fallback_from: list[dict[str, str]] = field(default_factory=list)
    capture: str = CaptureDecision.OFF.value
    tool_calls: list[dict[str, Any]] | None = None  # as the model sent them
    logprobs: Any = None  # choices[0].logprobs as the model sent it (logprobs: true)


class EventLoopThread:
    """One event loop per process, on a daemon thread: provider connections stay pooled across
    invocations, and several handler threads (the local cloud) can submit calls at once."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="inference-loop", daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._ensure()).result()


_SHARED_LOOP = EventLoopThread()
_SHARED_AFTER: ThreadPoolExecutor | None = None
_SHARED_LOCK = threading.Lock()


def _after_call_pool() -> ThreadPoolExecutor:
    """The process-wide pool for the work after a call (settlement runs in the caller)."""
    global _SHARED_AFTER
    with _SHARED_LOCK:
        if _SHARED_AFTER is None:
            _SHARED_AFTER = ThreadPoolExecutor(max_workers=8, thread_name_prefix="inference-after")
        return _SHARED_AFTER


def inference_provider_settings(settings: Settings) -> Any:
    """The provider settings of the hot path: fewer retries, a read timeout under 29 s."""
    providers = settings.providers
    return providers.model_copy(
        update={
            "max_retries": settings.inference.max_retries,
            "read_timeout_seconds": min(providers.read_timeout_seconds, settings.inference.read_timeout_seconds),
        }
    )


def unsupported_parameter(choice: ModelChoice, name: str) -> ApiError:
    return ApiError(
        400,
        "unsupported_parameter",
        f"The production model {choice.name} ({choice.platform}) cannot honour '{name}'; it is never dropped "
        "silently. Remove it, or make a model that supports it production (its supported_parameters).",
        [{"field": name, "error": "not supported by the production model"}],
    )


def serving_chain(target: ProductionTarget, request: InferenceRequest) -> tuple[ModelChoice, ...]:
    """The models that may answer ``request``: 400 ``unsupported_parameter`` when the
    production model cannot honour one of its options (or tool turns); fallbacks that
    cannot are skipped (a fallback must not answer something else than was asked)."""
    from drgero.providers.capabilities import missing_parameter, required_parameters

    needed = required_parameters(request.options, request.messages if request.messages else None)
    if request.stream:
        needed.append("stream")
    if not needed:
        return target.models
    production = target.models[0]
    missing = missing_parameter(production.supported, needed) if production.chat else needed[0]
    if missing is not None:
        raise unsupported_parameter(production, missing)
    return tuple(m for m in target.models if m.chat and missing_parameter(m.supported, needed) is None)


def messages_for(choice: ModelChoice, prompt: str, request: InferenceRequest) -> list[dict[str, Any]]:
    """The chat list sent to ``choice``: turns passed through around the rendered last user
    turn when it speaks chat and the request came as messages; else one rendered user turn."""
    if request.messages and choice.chat:
        return render_turns(prompt, request.messages)
    return [{"role": "user", "content": render_prompt(prompt, request.input_text)}]


def worst_case_cost(choices: tuple[ModelChoice, ...], rendered: str, max_tokens: int | None) -> float | None:
    """The most any model of the chain can cost for this request, or None when it cannot be
    bounded (no max_tokens, or a model without a known price): the budget then reserves
    ``auth.budget_unestimated_reserve_usd``. Input tokens are bounded by the prompt's UTF-8
    length (no tokenizer yields more tokens than bytes)."""
    if max_tokens is None:
        return None
    prompt_tokens = len(rendered.encode("utf-8")) + MESSAGE_OVERHEAD_TOKENS
    worst = 0.0
    for choice in choices:
        if choice.pricing is None:
            return None
        worst = max(worst, choice.pricing.cost(prompt_tokens, max_tokens))
    return worst


def _choice_field(raw: Any, *path: str) -> Any:
    """``choices[0].<path>`` of a chat answer, or None."""
    try:
        node = raw["choices"][0]
        for name in path:
            node = node.get(name)
    except (TypeError, KeyError, IndexError, AttributeError):
        return None
    return node if node else None


def _finish_reason(raw: Any) -> str:
    try:
        reason = raw["choices"][0].get("finish_reason")
    except (TypeError, KeyError, IndexError, AttributeError):
        return "stop"
    return reason if isinstance(reason, str) and reason else "stop"


class InferenceService:
    """Serves production inference for one function instance (built once per cold start)."""

    def __init__(
        self,
        settings: Settings,
        clients: AwsClients,
        *,
        provider_client: Any = None,
        sink: Any = None,
        loop: EventLoopThread | None = None,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.table = clients.table
        self.cache = TargetCache(settings.inference.target_cache_seconds)
        self._provider_client = provider_client
        self._sink = sink
        self._pusher: Any = None
        self.loop = loop or _SHARED_LOOP
        # The trace and the capture run side by side with the settlement after the model answered.
        self.after_call = _after_call_pool()

    # -- lazily built collaborators (cold start pays only for what it uses) ------------------
    @property
    def provider_client(self) -> Any:
        if self._provider_client is None:
            # Cold start: the provider layer and httpx (~160 modules) load with the first model call.
            from drgero.providers.client import ProviderClient

            self._provider_client = ProviderClient.shared(inference_provider_settings(self.settings))
        return self._provider_client

    @property
    def sink(self) -> Any:
        if self._sink is None:
            from drgero.traces.sink import QueueSink  # Cold start: the traces package, at the first trace.

            self._sink = QueueSink.from_clients(self.settings, self.clients)
        return self._sink

    @property
    def pusher(self) -> Any:
        if self._pusher is None:
            from drgero.datasets.push import Pusher  # Cold start: only for the first captured call.

            self._pusher = Pusher(self.settings, self.clients)
        return self._pusher

    # -- the call ----------------------------------------------------------------------------
    @staticmethod
    def authorize(principal: Principal, leaderboard_id: str | None) -> None:
        """The ``inference`` scope; dataset (hpd_) tokens never (404 for another leaderboard,
        403 for their own). ``leaderboard_id`` None: not known yet (the chat route's body)."""
        if leaderboard_id is None:
            require_inference_caller(principal)
            return
        require_leaderboard_access(principal, leaderboard_id, Scope.INFERENCE, allow_dataset_token=False)

    def target(self, principal: Principal, leaderboard_id: str) -> ProductionTarget:
        self.authorize(principal, leaderboard_id)
        key = (principal.workspace_id, leaderboard_id)
        return self.cache.get(
            key, lambda: resolve(self.settings, self.clients, self.table, principal.workspace_id, leaderboard_id)
        )

    def prepare(
        self, principal: Principal, leaderboard_id: str, request: InferenceRequest
    ) -> tuple[ProductionTarget, tuple[ModelChoice, ...], dict[str, list[dict[str, Any]]], int | None, dict]:
        """Steps 1-4 of a call (streamed or not): the target, the models that may serve the
        request, what each is sent, max_tokens, and the budget reservation (402 when the
        worst case does not fit). Nothing is held when this raises."""
        from drgero.identity import budget

        target = self.target(principal, leaderboard_id)
        chain = serving_chain(target, request)
        sent = {choice.model_id: messages_for(choice, target.prompt, request) for choice in chain}
        max_tokens = (
            request.max_tokens if request.max_tokens is not None else self.settings.inference.default_max_tokens
        )
        # Bound by the largest body any model of the chain is sent (turns, tools, schema).
        rendered = max((json.dumps([m, request.options]) for m in sent.values()), key=len)
        estimate = worst_case_cost(chain, rendered, max_tokens)
        # The id is known before the write, so an ambiguous failure can still release it.
        reservation_id = budget.new_reservation_id(self.settings, principal, estimate)
        try:
            reservation = budget.reserve(
                self.table,
                self.settings,
                principal,
                estimate,
                purpose=f"inference:{leaderboard_id}",
                reservation_id=reservation_id,
            )
        except ApiError:
            raise  # refused (402, 401): nothing is held
        except Exception:  # any other failure is ambiguous; released below, then re-raised
            # Ambiguous: the reservation may have committed before the error reached us (a
            # timeout, a 5xx after the write). No hold may outlive this call, so release it by
            # its id; a reservation that never committed has nothing to release.
            self._release(budget, reservation_id)
            raise
        return target, chain, sent, max_tokens, reservation

    def infer(self, principal: Principal, leaderboard_id: str, request: InferenceRequest) -> InferenceOutcome:
        # Cold start: the budget, provider and trace modules (httpx among them) load with the first
        # call that passed authorization, not at import (inference function).
        from drgero.identity import budget
        from drgero.providers.errors import ProviderError
        from drgero.traces.model import new_trace_id  # the traces package (~11 modules)

        target, chain, sent, max_tokens, reservation = self.prepare(principal, leaderboard_id, request)
        trace_id = new_trace_id()
        started = time.perf_counter()
        failed: list[tuple[ModelChoice, Any]] = []
        try:
            result, choice = self.loop.run(
                self._call_chain(chain, sent, max_tokens, request.temperature, request.options, failed)
            )
        except ProviderError as exc:
            latency_ms = (time.perf_counter() - started) * 1000
            self._release(budget, reservation["id"])
            last = failed[-1][0] if failed else chain[0]
            self._emit_trace(target, trace_id, request, None, last, latency_ms, None, None, failed, "off", exc)
            error = exc.to_api_error()
            error.details = {**(error.details or {}), "trace_id": trace_id, **_fallback_details(failed[:-1])}
            raise error from exc
        except BaseException:
            self._release(budget, reservation["id"])
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        cost = result.cost_usd
        usage = {
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
            "total_tokens": result.usage.total_tokens,
        }
        decision = decide(target.capture, target.dataset_mode, trace_id, request.metadata)
        side: list[Future] = [
            self.after_call.submit(
                self._emit_trace,
                target,
                trace_id,
                request,
                result.output,
                choice,
                latency_ms,
                usage,
                cost,
                failed,
                decision.value,
                None,
            )
        ]
        if decision is CaptureDecision.CAPTURE:
            origin = {"model_id": choice.model_id, "trace_id": trace_id, "latency_ms": round(latency_ms, 3)}
            if cost is not None:
                origin["cost_usd"] = cost
            side.append(
                self.after_call.submit(self._capture, principal, target, trace_id, request, result.output, origin)
            )
        self._settle(budget, reservation["id"], cost)
        for future in side:
            future.result()  # each side task logs its own failure and never raises
        return InferenceOutcome(
            output=result.output,
            model=choice,
            usage=usage,
            cost_usd=cost,
            latency_ms=round(latency_ms, 3),
            trace_id=trace_id,
            finish_reason=_finish_reason(result.raw),
            fallback_from=[_failure_view(c, e) for c, e in failed],
            capture=decision.value,
            tool_calls=_choice_field(result.raw, "message", "tool_calls"),
            logprobs=_choice_field(result.raw, "logprobs") if request.options.get("logprobs") else None,
        )

    async def _call_chain(
        self,
        models: tuple[ModelChoice, ...],
        sent: dict[str, list[dict[str, Any]]],
        max_tokens: int | None,
        temperature: float | None,
        options: dict[str, Any],
        failed: list[tuple[ModelChoice, Any]],
    ) -> tuple[Any, ModelChoice]:
        """The production model, then each fallback while the failure is retryable."""
        # Cold start: the provider layer, with the first model call (as provider_client).
        from drgero.providers.call import call_model
        from drgero.providers.errors import ProviderError

        for index, choice in enumerate(models):
            try:
                result = await call_model(
                    choice.target,
                    sent[choice.model_id],
                    client=self.provider_client,
                    api_key=choice.api_key,
                    pricing=choice.pricing,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    options=options,
                )
                return result, choice
            except ProviderError as exc:
                failed.append((choice, exc))
                if not exc.retryable or index == len(models) - 1:
                    raise
                logger.warning(
                    "production model failed; falling back",
                    extra={"model_id": choice.model_id, "error": exc.code, "next_model_id": models[index + 1].model_id},
                )
        raise AssertionError("unreachable: the chain is never empty")

    def stream(self, principal: Principal, leaderboard_id: str, request: InferenceRequest) -> Any:
        """A streamed call, opened up to its first chunk (``drgero.inference.streaming``):
        every refusal and a failure before the first byte raise ApiError like :meth:`infer`."""
        from drgero.inference.streaming import LiveStream

        return LiveStream(self, principal, leaderboard_id, request).open()

    # -- money -------------------------------------------------------------------------------
    def _settle(self, budget: Any, reservation_id: str, cost: float | None) -> None:
        # An unknown cost (an endpoint that reports no tokens and has no price) settles at 0:
        # the call's cost_usd says null, and the trace says the same.
        actual = cost if cost is not None and math.isfinite(cost) and cost >= 0 else 0.0
        try:
            budget.settle(self.table, reservation_id, actual)
        except Exception:  # noqa: BLE001 - the answer is already the caller's; logged, not raised
            # The hold stays open and the reservation sweep releases it: the call goes
            # uncharged rather than the caller losing an answer that was produced.
            logger.exception("inference settlement failed; the reservation sweep will release the hold")

    def _release(self, budget: Any, reservation_id: str) -> None:
        try:
            budget.release(self.table, reservation_id)
        except Exception:  # noqa: BLE001 - the caller's error matters more; the sweep releases the hold
            logger.exception("inference release failed; the reservation sweep will release the hold")

    # -- after the call ----------------------------------------------------------------------
    def _emit_trace(
        self,
        target: ProductionTarget,
        trace_id: str,
        request: InferenceRequest,
        output: str | None,
        choice: ModelChoice,
        latency_ms: float,
        usage: dict[str, int] | None,
        cost: float | None,
        failed: list[tuple[ModelChoice, Any]],
        capture: str,
        error: Any,
    ) -> None:
        # Cold start: the traces package, at the first trace (as sink).
        from drgero.traces.model import ModelInfo, Trace, TraceKind, TraceStatus
        from drgero.traces.redaction import RedactionPolicy, redact

        try:
            metadata: dict[str, Any] = {"strategy": target.strategy, "capture": capture}
            if request.metadata:
                metadata["request"] = request.metadata
            failures = failed if error is None else failed[:-1]
            if failures:
                metadata["fallback_from"] = [_failure_view(c, e) for c, e in failures]
            trace = Trace(
                id=trace_id,
                workspace_id=target.workspace_id,
                leaderboard_id=target.leaderboard_id,
                kind=TraceKind.INFERENCE,
                name="inference",
                duration_ms=round(latency_ms, 3),
                status=TraceStatus.ERROR if error is not None else TraceStatus.OK,
                error=f"{error.code}: {error.message}"[:2000] if error is not None else None,
                input=request.messages if request.messages is not None else request.input_text,
                output=output,
                model=ModelInfo(**choice.public()),
                usage=usage,
                cost_usd=cost,
                metadata=metadata,
            )
            self.sink.emit(redact(trace, RedactionPolicy.of_leaderboard(target.leaderboard)))
        except Exception:  # noqa: BLE001 - a missing trace must never fail a paid call
            logger.exception("inference trace not emitted", extra={"trace_id": trace_id})

    def _capture(
        self,
        principal: Principal,
        target: ProductionTarget,
        trace_id: str,
        request: InferenceRequest,
        output: str,
        origin: dict[str, Any],
    ) -> str:
        row = captured_row(trace_id, request.input_text, output, request.metadata, origin, request.messages)
        try:
            self.pusher.accept_rows(principal, target.leaderboard_id, [row], batch_id_for(trace_id))
            return "captured"
        except ApiError as exc:
            # Limits reached, dataset closed, row too large: the call stands, the row is skipped.
            logger.info("inference capture skipped", extra={"trace_id": trace_id, "code": exc.code})
            return f"skipped:{exc.code}"
        except Exception:  # noqa: BLE001 - capture is best effort; it must not fail a paid call
            logger.exception("inference capture failed", extra={"trace_id": trace_id})
            return "failed"


def _failure_view(choice: ModelChoice, error: Any) -> dict[str, str]:
    return {**choice.public(), "error": getattr(error, "code", "error")}


def _fallback_details(failures: list[tuple[ModelChoice, Any]]) -> dict[str, Any]:
    return {"fallback_from": [_failure_view(c, e) for c, e in failures]} if failures else {}
