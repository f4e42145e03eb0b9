"""The sandbox provider (``localcloud.sandbox``, the ``sandbox`` fixture): its knobs and
counters, and the OpenRouter key tests store for a workspace (the sandbox accepts any)."""

from __future__ import annotations

from typing import Any

import httpx

SANDBOX_KEY = "sk-or-sandbox-test-key-0123456789"


def sandbox_control(sandbox: str, **knobs: Any) -> None:
    httpx.post(f"{sandbox}/_sandbox/control", json=knobs, trust_env=False).raise_for_status()


def sandbox_fine_tune(sandbox: str, **knobs: Any) -> None:
    httpx.post(f"{sandbox}/_sandbox/fine_tune", json=knobs, trust_env=False).raise_for_status()


def sandbox_requests(sandbox: str) -> int:
    """How many chat completions the sandbox has answered since its last reset."""
    stats = httpx.get(f"{sandbox}/_sandbox/stats", trust_env=False).json()
    return sum(v for k, v in (stats.get("requests") or {}).items() if "chat/completions" in k)
