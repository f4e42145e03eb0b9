"""Results export: peak memory and time of GET /api/runs/{id}/results/export at 10,000 rows x 8 models.

The export (``drgero.runs.export``) streams the per-row results shard by shard into an S3
multipart upload; this measures that it really does not hold the table: a finished exact-match
run of ``BENCH_EXPORT_ROWS`` rows (default 10,000) x ``BENCH_EXPORT_MODELS`` models (default 8),
shard size 25, is written straight to S3 (rows, outputs of ~``BENCH_EXPORT_OUTPUT_CHARS``
characters, default 300) on a moto server in a child process (so S3's own storage is not in
this process), then exported as JSONL and as CSV. ``peak_mib`` is tracemalloc's peak of this
process during the export; ``object_mib`` the size of the file written. Numbers only.
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
    from drgero.runs.export import export_results
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
            tracemalloc.start()
            started = time.monotonic()
            answer = export_results(settings, clients, "ws_bench", run_item["id"], fmt)
            seconds = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            size = clients.s3.head_object(
                Bucket=settings.aws.bucket_name, Key=f"runs/{run_item['id']}/exports/results.{fmt}"
            )
            out.append(
                {
                    "format": fmt,
                    "rows": answer["rows"],
                    "models": MODELS,
                    "object_mib": size["ContentLength"] / 2**20,
                    "peak_mib": peak / 2**20,
                    "part_mib": settings.runs.export_part_mib,
                    "seconds": seconds,
                }
            )
    finally:
        server.stop()
    return out


if __name__ == "__main__":
    for row in run():
        print(row)
