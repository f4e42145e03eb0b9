"""A job the backend reports ``succeeded``: one transaction appends a version
(``source: fine_tune``) to the model, makes it current, ends the job and frees the lock -
exactly once, however many pollers see the success."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.own_models import registry as drgero_models
from drgero.own_models.finetune.backend import BackendJob, FineTuneBackend
from drgero.own_models.finetune.endings import (
    end_job_operation,
    ending_changes,
    finish,
    release_lock_operation,
    usage_operations,
)
from drgero.own_models.finetune.records import FAILED, SUCCEEDED, TERMINAL
from drgero.own_models.finetune.tracing import emit_trace
from drgero.providers.types import EndpointAuth
from drgero.store.keys import drgero_model_key
from drgero.store.table import Condition, MetadataTable, is_conditional_failure


def complete(
    table: MetadataTable, settings: Settings, clients: AwsClients, item: dict[str, Any], job: BackendJob
) -> dict[str, Any]:
    """The backend says ``succeeded``: add the tuned model as the model's current version."""
    if not job.fine_tuned_model:
        return finish(
            table,
            settings,
            clients,
            item,
            FAILED,
            backend_job=job,
            error="The backend reported success without a fine-tuned model id.",
        )
    for _attempt in range(5):
        model = table.get(*drgero_model_key(item["workspace_id"], item["model_id"]))
        if not model or model.get("status") == drgero_models.DELETING:
            return finish(
                table,
                settings,
                clients,
                item,
                SUCCEEDED,
                backend_job=job,
                error="The model was deleted before the tuned version could be added.",
                extra={"fine_tuned_model": job.fine_tuned_model},
            )
        versions = model.get("versions") or []
        if len(versions) >= settings.limits.max_model_versions:
            return finish(
                table,
                settings,
                clients,
                item,
                SUCCEEDED,
                backend_job=job,
                error=f"The model already keeps {settings.limits.max_model_versions} versions; "
                "delete some or raise limits.max_model_versions.",
                extra={"fine_tuned_model": job.fine_tuned_model},
            )
        number = max((int(v["version"]) for v in versions), default=0) + 1
        record = _version_record(settings, clients, item, number, job.fine_tuned_model)
        changes = {
            **ending_changes(settings, item, SUCCEEDED, job),
            "fine_tuned_model": job.fine_tuned_model,
            "model_version": number,
        }
        try:
            table.transact(
                [
                    {
                        "update": drgero_model_key(item["workspace_id"], item["model_id"]),
                        "expression": "SET #v = list_append(#v, :new), #cv = :cv, #st = :ready, #u = :u",
                        "names": {"#v": "versions", "#cv": "current_version", "#st": "status", "#u": "updated_at"},
                        "values": {
                            ":new": [record],
                            ":cv": number,
                            ":ready": drgero_models.READY,
                            ":u": changes["finished_at"],
                            ":n": len(versions),
                            ":deleting": drgero_models.DELETING,
                        },
                        # Nobody added a version meanwhile, and no delete has begun.
                        "condition": Condition("attribute_exists(pk) AND size(#v) = :n AND #st <> :deleting"),
                    },
                    end_job_operation(item, changes),
                    release_lock_operation(item),
                    *usage_operations(item, changes),
                ]
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            current = table.get(item["pk"], item["sk"]) or {}
            if current.get("status") in TERMINAL:
                return current  # another poller finished it
            continue  # the model changed under us: read it again
        ended = {**item, **changes}
        ended.pop("gsi1pk", None)
        ended.pop("gsi1sk", None)
        emit_trace(settings, clients, ended)
        return ended
    raise ApiError(409, "concurrent_change", "The model kept changing; the poller will retry.")


def _version_record(
    settings: Settings, clients: AwsClients, item: dict[str, Any], number: int, fine_tuned_model: str
) -> dict[str, Any]:
    """A model version calling the tuned model on the backend's chat endpoint, through the
    models module's own record builder (same secret encryption and shape)."""
    url = FineTuneBackend(settings.fine_tune).inference_url
    key = settings.fine_tune.api_key
    auth = EndpointAuth(kind="bearer", secret=key) if key else EndpointAuth()
    endpoint = drgero_models.EndpointIn(url=url, model=fine_tuned_model, auth=auth)
    record = drgero_models._version_record(  # noqa: SLF001 - the one builder of version records
        settings, clients, item["workspace_id"], item["model_id"], number, endpoint, clock.iso()
    )
    record["source"] = "fine_tune"
    record["fine_tune_job_id"] = item["id"]
    return record
