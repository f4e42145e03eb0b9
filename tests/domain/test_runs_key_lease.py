"""The per-provider-key concurrency limit shared across containers (drgero.runs.key_lease,
issue 18): a lease counter item per (workspace, provider key) that shards acquire in slot
batches, release with their count, and that expires so a crashed container cannot wedge it.

The two-worker test plays two evaluate containers: two threads, each with its own AWS
clients and its own provider client (its own AIMD limiter, up to 64 in flight), pulling the
same run's work items; the calls in flight across both never exceed the limit, and the run
completes with every row called exactly once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from drgero.core.aws import AwsClients
from drgero.providers import ProviderClient
from drgero.runs.evaluate import process_shard
from drgero.runs.key_lease import KeyLeases
from drgero.runs.messages import EvaluateMessage
from tests.support.aws import table_of
from tests.support.runs import QUEUES, Driver, make_setup
from tests.support.sandbox import sandbox_control, sandbox_requests

KEY = ("WS#w1", "KEYLEASE#k1")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0


def leases(aws, limit: int = 4, clock: Clock | None = None, sleep: Any = None) -> KeyLeases:
    clock = clock or Clock()
    return KeyLeases(
        table_of(aws), limit, lease_seconds=60, poll_seconds=0.5, now=lambda: clock.now, sleep=sleep or _no_wait
    )


def _no_wait(_seconds: float) -> None:
    raise AssertionError("acquire waited while slots were free")


def test_batches_are_granted_up_to_the_limit_then_partially_and_released(aws):
    limiter = leases(aws, limit=4)
    first = limiter.acquire(KEY, 3)
    second = limiter.acquire(KEY, 3)  # only one is free: it takes that one rather than wait
    assert (first.slots, second.slots) == (3, 1)
    limiter.release(first)
    third = limiter.acquire(KEY, 10)  # never more than the limit, here what is free
    assert third.slots == 3
    limiter.release(second)
    limiter.release(third)
    limiter.release(third)  # a second release gives nothing back twice
    item = table_of(aws).get(*KEY)
    assert item["in_use"] == 0 and not [k for k in item if k.startswith("h_")]


def test_a_full_key_waits_until_a_slot_is_released(aws):
    holder = leases(aws, limit=2)
    held = holder.acquire(KEY, 2)
    waited: list[float] = []

    def sleep(seconds: float) -> None:  # another container finishes its shard meanwhile
        waited.append(seconds)
        if len(waited) == 2:
            holder.release(held)

    waiter = leases(aws, limit=2, sleep=sleep)
    got = waiter.acquire(KEY, 2)
    assert got.slots == 2 and waited == [0.5, 1.0] and waiter.waits == 2


def test_a_crashed_holders_slots_come_back_after_the_lease_once(aws):
    clock = Clock()
    crashed = leases(aws, limit=4, clock=clock).acquire(KEY, 4)  # never released
    clock.now += 61  # past its lease
    a, b = leases(aws, limit=4, clock=clock), leases(aws, limit=4, clock=clock)
    stale = table_of(aws).get(*KEY)
    assert a._reclaim_expired(KEY, stale) == 4
    assert b._reclaim_expired(KEY, stale) == 0  # reclaimed once, not twice
    assert a.acquire(KEY, 4).slots == 4
    assert table_of(aws).get(*KEY)["in_use"] == 4
    assert crashed.holder not in table_of(aws).get(*KEY)


def test_a_live_lease_is_never_reclaimed(aws):
    clock = Clock()
    limiter = leases(aws, limit=2, clock=clock)
    limiter.acquire(KEY, 2)
    clock.now += 59

    def sleep(_seconds: float) -> None:
        clock.now += 2  # the holder's lease runs out while this one waits

    assert leases(aws, limit=2, clock=clock, sleep=sleep).acquire(KEY, 1).slots == 1
    assert table_of(aws).get(*KEY)["in_use"] == 1


class InFlight:
    """HTTP exchanges in flight across every worker's provider client (inside the AIMD
    limiter's slot: what the provider sees), a thread-safe high-water mark."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def wrap(self, client: ProviderClient) -> ProviderClient:
        real = client._send

        async def send(spec):
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            try:
                return await real(spec)
            finally:
                with self.lock:
                    self.now -= 1

        client._send = send  # type: ignore[method-assign]
        return client


