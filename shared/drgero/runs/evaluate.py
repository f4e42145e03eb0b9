"""The evaluate worker: one (model x shard) work item.

1. ONE BatchGetItem reads what the shard needs: its shard item, the run, the candidate and
   the workspace's OpenRouter integration (the decrypted key is cached per container,
   drgero.core.secrets). A finished shard (duplicate delivery) only re-checks whether the
   run can finish; a shard already ``evaluated`` (judge runs) re-sends its judge message.
2. Outputs already written for this shard (``runs/{run}/outputs/{model}/{i}.jsonl``: an
   attempt that crashed before counting the shard) are reused: no call is made twice. They
   belong to this run only, so a deliberate new run always calls again. On a message's first
   delivery (SQS's receive count 1) no earlier attempt of it can have written them, so the
   shard does not look (one S3 request less per shard); only a duplicate copy of the message
   (SQS delivers at least once) racing a crashed first copy would call its rows again.
3. Otherwise the shard takes a batch of slots of its provider key's shared limit
   (drgero.runs.key_lease: one conditional UpdateItem) and calls the model on every row
   at once within them (the container's AIMD limiter, warm-started to the batch, adapts to
   429s), checking the run status between rows (cancel). Each row records output, latency,
   tokens, cost, or the call error; exact-match rows are scored at once.
4. The outputs are written, then the shard is counted (exact, human; the lease is released
   in the same transaction, and the count tells whether the run may be finished, so only the
   run's last shards read the run again) or its judge work item is queued (judge).

AWS requests of a middle shard (tests/handler/test_runs_aws_requests.py): BatchGetItem, rows
GetObject, lease UpdateItem, outputs PutObject, trace SendMessage, count TransactWriteItems: 6.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from drgero.core import queues
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.evaluation.config import parse_evaluation
from drgero.evaluation.exact import ExactMatchOptions, ExactScorer, RegexLimits
from drgero.identity.integrations import integration_key_of
from drgero.leaderboards.prompt import render_prompt, render_turns
from drgero.providers.capabilities import speaks_chat
from drgero.runs import records
from drgero.runs.completion import count_shard, maybe_finish
from drgero.runs.dataset import get_jsonl, put_jsonl
from drgero.runs.key_lease import KeyLeases, Lease
from drgero.runs.messages import EvaluateMessage, JudgeMessage
from drgero.runs.tracing import emit_run_trace, run_async, trace_id_for
from drgero.store.keys import (
    candidate_key,
    integration_key,
    run_key,
    run_outputs_object,
    run_rows_object,
    shard_key,
)
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

logger = logging.getLogger("drgero.runs")


def row_messages(prompt: str, row: dict[str, Any], chat: bool) -> list[dict[str, Any]]:
    """What a candidate is sent for ``row``, as production inference sends a request: a row
    pushed as ``messages`` keeps its turns for a model that speaks chat (last user turn
    rendered into the prompt); otherwise one rendered user turn of the row's input."""
    turns = row.get("messages")
    if chat and isinstance(turns, list) and turns and all(isinstance(m, dict) for m in turns):
        return render_turns(prompt, turns)
    return [{"role": "user", "content": render_prompt(prompt, row.get("input") or "")}]


STOPPED = (records.CANCELLING, records.CANCELLED, records.FAILED)


class CancelWatch:
    """Re-reads the run status at most every ``interval`` seconds; True once it is stopping."""

    def __init__(self, table: MetadataTable, run_id: str, interval: float, status: str | None = None) -> None:
        self.table = table
        self.run_id = run_id
        self.interval = interval
        # ``status``: the run as the caller just read it, so the first check needs no read.
        self._checked = 0.0 if status is None else time.monotonic()
        self._stopped = status in STOPPED
        self._lock = asyncio.Lock()

    async def stopped(self) -> bool:
        if self._stopped:
            return True
        async with self._lock:
            if not self._stopped and time.monotonic() - self._checked >= self.interval:
                run = await asyncio.to_thread(records.get_run, self.table, self.run_id)
                self._checked = time.monotonic()
                self._stopped = run is None or run["status"] in STOPPED
        return self._stopped


