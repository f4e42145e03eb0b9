"""Aggregation: from the stored per-row results to the ranking in the run record.

Runs once per run (the caller won the conditional transition to ``aggregating``; see
completion.py). Deterministic (seeded statistics), so a retaken aggregation computes the same
ranking. Order of effects, each idempotent, so a crash anywhere is finished by a retake:
ranking object in S3 -> production move (completed runs, ``ranking_winner``) -> active-run
marker released -> run trace -> the final status (conditional on still owning the aggregation).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.observability import metrics
from drgero.core.settings import Settings
from drgero.evaluation.config import parse_evaluation, ranking_metric
from drgero.evaluation.ranking import RankingOptions, RowOutcome, rank_models
from drgero.runs import records
from drgero.runs.dataset import get_jsonl
from drgero.runs.selection import move_production
from drgero.runs.tracing import emit_run_trace, trace_id_for
from drgero.store.keys import (
    GRADE_PREFIX,
    SHARD_PREFIX,
    leaderboard_key,
    run_judgements_object,
    run_outputs_object,
    run_pk,
    run_ranking_object,
)
from drgero.store.table import MetadataTable

logger = logging.getLogger("drgero.runs")


def shards_of(table: MetadataTable, run_id: str) -> list[dict[str, Any]]:
    return list(table.query_all(run_pk(run_id), SHARD_PREFIX, consistent=True))


def grades_of(table: MetadataTable, run_id: str) -> dict[tuple[int, str], float]:
    grades = {}
    for item in table.query_all(run_pk(run_id), GRADE_PREFIX, consistent=True):
        grades[(int(item["row"]), item["model_id"])] = float(item["score"])
    return grades


def collect_outcomes(
    settings: Settings, clients: AwsClients, table: MetadataTable, run: dict[str, Any]
) -> dict[str, list[RowOutcome]]:
    """Every model's row outcomes, keyed by the row's index in the pinned dataset (unique even
    when a dataset repeats ids). Rows without an outcome (cancelled, ungraded) are left out:
    the ranking reports them as ``not_run``."""
    bucket = settings.aws.bucket_name
    kind = run.get("evaluation_type")
    grades = grades_of(table, run["id"]) if kind == "human" else {}
    results: dict[str, list[RowOutcome]] = {m: [] for m in run["model_ids"]}
    for shard in shards_of(table, run["id"]):
        model, index = shard["model_id"], int(shard["shard_index"])
        outputs = get_jsonl(clients.s3, bucket, run_outputs_object(run["id"], model, index)) or []
        judged = {}
        if kind == "judge":
            judged = {
                j["row"]: j for j in get_jsonl(clients.s3, bucket, run_judgements_object(run["id"], model, index)) or []
            }
        for out in outputs:
            row_id = str(out["row"])
            cost = out.get("cost_usd")
            if out.get("error"):
                results[model].append(RowOutcome(row_id, error="call_failed", cost_usd=cost))
                continue
            latency = out.get("latency_ms")
            if kind == "exact":
                if out.get("scoring_error"):
                    results[model].append(RowOutcome(row_id, error="scoring_error", latency_ms=latency, cost_usd=cost))
                else:
                    results[model].append(
                        RowOutcome(row_id, score=float(out["score"]), latency_ms=latency, cost_usd=cost)
                    )
            elif kind == "judge":
                verdict = judged.get(out["row"])
                if verdict is None:
                    continue
                judge_cost = verdict.get("judge_cost_usd")
                if verdict.get("error"):
                    results[model].append(
                        RowOutcome(
                            row_id, error="judge_error", latency_ms=latency, cost_usd=cost, judge_cost_usd=judge_cost
                        )
                    )
                else:
                    results[model].append(
                        RowOutcome(
                            row_id, score=float(verdict["score"]), latency_ms=latency, cost_usd=cost,
                            judge_cost_usd=judge_cost,
                        )
                    )  # fmt: skip
            else:
                grade = grades.get((int(out["row"]), model))
                if grade is not None:
                    results[model].append(RowOutcome(row_id, score=grade, latency_ms=latency, cost_usd=cost))
    return results


def aggregate(settings: Settings, clients: AwsClients, run: dict[str, Any], owner: str) -> str | None:
    table = clients.table
    options = parse_evaluation(run["leaderboard_config"].get("evaluation"))
    results = collect_outcomes(settings, clients, table, run)
    ranking_options = RankingOptions.from_settings(settings.evaluation, ranking_metric(options), seed=run["id"])
    ranking = rank_models(results, ranking_options, dataset_rows=int(run.get("rows") or 0)).model_dump(mode="json")
    clients.s3.put_object(
        Bucket=settings.aws.bucket_name,
        Key=run_ranking_object(run["id"]),
        Body=json.dumps(ranking).encode(),
        ContentType="application/json",
    )
    finish_as = run.get("finish_as") or records.COMPLETED
    candidate_cost = sum(row["cost_usd"] or 0.0 for row in ranking["rows"])
    judge_cost = sum(row.get("judge_cost_usd") or 0.0 for row in ranking["rows"])
    # Only a completed run is whole: a cancelled or failed one ranks what was scored.
    partial = finish_as != records.COMPLETED or any((row.get("not_run") or 0) > 0 for row in ranking["rows"])
    moved = False
    if finish_as == records.COMPLETED:
        moved = move_production(table, run, ranking.get("winner_model_id"))
    records.release_active_marker(table, run)
    finished = clock.iso_millis()
    execution = (clock.parse_iso(finished) - clock.parse_iso(run["started_at"])).total_seconds()
    leaderboard = table.get(*leaderboard_key(run["workspace_id"], run["leaderboard_id"]))
    emit_run_trace(
        settings,
        clients,
        leaderboard,
        id=trace_id_for(run["id"]),
        workspace_id=run["workspace_id"],
        leaderboard_id=run["leaderboard_id"],
        run_id=run["id"],
        name=f"run {finish_as}",
        duration_ms=max(0.0, execution * 1000),
        cost_usd=round(candidate_cost + judge_cost, 9) or None,
        output={"winner_model_id": ranking.get("winner_model_id"), "verdict": ranking.get("verdict")},
        metadata={
            "source": run["source"],
            "status": finish_as,
            "partial": partial,
            "models": len(run["model_ids"]),
            "rows": run.get("rows"),
            "production_moved": moved,
        },
    )
    done = records.transition(
        table,
        run["id"],
        (records.AGGREGATING,),
        finish_as,
        {
            # As a JSON string: nulls and floats survive exactly (a DynamoDB map drops nulls).
            "ranking_json": json.dumps(ranking, separators=(",", ":")),
            "ranking_key": run_ranking_object(run["id"]),
            "finished_at": finished,
            "execution_seconds": round(execution, 3),
            "cost_usd": round(candidate_cost, 9),
            "judge_cost_usd": round(judge_cost, 9),
            "partial": partial,
            "production_moved": moved,
        },
        extra_condition="aggregation_owner = :owner",
        extra_values={":owner": owner},
    )
    if done is None:
        logger.warning("aggregation lost its lease", extra={"run_id": run["id"]})
        return None
    # The operations dashboard's run durations and spend per hour (docs/operations.md), once
    # per run: only the aggregation that won the transition gets here.
    metrics.add_metric(name="RunDurationSeconds", unit=MetricUnit.Seconds, value=max(0.0, execution))
    if candidate_cost + judge_cost:
        metrics.add_metric(name="SpendUsd", unit=MetricUnit.NoUnit, value=candidate_cost + judge_cost)
    return finish_as
