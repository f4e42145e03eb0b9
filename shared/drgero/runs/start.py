"""Starting a run: checks, the run item + its active-run entry (what the run sweep watches) +
the leaderboard's active-run marker in one transaction, then the runs-queue message for the
fan-out.

Sources: ``manual`` (POST /api/leaderboards/{id}/runs), ``schedule`` (the leaderboard's
EventBridge schedule, started by the fan-out function) and ``dataset_improvement`` (after a
consolidation added enough rows, :mod:`drgero.runs.improvement`).
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ConfigDict, Field, field_validator

from drgero.core import clock, queues
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError, not_found
from drgero.core.ids import new_id
from drgero.core.settings import Settings
from drgero.core.validation import TextModel, parse
from drgero.evaluation.config import parse_evaluation
from drgero.evaluation.judge import JudgeOptions
from drgero.identity.integrations import require_stored_integration
from drgero.identity.principal import Principal
from drgero.leaderboards.leaderboard import get_leaderboard
from drgero.runs import charging, records
from drgero.runs.dataset import pinned_dataset, read_lines
from drgero.runs.estimates import estimate
from drgero.store.keys import (
    ACTIVE_RUNS_INDEX_PK,
    active_run_index_sk,
    active_run_key,
    candidate_key,
    history_index_pk,
    history_index_sk,
    leaderboard_key,
    run_key,
)
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

logger = logging.getLogger("drgero.runs")


class StartRunBody(TextModel):
    """Optional body of POST /api/leaderboards/{id}/runs."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}, {"model_ids": ["mdl_a", "mdl_b"]}]})

    model_ids: list[str] | None = Field(
        default=None, min_length=2, max_length=100, description="A subset of the attached models (at least 2)."
    )

    @field_validator("model_ids")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if any(not isinstance(v, str) or not v or len(v) > 100 for v in value):
            raise ValueError("model ids must be non-empty strings of at most 100 characters")
        if len(set(value)) != len(value):
            raise ValueError("model ids must be unique")
        return value


def parse_start_body(body: Any) -> StartRunBody:
    if body is None:
        return StartRunBody()
    if isinstance(body, StartRunBody):
        return body
    return parse(StartRunBody, body, "The run request is not valid.")


def _selected_models(leaderboard: dict[str, Any], wanted: list[str] | None) -> list[dict[str, Any]]:
    attached = leaderboard.get("models") or []
    if wanted is None:
        selected = list(attached)
    else:
        by_id = {m["id"]: m for m in attached}
        unknown = [m for m in wanted if m not in by_id]
        if unknown:
            raise ApiError(
                400,
                "unknown_models",
                "These models are not attached to the leaderboard: " + ", ".join(unknown),
                {"model_ids": unknown},
            )
        selected = [by_id[m] for m in wanted]
    if len(selected) < 2:
        raise ApiError(
            409,
            "not_enough_models",
            f"A run compares models: it needs at least 2, and {len(selected)} "
            f"{'is' if len(selected) == 1 else 'are'} selected. Attach more models "
            "(POST /api/leaderboards/{id}/models) and start the run again.",
            {"models": len(selected), "required": 2},
        )
    return selected


