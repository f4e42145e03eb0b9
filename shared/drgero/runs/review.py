"""Human evaluation: the run waits in ``awaiting_review`` until every item is graded (or an
admin closes the review), then ranks on the grades.

An item is one successful candidate output of one row (a failed call is a call error, not
something to grade). Items are blind by default (``evaluation.blind``): reviewers see labels
A, B, ... in an order shuffled per row, and an ``item_id`` that does not name the model
(``{row}-{sha256(run, row, model)[:12]}``). Grades are ``RUN#{run}`` / ``GRADE#{row}#{model}``
items: the first grade of an item counts once on the run (``grades_done``, in the same
transaction); a regrade only changes the value.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ConfigDict, Field, ValidationError

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.core.validation import TextModel, invalid
from drgero.evaluation.config import HumanOptions, normalize_human_grade, parse_evaluation
from drgero.identity.principal import Principal, Scope
from drgero.runs import records
from drgero.runs.aggregate import shards_of
from drgero.runs.dataset import get_jsonl
from drgero.store.keys import grade_key, grade_row_prefix, run_key, run_outputs_object, run_pk, run_rows_object
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class GradeIn(TextModel):
    model_config = ConfigDict(extra="forbid")
    item_id: str = Field(min_length=3, max_length=40, pattern=r"^[0-9]{1,9}-[0-9a-f]{12}$")
    grade: bool | float


class ReviewSubmission(TextModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"grades": [{"item_id": "0-0123456789ab", "grade": 1}]}]},
    )
    grades: list[GradeIn] = Field(default_factory=list, max_length=500)
    close: bool = Field(False, description="Close the review now and rank on the grades given (admin only).")


def item_hash(run_id: str, row: int, model_id: str) -> str:
    return hashlib.sha256(f"{run_id}\x1f{row}\x1f{model_id}".encode()).hexdigest()[:12]


def item_id(run_id: str, row: int, model_id: str) -> str:
    return f"{row}-{item_hash(run_id, row, model_id)}"


def _options(run: dict[str, Any]) -> HumanOptions:
    options = parse_evaluation(run["leaderboard_config"].get("evaluation"))
    if not isinstance(options, HumanOptions):
        raise ApiError(409, "not_human_evaluation", "This run is not evaluated by people; it has no review.")
    return options


def _outputs(settings: Settings, clients: AwsClients, run: dict[str, Any], model: str, index: int) -> list[dict]:
    return get_jsonl(clients.s3, settings.aws.bucket_name, run_outputs_object(run["id"], model, index)) or []


def open_review(settings: Settings, clients: AwsClients, run: dict[str, Any]) -> str | None:
    """All shards evaluated: count the items and wait for reviewers (exactly once)."""
    table = clients.table
    total = 0
    for shard in shards_of(table, run["id"]):
        total += sum(
            1
            for o in _outputs(settings, clients, run, shard["model_id"], int(shard["shard_index"]))
            if not o.get("error")
        )
    if total == 0:  # nothing to grade (every call failed): rank right away
        # A cycle (completion imports this module), and off the api function's import (cold start).
        from drgero.runs.completion import take_aggregation

        return take_aggregation(settings, clients, run)
    moved = records.transition(
        table,
        run["id"],
        (records.RUNNING,),
        records.AWAITING_REVIEW,
        {"review_total": total, "awaiting_review_at": clock.iso_millis()},
    )
    if moved is None:
        return None
    records.release_active_marker(table, moved)  # a review can take days: do not block new runs
    # The paid calls are over (grading costs nothing): settle now, not after days of review.
    from drgero.runs.charging import close_run_charge  # a cycle through completion, as above

    close_run_charge(table, moved)
    return records.AWAITING_REVIEW


def list_review(
    settings: Settings, clients: AwsClients, workspace_id: str, run_id: str, page: int = 0
) -> dict[str, Any]:
    table = clients.table
    run = records.get_run_for(table, workspace_id, run_id)
    options = _options(run)
    if run["status"] not in (records.AWAITING_REVIEW, records.AGGREGATING, records.COMPLETED, records.CANCELLED):
        raise ApiError(409, "review_not_open", f"The run is {run['status']}; its review opens when every output is in.")
    shard_size = int(run["shard_size"])
    pages = -(-int(run["rows"]) // shard_size)
    if page < 0 or page >= max(pages, 1):
        raise ApiError(400, "invalid_page", f"page must be between 0 and {max(pages - 1, 0)}")
    rows_body = clients.s3.get_object(Bucket=settings.aws.bucket_name, Key=run_rows_object(run_id, page))["Body"].read()
    rows = [json.loads(line) for line in rows_body.splitlines() if line.strip()]
    outputs = {m: {o["row"]: o for o in _outputs(settings, clients, run, m, page)} for m in run["model_ids"]}
    listed = []
    for offset, row in enumerate(rows):
        index = page * shard_size + offset
        grades = {
            g["model_id"]: g["grade"] for g in table.query_all(run_pk(run_id), grade_row_prefix(index), consistent=True)
        }
        candidates = [m for m in run["model_ids"] if (o := outputs[m].get(index)) and not o.get("error")]
        candidates.sort(key=lambda m: item_hash(run_id, index, m))  # shuffled per row, stable
        items = []
        for label, model in zip(LABELS, candidates, strict=False):
            entry = {
                "item_id": item_id(run_id, index, model),
                "label": label,
                "output": outputs[model][index]["output"],
                "grade": grades.get(model),
            }
            if not options.blind:
                entry["model_id"] = model
            items.append(entry)
        # row + row_id: the same row as GET /api/runs/{id}/results (drgero.runs.results).
        row_id = str(row["id"]) if row.get("id") is not None else str(index)
        listed.append({"row": index, "row_id": row_id, "input": row.get("input"), "expected": row.get("output"),
                       "rubric": row.get("rubric"), "items": items})  # fmt: skip
    return {
        "run_id": run_id,
        "status": run["status"],
        "scale": options.scale,
        "blind": options.blind,
        "items_total": run.get("review_total"),
        "graded": int(run.get("grades_done") or 0),
        "page": page,
        "pages": pages,
        "next_page": page + 1 if page + 1 < pages else None,
        "rows": listed,
    }


def submit_grades(
    settings: Settings, clients: AwsClients, principal: Principal, run_id: str, body: Any
) -> dict[str, Any]:
    table = clients.table
    try:
        submission = body if isinstance(body, ReviewSubmission) else ReviewSubmission.model_validate(body)
    except ValidationError as exc:
        raise invalid(exc, "The grades are not valid.") from None
    run = records.get_run_for(table, principal.workspace_id, run_id)
    options = _options(run)
    if submission.close:
        principal.require_scope(Scope.ADMIN)
    if run["status"] != records.AWAITING_REVIEW:
        raise ApiError(
            409, "review_not_open", f"The run is {run['status']}; grades are accepted while it awaits review."
        )
    shard_size = int(run["shard_size"])
    resolved = []
    cache: dict[tuple[str, int], dict[int, dict]] = {}
    for position, grade in enumerate(submission.grades):
        row_text, digest = grade.item_id.split("-")
        row = int(row_text)
        model = next((m for m in run["model_ids"] if item_hash(run_id, row, m) == digest), None)
        if model is not None:
            key = (model, row // shard_size)
            if key not in cache:
                cache[key] = {o["row"]: o for o in _outputs(settings, clients, run, model, row // shard_size)}
            output = cache[key].get(row)
            if not output or output.get("error"):
                model = None
        if model is None:
            raise ApiError(400, "unknown_item", f"grades[{position}]: no such review item {grade.item_id!r}.")
        value = grade.grade if isinstance(grade.grade, bool) else grade.grade
        resolved.append((row, model, value, normalize_human_grade(value, options)))
    for row, model, value, score in resolved:
        _store_grade(table, run_id, row, model, value, score, principal)
    run = records.get_run(table, run_id) or run
    status = run["status"]
    if submission.close or int(run.get("grades_done") or 0) >= int(run.get("review_total") or 0):
        # Cold start: completion loads only when a submission ends the review (api function).
        # Also a cycle: completion imports this module (open_review).
        from drgero.runs.completion import take_aggregation

        status = take_aggregation(settings, clients, run) or (records.get_run(table, run_id) or run)["status"]
    return {
        "accepted": len(resolved),
        "graded": int(run.get("grades_done") or 0),
        "items_total": run.get("review_total"),
        "status": status,
    }


def _store_grade(
    table: MetadataTable, run_id: str, row: int, model: str, value: Any, score: float, principal: Principal
) -> None:
    pk, sk = grade_key(run_id, row, model)
    item = {"pk": pk, "sk": sk, "row": row, "model_id": model, "grade": value, "score": score,
            "graded_by": principal.user_id or principal.token_id, "graded_at": clock.iso_millis()}  # fmt: skip
    open_run = Condition("#st = :awaiting", names={"#st": "status"}, values={":awaiting": records.AWAITING_REVIEW})
    try:
        table.transact(
            [
                {"put": item, "condition": Condition("attribute_not_exists(pk)")},
                {
                    "update": run_key(run_id),
                    "expression": "ADD grades_done :one",
                    "values": {":one": 1},
                    "condition": open_run,
                },  # fmt: skip
            ]
        )
        return
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
    # Already graded (a regrade or a retried request): change the value, count nothing.
    try:
        table.transact([{"put": item, "condition": Condition("attribute_exists(pk)")},
                        {"check": run_key(run_id), "condition": open_run}])  # fmt: skip
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        raise ApiError(409, "review_not_open", "The review was closed while grading.") from exc
