"""Retry timing: full-jitter exponential backoff and ``Retry-After`` parsing."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from drgero.core import clock


@dataclass(frozen=True)
class RetryConfig:
    max_retries: int = 3
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 8.0
    retry_after_cap_seconds: float = 30.0


def backoff_seconds(attempt: int, config: RetryConfig, rng: Callable[[], float] = random.random) -> float:
    """Full jitter (AWS architecture blog): uniform(0, min(cap, base * 2**attempt))."""
    ceiling = min(config.backoff_cap_seconds, config.backoff_base_seconds * (2**attempt))
    return rng() * ceiling


def parse_retry_after(value: str | None, now: Callable[[], datetime] = clock.now) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now()).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
