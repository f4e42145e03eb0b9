"""The judge worker: scores one (model x shard)'s outputs with the judge model.

The judge is ``evaluation.judge_model``: an OpenRouter model id (``judge_platform``
``openrouter``, the default, with the workspace's OpenRouter key), or for another platform the
id of a model attached to the leaderboard (its endpoint and credentials are used).
Judgements are written to ``runs/{run}/judgements/{model}/{i}.jsonl`` before the shard is
counted, and reused by a retry of the same shard (no judge call is made twice). A judge that
refuses, stays malformed after ``max_attempts`` answers, or whose call fails gives a
``judge_error`` for that row (never a zero). Judge cost is recorded per row, apart from the
candidate's cost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.evaluation.config import parse_evaluation
from drgero.evaluation.judge import JudgeOptions, arun_judge, build_judge_request
from drgero.identity.integrations import get_integration_key
from drgero.leaderboards.prompt import render_prompt
from drgero.runs import records
from drgero.runs.completion import complete_shard, maybe_finish
from drgero.runs.dataset import get_jsonl, put_jsonl
from drgero.runs.messages import JudgeMessage
from drgero.runs.tracing import emit_run_trace, run_async, trace_id_for
from drgero.store.keys import run_judgements_object, run_outputs_object, run_rows_object, shard_key

logger = logging.getLogger("drgero.runs")


def process_judge(
    settings: Settings, clients: AwsClients, message: JudgeMessage, provider_client: Any = None
) -> dict[str, Any]:
    table = clients.table
    shard = table.get(*shard_key(message.run_id, message.shard_id))
    run = records.get_run(table, message.run_id)
    if shard is None or run is None or run["workspace_id"] != message.workspace_id:
        return {"status": "unknown_shard"}
    if shard["state"] in records.SHARD_FINISHED:
        maybe_finish(settings, clients, run["id"])
        return {"status": "duplicate"}
    from_states = (records.SHARD_PENDING, records.SHARD_EVALUATED)
    if run["status"] in (records.CANCELLING, records.CANCELLED, records.FAILED):
        complete_shard(table, run["id"], shard["shard_id"], records.SHARD_CANCELLED, from_states, {"judged": 0})
        maybe_finish(settings, clients, run["id"])
        return {"status": "cancelled"}
    bucket = settings.aws.bucket_name
    index = int(shard["shard_index"])
    key = run_judgements_object(run["id"], shard["model_id"], index)
    judgements = get_jsonl(clients.s3, bucket, key)
    started = time.monotonic()
    if judgements is None:
        outputs = get_jsonl(clients.s3, bucket, run_outputs_object(run["id"], shard["model_id"], index))
        if outputs is None:
            raise RuntimeError(f"outputs of shard {shard['shard_id']} are missing")  # retried by SQS
        judgements = run_async(_judge_rows(settings, clients, run, index, outputs, provider_client))
        put_jsonl(clients.s3, bucket, key, judgements)
        stats = _stats(judgements)
        emit_run_trace(
            settings,
            clients,
            run.get("leaderboard_config"),
            id=trace_id_for(shard["shard_id"], "j0"),
            workspace_id=run["workspace_id"],
            leaderboard_id=run["leaderboard_id"],
            run_id=run["id"],
            name=f"run judge shard {index} of {shard['model_id']}",
            duration_ms=(time.monotonic() - started) * 1000,
            status="error" if stats["judge_errors"] else "ok",
            cost_usd=None if stats["judge_cost_unknown"] else stats["judge_cost_usd"],
            metadata={"stage": "judge", "shard_index": index, "model_id": shard["model_id"], **stats},
        )
    stats = _stats(judgements)
    counted = complete_shard(table, run["id"], shard["shard_id"], records.SHARD_DONE, from_states, stats)
    maybe_finish(settings, clients, run["id"])
    return {"status": "done" if counted else "duplicate", **stats}


def _stats(judgements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "judged": sum(1 for j in judgements if j.get("score") is not None),
        "judge_errors": sum(1 for j in judgements if j.get("error")),
        "judge_cost_usd": round(sum(j.get("judge_cost_usd") or 0.0 for j in judgements), 9),
        "judge_cost_unknown": sum(1 for j in judgements if j.get("judge_cost_unknown")),
    }


def _judge_target(settings: Settings, clients: AwsClients, run: dict[str, Any], options: JudgeOptions) -> tuple:
    # Cold start: the provider layer (httpx, ~160 modules) loads with the first shard that calls
    # the judge (judge function); duplicates, cancelled runs and reused judgements never do.
    from drgero.providers import OpenRouterTarget

    if options.judge_platform == "openrouter":
        return OpenRouterTarget(model=options.judge_model), get_integration_key(
            settings, clients, run["workspace_id"], "openrouter"
        )
    from drgero.leaderboards.candidates import load_target  # Cold start: as above (it loads the providers).

    table = clients.table
    target, _item = load_target(
        table, settings, clients, run["workspace_id"], run["leaderboard_id"], options.judge_model
    )
    return target, None


async def _judge_rows(
    settings: Settings,
    clients: AwsClients,
    run: dict[str, Any],
    shard_index: int,
    outputs: list[dict[str, Any]],
    provider_client: Any,
) -> list[dict[str, Any]]:
    from drgero.providers import ProviderClient, ProviderError, call_model  # Cold start: as in _judge_target.

    config = run["leaderboard_config"]
    options = parse_evaluation(config.get("evaluation"))
    assert isinstance(options, JudgeOptions)
    body = clients.s3.get_object(Bucket=settings.aws.bucket_name, Key=run_rows_object(run["id"], shard_index))["Body"]
    row_start = shard_index * int(run["shard_size"])  # shards are contiguous ranges of shard_size rows
    lines = [line for line in body.read().splitlines() if line.strip()]
    rows = {row_start + offset: json.loads(line) for offset, line in enumerate(lines)}
    client = provider_client or ProviderClient.shared(settings.providers)
    try:
        target, api_key = await asyncio.to_thread(_judge_target, settings, clients, run, options)
        unavailable: str | None = None
    except ApiError as exc:
        target = api_key = None
        unavailable = exc.message

    async def one(output: dict[str, Any]) -> dict[str, Any] | None:
        if output.get("error") or output.get("output") is None:
            return None  # a failed candidate call has nothing to judge (it is a call error)
        record: dict[str, Any] = {"row": output["row"]}
        if unavailable is not None:
            return {**record, "score": None, "error": "judge_error", "reason": f"judge unavailable: {unavailable}"}
        row = rows.get(output["row"]) or {}
        request = build_judge_request(
            task_input=render_prompt(config.get("prompt") or "", row.get("input") or ""),
            candidate_output=output["output"],
            expected=row.get("output"),
            options=options,
            row_rubric=row.get("rubric"),
            max_section_chars=settings.evaluation.judge_max_section_chars,
        )
        cost = 0.0
        cost_unknown = False  # a judge answer without a known cost: the row's judge cost is None
        raw: str | None = None  # the judge's last answer, shown in per-row results

        async def ask(req: Any) -> str | None:
            nonlocal cost, raw, cost_unknown
            result = await call_model(target, req.messages, client=client, api_key=api_key, temperature=req.temperature)
            if result.cost_usd is None:
                cost_unknown = True
            else:
                cost += result.cost_usd
            raw = result.output
            return result.output

        try:
            outcome = await arun_judge(ask, request, options)
        except ProviderError as exc:
            return {**record, "score": None, "error": "judge_error", "reason": f"judge call failed: {exc.code}",
                    "judge_cost_usd": None if cost_unknown else cost, "judge_cost_unknown": cost_unknown}  # fmt: skip
        return {
            **record,
            "score": outcome.score,
            "error": "judge_error" if outcome.error else None,
            "judge_error_code": outcome.error,
            "reason": outcome.reason[:1000],
            "attempts": outcome.attempts,
            "judge_cost_usd": None if cost_unknown else cost,
            "judge_cost_unknown": cost_unknown,
            "raw": raw[: settings.evaluation.judge_max_section_chars] if raw is not None else None,
        }

    try:
        results = await asyncio.gather(*(one(o) for o in outputs))
    finally:
        await client.aclose()  # this shard's loop's pools (drgero.runs.evaluate says why)
    return [r for r in results if r is not None]
