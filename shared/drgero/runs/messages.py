"""Queue message schemas of the run pipeline (bodies are JSON; see events/*.json).

- runs queue (``RunMessage``): from the API (with ``run_id``), or from a leaderboard's
  EventBridge schedule (without: the fan-out starts a ``schedule`` run itself).
- evaluate queue (``EvaluateMessage``): one (model x shard) work item.
- judge queue (``JudgeMessage``): judge the outputs of one (model x shard).
- export queue (``ExportMessage``): write the results export of one run version
  (drgero.runs.export_jobs).

Delivery is at least once; every consumer is idempotent (docs/runs.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Id = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")


class RunMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    leaderboard_id: str = Id
    workspace_id: str = Id
    run_id: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")
    source: Literal["manual", "schedule", "dataset_improvement"] = "manual"


class EvaluateMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_id: str = Id
    workspace_id: str = Id
    leaderboard_id: str = Id
    model_id: str = Id
    shard_id: str = Id
    shard_index: int = Field(ge=0)
    shard_count: int = Field(ge=1)
    row_start: int = Field(ge=0)
    row_end: int = Field(ge=0)


class JudgeMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_id: str = Id
    workspace_id: str = Id
    leaderboard_id: str = Id
    model_id: str = Id
    shard_id: str = Id
    shard_index: int = Field(ge=0)


class ExportMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_id: str = Id
    workspace_id: str = Id
    format: Literal["jsonl", "csv"]
    version: str = Field(pattern=r"^[0-9a-f]{16}$")
