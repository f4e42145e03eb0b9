"""Ending a job (failed, cancelled, or succeeded without a new version): one transaction that
ends the job, frees the model's lock and adds the job's cost to the month's usage, conditional
on the job still being active, so only one caller ends it and traces it. The transaction's
pieces are shared with completion.py (success with a new model version).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.settings import Settings
from drgero.own_models.finetune.backend import BackendJob
from drgero.own_models.finetune.records import CANCELLED, FAILED, SUCCEEDED
from drgero.own_models.finetune.tracing import emit_trace
from drgero.store.keys import fine_tune_lock_key, usage_month_sk, workspace_pk
from drgero.store.table import Condition, MetadataTable, is_conditional_failure


def finish(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    item: dict[str, Any],
    status: str,
    *,
    error: str | None = None,
    backend_job: BackendJob | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Ends a job (failed / cancelled, or succeeded when the model cannot take the version):
    conditional on it still being active, so only one caller ends it and traces it."""
    changes = {**ending_changes(settings, item, status, backend_job), **(extra or {})}
    if error:
        changes["error"] = {"message": error[:2000]}
    operations = [end_job_operation(item, changes), release_lock_operation(item), *usage_operations(item, changes)]
    try:
        table.transact(operations)
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        return table.get(item["pk"], item["sk"]) or item
    ended = {**item, **changes}
    ended.pop("gsi1pk", None)
    ended.pop("gsi1sk", None)
    emit_trace(settings, clients, ended)
    return ended


def ending_changes(settings: Settings, item: dict[str, Any], status: str, job: BackendJob | None) -> dict[str, Any]:
    now = clock.now()
    changes: dict[str, Any] = {"status": status, "finished_at": clock.iso(now), "updated_at": clock.iso(now)}
    started = item.get("started_at") or item["created_at"]
    changes["execution_seconds"] = round(max(0.0, (now - clock.parse_iso(started)).total_seconds()), 3)
    if job is not None:
        changes["backend_status"] = job.status
        if job.trained_tokens is not None:
            changes["trained_tokens"] = job.trained_tokens
        cost = job_cost(settings, job)
        if cost is not None:
            changes["cost_usd"] = cost
    return changes


def job_cost(settings: Settings, job: BackendJob) -> float | None:
    """The backend's own cost when it reports one, else trained tokens x the configured price."""
    if job.cost_usd is not None:
        return round(job.cost_usd, 10)
    if job.trained_tokens is not None:
        return round(job.trained_tokens * settings.fine_tune.price_per_m_trained_tokens_usd / 1_000_000, 10)
    return None


def end_job_operation(item: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    names = {"#st": "status", "#g1": "gsi1pk", "#g2": "gsi1sk"}
    values: dict[str, Any] = {":a": SUCCEEDED, ":b": FAILED, ":c": CANCELLED}
    sets = []
    for i, (field, value) in enumerate(changes.items()):
        names[f"#f{i}"] = field
        values[f":v{i}"] = value
        sets.append(f"#f{i} = :v{i}")
    return {
        "update": (item["pk"], item["sk"]),
        "expression": "SET " + ", ".join(sets) + " REMOVE #g1, #g2",
        "names": names,
        "values": values,
        "condition": Condition("attribute_exists(pk) AND NOT #st IN (:a, :b, :c)"),
    }


def release_lock_operation(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "delete": fine_tune_lock_key(item["workspace_id"], item["model_id"]),
        "condition": Condition("job_id = :job", values={":job": item["id"]}),
    }


def usage_operations(item: dict[str, Any], changes: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's cost ADDed to the workspace's month usage (``GET /api/workspaces/{ws}/usage``),
    in the transaction that ends the job: counted exactly once."""
    cost = changes.get("cost_usd")
    if not cost:
        return []
    month = changes["finished_at"][:7]
    return [
        {
            "update": (workspace_pk(item["workspace_id"]), usage_month_sk(month)),
            "expression": "ADD spent_micro_usd :d, calls :c",
            "values": {":d": round(float(cost) * 1_000_000), ":c": 1},
        }
    ]
