"""Added latency of production inference over a direct call to the same upstream.

The sandbox provider answers ``sandbox/echo`` after a fixed latency
(``BENCH_INFERENCE_LATENCY_MS``, default 50). Two ways to get the same answer:

- ``direct``: a pooled httpx POST to the sandbox's ``/api/v1/chat/completions``;
- ``handler``: the real inference function (``functions/inference/app.py``), invoked
  in-process with an API Gateway proxy event carrying the token (the route has no authorizer
  hop: the function checks the token itself, from its warm cache, so that is in these numbers),
  against the embedded AWS in-process (moto's mock, no HTTP). The path includes the cached
  production target, the budget reservation + settlement (DynamoDB), the provider call and
  the trace (one SQS send, in parallel with the settlement);
- ``handler+capture``: the same with the leaderboard's capture rule at sample rate 1 (every
  call also becomes a pending dataset row through the push path).

At 1 and ``BENCH_INFERENCE_CONCURRENCY`` (default 32) concurrent clients, ``BENCH_INFERENCE_CALLS``
calls per case (default 64: moto is slow), after a warm-up: p50 and p99 per call, the handler's added
p50/p99 over ``direct`` at the same concurrency, and the AWS requests one call makes
(``aws_calls``, the number that matters in AWS, where each is a few ms). At 1 client,
``own_added_p50_ms`` is the handler's time minus the time spent inside AWS requests, minus the
direct call: the overhead of our own code (the trace send runs in parallel with the
settlement, so subtracting both slightly understates it).

Caveats, read before quoting: moto is not thread-safe (a transaction deep-copies the table
while another thread writes), so DynamoDB requests are serialized here by one lock, as the
concurrency tests do; and each moto transaction deep-copies the whole table, so its cost grows
with the items the benchmark itself adds. At 32 clients the numbers are therefore dominated
by moto queueing and are an upper bound of our overhead, not an AWS prediction.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

LATENCY_MS = float(os.environ.get("BENCH_INFERENCE_LATENCY_MS", "50"))
CALLS = int(os.environ.get("BENCH_INFERENCE_CALLS", "64"))
CONCURRENCY = int(os.environ.get("BENCH_INFERENCE_CONCURRENCY", "32"))
SANDBOX_KEY = "sk-or-bench-inference-0123456789"


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _measure(call, concurrency: int, calls: int) -> list[float]:
    for _ in range(min(concurrency, 8)):
        call(-1)  # warm-up: pools, caches, first-import work

    def timed(i: int) -> float:
        started = time.perf_counter()
        call(i)
        return (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return sorted(pool.map(timed, range(calls)))


def _event(leaderboard_id: str, secret: str, text: str) -> dict:
    """What API Gateway sends the function: the route has no authorizer, the token is checked
    by the function itself (its cache warm after the first call)."""
    return {
        "resource": "/v1/leaderboard/{id}/inference",
        "path": f"/v1/leaderboard/{leaderboard_id}/inference",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"id": leaderboard_id},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/v1/leaderboard/{id}/inference",
            "httpMethod": "POST",
            "path": f"/prod/v1/leaderboard/{leaderboard_id}/inference",
            "stage": "prod",
            "requestId": "bench",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": json.dumps({"input": text, "max_tokens": 64}),
        "isBase64Encoded": False,
    }


class _Serialized:
    """A boto3 client whose requests run one at a time (moto is not thread-safe)."""

    lock = __import__("threading").Lock()
    busy_ms = 0.0  # time spent inside AWS requests (moto), all threads

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with _Serialized.lock:
                started = time.perf_counter()
                try:
                    return attribute(*args, **kwargs)
                finally:
                    _Serialized.busy_ms += (time.perf_counter() - started) * 1000

        return call


class _Counter:
    """Counts AWS requests made through the clients it is registered on."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, **_kwargs: Any) -> None:
        self.count += 1


def _instrument(service: Any, table_name: str) -> _Counter:
    """Makes the function's own AWS clients serialized (moto) and counted."""

    counter = _Counter()
    for name in ("dynamodb", "sqs", "s3", "kms"):
        client = getattr(service.clients, name)
        client.meta.events.register("before-call", counter)
        service.clients.__dict__[name] = _Serialized(client)
    service.table = service.clients.table
    return counter


def _case(
    name: str, concurrency: int, call: Any, counter: Any, own_ms: list[float], baseline: list[float] | None
) -> tuple[dict, list[float] | None]:
    """One measured case as a result row, and its samples (None: the case failed). ``direct``
    is its own baseline; the handler cases are compared with it."""
    try:
        before = counter.count
        own_ms.clear()
        samples = _measure(call, concurrency, CALLS)
        warmups = min(concurrency, 8)
        aws_calls = (counter.count - before) / (len(samples) + warmups)
    except Exception as error:  # noqa: BLE001 - one broken case must not hide the others
        return {"path": name, "clients": concurrency, "error": str(error)[:200]}, None
    p50, p99 = statistics.median(samples), _percentile(samples, 0.99)
    if name == "direct":
        baseline = samples
    row = {
        "path": name,
        "clients": concurrency,
        "calls": len(samples),
        "aws_calls": aws_calls,
        "p50_ms": p50,
        "p99_ms": p99,
        "added_p50_ms": p50 - statistics.median(baseline) if baseline else None,
        "added_p99_ms": p99 - _percentile(baseline, 0.99) if baseline else None,
        # Our own code's added time (no AWS), meaningful at 1 client only.
        "own_added_p50_ms": statistics.median(own_ms) - statistics.median(baseline)
        if own_ms and baseline and concurrency == 1
        else None,
    }
    return row, samples


