"""Identifiers: a short type prefix plus a time-ordered random part (sortable, unguessable).

``new_id("lb")`` -> ``lb_01jd3k...``. The time part keeps DynamoDB sort keys and S3 listings
in creation order; 80 random bits make ids unguessable.
"""

from __future__ import annotations

import secrets
import time

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def _b32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str, now_ms: int | None = None) -> str:
    """A ULID-style id: 48-bit millisecond time + 80 random bits, Crockford base32."""
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{prefix}_{_b32(millis, 10)}{_b32(secrets.randbits(80), 16)}"
