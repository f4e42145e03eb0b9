"""Run pipeline wall time vs the ideal, against the sandbox provider at fixed latency.

A whole run (start -> fan-out -> evaluate every (model x shard) -> aggregate) through the
domain code of the three queue functions (``drgero.runs``), on the embedded AWS (a moto
server on loopback, resources from template.yaml) and the sandbox provider with its latency
knob at ``BENCH_RUNS_LATENCY_MS`` (default 100 ms). ``BENCH_RUNS_WORKERS`` threads (default 4)
play concurrent evaluate Lambdas: each pulls work items from the evaluate queue and runs
them with its own ``ProviderClient`` (one AIMD limiter per container, as in AWS), whose
initial limit is the shard size, so each worker keeps one shard's rows in flight.

- ``concurrency`` = workers x min(shard size, AIMD limit);
- ``ideal_s`` = rows x models x latency / concurrency (the provider time alone);
- ``overhead_per_call_ms`` = (wall - ideal) x concurrency / calls: what the pipeline adds to
  each call's slot (queueing, S3 and DynamoDB writes, scoring, fan-out and aggregation);
- ``errors``: call errors counted in the ranking (the 429 case must count, never drop).

Cases: 1,000 rows x 4 models (shard 25); the same with a 429 burst (the sandbox answers 429
to the next ``BENCH_RUNS_BURST`` calls, default 300, no Retry-After: the provider layer's
backoff and AIMD absorb it); 250 rows (scaling with rows) with shard sizes 10, 25 and 100
(scaling with shards); and with ``BENCH_RUNS_LARGE=1`` 10,000 rows (several minutes). The
sandbox runs in its own process; the workers are threads of one process sharing a moto
server, so DynamoDB/S3/SQS round trips are loopback-fast but serialized by moto, and the
workers share one GIL: read ``overhead_per_call_ms`` as an upper bound of what the pipeline
adds. A case that does not finish within ``BENCH_RUNS_TIMEOUT_S`` (default 600) reports its
status. An unreported warm-up run comes first: the first run against a fresh moto server has
been seen to stall for minutes with every worker blocked waiting for moto's answers (not
understood yet; later runs in the same process do not). Numbers only; nothing is asserted.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import boto3

LATENCY_MS = float(os.environ.get("BENCH_RUNS_LATENCY_MS", "100"))
WORKERS = int(os.environ.get("BENCH_RUNS_WORKERS", "4"))
BURST = int(os.environ.get("BENCH_RUNS_BURST", "300"))
LARGE = os.environ.get("BENCH_RUNS_LARGE", "") == "1"
TOYS = ("sandbox/arithmetic-exact", "sandbox/coin-flip-half", "sandbox/off-by-one", "sandbox/echo")


class _Env:
    def __init__(self, moto_url: str, sandbox_url: str) -> None:
        from drgero.core.aws import AwsClients
        from drgero.core.settings import Settings
        from localcloud.resources import create_resources, function_environment
        from localcloud.template import Template

        template = Template.load()
        created = create_resources(boto3.session.Session(), template, moto_url, "us-east-1")
        env = function_environment(template, "EvaluateFunction", created)
        nested: dict[str, Any] = {}
        for key, value in env.items():
            if key.startswith("DRGERO_"):
                group, _, name = key.removeprefix("DRGERO_").lower().partition("__")
                if name:
                    nested.setdefault(group, {})[name] = value
        nested["aws"]["endpoint_url"] = moto_url
        nested["providers"] = {
            "openrouter_base_url": f"{sandbox_url}/api/v1",
            "allow_loopback": True,
            "max_retries": 6,
            "backoff_base_seconds": 0.05,
            "backoff_cap_seconds": 0.5,
        }
        nested["limits"] = {**nested.get("limits", {}), "min_rows_before_models": 1, "push_max_rows_per_request": 5000}
        nested["plans"] = {"default_plan": "pro"}
        self.base = Settings(**nested)
        self.clients = AwsClients(self.base)
        self.sandbox = sandbox_url

    def settings(self, shard_size: int) -> Any:
        s = self.base
        return s.model_copy(
            update={
                "evaluation": s.evaluation.model_copy(update={"shard_size": shard_size}),
                "providers": s.providers.model_copy(update={"aimd_initial": shard_size, "aimd_max": 64}),
            }
        )


def _leaderboard(env: _Env, rows: int) -> tuple[str, str]:
    from drgero.datasets.consolidate import Consolidator
    from drgero.datasets.push import Pusher
    from drgero.identity.integrations import put_integration
    from drgero.identity.principal import ALL_SCOPES, Principal, PrincipalKind
    from drgero.leaderboards.attach import attach_model
    from drgero.leaderboards.leaderboard import create_leaderboard
    from drgero.runs.tracing import run_async
    from drgero.workspaces.membership import create_workspace

    settings, clients = env.base, env.clients
    table = clients.table
    ws = create_workspace(table, settings, "", "bench", plan="pro")["id"]
    put_integration(settings, clients, ws, "openrouter", "sk-or-bench-key-0123456789")  # creation needs it
    lb = create_leaderboard(table, settings, ws, {"name": "bench", "prompt": "{input}", "dataset": {"mode": "PUSH"}})[
        "id"
    ]
    principal = Principal(kind=PrincipalKind.API_TOKEN, workspace_id=ws, scopes=frozenset(ALL_SCOPES), token_id="tok_b")
    data = [{"id": f"r{i}", "input": f"{i} + {i % 97}", "output": str(i + i % 97)} for i in range(rows)]
    for start in range(0, rows, 5000):
        Pusher(settings, clients).push(principal, lb, json.dumps(data[start : start + 5000]).encode())
    Consolidator(settings, clients).consolidate(ws, lb)

    async def accept(_target: Any) -> None:
        return None

    for toy in TOYS:
        run_async(
            attach_model(table, settings, clients, ws, lb, {"platform": "openrouter", "model": toy}, validate=accept)
        )
    return ws, lb


def _control(env: _Env, **knobs: Any) -> None:
    import httpx

    httpx.post(f"{env.sandbox}/_sandbox/control", json={"model": "*", **knobs}, trust_env=False).raise_for_status()


def _run_once(env: _Env, ws: str, lb: str, shard_size: int) -> dict[str, Any]:
    from drgero.providers import ProviderClient
    from drgero.runs import records
    from drgero.runs.evaluate import process_shard
    from drgero.runs.fanout import handle_run_message
    from drgero.runs.messages import EvaluateMessage, RunMessage
    from drgero.runs.start import start_run

    settings, clients = env.settings(shard_size), env.clients
    table = clients.table
    queue = settings.aws.evaluate_queue_url
    started = time.perf_counter()
    run = start_run(settings, clients, ws, lb, None, "manual", enqueue=False)
    handle_run_message(settings, clients, RunMessage(run_id=run["id"], leaderboard_id=lb, workspace_id=ws))
    done = threading.Event()
    failures: list[str] = []

    def worker() -> None:
        provider = ProviderClient(settings.providers)  # one per "container": its own AIMD limiter
        while not done.is_set():
            # A receive whose answer is lost (a client timeout on a loaded machine) hides its
            # message for the visibility timeout: keep it short so SQS redelivers it, as in AWS.
            messages = clients.sqs.receive_message(
                QueueUrl=queue,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=1,
                VisibilityTimeout=60,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
            for message in messages:
                try:
                    body = EvaluateMessage.model_validate_json(message["Body"])
                    first = message.get("Attributes", {}).get("ApproximateReceiveCount") == "1"
                    process_shard(settings, clients, body, provider, first_delivery=first)
                except Exception as error:  # noqa: BLE001 - like SQS: the item comes back, the worker goes on
                    failures.append(f"{type(error).__name__}: {error}")
                    clients.sqs.change_message_visibility(
                        QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
                    continue
                clients.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            if not messages and (records.get_run(table, run["id"]) or {}).get("status") in records.FINAL_STATUSES:
                done.set()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + float(os.environ.get("BENCH_RUNS_TIMEOUT_S", "600"))
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    done.set()  # on a timeout the run's status (not final) is reported
    wall = time.perf_counter() - started
    final = records.get_run(table, run["id"]) or {}
    ranking = records.ranking_of(final) or {"rows": []}
    return {
        "wall": wall,
        "status": final.get("status"),
        "errors": sum(r["call_errors"] for r in ranking["rows"]),
        "retried_items": len(failures),
    }


def _case(env: _Env, name: str, rows: int, shard_size: int, burst: int = 0) -> dict[str, Any]:
    ws, lb = _leaderboard(env, rows)
    _control(env, latency_ms=LATENCY_MS, rate_limit_next=burst, retry_after=None)
    result = _run_once(env, ws, lb, shard_size)
    _control(env, latency_ms=0, rate_limit_next=0)
    calls = rows * len(TOYS)
    concurrency = WORKERS * shard_size
    ideal = calls * LATENCY_MS / 1000 / concurrency
    return {
        "case": name,
        "rows": rows,
        "models": len(TOYS),
        "shard_size": shard_size,
        "concurrency": concurrency,
        "ideal_s": ideal,
        "wall_s": result["wall"],
        "wall_over_ideal": result["wall"] / ideal if ideal else 0.0,
        "overhead_per_call_ms": (result["wall"] - ideal) * concurrency / calls * 1000,
        "errors": result["errors"],
        "retried_items": result["retried_items"],
        "status": result["status"],
    }


_SANDBOX_PROCESS = """
import sys, threading
from localcloud.sandbox import start_sandbox
url, stop = start_sandbox("127.0.0.1", 0)
print(url, flush=True)
sys.stdin.read()
stop()
"""


def _start_sandbox() -> tuple[str, Any]:
    """The sandbox in a process of its own, so its request threads do not share the
    benchmark's GIL (in AWS the provider is elsewhere, and each Lambda is its own process)."""
    import subprocess
    import sys

    process = subprocess.Popen(  # noqa: S603 - our own interpreter running our own module
        [sys.executable, "-c", _SANDBOX_PROCESS], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()

    def stop() -> None:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)

    return url, stop


def run() -> list[dict]:
    from localcloud.moto_server import MotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    server = MotoServer()
    moto_url = server.start()
    sandbox_url, stop_sandbox = _start_sandbox()
    cases = [
        ("1k x 4", 1000, 25, 0),
        ("1k x 4, 429 burst", 1000, 25, BURST),
        ("250 x 4", 250, 25, 0),
        ("250 x 4", 250, 10, 0),
        ("250 x 4", 250, 100, 0),
    ]
    if LARGE:
        cases.append(("10k x 4", 10_000, 25, 0))
    rows: list[dict] = []
    try:
        env = _Env(moto_url, sandbox_url)
        _case(env, "warm-up", 50, 25)  # first-use costs (pools, moto backends), not reported
        for name, n, shard, burst in cases:
            try:
                rows.append(_case(env, name, n, shard, burst))
            except Exception as error:  # noqa: BLE001 - one broken case must not hide the others
                rows.append({"case": name, "error": f"{type(error).__name__}: {error}"})
    finally:
        stop_sandbox()
        server.stop()
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
