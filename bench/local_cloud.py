"""Local cloud: inference p50 with 10,000 items in the table vs an empty table; 32 concurrent clients.

Issue 18's local-cloud goals: a request's cost does not grow with the data (inference p50 with
``BENCH_LOCAL_CLOUD_ITEMS`` items in the table, default 10,000, within 1.2x of an empty table)
and ``BENCH_LOCAL_CLOUD_CLIENTS`` concurrent clients (default 32) get 0 errors.

Two local clouds run as ``make local`` runs one: the moto server in its own process with its
state saved to a (temporary) state dir every 2 s when it changed, the API Gateway emulation
with the REQUEST authorizer, the real inference function; the sandbox upstream in a process of
its own at ``BENCH_LOCAL_CLOUD_LATENCY_MS`` (default 20). One cloud's table holds only the
benchmark's workspace; the other's also ``ITEMS`` more (trace anchors and listing entries of
another workspace, written with BatchWriteItem: the shape a busy table has). Each call is
``POST /v1/leaderboard/{id}/inference`` over HTTP with an API token (budgeted: reserve and
settle are real). ``BENCH_LOCAL_CLOUD_ROUNDS`` interleaved rounds (default 5) of
``BENCH_LOCAL_CLOUD_CALLS`` sequential calls (default 20) on each cloud, the order alternating;
p50 per round, then the median over rounds (the machine's load hits both alike). Then
``CLIENTS`` threads call the full cloud at once, ``BENCH_LOCAL_CLOUD_CONCURRENT_CALLS`` calls
each (default 4): errors (any answer but 200, or a failed connection) and p50/p99.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

ITEMS = int(os.environ.get("BENCH_LOCAL_CLOUD_ITEMS", "10000"))
CLIENTS = int(os.environ.get("BENCH_LOCAL_CLOUD_CLIENTS", "32"))
LATENCY_MS = float(os.environ.get("BENCH_LOCAL_CLOUD_LATENCY_MS", "20"))
ROUNDS = int(os.environ.get("BENCH_LOCAL_CLOUD_ROUNDS", "5"))
CALLS = int(os.environ.get("BENCH_LOCAL_CLOUD_CALLS", "20"))
CONCURRENT_CALLS = int(os.environ.get("BENCH_LOCAL_CLOUD_CONCURRENT_CALLS", "4"))


def _start_cloud(upstream: str, state_dir: str) -> tuple[Any, dict[str, Any]]:
    from bench.peers import _setup_cloud

    # preload_functions: as `drgero local` starts them.
    return _setup_cloud(upstream, hub=False, preload_functions=True, state_dir=state_dir)


def _fill(cloud: Any, count: int) -> None:
    """``count`` items of another workspace's traces: anchors and listing entries."""
    from datetime import UTC, datetime

    import boto3

    from drgero.store import keys

    env = cloud.functions.environment("InferenceFunction")
    client = boto3.client(
        "dynamodb",
        endpoint_url=cloud.aws_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - the embedded AWS takes any
    )
    table = env["DRGERO_AWS__TABLE_NAME"]
    workspace = "ws-bench-filler"
    now = datetime.now(UTC)
    items = []
    for i in range(count):
        trace_id = uuid.uuid4().hex
        if i % 2:
            pk, sk = keys.trace_anchor_key(trace_id)
        else:
            pk, sk = keys.trace_listing_pk(workspace), keys.trace_listing_sk(now, trace_id)
        items.append({"pk": {"S": pk}, "sk": {"S": sk}, "workspace_id": {"S": workspace}, "pad": {"S": "x" * 300}})
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        pending: dict[str, Any] = {table: batch}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def _caller(cloud: Any, seeded: dict[str, Any]) -> Any:
    import httpx

    http = httpx.Client(trust_env=False, timeout=60, limits=httpx.Limits(max_connections=CLIENTS * 2))
    url = f"{cloud.api_url}/v1/leaderboard/{seeded['leaderboard_id']}/inference"
    headers = {"Authorization": f"Bearer {seeded['secret']}"}

    def call() -> tuple[float, str | None]:
        started = time.perf_counter()
        try:
            answer = http.post(url, json={"input": "question", "max_tokens": 16}, headers=headers)
        except httpx.HTTPError as error:
            return (time.perf_counter() - started) * 1000, type(error).__name__
        took = (time.perf_counter() - started) * 1000
        return took, None if answer.status_code == 200 else f"HTTP {answer.status_code}"

    return call


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _measure(empty: Any, full: Any) -> list[dict[str, Any]]:
    p50s: dict[str, list[float]] = {"empty": [], "full": []}
    errors = {"empty": 0, "full": 0}
    calls = {"empty": empty, "full": full}
    first, first_error = empty()  # a fresh cloud's first call: what a `make local` user waits for first
    for name in calls:  # warm-up: connections, the function's caches, first imports
        for _ in range(3):
            calls[name]()
    for round_ in range(ROUNDS):
        for name in ("empty", "full") if round_ % 2 == 0 else ("full", "empty"):
            results = [calls[name]() for _ in range(CALLS)]
            errors[name] += sum(1 for _, error in results if error)
            p50s[name].append(statistics.median(took for took, _ in results))
    empty_p50, full_p50 = statistics.median(p50s["empty"]), statistics.median(p50s["full"])
    ratio = round(full_p50 / empty_p50, 2)
    return [
        {
            "measure": "first call on a fresh local cloud (the functions' imports, first pools)",
            "clients": 1,
            "ours_ms": first,
            "baseline": "p50 after",
            "baseline_ms": empty_p50,
            "ratio": round(first / empty_p50, 2),
            "errors": int(first_error is not None),
            "goal": "",
        },
        {
            "measure": f"inference p50, 1 client, {ITEMS:,} more items in the table",
            "clients": 1,
            "ours_ms": full_p50,
            "baseline": "empty table",
            "baseline_ms": empty_p50,
            "ratio": ratio,
            "errors": errors["full"] + errors["empty"],
            "goal": f"<= 1.2x: {'met' if ratio <= 1.2 else 'NOT met'}",
        },
    ]


