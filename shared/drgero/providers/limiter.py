"""Adaptive concurrency limit per (provider, key): AIMD, like TCP congestion control.

- Additive increase: after ``success_window × limit`` successes since the last change, the
  limit grows by ``increase_step`` (up to ``maximum``). Growth is slow on purpose.
- Multiplicative decrease: a 429 halves the limit (down to ``minimum``), once per "epoch":
  429s from requests that were started before the last decrease do not halve again, so one
  burst of concurrent 429s halves once, not once per request.

The limit is process-wide state (it survives between Lambda invocations of one container)
and thread-safe: a lock guards it, and a slot freed in one thread is handed to a waiter of
another thread's event loop with ``call_soon_threadsafe`` (the local cloud runs handlers in
threads). A waiter cancelled while its slot is in flight passes the slot on.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class AimdConfig:
    initial: int = 8
    minimum: int = 1
    maximum: int = 64
    increase_step: float = 1.0
    success_window: int = 8


@dataclass
class Ticket:
    """A held slot; ``epoch`` tells a later 429 whether it may still halve the limit."""

    epoch: int


class AimdLimiter:
    def __init__(self, config: AimdConfig) -> None:
        self.config = config
        self.limit: float = float(max(config.minimum, min(config.initial, config.maximum)))
        self.in_flight = 0
        self.epoch = 0
        self._successes = 0
        self._lock = threading.Lock()
        self._waiters: deque[asyncio.Future[None]] = deque()
        # Observability (tests, bench, logs): how often and where the limit moved.
        self.decreases = 0
        self.increases = 0
        # The last limit changes, newest last: ("decrease" | "increase", new limit).
        self.history: deque[tuple[str, float]] = deque(maxlen=64)

    @property
    def capacity(self) -> int:
        return max(self.config.minimum, math.floor(self.limit))

    async def acquire(self) -> Ticket:
        with self._lock:
            if self.in_flight < self.capacity and not self._waiters:
                self.in_flight += 1
                return Ticket(self.epoch)
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            with self._lock:
                granted = future.done() and not future.cancelled()
                if not granted:
                    self._discard(future)
            if granted:
                self.release()  # handed a slot just as we were cancelled: pass it on
            raise
        with self._lock:
            return Ticket(self.epoch)

    def release(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self._wake_locked()

    def _discard(self, future: asyncio.Future[None]) -> None:
        try:
            self._waiters.remove(future)
        except ValueError:
            return

    def _wake_locked(self) -> None:
        """Hand free slots to waiters, oldest first (caller holds the lock)."""
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        while self._waiters and self.in_flight < self.capacity:
            future = self._waiters.popleft()
            loop = future.get_loop()
            if future.done() or loop.is_closed():
                continue
            self.in_flight += 1
            if loop is current:
                future.set_result(None)
                continue
            try:
                loop.call_soon_threadsafe(self._grant, future)
            except RuntimeError:  # that loop closed meanwhile: the slot goes back
                self.in_flight -= 1

    def _grant(self, future: asyncio.Future[None]) -> None:
        """Runs in the waiter's own loop."""
        if future.done():  # cancelled after the handoff: the slot is not used
            self.release()
        else:
            future.set_result(None)

    def warm_start(self, limit: int) -> None:
        """Raise a limit that never saw a 429 to ``limit`` (at most ``maximum``): a run shard
        that holds ``limit`` slots of its key's shared lease (drgero.runs.key_lease) runs
        its rows in one wave on a fresh container instead of probing up from ``initial``. A
        limit a 429 lowered keeps what it learned."""
        with self._lock:
            if self.decreases == 0 and self.limit < limit:
                self.limit = float(min(limit, self.config.maximum))
                self.history.append(("increase", self.limit))
                self._wake_locked()

    def on_success(self) -> None:
        with self._lock:
            self._successes += 1
            if self._successes >= self.config.success_window * self.capacity and self.limit < self.config.maximum:
                self._successes = 0
                self.limit = min(float(self.config.maximum), self.limit + self.config.increase_step)
                self.increases += 1
                self.history.append(("increase", self.limit))
                self._wake_locked()

    def on_rate_limited(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket.epoch != self.epoch:
                return
            self.epoch += 1
            self._successes = 0
            self.limit = max(float(self.config.minimum), self.limit / 2)
            self.decreases += 1
            self.history.append(("decrease", self.limit))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Ticket]:
        ticket = await self.acquire()
        try:
            yield ticket
        finally:
            self.release()


class LimiterRegistry:
    """One limiter per (provider, key fingerprint); the fingerprint is a hash, never the key."""

    def __init__(self, config: AimdConfig) -> None:
        self.config = config
        self._limiters: dict[tuple[str, str], AimdLimiter] = {}
        self._lock = threading.Lock()

    def get(self, provider: str, key_fingerprint: str) -> AimdLimiter:
        key = (provider, key_fingerprint)
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                limiter = self._limiters[key] = AimdLimiter(self.config)
            return limiter
