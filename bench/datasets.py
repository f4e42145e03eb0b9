"""Datasets: row normalization, AWS requests per push, consolidation of 1M pending rows.

- ``normalize``: rows/s of row normalization + validation (drgero.datasets.rows, one core) for
  1-row and 1000-row push requests, median/min/max of ``BENCH_DATASETS_RUNS`` (default 5) after
  a warm-up; ``normalize_pydantic`` is the same rules as a pydantic model, for comparison.
- ``push``: AWS requests one push request makes (DynamoDB + S3 calls, counted with botocore
  hooks against the embedded AWS), for 1 and 1000 rows, with and without an Idempotency-Key:
  constant, whatever the row count.
- ``consolidate``: consolidation of ``BENCH_DATASETS_ROWS`` (default 1,000,000) pending rows of
  ~300 bytes with 10% duplicate ids, in batches of 5,000, against moto in-process: wall time,
  rows/s, and peak Python memory (tracemalloc, a separate run; it includes moto's own copy of
  the uploaded object, so the function's real peak is lower).
"""

from __future__ import annotations

import os
import statistics
import time
import tracemalloc
from typing import Any

RUNS = int(os.environ.get("BENCH_DATASETS_RUNS", "5"))
CONSOLIDATE_ROWS = int(os.environ.get("BENCH_DATASETS_ROWS", "1000000"))
BATCH_ROWS = 5000

COLUMNS = ("case", "detail", "rows", "median_ms", "min_ms", "max_ms", "rows_per_s", "peak_mb", "aws_requests")


def _row(**values: Any) -> dict[str, Any]:
    return {column: values.get(column) for column in COLUMNS}


def _sample_rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"row-{i}",
            "input": f"Customer question number {i}: where is my order? " * 2,
            "output": "It ships tomorrow; here is the tracking link.",
            "metadata": {"source": "bench"},
            "user_id": f"u{i % 100}",
            "latency_ms": 120 + i % 50,
        }
        for i in range(count)
    ]


