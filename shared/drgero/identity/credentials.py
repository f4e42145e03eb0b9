"""The credential store: API tokens (``drgero_``) and dataset push tokens (``hpd_``).

Two items per token (see docs/data-model.md):

- ``CRED#{sha256(secret)}`` / ``CRED``: what the authorizer reads in one GetItem (kind,
  workspace, token id, scopes, expiry, revoked, leaderboard for ``hpd_``). The secret itself is
  never stored; a rotated token has one CRED item per live secret.
- the listing entry (``WS#{ws}`` / ``TOKEN#{id}`` for API tokens, ``LB#{lb}`` / ``DSTOKEN#{id}``
  for dataset tokens): display fields, the current credential hash, and for API tokens the
  budget counters (``budget_micro_usd``, ``remaining_micro_usd``, ``reserved_micro_usd``,
  ``spent_micro_usd``) that :mod:`drgero.identity.budget` moves atomically.

A workspace's live (unrevoked) API tokens are counted in one item (``WS#{ws}`` /
``TOKENCOUNT``) that the issuing and revoking transactions move, so a token limit is exact
under concurrent creates (a count-then-create check lets every racer through). A workspace
from before the counter existed gets it initialised from a count, once, by a conditional put.

Hashes are plain SHA-256: a token carries ~190 random bits, so unlike a password its hash
cannot be brute-forced, and a pepper would only add a rotation hazard.

This module is imported by the authorizer: standard library + the table wrapper only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from drgero.core.clock import iso_epoch
from drgero.core.errors import ApiError
from drgero.core.ids import new_id
from drgero.identity import tokens
from drgero.identity.principal import PrincipalKind
from drgero.store.keys import (
    API_TOKEN_PREFIX,
    DATASET_TOKEN_PREFIX,
    api_token_counter_key,
    api_token_key,
    cred_key,
    dataset_token_key,
    leaderboard_pk,
    workspace_pk,
)
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

MICRO = 1_000_000


def usd(micro: int | None) -> float | None:
    return None if micro is None else micro / MICRO


def to_micro(amount_usd: float) -> int:
    return round(amount_usd * MICRO)


@dataclass(frozen=True)
class CredentialRecord:
    """The authorizer's view of one secret."""

    kind: PrincipalKind
    workspace_id: str
    token_id: str
    scopes: frozenset[str]
    leaderboard_id: str
    expires_at: float | None  # epoch seconds; None = never
    revoked: bool

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


def lookup_credential(table: MetadataTable, secret: str) -> CredentialRecord | None:
    """One consistent GetItem by hash. The caller has already run ``tokens.parse``."""
    secret_hash = tokens.hash_secret(secret)
    item = table.get(*cred_key(secret_hash))
    # The key match is the lookup; comparing the stored hash too, in constant time, guards
    # against a misfiled item ever authenticating the wrong secret.
    if not item or not tokens.secrets_equal(str(item.get("secret_hash", "")), secret_hash):
        return None
    return CredentialRecord(
        kind=PrincipalKind(item["kind"]),
        workspace_id=item["workspace_id"],
        token_id=item["token_id"],
        scopes=frozenset(item.get("scopes") or ()),
        leaderboard_id=item.get("leaderboard_id", ""),
        expires_at=item.get("token_expires_at"),
        revoked=bool(item.get("revoked")),
    )


def _cred_item(secret: str, kind: PrincipalKind, workspace_id: str, token_id: str, **extra: Any) -> dict:
    secret_hash = tokens.hash_secret(secret)
    pk, sk = cred_key(secret_hash)
    return {
        "pk": pk,
        "sk": sk,
        "secret_hash": secret_hash,
        "kind": kind.value,
        "workspace_id": workspace_id,
        "token_id": token_id,
        "revoked": False,
        **extra,
    }


_NEW = Condition("attribute_not_exists(pk)")


