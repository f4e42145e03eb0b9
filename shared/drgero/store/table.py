"""A thin wrapper over the low-level DynamoDB client for the single metadata table.

Items are plain dicts of Python values. Floats are stored as Decimal and come back as int
or float; money is always an integer number of micro-dollars (``*_micro_usd``) so sums are
exact. Every write that must not race takes a ``condition`` (a ConditionExpression string
with its names/values), because DynamoDB conditions are our locks and our counters.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return {_from_dynamo(v) for v in value}
    return value


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(_to_dynamo(v)) for k, v in item.items() if v is not None}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


@dataclass
class Condition:
    """A ConditionExpression with its placeholders, e.g.
    ``Condition("attribute_not_exists(pk)")`` or
    ``Condition("#r >= :cost", names={"#r": "remaining"}, values={":cost": 250000})``."""

    expression: str
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def apply(self, request: dict[str, Any]) -> dict[str, Any]:
        request["ConditionExpression"] = self.expression
        _merge_placeholders(request, self.names, self.values)
        return request


def _merge_placeholders(request: dict[str, Any], names: dict[str, str], values: dict[str, Any]) -> None:
    if names:
        request.setdefault("ExpressionAttributeNames", {}).update(names)
    if values:
        request.setdefault("ExpressionAttributeValues", {}).update(serialize(values))


def item_of_failure(error: Exception) -> dict[str, Any] | None:
    """The item a failed conditional write saw (asked with ``old_item_on_failure``); None when
    the item did not exist or the error carries none."""
    item = getattr(error, "response", {}).get("Item")
    return deserialize(item) if item else None


def is_conditional_failure(error: Exception) -> bool:
    """True for a failed ConditionExpression (plain write or inside a transaction)."""
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = getattr(error, "response", {}).get("CancellationReasons", [])
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)
    return False


class MetadataTable:
    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self.client = dynamodb_client
        self.name = table_name

    # ---- single items
    def get(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.name, Key=serialize({"pk": pk, "sk": sk}), ConsistentRead=consistent
        )
        item = response.get("Item")
        return deserialize(item) if item else None

    def get_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Strongly consistent items of up to 100 keys in ONE BatchGetItem (one request where
        several GetItems would be serial ones); keys DynamoDB leaves unprocessed (throttling)
        are asked again. Missing items are absent from the result, keyed by ``(pk, sk)``."""
        wanted = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], dict[str, Any]] = {}
        pending: dict[str, Any] = {
            self.name: {"Keys": [serialize({"pk": pk, "sk": sk}) for pk, sk in wanted], "ConsistentRead": True}
        }
        for _ in range(8):
            if not pending:
                return found
            response = self.client.batch_get_item(RequestItems=pending)
            for raw in response.get("Responses", {}).get(self.name, []):
                item = deserialize(raw)
                found[(item["pk"], item["sk"])] = item
            pending = response.get("UnprocessedKeys") or {}
        if pending:  # still throttled after the SDK's own retries and ours: the caller retries
            raise RuntimeError("BatchGetItem left keys unprocessed")
        return found

    def put(self, item: dict[str, Any], condition: Condition | None = None) -> None:
        request: dict[str, Any] = {"TableName": self.name, "Item": serialize(item)}
        if condition:
            condition.apply(request)
        self.client.put_item(**request)

    def update(
        self,
        pk: str,
        sk: str,
        expression: str,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        condition: Condition | None = None,
        return_values: str = "ALL_NEW",
        old_item_on_failure: bool = False,
    ) -> dict[str, Any]:
        """An UpdateItem; returns the item's attributes as ``return_values`` asks.
        ``old_item_on_failure``: a failed condition carries the item as it was
        (:func:`item_of_failure`), so the caller learns why without a second read."""
        request: dict[str, Any] = {
            "TableName": self.name,
            "Key": serialize({"pk": pk, "sk": sk}),
            "UpdateExpression": expression,
            "ReturnValues": return_values,
        }
        if old_item_on_failure:
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        _merge_placeholders(request, names or {}, values or {})
        if condition:
            request["ConditionExpression"] = condition.expression
            _merge_placeholders(request, condition.names, condition.values)
        response = self.client.update_item(**request)
        return deserialize(response.get("Attributes", {}))

    def delete(self, pk: str, sk: str, condition: Condition | None = None) -> None:
        request: dict[str, Any] = {"TableName": self.name, "Key": serialize({"pk": pk, "sk": sk})}
        if condition:
            condition.apply(request)
        self.client.delete_item(**request)

    # ---- collections
    def query(
        self,
        pk: str,
        sk_prefix: str | None = None,
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
        start_key: dict[str, Any] | None = None,
        consistent: bool = False,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of a partition (optionally by sort-key prefix, optionally on ``gsi1``).
        Returns the items and the key to continue from (None at the end)."""
        pk_name, sk_name = ("gsi1pk", "gsi1sk") if index else ("pk", "sk")
        request: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": pk_name},
            "ExpressionAttributeValues": serialize({":pk": pk}),
            "ScanIndexForward": forward,
        }
        if sk_prefix:
            request["KeyConditionExpression"] += " AND begins_with(#sk, :sk)"
            request["ExpressionAttributeNames"]["#sk"] = sk_name
            request["ExpressionAttributeValues"].update(serialize({":sk": sk_prefix}))
        if index:
            request["IndexName"] = index
        elif consistent:
            request["ConsistentRead"] = True
        if limit:
            request["Limit"] = limit
        if start_key:
            request["ExclusiveStartKey"] = serialize(start_key)
        response = self.client.query(**request)
        last = response.get("LastEvaluatedKey")
        return [deserialize(i) for i in response.get("Items", [])], (deserialize(last) if last else None)

    def query_all(
        self,
        pk: str,
        sk_prefix: str | None = None,
        index: str | None = None,
        forward: bool = True,
        consistent: bool = False,
    ) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            items, start = self.query(
                pk, sk_prefix, index=index, forward=forward, start_key=start, consistent=consistent
            )
            yield from items
            if not start:
                return

    # ---- transactions
    def transact(self, operations: list[dict[str, Any]]) -> None:
        """TransactWriteItems. Each operation is one of
        ``{"put": item, "condition": Condition?}``,
        ``{"update": (pk, sk), "expression": str, "names": {}, "values": {}, "condition": Condition?}``,
        ``{"delete": (pk, sk), "condition": Condition?}``,
        ``{"check": (pk, sk), "condition": Condition}``."""
        items = []
        for op in operations:
            condition: Condition | None = op.get("condition")
            if "put" in op:
                entry: dict[str, Any] = {"TableName": self.name, "Item": serialize(op["put"])}
                kind = "Put"
            elif "update" in op:
                pk, sk = op["update"]
                entry = {
                    "TableName": self.name,
                    "Key": serialize({"pk": pk, "sk": sk}),
                    "UpdateExpression": op["expression"],
                }
                _merge_placeholders(entry, op.get("names") or {}, op.get("values") or {})
                kind = "Update"
            elif "delete" in op:
                pk, sk = op["delete"]
                entry = {"TableName": self.name, "Key": serialize({"pk": pk, "sk": sk})}
                kind = "Delete"
            else:
                pk, sk = op["check"]
                entry = {"TableName": self.name, "Key": serialize({"pk": pk, "sk": sk})}
                kind = "ConditionCheck"
            if condition:
                entry["ConditionExpression"] = condition.expression
                _merge_placeholders(entry, condition.names, condition.values)
            items.append({kind: entry})
        self.client.transact_write_items(TransactItems=items)
