"""The CORS origin rules (drgero.core.cors)."""

from __future__ import annotations

import pytest

from drgero.core.cors import origin_allowed

LOCAL = ["http://localhost:*", "http://127.0.0.1:*", "https://app.example.com"]


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:3000",
        "http://localhost:5173",
        "http://localhost",
        "http://127.0.0.1:8080",
        "https://app.example.com",
    ],
)
def test_allowed(origin):
    assert origin_allowed(origin, LOCAL)


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "",
        "null",
        "https://localhost:3000",  # another scheme
        "http://localhost.evil.example",  # a prefix is not a port
        "http://localhost:3000.evil.example",
        "http://localhost:abc",
        "https://app.example.com.evil",
        "http://app.example.com",
    ],
)
def test_refused(origin):
    assert not origin_allowed(origin, LOCAL)


def test_nothing_is_allowed_by_default():
    assert not origin_allowed("http://localhost:3000", [])
