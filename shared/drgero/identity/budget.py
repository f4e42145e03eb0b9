"""Dollar budgets of API tokens, enforced at request time, atomically.

The life of a paid call (inference, a run, a judge pass):

1. :func:`reserve` the worst-case cost *before* spending. One TransactWriteItems creates the
   reservation item and moves the amount from the token's ``remaining_micro_usd`` to its
   ``reserved_micro_usd`` under the condition ``remaining_micro_usd >= :amount`` (DynamoDB
   conditions cannot add, so the token keeps a running ``remaining``). Exhausted -> 402
   ``budget_exhausted``. Every API token is subject to its budget, owners' included.
2. :func:`settle` to the actual cost afterwards: the unused part returns to ``remaining``, the
   actual cost is added to ``spent_micro_usd`` and to the workspace's usage counters (by
   month, by run, by token). Idempotent: settling twice changes nothing.
3. :func:`release` on failure or cancellation: the whole amount returns. Idempotent.
4. :func:`sweep` (the sweeper's ``reservation_sweep`` job): a reservation still open after
   ``auth.budget_reservation_ttl_seconds`` belongs to a caller that died mid-call; whether the
   provider was paid is unknown, so it is charged at its reserved (worst-case) amount and
   marked ``swept``. A late :func:`settle` then corrects it to the actual cost and a late
   :func:`release` refunds it, so every order of events ends at the right numbers.

A cost that cannot be estimated is never free: :func:`reserve_amount_micro` reserves
``auth.budget_unestimated_reserve_usd`` for it. An actual cost above the reservation is still
charged in full (the money was spent), which can take ``remaining`` below zero; the next
reservation then fails. Reservations of principals without a budgeted token (user sessions)
are recorded the same way, so their spend shows in the usage report.

Money is integer micro-dollars throughout.
"""

from __future__ import annotations

import math
import time
import zlib
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from drgero.core.clock import iso_epoch
from drgero.core.errors import ApiError, conflict
from drgero.core.ids import new_id
from drgero.core.settings import Settings
from drgero.identity.credentials import MICRO, get_api_token, usd
from drgero.identity.principal import Principal, PrincipalKind
from drgero.store.keys import (
    API_TOKEN_PREFIX,
    USAGE_PREFIX,
    api_token_key,
    open_reservations_pk,
    reservation_key,
    usage_month_sk,
    usage_run_sk,
    usage_sk_parts,
    usage_token_sk,
    workspace_pk,
)
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

OPEN_SHARDS = 8  # open reservations are spread over gsi1 partitions RESV#OPEN#0..7
HELD, SETTLED, RELEASED, SWEPT = "held", "settled", "released", "swept"
SESSION_SPEND = "sessions"  # usage key for spend by user sessions (no token)


def _open_partition(reservation_id: str) -> str:
    return open_reservations_pk(zlib.crc32(reservation_id.encode()) % OPEN_SHARDS)