def process_shard(
    settings: Settings,
    clients: AwsClients,
    message: EvaluateMessage,
    provider_client: Any = None,
    *,
    first_delivery: bool = False,
) -> dict[str, Any]:
    table = clients.table
    keys = _ShardKeys.of(message)
    found = table.get_many([keys.shard, keys.run, keys.candidate, keys.integration])
    shard, run = found.get(keys.shard), found.get(keys.run)
    if shard is None or run is None or run["workspace_id"] != message.workspace_id:
        logger.warning("work item for an unknown shard", extra={"run_id": message.run_id, "shard": message.shard_id})
        return {"status": "unknown_shard"}
    if shard["state"] in records.SHARD_FINISHED:
        maybe_finish(settings, clients, run["id"])
        return {"status": "duplicate"}
    if shard["state"] == records.SHARD_EVALUATED:
        _send_judge(settings, clients, message)
        return {"status": "judge_requeued"}
    bucket = settings.aws.bucket_name
    key = run_outputs_object(run["id"], shard["model_id"], int(shard["shard_index"]))
    outputs = None if first_delivery else get_jsonl(clients.s3, bucket, key)
    reused = outputs is not None
    started = time.monotonic()
    lease: Lease | None = None
    if outputs is None:
        if run["status"] in STOPPED:
            outputs = []
        else:
            loaded = (found.get(keys.candidate), found.get(keys.integration))
            outputs, lease = run_async(_call_rows(settings, clients, table, run, shard, provider_client, loaded))
        try:
            put_jsonl(clients.s3, bucket, key, outputs)
        except BaseException:
            _release(settings, clients, lease)
            raise
    try:
        return _finish(settings, clients, message, run, shard, outputs, reused, started, lease)
    except BaseException:
        _release(settings, clients, lease)  # the count did not happen: the slots go back now
        raise


def _finish(
    settings: Settings,
    clients: AwsClients,
    message: EvaluateMessage,
    run: dict[str, Any],
    shard: dict[str, Any],
    outputs: list[dict[str, Any]],
    reused: bool,
    started: float,
    lease: Lease | None,
) -> dict[str, Any]:
    table = clients.table
    rows_in_shard = int(shard["row_end"]) - int(shard["row_start"])
    partial = len(outputs) < rows_in_shard
    stats = _stats(outputs, rows_in_shard)
    if not reused:
        _trace_shard(settings, clients, run, shard, stats, (time.monotonic() - started) * 1000)
    if run["evaluation_type"] == "judge" and not partial:
        _send_judge(settings, clients, message)
        mark_evaluated(table, run["id"], shard["shard_id"], stats)
        _release(settings, clients, lease)  # judge runs count later (judge function): a request of its own
        return {"status": "evaluated", **stats}
    final = records.SHARD_CANCELLED if partial else records.SHARD_DONE
    count = count_shard(
        table,
        run["id"],
        shard["shard_id"],
        final,
        (records.SHARD_PENDING,),
        stats,
        shards_total=int(run["shards_total"]) if run.get("shards_total") is not None else None,
        also=(KeyLeases.release_operation(lease),) if lease else (),
    )
    if not count.counted:
        _release(settings, clients, lease)  # a duplicate: the transaction, release included, did nothing
    if count.may_be_last:
        maybe_finish(settings, clients, run["id"])
    return {"status": final if count.counted else "duplicate", **stats}


@dataclass(frozen=True)
class _ShardKeys:
    """The items a shard reads, all in one BatchGetItem."""

    shard: tuple[str, str]
    run: tuple[str, str]
    candidate: tuple[str, str]
    integration: tuple[str, str]

    @classmethod
    def of(cls, message: EvaluateMessage) -> _ShardKeys:
        return cls(
            shard=shard_key(message.run_id, message.shard_id),
            run=run_key(message.run_id),
            candidate=candidate_key(message.leaderboard_id, message.model_id),
            # Read whatever the platform: the ciphertext is only unsealed for OpenRouter models.
            integration=integration_key(message.workspace_id, "openrouter"),
        )


def key_leases(settings: Settings, clients: AwsClients) -> KeyLeases | None:
    """The shared per-provider-key limit (None when ``providers.key_concurrency_limit`` is 0)."""
    limit = settings.providers.key_concurrency_limit
    if limit <= 0:
        return None
    return KeyLeases(
        clients.table, limit, settings.providers.key_lease_seconds, settings.providers.key_lease_poll_seconds
    )


def _release(settings: Settings, clients: AwsClients, lease: Lease | None) -> None:
    leases = key_leases(settings, clients) if lease else None
    if leases and lease:
        leases.release(lease)


