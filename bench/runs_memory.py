"""Run pipeline at 10,000 rows x 8 models: wall time and peak memory of each step.

A whole run through the domain code of the three queue functions (``drgero.runs``) on the
embedded AWS (a moto server process) and the sandbox provider (its own process) at
``BENCH_RUNS_MEMORY_LATENCY_MS`` per call (default 5: memory, not latency, is measured
here), ``bench.runs``' worker threads playing evaluate containers (``BENCH_RUNS_WORKERS``,
default 4), shard size 25. Eight models: the sandbox's seven OpenRouter toys and one custom
endpoint. Cases: ``BENCH_RUNS_MEMORY_ROWS`` rows each (default ``10000``; e.g.
``1000,10000`` shows the growth with rows).

Per step (the steps of one process, like each Lambda's):
- ``fanout``: start + snapshot + row files + shard items + work items; ``tracemalloc`` peak;
- ``evaluate``: every (model x shard) work item; peak RSS above the RSS before the step,
  sampled every 20 ms (threads, sockets and C buffers included, which tracemalloc misses);
- ``aggregate``: the last shard's aggregation (reads every output file, ranks); ``tracemalloc``
  peak.
Bounded means: ``evaluate`` does not grow with rows (a worker holds one shard at a time);
``fanout`` grows with the dataset's rows (it splits the pinned dataset, docs/runs.md "Known
limits"), ``aggregate`` with rows x models (one compact outcome per row and model, which the
paired statistics need), both far below the Lambda's memory: each step's ``MemorySize`` in
template.yaml is printed beside its peak as the baseline. Numbers only.
"""

from __future__ import annotations

import os
import resource
import threading
import time
import tracemalloc
from contextlib import contextmanager
from typing import Any

LATENCY_MS = float(os.environ.get("BENCH_RUNS_MEMORY_LATENCY_MS", "5"))
ROWS = [int(n) for n in os.environ.get("BENCH_RUNS_MEMORY_ROWS", "10000").split(",") if n.strip()]
SHARD = 25
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class _RssPeak:
    """Peak RSS while the block runs, above the RSS when it started (a sampling thread)."""

    def __init__(self) -> None:
        self.base = self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> _RssPeak:
        self.base = self.peak = _rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def mb(self) -> float:
        return (self.peak - self.base) / 1e6


