"""A per-provider-key concurrency limit shared by every container (issue 18).

Each evaluate container bounds its own calls per key (the AIMD limiter, at most ``aimd_max``
in flight), but N containers make N times that against one key. This lease counter bounds
the sum: one DynamoDB item per (workspace, provider key) holds ``in_use`` (slots taken) and
one attribute per holder (``h_<id>: {n, until}``).

- **acquire** (one conditional UpdateItem): add the holder and ``in_use += n`` if
  ``in_use <= limit - n``. A shard acquires a batch (its rows, at most ``aimd_max``) once,
  not a slot per call, so the limit costs one request per shard, not per row. When it fails,
  the same request returned the item (``ReturnValuesOnConditionCheckFailure``): the caller
  takes what is free, reclaims expired holders, or waits and looks again.
- **release**: the reverse update, conditional on the holder still being there; the evaluate
  worker puts it in its count's TransactWriteItems (no request of its own).
- **expiry**: a holder whose ``until`` passed (a container that crashed or timed out while
  holding slots) is removed by the next acquirer that finds the limit reached (conditional on
  the same ``until``, so two reclaimers free it once). ``key_lease_seconds`` must exceed the
  longest a shard can hold its slots (the evaluate function's timeout): a live shard's slots
  are never reclaimed.

The item never holds the key: its sort key is a hash of the provider's limiter identity,
itself a fingerprint (:func:`drgero.providers.client.fingerprint`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from drgero.core import clock
from drgero.store.keys import provider_key_lease_key
from drgero.store.table import Condition, MetadataTable, is_conditional_failure, item_of_failure

HOLDER_PREFIX = "h_"


@dataclass(frozen=True)
class Lease:
    """Slots held against one provider key until released (or ``until``, epoch seconds)."""

    key: tuple[str, str]
    holder: str
    slots: int
    until: int


class KeyLeases:
    """Acquire and release slot batches of the per-key limit.

    ``now`` (epoch seconds) and ``sleep`` are injectable: tests drive expiry and waiting
    without real time."""

    def __init__(
        self,
        table: MetadataTable,
        limit: int,
        lease_seconds: int,
        poll_seconds: float,
        *,
        now: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.table = table
        self.limit = limit
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self._now = now or (lambda: clock.now().timestamp())
        self._sleep = sleep
        # Observability (tests, bench): requests made and waits.
        self.requests = 0
        self.waits = 0

    @staticmethod
    def key_of(workspace_id: str, provider: str, limiter_key: str) -> tuple[str, str]:
        return provider_key_lease_key(workspace_id, provider, limiter_key)

    def acquire(self, key: tuple[str, str], want: int) -> Lease:
        """At least one slot and at most ``want`` (capped by the limit); waits while none is free."""
        want = max(1, min(want, self.limit))
        delay = self.poll_seconds
        while True:
            holder = f"{HOLDER_PREFIX}{uuid.uuid4().hex}"
            until = int(self._now()) + self.lease_seconds
            try:
                self.requests += 1
                self.table.update(
                    *key,
                    "SET #h = :lease, in_use = if_not_exists(in_use, :zero) + :n",
                    {"#h": holder},
                    {":lease": {"n": want, "until": until}, ":n": want, ":zero": 0},
                    condition=Condition(
                        "attribute_not_exists(in_use) OR in_use <= :room", values={":room": self.limit - want}
                    ),
                    return_values="NONE",
                    old_item_on_failure=True,
                )
                return Lease(key, holder, want, until)
            except ClientError as exc:
                if not is_conditional_failure(exc):
                    raise
                item = item_of_failure(exc) or {}
            free = self.limit - int(item.get("in_use") or 0) + self._reclaim_expired(key, item)
            if free > 0:
                want = min(want, free)  # take what is free now rather than wait for the whole batch
                continue
            self.waits += 1
            self._sleep(delay)
            delay = min(delay * 2, self.poll_seconds * 8)

    def release(self, lease: Lease) -> None:
        """Gives the slots back (a request of its own: prefer :meth:`release_operation` inside
        a transaction that is made anyway)."""
        op = self.release_operation(lease)
        try:
            self.requests += 1
            self.table.update(*lease.key, op["expression"], op["names"], op["values"], condition=op["condition"],
                              return_values="NONE")  # fmt: skip
        except ClientError as exc:
            if not is_conditional_failure(exc):  # already reclaimed after its expiry: nothing to give back
                raise

    @staticmethod
    def release_operation(lease: Lease) -> dict[str, Any]:
        """The release as a :meth:`MetadataTable.transact` operation; its condition fails only
        when the lease was already reclaimed."""
        return {
            "update": lease.key,
            "expression": "REMOVE #h SET in_use = in_use - :n",
            "names": {"#h": lease.holder},
            "values": {":n": lease.slots},
            "condition": Condition("attribute_exists(#h)", names={"#h": lease.holder}),
        }

    def _reclaim_expired(self, key: tuple[str, str], item: dict[str, Any]) -> int:
        """Removes the holders whose lease ran out; returns the slots freed by this caller."""
        now = self._now()
        freed = 0
        for name, lease in item.items():
            if not name.startswith(HOLDER_PREFIX) or not isinstance(lease, dict) or float(lease["until"]) >= now:
                continue
            try:
                self.requests += 1
                self.table.update(
                    *key,
                    "REMOVE #h SET in_use = in_use - :n",
                    {"#h": name, "#u": "until"},
                    {":n": int(lease["n"]), ":until": lease["until"]},
                    condition=Condition("#h.#u = :until"),
                    return_values="NONE",
                )
                freed += int(lease["n"])
            except ClientError as exc:
                if not is_conditional_failure(exc):  # another acquirer reclaimed it first
                    raise
        return freed