@pytest.mark.parametrize("limit", [3, 0])
def test_two_workers_keep_the_shared_limit_and_lose_nothing(aws, sandbox, limit):
    setup = make_setup(aws, sandbox, n_rows=20)  # 3 models x 4 shards of 5 rows, one OpenRouter key
    aws.functions.extra_env.update(
        {"DRGERO_PROVIDERS__KEY_CONCURRENCY_LIMIT": str(limit), "DRGERO_PROVIDERS__KEY_LEASE_POLL_SECONDS": "0.005"}
    )
    sandbox_control(sandbox, latency_ms=40)  # calls overlap
    run_id = setup.start()
    driver = Driver(aws)
    assert driver.step("runs") == 1
    settings = aws.functions.module(QUEUES["evaluate"]).settings
    in_flight = InFlight()
    errors: list[BaseException] = []
    results: list[dict[str, Any]] = []

    def worker() -> None:
        clients = AwsClients(settings)  # a container of its own: its own AWS and provider clients
        provider = in_flight.wrap(ProviderClient(settings.providers))
        sqs, url = clients.sqs, settings.aws.evaluate_queue_url
        try:
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=600).get(
                "Messages", []
            ):
                message = EvaluateMessage.model_validate_json(messages[0]["Body"])
                results.append(process_shard(settings, clients, message, provider, first_delivery=True))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        except Exception as exc:  # noqa: BLE001 - any failure of a worker fails the test below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(results) == 12 and all(r["status"] == "done" for r in results), results
    if limit:
        assert in_flight.peak <= limit, in_flight.peak
        item = table_of(aws).get(*next(iter(_lease_keys(aws, setup.workspace_id))))
        assert item["in_use"] == 0 and not [k for k in item if k.startswith("h_")]  # every slot came back
    else:
        assert in_flight.peak > 3, in_flight.peak  # without the lease two containers exceed it
    run = setup.run(run_id)
    assert run["status"] == "completed"
    assert all(row["n"] == 20 and row["not_run"] == 0 for row in run["ranking"]["rows"])
    assert sandbox_requests(sandbox) == 60  # every row of every model called exactly once


def _lease_keys(aws, workspace_id: str) -> list[tuple[str, str]]:
    items = table_of(aws).query_all(f"WS#{workspace_id}", "KEYLEASE#", consistent=True)
    return [(i["pk"], i["sk"]) for i in items]


def test_a_fresh_containers_first_shard_runs_in_one_wave(aws, sandbox):
    """A fresh provider client's AIMD limit starts at aimd_initial (8); the shard's lease
    warm-starts it to the shard's slots, so 25 rows are in flight at once, not in 8s."""
    setup = make_setup(aws, sandbox, n_rows=25)
    aws.functions.extra_env["DRGERO_EVALUATION__SHARD_SIZE"] = "25"
    aws.functions.extra_env["DRGERO_RUNS__CANCEL_CHECK_SECONDS"] = "30"  # production's is 0.5 s; tests' 1 ms
    sandbox_control(sandbox, latency_ms=40)
    setup.start()
    driver = Driver(aws)
    assert driver.step("runs") == 1
    settings = aws.functions.module(QUEUES["evaluate"]).settings
    assert settings.providers.aimd_initial == 8 and settings.evaluation.shard_size == 25
    in_flight = InFlight()
    provider = in_flight.wrap(ProviderClient(settings.providers))  # a fresh container's client
    message = driver.receive("evaluate", 1)[0]
    result = process_shard(
        settings, AwsClients(settings), EvaluateMessage.model_validate_json(message["Body"]), provider,
        first_delivery=True,
    )  # fmt: skip
    assert result["status"] == "done" and result["rows"] == 25
    assert in_flight.peak == 25
