"""Leaderboards: a task prompt, a dataset (GET from Hugging Face or PUSH through the webhook),
an evaluation method, an optional schedule and the production-model selection.

Items (docs/data-model.md): the leaderboard is ``WS#{ws}`` / ``LB#{lb}``, so reading it always
goes through the caller's workspace (another workspace's id is simply not found -> 404). A PUSH
leaderboard also has its dataset record ``LB#{lb}`` / ``DATASET`` (counters and the current
version pointer, see :mod:`drgero.datasets.push` and :mod:`drgero.datasets.consolidate`).

Validation happens here, once, at creation and on every change: the API answers 400
``invalid_request`` with one ``details`` entry per bad field. The ``evaluation`` goes through the
parser runs use (:func:`drgero.evaluation.config.parse_evaluation`): 400 ``invalid_evaluation``
naming each bad field, so a typo is refused when written, not when a run pays. A judge without
``judge_model`` gets ``evaluation.default_judge_model``, stored (and shown) with the rest.

OpenRouter is required for leaderboard creation and for judge evaluation on OpenRouter (the
product docs): 409 ``integration_required`` when the workspace has no OpenRouter key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal

from botocore.exceptions import ClientError
from pydantic import ConfigDict, Field, field_validator, model_validator

from drgero.core import clock
from drgero.core.errors import ApiError
from drgero.core.ids import new_id
from drgero.core.settings import Settings
from drgero.core.validation import StrictModel, TextModel, parse
from drgero.evaluation.config import parse_evaluation
from drgero.evaluation.exact import RegexLimits
from drgero.identity.integrations import require_stored_integration
from drgero.inference.config import CaptureRule, InferencePolicy
from drgero.leaderboards.records import get_leaderboard  # noqa: F401 - callers import it from here too
from drgero.store.keys import (
    DATASET_TOKEN_PREFIX,
    LEADERBOARD_PREFIX,
    PUSH_DATASETS_INDEX_PK,
    dataset_key,
    leaderboard_key,
    leaderboard_pk,
    workspace_pk,
)
from drgero.store.table import Condition, MetadataTable
from drgero.traces.redaction import RedactionPolicy


# ------------------------------------------------------------------ configuration models
def _upper_mode(value: Any) -> Any:
    """Accepts "push"/"get" as well as the contract's "PUSH"/"GET"."""
    if isinstance(value, dict) and isinstance(value.get("mode"), str):
        return {**value, "mode": value["mode"].upper()}
    return value


class GetDataset(StrictModel):
    """GET mode: a .jsonl / .jsonl.gz file of a Hugging Face dataset repo."""

    mode: Literal["GET"]
    url: str = Field(min_length=1, max_length=2048)


