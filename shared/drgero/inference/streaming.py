"""A streamed production call (``stream: true``): the upstream's chunks relayed as they come.

The life of a streamed call (docs/inference.md, "Streaming"):

1. Before the first byte, exactly as a buffered call: authorize, resolve the target, check the
   models can stream (400 ``unsupported_parameter`` naming ``stream``), reserve the worst case
   on the budget (402). Then open the upstream stream and wait for its first chunk; a
   retryable failure until then falls back to the next ranked model (``fallback_from``), a
   final one is an ordinary HTTP error, and the reservation is released.
2. After the first byte the model is fixed: chunks are yielded as the upstream sends them. An
   upstream failure now can only be told in the stream: an ``error`` item, and the call ends.
3. However the stream ends (the upstream finished, failed, or the client went away and the
   edge closed this iterator), the reservation is settled on the usage the upstream reported
   (always asked for: ``stream_options.include_usage``). A client that leaves early is still
   charged for what the upstream produced: the upstream is read to its end first (bounded by
   the read timeout), since the provider bills those tokens whether we relay them or not.
   Then the trace is emitted and the call captured, as for a buffered call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from drgero.identity.principal import Principal
from drgero.inference.request import InferenceRequest
from drgero.inference.target import ModelChoice

logger = logging.getLogger(__name__)


class LiveStream:
    """One streamed call, opened (first chunk in hand) by :meth:`InferenceService.stream`.
    Iterate it for ``("chunk", dict)`` items and at most one ``("error", ApiError)``;
    ``close()`` (or leaving the iteration early) ends the call the same way."""

    def __init__(self, service: Any, principal: Principal, leaderboard_id: str, request: InferenceRequest) -> None:
        self.service = service
        self.principal = principal
        self.leaderboard_id = leaderboard_id
        self.request = request
        self.outcome: Any = None  # the InferenceOutcome, once the call ended
        self._finished = False

    # -- before the first byte ---------------------------------------------------------------
    def open(self) -> LiveStream:
        from drgero.identity import budget
        from drgero.providers.errors import ProviderError
        from drgero.traces.model import new_trace_id

        service = self.service
        self.target, chain, self.sent, self.max_tokens, reservation = service.prepare(
            self.principal, self.leaderboard_id, self.request
        )
        self.reservation_id = reservation["id"]
        self.trace_id = new_trace_id()
        self.failed: list[tuple[ModelChoice, Any]] = []
        self.started = time.perf_counter()
        try:
            self.stream, self.choice, self.first = service.loop.run(self._open_chain(chain))
        except ProviderError as exc:
            latency_ms = (time.perf_counter() - self.started) * 1000
            service._release(budget, self.reservation_id)
            last = self.failed[-1][0] if self.failed else chain[0]
            service._emit_trace(
                self.target, self.trace_id, self.request, None, last, latency_ms, None, None, self.failed, "off", exc
            )
            from drgero.inference.service import _fallback_details

            error = exc.to_api_error()
            error.details = {**(error.details or {}), "trace_id": self.trace_id, **_fallback_details(self.failed[:-1])}
            raise error from exc
        except BaseException:
            service._release(budget, self.reservation_id)
            raise
        self.first_byte_ms = (time.perf_counter() - self.started) * 1000
        return self

    async def _open_chain(self, chain: tuple[ModelChoice, ...]) -> tuple[Any, ModelChoice, Any]:
        """The first model whose stream opens and yields its first chunk (fallbacks only here)."""
        from drgero.providers.call import open_model_stream
        from drgero.providers.errors import ProviderError

        for index, choice in enumerate(chain):
            stream = None
            try:
                stream = await open_model_stream(
                    choice.target,
                    self.sent[choice.model_id],
                    client=self.service.provider_client,
                    api_key=choice.api_key,
                    pricing=choice.pricing,
                    max_tokens=self.max_tokens,
                    temperature=self.request.temperature,
                    options=self.request.options,
                )
                chunks = stream.chunks()
                first = await anext(chunks, None)
                self._chunks = chunks
                return stream, choice, first
            except ProviderError as exc:
                if stream is not None:
                    await stream.aclose()
                self.failed.append((choice, exc))
                if not exc.retryable or index == len(chain) - 1:
                    raise
                logger.warning(
                    "production model failed before its first byte; falling back",
                    extra={"model_id": choice.model_id, "error": exc.code, "next_model_id": chain[index + 1].model_id},
                )
        raise AssertionError("unreachable: the chain is never empty")

    # -- the relay -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[str, Any]]:
        from drgero.providers.errors import ProviderError

        error: Any = None
        try:
            if self.first is not None:
                yield "chunk", self.first
                while True:
                    chunk = self.service.loop.run(anext(self._chunks, None))
                    if chunk is None:
                        break
                    yield "chunk", chunk
        except ProviderError as exc:
            error = exc
            api_error = exc.to_api_error()
            api_error.details = {**(api_error.details or {}), "trace_id": self.trace_id}
            yield "error", api_error
        finally:
            # Also on GeneratorExit (the client went away): the call is paid for and traced.
            self._finish(error)

    def close(self) -> None:
        """Ends the call if the iteration never started or stopped early (idempotent)."""
        self._finish(None)

    async def _drain(self) -> None:
        """Reads what the upstream still sends (the client left): its usage comes last."""
        from drgero.providers.errors import ProviderError

        try:
            async for _chunk in self._chunks:
                pass
        except ProviderError as exc:
            logger.info("upstream failed while draining a left stream", extra={"error": exc.code})
        finally:
            await self.stream.aclose()

    def _finish(self, error: Any) -> None:
        if self._finished:
            return
        self._finished = True
        from drgero.identity import budget
        from drgero.inference.capture import CaptureDecision, decide
        from drgero.inference.service import InferenceOutcome, _failure_view

        service = self.service
        if not self.stream.finished and error is None:
            try:
                service.loop.run(self._drain())
            except Exception:  # noqa: BLE001 - settle on what was reported; the hold is never left open
                logger.exception("draining a left stream failed", extra={"trace_id": self.trace_id})
        else:
            service.loop.run(self.stream.aclose())
        latency_ms = (time.perf_counter() - self.started) * 1000
        stream = self.stream
        cost, _source = stream.cost()
        usage = {
            "prompt_tokens": stream.usage.prompt_tokens if stream.usage else 0,
            "completion_tokens": stream.usage.completion_tokens if stream.usage else 0,
            "total_tokens": stream.usage.total_tokens if stream.usage else 0,
        }
        service._settle(budget, self.reservation_id, cost)
        output = stream.output
        decision = (
            decide(self.target.capture, self.target.dataset_mode, self.trace_id, self.request.metadata)
            if error is None
            else CaptureDecision.OFF
        )
        failed = [*self.failed, (self.choice, error)] if error is not None else self.failed
        service._emit_trace(
            self.target,
            self.trace_id,
            self.request,
            output if error is None else None,
            self.choice,
            latency_ms,
            usage,
            cost,
            failed,
            decision.value,
            error,
        )
        if decision is CaptureDecision.CAPTURE and output:
            origin = {"model_id": self.choice.model_id, "trace_id": self.trace_id, "latency_ms": round(latency_ms, 3)}
            if cost is not None:
                origin["cost_usd"] = cost
            service._capture(self.principal, self.target, self.trace_id, self.request, output, origin)
        self.outcome = InferenceOutcome(
            output=output,
            model=self.choice,
            usage=usage,
            cost_usd=cost,
            latency_ms=round(latency_ms, 3),
            trace_id=self.trace_id,
            finish_reason=stream.finish_reason or "stop",
            fallback_from=[_failure_view(c, e) for c, e in self.failed],
            capture=decision.value,
            tool_calls=[stream.tool_calls[i] for i in sorted(stream.tool_calls)] or None,
        )
