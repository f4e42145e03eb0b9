"""Retries with jitter, Retry-After, and the AIMD concurrency limit (unit and under a real
429 burst from the sandbox). Sleeps are injected: nothing here waits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from drgero.core.settings import ProvidersSettings
from drgero.providers import OpenRouterTarget, ProviderClient, RateLimited, UpstreamError, call_model
from drgero.providers.client import fingerprint
from drgero.providers.limiter import AimdConfig, AimdLimiter
from drgero.providers.retry import RetryConfig, backoff_seconds, parse_retry_after

KEY = "sk-or-retry-test"
ASK = [{"role": "user", "content": "hello"}]


def make_client(sandbox: str, **overrides) -> ProviderClient:
    sleeps: list[float] = []

    async def no_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)

    settings = ProvidersSettings(openrouter_base_url=f"{sandbox}/api/v1", allow_loopback=True, **overrides)
    client = ProviderClient(settings, sleep=no_sleep, rng=lambda: 0.5)
    client.sleeps = sleeps  # type: ignore[attr-defined]
    return client


def control(sandbox: str, **knobs) -> None:
    httpx.post(f"{sandbox}/_sandbox/control", json=knobs, trust_env=False).raise_for_status()


def stats(sandbox: str) -> dict:
    return httpx.get(f"{sandbox}/_sandbox/stats", trust_env=False).json()


def call(client: ProviderClient, model: str = "sandbox/echo", n: int = 1):
    async def main():
        try:
            return await asyncio.gather(
                *(call_model(OpenRouterTarget(model=model), ASK, client=client, api_key=KEY) for _ in range(n))
            )
        finally:
            await client.aclose()

    return asyncio.run(main())


# -- timing math -------------------------------------------------------------------------------


def test_full_jitter_backoff_is_bounded_by_cap():
    config = RetryConfig(backoff_base_seconds=0.5, backoff_cap_seconds=4.0)
    assert [backoff_seconds(a, config, rng=lambda: 1.0) for a in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff_seconds(3, config, rng=lambda: 0.0) == 0.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        ("0", 0.0),
        (" 1.5 ", 1.5),
        ("-4", 0.0),
        ("Tue, 24 Nov 2026 12:00:30 GMT", 30.0),
        ("Tue, 24 Nov 2026 11:59:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after(header, expected):
    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=lambda: now) == expected


# -- retries against the sandbox -------------------------------------------------------------


def test_5xx_is_retried_with_jitter_then_succeeds(sandbox):
    control(sandbox, model="sandbox/echo", fail_next=2)
    client = make_client(sandbox, backoff_base_seconds=0.5, backoff_cap_seconds=8)
    [result] = call(client)
    assert result.output == "hello" and result.attempts == 3
    assert client.sleeps == [0.25, 0.5]  # rng 0.5 x min(cap, base * 2**attempt)
    assert stats(sandbox)["requests"]["/api/v1/chat/completions"] == 3


def test_retries_stop_at_max_retries(sandbox):
    control(sandbox, model="sandbox/echo", fail_next=10)
    client = make_client(sandbox, max_retries=3)
    with pytest.raises(UpstreamError):
        call(client)
    assert stats(sandbox)["requests"]["/api/v1/chat/completions"] == 4


def test_4xx_is_not_retried(sandbox):
    client = make_client(sandbox)
    with pytest.raises(Exception):  # noqa: B017 - the class is asserted in test_providers_call
        call(client, model="sandbox/does-not-exist")
    assert client.sleeps == []
    assert stats(sandbox)["requests"]["/api/v1/chat/completions"] == 1


def test_retry_after_is_honoured(sandbox):
    control(sandbox, model="sandbox/echo", rate_limit_next=2, retry_after=7)
    client = make_client(sandbox)
    [result] = call(client)
    assert result.attempts == 3
    assert client.sleeps == [7.0, 7.0]


def test_retry_after_beyond_cap_surfaces_immediately(sandbox):
    control(sandbox, model="sandbox/echo", rate_limit_next=1, retry_after=600)
    client = make_client(sandbox, retry_after_cap_seconds=30)
    with pytest.raises(RateLimited) as caught:
        call(client)
    assert caught.value.retry_after == 600
    assert client.sleeps == []
    assert caught.value.to_api_error().headers["Retry-After"] == "600"


def test_429_without_retry_after_backs_off(sandbox):
    control(sandbox, model="sandbox/echo", rate_limit_next=1, retry_after=None)
    client = make_client(sandbox, backoff_base_seconds=1.0)
    [result] = call(client)
    assert result.attempts == 2 and client.sleeps == [0.5]


def test_error_rate_knob_is_deterministic_and_retries_recover(sandbox):
    control(sandbox, model="sandbox/echo", error_rate=0.5)
    client = make_client(sandbox, max_retries=6)
    results = call(client, n=10)
    assert all(r.output == "hello" for r in results)
    first = stats(sandbox)["requests"]["/api/v1/chat/completions"]
    httpx.post(f"{sandbox}/_sandbox/reset", trust_env=False)
    control(sandbox, model="sandbox/echo", error_rate=0.5)
    call(make_client(sandbox, max_retries=6), n=10)
    assert stats(sandbox)["requests"]["/api/v1/chat/completions"] == first > 10


# -- AIMD ------------------------------------------------------------------------------------


def test_aimd_halves_once_per_epoch_and_grows_back():
    limiter = AimdLimiter(AimdConfig(initial=8, minimum=1, maximum=8, increase_step=1, success_window=1))

    async def scenario():
        tickets = [await limiter.acquire() for _ in range(8)]
        assert limiter.in_flight == 8
        # A burst: all 8 in-flight requests get 429; only the first halves the limit.
        for ticket in tickets:
            limiter.on_rate_limited(ticket)
        assert limiter.limit == 4 and limiter.decreases == 1
        for _ in range(8):
            limiter.release()
        # Now at most 4 run at once: the 5th waits.
        held = [await limiter.acquire() for _ in range(4)]
        fifth = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        assert not fifth.done() and limiter.in_flight == 4
        # A 429 from the new epoch halves again, down to 2.
        limiter.on_rate_limited(held[0])
        assert limiter.limit == 2
        for _ in held:
            limiter.release()
        await fifth
        limiter.release()
        # Successes grow it back additively: success_window x capacity per step.
        for _ in range(100):
            limiter.on_success()
        assert limiter.limit == 8
        assert [kind for kind, _ in limiter.history][:2] == ["decrease", "decrease"]

    asyncio.run(scenario())


def test_aimd_never_below_minimum():
    limiter = AimdLimiter(AimdConfig(initial=2, minimum=1, maximum=4))

    async def scenario():
        for _ in range(5):
            ticket = await limiter.acquire()
            limiter.on_rate_limited(ticket)
            limiter.release()
        assert limiter.capacity == 1

    asyncio.run(scenario())


def test_aimd_cancelled_waiter_does_not_leak_a_slot():
    limiter = AimdLimiter(AimdConfig(initial=1, minimum=1, maximum=1))

    async def scenario():
        await limiter.acquire()
        waiter = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        limiter.release()
        assert limiter.in_flight == 0
        await asyncio.wait_for(limiter.acquire(), timeout=1)
        assert limiter.in_flight == 1

    asyncio.run(scenario())


def test_aimd_under_a_real_429_burst(sandbox):
    # 16 concurrent calls; the sandbox rate-limits the first 12 requests (Retry-After 0).
    control(sandbox, model="sandbox/echo", rate_limit_next=12, retry_after=0)
    client = make_client(sandbox, aimd_initial=8, aimd_max=8, aimd_success_window=1, max_retries=8)
    limiter = client.limiter("openrouter", fingerprint(KEY))
    results = call(client, n=16)
    assert len(results) == 16 and all(r.output == "hello" for r in results)
    assert limiter.decreases >= 1
    low = min(limit for kind, limit in limiter.history if kind == "decrease")
    assert low <= 4  # concurrency dropped under the burst
    # ... and recovers with successes once the burst is over.
    call(client, n=40)
    assert limiter.limit == 8
    assert limiter.history[-1][0] == "increase"


def test_aimd_hands_a_slot_to_another_threads_loop():
    import threading

    limiter = AimdLimiter(AimdConfig(initial=1, minimum=1, maximum=1))
    held = threading.Event()
    waiting = threading.Event()
    got: list[str] = []

    def holder():
        async def main():
            await limiter.acquire()
            held.set()
            await asyncio.get_running_loop().run_in_executor(None, waiting.wait, 5)
            limiter.release()

        asyncio.run(main())

    def waiter():
        async def main():
            held.wait(5)
            pending = asyncio.ensure_future(limiter.acquire())
            await asyncio.sleep(0)
            assert not pending.done()
            waiting.set()
            await asyncio.wait_for(pending, timeout=5)
            got.append("slot")
            limiter.release()

        asyncio.run(main())

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert got == ["slot"] and limiter.in_flight == 0