def mark_evaluated(table: MetadataTable, run_id: str, shard_id: str, stats: dict[str, Any]) -> None:
    """pending -> evaluated (judge runs). Not counted: the judge counts the shard. A shard the
    judge already finished (its message overtook us) stays finished."""
    try:
        table.update(
            *shard_key(run_id, shard_id),
            "SET #state = :ev, evaluated_stats = :st",
            {"#state": "state"},
            {":ev": records.SHARD_EVALUATED, ":st": stats},
            condition=Condition("#state = :pending", values={":pending": records.SHARD_PENDING}),
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise


def _send_judge(settings: Settings, clients: AwsClients, message: EvaluateMessage) -> None:
    body = JudgeMessage(
        run_id=message.run_id,
        workspace_id=message.workspace_id,
        leaderboard_id=message.leaderboard_id,
        model_id=message.model_id,
        shard_id=message.shard_id,
        shard_index=message.shard_index,
    )
    queues.send(clients.sqs, settings.aws.judge_queue_url, body)


def _stats(outputs: list[dict[str, Any]], rows_in_shard: int) -> dict[str, Any]:
    return {
        "rows": len(outputs),
        "not_run": rows_in_shard - len(outputs),
        "call_errors": sum(1 for o in outputs if o.get("error")),
        "cost_usd": round(sum(o.get("cost_usd") or 0.0 for o in outputs), 9),
        # Answered calls without a known cost: the shard's trace cost is then None, not 0.
        "cost_unknown": sum(1 for o in outputs if not o.get("error") and o.get("cost_usd") is None),
    }


def _trace_shard(
    settings: Settings,
    clients: AwsClients,
    run: dict[str, Any],
    shard: dict[str, Any],
    stats: dict[str, Any],
    duration_ms: float,
) -> None:
    model = next((m for m in run.get("model_configs") or [] if m["id"] == shard["model_id"]), {})
    emit_run_trace(
        settings,
        clients,
        run.get("leaderboard_config"),
        id=trace_id_for(shard["shard_id"], "e0"),
        workspace_id=run["workspace_id"],
        leaderboard_id=run["leaderboard_id"],
        run_id=run["id"],
        name=f"run shard {int(shard['shard_index'])} of {model.get('name') or shard['model_id']}",
        duration_ms=max(0.0, duration_ms),
        status="error" if stats["call_errors"] else "ok",
        error=f"{stats['call_errors']} call(s) failed" if stats["call_errors"] else None,
        model={"id": shard["model_id"], "platform": model.get("platform"), "name": model.get("name")},
        cost_usd=None if stats["cost_unknown"] else stats["cost_usd"],
        metadata={"stage": "evaluate", "shard_index": int(shard["shard_index"]), **stats},
    )


def _load_target(
    settings: Settings,
    clients: AwsClients,
    run: dict[str, Any],
    model_id: str,
    loaded: tuple[dict[str, Any] | None, dict[str, Any] | None],
) -> tuple[Any, Any, Any]:
    """(target, openrouter key or None, pricing or None) from the candidate and integration
    items read with the shard; raises ApiError when the model is gone."""
    # Cold start: candidates and the provider layer (httpx, ~160 modules) load with the first
    # shard that calls a model (evaluate function); duplicates and reused outputs never do.
    from drgero.leaderboards.candidates import target_of
    from drgero.providers.types import Pricing

    item, integration = loaded
    # A drgero candidate is called at the version the run snapshotted (fanout), whatever is current now.
    snapshot = next((m for m in run.get("model_configs") or [] if m.get("id") == model_id), {})
    version = snapshot.get("version")
    target = target_of(
        clients.table,
        settings,
        clients,
        item,
        run["workspace_id"],
        run["leaderboard_id"],
        model_id,
        int(version) if version else None,
    )
    assert item is not None  # target_of raised otherwise
    api_key = None
    if target.platform == "openrouter":
        api_key = integration_key_of(settings, clients, run["workspace_id"], "openrouter", integration)
    pricing = None
    if isinstance(item.get("pricing"), dict):
        try:
            pricing = Pricing.model_validate(item["pricing"])
        except ValueError:
            pricing = None
    return target, api_key, pricing


async def _take_slots(
    leases: KeyLeases | None, run: dict[str, Any], client: Any, target: Any, api_key: Any, rows: int, most: int
) -> tuple[int, Lease | None]:
    """How many of the shard's rows may be in flight at once, and the lease that allows it."""
    from drgero.providers.call import limiter_identity

    identity = limiter_identity(target, client, api_key) if target is not None else None
    if identity is None or not rows:
        return max(1, rows), None  # no call will be made (no key, no rows): nothing to limit
    in_flight = min(rows, most)
    lease = None
    if leases is not None:
        key = KeyLeases.key_of(run["workspace_id"], *identity)
        lease = await asyncio.to_thread(leases.acquire, key, in_flight)
        in_flight = lease.slots
    # One wave: a fresh container's limiter starts at the shard's slots, not at aimd_initial.
    client.limiter(*identity).warm_start(in_flight)
    return in_flight, lease


async def _call_rows(
    settings: Settings,
    clients: AwsClients,
    table: MetadataTable,
    run: dict[str, Any],
    shard: dict[str, Any],
    provider_client: Any,
    loaded: tuple[dict[str, Any] | None, dict[str, Any] | None],
) -> tuple[list[dict[str, Any]], Lease | None]:
    """The shard's outputs, and the lease of provider-key slots it holds (released by the caller)."""
    from drgero.providers import ProviderClient, ProviderError, call_model  # Cold start: as in _load_target.

    rows = [
        json.loads(line)
        for line in clients.s3.get_object(
            Bucket=settings.aws.bucket_name, Key=run_rows_object(run["id"], int(shard["shard_index"]))
        )["Body"]
        .read()
        .splitlines()
        if line.strip()
    ]
    config = run["leaderboard_config"]
    options = parse_evaluation(config.get("evaluation") or {"type": "exact"})
    scorer = (
        ExactScorer(options, RegexLimits.from_settings(settings.evaluation))
        if isinstance(options, ExactMatchOptions)
        else None
    )
    client = provider_client or ProviderClient.shared(settings.providers)
    watch = CancelWatch(table, run["id"], settings.runs.cancel_check_seconds, run["status"])
    row_start = int(shard["row_start"])
    max_chars = settings.runs.max_output_chars
    try:
        target, api_key, pricing = await asyncio.to_thread(
            _load_target, settings, clients, run, shard["model_id"], loaded
        )
        missing: str | None = None
    except ApiError as exc:
        target = api_key = pricing = None
        missing = exc.message
    leases = key_leases(settings, clients)
    in_flight, lease = await _take_slots(leases, run, client, target, api_key, len(rows), settings.providers.aimd_max)
    slots = asyncio.Semaphore(max(1, in_flight))

    async def one(offset: int, row: dict[str, Any]) -> dict[str, Any] | None:
        if await watch.stopped():
            return None  # cancelled: this row is not run (never counted as a failure)
        record: dict[str, Any] = {"row": row_start + offset, "row_id": row.get("id")}
        if missing is not None:
            return {
                **record,
                "output": None,
                "error": "call_failed",
                "error_code": "model_removed",
                "error_message": missing,
            }
        messages = row_messages(config.get("prompt") or "", row, speaks_chat(target))
        try:
            async with slots:  # the shard's share of its key's shared limit
                if await watch.stopped():
                    return None
                result = await call_model(
                    target,
                    messages,
                    client=client,
                    api_key=api_key,
                    pricing=pricing,
                    max_tokens=settings.runs.candidate_max_tokens,
                )
        except ProviderError as exc:
            return {
                **record,
                "output": None,
                "error": "call_failed",
                "error_code": exc.code,
                "error_message": exc.message[:500],
            }
        output = result.output
        if len(output) > max_chars:
            output = output[:max_chars] + f"\n[... truncated: {len(result.output) - max_chars} more characters]"
        record.update(
            output=output,
            error=None,
            latency_ms=result.latency_ms,
            usage={"prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens},
            cost_usd=result.cost_usd,
            cost_source=result.cost_source,
            attempts=result.attempts,
        )
        if scorer is not None:
            scored = scorer.score(result.output, row.get("output"))
            record.update(score=scored.score, scoring_error=scored.error, reason=scored.reason)
        return record

    try:
        results = await asyncio.gather(*(one(i, row) for i, row in enumerate(rows)))
    except BaseException:
        if lease is not None and leases is not None:
            await asyncio.to_thread(leases.release, lease)
        raise
    finally:
        # Each shard runs on a loop of its own (run_async): its pools die with it. Left open,
        # a container kept every shard's pool, sockets and loop (memory grew with shards).
        await client.aclose()
    return [r for r in results if r is not None], lease