class PushDataset(StrictModel):
    """PUSH mode: rows arrive through POST /v1/leaderboard/{id}/dataset/push."""

    mode: Literal["PUSH"]
    # auto_limit on: the consolidated dataset keeps the newest ``max_samples`` rows (default
    # limits.dataset_max_rows). Off: it keeps everything up to limits.dataset_max_rows.
    auto_limit: bool = True
    max_samples: int | None = Field(default=None, ge=1)
    daily_limit: int | None = Field(default=None, ge=1)
    monthly_limit: int | None = Field(default=None, ge=1)
    consolidate_every_events: int | None = Field(default=None, ge=1)
    consolidate_every_hours: float | None = Field(default=None, gt=0, le=24 * 366)
    # A consolidation that adds at least this many rows starts a dataset_improvement run
    # (docs/runs.md). None: off.
    improvement_run_min_new_rows: int | None = Field(default=None, ge=1)
    end_date: datetime | None = None

    @field_validator("end_date", mode="before")
    @classmethod
    def _end_date(cls, value: Any) -> Any:
        # A bare date means "through the end of that day, UTC".
        if isinstance(value, str) and len(value) == 10:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                return value
            return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
        return value

    @field_validator("end_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _monthly_not_below_daily(self) -> PushDataset:
        if self.daily_limit and self.monthly_limit and self.monthly_limit < self.daily_limit:
            raise ValueError("monthly_limit must be at least daily_limit")
        return self


PUSH_DEFAULTS = {name: field.default for name, field in PushDataset.model_fields.items()}

DatasetConfig = Annotated[GetDataset | PushDataset, Field(discriminator="mode")]


class ExactEvaluation(TextModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["exact"]


class JudgeEvaluation(TextModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["judge"]
    judge_model: str | None = Field(default=None, min_length=1, max_length=200)
    rubric: str | None = Field(default=None, max_length=20_000)


class HumanEvaluation(TextModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["human"]


EvaluationConfig = Annotated[ExactEvaluation | JudgeEvaluation | HumanEvaluation, Field(discriminator="type")]


class Selection(StrictModel):
    strategy: Literal["ranking_winner", "manual"] = "ranking_winner"
    model_id: str | None = Field(default=None, min_length=1, max_length=200)
    # A drgero candidate's model version to serve (manual only; default: the version the
    # latest run ranked, else the current one). drgero.runs.selection.
    model_version: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _manual_needs_model(self) -> Selection:
        if self.strategy == "manual" and not self.model_id:
            raise ValueError("a manual selection needs model_id")
        if self.strategy != "manual" and self.model_version is not None:
            raise ValueError("model_version goes with a manual selection")
        return self


class LeaderboardCreate(StrictModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Support answers",
                    "prompt": "Answer the customer's question.\n\n{input}",
                    "dataset": {"mode": "PUSH", "max_samples": 5000, "daily_limit": 1000, "monthly_limit": 20000},
                    "evaluation": {"type": "exact"},
                    "schedule": None,
                    "selection": {"strategy": "ranking_winner"},
                }
            ]
        },
    )
    name: str = Field(min_length=1, max_length=200)
    prompt: str = Field(min_length=1, max_length=100_000)
    dataset: DatasetConfig
    evaluation: EvaluationConfig = Field(default_factory=lambda: ExactEvaluation(type="exact"))
    schedule: dict[str, Any] | None = None
    selection: Selection = Field(default_factory=Selection)
    # Production inference failure policy and traffic capture (docs/inference.md).
    inference: InferencePolicy | None = None
    capture: CaptureRule | None = None
    # Keep no inputs and/or no outputs in this leaderboard's traces (docs/traces.md).
    trace_redaction: RedactionPolicy | None = None
    # A candidate without these is still ranked but never made production.
    required_capabilities: list[Capability] | None = Field(default=None, max_length=3)

    _dataset_mode = field_validator("dataset", mode="before")(_upper_mode)

    @model_validator(mode="after")
    def _capture_needs_push(self) -> LeaderboardCreate:
        if self.capture is not None and self.capture.enabled and self.dataset.mode != "PUSH":
            raise ValueError("capture needs a PUSH dataset (captured calls become pushed rows)")
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value


# What apps may need of the production model (docs/inference.md, "Production capabilities").
Capability = Literal["tools", "json_mode", "streaming"]


class LeaderboardPatch(StrictModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Support answers v2"}]})
    name: str | None = Field(default=None, min_length=1, max_length=200)
    prompt: str | None = Field(default=None, min_length=1, max_length=100_000)
    dataset: DatasetConfig | None = None
    evaluation: EvaluationConfig | None = None
    schedule: dict[str, Any] | None = None
    selection: Selection | None = None
    inference: InferencePolicy | None = None
    capture: CaptureRule | None = None
    trace_redaction: RedactionPolicy | None = None
    required_capabilities: list[Capability] | None = Field(default=None, max_length=3)

    _dataset_mode = field_validator("dataset", mode="before")(_upper_mode)


INVALID = "The leaderboard is not valid."


def checked_evaluation(settings: Settings, evaluation: dict[str, Any]) -> dict[str, Any]:
    """The evaluation as it will be stored: validated by the runs' own parser (400
    ``invalid_evaluation`` with field details), a judge without ``judge_model`` given the
    configured default judge (OpenRouter's, as the product docs say defaults are)."""
    raw = dict(evaluation)
    if (
        raw.get("type") == "judge"
        and not raw.get("judge_model")
        and raw.get("judge_platform", "openrouter") == "openrouter"
    ):
        raw["judge_model"] = settings.evaluation.default_judge_model
    raw = {k: v for k, v in raw.items() if v is not None}
    parse_evaluation(raw, RegexLimits.from_settings(settings.evaluation))
    return raw


def needs_openrouter_judge(evaluation: dict[str, Any]) -> bool:
    return evaluation.get("type") == "judge" and evaluation.get("judge_platform", "openrouter") == "openrouter"


# ------------------------------------------------------------------ storage
def _end_epoch(dataset: dict[str, Any]) -> int | None:
    end = dataset.get("end_date")
    if not end:
        return None
    return int(clock.parse_iso(str(end)).timestamp())


def dataset_to_item(config: GetDataset | PushDataset) -> dict[str, Any]:
    data = config.model_dump(mode="json")
    if isinstance(config, PushDataset) and config.end_date is not None:
        data["end_date"] = clock.iso(config.end_date)
    return data


def public_view(item: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The leaderboard as the API shows it (contract field names; no internal attributes)."""
    lb = item["id"]
    dataset = dict(item["dataset"])
    if dataset.get("mode") == "PUSH":
        # Stored without nulls; shown with every configuration field.
        dataset = {**PUSH_DEFAULTS, **dataset}
    return {
        "id": lb,
        "workspace_id": item["workspace_id"],
        "name": item["name"],
        "prompt": item["prompt"],
        "dataset": dataset,
        "evaluation": item["evaluation"],
        "schedule": item.get("schedule"),
        "selection": item.get("selection") or {"strategy": "ranking_winner"},
        "inference": InferencePolicy.of_leaderboard(item).model_dump(mode="json"),
        "capture": CaptureRule.of_leaderboard(item).model_dump(mode="json"),
        "trace_redaction": RedactionPolicy.of_leaderboard(item).model_dump(mode="json"),
        "required_capabilities": item.get("required_capabilities") or [],
        "models": item.get("models") or [],
        "traces_url": f"{base_url.rstrip('/')}/api/traces?leaderboard_id={lb}",
        "created_at": item["created_at"],
        "updated_at": item.get("updated_at", item["created_at"]),
    }


def count_leaderboards(table: MetadataTable, workspace_id: str) -> int:
    return sum(1 for _ in table.query_all(workspace_pk(workspace_id), LEADERBOARD_PREFIX, consistent=True))


def list_leaderboards(table: MetadataTable, workspace_id: str) -> list[dict[str, Any]]:
    return list(table.query_all(workspace_pk(workspace_id), LEADERBOARD_PREFIX, consistent=True))


def create_leaderboard(
    table: MetadataTable,
    settings: Settings,
    workspace_id: str,
    body: Any,
    resolve_get_dataset: Any = None,
    schedule_token_id: str = "",
) -> dict[str, Any]:
    """Validates and stores a new leaderboard; returns its item. ``schedule_token_id``: the API
    token setting the schedule, which pays for its runs (drgero.runs.charging).

    ``resolve_get_dataset(config, leaderboard_id) -> dict`` resolves a GET-mode dataset (pinned
    commit, snapshot, row count; :func:`drgero.datasets.hf.resolve_and_snapshot`) and raises a
    400 when the file cannot be used; it is injected so this module stays free of the hub."""
    config: LeaderboardCreate = body if isinstance(body, LeaderboardCreate) else parse(LeaderboardCreate, body, INVALID)
    evaluation = checked_evaluation(settings, config.evaluation.model_dump(mode="json"))
    require_stored_integration(table, workspace_id, "openrouter", "Creating a leaderboard")
    from drgero.workspaces import plans  # workspaces area: the plan's leaderboard limit (403 plan_limit)

    plans.check_can_create_leaderboard(table, settings, workspace_id, count_leaderboards(table, workspace_id))

    leaderboard_id = new_id("lb")
    now = clock.iso()
    dataset = dataset_to_item(config.dataset)
    if isinstance(config.dataset, GetDataset):
        if resolve_get_dataset is None:
            raise ApiError(500, "internal_error", "GET-mode datasets cannot be resolved here.")
        dataset["resolved"] = resolve_get_dataset(config.dataset, leaderboard_id)
    pk, sk = leaderboard_key(workspace_id, leaderboard_id)
    item = {
        "pk": pk,
        "sk": sk,
        "id": leaderboard_id,
        "workspace_id": workspace_id,
        "name": config.name,
        "prompt": config.prompt,
        "dataset": dataset,
        "dataset_mode": dataset["mode"],
        # Top-level copy of the end date as epoch seconds: the push transaction checks it.
        "push_end_epoch": _end_epoch(dataset) if dataset["mode"] == "PUSH" else None,
        "evaluation": evaluation,
        "schedule": config.schedule,
        "schedule_token_id": (schedule_token_id or None) if config.schedule else None,
        "selection": config.selection.model_dump(mode="json", exclude_none=True),
        "inference": config.inference.model_dump(mode="json") if config.inference else None,
        "capture": config.capture.model_dump(mode="json") if config.capture else None,
        "trace_redaction": config.trace_redaction.model_dump(mode="json") if config.trace_redaction else None,
        "required_capabilities": sorted(set(config.required_capabilities or [])),
        "models": [],
        "created_at": now,
        "updated_at": now,
    }
    operations: list[dict[str, Any]] = [
        # Takes one of the plan's leaderboard slots under a condition: exact under concurrency.
        plans.leaderboard_slot_op(table, settings, workspace_id),
        {"put": item, "condition": Condition("attribute_not_exists(pk)")},
    ]
    if dataset["mode"] == "PUSH":
        pk, sk = dataset_key(leaderboard_id)
        operations.append(
            {
                "put": {
                    "pk": pk,
                    "sk": sk,
                    "gsi1pk": PUSH_DATASETS_INDEX_PK,
                    "gsi1sk": leaderboard_id,
                    "leaderboard_id": leaderboard_id,
                    "workspace_id": workspace_id,
                    "accepted_rows": 0,
                    "consumed_rows": 0,
                    "version": 0,
                    "rows": 0,
                    "created_at": now,
                    "last_consolidated_at": now,
                },
                "condition": Condition("attribute_not_exists(pk)"),
            }
        )
    try:
        table.transact(operations)
    except ClientError as exc:
        reasons = (exc.response or {}).get("CancellationReasons") or []
        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            raise plans.slot_error(table, settings, workspace_id) from exc
        raise
    return item


def update_leaderboard(
    table: MetadataTable,
    workspace_id: str,
    leaderboard_id: str,
    body: Any,
    resolve_get_dataset: Any = None,
    settings: Settings | None = None,
    schedule_token_id: str = "",
) -> dict[str, Any]:
    """PATCH: changes the given fields; the dataset mode itself cannot change (409). With
    ``settings``, the evaluation is checked as at creation (default judge filled in)."""
    patch: LeaderboardPatch = body if isinstance(body, LeaderboardPatch) else parse(LeaderboardPatch, body, INVALID)
    current = get_leaderboard(table, workspace_id, leaderboard_id)
    changes: dict[str, Any] = {}
    fields = patch.model_fields_set
    if "name" in fields and patch.name is not None:
        name = patch.name.strip()
        if not name:
            raise ApiError(
                400, "invalid_request", "The leaderboard is not valid.", [{"field": "name", "error": "blank"}]
            )
        changes["name"] = name
    if "prompt" in fields and patch.prompt is not None:
        changes["prompt"] = patch.prompt
    if "evaluation" in fields and patch.evaluation is not None:
        changes["evaluation"] = _evaluation_change(table, settings, workspace_id, patch.evaluation)
    if "schedule" in fields:
        changes["schedule"] = patch.schedule
        # Whoever sets the schedule pays for its runs; a user session's are not charged.
        changes["schedule_token_id"] = (schedule_token_id or None) if patch.schedule else None
        changes["schedule_paused"] = None
    if "selection" in fields and patch.selection is not None:
        changes["selection"] = patch.selection.model_dump(mode="json", exclude_none=True)
    changes.update(_policy_changes(patch, fields))
    if "capture" in fields:
        changes["capture"] = _capture_change(patch.capture, current)
    if "dataset" in fields and patch.dataset is not None:
        changes.update(_dataset_changes(patch.dataset, current, leaderboard_id, resolve_get_dataset))
    if not changes:
        return current
    changes["updated_at"] = clock.iso()
    names = {f"#f{i}": name for i, name in enumerate(changes)}
    values = {f":v{i}": value for i, value in enumerate(changes.values())}
    sets = [f"#f{i} = :v{i}" for i, value in enumerate(changes.values()) if value is not None]
    removes = [f"#f{i}" for i, value in enumerate(changes.values()) if value is None]
    expression = ("SET " + ", ".join(sets)) + ((" REMOVE " + ", ".join(removes)) if removes else "")
    values = {k: v for k, v in values.items() if v is not None}
    pk, sk = leaderboard_key(workspace_id, leaderboard_id)
    return table.update(pk, sk, expression, names, values, condition=Condition("attribute_exists(pk)"))


def _policy_changes(patch: LeaderboardPatch, fields: set[str]) -> dict[str, Any]:
    """The inference policy, trace redaction and required capabilities a PATCH sets."""
    changes: dict[str, Any] = {}
    if "inference" in fields:
        changes["inference"] = patch.inference.model_dump(mode="json") if patch.inference else None
    if "trace_redaction" in fields:
        changes["trace_redaction"] = patch.trace_redaction.model_dump(mode="json") if patch.trace_redaction else None
    if "required_capabilities" in fields:
        changes["required_capabilities"] = sorted(set(patch.required_capabilities or []))
    return changes


def _evaluation_change(table: MetadataTable, settings: Settings | None, workspace_id: str, patched: Any) -> dict:
    evaluation = patched.model_dump(mode="json")
    if settings is None:
        parse_evaluation(evaluation)
        return evaluation
    evaluation = checked_evaluation(settings, evaluation)
    if needs_openrouter_judge(evaluation):
        require_stored_integration(table, workspace_id, "openrouter", "A judge evaluation on OpenRouter")
    return evaluation


def _capture_change(capture: Any, current: dict[str, Any]) -> dict[str, Any] | None:
    """The stored capture settings (None: removed); capture needs a PUSH dataset (400)."""
    if capture is not None and capture.enabled and current["dataset_mode"] != "PUSH":
        raise ApiError(
            400,
            "invalid_request",
            "The leaderboard is not valid.",
            [{"field": "capture", "error": "capture needs a PUSH dataset (captured calls become pushed rows)"}],
        )
    return capture.model_dump(mode="json") if capture else None


def _dataset_changes(
    patched: Any, current: dict[str, Any], leaderboard_id: str, resolve_get_dataset: Any
) -> dict[str, Any]:
    """The item changes of a PATCHed dataset: same mode only (409), PUSH options merged with the
    stored ones, a GET dataset's URL resolved again only when it changed."""
    changes: dict[str, Any] = {}
    if patched.mode != current["dataset_mode"]:
        raise ApiError(
            409,
            "dataset_mode_change",
            f"A {current['dataset_mode']} leaderboard cannot become {patched.mode}; create a new leaderboard instead.",
        )
    if isinstance(patched, PushDataset):
        # Only the PUSH options sent change; the others keep their values (re-validated
        # together, e.g. monthly_limit >= daily_limit).
        sent = patched.model_dump(include=patched.model_fields_set)
        stored = {k: v for k, v in current["dataset"].items() if k in PushDataset.model_fields}
        merged = parse(PushDataset, {**stored, **sent}, "The dataset is not valid.")
        dataset = dataset_to_item(merged)
    else:
        dataset = dataset_to_item(patched)
    if isinstance(patched, GetDataset):
        if patched.url == current["dataset"].get("url"):
            dataset["resolved"] = current["dataset"].get("resolved")
        else:
            dataset["resolved"] = resolve_get_dataset(patched, leaderboard_id)
    else:
        changes["push_end_epoch"] = _end_epoch(dataset)
    changes["dataset"] = dataset
    return changes


def delete_leaderboard(table: MetadataTable, settings: Settings, workspace_id: str, leaderboard_id: str) -> None:
    """Deletes the leaderboard and its leaderboard-scoped records (plan permitting)."""
    get_leaderboard(table, workspace_id, leaderboard_id)
    # Cold start: plans and credentials load only to delete a leaderboard (api function); the
    # consolidate, evaluate, judge, push_ingest and run_fanout functions read leaderboards only.
    from drgero.identity.credentials import revoke_all_dataset_tokens
    from drgero.workspaces import plans

    plans.check_can_delete_leaderboard(table, settings, workspace_id)

    pk, sk = leaderboard_key(workspace_id, leaderboard_id)
    table.transact(
        [
            {"delete": (pk, sk), "condition": Condition("attribute_exists(pk)")},
            plans.leaderboard_release_op(workspace_id),
        ]
    )
    # Its hpd_ tokens stop working, then the leaderboard-scoped records go (dataset pointer,
    # counters, batch records). S3 objects stay under the bucket's lifecycle rules.
    revoke_all_dataset_tokens(table, leaderboard_id)
    for record in list(table.query_all(leaderboard_pk(leaderboard_id))):
        if not record["sk"].startswith(DATASET_TOKEN_PREFIX):
            table.delete(record["pk"], record["sk"])


# ------------------------------------------------------------------ rules other areas call
def require_enough_rows(table: MetadataTable, settings: Settings, leaderboard: dict[str, Any]) -> None:
    """Models may be attached to a PUSH leaderboard only once it has enough consolidated rows:
    409 ``dataset_too_small`` saying how many there are (the providers' attach route calls this)."""
    if leaderboard.get("dataset_mode") != "PUSH":
        return
    record = table.get(*dataset_key(leaderboard["id"])) or {}
    rows = int(record.get("rows") or 0)
    pending = max(0, int(record.get("accepted_rows") or 0) - int(record.get("consumed_rows") or 0))
    needed = settings.limits.min_rows_before_models
    if rows < needed:
        lb = leaderboard["id"]
        waiting = (
            f" {pending} more accepted row(s) wait for consolidation: consolidate them now with "
            f"POST /v1/leaderboard/{lb}/dataset/consolidate (or wait for the automatic consolidation)."
            if pending
            else f" Push rows with POST /v1/leaderboard/{lb}/dataset/push, then consolidate them with "
            f"POST /v1/leaderboard/{lb}/dataset/consolidate."
        )
        raise ApiError(
            409,
            "dataset_too_small",
            f"This PUSH leaderboard has {rows} consolidated row(s); models can be attached from {needed} "
            f"consolidated rows on.{waiting}",
            {"consolidated_rows": rows, "pending_rows": pending, "required_rows": needed},
        )
