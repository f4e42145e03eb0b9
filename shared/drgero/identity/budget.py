"""Dollar budgets of API tokens, enforced at request time, one conditional write per step.

The *account* of a call is the API token's listing item (user sessions of a workspace share
one account item with no budget, so their spend still shows in the usage report). Money and
the open holds live on that one item, so every step is a single conditional UpdateItem: no
DynamoDB transaction ever touches the hot token item (concurrent transactions on one item fail
with ``TransactionConflict`` in real DynamoDB, and the SDK does not retry them), and a call
makes exactly two budget requests, both serial with the provider call and nothing else.

The life of a paid call (inference, a run, a judge pass):

1. :func:`reserve` the worst-case cost *before* spending: ``remaining -= amount``,
   ``reserved += amount`` and ``holds[id] = {amount, deadline, ...}`` in one update, under the
   condition that the token is live, the hold is new and (for a budgeted token)
   ``remaining >= amount``. DynamoDB conditions cannot add, hence the running ``remaining``.
   Exhausted -> 402 ``budget_exhausted``; revoked -> 401. Retrying with the same id holds once.
2. :func:`settle` to the actual cost: removes the hold, returns the unused part, adds the cost
   to ``spent`` and to the account's month counters; conditioned on the hold being open, so a
   second settle (or a settle after a release) changes nothing.
3. :func:`release` on failure or cancellation: removes the hold and returns all of it.
4. :func:`sweep` (the sweeper's ``reservation_sweep`` job): a hold still open after
   ``auth.budget_reservation_ttl_seconds`` belongs to a caller that died mid-call. Nothing
   proves that the call reached a model, so the hold is *released*, never charged: money is
   never taken for work we cannot show was done. The account keeps a small tombstone
   (``swept[id]``) for a day, so a caller that comes back late still settles exactly once.

The reservation id the caller gets back is a handle: the account it lives on, the amount and
the month are part of it, so settle and release need no read before their one write. Callers
that must release a reservation whose reserve failed ambiguously (a timeout after the write)
take the handle first with :func:`new_reservation_id`.

A cost that cannot be estimated is never free: :func:`reserve_amount_micro` reserves
``auth.budget_unestimated_reserve_usd`` for it. An actual cost above the hold is still charged
in full (the money was spent), which can take ``remaining`` below zero; the next reservation
then fails. Money is integer micro-dollars throughout.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from drgero.core.errors import ApiError
from drgero.core.ids import new_id
from drgero.core.settings import Settings
from drgero.identity.credentials import MICRO, usd
from drgero.identity.principal import Principal, PrincipalKind
from drgero.store.keys import (
    API_TOKEN_PREFIX,
    USAGE_PREFIX,
    accounts_with_holds_pk,
    api_token_key,
    session_spend_key,
    workspace_pk,
)
from drgero.store.table import Condition, MetadataTable, is_conditional_failure, item_of_failure

HOLD_SHARDS = 8  # accounts with open holds are spread over gsi1 partitions HOLDS#0..7
SESSION_SPEND = "sessions"  # the account name of user sessions' spend (no token)
TOMBSTONE_SECONDS = 86_400  # how long a swept hold can still be settled by a late caller
_SESSION_ACCOUNT = "-"


def reserve_amount_micro(settings: Settings, estimated_cost_usd: float | None) -> int:
    """The amount to hold: the estimate rounded up, or the configured maximum when there is
    no usable estimate (unknown price, unknown output length): never zero."""
    if estimated_cost_usd is None or not math.isfinite(estimated_cost_usd) or estimated_cost_usd < 0:
        return max(1, round(settings.auth.budget_unestimated_reserve_usd * MICRO))
    return max(1, math.ceil(estimated_cost_usd * MICRO))


def _month(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m")


# ---------------------------------------------------------------------------- the handle
@dataclass(frozen=True)
class Handle:
    """Where a hold lives and what it holds: ``{workspace}.{token|-}.{amount}.{month}.{hold}``."""

    workspace_id: str
    token_id: str  # "" for a user session
    amount: int
    month: str
    hold: str

    def __str__(self) -> str:
        return ".".join((self.workspace_id, self.token_id or _SESSION_ACCOUNT, str(self.amount), self.month, self.hold))

    @classmethod
    def parse(cls, reservation_id: str) -> Handle:
        try:
            workspace_id, token, amount, month, hold = reservation_id.split(".", 4)
            return cls(workspace_id, "" if token == _SESSION_ACCOUNT else token, int(amount), month, hold)
        except ValueError as exc:
            raise ApiError(404, "not_found", "Reservation not found.") from exc

    @property
    def account(self) -> tuple[str, str]:
        if self.token_id:
            return api_token_key(self.workspace_id, self.token_id)
        return session_spend_key(self.workspace_id)


def _token_id(principal: Principal) -> str:
    return principal.token_id if principal.kind is PrincipalKind.API_TOKEN else ""


def new_reservation_id(
    settings: Settings, principal: Principal, estimated_cost_usd: float | None, now: float | None = None
) -> str:
    """The id :func:`reserve` will use for this call, known before the write is attempted (so an
    ambiguous failure can still be released by it)."""
    now = time.time() if now is None else now
    amount = reserve_amount_micro(settings, estimated_cost_usd)
    return str(Handle(principal.workspace_id, _token_id(principal), amount, _month(now), new_id("resv")))


def _handle_for(
    settings: Settings, principal: Principal, estimated: float | None, reservation_id: str | None, now: float
) -> Handle:
    if reservation_id and reservation_id.startswith(f"{principal.workspace_id}."):  # from new_reservation_id
        handle = Handle.parse(reservation_id)
        if handle.token_id != _token_id(principal):
            raise ValueError("the reservation id belongs to another account")
        return handle
    amount = reserve_amount_micro(settings, estimated)
    hold = reservation_id or new_id("resv")  # a caller's own id makes its retries idempotent
    return Handle(principal.workspace_id, _token_id(principal), amount, _month(now), hold)


def _index_of(handle: Handle) -> dict[str, str]:
    """The sparse index entry that lets the sweeper find an account with holds."""
    pk, sk = handle.account
    shard = zlib.crc32(f"{pk}|{sk}".encode()) % HOLD_SHARDS
    return {":ipk": accounts_with_holds_pk(shard), ":isk": f"{pk}|{sk}"}


# ---------------------------------------------------------------------------- reserve
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
    handle = _handle_for(settings, principal, estimated_cost_usd, reservation_id, now)
    deadline = now + settings.auth.budget_reservation_ttl_seconds
    hold = {"a": handle.amount, "d": deadline, "m": handle.month, "r": run_id, "p": purpose, "c": now}
    condition = "attribute_not_exists(holds.#h)"
    if handle.token_id:  # a live token, and a budgeted one must cover the amount
        condition += (
            " AND attribute_exists(pk) AND revoked = :no"
            " AND (attribute_not_exists(budget_micro_usd) OR remaining_micro_usd >= :a)"
        )
    values = {":a": handle.amount, ":hold": hold, ":zero": 0, **_index_of(handle)}
    if handle.token_id:
        values[":no"] = False
    try:
        _with_maps(
            table,
            handle,
            lambda: table.update(
                *handle.account,
                "SET remaining_micro_usd = if_not_exists(remaining_micro_usd, :zero) - :a, "
                "reserved_micro_usd = if_not_exists(reserved_micro_usd, :zero) + :a, "
                "holds.#h = :hold, gsi1pk = :ipk, gsi1sk = :isk",
                names={"#h": handle.hold},
                values=values,
                condition=Condition(condition),
                return_values="NONE",
                old_item_on_failure=True,
            ),
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        return _refusal(handle, item_of_failure(exc), exc)
    return public_reservation(handle, "held")


def _refusal(handle: Handle, account: dict | None, exc: ClientError) -> dict:
    """Why a reservation's condition failed: a retry of the same hold (returned as is), a
    token gone or revoked (401), or not enough money left (402)."""
    existing = ((account or {}).get("holds") or {}).get(handle.hold)
    if existing is not None:
        again = Handle(handle.workspace_id, handle.token_id, int(existing["a"]), existing["m"], handle.hold)
        return public_reservation(again, "held")
    if account is None or account.get("revoked"):
        raise ApiError(401, "token_revoked", "The token has been revoked.") from exc
    remaining = max(int(account.get("remaining_micro_usd", 0)), 0)
    raise ApiError(
        402,
        "budget_exhausted",
        "This token's budget cannot cover the call "
        f"(needs up to ${handle.amount / MICRO:.6f}, ${remaining / MICRO:.6f} left).",
        {"required_usd": handle.amount / MICRO, "remaining_usd": remaining / MICRO},
    ) from exc


def _with_maps(table: MetadataTable, handle: Handle, write: Any) -> Any:
    """Runs ``write()``; when the account predates the ``holds``/month maps (a token issued
    before them, or the sessions account's first call), creates the maps once and writes again.
    DynamoDB refuses ``SET holds.#h`` while ``holds`` is missing, and that refusal is a
    ValidationException, not a failed condition."""
    try:
        return write()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ValidationException":
            raise
    try:
        table.update(
            *handle.account,
            "SET holds = if_not_exists(holds, :e), swept = if_not_exists(swept, :e), "
            "spent_by_month = if_not_exists(spent_by_month, :e), calls_by_month = if_not_exists(calls_by_month, :e)",
            values={":e": {}},
            condition=Condition("attribute_exists(pk)") if handle.token_id else None,
            return_values="NONE",
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        raise ApiError(401, "token_revoked", "The token has been revoked.") from exc  # it no longer exists
    return write()


# ---------------------------------------------------------------------------- settle / release
def settle(table: MetadataTable, reservation_id: str, actual_cost_usd: float) -> dict:
    """Charges the actual cost and returns the rest of the hold. Exactly once: a second settle,
    or a settle after a release, changes nothing. A hold the sweeper already released is
    charged now at its actual cost (the caller came back after all)."""
    if not math.isfinite(actual_cost_usd) or actual_cost_usd < 0:
        raise ValueError("actual cost must be a finite, non-negative number of dollars")
    handle = Handle.parse(reservation_id)
    actual = round(actual_cost_usd * MICRO)
    charge = (
        "spent_micro_usd = if_not_exists(spent_micro_usd, :zero) + :x, calls = if_not_exists(calls, :zero) + :one, "
        "spent_by_month.#m = if_not_exists(spent_by_month.#m, :zero) + :x, "
        "calls_by_month.#m = if_not_exists(calls_by_month.#m, :zero) + :one"
    )
    names = {"#h": handle.hold, "#m": handle.month}
    if _applied(
        table,
        handle.account,
        "SET remaining_micro_usd = remaining_micro_usd + :back, reserved_micro_usd = reserved_micro_usd - :a, "
        f"{charge} REMOVE holds.#h",
        names,
        {":a": handle.amount, ":back": handle.amount - actual, ":x": actual, ":one": 1, ":zero": 0},
        "holds.#h.a = :a",
    ):
        return public_reservation(handle, "settled", actual)
    # Not held: swept by the sweeper (charge it now, once) or already closed (nothing to do).
    if _applied(
        table,
        handle.account,
        f"SET remaining_micro_usd = remaining_micro_usd - :x, {charge} REMOVE swept.#h",
        names,
        {":x": actual, ":one": 1, ":zero": 0},
        "attribute_exists(swept.#h)",
    ):
        return public_reservation(handle, "settled", actual)
    return public_reservation(handle, "closed")


def release(table: MetadataTable, reservation_id: str) -> dict:
    """Returns the whole hold (the call failed, was cancelled, or its reserve was ambiguous).
    Idempotent; a settled reservation stays settled; an id that never held anything is a no-op."""
    handle = Handle.parse(reservation_id)
    released = _applied(
        table,
        handle.account,
        "SET remaining_micro_usd = remaining_micro_usd + :a, reserved_micro_usd = reserved_micro_usd - :a "
        "REMOVE holds.#h",
        {"#h": handle.hold},
        {":a": handle.amount},
        "holds.#h.a = :a",
    )
    return public_reservation(handle, "released" if released else "closed")


def _applied(
    table: MetadataTable, key: tuple[str, str], expression: str, names: dict, values: dict, condition: str
) -> bool:
    """One conditional UpdateItem; False when its condition did not hold (nothing written)."""
    try:
        table.update(*key, expression, names=names, values=values, condition=Condition(condition), return_values="NONE")
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        return False
    return True


def public_reservation(handle: Handle, state: str, actual_micro: int | None = None) -> dict:
    return {
        "id": str(handle),
        "state": state,
        "amount_usd": usd(handle.amount),
        "actual_usd": usd(actual_micro),
        "token_id": handle.token_id,
    }


# ---------------------------------------------------------------------------- sweep
def sweep(table: MetadataTable, now: float | None = None, max_items: int = 1000) -> dict:
    """Releases holds open past their deadline (see the module doc), prunes old tombstones and
    takes accounts that hold nothing out of the index. Safe to run concurrently with itself
    and with reserve/settle/release: every change is conditioned on what it read."""
    now = time.time() if now is None else now
    swept = 0
    for shard in range(HOLD_SHARDS):
        for entry in table.query_all(accounts_with_holds_pk(shard), index="gsi1"):
            if swept >= max_items:
                return {"swept": swept}
            account = table.get(entry["pk"], entry["sk"])
            if account is not None:
                swept += _sweep_account(table, account, now)
    return {"swept": swept}


def _sweep_account(table: MetadataTable, account: dict, now: float) -> int:
    key = (account["pk"], account["sk"])
    swept = 0
    for hold_id, hold in (account.get("holds") or {}).items():
        if float(hold["d"]) > now:
            continue
        swept += _applied(  # not applied: settled or released meanwhile, nothing to sweep
            table,
            key,
            "SET remaining_micro_usd = remaining_micro_usd + :a, reserved_micro_usd = reserved_micro_usd - :a, "
            "swept.#h = :t REMOVE holds.#h",
            {"#h": hold_id},
            {":a": int(hold["a"]), ":t": {"at": now}},
            "holds.#h.a = :a",
        )
    for hold_id, tomb in (account.get("swept") or {}).items():
        if float(tomb["at"]) + TOMBSTONE_SECONDS <= now:
            table.update(*key, "REMOVE swept.#h", names={"#h": hold_id}, return_values="NONE")
    # Out of the index once it holds nothing (else it stays); a reserve racing this re-sets the
    # entry in its own write.
    _applied(table, key, "REMOVE gsi1pk, gsi1sk", {}, {":zero": 0}, "size(holds) = :zero AND size(swept) = :zero")
    return swept


# ---------------------------------------------------------------------------- usage report
def usage_report(table: MetadataTable, workspace_id: str) -> dict:
    """Spend by token and month: the accounts' own counters, plus the month counters of spend
    that has no account (finished fine-tunes)."""
    months: dict[str, dict[str, int]] = {}

    def add_month(month: str, spent: Any, calls: Any) -> None:
        row = months.setdefault(month, {"spent": 0, "calls": 0})
        row["spent"] += int(spent or 0)
        row["calls"] += int(calls or 0)

    by_token = []
    accounts = list(table.query_all(workspace_pk(workspace_id), API_TOKEN_PREFIX))
    sessions = table.get(*session_spend_key(workspace_id))
    for account in [*accounts, *([sessions] if sessions else [])]:
        for month, spent in (account.get("spent_by_month") or {}).items():
            add_month(month, spent, (account.get("calls_by_month") or {}).get(month, 0))
        if account.get("calls") or account.get("spent_micro_usd"):
            by_token.append(
                {
                    "token_id": account.get("token_id", SESSION_SPEND),
                    "name": account.get("name", ""),
                    "spent_usd": usd(account.get("spent_micro_usd", 0)),
                    "calls": int(account.get("calls", 0)),
                }
            )
    for item in table.query_all(workspace_pk(workspace_id), f"{USAGE_PREFIX}MONTH#"):
        add_month(item["sk"].rsplit("#", 1)[1], item.get("spent_micro_usd"), item.get("calls"))
    by_month = [{"month": m, "spent_usd": usd(r["spent"]), "calls": r["calls"]} for m, r in sorted(months.items())]
    return {
        "workspace_id": workspace_id,
        "total_usd": usd(sum(r["spent"] for r in months.values())),
        "by_month": by_month,
        "by_token": by_token,
    }
