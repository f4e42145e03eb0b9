"""Keys of the dataset records and objects (docs/data-model.md, docs/datasets.md)."""

from __future__ import annotations

LEASE_SK = "LEASE#consolidate"


def batch_sk(batch_id: str) -> str:
    return f"BATCH#{batch_id}"


def pending_index_pk(leaderboard_id: str) -> str:
    """gsi1pk of a batch record while it is pending (a sparse index: consumed batches leave it)."""
    return f"LB#{leaderboard_id}#PENDING"


def pending_index_sk(received_ms: int, batch_id: str) -> str:
    """gsi1sk of a pending batch: arrival order, which is the order "newest wins" follows."""
    return f"{received_ms:013d}#{batch_id}"


def pending_object_key(leaderboard_id: str, batch_id: str) -> str:
    return f"pending/{leaderboard_id}/{batch_id}.jsonl"


def version_object_key(leaderboard_id: str, version: int) -> str:
    return f"datasets/{leaderboard_id}/v{version}.jsonl.gz"


def manifest_object_key(leaderboard_id: str, version: int) -> str:
    return f"datasets/{leaderboard_id}/v{version}.manifest.json"


def version_sk(version: int) -> str:
    return f"DSVER#{version:010d}"
