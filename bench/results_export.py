"""Results export at 10,000 rows x 8 models: the route's latency, the export worker's time and
peak memory.

GET /api/runs/{id}/results/export starts an export job and answers at once
(``drgero.runs.export_jobs.request_export``); the export function
(``handle_export_message``) streams the per-row results shard by shard into an S3 multipart
upload (``drgero.runs.export``). A finished exact-match run of ``BENCH_EXPORT_ROWS`` rows
(default 10,000) x ``BENCH_EXPORT_MODELS`` models (default 8), shard size 25, is written
straight to S3 (rows, outputs of ~``BENCH_EXPORT_OUTPUT_CHARS`` characters, default 300) on a
moto server in a child process (so S3's own storage is not in this process), then exported as
JSONL and as CSV: ``start_ms`` is the request that starts the job (202), the worker then takes
the message from the export queue (``worker_s``, ``peak_mib``: tracemalloc's peak of this
process during the worker; ``object_mib``: the file written), and ``ready_ms`` is the request
that answers 200 with the URL. Both requests are the domain call the route makes (no HTTP
framing). Numbers only.
"""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from typing import Any

ROWS = int(os.environ.get("BENCH_EXPORT_ROWS", "10000"))
MODELS = int(os.environ.get("BENCH_EXPORT_MODELS", "8"))
OUTPUT_CHARS = int(os.environ.get("BENCH_EXPORT_OUTPUT_CHARS", "300"))
SHARD = 25


def _fake_run(settings: Any, clients: Any) -> dict[str, Any]:
    from drgero.core import clock
    from drgero.core.ids import new_id
    from drgero.store.keys import run_key, run_outputs_object, run_rows_object

    run_id = new_id("run")
    models = [f"mdl_bench{i}" for i in range(MODELS)]
    shards = -(-ROWS // SHARD)
    bucket = settings.aws.bucket_name
    filler = "lorem ipsum " * (OUTPUT_CHARS // 12 + 1)

    def write(index: int) -> None:
        start, end = index * SHARD, min(ROWS, (index + 1) * SHARD)
        rows = [{"id": f"r{i}", "input": f"{i} + {i}", "output": str(2 * i)} for i in range(start, end)]
        clients.s3.put_object(
            Bucket=bucket, Key=run_rows_object(run_id, index), Body="".join(json.dumps(r) + "\n" for r in rows).encode()
        )
        for m, model in enumerate(models):
            outputs = [
                {"row": i, "output": (str(2 * i) if (i + m) % 3 else "wrong ") + filler[:OUTPUT_CHARS], "error": None,
                 "latency_ms": 100.0 + m, "cost_usd": 1e-6 * (m + 1), "score": 1.0 if (i + m) % 3 else 0.0}
                for i in range(start, end)
            ]  # fmt: skip
            body = "".join(json.dumps(o) + "\n" for o in outputs).encode()
            clients.s3.put_object(Bucket=bucket, Key=run_outputs_object(run_id, model, index), Body=body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(shards)))
    pk, sk = run_key(run_id)
    item = {
        "pk": pk, "sk": sk, "id": run_id, "workspace_id": "ws_bench", "leaderboard_id": "lb_bench",
        "source": "manual", "status": "completed", "evaluation_type": "exact", "model_ids": models,
        "model_configs": [{"id": m, "name": f"bench/model-{i}", "platform": "openrouter"}
                          for i, m in enumerate(models)],
        "leaderboard_config": {"prompt": "Compute {input}", "evaluation": {"type": "exact"}},
        "rows": ROWS, "shard_size": SHARD, "started_at": clock.iso_millis(),
        "ranking_json": json.dumps({"winner_model_id": models[0], "rows": []}),
    }  # fmt: skip
    clients.table.put(item)
    return item


def run() -> list[dict]:
    import boto3  # noqa: F401 - loaded before measuring

    from bench.runs import _Env
    from drgero.runs.export_jobs import handle_export_message, request_export
    from drgero.runs.messages import ExportMessage
    from localcloud.moto_server import MotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    server = MotoServer()
    moto_url = server.start()
    out: list[dict] = []
    try:
        env = _Env(moto_url, "http://127.0.0.1:9")
        settings, clients = env.base, env.clients
        run_item = _fake_run(settings, clients)
        for fmt in ("jsonl", "csv"):
            started = time.monotonic()
            first = request_export(settings, clients, "ws_bench", run_item["id"], fmt)
            start_ms = (time.monotonic() - started) * 1000
            (message,) = clients.sqs.receive_message(
                QueueUrl=settings.aws.export_queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1
            )["Messages"]
            tracemalloc.start()
            started = time.monotonic()
            result = handle_export_message(settings, clients, ExportMessage.model_validate_json(message["Body"]))
            worker_s = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            clients.sqs.delete_message(QueueUrl=settings.aws.export_queue_url, ReceiptHandle=message["ReceiptHandle"])
            started = time.monotonic()
            ready = request_export(settings, clients, "ws_bench", run_item["id"], fmt)
            ready_ms = (time.monotonic() - started) * 1000
            out.append(
                {
                    "format": fmt,
                    "start_status": first.status_code,
                    "start_ms": round(start_ms, 1),
                    "rows": result["rows"],
                    "models": MODELS,
                    "object_mib": round(result["bytes"] / 2**20, 1),
                    "worker_s": round(worker_s, 1),
                    "peak_mib": round(peak / 2**20, 1),
                    "part_mib": settings.runs.export_part_mib,
                    "ready_status": ready.status_code,
                    "ready_ms": round(ready_ms, 1),
                }
            )
    finally:
        server.stop()
    return out


if __name__ == "__main__":
    for row in run():
        print(row)
