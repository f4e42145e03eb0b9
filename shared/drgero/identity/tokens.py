"""The secret token format, GitHub style: ``{prefix}_{random}{checksum}``.

- ``prefix`` says what the token is: ``drgero`` (API token) or ``hpd`` (dataset push token),
  so log and secret scanners can recognise a leaked one.
- ``random``: 32 base62 characters from ``secrets`` (~190 bits; the contract asks >= 128).
- ``checksum``: CRC32 of ``{prefix}_{random}`` in 6 base62 characters. A mistyped or truncated
  token is refused by :func:`parse` before any database read.

At rest only :func:`hash_secret` of a token is stored (SHA-256, or HMAC-SHA-256 when a pepper
is configured), and listings show :func:`display` (``drgero_…wxyz``). This module imports
nothing beyond the standard library: the authorizer's cold start depends on it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass

API_TOKEN_PREFIX = "drgero"  # noqa: S105 - a public prefix, not a secret
DATASET_TOKEN_PREFIX = "hpd"  # noqa: S105 - a public prefix, not a secret
PREFIXES = (API_TOKEN_PREFIX, DATASET_TOKEN_PREFIX)

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_CHARS = 32
CHECKSUM_CHARS = 6
# Longest token we even look at; anything longer is refused without a regex run.
MAX_TOKEN_CHARS = len(API_TOKEN_PREFIX) + 1 + RANDOM_CHARS + CHECKSUM_CHARS

_TOKEN_RE = re.compile(rf"^(drgero|hpd)_([0-9A-Za-z]{{{RANDOM_CHARS}}})([0-9A-Za-z]{{{CHECKSUM_CHARS}}})$")


class TokenFormatError(ValueError):
    """The string is not a well-formed token, or its checksum does not match (a typo)."""


@dataclass(frozen=True)
class ParsedToken:
    prefix: str  # "drgero" or "hpd"
    secret: str  # the whole token string

    @property
    def is_dataset_token(self) -> bool:
        return self.prefix == DATASET_TOKEN_PREFIX


def _base62(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rem = divmod(value, 62)
        chars.append(BASE62[rem])
    return "".join(reversed(chars))


def checksum(body: str) -> str:
    """6 base62 characters of CRC32(body); 62**6 > 2**32, so every CRC32 value fits."""
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_CHARS)


def generate(prefix: str) -> str:
    """A new random token with its checksum. ``prefix`` is ``drgero`` or ``hpd``."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown token prefix {prefix!r}")
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_CHARS))
    body = f"{prefix}_{random_part}"
    return body + checksum(body)


def looks_like_token(value: str) -> bool:
    """True when ``value`` starts like one of our tokens (it may still be malformed)."""
    return value.startswith(tuple(f"{p}_" for p in PREFIXES))


def parse(value: str) -> ParsedToken:
    """Checks shape and checksum; raises TokenFormatError. Touches no database."""
    if not value or len(value) > MAX_TOKEN_CHARS:
        raise TokenFormatError("The token is malformed.")
    match = _TOKEN_RE.match(value)
    if not match:
        raise TokenFormatError("The token is malformed.")
    prefix, random_part, given = match.groups()
    expected = checksum(f"{prefix}_{random_part}")
    if not hmac.compare_digest(expected, given):
        raise TokenFormatError("The token's checksum does not match; it was probably mistyped or truncated.")
    return ParsedToken(prefix=prefix, secret=value)


def hash_secret(secret: str, pepper: str = "") -> str:
    """The stored form of a token: hex SHA-256, or HMAC-SHA-256 keyed by ``pepper`` when set
    (a database leak alone then cannot confirm guesses)."""
    data = secret.encode("utf-8")
    if pepper:
        return hmac.new(pepper.encode("utf-8"), data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def secrets_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets or hashes."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def display(secret: str) -> dict[str, str]:
    """What listings may show of a token: its kind prefix and last four characters."""
    prefix = secret.split("_", 1)[0] + "_"
    return {"prefix": prefix, "last4": secret[-4:], "display": f"{prefix}…{secret[-4:]}"}