@contextmanager
def _traced(into: dict[str, float], name: str):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        yield
    finally:
        into[f"{name}_s"] = time.perf_counter() - started
        into[f"{name}_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()


def _leaderboard(env: Any, rows: int, sandbox: str) -> tuple[str, str]:
    from bench import runs as bench_runs
    from drgero.leaderboards.attach import attach_model
    from drgero.runs.tracing import run_async

    ws, lb = bench_runs._leaderboard(env, rows)  # the 4 toys of bench.runs

    async def accept(_target: Any) -> None:
        return None

    settings, clients = env.base, env.clients
    more = [{"platform": "openrouter", "model": m} for m in ("sandbox/almanac", "sandbox/judge-toy", "sandbox/flaky")]
    more.append({"platform": "custom", "url": f"{sandbox}/custom/openai", "name": "custom"})
    for body in more:
        run_async(attach_model(clients.table, settings, clients, ws, lb, body, validate=accept))
    return ws, lb


def _case(env: Any, rows: int) -> dict[str, Any]:
    import drgero.runs.aggregate as aggregate_module
    from bench import runs as bench_runs
    from drgero.providers import ProviderClient
    from drgero.runs import records
    from drgero.runs.evaluate import process_shard
    from drgero.runs.fanout import handle_run_message
    from drgero.runs.messages import EvaluateMessage, RunMessage
    from drgero.runs.start import start_run

    ws, lb = _leaderboard(env, rows, env.sandbox)
    bench_runs._control(env, latency_ms=LATENCY_MS)
    settings, clients = env.settings(SHARD), env.clients
    table = clients.table
    queue = settings.aws.evaluate_queue_url
    result: dict[str, Any] = {"rows": rows, "models": 8}
    started = time.perf_counter()
    with _traced(result, "fanout"):
        run = start_run(settings, clients, ws, lb, None, "manual", enqueue=False)
        handle_run_message(settings, clients, RunMessage(run_id=run["id"], leaderboard_id=lb, workspace_id=ws))

    real_aggregate = aggregate_module.aggregate

    def measured_aggregate(*args: Any, **kwargs: Any) -> Any:
        with _traced(result, "aggregate"):
            return real_aggregate(*args, **kwargs)

    aggregate_module.aggregate = measured_aggregate
    done = threading.Event()
    failures: list[str] = []

    def worker() -> None:
        provider = ProviderClient(settings.providers)
        while not done.is_set():
            messages = clients.sqs.receive_message(
                QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=1, VisibilityTimeout=60,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])  # fmt: skip
            for message in messages:
                try:
                    body = EvaluateMessage.model_validate_json(message["Body"])
                    first = message.get("Attributes", {}).get("ApproximateReceiveCount") == "1"
                    process_shard(settings, clients, body, provider, first_delivery=first)
                except Exception as error:  # noqa: BLE001 - like SQS: the item comes back
                    failures.append(f"{type(error).__name__}: {error}")
                    continue
                clients.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            if not messages and (records.get_run(table, run["id"]) or {}).get("status") in records.FINAL_STATUSES:
                done.set()

    evaluate_started = time.perf_counter()
    try:
        with _RssPeak() as rss:
            threads = [threading.Thread(target=worker, daemon=True) for _ in range(bench_runs.WORKERS)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + float(os.environ.get("BENCH_RUNS_TIMEOUT_S", "1200"))
            for thread in threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
            done.set()
    finally:
        aggregate_module.aggregate = real_aggregate
    final = records.get_run(table, run["id"]) or {}
    ranking = records.ranking_of(final) or {"rows": []}
    result.update(
        evaluate_s=time.perf_counter() - evaluate_started - result.get("aggregate_s", 0.0),
        evaluate_rss_peak_mb=rss.mb,
        wall_s=time.perf_counter() - started,
        status=final.get("status"),
        # On a timeout (BENCH_RUNS_TIMEOUT_S, default 1200, for the evaluate step) how far it got.
        shards_done=int(final.get("shards_done") or 0),
        shards_total=int(final.get("shards_total") or 0),
        scored=sum(r.get("n") or 0 for r in ranking["rows"]),
        retried_items=len(failures),
        process_max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
    )
    return result


def _memory_limits_mb() -> dict[str, int]:
    """The baseline: each step's Lambda memory (template.yaml), which its peak must stay far below."""
    from localcloud.template import Template

    template = Template.load()
    default = int(template.data.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    sizes = {
        name: int(template.functions[name].get("Properties", {}).get("MemorySize", default))
        for name in ("RunFanoutFunction", "EvaluateFunction")
    }
    # Aggregation runs in the evaluate function that counts the run's last shard.
    return {
        "fanout": sizes["RunFanoutFunction"],
        "evaluate": sizes["EvaluateFunction"],
        "aggregate": sizes["EvaluateFunction"],
    }


def run() -> list[dict]:
    from bench import runs as bench_runs
    from localcloud.moto_server import MotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    server = MotoServer()
    moto_url = server.start()
    sandbox_url, stop_sandbox = bench_runs._start_sandbox()
    results: list[dict] = []
    try:
        env = bench_runs._Env(moto_url, sandbox_url)
        for rows in ROWS:
            try:
                case = _case(env, rows)
                for step, limit in _memory_limits_mb().items():
                    case[f"{step}_lambda_memory_mb"] = limit
                results.append(case)
            except Exception as error:  # noqa: BLE001 - one broken case must not hide the others
                results.append({"rows": rows, "error": f"{type(error).__name__}: {error}"})
    finally:
        stop_sandbox()
        server.stop()
    return results


if __name__ == "__main__":
    for row in run():
        print(row)
