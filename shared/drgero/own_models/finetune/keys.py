"""DynamoDB keys of fine-tune jobs, and the ids derived from a job id (docs/data-model.md).

- job ``WS#{ws}`` / ``FTJOB#{model_id}#{job_id}``; while active it is also in the sparse
  index ``gsi1pk = FTJOB#ACTIVE`` (the poller's work list), removed when it ends;
- lock ``WS#{ws}`` / ``FTACTIVE#{model_id}``: at most one active job per model, taken in the
  same transaction that creates the job and released in the one that ends it;
- Idempotency-Key record ``WS#{ws}`` / ``FTIDEM#{sha256(model_id, key)}``.
"""

from __future__ import annotations

import hashlib

ACTIVE_INDEX_PK = "FTJOB#ACTIVE"
JOB_ID_PATTERN = r"^ftj_[0-9a-z]{26}$"


def job_key(workspace_id: str, model_id: str, job_id: str) -> tuple[str, str]:
    return f"WS#{workspace_id}", f"FTJOB#{model_id}#{job_id}"


def lock_key(workspace_id: str, model_id: str) -> tuple[str, str]:
    return f"WS#{workspace_id}", f"FTACTIVE#{model_id}"


def idempotency_key_item(workspace_id: str, model_id: str, key: str) -> tuple[str, str]:
    digest = hashlib.sha256(f"{model_id}\n{key}".encode()).hexdigest()
    return f"WS#{workspace_id}", f"FTIDEM#{digest}"


def trace_id_of(job_id: str) -> str:
    return "tr_" + job_id.split("_", 1)[1]
