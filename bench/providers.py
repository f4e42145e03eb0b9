"""Provider layer overhead per call vs a raw httpx call, against the sandbox at fixed latency.

Both sides call the sandbox's OpenRouter-compatible ``POST /api/v1/chat/completions``
(model ``sandbox/echo``) on loopback, with the sandbox's latency knob fixed at
``BENCH_PROVIDERS_LATENCY_MS`` (default 20 ms) so both see the same upstream time:

- ``raw_httpx``: one pooled ``httpx.AsyncClient`` posting the same JSON and decoding it;
- ``call_model``: ``drgero.providers.call_model`` (request building, AIMD slot, retry loop,
  capped streaming read, parsing, cost, redaction) through ``ProviderClient``.

Per concurrency level (1 and ``BENCH_PROVIDERS_CONCURRENCY``, default 16), ``BENCH_PROVIDERS_CALLS``
calls (default 200) after a warm-up of 20. The AIMD limit is set to the concurrency so the
limiter does not throttle. ``overhead_ms`` = median(call_model) - median(raw_httpx).
The sandbox is a threaded stdlib server: at high concurrency it, not the client, is the
bottleneck; read the overhead at concurrency 1 as the per-call cost of the layer.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time

LATENCY_MS = float(os.environ.get("BENCH_PROVIDERS_LATENCY_MS", "20"))
CALLS = int(os.environ.get("BENCH_PROVIDERS_CALLS", "200"))
CONCURRENCY = int(os.environ.get("BENCH_PROVIDERS_CONCURRENCY", "16"))
WARMUP = 20
KEY = "sk-or-bench"
MESSAGES = [{"role": "user", "content": "Say hello to the benchmark, please."}]


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


async def _drive(one_call, calls: int, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def timed() -> None:
        async with semaphore:
            started = time.perf_counter()
            await one_call()
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(timed() for _ in range(calls)))
    return latencies, time.perf_counter() - started


async def _measure(base_url: str, concurrency: int) -> list[dict]:
    import httpx

    from drgero.core.settings import ProvidersSettings
    from drgero.providers import OpenRouterTarget, ProviderClient, call_model

    rows = []
    raw = httpx.AsyncClient(trust_env=False, timeout=30, limits=httpx.Limits(max_connections=100))
    body = {"model": "sandbox/echo", "messages": MESSAGES}

    async def raw_call() -> None:
        response = await raw.post(
            f"{base_url}/api/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
        )
        response.raise_for_status()
        response.json()["choices"][0]["message"]["content"]

    settings = ProvidersSettings(
        openrouter_base_url=f"{base_url}/api/v1",
        allow_loopback=True,
        aimd_initial=concurrency,
        aimd_max=concurrency,
    )
    client = ProviderClient(settings)
    target = OpenRouterTarget(model="sandbox/echo")

    async def layer_call() -> None:
        await call_model(target, MESSAGES, client=client, api_key=KEY)

    medians = {}
    for name, one_call in (("raw_httpx", raw_call), ("call_model", layer_call)):
        await _drive(one_call, WARMUP, concurrency)
        latencies, elapsed = await _drive(one_call, CALLS, concurrency)
        medians[name] = statistics.median(latencies)
        rows.append(
            {
                "case": name,
                "concurrency": concurrency,
                "calls": CALLS,
                "median_ms": medians[name],
                "p95_ms": _p95(latencies),
                "min_ms": min(latencies),
                "max_ms": max(latencies),
                "calls_per_s": CALLS / elapsed,
                "overhead_ms": medians[name] - medians["raw_httpx"],
            }
        )
    await raw.aclose()
    await client.aclose()
    return rows


def run() -> list[dict]:
    import httpx

    from localcloud.sandbox import start_sandbox

    base_url, stop = start_sandbox("127.0.0.1", 0)
    try:
        httpx.post(
            f"{base_url}/_sandbox/control", json={"model": "sandbox/echo", "latency_ms": LATENCY_MS}, trust_env=False
        ).raise_for_status()
        rows: list[dict] = []
        for concurrency in sorted({1, CONCURRENCY}):
            try:
                rows.extend(asyncio.run(_measure(base_url, concurrency)))
            except Exception as exc:  # noqa: BLE001 - one broken case is printed, not raised (bench contract)
                rows.append({"case": "error", "concurrency": concurrency, "error": repr(exc)})
        return rows
    finally:
        stop()
