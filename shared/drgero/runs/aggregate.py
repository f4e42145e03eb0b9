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
from drgero.leaderboards.candidates import attached_model_ids
from drgero.runs import eligibility, records
from drgero.runs.charging import close_run_charge
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
    # Memory grows with rows x models here (the paired statistics need every outcome): one
    # row id string shared by every model's outcome of that row, compact (slotted) outcomes.
    row_ids: dict[int, str] = {}
    for shard in shards_of(table, run["id"]):
        model, index = shard["model_id"], int(shard["shard_index"])
        outputs = get_jsonl(clients.s3, bucket, run_outputs_object(run["id"], model, index)) or []
        judged = {}
        if kind == "judge":
            judged = {
                j["row"]: j for j in get_jsonl(clients.s3, bucket, run_judgements_object(run["id"], model, index)) or []
            }
        for out in outputs:
            row_id = row_ids.setdefault(int(out["row"]), str(out["row"]))
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
                unknown = bool(verdict.get("judge_cost_unknown"))
                if verdict.get("error"):
                    results[model].append(
                        RowOutcome(
                            row_id, error="judge_error", latency_ms=latency, cost_usd=cost, judge_cost_usd=judge_cost,
                            judge_cost_unknown=unknown,
                        )
                    )  # fmt: skip
                else:
                    results[model].append(
                        RowOutcome(
                            row_id, score=float(verdict["score"]), latency_ms=latency, cost_usd=cost,
                            judge_cost_usd=judge_cost, judge_cost_unknown=unknown,
                        )
                    )  # fmt: skip
            else:
                grade = grades.get((int(out["row"]), model))
                if grade is not None:
                    results[model].append(RowOutcome(row_id, score=grade, latency_ms=latency, cost_usd=cost))
    return results


def production_pick(table: Any, run: dict[str, Any], ranking: dict[str, Any]) -> str | None:
    """The ranking's winner, or, when the leaderboard requires capabilities the winner lacks,
    the best-ranked candidate that has them (docs/runs.md, "Production capabilities")."""
    leaderboard = table.get(*leaderboard_key(run["workspace_id"], run["leaderboard_id"])) or {}
    if not leaderboard.get("required_capabilities"):
        return ranking.get("winner_model_id")
    missing = eligibility.missing_of(table, leaderboard)
    return eligibility.best_eligible(ranking.get("rows") or [], missing, attached_model_ids(leaderboard))


def _present(values: dict[str, Any]) -> dict[str, Any]:
    """Without the None values: an unknown cost is an absent attribute (read back as null)."""
    return {k: v for k, v in values.items() if v is not None}


def _total(costs: Any) -> float | None:
    total = 0.0
    for cost in costs:
        if cost is None:
            return None
        total += cost
    return round(total, 9)


def aggregate(settings: Settings, clients: AwsClients, run: dict[str, Any], owner: str) -> str | None:
    table = clients.table
    options = parse_evaluation(run["leaderboard_config"].get("evaluation"))
    results = collect_outcomes(settings, clients, table, run)
    ranking_options = RankingOptions.from_settings(settings.evaluation, ranking_metric(options), seed=run["id"])
    names = {m["id"]: m for m in run.get("model_configs") or []}
    ranking = rank_models(results, ranking_options, dataset_rows=int(run.get("rows") or 0), models=names).model_dump(
        mode="json"
    )
    _name_versions(ranking, run)
    clients.s3.put_object(
        Bucket=settings.aws.bucket_name,
        Key=run_ranking_object(run["id"]),
        Body=json.dumps(ranking).encode(),
        ContentType="application/json",
    )
    finish_as = run.get("finish_as") or records.COMPLETED
    # Unknown stays unknown: one model's unknown cost makes the run's total None, never 0.
    candidate_cost = _total(row["cost_usd"] for row in ranking["rows"])
    judge_cost = _total(row.get("judge_cost_usd") for row in ranking["rows"])
    total_cost = None if candidate_cost is None or judge_cost is None else round(candidate_cost + judge_cost, 9)
    # Only a completed run is whole: a cancelled or failed one ranks what was scored.
    partial = finish_as != records.COMPLETED or any((row.get("not_run") or 0) > 0 for row in ranking["rows"])
    moved = False
    if finish_as == records.COMPLETED:
        moved = move_production(table, run, production_pick(table, run, ranking))
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
        cost_usd=total_cost,
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
        _present(
            {
                # As a JSON string: nulls and floats survive exactly (a DynamoDB map drops nulls).
                "ranking_json": json.dumps(ranking, separators=(",", ":")),
                "ranking_key": run_ranking_object(run["id"]),
                "finished_at": finished,
                "execution_seconds": round(execution, 3),
                "cost_usd": candidate_cost,
                "judge_cost_usd": judge_cost,
                "total_cost_usd": total_cost,
                "cost_known_usd": round(sum(row.get("cost_known_usd") or 0.0 for row in ranking["rows"]), 9),
                "partial": partial,
                "production_moved": moved,
            }
        ),
        extra_condition="aggregation_owner = :owner",
        extra_values={":owner": owner},
    )
    if done is None:
        logger.warning("aggregation lost its lease", extra={"run_id": run["id"]})
        return None
    close_run_charge(table, done)
    # The operations dashboard's run durations and spend per hour (docs/operations.md), once
    # per run: only the aggregation that won the transition gets here.
    metrics.add_metric(name="RunDurationSeconds", unit=MetricUnit.Seconds, value=max(0.0, execution))
    if total_cost:  # an unknown cost (None) is not spend we can count
        metrics.add_metric(name="SpendUsd", unit=MetricUnit.NoUnit, value=total_cost)
    return finish_as


def _name_versions(ranking: dict[str, Any], run: dict[str, Any]) -> None:
    """Each ranking row of a ``drgero`` candidate names the model version this run evaluated
    (``model_version``, from the run's snapshot): what production serves when it wins."""
    versions = {m["id"]: m["version"] for m in run.get("model_configs") or [] if m.get("version") is not None}
    for row in ranking.get("rows") or []:
        if row.get("model_id") in versions:
            row["model_version"] = int(versions[row["model_id"]])
