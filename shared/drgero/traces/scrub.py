"""Removes anything that looks like a secret from a trace before it is queued or stored.

Defense in depth: producers should never put credentials into a trace, but a prompt, a
provider error message or a manual event's metadata can carry one by accident. Two rules:

- a value under a key that names a credential (``api_key``, ``token``, ``password``,
  ``Authorization``, ...) is replaced whole;
- inside any string, token shapes we know (Dr.Gero ``drgero_``/``hpd_`` tokens, OpenRouter
  ``sk-or-…``, other ``sk-…`` keys, Hugging Face ``hf_…``, AWS access key ids, JWTs,
  ``Bearer``/``Basic`` credentials, ``api_key=…`` pairs) are replaced.

Counts such as ``prompt_tokens`` or ``max_tokens`` are not credentials and are kept.
"""

from __future__ import annotations

import re
from typing import Any

from drgero.traces.model import Trace

REDACTED = "[REDACTED]"

# Keys (normalized: lowercase, '-' and ' ' -> '_') whose values are credentials.
_SECRET_KEYS = frozenset(
    {
        "api_key",
        "apikey",
        "x_api_key",
        "x_dr.gero_api_key",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth_token",
        "bearer_token",
        "session_token",
        "secret",
        "client_secret",
        "secret_key",
        "secret_access_key",
        "aws_secret_access_key",
        "password",
        "passwd",
        "passphrase",
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "private_key",
        "credentials",
    }
)
# Suffixes that also mark a credential key (``openrouter_api_key``, ``hf_token``, ...).
# ``_tokens`` (plural counts) deliberately does not match ``_token``.
_SECRET_SUFFIXES = ("_api_key", "_apikey", "_token", "_secret", "_password", "_private_key")

_PATTERNS: list[tuple[re.Pattern[str], Any]] = [
    # Authorization headers written out as text: whatever the scheme, the credential goes
    # (the scheme is kept; possessive so an already-scrubbed header is left alone).
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization\"?\s*[:=]\s*\"?)(?:(bearer|basic|token|digest)\s+)?+"
            r"(?!\[REDACTED\])[^\s\"',;}]+"
        ),
        lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{REDACTED}",
    ),
    # Bearer/Basic credentials anywhere: keep the scheme, drop the credential. Credentials
    # contain a digit or '=' padding; requiring one keeps prose ("basic arithmetic") intact.
    (re.compile(r"(?i)\b(bearer|basic)\s+(?=[A-Za-z._~+/-]*[0-9=])[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    # key=value / key: value pairs naming a credential, in query strings, headers, logs.
    (
        re.compile(
            r"(?i)\b((?:x-)?api[_-]?key|access[_-]?token|auth[_-]?token|token|secret|password|passwd)"
            r"(\"?\s*[:=]\s*\"?)(?!\[REDACTED\])[^\s\"'&,;}]+"
        ),
        r"\1\2" + REDACTED,
    ),
    (re.compile(r"\b(?:drgero|hpd)_[A-Za-z0-9]{16,}"), REDACTED),
    (re.compile(r"\bsk-or-[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"), REDACTED),
    (re.compile(r"\bhf_[A-Za-z0-9]{16,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), REDACTED),
]


def _is_secret_key(key: str) -> bool:
    normalized = key.strip().lower().replace("-", "_").replace(" ", "_")
    return normalized in _SECRET_KEYS or normalized.endswith(_SECRET_SUFFIXES)


def scrub_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub_value(value: Any) -> Any:
    """A copy of a JSON-like value with secrets replaced (the input is not modified)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and _is_secret_key(k) and v is not None else scrub_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub_value(v) for v in value]
    return value


def scrub(trace: Trace) -> Trace:
    """The trace with every free-form field scrubbed. Idempotent, and cheap for small traces."""
    return trace.model_copy(
        update={
            "name": scrub_text(trace.name),
            "error": scrub_text(trace.error) if trace.error else trace.error,
            "input": scrub_value(trace.input),
            "output": scrub_value(trace.output),
            "metadata": scrub_value(trace.metadata),
        }
    )
