"""Leaderboards and their candidate models, made through the domain (the API routes have
their own tests; going through them here would cold-start the api function in every test)."""

from __future__ import annotations

import gzip
import json
from typing import Any

from drgero.leaderboards.attach import attach_model
from drgero.leaderboards.leaderboard import create_leaderboard
from drgero.runs.tracing import run_async

from .aws import table_of
from .settings import relaxed_settings

PUSH_DATASET = {"mode": "PUSH", "max_samples": 1000, "daily_limit": 100_000, "monthly_limit": 1_000_000}


def create_push_leaderboard(aws: Any, workspace_id: str, **dataset: Any) -> str:
    """A PUSH leaderboard with exact-match evaluation; ``dataset`` overrides PUSH_DATASET."""
    body = {
        "name": "support answers",
        "prompt": "Answer the customer.\n\n{input}",
        "dataset": {**PUSH_DATASET, **dataset},
        "evaluation": {"type": "exact"},
    }
    return create_leaderboard(table_of(aws), aws.settings, workspace_id, body)["id"]


def attach_candidate(aws: Any, workspace_id: str, leaderboard_id: str, body: dict[str, Any]) -> str:
    """Attaches the candidate ``body`` without probing it (the provider tests probe) and even
    to a leaderboard with no rows yet; answers its model id. A sandbox toy gets its catalog
    entry (price, supported_parameters) as validation would have found it."""
    from drgero.providers.catalog import parse_model
    from drgero.providers.validation import Validated
    from localcloud.sandbox.shapes import catalog_entry
    from localcloud.sandbox.toys import TOYS

    async def accept(_target: Any) -> Any:
        toy = TOYS.get(str(body.get("model"))) if body.get("platform") == "openrouter" else None
        return Validated(catalog_model=parse_model(catalog_entry(toy))) if toy else None

    view = run_async(
        attach_model(
            table_of(aws),
            relaxed_settings(aws.settings),
            aws.clients,
            workspace_id,
            leaderboard_id,
            body,
            validate=accept,
        )
    )
    return view["id"]


def consolidated_rows(aws: Any, leaderboard_id: str) -> list[dict]:
    """The rows of the current dataset version, read from S3 by the pointer's object version."""
    record = table_of(aws).get(f"LB#{leaderboard_id}", "DATASET") or {}
    if not record.get("s3_key"):
        return []
    body = aws.clients.s3.get_object(
        Bucket=aws.settings.aws.bucket_name, Key=record["s3_key"], VersionId=record["s3_version_id"]
    )["Body"].read()
    return [json.loads(line) for line in gzip.decompress(body).splitlines() if line]
