"""Per-row results of a run: what each model answered on each dataset row, and how it scored.

Built from the objects the pipeline already writes, shard by shard (shards are contiguous row
ranges shared by every model): ``runs/{run}/rows/{i}.jsonl`` (the rows), ``runs/{run}/outputs/
{model}/{i}.jsonl`` (candidate outputs, exact scores), ``runs/{run}/judgements/{model}/{i}.jsonl``
(judge runs) and the ``GRADE#`` items (human runs). Nothing is copied: a page reads the shards
it covers, an export streams every shard in order (:mod:`drgero.runs.export`).

A row is identified by ``row`` (its index in the run's pinned dataset version: unique) and
``row_id`` (the dataset row's own ``id``, or the index when it has none). Human review items
carry the same two fields.

Each model's result has an ``outcome``: ``pass`` / ``fail`` (pass/fail evaluations: score 1 / 0;
graded evaluations: score at or above ``evaluation.graded_pass_threshold``), ``error`` (the call
failed, the judge failed or the row could not be scored), ``pending`` (not judged or graded yet)
or ``not_run`` (cancelled before the row). Outputs are the models' untrusted text, returned as
JSON strings and never interpreted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.evaluation.config import ranking_metric
from drgero.evaluation.judge import JudgeOptions
from drgero.leaderboards.prompt import render_prompt
from drgero.runs import records
from drgero.runs.dataset import get_jsonl
from drgero.store.keys import GRADE_PREFIX, run_judgements_object, run_outputs_object, run_pk, run_rows_object

OUTCOMES = ("pass", "fail", "error", "pending", "not_run")
FILTER_OUTCOMES = ("pass", "fail", "error")


@dataclass(frozen=True)
class ResultsFilter:
    model_id: str | None = None
    outcome: str | None = None
    disagreement: bool = False
    winner_lost: bool = False


@dataclass
class RunView:
    """What reading a run's rows needs, resolved once per request."""

    run: dict[str, Any]
    kind: str  # exact | judge | human
    metric: str  # pass_fail | graded
    prompt: str
    default_rubric: str | None
    models: list[dict[str, Any]]  # {"id", "name", "platform"} in the run's order
    grades: dict[tuple[int, str], dict[str, Any]]
    winner: str | None
    pass_threshold: float

    @property
    def rows(self) -> int:
        return int(self.run.get("rows") or 0)

    @property
    def shard_size(self) -> int:
        return int(self.run.get("shard_size") or 0)

    @property
    def shard_count(self) -> int:
        return -(-self.rows // self.shard_size) if self.shard_size else 0


def model_names(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Every model of the run with its name and platform, from the run's snapshot."""
    configs = {m["id"]: m for m in run.get("model_configs") or []}
    return [
        {
            "id": model_id,
            "name": (configs.get(model_id) or {}).get("name") or model_id,
            "platform": (configs.get(model_id) or {}).get("platform"),
        }
        for model_id in run.get("model_ids") or []
    ]


def run_view(settings: Settings, clients: AwsClients, run: dict[str, Any]) -> RunView:
    # Cold start: the evaluation parser is already loaded by the api function (leaderboards).
    from drgero.evaluation.config import parse_evaluation

    config = run.get("leaderboard_config") or {}
    kind = run.get("evaluation_type") or "exact"
    metric = "pass_fail"
    rubric = None
    if config.get("evaluation"):
        options = parse_evaluation(config["evaluation"])
        metric = ranking_metric(options)
        if isinstance(options, JudgeOptions):
            rubric = options.rubric
    grades: dict[tuple[int, str], dict[str, Any]] = {}
    if kind == "human":
        for item in clients.table.query_all(run_pk(run["id"]), GRADE_PREFIX, consistent=True):
            grades[(int(item["row"]), item["model_id"])] = item
    ranking = records.ranking_of(run) or {}
    return RunView(
        run=run,
        kind=kind,
        metric=metric,
        prompt=config.get("prompt") or "",
        default_rubric=rubric,
        models=model_names(run),
        grades=grades,
        winner=ranking.get("winner_model_id"),
        pass_threshold=settings.evaluation.graded_pass_threshold,
    )


# -- one shard --------------------------------------------------------------------------------


@dataclass
class ShardData:
    index: int
    rows: list[dict[str, Any]]
    outputs: dict[str, dict[int, dict[str, Any]]]  # model -> row index -> output record
    judgements: dict[str, dict[int, dict[str, Any]]]


def read_shard(settings: Settings, clients: AwsClients, view: RunView, index: int) -> ShardData:
    s3, bucket, run_id = clients.s3, settings.aws.bucket_name, view.run["id"]
    try:
        body = s3.get_object(Bucket=bucket, Key=run_rows_object(run_id, index))["Body"].read()
    except s3.exceptions.NoSuchKey:
        body = b""  # the fan-out has not written this shard yet
    rows = [json.loads(line) for line in body.splitlines() if line.strip()]
    outputs: dict[str, dict[int, dict[str, Any]]] = {}
    judgements: dict[str, dict[int, dict[str, Any]]] = {}
    for model in view.models:
        found = get_jsonl(s3, bucket, run_outputs_object(run_id, model["id"], index)) or []
        outputs[model["id"]] = {int(o["row"]): o for o in found}
        if view.kind == "judge":
            judged = get_jsonl(s3, bucket, run_judgements_object(run_id, model["id"], index)) or []
            judgements[model["id"]] = {int(j["row"]): j for j in judged}
    return ShardData(index, rows, outputs, judgements)


def entries_of(view: RunView, shard: ShardData) -> list[dict[str, Any]]:
    """The shard's rows as result entries (every model; filters apply later)."""
    start = shard.index * view.shard_size
    entries = []
    for offset, row in enumerate(shard.rows):
        index = start + offset
        row_input = row.get("input") or ""
        entries.append(
            {
                "row": index,
                "row_id": str(row["id"]) if row.get("id") is not None else str(index),
                "input": row_input,
                "prompt": render_prompt(view.prompt, row_input),
                "expected": row.get("output"),
                "rubric": row.get("rubric") or view.default_rubric,
                "results": [_result(view, shard, model, index) for model in view.models],
            }
        )
    return entries


def _result(view: RunView, shard: ShardData, model: dict[str, Any], index: int) -> dict[str, Any]:
    out = shard.outputs.get(model["id"], {}).get(index)
    result: dict[str, Any] = {
        "model_id": model["id"],
        "name": model["name"],
        "platform": model["platform"],
        "output": None,
        "score": None,
        "passed": None,
        "outcome": "not_run",
        "judge": None,
        "latency_ms": None,
        "cost_usd": None,
        "error": None,
        "error_message": None,
    }
    if out is None:
        return result
    result.update(output=out.get("output"), latency_ms=out.get("latency_ms"), cost_usd=out.get("cost_usd"))
    if out.get("error"):
        result.update(
            outcome="error", error=out.get("error_code") or out["error"], error_message=out.get("error_message")
        )
        return result
    score: float | None = None
    if view.kind == "exact":
        if out.get("scoring_error"):
            result.update(outcome="error", error="scoring_error", error_message=out.get("reason"))
            return result
        score = float(out["score"]) if out.get("score") is not None else None
    elif view.kind == "judge":
        verdict = shard.judgements.get(model["id"], {}).get(index)
        if verdict is not None:
            result["judge"] = {
                "score": verdict.get("score"),
                "reason": verdict.get("reason"),
                "raw": verdict.get("raw"),
                "error": verdict.get("judge_error_code") or verdict.get("error"),
                "attempts": verdict.get("attempts"),
                "cost_usd": verdict.get("judge_cost_usd"),
            }
            if verdict.get("error"):
                result.update(outcome="error", error="judge_error", error_message=verdict.get("reason"))
                return result
            score = float(verdict["score"]) if verdict.get("score") is not None else None
    else:
        grade = view.grades.get((index, model["id"]))
        if grade is not None:
            score = float(grade["score"])
            result["grade"] = grade.get("grade")
    if score is None:
        result["outcome"] = "pending"
        return result
    result["score"] = score
    passed = score >= 1.0 if view.metric == "pass_fail" else score >= view.pass_threshold
    if view.metric == "pass_fail":
        result["passed"] = passed
    result["outcome"] = "pass" if passed else "fail"
    return result


# -- filtering and paging ----------------------------------------------------------------------


def matches(entry: dict[str, Any], wanted: ResultsFilter, winner: str | None) -> bool:
    """Whether a row passes the filters. ``disagreement`` and ``winner_lost`` look at every
    model of the row; ``outcome`` looks at the shown results (one model with ``model_id``)."""
    outcomes = {r["model_id"]: r["outcome"] for r in entry["results"]}
    if wanted.disagreement and not {"pass", "fail"} <= set(outcomes.values()):
        return False
    if wanted.winner_lost:
        if outcomes.get(winner or "") not in ("fail", "error"):
            return False
        if not any(o == "pass" for m, o in outcomes.items() if m != winner):
            return False
    if wanted.outcome:
        shown = [outcomes[wanted.model_id]] if wanted.model_id else list(outcomes.values())
        if wanted.outcome not in shown:
            return False
    return True


def shown(entry: dict[str, Any], wanted: ResultsFilter) -> dict[str, Any]:
    if not wanted.model_id:
        return entry
    return {**entry, "results": [r for r in entry["results"] if r["model_id"] == wanted.model_id]}


def check_filter(view: RunView, wanted: ResultsFilter) -> None:
    if wanted.model_id and wanted.model_id not in {m["id"] for m in view.models}:
        raise ApiError(
            400, "unknown_models", f"Model {wanted.model_id} is not part of this run.", {"model_ids": [wanted.model_id]}
        )
    if wanted.outcome and wanted.outcome not in FILTER_OUTCOMES:
        raise ApiError(400, "invalid_request", "outcome must be one of pass, fail, error.", {"param": "outcome"})
    if wanted.winner_lost and not view.winner:
        raise ApiError(
            409,
            "run_not_ranked",
            "winner_lost needs the run's winner, and this run has none yet (it is not finished, or no model "
            "could be scored).",
        )


def iter_shards(
    settings: Settings,
    clients: AwsClients,
    view: RunView,
    first: int = 0,
    prefetch: int = 4,
) -> Iterator[ShardData]:
    """The shards from ``first`` on, in order. Up to ``prefetch`` shards are read ahead on
    threads (S3 latency dominates), so at most that many shards are held at once."""
    indexes = iter(range(first, view.shard_count))
    read: Callable[[int], ShardData] = lambda i: read_shard(settings, clients, view, i)  # noqa: E731
    if prefetch <= 1:
        for index in indexes:
            yield read(index)
        return
    with ThreadPoolExecutor(max_workers=prefetch) as pool:
        pending = [pool.submit(read, i) for _, i in zip(range(prefetch), indexes, strict=False)]
        while pending:
            shard = pending.pop(0).result()
            nxt = next(indexes, None)
            if nxt is not None:
                pending.append(pool.submit(read, nxt))
            yield shard


def results_page(
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    run_id: str,
    wanted: ResultsFilter,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """One page of rows matching the filters, in dataset order. The cursor is the index of the
    next row to look at. A page stops at ``limit`` rows or after ``runs.results_scan_rows``
    rows were looked at (a rare filter must not read the whole run in one request): a page may
    then hold fewer rows than ``limit`` with a ``next_cursor`` to go on."""
    run = records.get_run_for(clients.table, workspace_id, run_id)
    view = run_view(settings, clients, run)
    check_filter(view, wanted)
    start = _parse_cursor(cursor, view.rows)
    page: list[dict[str, Any]] = []
    next_row: int | None = None
    scanned = 0
    if view.shard_size and start < view.rows:
        first = start // view.shard_size
        for shard in iter_shards(settings, clients, view, first, prefetch=2):
            for entry in entries_of(view, shard):
                if entry["row"] < start:
                    continue
                if len(page) >= limit or scanned >= settings.runs.results_scan_rows:
                    next_row = entry["row"]
                    break
                scanned += 1
                if matches(entry, wanted, view.winner):
                    page.append(shown(entry, wanted))
            if next_row is not None:
                break
            if shard.index + 1 < view.shard_count and (
                len(page) >= limit or scanned >= settings.runs.results_scan_rows
            ):
                next_row = (shard.index + 1) * view.shard_size
                break
    return {
        "run_id": run["id"],
        "status": run["status"],
        "evaluation_type": view.kind,
        "winner_model_id": view.winner,
        "models": view.models,
        "rows_total": view.rows,
        "rows": page,
        "next_cursor": str(next_row) if next_row is not None else None,
    }


def _parse_cursor(cursor: str | None, rows: int) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit() or int(cursor) > rows:
        raise ApiError(400, "invalid_cursor", "cursor is not one this route returned.", {"param": "cursor"})
    return int(cursor)
