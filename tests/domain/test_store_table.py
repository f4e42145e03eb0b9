"""The metadata-table wrapper against the embedded DynamoDB."""

import pytest
from botocore.exceptions import ClientError

from drgero.store.table import Condition, MetadataTable, is_conditional_failure


@pytest.fixture
def table(aws):
    return MetadataTable(aws.clients.dynamodb, aws.settings.aws.table_name)


def test_round_trip_keeps_types(table):
    table.put({"pk": "A", "sk": "1", "n": 3, "f": 0.25, "s": "x", "l": [1, "a"], "m": {"k": 2}, "none": None})
    assert table.get("A", "1") == {"pk": "A", "sk": "1", "n": 3, "f": 0.25, "s": "x", "l": [1, "a"], "m": {"k": 2}}


def test_conditional_put_refuses_second_writer(table):
    table.put({"pk": "A", "sk": "1"}, Condition("attribute_not_exists(pk)"))
    with pytest.raises(ClientError) as err:
        table.put({"pk": "A", "sk": "1"}, Condition("attribute_not_exists(pk)"))
    assert is_conditional_failure(err.value)


def test_counter_update_with_threshold(table):
    table.put({"pk": "B", "sk": "c", "remaining": 10})
    table.update(
        "B",
        "c",
        "SET remaining = remaining - :c",
        values={":c": 4},
        condition=Condition("remaining >= :c", values={":c": 4}),
    )
    with pytest.raises(ClientError) as err:
        table.update(
            "B",
            "c",
            "SET remaining = remaining - :c",
            values={":c": 7},
            condition=Condition("remaining >= :c", values={":c": 7}),
        )
    assert is_conditional_failure(err.value)
    assert table.get("B", "c")["remaining"] == 6


def test_transaction_is_all_or_nothing(table):
    table.put({"pk": "C", "sk": "x", "v": 1})
    with pytest.raises(ClientError) as err:
        table.transact(
            [
                {"put": {"pk": "C", "sk": "y"}},
                {
                    "update": ("C", "x"),
                    "expression": "SET v = :v",
                    "values": {":v": 2},
                    "condition": Condition("v = :old", values={":old": 99}),
                },
            ]
        )
    assert is_conditional_failure(err.value)
    assert table.get("C", "y") is None
    assert table.get("C", "x")["v"] == 1


def test_query_pages_by_prefix(table):
    for i in range(5):
        table.put({"pk": "D", "sk": f"ITEM#{i}", "gsi1pk": "G", "gsi1sk": f"{i}"})
    table.put({"pk": "D", "sk": "OTHER"})
    assert [i["sk"] for i in table.query_all("D", "ITEM#")] == [f"ITEM#{i}" for i in range(5)]
    page, nxt = table.query("D", "ITEM#", limit=2)
    assert len(page) == 2 and nxt is not None
    assert len(list(table.query_all("G", index="gsi1"))) == 5
