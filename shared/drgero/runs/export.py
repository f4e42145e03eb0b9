"""The whole per-row results table of a run, as JSONL (one dataset row per line, the entries of
GET /api/runs/{id}/results) or CSV (one line per row x model), written to S3 by the export
worker (:mod:`drgero.runs.export_jobs`: the request path never builds it) and handed out as a
short-lived presigned URL.

At any size without holding it in memory: shards are read in order a few at a time
(:func:`drgero.runs.results.iter_shards`), each is serialized and appended to an S3 multipart
upload that sends a part every ``runs.export_part_mib`` MiB; memory is bounded by a few shards
plus one part, whatever the run's size (``python -m bench results_export`` measures it). A
failed export aborts its upload, and S3 shows a multipart object only once it is complete: no
half file is ever served, and a retry simply writes the whole object again.

CSV cells of text columns that a spreadsheet would
read as a formula (starting with ``= + - @``, tab or carriage return) get a leading ``'``: the
outputs are untrusted text.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from drgero.core.aws import AwsClients
from drgero.core.settings import Settings
from drgero.runs.results import entries_of, iter_shards, run_view

FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
CSV_COLUMNS = (
    "row", "row_id", "input", "prompt", "expected", "rubric", "model_id", "name", "platform", "outcome",
    "score", "passed", "output", "error", "error_message", "latency_ms", "cost_usd", "judge_score",
    "judge_reason", "judge_cost_usd",
)  # fmt: skip
_TEXT = frozenset(
    {"row_id", "input", "prompt", "expected", "rubric", "name", "output", "error_message", "judge_reason"}
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class MultipartWriter:
    """Appends bytes to one S3 object: a part is uploaded each time ``part_size`` bytes are
    buffered; a small object (under one part) is a single PUT."""

    def __init__(self, s3: Any, bucket: str, key: str, part_size: int, content_type: str, disposition: str) -> None:
        self.s3, self.bucket, self.key, self.part_size = s3, bucket, key, part_size
        self.extra = {"ContentType": content_type, "ContentDisposition": disposition}
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.bytes_written = 0

    def write(self, data: bytes) -> None:
        self.buffer += data
        self.bytes_written += len(data)
        if len(self.buffer) >= self.part_size:
            self._flush()

    def _flush(self) -> None:
        if self.upload_id is None:
            self.upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key, **self.extra)["UploadId"]
        number = len(self.parts) + 1
        # The bytearray itself (no bytes() copy): peak memory stays about one part.
        answer = self.s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=self.buffer
        )
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        self.buffer = bytearray()

    def close(self) -> None:
        if self.upload_id is None:
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer), **self.extra)
            return
        if self.buffer:
            self._flush()
        self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )

    def abort(self) -> None:
        if self.upload_id is not None:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


def _cell(column: str, value: Any) -> Any:
    if value is None:
        return ""
    if column in _TEXT and isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(entries: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for entry in entries:
        for result in entry["results"]:
            judge = result.get("judge") or {}
            values = {
                **{k: entry[k] for k in ("row", "row_id", "input", "prompt", "expected", "rubric")},
                **{k: result.get(k) for k in CSV_COLUMNS if k in result},
                "judge_score": judge.get("score"),
                "judge_reason": judge.get("reason"),
                "judge_cost_usd": judge.get("cost_usd"),
            }
            writer.writerow([_cell(c, values.get(c)) for c in CSV_COLUMNS])
    return buffer.getvalue().encode("utf-8")


def jsonl_lines(entries: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in entries).encode("utf-8")


def write_export(settings: Settings, clients: AwsClients, run: dict[str, Any], fmt: str, key: str) -> tuple[int, int]:
    """Streams the run's results into ``key``; returns (rows, bytes) written."""
    view = run_view(settings, clients, run)
    writer = MultipartWriter(
        clients.s3,
        settings.aws.bucket_name,
        key,
        settings.runs.export_part_mib * 1024 * 1024,
        FORMATS[fmt],
        f'attachment; filename="{run["id"]}-results.{fmt}"',
    )
    rows = 0
    try:
        if fmt == "csv":
            header = io.StringIO()
            csv.writer(header).writerow(CSV_COLUMNS)
            writer.write(header.getvalue().encode())
        for shard in iter_shards(settings, clients, view):
            entries = entries_of(view, shard)
            rows += len(entries)
            writer.write(csv_lines(entries) if fmt == "csv" else jsonl_lines(entries))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return rows, writer.bytes_written
