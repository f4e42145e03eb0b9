"""The one clock of the domain, and the timestamp formats stored and returned.

Every "now" the domain writes goes through :func:`now`, so a test that needs a fixed time
patches ``drgero.core.clock.now`` in one place (:func:`iso` and :func:`iso_millis` read it
at call time). Formats, all UTC with a ``Z`` suffix:

- :func:`iso`: ``isoformat()`` (microseconds when the moment has any): item timestamps
  (``created_at``, ``updated_at``) of leaderboards, candidates, Dr.Gero models, fine-tunes.
- :func:`iso_millis`: always three fraction digits, so equal-length strings sort in time
  order: the run records (``started_at``, ``finished_at``, production ``since``).
- :func:`iso_epoch`: an epoch-seconds attribute (tokens, budgets, integrations store epoch
  seconds) as the API shows it.

Sort keys with their own fixed-width formats stay beside their keys (e.g. the reservation
index of :mod:`drgero.identity.budget`).
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(moment: datetime | None = None) -> str:
    """``moment`` (default: now) as ``2024-05-01T12:00:00.123456Z``."""
    return (moment or now()).astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_millis(moment: datetime | None = None) -> str:
    """``moment`` (default: now) as ``2024-05-01T12:00:00.123Z`` (fixed width)."""
    return (moment or now()).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_epoch(epoch: float | None) -> str | None:
    """Epoch seconds as :func:`iso` formats them; None stays None (an unset attribute)."""
    if epoch is None:
        return None
    return iso(datetime.fromtimestamp(epoch, UTC))


def parse_iso(value: str) -> datetime:
    """The inverse of :func:`iso` / :func:`iso_millis` (accepts the ``Z`` suffix)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
