"""The local one-click sign-in (localcloud.dashboard_session): only a same-origin POST from a
loopback page gets a session, whatever CORS allows."""

from __future__ import annotations

import json

import pytest

from localcloud.apigateway import IncomingRequest
from localcloud.dashboard_session import LocalSession

HOST = "127.0.0.1:3000"
GOOD = {"Host": HOST, "Origin": f"http://{HOST}", "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}


def request(method: str = "POST", path: str = "/local/session", **headers: str) -> IncomingRequest:
    merged = {**GOOD, **headers}
    pairs = [(k.replace("_", "-"), v) for k, v in merged.items() if v is not None]
    return IncomingRequest(method, path, "", pairs, b"{}", "127.0.0.1", merged.get("Host", HOST))


@pytest.fixture
def route():
    return LocalSession(lambda: {"user_jwt": "a.b.c", "workspace_id": "ws_1", "email": "owner@drgero.local"})


def test_a_same_origin_post_gets_a_session_that_is_never_cached(route):
    reply = route(request(), "req-1")
    assert reply.status == 200
    assert json.loads(reply.body)["user_jwt"] == "a.b.c"
    assert ("Cache-Control", "no-store") in reply.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": None},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Content-Type": "text/plain"},
        {"Host": "rebound.example:3000", "Origin": "http://rebound.example:3000"},
    ],
)
def test_anything_else_is_refused(route, headers):
    reply = route(request(**headers), "req-2")
    assert reply.status == 403
    assert json.loads(reply.body)["error"]["code"] == "local_session_refused"


def test_it_answers_only_its_path_and_says_when_it_is_available(route):
    assert route(request(path="/api/leaderboards"), "r") is None
    assert json.loads(route(request("GET"), "r").body) == {"available": True}
    assert route(request("DELETE"), "r").status == 405
