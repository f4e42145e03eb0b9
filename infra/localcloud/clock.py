"""Clocks for the local scheduler: the real one, and a manual one tests move by hand."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SystemClock:
    """Wall-clock time (UTC). The scheduler polls it from a background thread."""

    manual = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    def reading_at(self, real: datetime) -> datetime:
        """What this clock read at the real moment ``real`` (AWS stamps real times)."""
        return real


class ManualClock:
    """Real time plus an offset that only tests move: ``advance(seconds)`` or ``set(dt)``.

    With a manual clock the scheduler runs no background thread: tests move the clock and call
    ``cloud.scheduler.tick()``, and nothing ever sleeps. The clock keeps flowing with real
    time underneath, so the creation times the embedded AWS stamps on schedules stay
    consistent with it: create a ``rate(1 minute)`` schedule, ``advance(60)``, ``tick()``,
    and it has fired.
    """

    manual = True

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._offset = timedelta(seconds=offset_seconds)
        # (real time the offset changed, offset from then on): maps real timestamps, such as
        # a schedule's CreationDate, onto this clock.
        self._history: list[tuple[datetime, timedelta]] = [(datetime.min.replace(tzinfo=UTC), self._offset)]
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def reading_at(self, real: datetime) -> datetime:
        with self._lock:
            offset = next(off for changed, off in reversed(self._history) if changed <= real)
        return real + offset

    def _move(self, offset: timedelta) -> datetime:
        real = datetime.now(UTC)
        self._offset = offset
        self._history.append((real, offset))
        return real + offset

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            return self._move(self._offset + timedelta(seconds=seconds))

    def set(self, when: datetime) -> None:
        """Moves the clock so that now() is ``when`` (and flows on from there)."""
        if when.tzinfo is None:
            raise ValueError("ManualClock.set needs an aware datetime")
        with self._lock:
            self._move(when - datetime.now(UTC))
