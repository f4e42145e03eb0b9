"""Money under concurrency: many simultaneous calls with one budgeted token. The budget path
is one conditional UpdateItem to reserve and one to settle, never a transaction on the token
item (in real DynamoDB concurrent transactions on one item cancel each other with
TransactionConflict), so concurrent calls never fail because of each other. Every call is
charged exactly once, nothing stays reserved, and the usage report counts every call. Also:
an unexpected failure answers in the route's error shape."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from drgero.identity import budget
from drgero.identity.credentials import get_api_token
from drgero.inference.request import InferenceRequest
from tests.support.inference import budgeted_service, make_world


class CountingDynamo:
    """Counts the writes that touch the token's item, by operation."""

    def __init__(self, client) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.writes: Counter[str] = Counter()
        self.token_sk = ""

    def __getattr__(self, name):
        return getattr(self._client, name)

    def _count(self, operation: str) -> None:
        with self._lock:
            self.writes[operation] += 1

    def update_item(self, **kwargs):
        if kwargs["Key"]["sk"]["S"] == self.token_sk:
            self._count("update_item")
        return self._client.update_item(**kwargs)

    def transact_write_items(self, **kwargs):
        if any(self.token_sk in str(op) for op in kwargs["TransactItems"]):
            self._count("transact_write_items")
        return self._client.transact_write_items(**kwargs)


def test_concurrent_calls_with_one_token_are_each_charged_exactly_once(aws, sandbox):
    world, service, principal, token_id = budgeted_service(aws, sandbox, CountingDynamo)
    counting = aws.clients.dynamodb
    counting.token_sk = f"TOKEN#{token_id}"

    def call(i: int):
        request = InferenceRequest(f"question number {i}", None, 200, None, {})
        return service.infer(principal, world.leaderboard_id, request)

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(call, range(24)))

    assert len({o.trace_id for o in outcomes}) == 24
    # Two single writes per call on the token item (reserve, settle), no transaction.
    assert counting.writes == Counter({"update_item": 48})
    spent = sum(round(o.cost_usd * 1_000_000) for o in outcomes)
    record = get_api_token(world.table, world.workspace_id, token_id)
    assert record["reserved_micro_usd"] == 0 and record["holds"] == {}
    assert record["spent_micro_usd"] == spent
    assert record["remaining_micro_usd"] == 1_000_000 - spent
    usage = budget.usage_report(world.table, world.workspace_id)
    row = next(r for r in usage["by_token"] if r["token_id"] == token_id)
    assert row["calls"] == 24
    assert round(row["spent_usd"] * 1_000_000) == spent
    assert sum(m["calls"] for m in usage["by_month"]) == 24


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