# ---------------------------------------------------------------------------- API tokens
def issue_api_token(
    table: MetadataTable,
    workspace_id: str,
    name: str,
    scopes: frozenset[str] | set[str] | list[str],
    expires_at: float | None = None,
    budget_usd: float | None = None,
    created_by: str = "",
    now: float | None = None,
    max_live: int | None = None,
) -> tuple[str, dict]:
    """Creates an API token. Returns the secret (shown once) and its public record.
    ``max_live``: the workspace's limit of live tokens (403 ``token_limit`` at it), exact under
    concurrency: the counter moves in the same transaction as the token's items."""
    now = time.time() if now is None else now
    secret = tokens.generate(tokens.API_TOKEN_PREFIX)
    token_id = new_id("tok")
    scope_list = sorted(set(scopes))
    shown = tokens.display(secret)
    cred = _cred_item(
        secret, PrincipalKind.API_TOKEN, workspace_id, token_id, scopes=scope_list, token_expires_at=expires_at
    )
    pk, sk = api_token_key(workspace_id, token_id)
    listing: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "token_id": token_id,
        "name": name,
        "scopes": scope_list,
        "prefix": shown["prefix"],
        "last4": shown["last4"],
        "created_at": now,
        "created_by": created_by,
        "token_expires_at": expires_at,
        "cred_hash": cred["secret_hash"],
        "previous": [],
        "revoked": False,
        "spent_micro_usd": 0,
        "reserved_micro_usd": 0,
        "remaining_micro_usd": 0,
        # The budget account's maps (drgero.identity.budget): open holds, holds the sweeper
        # released, spend and calls by month.
        "holds": {},
        "swept": {},
        "spent_by_month": {},
        "calls_by_month": {},
    }
    if budget_usd is not None:
        listing["budget_micro_usd"] = to_micro(budget_usd)
        listing["remaining_micro_usd"] = to_micro(budget_usd)
    _ensure_token_counter(table, workspace_id)
    counter: dict[str, Any] = {
        "update": api_token_counter_key(workspace_id),
        "expression": "ADD #c :one",
        "names": {"#c": "count"},
        "values": {":one": 1},
    }
    if max_live is not None:
        counter["condition"] = Condition("#c < :max", names={"#c": "count"}, values={":max": max_live})
    try:
        table.transact([{"put": cred, "condition": _NEW}, {"put": listing, "condition": _NEW}, counter])
    except ClientError as exc:
        if max_live is not None and _failed_index(exc) == 2:
            raise ApiError(
                403, "token_limit", f"A workspace may hold {max_live} live tokens; revoke some first."
            ) from exc
        raise
    return secret, public_api_token(listing)


def _ensure_token_counter(table: MetadataTable, workspace_id: str) -> None:
    """Initialises the live-token counter from a count when the workspace has none yet (created
    before it existed). Concurrent initialisers agree: the first conditional put wins."""
    if table.get(*api_token_counter_key(workspace_id)) is not None:
        return
    pk, sk = api_token_counter_key(workspace_id)
    try:
        table.put({"pk": pk, "sk": sk, "count": count_api_tokens(table, workspace_id)}, condition=_NEW)
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise


def _failed_index(exc: ClientError) -> int | None:
    """The index of the first transaction item whose condition failed, if any."""
    reasons = (getattr(exc, "response", None) or {}).get("CancellationReasons") or []
    for index, reason in enumerate(reasons):
        if reason.get("Code") == "ConditionalCheckFailed":
            return index
    return None


