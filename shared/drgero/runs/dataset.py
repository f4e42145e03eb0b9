"""The dataset version a run pins, and reading its rows.

PUSH leaderboards: the dataset record (``LB#{lb}`` / ``DATASET``) points at the current
consolidated version (S3 key + object version). GET leaderboards: ``dataset.resolved`` points
at the normalized snapshot of the Hugging Face file (pinned commit, S3 object version).
Either way the run records the exact object version, so later consolidations never change
what a run scores.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from drgero.core.errors import ApiError
from drgero.store.keys import dataset_key
from drgero.store.table import MetadataTable


def pinned_dataset(table: MetadataTable, leaderboard: dict[str, Any]) -> dict[str, Any]:
    """``{"mode", "version", "rows", "s3_key", "s3_version_id", ...}`` or 409 ``dataset_empty``."""
    config = leaderboard.get("dataset") or {}
    if leaderboard.get("dataset_mode") == "PUSH" or config.get("mode") == "PUSH":
        record = table.get(*dataset_key(leaderboard["id"])) or {}
        if not record.get("version") or not record.get("rows"):
            raise ApiError(
                409,
                "dataset_empty",
                "This leaderboard has no consolidated dataset rows yet; push rows and consolidate first.",
            )
        return {
            "mode": "PUSH",
            "version": int(record["version"]),
            "rows": int(record["rows"]),
            "s3_key": record["s3_key"],
            "s3_version_id": record.get("s3_version_id") or "",
        }
    resolved = config.get("resolved") or {}
    if not resolved.get("snapshot_key") or not resolved.get("rows"):
        raise ApiError(409, "dataset_empty", "This leaderboard's dataset has no usable rows.")
    return {
        "mode": "GET",
        "version": resolved.get("commit"),
        "rows": int(resolved["rows"]),
        "s3_key": resolved["snapshot_key"],
        "s3_version_id": resolved.get("snapshot_version_id") or "",
        "url": config.get("url"),
    }


def read_lines(s3: Any, bucket: str, dataset: dict[str, Any]) -> list[bytes]:
    """Every row line of the pinned version (gzip JSONL), in order."""
    request: dict[str, Any] = {"Bucket": bucket, "Key": dataset["s3_key"]}
    if dataset.get("s3_version_id"):
        request["VersionId"] = dataset["s3_version_id"]
    body = s3.get_object(**request)["Body"]
    lines: list[bytes] = []
    with gzip.GzipFile(fileobj=body) as stream:
        for line in stream:
            line = line.strip()
            if line:
                lines.append(line)
    return lines


def put_jsonl(s3: Any, bucket: str, key: str, records: list[dict[str, Any]]) -> None:
    body = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"), ContentType="application/x-ndjson")


def get_jsonl(s3: Any, bucket: str, key: str) -> list[dict[str, Any]] | None:
    """The records of a JSONL object, or None when it does not exist."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return [json.loads(line) for line in body.splitlines() if line.strip()]
