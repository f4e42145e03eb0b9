"""Links to traces shown elsewhere in the API (a leaderboard's ``traces_url``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode


def traces_url(settings: Any, request_base: str, leaderboard_id: str) -> str:
    """``{base}/api/traces?leaderboard_id=…``. The base is ``api.public_base_url`` when set
    (the public stage URL or a custom domain), else the base URL of the current request."""
    base = (settings.api.public_base_url or request_base).rstrip("/")
    return f"{base}/api/traces?{urlencode({'leaderboard_id': leaderboard_id})}"


def trace_url(settings: Any, request_base: str, trace_id: str) -> str:
    base = (settings.api.public_base_url or request_base).rstrip("/")
    return f"{base}/api/traces/{trace_id}"