def public_api_token(item: dict) -> dict:
    """What a listing may show: never the secret nor its hash."""
    return {
        "id": item["token_id"],
        "name": item.get("name", ""),
        "prefix": item["prefix"],
        "last4": item["last4"],
        "display": f"{item['prefix']}…{item['last4']}",
        "scopes": item.get("scopes", []),
        "created_at": iso_epoch(item.get("created_at")),
        "expires_at": iso_epoch(item.get("token_expires_at")),
        "last_used_at": iso_epoch(item.get("last_used_at")),
        "revoked": bool(item.get("revoked")),
        "budget_usd": usd(item.get("budget_micro_usd")),
        # An unbudgeted token keeps a running `remaining` too (the budget module's one update
        # form serves both kinds), but without a budget it means nothing: not shown.
        "remaining_usd": usd(item.get("remaining_micro_usd")) if "budget_micro_usd" in item else None,
        "reserved_usd": usd(item.get("reserved_micro_usd", 0)),
        "spent_usd": usd(item.get("spent_micro_usd", 0)),
        "previous_secrets": [
            {"display": f"{item['prefix']}…{p['last4']}", "expires_at": iso_epoch(p.get("expires_at"))}
            for p in item.get("previous", [])
        ],
    }


def get_api_token(table: MetadataTable, workspace_id: str, token_id: str) -> dict | None:
    return table.get(*api_token_key(workspace_id, token_id))


def list_api_tokens(table: MetadataTable, workspace_id: str) -> list[dict]:
    return [public_api_token(i) for i in table.query_all(workspace_pk(workspace_id), API_TOKEN_PREFIX)]


def count_api_tokens(table: MetadataTable, workspace_id: str) -> int:
    return sum(1 for i in table.query_all(workspace_pk(workspace_id), API_TOKEN_PREFIX) if not i.get("revoked"))


def revoke_api_token(table: MetadataTable, workspace_id: str, token_id: str, now: float | None = None) -> dict | None:
    """Revokes every live secret of the token. Idempotent; None when there is no such token.
    The live-token counter moves only on the revocation that changed the token (a condition on
    ``revoked``), so a repeated or concurrent revoke never frees a slot twice."""
    now = time.time() if now is None else now
    item = get_api_token(table, workspace_id, token_id)
    if not item:
        return None
    if item.get("revoked"):
        return public_api_token(item)
    _ensure_token_counter(table, workspace_id)
    hashes = [item["cred_hash"], *(p["cred_hash"] for p in item.get("previous", []))]
    ops: list[dict] = [
        {
            "update": api_token_key(workspace_id, token_id),
            "expression": "SET revoked = :t, revoked_at = if_not_exists(revoked_at, :now)",
            "values": {":t": True, ":f": False, ":now": now},
            "condition": Condition("attribute_exists(pk) AND revoked = :f"),
        },
        {
            "update": api_token_counter_key(workspace_id),
            "expression": "ADD #c :minus",
            "names": {"#c": "count"},
            "values": {":minus": -1},
        },
    ]
    for h in hashes:
        ops.append(
            {
                "update": cred_key(h),
                "expression": "SET revoked = :t",
                "values": {":t": True},
                "condition": Condition("attribute_exists(pk)"),
            }
        )
    try:
        table.transact(ops)
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        # Revoked meanwhile (a concurrent revoke won), or rotated: read what is there now.
        current = get_api_token(table, workspace_id, token_id)
        if current and current.get("revoked"):
            return public_api_token(current)
        return revoke_api_token(table, workspace_id, token_id, now)
    item.update(revoked=True, revoked_at=item.get("revoked_at", now))
    return public_api_token(item)


