"""The api function's routers load on first use (drgero.api.lazy_routers): every route is
reachable through its prefixes, and a lazily built app answers each path with the same route
as an app that loaded everything at once."""

from __future__ import annotations

import importlib
import re

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Match

from drgero.api.app import create_app
from drgero.api.lazy_routers import ROUTERS, covers
from drgero.core.aws import AwsClients
from drgero.core.settings import Settings


def _app(lazy: bool):
    settings = Settings(environment="test")
    return create_app(settings, AwsClients(settings), lazy=lazy)


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", template)


def _scope(method: str, path: str) -> dict:
    return {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"", "headers": []}


def _api_routes(app) -> list[APIRoute]:
    """Every APIRoute (FastAPI keeps an included router as one entry wrapping its routes)."""
    routes = []
    for entry in app.router.routes:
        inner = getattr(entry, "original_router", None)
        routes += [r for r in (inner.routes if inner else [entry]) if isinstance(r, APIRoute)]
    return routes


def _answering_route(app, method: str, path: str):
    """The route that answers ``method path`` in ``app``, after the lazy routers loaded."""
    scope = _scope(method, path)
    app.state.routers.ensure_for(scope)
    for entry in app.router.routes:
        if entry.matches(scope)[0] != Match.FULL:
            continue
        inner = getattr(entry, "original_router", None)
        for route in inner.routes if inner else [entry]:
            if route.matches(scope)[0] == Match.FULL:
                return route
    return None


@pytest.mark.parametrize("module, prefixes", ROUTERS, ids=[m.rsplit(".", 1)[1] for m, _ in ROUTERS])
def test_each_router_s_prefixes_cover_every_route_it_has(module, prefixes):
    router = importlib.import_module(module).router
    uncovered = [r.path for r in router.routes if not any(covers(p, r.path) for p in prefixes)]
    assert not uncovered, f"{module}: add prefixes for {uncovered} to drgero.api.lazy_routers.ROUTERS"


def test_the_prefix_rule():
    assert covers("/api/runs", "/api/runs/r1/results")
    assert covers("/api/leaderboards/*/runs", "/api/leaderboards/lb1/runs")
    assert covers("/api/leaderboards/*/runs", "/api/leaderboards/{id}/runs")
    assert not covers("/api/leaderboards/*/runs", "/api/leaderboards/lb1")
    assert not covers("/api/models/*/fine-tunes", "/api/models/m1/fine-tune-schedule")
    assert not covers("/api/run", "/api/runs")


def test_a_lazy_app_starts_with_no_router_and_answers_each_path_like_the_eager_one():
    eager = _app(lazy=False)
    routes = _api_routes(eager)
    assert len(routes) > 50
    assert not _api_routes(_app(lazy=True))  # nothing loaded yet
    for route in routes:
        for method in sorted(route.methods):
            path = _concrete(route.path)
            expected = _answering_route(eager, method, path)
            lazy = _app(lazy=True)  # a cold container whose first request is this one
            got = _answering_route(lazy, method, path)
            assert got is not None and expected is not None, (method, path)
            assert (got.path, got.endpoint) == (expected.path, expected.endpoint), (method, path)
            assert not lazy.state.routers.all_loaded, f"{method} {path} loaded every router"


def test_an_unknown_path_loads_every_router_before_its_404():
    app = _app(lazy=True)
    assert _answering_route(app, "GET", "/api/nothing-here") is None
    assert app.state.routers.all_loaded


def test_the_openapi_document_of_a_lazy_app_is_the_eager_one():
    assert _app(lazy=True).openapi() == _app(lazy=False).openapi()