def _concurrent(full: Any) -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        results = list(pool.map(lambda _i: full(), range(CLIENTS * CONCURRENT_CALLS)))
    took = [t for t, _ in results]
    failures = [error for _, error in results if error]
    kinds = sorted({error for error in failures if error})
    return {
        "measure": f"inference, {CLIENTS} concurrent clients, {ITEMS:,} more items ({len(results)} calls)",
        "clients": CLIENTS,
        "ours_ms": statistics.median(took),
        "baseline": "p99",
        "baseline_ms": _p(took, 0.99),
        "ratio": None,
        "errors": len(failures),
        "goal": f"0 errors: {'met' if not failures else 'NOT met (' + ', '.join(kinds) + ')'}",
    }


def run() -> list[dict[str, Any]]:
    from bench.peers import _control
    from bench.runs import _start_sandbox

    upstream_root, stop_sandbox = _start_sandbox()
    rows: list[dict[str, Any]] = []
    try:
        _control(upstream_root, latency_ms=LATENCY_MS)
        upstream = f"{upstream_root}/api/v1"
        with (
            tempfile.TemporaryDirectory(prefix="drgero-bench-lc-") as folder,
            contextlib.redirect_stdout(io.StringIO()),  # the functions' metric lines (EMF) are not ours
            contextlib.ExitStack() as stack,
        ):
            empty_cloud, empty_seeded = _start_cloud(upstream, os.path.join(folder, "empty"))
            stack.callback(empty_cloud.stop)
            full_cloud, full_seeded = _start_cloud(upstream, os.path.join(folder, "full"))
            stack.callback(full_cloud.stop)
            started = time.perf_counter()
            _fill(full_cloud, ITEMS)
            fill_s = time.perf_counter() - started
            full = _caller(full_cloud, full_seeded)
            rows += _measure(_caller(empty_cloud, empty_seeded), full)
            rows[-1]["measure"] += f" (written in {fill_s:.0f} s)"
            rows.append(_concurrent(full))
    finally:
        stop_sandbox()
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