def run() -> list[dict]:  # noqa: PLR0915 - one linear setup, then the cases
    import boto3
    import httpx
    from moto import mock_aws

    from drgero.core.aws import AwsClients
    from drgero.identity.credentials import issue_api_token
    from drgero.identity.integrations import put_integration
    from drgero.identity.principal import ALL_SCOPES
    from drgero.leaderboards.attach import attach_model
    from drgero.leaderboards.leaderboard import create_leaderboard, update_leaderboard
    from drgero.runs.selection import set_selection
    from drgero.runs.tracing import run_async
    from drgero.workspaces.membership import create_workspace
    from localcloud.functions import FunctionRuntime
    from localcloud.identity import settings_from_env
    from localcloud.resources import create_resources
    from localcloud.sandbox import start_sandbox
    from localcloud.template import Template

    for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    sandbox_url, stop_sandbox = start_sandbox("127.0.0.1", 0)
    mock = mock_aws()
    mock.start()
    try:
        template = Template.load()
        created = create_resources(boto3.session.Session(), template, None, "us-east-1")
        runtime = FunctionRuntime(
            template,
            created,
            extra_env={
                "DRGERO_ENVIRONMENT": "local",
                "DRGERO_PROVIDERS__LOOPBACK_ORIGINS": json.dumps([sandbox_url]),
                "DRGERO_PROVIDERS__OPENROUTER_BASE_URL": f"{sandbox_url}/api/v1",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_NAMESPACE": "DrGeroBench",
                "POWERTOOLS_METRICS_DISABLED": "true",
            },
        )
        settings = settings_from_env(runtime.environment("InferenceFunction"))
        settings = settings.model_copy(
            update={"limits": settings.limits.model_copy(update={"min_rows_before_models": 0})}
        )
        clients = AwsClients(settings)
        table = clients.table
        workspace_id = create_workspace(table, settings, "", "bench", plan="pro")["id"]
        secret, _token = issue_api_token(table, workspace_id, "bench", ALL_SCOPES)
        put_integration(settings, clients, workspace_id, "openrouter", SANDBOX_KEY)

        async def accept(_target: Any) -> None:
            return None

        def leaderboard(capture: dict | None) -> str:
            body = {"name": "bench", "prompt": "{input}", "dataset": {"mode": "PUSH"}}
            lb = create_leaderboard(table, settings, workspace_id, body)["id"]
            if capture:
                update_leaderboard(table, workspace_id, lb, {"capture": capture})
            model = run_async(
                attach_model(
                    table,
                    settings,
                    clients,
                    workspace_id,
                    lb,
                    {"platform": "openrouter", "model": "sandbox/echo"},
                    validate=accept,
                )
            )
            set_selection(table, workspace_id, lb, {"strategy": "manual", "model_id": model["id"]})
            return lb

        plain_lb = leaderboard(None)
        capture_lb = leaderboard({"enabled": True, "sample_rate": 1.0})
        httpx.post(
            f"{sandbox_url}/_sandbox/control", json={"model": "sandbox/echo", "latency_ms": LATENCY_MS}, trust_env=False
        ).raise_for_status()

        # The function's own clients: serialized (moto) and counted.
        counter = _instrument(runtime.module("InferenceFunction").service, settings.aws.table_name)

        own_ms: list[float] = []  # per call at 1 client: handler time minus time inside AWS requests

        def via_handler(lb: str):
            def call(i: int) -> None:
                aws_before, started = _Serialized.busy_ms, time.perf_counter()
                answer = runtime.invoke("InferenceFunction", _event(lb, secret, f"question {i}"))
                own_ms.append((time.perf_counter() - started) * 1000 - (_Serialized.busy_ms - aws_before))
                if answer["statusCode"] != 200:
                    raise RuntimeError(answer["body"])

            return call

        direct_client = httpx.Client(
            trust_env=False, limits=httpx.Limits(max_connections=100, max_keepalive_connections=100)
        )

        def direct(i: int) -> None:
            answer = direct_client.post(
                f"{sandbox_url}/api/v1/chat/completions",
                headers={"Authorization": f"Bearer {SANDBOX_KEY}"},
                json={"model": "sandbox/echo", "messages": [{"role": "user", "content": f"question {i}"}]},
            )
            answer.raise_for_status()

        rows: list[dict] = []
        for concurrency in (1, CONCURRENCY):
            baseline: list[float] | None = None
            for name, call in (
                ("direct", direct),
                ("handler", via_handler(plain_lb)),
                ("handler+capture", via_handler(capture_lb)),
            ):
                row, samples = _case(name, concurrency, call, counter, own_ms, baseline)
                rows.append(row)
                if name == "direct" and samples is not None:
                    baseline = samples
        direct_client.close()
        return rows
    finally:
        mock.stop()
        stop_sandbox()


if __name__ == "__main__":
    for row in run():
        print(row)
