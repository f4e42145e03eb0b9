"""Scrubbing secrets out of anything a provider call hands back (raw answers, messages)."""

from __future__ import annotations

from typing import Any

REDACTED = "[redacted]"


def redact_text(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact(value: Any, secrets: list[str]) -> Any:
    """``value`` (JSON-like) with every occurrence of each secret replaced, recursively."""
    secrets = [s for s in secrets if s]
    if not secrets:
        return value
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {redact_text(str(k), secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    return value
