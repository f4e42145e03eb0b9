"""Money under concurrency and faults: many simultaneous calls with one budgeted token, while
DynamoDB cancels some budget transactions with TransactionConflict (what it does when two
transactions touch the same token item). Every call is charged exactly once, nothing stays
reserved, and the usage report counts every call. Also: an unexpected failure answers in the
route's error shape."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from drgero.identity.credentials import get_api_token
from drgero.inference.request import InferenceRequest
from drgero.inference.service import with_conflict_retry
from tests.support.inference import budgeted_service, make_world


def _conflict() -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
            "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
        },
        "TransactWriteItems",
    )


class ConflictingDynamo:
    """Cancels every third TransactWriteItems with TransactionConflict (nothing written)."""

    def __init__(self, client) -> None:
        self._client = client
        self._count = itertools.count()
        self._lock = threading.Lock()
        self.injected = 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs):
        with self._lock:
            n = next(self._count)
        if n % 3 == 1:
            with self._lock:
                self.injected += 1
            raise _conflict()
        return self._client.transact_write_items(**kwargs)


def test_concurrent_calls_with_one_token_are_each_charged_exactly_once(aws, sandbox):
    world, service, principal, token_id = budgeted_service(aws, sandbox, ConflictingDynamo)
    conflicting = aws.clients.dynamodb

    def call(i: int):
        request = InferenceRequest(f"question number {i}", None, 200, None, {})
        return service.infer(principal, world.leaderboard_id, request)

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(call, range(24)))

    assert conflicting.injected > 0
    assert len({o.trace_id for o in outcomes}) == 24
    spent = sum(round(o.cost_usd * 1_000_000) for o in outcomes)
    record = get_api_token(world.table, world.workspace_id, token_id)
    assert record["reserved_micro_usd"] == 0
    assert record["spent_micro_usd"] == spent
    assert record["remaining_micro_usd"] == 1_000_000 - spent
    usage = world.table.get(f"WS#{world.workspace_id}", f"USAGE#TOKEN#{token_id}")
    assert usage["calls"] == 24
    assert usage["spent_micro_usd"] == spent


def test_conflict_retry_gives_up_after_its_attempts_and_never_retries_other_errors():
    attempts = []

    def always_conflicts():
        attempts.append(1)
        raise _conflict()

    with pytest.raises(ClientError):
        with_conflict_retry(always_conflicts, attempts=3, sleep=lambda _s: None)
    assert len(attempts) == 3

    other = []

    def fails_otherwise():
        other.append(1)
        raise ValueError("not a conflict")

    with pytest.raises(ValueError):
        with_conflict_retry(fails_otherwise, sleep=lambda _s: None)
    assert len(other) == 1


def test_an_unexpected_failure_is_a_500_in_the_routes_shape(aws, sandbox, monkeypatch):
    world = make_world(aws, sandbox)
    world.leaderboard()
    world.attach_toy("sandbox/echo", "echo")
    world.select("echo")
    service = aws.functions.module("InferenceFunction").service

    def broken(*_args, **_kwargs):
        raise RuntimeError("the table is on fire")

    monkeypatch.setattr(service, "target", broken)
    native = world.infer({"input": "hi"})
    assert native.status == 500
    assert native.json["error"]["code"] == "internal_error"
    assert "fire" not in native.body.decode()
    chat = world.chat({"model": f"leaderboard/{world.leaderboard_id}", "messages": [{"role": "user", "content": "x"}]})
    assert chat.status == 500
    assert chat.json["error"]["type"] == "api_error"