def rotate_api_token(
    table: MetadataTable, workspace_id: str, token_id: str, grace_seconds: int, now: float | None = None
) -> tuple[str, dict] | None:
    """A new secret for the same token (same id, scopes, budget and spend); the old secret
    keeps working until ``now + grace_seconds`` and then answers 401 ``token_expired``.
    None when there is no such live token. A concurrent rotation loses with a 409."""
    now = time.time() if now is None else now
    item = get_api_token(table, workspace_id, token_id)
    if not item or item.get("revoked"):
        return None
    secret = tokens.generate(tokens.API_TOKEN_PREFIX)
    shown = tokens.display(secret)
    old_hash = item["cred_hash"]
    token_expiry = item.get("token_expires_at")
    old_expiry = now + grace_seconds if token_expiry is None else min(token_expiry, now + grace_seconds)
    cred = _cred_item(
        secret,
        PrincipalKind.API_TOKEN,
        workspace_id,
        token_id,
        scopes=item.get("scopes", []),
        token_expires_at=token_expiry,
    )
    # Secrets already past their grace period are dropped from the listing (their CRED items
    # stay, expired, so a late use answers token_expired rather than invalid_token).
    previous = [p for p in item.get("previous", []) if p.get("expires_at", 0) > now]
    previous.append({"cred_hash": old_hash, "last4": item["last4"], "expires_at": old_expiry})
    try:
        table.transact(
            [
                {"put": cred, "condition": _NEW},
                {
                    "update": cred_key(old_hash),
                    "expression": "SET token_expires_at = :exp",
                    "values": {":exp": old_expiry},
                    "condition": Condition("attribute_exists(pk)"),
                },
                {
                    "update": api_token_key(workspace_id, token_id),
                    "expression": "SET cred_hash = :new, prefix = :prefix, last4 = :last4, previous = :prev, "
                    "rotated_at = :now",
                    "values": {
                        ":new": cred["secret_hash"],
                        ":prefix": shown["prefix"],
                        ":last4": shown["last4"],
                        ":prev": previous,
                        ":now": now,
                        ":old": old_hash,
                        ":f": False,
                    },
                    "condition": Condition("cred_hash = :old AND revoked = :f"),
                },
            ]
        )
    except ClientError as exc:  # only a lost race becomes a 409; anything else is re-raised
        if is_conditional_failure(exc):
            raise ApiError(409, "conflict", "The token changed while rotating it (revoked or rotated); retry.") from exc
        raise
    item.update(cred_hash=cred["secret_hash"], prefix=shown["prefix"], last4=shown["last4"], previous=previous)
    return secret, public_api_token(item)


def touch_last_used(table: MetadataTable, workspace_id: str, token_id: str, now: float, granularity: int) -> None:
    """Records ``last_used_at`` at most once per ``granularity`` seconds (a conditional write,
    so a busy token costs one write a minute, not one per request)."""
    try:
        table.update(
            *api_token_key(workspace_id, token_id),
            "SET last_used_at = :now",
            values={":now": now},
            condition=Condition(
                "attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at < :before)",
                values={":before": now - granularity},
            ),
            return_values="NONE",
        )
    except ClientError as exc:  # recently touched is the expected outcome; others re-raised
        if not is_conditional_failure(exc):
            raise


# ---------------------------------------------------------------------------- dataset tokens
def issue_dataset_token(
    table: MetadataTable, workspace_id: str, leaderboard_id: str, name: str = ""
) -> tuple[str, dict]:
    """Creates an ``hpd_`` token bound to exactly one leaderboard.
    Returns the secret (shown once) and ``{id, name, prefix, last4, created_at}``."""
    now = time.time()
    secret = tokens.generate(tokens.DATASET_TOKEN_PREFIX)
    token_id = new_id("dst")
    shown = tokens.display(secret)
    cred = _cred_item(secret, PrincipalKind.DATASET_TOKEN, workspace_id, token_id, leaderboard_id=leaderboard_id)
    pk, sk = dataset_token_key(leaderboard_id, token_id)
    listing = {
        "pk": pk,
        "sk": sk,
        "token_id": token_id,
        "workspace_id": workspace_id,
        "leaderboard_id": leaderboard_id,
        "name": name,
        "prefix": shown["prefix"],
        "last4": shown["last4"],
        "created_at": now,
        "cred_hash": cred["secret_hash"],
        "revoked": False,
    }
    table.transact([{"put": cred, "condition": _NEW}, {"put": listing, "condition": _NEW}])
    return secret, public_dataset_token(listing)


def public_dataset_token(item: dict) -> dict:
    return {
        "id": item["token_id"],
        "name": item.get("name", ""),
        "prefix": item["prefix"],
        "last4": item["last4"],
        "created_at": iso_epoch(item.get("created_at")),
        "revoked": bool(item.get("revoked")),
    }


