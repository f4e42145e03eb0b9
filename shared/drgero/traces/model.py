"""The trace record: one JSON document per run, inference call, dataset event or manual event.

A Trace is what producers build and emit, what travels on the traces queue (its JSON is the
SQS message body) and what is stored in S3. Identifiers are validated strictly because they
become parts of S3 keys and DynamoDB keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from drgero.core import clock
from drgero.core.ids import new_id

TRACE_ID_PATTERN = r"^tr_[0-9a-z]{26}$"
# Workspace, leaderboard, run and parent ids: the id alphabet only, nothing that could
# change the meaning of a key (no '#', '/', spaces).
REF_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
SCHEMA_VERSION = 1


class TraceKind(StrEnum):
    RUN = "run"
    INFERENCE = "inference"
    DATASET = "dataset"
    MANUAL = "manual"
    FINE_TUNE = "fine_tune"


class TraceStatus(StrEnum):
    OK = "ok"
    ERROR = "error"


class ModelInfo(BaseModel):
    """Which model produced the output (the contract's ``model`` object of inference)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, max_length=200)
    platform: str | None = Field(default=None, max_length=50)
    name: str | None = Field(default=None, max_length=300)


class Usage(BaseModel):
    model_config = ConfigDict(extra="allow")

    prompt_tokens: int | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=0)
    total_tokens: int | None = Field(default=None, ge=0)


MAX_DEPTH = 32


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Refuses JSON nested deeper than ``max_depth`` (iteratively: deep input cannot blow the
    stack here, and would otherwise break serialization and scrubbing later)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list | tuple):
            if depth > max_depth:
                raise ValueError(f"nested deeper than {max_depth} levels")
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


def new_trace_id() -> str:
    return new_id("tr")


class Trace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    id: str = Field(default_factory=new_trace_id, pattern=TRACE_ID_PATTERN)
    workspace_id: str = Field(pattern=REF_ID_PATTERN)
    leaderboard_id: str | None = Field(default=None, pattern=REF_ID_PATTERN)
    kind: TraceKind
    name: str = Field(min_length=1, max_length=200)
    created_at: datetime = Field(default_factory=clock.now)
    duration_ms: float | None = Field(default=None, ge=0)
    status: TraceStatus = TraceStatus.OK
    error: str | None = Field(default=None, max_length=2000)
    # What went in and what came out. Optional, and removed by redaction (see redaction.py).
    input: Any = None
    output: Any = None
    model: ModelInfo | None = None
    usage: Usage | None = None
    cost_usd: float | None = Field(default=None, ge=0)
    metadata: dict[str, Any] = Field(default_factory=dict)
    parent_id: str | None = Field(default=None, pattern=REF_ID_PATTERN)
    run_id: str | None = Field(default=None, pattern=REF_ID_PATTERN)
    # Names of fields removed by redaction or shortened to fit a queue message.
    redacted: list[str] = Field(default_factory=list)
    truncated: list[str] = Field(default_factory=list)

    @field_validator("input", "output", "metadata")
    @classmethod
    def _not_too_deep(cls, value: Any) -> Any:
        check_depth(value)
        return value

    @field_validator("created_at")
    @classmethod
    def _as_utc(cls, value: datetime) -> datetime:
        # Naive times are taken as UTC; everything is stored in UTC so keys sort by time.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)

    def summary(self) -> dict[str, Any]:
        """The listing view: everything but the (possibly large) input, output and metadata."""
        data = self.model_dump(
            mode="json", exclude_none=True, exclude={"input", "output", "metadata", "schema_version"}
        )
        if not data.get("redacted"):
            data.pop("redacted", None)
        if not data.get("truncated"):
            data.pop("truncated", None)
        return data