def _pydantic_normalizer():
    from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

    class Row(BaseModel):
        model_config = ConfigDict(extra="allow")
        input: str = Field(validation_alias=AliasChoices("input", "prompt", "question", "query"))
        output: str | None = Field(
            default=None, validation_alias=AliasChoices("output", "response", "completion", "answer", "expected")
        )
        rubric: str | None = None
        id: str | None = Field(default=None, validation_alias=AliasChoices("id", "example_id", "trace_id"))
        metadata: dict[str, Any] = Field(default_factory=dict)

        @field_validator("input", "output", "rubric")
        @classmethod
        def _no_controls(cls, value: str | None) -> str | None:
            from drgero.core.validation import control_character

            if value is not None and control_character(value):
                raise ValueError("control character")
            return value

    def normalize(rows: list[dict[str, Any]]) -> list[bytes]:
        import json

        from drgero.datasets.rows import content_id

        out = []
        for raw in rows:
            row = Row.model_validate(raw)
            data = row.model_dump()
            metadata = {**data.pop("metadata"), **(row.model_extra or {})}
            data["id"] = data["id"] or content_id(row.input, row.output, row.rubric)
            data["metadata"] = metadata
            out.append(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
        return out

    return normalize


def _time(fn, *args) -> list[float]:
    fn(*args)  # warm-up
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn(*args)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def bench_normalize() -> list[dict[str, Any]]:
    from drgero.datasets.rows import normalize_rows

    results = []
    pydantic_normalize = _pydantic_normalizer()
    for size in (1, 1000):
        rows = _sample_rows(size)
        repeat = 1000 if size == 1 else 10  # enough work per sample to time
        for case, fn in (
            ("normalize", lambda r=rows, n=repeat: [normalize_rows(r, 65536) for _ in range(n)]),
            ("normalize_pydantic", lambda r=rows, n=repeat: [pydantic_normalize(r) for _ in range(n)]),
        ):
            samples = [s / repeat for s in _time(fn)]
            median = statistics.median(samples)
            results.append(
                _row(
                    case=case,
                    rows=size,
                    median_ms=median,
                    min_ms=min(samples),
                    max_ms=max(samples),
                    rows_per_s=size / (median / 1000),
                )
            )
    return results


def _aws():
    """moto in-process with the template's resources; returns (settings, clients, stop)."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="true",
    )  # fmt: skip
    import boto3
    from moto import mock_aws

    from drgero.core.aws import AwsClients
    from drgero.core.settings import Settings
    from localcloud.functions import FunctionRuntime
    from localcloud.resources import create_resources
    from localcloud.template import Template

    mock = mock_aws()
    mock.start()
    template = Template.load()
    created = create_resources(boto3.session.Session(), template, None, "us-east-1")
    env = FunctionRuntime(template, created).environment("PushIngestFunction")
    nested: dict[str, Any] = {}
    for key, value in env.items():
        if key.startswith("DRGERO_") and "__" in key:
            group, name = key.removeprefix("DRGERO_").lower().split("__", 1)
            nested.setdefault(group, {})[name] = value
    settings = Settings(**nested)
    # A session of its own, made under the mock: the process-wide one (drgero.core.aws) may
    # predate moto's import when `make bench` ran other modules first, and would reach AWS.
    return settings, AwsClients(settings, session=boto3.session.Session()), mock.stop


def _push_leaderboard(settings, clients) -> tuple[str, str]:
    from drgero.identity.integrations import put_integration
    from drgero.leaderboards.leaderboard import create_leaderboard
    from drgero.workspaces.membership import create_workspace

    table = clients.table
    ws = create_workspace(table, settings, "", "bench", plan="pro")["id"]
    # A leaderboard needs the workspace's OpenRouter integration (never called here).
    put_integration(settings, clients, ws, "openrouter", "sk-or-bench-datasets-0123456789")
    body = {"name": "bench", "prompt": "{input}", "dataset": {"mode": "PUSH", "max_samples": 10_000_000}}
    return ws, create_leaderboard(table, settings, ws, body)["id"]


def bench_push() -> list[dict[str, Any]]:
    import json

    from drgero.datasets.push import Pusher
    from drgero.identity.principal import ALL_SCOPES, Principal, PrincipalKind

    settings, clients, stop = _aws()
    try:
        ws, lb = _push_leaderboard(settings, clients)
        pusher = Pusher(settings, clients)
        principal = Principal(PrincipalKind.API_TOKEN, ws, frozenset(ALL_SCOPES), token_id="tok_bench")
        results = []
        for key in (None, "idem"):
            for size in (1, 1000):
                counts: dict[str, int] = {}

                def count(event_name: str, counts: dict[str, int] = counts, **_: Any) -> None:
                    counts[event_name] = counts.get(event_name, 0) + 1

                for client in (clients.dynamodb, clients.s3, clients.sqs):
                    client.meta.events.register("before-call", count)
                body = json.dumps(_sample_rows(size)).encode()
                started = time.perf_counter()
                pusher.push(principal, lb, body, idempotency_key=f"{key}-{size}" if key else None)
                elapsed = (time.perf_counter() - started) * 1000
                for client in (clients.dynamodb, clients.s3, clients.sqs):
                    client.meta.events.unregister("before-call", count)
                detail = ", ".join(f"{k.split('.', 1)[1]}={v}" for k, v in sorted(counts.items()))
                results.append(
                    _row(
                        case=f"push{' +Idempotency-Key' if key else ''}",
                        detail=detail,
                        rows=size,
                        median_ms=elapsed,
                        aws_requests=sum(counts.values()),
                    )
                )
        return results
    finally:
        stop()


def _seed_pending(settings, clients, ws: str, lb: str, total: int) -> None:
    """``total`` pending rows (~300 bytes, 10% duplicate ids) as committed batches."""
    import json

    from drgero.core.ids import new_id
    from drgero.store.keys import batch_key, dataset_key, pending_index_pk, pending_index_sk, pending_object_key

    table = clients.table
    filler = "x" * 170
    unique = int(total * 0.9)
    for start in range(0, total, BATCH_ROWS):
        batch_id = new_id("b")
        lines = []
        for i in range(start, min(total, start + BATCH_ROWS)):
            row_id = f"row-{i % unique}"  # the last 10% repeat earlier ids
            lines.append(
                json.dumps(
                    {"id": row_id, "input": f"question {i} {filler}", "output": f"answer {i}", "rubric": None,
                     "metadata": {"n": i}},
                    separators=(",", ":"),
                ).encode()
            )  # fmt: skip
        key = pending_object_key(lb, batch_id)
        clients.s3.put_object(Bucket=settings.aws.bucket_name, Key=key, Body=b"\n".join(lines) + b"\n")
        table.put(
            {
                "pk": batch_key(lb, batch_id)[0], "sk": batch_key(lb, batch_id)[1], "gsi1pk": pending_index_pk(lb),
                "gsi1sk": pending_index_sk(start, batch_id), "batch_id": batch_id, "state": "pending",
                "rows": len(lines), "s3_key": key, "received_at": "", "received_ms": start,
            }
        )  # fmt: skip
    table.update(*dataset_key(lb), "SET accepted_rows = :n", values={":n": total})


def bench_consolidate() -> list[dict[str, Any]]:
    from drgero.datasets.consolidate import Consolidator

    results = []
    for measure_memory in (False, True):
        settings, clients, stop = _aws()
        try:
            settings.limits.dataset_max_rows = CONSOLIDATE_ROWS
            ws, lb = _push_leaderboard(settings, clients)
            _seed_pending(settings, clients, ws, lb, CONSOLIDATE_ROWS)
            if measure_memory:
                tracemalloc.start()
            started = time.perf_counter()
            result = Consolidator(settings, clients).consolidate(ws, lb)
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] / 1e6 if measure_memory else None
            if measure_memory:
                tracemalloc.stop()
            case = "consolidate (tracemalloc on)" if measure_memory else f"consolidate -> {result.rows:,} unique rows"
            results.append(
                _row(
                    case=case,
                    rows=result.rows_in,
                    median_ms=elapsed * 1000,
                    rows_per_s=None if measure_memory else result.rows_in / elapsed,
                    peak_mb=peak,
                )
            )
        finally:
            stop()
    return results


def run() -> list[dict[str, Any]]:
    results = []
    for part in (bench_normalize, bench_push, bench_consolidate):
        try:
            results += part()
        except Exception as exc:  # noqa: BLE001 - a benchmark reports a broken case instead of hiding the others
            results.append({**_row(case=part.__name__), "error": repr(exc)})
    return results