def start_run(
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    leaderboard_id: str,
    body: Any = None,
    source: str = "manual",
    *,
    enqueue: bool = True,
    started_by: str = "",
    principal: Principal | None = None,
) -> dict[str, Any]:
    """Creates a queued run and (``enqueue``) sends it to the fan-out. Returns the run item.

    409 ``not_enough_models`` (< 2 selected), ``run_in_progress`` (another run is active),
    ``dataset_empty``; 400 ``unknown_models`` / ``invalid_evaluation``; 404 for a leaderboard
    of another workspace."""
    if source not in records.SOURCES:
        raise ValueError(f"unknown run source {source!r}")
    request = parse_start_body(body)
    table = clients.table
    leaderboard = get_leaderboard(table, workspace_id, leaderboard_id)
    if leaderboard.get("active_run_id"):
        raise _in_progress(leaderboard["active_run_id"])
    selected = _selected_models(leaderboard, request.model_ids)
    options = parse_evaluation(leaderboard.get("evaluation") or {"type": "exact"})
    dataset = pinned_dataset(table, leaderboard)
    model_items = [table.get(*candidate_key(leaderboard_id, m["id"])) or dict(m) for m in selected]
    _require_integrations(table, workspace_id, model_items, options)

    run_id = new_id("run")
    if source == "schedule" and principal is None:
        principal = charging.schedule_principal(table, leaderboard)  # 401 when its token is gone
    reservation = _reserve(settings, clients, principal, run_id, leaderboard, dataset, model_items, options)

    now = clock.iso_millis()
    openrouter_judge = isinstance(options, JudgeOptions) and options.judge_platform == "openrouter"
    judge_model = options.judge_model if openrouter_judge else None
    planned = estimate(settings, table, leaderboard, model_items, dataset["rows"], judge=options.type == "judge",
                       judge_model=judge_model)  # fmt: skip
    item = {
        "pk": run_key(run_id)[0],
        "sk": run_key(run_id)[1],
        "gsi1pk": history_index_pk(leaderboard_id),
        "gsi1sk": history_index_sk(now, run_id),
        "id": run_id,
        "workspace_id": workspace_id,
        "leaderboard_id": leaderboard_id,
        "source": source,
        "status": records.QUEUED,
        "evaluation_type": options.type,
        "model_ids": [m["id"] for m in selected],
        "rows": dataset["rows"],
        "created_at": now,
        "started_at": now,
        "progress_at": now,
        "started_by": started_by,
        # The budget reservation the run is charged to (drgero.runs.charging); absent: not charged.
        "reservation_id": reservation["id"] if reservation else None,
        "charged_token_id": principal.token_id if reservation and principal else None,
        "shards_done": 0,
        "estimated_seconds": planned.seconds,
        "estimated_range_seconds": [planned.low_seconds, planned.high_seconds],
    }
    lb_pk, lb_sk = leaderboard_key(workspace_id, leaderboard_id)
    try:
        table.transact(
            [
                {"put": item, "condition": Condition("attribute_not_exists(pk)")},
                # How the run sweep finds this run until it has ended (drgero.runs.sweep).
                {"put": _active_entry(item)},
                {
                    "update": (lb_pk, lb_sk),
                    "expression": "SET active_run_id = :run",
                    "values": {":run": run_id},
                    "condition": Condition("attribute_exists(pk) AND attribute_not_exists(active_run_id)"),
                },
            ]
        )
    except ClientError as exc:
        _release(table, reservation)  # the run was not created: nothing may stay held
        if not is_conditional_failure(exc):
            raise
        current = table.get(lb_pk, lb_sk)
        if current is None:
            raise not_found("Leaderboard") from exc
        raise _in_progress(current.get("active_run_id") or "") from exc
    if enqueue:
        try:
            queues.send(
                clients.sqs,
                settings.aws.runs_queue_url,
                {"run_id": run_id, "leaderboard_id": leaderboard_id, "workspace_id": workspace_id, "source": source},
            )
        except ClientError as exc:
            # Not queued: nothing will ever move this run, so it must not block the leaderboard.
            logger.error("run not queued", extra={"run_id": run_id, "error": str(exc)})
            error = records.run_error("run_not_queued", "The run could not be queued.", records.STEP_FAN_OUT)
            records.transition(table, run_id, (records.QUEUED,), records.FAILED, {"error": error, "finished_at": now})
            records.release_active_marker(table, item)
            _release(table, reservation)
            raise ApiError(503, "run_not_queued", "The run could not be queued; try again.") from exc
    return item


