"""Reading a leaderboard's item: one GetItem through the caller's workspace.

Its own small module so hot paths that only read a leaderboard (push_ingest on every push)
do not import ``drgero.leaderboards.leaderboard`` with its request models, evaluation and
inference configuration (and the ``regex`` package) at cold start.
"""

from __future__ import annotations

from typing import Any

from drgero.core.errors import not_found
from drgero.store.keys import leaderboard_key
from drgero.store.table import MetadataTable


def get_leaderboard(table: MetadataTable, workspace_id: str, leaderboard_id: str) -> dict[str, Any]:
    """The leaderboard item, read through the caller's workspace; 404 otherwise."""
    if not leaderboard_id or len(leaderboard_id) > 100:
        raise not_found("Leaderboard")
    item = table.get(*leaderboard_key(workspace_id, leaderboard_id))
    if not item:
        raise not_found("Leaderboard")
    return item
