"""Comparing two runs of one leaderboard: what a prompt, dataset or model change did.

``then`` is the run that started first, ``now`` the other (whatever order the URL names them).
Rows are matched by ``row_id`` (the dataset row's ``id``; the first occurrence when a dataset
repeats an id), so a dataset that grew or was reordered still compares row for row. Each
model in both runs gets its score then and now (the ranking's), and a paired test on the rows
both runs scored for it, with the values the ranking used (a failed call counts as a 0 when
``evaluation.call_errors_count_as_failures``; judge and scoring errors leave the row out):

- pass/fail evaluations (exact, human pass/fail) in both runs: McNemar's exact test
  (``stats.paired_pass_fail_test``), as the ranking compares winner and runner-up;
- otherwise (graded scores): the paired sign-flip permutation test, seeded by the two run ids.

``rows`` lists the (row, model) pairs whose value changed, in ``now``'s row order: ``regressed``
(lower now) or ``improved``, paged by an offset cursor, each with both results (outputs
included). Scores are kept for every row (small); outputs are read only for the page's rows.
"""

from __future__ import annotations

from typing import Any

from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.evaluation import stats
from drgero.runs import records
from drgero.runs.results import RunView, entries_of, iter_shards, read_shard, run_view

_NOT_THE_MODELS_FAULT = frozenset({"scoring_error", "judge_error"})
CHANGES = ("regressed", "improved")


def _value(result: dict[str, Any], count_call_errors: bool) -> float | None:
    """The row's value in the model's score, as the ranking counts it."""
    if result["outcome"] in ("pass", "fail"):
        return float(result["score"])
    if result["outcome"] == "error" and result["error"] not in _NOT_THE_MODELS_FAULT and count_call_errors:
        return 0.0
    return None


def _values(settings: Settings, clients: AwsClients, view: RunView) -> dict[str, tuple[int, dict[str, float | None]]]:
    """row_id -> (row index, model -> value) over the whole run."""
    count = settings.evaluation.call_errors_count_as_failures
    table: dict[str, tuple[int, dict[str, float | None]]] = {}
    for shard in iter_shards(settings, clients, view):
        for entry in entries_of(view, shard):
            if entry["row_id"] not in table:
                table[entry["row_id"]] = (entry["row"], {r["model_id"]: _value(r, count) for r in entry["results"]})
    return table


