"""Cost of recording a trace on the caller's path: queue (emit) vs a direct S3 write.

Against the embedded AWS (a moto server on loopback, resources created from template.yaml),
times, per trace, what a producer waits for:

- ``emit``: ``QueueSink.emit`` - scrub + one SQS SendMessage (what inference does);
- ``emit_many/10``: ``QueueSink.emit_many`` in batches of 10 (what runs do), per trace;
- ``s3_put``: one S3 PutObject of the same JSON (the round trip ``emit`` keeps off the path);
- ``direct_write``: ``DirectSink.emit`` - the full synchronous store (anchor read, conditional
  S3 put, index transaction), what the trace_writer does off the path.

Loopback moto is much faster than real AWS, and real S3 PUT latency (tens of ms) is usually
several times SQS's; read the numbers as relative costs of the code paths, not AWS latencies.
Median, p95, min and max of ``BENCH_TRACES_N`` traces (default 200) after a warm-up.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime

import boto3

N = int(os.environ.get("BENCH_TRACES_N", "200"))


def _trace(n: int):
    from drgero.traces import ModelInfo, Trace, TraceKind, Usage

    return Trace(
        workspace_id="ws_bench",
        leaderboard_id="lb_bench",
        kind=TraceKind.INFERENCE,
        name="inference",
        created_at=datetime.now(UTC),
        duration_ms=412.0,
        input=f"Classify the sentiment of review number {n}: the product arrived late but works well. " * 4,
        output="mixed",
        model=ModelInfo(id="mdl_x", platform="openrouter", name="sandbox/toy-echo"),
        usage=Usage(prompt_tokens=120, completion_tokens=2, total_tokens=122),
        cost_usd=0.00003,
        metadata={"user_id": f"u{n % 17}", "session_id": "s1"},
    )


def _row(name: str, samples_ms: list[float], traces: int) -> dict:
    per_trace = [s / traces for s in samples_ms]
    ordered = sorted(per_trace)
    return {
        "operation": name,
        "traces": len(per_trace) * traces,
        "median_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
    }


def _time(fn, items) -> list[float]:
    fn(items[0])  # warm-up (connection pool, first-call setup)
    samples = []
    for item in items[1:]:
        started = time.perf_counter()
        fn(item)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def run() -> list[dict]:
    from drgero.core.aws import AwsClients
    from drgero.core.settings import Settings
    from drgero.traces import DirectSink, QueueSink, TraceStore
    from localcloud.moto_server import MotoServer
    from localcloud.resources import create_resources
    from localcloud.template import Template

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    server = MotoServer()
    url = server.start()
    try:
        created = create_resources(boto3.session.Session(), Template.load(), url, "us-east-1")
        settings = Settings(
            aws={
                "endpoint_url": url,
                "table_name": created.refs["MetadataTable"],
                "bucket_name": created.refs["DataBucket"],
                "traces_queue_url": created.refs["TracesQueue"],
            }
        )
        clients = AwsClients(settings)
        direct = DirectSink(TraceStore.from_clients(settings, clients))
        bucket = settings.aws.bucket_name

        def s3_put(trace) -> None:
            clients.s3.put_object(Bucket=bucket, Key=f"bench/{trace.id}.json", Body=trace.to_json().encode())

        def fresh_queue(name: str) -> QueueSink:
            # moto's SQS slows down as a queue fills: each queue case gets an empty queue.
            url = clients.sqs.create_queue(QueueName=f"bench-traces-{name}")["QueueUrl"]
            return QueueSink(clients.sqs, url)

        single = [_trace(n) for n in range(N + 1)]
        batches = [[_trace(n * 10 + i) for i in range(10)] for n in range(N // 10 + 1)]
        cases = (
            ("emit", lambda: fresh_queue("single").emit, single, 1),
            ("emit_many/10", lambda: fresh_queue("batch").emit_many, batches, 10),
            ("s3_put", lambda: s3_put, single, 1),
            ("direct_write", lambda: direct.emit, single, 1),
        )
        rows = []
        for name, make_fn, items, per_item in cases:
            try:
                rows.append(_row(name, _time(make_fn(), items), per_item))
            except Exception as error:  # noqa: BLE001 - one broken case must not hide the others
                rows.append({"operation": name, "error": str(error)})
        return rows
    finally:
        server.stop()


if __name__ == "__main__":
    for row in run():
        print(row)
