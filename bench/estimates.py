"""Run duration estimates: estimated_seconds and its range against the measured wall time, on varied runs.

Each case is a leaderboard of the sandbox's 4 toy models run twice through the real pipeline
code (bench.runs: start -> fan-out -> ``workers`` evaluate threads, each with its own provider
client and AIMD limit = the shard size -> aggregation) with the sandbox's latency knob fixed.
The first run has no observed latency (the estimate uses ``evaluation.default_latency_ms``); the
second is estimated from the first one's observed p50/p95: that is the estimate a user sees
from the second run on, and the one measured against the goal (actual within the range for at
least 90% of the runs, and within +/-50% of the point estimate). The estimate is given the
pipeline's real concurrency (``evaluation.estimate_workers`` = the case's workers) and the
default overheads. Numbers only; nothing is asserted. By default the first 4 cases (about 3
minutes on a loaded 2-core machine); ``BENCH_ESTIMATES_ALL=1``: all 10.
"""

from __future__ import annotations

import os
from typing import Any

# (rows, shard size, sandbox latency ms, evaluate workers)
CASES = [
    (40, 10, 50, 1),
    (100, 25, 100, 2),
    (200, 25, 50, 4),
    (120, 10, 200, 2),
    (300, 50, 100, 4),
    (60, 5, 300, 2),
    (250, 25, 150, 3),
    (80, 20, 80, 1),
    (150, 15, 120, 4),
    (400, 25, 40, 4),
]
QUICK = os.environ.get("BENCH_ESTIMATES_ALL", "") != "1"


def _estimated(env: Any, run_id: str) -> dict[str, Any]:
    from drgero.runs import records

    return records.get_run(env.clients.table, run_id) or {}


def run() -> list[dict]:
    from bench import runs as pipeline
    from drgero.runs import records
    from localcloud.moto_server import MotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    server = MotoServer()
    moto_url = server.start()
    sandbox_url, stop_sandbox = pipeline._start_sandbox()
    out: list[dict] = []
    try:
        env = pipeline._Env(moto_url, sandbox_url)
        base_settings = env.settings

        for rows, shard, latency, workers in CASES[:4] if QUICK else CASES:
            pipeline.WORKERS = workers

            def settings(size: int, workers: int = workers) -> Any:
                s = base_settings(size)
                return s.model_copy(
                    update={"evaluation": s.evaluation.model_copy(update={"estimate_workers": workers})}
                )

            env.settings = settings  # type: ignore[method-assign]
            ws, lb = pipeline._leaderboard(env, rows)
            pipeline._control(env, latency_ms=latency, rate_limit_next=0, retry_after=None)
            for attempt in ("first", "second"):
                before = {r["id"] for r in records.run_history(env.clients.table, ws, lb, 50, None)["runs"]}
                result = pipeline._run_once(env, ws, lb, shard)
                after = records.run_history(env.clients.table, ws, lb, 50, None)["runs"]
                run = _estimated(env, next(r["id"] for r in after if r["id"] not in before))
                low, high = run.get("estimated_range_seconds") or (None, None)
                point = run.get("estimated_seconds") or 0
                out.append(
                    {
                        "case": f"{rows}r s{shard} {latency}ms w{workers}",
                        "run": attempt,
                        "estimated_s": point,
                        "range_s": f"{low}-{high}",
                        "actual_s": round(result["wall"], 1),
                        "error_pct": round((result["wall"] - point) / point * 100, 1) if point else None,
                        "in_range": low is not None and low <= result["wall"] <= high,
                        "status": result["status"],
                    }
                )
            pipeline._control(env, latency_ms=0, rate_limit_next=0)
        seconds = [r for r in out if r["run"] == "second"]
        if seconds:
            out.append(
                {
                    "case": "second runs",
                    "run": "summary",
                    "estimated_s": None,
                    "range_s": f"{sum(1 for r in seconds if r['in_range'])}/{len(seconds)} in range",
                    "actual_s": None,
                    "error_pct": max(abs(r["error_pct"] or 0) for r in seconds),
                    "in_range": sum(1 for r in seconds if r["in_range"]) / len(seconds) >= 0.9,
                    "status": f"{sum(1 for r in seconds if abs(r['error_pct'] or 0) <= 50)}/{len(seconds)} within 50%",
                }
            )
    finally:
        stop_sandbox()
        server.stop()
    return out


if __name__ == "__main__":
    for row in run():
        print(row)
