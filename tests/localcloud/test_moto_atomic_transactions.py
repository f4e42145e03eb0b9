"""The embedded AWS's transactions: all-or-nothing, at the cost of the items they touch.

moto backs up whole tables before a TransactWriteItems and swaps the copies back on failure
(O(table) per request). ``localcloud.moto_atomic`` replaces that with a backup of the touched
items; these tests prove a cancelled transaction still leaves nothing behind and that no
table is copied or swapped."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from drgero.store.table import Condition


def _backend(aws):
    return dynamodb_backends[DEFAULT_ACCOUNT_ID][aws.settings.aws.region]


def test_a_cancelled_transaction_leaves_every_touched_item_as_it_was(aws):
    table = aws.clients.table
    table.put({"pk": "T#1", "sk": "A", "n": 1, "tags": ["x"]})
    table.put({"pk": "T#1", "sk": "B", "n": 10})
    table.put({"pk": "T#2", "sk": "UNTOUCHED", "n": 5})
    moto_table = _backend(aws).tables[table.name]

    with pytest.raises(ClientError) as err:
        table.transact(
            [
                {"update": ("T#1", "A"), "expression": "SET n = n + :one", "values": {":one": 1}},
                {"put": {"pk": "T#1", "sk": "NEW", "n": 0}},
                {"delete": ("T#1", "B")},
                {"check": ("T#2", "UNTOUCHED"), "condition": Condition("n = :six", values={":six": 6})},
            ]
        )
    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert table.get("T#1", "A") == {"pk": "T#1", "sk": "A", "n": 1, "tags": ["x"]}
    assert table.get("T#1", "B") == {"pk": "T#1", "sk": "B", "n": 10}
    assert table.get("T#1", "NEW") is None
    assert table.get("T#2", "UNTOUCHED")["n"] == 5
    assert _backend(aws).tables[table.name] is moto_table  # not swapped for a whole-table copy


def test_a_transaction_that_applies_is_whole(aws):
    table = aws.clients.table
    table.put({"pk": "T#3", "sk": "A", "n": 1})
    table.transact(
        [
            {"update": ("T#3", "A"), "expression": "SET n = n + :one", "values": {":one": 1}},
            {"put": {"pk": "T#3", "sk": "B", "n": 7}, "condition": Condition("attribute_not_exists(pk)")},
        ]
    )
    assert table.get("T#3", "A")["n"] == 2
    assert table.get("T#3", "B")["n"] == 7


def test_tables_are_never_deep_copied_by_a_transaction(aws, monkeypatch):
    import copy

    from moto.dynamodb.models.table import Table

    copied = []
    real = copy.deepcopy

    def spy(value, memo=None):
        if isinstance(value, Table):
            copied.append(value.name)
        return real(value, memo)

    monkeypatch.setattr(copy, "deepcopy", spy)
    table = aws.clients.table
    for i in range(50):
        table.put({"pk": f"BULK#{i}", "sk": "X", "n": i})
    with pytest.raises(ClientError):
        table.transact(
            [
                {"put": {"pk": "BULK#new", "sk": "X", "n": 0}},
                {"check": ("BULK#1", "X"), "condition": Condition("n = :no", values={":no": -1})},
            ]
        )
    assert copied == []
    assert table.get("BULK#new", "X") is None