def list_dataset_tokens(table: MetadataTable, leaderboard_id: str) -> list[dict]:
    """The leaderboard's live dataset tokens, for the status route (no secrets, no hashes)."""
    return [
        public_dataset_token(i)
        for i in table.query_all(leaderboard_pk(leaderboard_id), DATASET_TOKEN_PREFIX)
        if not i.get("revoked")
    ]


def revoke_dataset_token(table: MetadataTable, leaderboard_id: str, token_id: str) -> bool:
    """Revokes one dataset token (idempotent). False when there is no such token."""
    item = table.get(*dataset_token_key(leaderboard_id, token_id))
    if not item:
        return False
    table.transact(
        [
            {
                "update": dataset_token_key(leaderboard_id, token_id),
                "expression": "SET revoked = :t",
                "values": {":t": True},
            },
            {
                "update": cred_key(item["cred_hash"]),
                "expression": "SET revoked = :t",
                "values": {":t": True},
                "condition": Condition("attribute_exists(pk)"),
            },
        ]
    )
    return True


def revoke_all_dataset_tokens(table: MetadataTable, leaderboard_id: str) -> int:
    """For leaderboard deletion: every dataset token of it stops working."""
    count = 0
    for item in list(table.query_all(leaderboard_pk(leaderboard_id), DATASET_TOKEN_PREFIX)):
        if not item.get("revoked") and revoke_dataset_token(table, leaderboard_id, item["token_id"]):
            count += 1
    return count


def change_budget(
    table: MetadataTable, workspace_id: str, token_id: str, budget_usd: float | None, attempts: int = 5
) -> dict | None:
    """Sets (or, with None, removes) a token's dollar budget. None when there is no such token.

    ``remaining`` is what reservations condition on (:mod:`drgero.identity.budget`), so it must
    move with the budget without losing a concurrent reservation: a budgeted token's remaining
    moves by the budget's difference under a condition on the old budget (reservations move
    remaining and reserved, never the budget); an unbudgeted token gets ``budget - spent -
    reserved`` under a condition that neither moved since they were read. A lost race retries."""
    for _ in range(attempts):
        item = get_api_token(table, workspace_id, token_id)
        if not item:
            return None
        if item.get("revoked"):
            raise ApiError(409, "token_revoked", "This token is revoked; create a new one instead.")
        old = item.get("budget_micro_usd")
        spent, reserved = int(item.get("spent_micro_usd", 0)), int(item.get("reserved_micro_usd", 0))
        if budget_usd is None and old is None:
            return public_api_token(item)
        if budget_usd is None:
            expression, values = "REMOVE budget_micro_usd, remaining_micro_usd", {}
            condition = Condition("budget_micro_usd = :old", values={":old": old})
        elif old is not None:
            expression = "SET budget_micro_usd = :new, remaining_micro_usd = remaining_micro_usd + :delta"
            values = {":new": to_micro(budget_usd), ":delta": to_micro(budget_usd) - int(old)}
            condition = Condition("budget_micro_usd = :old", values={":old": old})
        else:
            expression = "SET budget_micro_usd = :new, remaining_micro_usd = :rem"
            values = {":new": to_micro(budget_usd), ":rem": to_micro(budget_usd) - spent - reserved}
            condition = Condition(
                "attribute_not_exists(budget_micro_usd) AND spent_micro_usd = :s AND reserved_micro_usd = :r",
                values={":s": spent, ":r": reserved},
            )
        try:
            table.transact(
                [
                    {
                        "update": api_token_key(workspace_id, token_id),
                        "expression": expression,
                        "values": values,
                        "condition": condition,
                    }
                ]
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            continue  # a reservation or another change moved the token: read it again
        return public_api_token(get_api_token(table, workspace_id, token_id) or item)
    raise ApiError(409, "conflict", "The token changed while its budget was being set; retry.")