def compare_runs(
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    run_id: str,
    other_run_id: str,
    *,
    model_id: str | None = None,
    change: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    table = clients.table
    first = records.get_run_for(table, workspace_id, run_id)
    second = records.get_run_for(table, workspace_id, other_run_id)
    if first["leaderboard_id"] != second["leaderboard_id"]:
        raise ApiError(
            409,
            "runs_not_comparable",
            f"Run {run_id} belongs to leaderboard {first['leaderboard_id']} and run {other_run_id} to "
            f"{second['leaderboard_id']}; runs are compared within one leaderboard.",
            {"leaderboard_ids": [first["leaderboard_id"], second["leaderboard_id"]]},
        )
    for run in (first, second):
        if records.ranking_of(run) is None:
            raise ApiError(
                409,
                "run_not_ranked",
                f"Run {run['id']} is {run['status']} and has no ranking yet; compare runs once they finish.",
                {"run_id": run["id"], "status": run["status"]},
            )
    then, now = sorted((first, second), key=lambda r: (r.get("started_at") or "", r["id"]))
    then_view, now_view = run_view(settings, clients, then), run_view(settings, clients, now)
    shared_models = [m for m in now_view.models if m["id"] in set(then["model_ids"])]
    if model_id is not None and model_id not in {m["id"] for m in shared_models}:
        raise ApiError(400, "unknown_models", f"Model {model_id} is not in both runs.", {"model_ids": [model_id]})
    if change is not None and change not in CHANGES:
        raise ApiError(400, "invalid_request", "change must be regressed or improved.", {"param": "change"})
    offset = _offset(cursor)
    then_values, now_values = _values(settings, clients, then_view), _values(settings, clients, now_view)
    pass_fail = then_view.metric == now_view.metric == "pass_fail"
    then_rank = {r["model_id"]: r for r in (records.ranking_of(then) or {}).get("rows", [])}
    now_rank = {r["model_id"]: r for r in (records.ranking_of(now) or {}).get("rows", [])}
    shared_rows = [row_id for row_id in now_values if row_id in then_values]
    models_out = []
    changes: list[tuple[str, str, str]] = []  # (row_id, model_id, change) in now's row order
    for model in shared_models:
        mid = model["id"]
        pairs = [
            (now_values[r][1].get(mid), then_values[r][1].get(mid), r)
            for r in shared_rows
            if now_values[r][1].get(mid) is not None and then_values[r][1].get(mid) is not None
        ]
        test = None
        if pairs:
            a, b = [p[0] for p in pairs], [p[1] for p in pairs]
            test = (
                stats.paired_pass_fail_test(a, b)
                if pass_fail
                else stats.paired_sign_flip_test(
                    a,
                    b,
                    resamples=settings.evaluation.permutation_resamples,
                    seed=stats.seed_from(then["id"], now["id"], mid, "compare"),
                )
            )
        regressed = {r for n, t, r in pairs if n < t}
        improved = {r for n, t, r in pairs if n > t}
        models_out.append(
            {
                "model_id": mid,
                "name": model["name"],
                "platform": model["platform"],
                "score_then": (then_rank.get(mid) or {}).get("score"),
                "score_now": (now_rank.get(mid) or {}).get("score"),
                "difference": _difference(then_rank.get(mid), now_rank.get(mid)),
                "n_pairs": len(pairs),
                "paired_mean_then": sum(b for _, b, _ in pairs) / len(pairs) if pairs else None,
                "paired_mean_now": sum(a for a, _, _ in pairs) / len(pairs) if pairs else None,
                "test": test.method if test else None,
                "p_value": test.p_value if test else None,
                "significant": bool(test and test.p_value < settings.evaluation.significance_alpha),
                "regressed": len(regressed),
                "improved": len(improved),
            }
        )
        if model_id in (None, mid):
            marks = {r: "regressed" for r in regressed} | {r: "improved" for r in improved}
            changes += [(r, mid, marks[r]) for r in shared_rows if r in marks and change in (None, marks[r])]
    order = {row_id: i for i, row_id in enumerate(shared_rows)}
    changes.sort(key=lambda c: (order[c[0]], c[1]))
    page = changes[offset : offset + limit]
    return {
        "then_run_id": then["id"],
        "now_run_id": now["id"],
        "leaderboard_id": now["leaderboard_id"],
        "rows_shared": len(shared_rows),
        "alpha": settings.evaluation.significance_alpha,
        "test": "mcnemar_exact" if pass_fail else "paired_sign_flip",
        "models": models_out,
        "rows": _page_rows(settings, clients, then_view, now_view, then_values, now_values, page),
        "next_cursor": str(offset + limit) if offset + limit < len(changes) else None,
    }


def _difference(then_row: dict[str, Any] | None, now_row: dict[str, Any] | None) -> float | None:
    if not then_row or not now_row or then_row.get("score") is None or now_row.get("score") is None:
        return None
    return round(now_row["score"] - then_row["score"], 6)


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit() or len(cursor) > 9:
        raise ApiError(400, "invalid_cursor", "cursor is not one this route returned.", {"param": "cursor"})
    return int(cursor)


def _page_rows(
    settings: Settings,
    clients: AwsClients,
    then_view: RunView,
    now_view: RunView,
    then_values: dict[str, tuple[int, dict[str, float | None]]],
    now_values: dict[str, tuple[int, dict[str, float | None]]],
    page: list[tuple[str, str, str]],
) -> list[dict[str, Any]]:
    """The page's changes with both results (outputs included): only their shards are read."""
    cache: dict[tuple[str, int], dict[int, dict[str, Any]]] = {}

    def entry(view: RunView, row: int) -> dict[str, Any]:
        index = row // view.shard_size
        key = (view.run["id"], index)
        if key not in cache:
            cache[key] = {e["row"]: e for e in entries_of(view, read_shard(settings, clients, view, index))}
        return cache[key][row]

    out = []
    for row_id, mid, change in page:
        then_entry = entry(then_view, then_values[row_id][0])
        now_entry = entry(now_view, now_values[row_id][0])
        out.append(
            {
                "row_id": row_id,
                "model_id": mid,
                "change": change,
                "input": now_entry["input"],
                "expected": now_entry["expected"],
                "then": _side(then_entry, mid),
                "now": _side(now_entry, mid),
            }
        )
    return out


def _side(entry: dict[str, Any], model_id: str) -> dict[str, Any]:
    result = next(r for r in entry["results"] if r["model_id"] == model_id)
    return {"row": entry["row"], "prompt": entry["prompt"], **{k: v for k, v in result.items() if k != "model_id"}}