def record_failed_run(
    table: MetadataTable, leaderboard: dict[str, Any], source: str, error: dict[str, str]
) -> dict[str, Any]:
    """A run that could not start (its payer cannot pay), recorded ``failed`` with the reason,
    so the history shows it. It never held the leaderboard's active-run marker."""
    run_id = new_id("run")
    now = clock.iso_millis()
    item = {
        "pk": run_key(run_id)[0],
        "sk": run_key(run_id)[1],
        "gsi1pk": history_index_pk(leaderboard["id"]),
        "gsi1sk": history_index_sk(now, run_id),
        "id": run_id,
        "workspace_id": leaderboard["workspace_id"],
        "leaderboard_id": leaderboard["id"],
        "source": source,
        "status": records.FAILED,
        "evaluation_type": (leaderboard.get("evaluation") or {}).get("type"),
        "model_ids": [m["id"] for m in leaderboard.get("models") or []],
        "created_at": now,
        "started_at": now,
        "finished_at": now,
        "progress_at": now,
        "error": error,
        "shards_done": 0,
    }
    table.put(item, condition=Condition("attribute_not_exists(pk)"))
    return item


def _reserve(
    settings: Settings,
    clients: AwsClients,
    principal: Principal | None,
    run_id: str,
    leaderboard: dict[str, Any],
    dataset: dict[str, Any],
    model_items: list[dict[str, Any]],
    options: Any,
) -> dict[str, Any] | None:
    """The run's worst-case reservation when an API token starts it (402 before anything is
    created when its budget cannot cover it); None for a user session (drgero.runs.charging)."""
    if not charging.charged(principal):
        return None
    assert principal is not None
    if not charging.has_token_record(clients.table, principal):
        return None
    rows = read_lines(clients.s3, settings.aws.bucket_name, dataset)
    judge_item = None
    if isinstance(options, JudgeOptions) and options.judge_platform != "openrouter":
        judge_item = clients.table.get(*candidate_key(leaderboard["id"], options.judge_model))
    cost = charging.worst_case_cost(settings, leaderboard.get("prompt") or "", rows, model_items, options, judge_item)
    return charging.reserve_run(clients.table, settings, principal, run_id, leaderboard["id"], cost)


def _release(table: MetadataTable, reservation: dict[str, Any] | None) -> None:
    if reservation:
        charging.close_run_charge(table, {"id": "", "reservation_id": reservation["id"]})


def _require_integrations(
    table: MetadataTable, workspace_id: str, model_items: list[dict[str, Any]], options: Any
) -> None:
    """409 ``integration_required`` before any paid call: OpenRouter candidates and an
    OpenRouter judge need the workspace's OpenRouter key (without it every call would fail,
    after the other candidates were paid for)."""
    openrouter = [m.get("name") or m["id"] for m in model_items if m.get("platform") == "openrouter"]
    if openrouter:
        require_stored_integration(
            table, workspace_id, "openrouter", f"Running the OpenRouter model(s) {', '.join(openrouter)}"
        )
    if isinstance(options, JudgeOptions) and options.judge_platform == "openrouter":
        require_stored_integration(table, workspace_id, "openrouter", f"The judge {options.judge_model}")


def _active_entry(run: dict[str, Any]) -> dict[str, Any]:
    pk, sk = active_run_key(run["id"])
    return {
        "pk": pk,
        "sk": sk,
        "gsi1pk": ACTIVE_RUNS_INDEX_PK,
        "gsi1sk": active_run_index_sk(run["started_at"], run["id"]),
        "run_id": run["id"],
        "workspace_id": run["workspace_id"],
        "leaderboard_id": run["leaderboard_id"],
    }


def _in_progress(active_run_id: str) -> ApiError:
    return ApiError(
        409,
        "run_in_progress",
        f"Run {active_run_id} is still active on this leaderboard; wait for it to finish or cancel it "
        "(POST /api/runs/{run_id}/cancel).",
        {"active_run_id": active_run_id},
    )