def _iso_sortable(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _month(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m")


def reserve_amount_micro(settings: Settings, estimated_cost_usd: float | None) -> int:
    """The amount to hold: the estimate rounded up, or the configured maximum when there is
    no usable estimate (unknown price, unknown output length): never zero."""
    if estimated_cost_usd is None or not math.isfinite(estimated_cost_usd) or estimated_cost_usd < 0:
        return max(1, round(settings.auth.budget_unestimated_reserve_usd * MICRO))
    return max(1, math.ceil(estimated_cost_usd * MICRO))


def _budgeted_token_id(principal: Principal) -> str:
    return principal.token_id if principal.kind is PrincipalKind.API_TOKEN else ""


def reserve(
    table: MetadataTable,
    settings: Settings,
    principal: Principal,
    estimated_cost_usd: float | None,
    run_id: str = "",
    purpose: str = "",
    reservation_id: str | None = None,
    now: float | None = None,
) -> dict:
    """Holds the worst-case cost; 402 ``budget_exhausted`` when the token cannot cover it.
    Passing the same ``reservation_id`` again returns the first reservation (safe retries)."""
    now = time.time() if now is None else now
    reservation_id = reservation_id or new_id("resv")
    amount = reserve_amount_micro(settings, estimated_cost_usd)
    token_id = _budgeted_token_id(principal)
    budgeted = False
    ops: list[dict] = []
    if token_id:
        token = get_api_token(table, principal.workspace_id, token_id)
        if not token or token.get("revoked"):
            raise ApiError(401, "token_revoked", "The token has been revoked.")
        budgeted = "budget_micro_usd" in token
        if budgeted:
            ops.append(
                {
                    "update": api_token_key(principal.workspace_id, token_id),
                    "expression": "SET remaining_micro_usd = remaining_micro_usd - :a, "
                    "reserved_micro_usd = reserved_micro_usd + :a",
                    "values": {":a": amount},
                    "condition": Condition("remaining_micro_usd >= :a", values={":a": amount}),
                }
            )
        else:
            ops.append(
                {
                    "update": api_token_key(principal.workspace_id, token_id),
                    "expression": "SET reserved_micro_usd = reserved_micro_usd + :a",
                    "values": {":a": amount},
                    "condition": Condition("attribute_exists(pk) AND attribute_not_exists(budget_micro_usd)"),
                }
            )
    deadline = now + settings.auth.budget_reservation_ttl_seconds
    pk, sk = reservation_key(reservation_id)
    item = {
        "pk": pk,
        "sk": sk,
        "gsi1pk": _open_partition(reservation_id),
        "gsi1sk": _iso_sortable(deadline),
        "reservation_id": reservation_id,
        "workspace_id": principal.workspace_id,
        "token_id": token_id,
        "budgeted": budgeted,
        "amount_micro_usd": amount,
        "state": HELD,
        "run_id": run_id,
        "purpose": purpose,
        "month": _month(now),
        "created_at": now,
        "deadline": deadline,
        "expires_at": int(deadline) + 90 * 86400,  # table TTL: settled records go after 90 days
    }
    ops.insert(0, {"put": item, "condition": Condition("attribute_not_exists(pk)")})
    try:
        table.transact(ops)
    except ClientError as exc:  # failed conditions are mapped below; others re-raised
        if not is_conditional_failure(exc):
            raise
        existing = table.get(pk, sk)
        if existing and existing.get("workspace_id") == principal.workspace_id:
            return public_reservation(existing)  # a retry of the same reservation
        remaining = (get_api_token(table, principal.workspace_id, token_id) or {}).get("remaining_micro_usd", 0)
        raise ApiError(
            402,
            "budget_exhausted",
            "This token's budget cannot cover the call "
            f"(needs up to ${amount / MICRO:.6f}, ${max(remaining, 0) / MICRO:.6f} left).",
            {"required_usd": amount / MICRO, "remaining_usd": max(remaining, 0) / MICRO},
        ) from exc
    return public_reservation(item)


def public_reservation(item: dict) -> dict:
    return {
        "id": item["reservation_id"],
        "state": item["state"],
        "amount_usd": usd(item["amount_micro_usd"]),
        "actual_usd": usd(item.get("actual_micro_usd")),
        "token_id": item.get("token_id", ""),
        "run_id": item.get("run_id", ""),
        "created_at": iso_epoch(item.get("created_at")),
    }


def _usage_ops(item: dict, delta_micro: int, calls: int) -> list[dict]:
    """ADDs ``delta_micro`` to the workspace's usage counters (month, run, token)."""
    ws = item["workspace_id"]
    sort_keys = [usage_month_sk(item["month"]), usage_token_sk(item.get("token_id") or SESSION_SPEND)]
    if item.get("run_id"):
        sort_keys.append(usage_run_sk(item["run_id"]))
    return [
        {
            "update": (workspace_pk(ws), sk),
            "expression": "ADD spent_micro_usd :d, calls :c",
            "values": {":d": delta_micro, ":c": calls},
        }
        for sk in sort_keys
    ]


def _token_op(item: dict, reserved_delta: int, spent_delta: int, remaining_delta: int) -> list[dict]:
    if not item.get("token_id"):
        return []
    parts = ["reserved_micro_usd = reserved_micro_usd + :r", "spent_micro_usd = spent_micro_usd + :s"]
    values = {":r": reserved_delta, ":s": spent_delta}
    if item.get("budgeted"):
        parts.append("remaining_micro_usd = remaining_micro_usd + :m")
        values[":m"] = remaining_delta
    return [
        {
            "update": api_token_key(item["workspace_id"], item["token_id"]),
            "expression": "SET " + ", ".join(parts),
            "values": values,
        }
    ]


def _transition(
    table: MetadataTable, item: dict, new_state: str, extra_ops: list[dict], actual: int | None, now: float
) -> None:
    expression = "SET #state = :new, closed_at = :now REMOVE gsi1pk, gsi1sk"
    values: dict[str, Any] = {":new": new_state, ":now": now}
    if actual is not None:
        expression = "SET #state = :new, closed_at = :now, actual_micro_usd = :actual REMOVE gsi1pk, gsi1sk"
        values[":actual"] = actual
    table.transact(
        [
            {
                "update": reservation_key(item["reservation_id"]),
                "expression": expression,
                "names": {"#state": "state"},
                "values": values,
                "condition": Condition("#state = :old", names={"#state": "state"}, values={":old": item["state"]}),
            },
            *extra_ops,
        ]
    )


def _load(table: MetadataTable, reservation_id: str) -> dict:
    item = table.get(*reservation_key(reservation_id))
    if not item:
        raise ApiError(404, "not_found", "Reservation not found.")
    return item


def _retrying(table: MetadataTable, reservation_id: str, step) -> dict:
    """Runs ``step(item)`` and, when another writer moved the reservation meanwhile, re-reads
    it and decides again (a few rounds at most: each round means real progress elsewhere)."""
    for _ in range(5):
        item = _load(table, reservation_id)
        try:
            return step(item)
        except ClientError as exc:  # a failed condition means: state changed, decide again
            if not is_conditional_failure(exc):
                raise
    raise conflict("conflict", "The reservation kept changing; retry.")


def settle(table: MetadataTable, reservation_id: str, actual_cost_usd: float, now: float | None = None) -> dict:
    """Charges the actual cost and returns the rest of the hold. Idempotent."""
    now = time.time() if now is None else now
    if not math.isfinite(actual_cost_usd) or actual_cost_usd < 0:
        raise ValueError("actual cost must be a finite, non-negative number of dollars")
    actual = round(actual_cost_usd * MICRO)

    def step(item: dict) -> dict:
        amount = item["amount_micro_usd"]
        if item["state"] == SETTLED:
            return public_reservation(item)
        if item["state"] == RELEASED:
            raise conflict("reservation_released", "The reservation was already released.")
        if item["state"] == HELD:
            ops = _token_op(item, -amount, actual, amount - actual) + _usage_ops(item, actual, 1)
        else:  # SWEPT: it was charged at `amount`; correct to the actual cost
            ops = _token_op(item, 0, actual - amount, amount - actual) + _usage_ops(item, actual - amount, 0)
        _transition(table, item, SETTLED, ops, actual, now)
        return public_reservation({**item, "state": SETTLED, "actual_micro_usd": actual})

    return _retrying(table, reservation_id, step)


def release(table: MetadataTable, reservation_id: str, now: float | None = None) -> dict:
    """Returns the whole hold (the call failed or was cancelled). Idempotent; a settled
    reservation stays settled."""
    now = time.time() if now is None else now

    def step(item: dict) -> dict:
        amount = item["amount_micro_usd"]
        if item["state"] in (SETTLED, RELEASED):
            return public_reservation(item)
        if item["state"] == HELD:
            ops = _token_op(item, -amount, 0, amount)
        else:  # SWEPT: refund what the sweeper charged
            ops = _token_op(item, 0, -amount, amount) + _usage_ops(item, -amount, -1)
        _transition(table, item, RELEASED, ops, 0, now)
        return public_reservation({**item, "state": RELEASED, "actual_micro_usd": 0})

    return _retrying(table, reservation_id, step)


def sweep(table: MetadataTable, now: float | None = None, max_items: int = 1000) -> dict:
    """Charges reservations open past their deadline at their reserved amount (see the module
    doc). Safe to run concurrently with itself and with settle/release."""
    now = time.time() if now is None else now
    cutoff = _iso_sortable(now)
    swept = 0
    for shard in range(OPEN_SHARDS):
        for entry in table.query_all(open_reservations_pk(shard), index="gsi1"):
            if entry["gsi1sk"] > cutoff or swept >= max_items:
                break  # ascending by deadline: the rest are younger

            def step(item: dict) -> dict:
                if item["state"] != HELD:
                    return {"swept": False}
                amount = item["amount_micro_usd"]
                ops = _token_op(item, -amount, amount, 0) + _usage_ops(item, amount, 1)
                _transition(table, item, SWEPT, ops, None, now)
                return {"swept": True}

            if _retrying(table, entry["reservation_id"], step)["swept"]:
                swept += 1
    return {"swept": swept}


# ---------------------------------------------------------------------------- usage report
def usage_report(table: MetadataTable, workspace_id: str) -> dict:
    """Spend by token, run and month (settled and swept charges)."""
    by: dict[str, list[dict]] = {"MONTH": [], "TOKEN": [], "RUN": []}
    for item in table.query_all(workspace_pk(workspace_id), USAGE_PREFIX):
        kind, ident = usage_sk_parts(item["sk"])
        if kind in by:
            by[kind].append(
                {"id": ident, "spent_usd": usd(item.get("spent_micro_usd", 0)), "calls": item.get("calls", 0)}
            )
    names = {i["token_id"]: i.get("name", "") for i in table.query_all(workspace_pk(workspace_id), API_TOKEN_PREFIX)}
    by_token = [{"token_id": r["id"], "name": names.get(r["id"], ""), **_money(r)} for r in by["TOKEN"]]
    return {
        "workspace_id": workspace_id,
        "total_usd": sum(r["spent_usd"] for r in by["MONTH"]),
        "by_month": [{"month": r["id"], **_money(r)} for r in sorted(by["MONTH"], key=lambda r: r["id"])],
        "by_token": by_token,
        "by_run": [{"run_id": r["id"], **_money(r)} for r in by["RUN"]],
    }


def _money(row: dict) -> dict:
    return {"spent_usd": row["spent_usd"], "calls": row["calls"]}
