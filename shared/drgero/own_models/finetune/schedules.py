"""Fine-tune schedules: retrain a Dr.Gero model on a leaderboard's dataset on a cron/rate.

One schedule per model, item ``WS#{ws}`` / ``FTSCHED#{model_id}`` (the job template: the
leaderboard, base model, hyperparameters, validation fraction, and the ``schedule`` JSON in
the same shape as a leaderboard's run schedule, parsed by :mod:`drgero.runs.schedules`).

It becomes the EventBridge Scheduler schedule ``ft-{model_id}`` in
``aws.schedule_group_name`` that invokes the sweeper function
(``fine_tune.schedule_target_arn``) with ``{"job": "fine_tune_scheduled", "workspace_id",
"model_id"}``. A firing starts a job unless the leaderboard's dataset version is the one the
model's last job on that leaderboard used (whatever that job's outcome: an unchanged dataset
is never retrained, so a failing dataset does not fail - and cost - again on every tick), or a
job is already in progress.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import ClientError
from pydantic import Field

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError, not_found
from drgero.core.settings import Settings
from drgero.core.validation import parse
from drgero.leaderboards.leaderboard import get_leaderboard
from drgero.own_models import registry as drgero_models
from drgero.own_models.finetune.backend import BackendFactory, default_backend
from drgero.own_models.finetune.bodies import FineTuneCreate
from drgero.own_models.finetune.create import create_job
from drgero.own_models.finetune.records import latest_job
from drgero.runs.dataset import pinned_dataset
from drgero.store.keys import drgero_model_key, fine_tune_schedule_key
from drgero.store.table import MetadataTable

logger = logging.getLogger("drgero.own_models.finetune")


class ScheduleBody(FineTuneCreate):
    model_config = FineTuneCreate.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "leaderboard_id": "lb_01jd3k0000000000000000000",
                    "base_model": "gpt-4o-mini-2024-07-18",
                    "schedule": {"cron": "0 4 * * 1", "timezone": "Europe/Paris"},
                }
            ]
        }
    }

    # {"cron": "0 4 * * 1"} or {"rate": "7 days"}, optional "timezone" and "enabled".
    schedule: dict[str, Any] = Field()


def schedule_name(model_id: str) -> str:
    return f"ft-{model_id}"[:64]


def public_schedule(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_id": item["model_id"],
        "leaderboard_id": item["leaderboard_id"],
        "base_model": item["base_model"],
        "hyperparameters": item.get("hyperparameters") or {},
        "validation_fraction": item.get("validation_fraction", 0.0),
        "schedule": item["schedule"],
        "expression": item.get("expression"),
        "last_fired_at": item.get("last_fired_at"),
        "last_outcome": item.get("last_outcome"),
        "last_job_id": item.get("last_job_id"),
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
    }


def get_schedule(table: MetadataTable, workspace_id: str, model_id: str) -> dict[str, Any]:
    drgero_models.get_model(table, workspace_id, model_id)
    item = table.get(*fine_tune_schedule_key(workspace_id, model_id))
    if not item:
        raise not_found("Fine-tune schedule")
    return item


def put_schedule(
    table: MetadataTable, settings: Settings, clients: AwsClients, workspace_id: str, model_id: str, body: Any
) -> dict[str, Any]:
    """``PUT /api/models/{id}/fine-tune-schedule``: stores the schedule and syncs EventBridge."""
    # Cold start: run schedules (the EventBridge Scheduler code) load only when a fine-tune
    # schedule is written or removed; off the api function's import.
    from drgero.runs.schedules import parse_schedule

    request: ScheduleBody = parse(ScheduleBody, body, "The fine-tune schedule is not valid.")
    config = parse_schedule(request.schedule, settings.runs.schedule_min_interval_minutes)
    drgero_models.get_model(table, workspace_id, model_id)
    get_leaderboard(table, workspace_id, request.leaderboard_id)
    if config is None:
        raise ApiError(400, "invalid_schedule", "schedule must be an object with 'cron' or 'rate'.")
    previous = table.get(*fine_tune_schedule_key(workspace_id, model_id)) or {}
    now = clock.iso()
    pk, sk = fine_tune_schedule_key(workspace_id, model_id)
    item = {
        **{k: v for k, v in previous.items() if k.startswith("last_")},
        "pk": pk,
        "sk": sk,
        "workspace_id": workspace_id,
        "model_id": model_id,
        "leaderboard_id": request.leaderboard_id,
        "base_model": request.base_model,
        "hyperparameters": request.hyperparameters.model_dump(exclude_none=True) if request.hyperparameters else {},
        "validation_fraction": request.validation_fraction,
        "schedule": config.model_dump(exclude_none=True),
        "expression": config.expression() if config.enabled else None,
        "created_at": previous.get("created_at") or now,
        "updated_at": now,
    }
    table.put(item)
    _sync(settings, clients, item, config)
    return item


def delete_schedule(
    table: MetadataTable, settings: Settings, clients: AwsClients, workspace_id: str, model_id: str
) -> None:
    get_schedule(table, workspace_id, model_id)
    _delete_remote(settings, clients, model_id)
    table.delete(*fine_tune_schedule_key(workspace_id, model_id))


def _sync(settings: Settings, clients: AwsClients, item: dict[str, Any], config: Any) -> None:
    from drgero.runs.schedules import upsert_schedule  # Cold start: as in put_schedule.

    if not config.enabled:
        _delete_remote(settings, clients, item["model_id"])
        return
    target = settings.fine_tune.schedule_target_arn
    if not target:
        raise ApiError(503, "schedules_unavailable", "Fine-tune schedules are not configured on this deployment.")
    message = {"job": "fine_tune_scheduled", "workspace_id": item["workspace_id"], "model_id": item["model_id"]}
    upsert_schedule(
        settings,
        clients,
        schedule_name(item["model_id"]),
        config,
        {"Arn": target, "Input": json.dumps(message)},
        f"Dr.Gero scheduled fine-tune of model {item['model_id']}",
    )


def _delete_remote(settings: Settings, clients: AwsClients, model_id: str) -> bool:
    from drgero.runs.schedules import delete_named_schedule  # Cold start: as in put_schedule.

    return delete_named_schedule(settings, clients, schedule_name(model_id))


def run_scheduled(
    settings: Settings,
    clients: AwsClients,
    event: dict[str, Any],
    *,
    backend_factory: BackendFactory = default_backend,
) -> dict[str, Any]:
    """The sweeper's ``fine_tune_scheduled`` job (one schedule firing). Returns
    ``{"outcome": "started" | "dataset_unchanged" | "in_progress" | "dataset_empty" |
    "no_schedule" | "not_trainable", "job_id"?}``; never raises for an expected skip, so
    EventBridge does not retry a firing that has nothing to do."""
    workspace_id = str(event.get("workspace_id") or "")
    model_id = str(event.get("model_id") or "")
    table = clients.table
    schedule = table.get(*fine_tune_schedule_key(workspace_id, model_id)) if workspace_id and model_id else None
    if not schedule:
        return {"outcome": "no_schedule"}
    model = table.get(*drgero_model_key(workspace_id, model_id))
    if not model or model.get("status") == drgero_models.DELETING:
        # The model is gone: its schedule would fire forever for nothing.
        _delete_remote(settings, clients, model_id)
        table.delete(*fine_tune_schedule_key(workspace_id, model_id))
        return {"outcome": "model_deleted"}
    result: dict[str, Any]
    try:
        leaderboard = get_leaderboard(table, workspace_id, schedule["leaderboard_id"])
        dataset = pinned_dataset(table, leaderboard)
        last = latest_job(table, workspace_id, model_id, leaderboard["id"])
        if last is not None and str(last["dataset"].get("version")) == str(dataset.get("version")):
            result = {"outcome": "dataset_unchanged", "dataset_version": dataset.get("version"), "job_id": last["id"]}
        else:
            body = {
                "leaderboard_id": schedule["leaderboard_id"],
                "base_model": schedule["base_model"],
                "validation_fraction": schedule.get("validation_fraction", 0.0),
            }
            if schedule.get("hyperparameters"):
                body["hyperparameters"] = schedule["hyperparameters"]
            job = create_job(
                table,
                settings,
                clients,
                workspace_id,
                model_id,
                body,
                source="schedule",
                backend_factory=backend_factory,
            )
            result = {"outcome": "started", "job_id": job["id"], "status": job["status"]}
    except ApiError as exc:
        outcomes = {
            "fine_tune_in_progress": "in_progress",
            "dataset_empty": "dataset_empty",
            "not_enough_rows": "not_trainable",
            "training_file_too_large": "not_trainable",
            "not_found": "no_schedule",
        }
        if exc.code not in outcomes:
            raise
        result = {"outcome": outcomes[exc.code], "reason": exc.message}
    try:
        table.update(
            *fine_tune_schedule_key(workspace_id, model_id),
            "SET #f = :f, #o = :o" + (", #j = :j" if result.get("outcome") == "started" else ""),
            {
                "#f": "last_fired_at",
                "#o": "last_outcome",
                **({"#j": "last_job_id"} if result.get("outcome") == "started" else {}),
            },
            {
                ":f": clock.iso(),
                ":o": result["outcome"],
                **({":j": result["job_id"]} if result.get("outcome") == "started" else {}),
            },
        )
    except ClientError as exc:  # bookkeeping only; the job record is what matters
        logger.warning("fine-tune schedule bookkeeping failed", extra={"model_id": model_id, "error": str(exc)})
    logger.info("fine-tune schedule fired", extra={"model_id": model_id, **result})
    return result
