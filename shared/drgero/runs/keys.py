"""Keys of run items (docs/data-model.md) and run objects in S3."""

from __future__ import annotations

META = "META"


def run_key(run_id: str) -> tuple[str, str]:
    return f"RUN#{run_id}", META


def shard_key(run_id: str, shard_id: str) -> tuple[str, str]:
    return f"RUN#{run_id}", f"SHARD#{shard_id}"


def grade_key(run_id: str, row_index: int, model_id: str) -> tuple[str, str]:
    return f"RUN#{run_id}", f"GRADE#{row_index:09d}#{model_id}"


def history_index_pk(leaderboard_id: str) -> str:
    """gsi1pk of every run of a leaderboard (gsi1sk: ``{started_at}#{run_id}``)."""
    return f"LB#{leaderboard_id}#RUNS"


def snapshot_object(run_id: str) -> str:
    return f"runs/{run_id}/snapshot.json"


def rows_object(run_id: str, shard_index: int) -> str:
    """The rows of one shard range (shared by every model), copied from the pinned dataset."""
    return f"runs/{run_id}/rows/{shard_index:06d}.jsonl"


def outputs_object(run_id: str, model_id: str, shard_index: int) -> str:
    return f"runs/{run_id}/outputs/{model_id}/{shard_index:06d}.jsonl"


def judgements_object(run_id: str, model_id: str, shard_index: int) -> str:
    return f"runs/{run_id}/judgements/{model_id}/{shard_index:06d}.jsonl"


def ranking_object(run_id: str) -> str:
    return f"runs/{run_id}/ranking.json"
