"""Run duration estimates: estimated_seconds and its range against the measured wall time, on varied runs.

Each case is a leaderboard of the sandbox's 4 toy models run twice through the real pipeline
code (bench.runs: start -> fan-out -> ``workers`` evaluate threads, each with its own provider
client and AIMD limit = the shard size -> aggregation) with the sandbox's latency knob fixed.
Before the first run, each toy model is called ``BENCH_ESTIMATES_CALLS`` times (default 20)
at that latency, each call timed and stored as an inference trace by the trace store (what
production inference of the same models elsewhere in the workspace leaves): the first run is
estimated from those observed latencies (``drgero.runs.estimates``, source ``observed``), the
second from the first one's own p50/p95 (``last_run``). Both are measured against the goal
(actual within the range for at least 90% of the runs, and within +/-50% of the point
estimate): one summary line each. The estimate is given the
pipeline's real concurrency (``evaluation.estimate_workers`` = the case's workers) and the
default overheads (each case is a new workspace: a first run has no earlier run to measure
them by). Column ``measured_s``: what the run cost beyond its calls, fixed + per shard item, as
the next estimate reads it. Numbers only; nothing is asserted. By default the first 4 cases (about 3
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
CALLS = int(os.environ.get("BENCH_ESTIMATES_CALLS", "20"))


def _trace_calls(env: Any, ws: str) -> None:
    """``CALLS`` real calls of each toy model at the sandbox's current latency, each stored as
    an ok inference trace with its measured duration (the trace writer's store)."""
    import time

    import httpx

    from bench.runs import TOYS
    from drgero.traces import TraceStore
    from drgero.traces.model import ModelInfo, Trace

    store = TraceStore.from_clients(env.base, env.clients)
    with httpx.Client(base_url=f"{env.sandbox}/api/v1", trust_env=False, timeout=30) as http:
        for model in TOYS:
            for i in range(CALLS):
                started = time.perf_counter()
                answer = http.post(
                    "/chat/completions",
                    headers={"Authorization": "Bearer sk-or-bench-key-0123456789"},
                    json={"model": model, "messages": [{"role": "user", "content": f"{i} + {i}"}]},
                )
                answer.raise_for_status()
                store.write(
                    Trace(
                        workspace_id=ws,
                        kind="inference",
                        name="chat",
                        duration_ms=(time.perf_counter() - started) * 1000,
                        model=ModelInfo(id=model, platform="openrouter"),
                    )
                )


def _summary(rows: list[dict], which: str) -> dict:
    within = sum(1 for r in rows if abs(r["error_pct"] or 0) <= 50)
    in_range = sum(1 for r in rows if r["in_range"])
    return {
        "case": f"{which} runs",
        "run": "summary",
        "estimated_s": None,
        "range_s": f"{in_range}/{len(rows)} in range",
        "actual_s": None,
        "error_pct": max(abs(r["error_pct"] or 0) for r in rows),
        "in_range": in_range / len(rows) >= 0.9,
        "status": f"{within}/{len(rows)} within 50%",
    }


def _estimated(env: Any, run_id: str) -> dict[str, Any]:
    from drgero.runs import records

    return records.get_run(env.clients.table, run_id) or {}


def run() -> list[dict]:
    from bench import runs as pipeline
    from drgero.runs import records
    from drgero.runs.estimates import observed_overheads
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
            _trace_calls(env, ws)
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
                        # What this run cost beyond its calls (fixed + per shard item), as a
                        # later estimate reads it (drgero.runs.estimates.observed_overheads).
                        "measured_s": "{:.2f} + {:.3f}/item".format(
                            *(observed_overheads(env.settings(shard), run) or (0, 0))
                        ),
                    }
                )
            pipeline._control(env, latency_ms=0, rate_limit_next=0)
        for which in ("first", "second"):
            measured = [r for r in out if r["run"] == which]
            if measured:
                out.append(_summary(measured, which))
    finally:
        stop_sandbox()
        server.stop()
    return out


if __name__ == "__main__":
    for row in run():
        print(row)
