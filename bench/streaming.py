"""Streamed inference: time to first token and total time, through the product vs direct.

The sandbox streams ``sandbox/echo`` word by word, ``BENCH_STREAM_DELAY_MS`` apart (default
20) after ``BENCH_STREAM_LATENCY_MS`` (default 50) before its first byte; the question has
``BENCH_STREAM_WORDS`` words (default 20), so a whole answer takes ~0.5 s. Two ways to get it:

- ``direct``: an httpx streamed POST to the sandbox's ``/api/v1/chat/completions``;
- ``product``: the real inference function's streaming entry (``app.stream_handler``, what the
  Lambda Web Adapter's ASGI app and the local gateway call) with a proxy event whose
  authorizer context is filled, on the embedded AWS in-process (moto, DynamoDB requests
  serialized as in bench/inference.py): target, budget reserve, the upstream stream relayed
  chunk by chunk as OpenAI chunks, then settlement and trace after the last chunk.

``ttft`` is the time to the first chunk carrying text; ``total`` the time to the end of the
stream. At 1 and ``BENCH_STREAM_CONCURRENCY`` (default 32) concurrent streams,
``BENCH_STREAM_CALLS`` streams per case (default 32). Same caveat as bench/inference.py: at 32
streams moto's serialized queue (reserve before, settle after) dominates the added time.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.inference import SANDBOX_KEY, _instrument, _percentile

DELAY_MS = float(os.environ.get("BENCH_STREAM_DELAY_MS", "20"))
LATENCY_MS = float(os.environ.get("BENCH_STREAM_LATENCY_MS", "50"))
WORDS = int(os.environ.get("BENCH_STREAM_WORDS", "20"))
CALLS = int(os.environ.get("BENCH_STREAM_CALLS", "32"))
CONCURRENCY = int(os.environ.get("BENCH_STREAM_CONCURRENCY", "32"))


def _event(leaderboard_id: str, secret: str, text: str) -> dict:
    body = {"model": f"leaderboard/{leaderboard_id}", "messages": [{"role": "user", "content": text}], "stream": True}
    return {
        "resource": "/v1/chat/completions",
        "path": "/v1/chat/completions",
        "httpMethod": "POST",
        # The route has no authorizer: the function checks the token itself.
        "headers": {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "pathParameters": None,
        "requestContext": {
            "resourcePath": "/v1/chat/completions",
            "httpMethod": "POST",
            "stage": "prod",
            "requestId": "bench-stream",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _has_text(data: bytes) -> bool:
    for line in data.split(b"\n"):
        if line.startswith(b"data: {"):
            for choice in json.loads(line[6:]).get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    return True
    return False


def _measure(call: Any, concurrency: int) -> list[tuple[float, float]]:
    for i in range(min(concurrency, 4)):
        call(-1 - i)  # warm-up
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(call, range(CALLS)))


def _row(name: str, concurrency: int, samples: list[tuple[float, float]], base: dict | None) -> dict:
    ttft = sorted(s[0] for s in samples)
    total = sorted(s[1] for s in samples)
    row = {
        "path": name,
        "streams": concurrency,
        "calls": len(samples),
        "ttft_p50_ms": statistics.median(ttft),
        "ttft_p99_ms": _percentile(ttft, 0.99),
        "total_p50_ms": statistics.median(total),
        "total_p99_ms": _percentile(total, 0.99),
        "added_ttft_p50_ms": statistics.median(ttft) - base["ttft_p50_ms"] if base else None,
        "added_total_p50_ms": statistics.median(total) - base["total_p50_ms"] if base else None,
    }
    return row


def run() -> list[dict]:  # noqa: C901, PLR0915 - one linear setup, then the cases
    import boto3
    import httpx
    from moto import mock_aws

    from drgero.core.aws import AwsClients
    from drgero.identity.credentials import issue_api_token
    from drgero.identity.integrations import put_integration
    from drgero.identity.principal import ALL_SCOPES
    from drgero.leaderboards.attach import attach_model
    from drgero.leaderboards.leaderboard import create_leaderboard
    from drgero.runs.selection import set_selection
    from drgero.runs.tracing import run_async
    from drgero.workspaces.membership import create_workspace
    from localcloud.functions import FunctionRuntime, LambdaContext
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
                # Local mode admits exactly the listed loopback origins (allow_loopback is the
                # test harness's and refused in local mode).
                "DRGERO_PROVIDERS__LOOPBACK_ORIGINS": json.dumps([sandbox_url]),
                "DRGERO_PROVIDERS__OPENROUTER_BASE_URL": f"{sandbox_url}/api/v1",
                "DRGERO_PROVIDERS__POOL_MAX_CONNECTIONS": "200",
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

        lb = create_leaderboard(
            table, settings, workspace_id, {"name": "bench", "prompt": "{input}", "dataset": {"mode": "PUSH"}}
        )["id"]
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
        httpx.post(
            f"{sandbox_url}/_sandbox/control",
            json={"model": "sandbox/echo", "latency_ms": LATENCY_MS, "stream_delay_ms": DELAY_MS},
            trust_env=False,
        ).raise_for_status()
        _instrument(runtime.module("InferenceFunction").service, settings.aws.table_name)
        stream_handler = runtime.module("InferenceFunction").stream_handler
        context = LambdaContext("InferenceFunction", 29, 1024)

        def question(i: int) -> str:
            return " ".join([f"q{i}"] + ["word"] * (WORDS - 1))

        def product(i: int) -> tuple[float, float]:
            started = time.perf_counter()
            answer = stream_handler(_event(lb, secret, question(i)), context)
            pieces = answer.get("bodyStream")
            if pieces is None:
                raise RuntimeError(answer.get("body"))
            ttft = None
            for piece in pieces:
                if ttft is None and _has_text(piece):
                    ttft = (time.perf_counter() - started) * 1000
            return ttft or 0.0, (time.perf_counter() - started) * 1000

        direct_client = httpx.Client(
            trust_env=False, timeout=30, limits=httpx.Limits(max_connections=100, max_keepalive_connections=100)
        )

        def direct(i: int) -> tuple[float, float]:
            started = time.perf_counter()
            ttft = None
            body = {"model": "sandbox/echo", "messages": [{"role": "user", "content": question(i)}], "stream": True}
            with direct_client.stream(
                "POST",
                f"{sandbox_url}/api/v1/chat/completions",
                headers={"Authorization": f"Bearer {SANDBOX_KEY}"},
                json=body,
            ) as answer:
                for line in answer.iter_lines():
                    if ttft is None and _has_text(line.encode()):
                        ttft = (time.perf_counter() - started) * 1000
            return ttft or 0.0, (time.perf_counter() - started) * 1000

        rows: list[dict] = []
        for concurrency in (1, CONCURRENCY):
            base = _row("direct", concurrency, _measure(direct, concurrency), None)
            rows.append(base)
            try:
                rows.append(_row("product", concurrency, _measure(product, concurrency), base))
            except Exception as error:  # noqa: BLE001 - print what failed, keep the other rows
                rows.append({"path": "product", "streams": concurrency, "error": str(error)[:200]})
        direct_client.close()
        return rows
    finally:
        mock.stop()
        stop_sandbox()


if __name__ == "__main__":
    for row in run():
        print(row)
