"""The api function's routers, imported when a request first needs them (cold start).

Importing every router module pulls in most of the domain (leaderboards, runs, own models and
fine-tunes, providers and httpx, datasets): about half of the api function's import time.
A request needs one area, so :class:`LazyRouters` imports only the routers whose path
prefixes (``ROUTERS``) cover the request's path, the first time such a path arrives:

- a prefix is path segments where ``*`` stands for any one segment; it covers a path when
  the path starts with those segments (``tests/unit/test_api_lazy_routers.py`` checks that
  each router's prefixes cover every route it has, so a new route cannot go unreached);
- routes keep the order of ``ROUTERS`` whatever order they were loaded in, so the route that
  answers a path is the same as in an app that loaded everything at once;
- a path no loaded route matches (a prefix missing from the table, an unknown path about to
  get its 404) loads every router before it is answered, so a gap in the table costs time,
  never a wrong answer; the OpenAPI document loads every router too.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from typing import Any

from starlette.routing import Match

# (router module, path prefixes it serves), in the order routes are matched (the order the
# eager app included them). Add a new router module here.
ROUTERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("drgero.api.routers.health", ("/v1/health",)),
    ("drgero.api.routers.traces", ("/api/traces",)),
    ("drgero.api.routers.workspaces", ("/api/workspaces", "/api/invitations")),
    ("drgero.api.routers.tokens", ("/api/tokens",)),
    ("drgero.api.routers.integrations", ("/api/integrations",)),
    ("drgero.api.routers.leaderboards", ("/api/leaderboards",)),
    ("drgero.api.routers.datasets", ("/v1/leaderboard/*/dataset",)),
    (
        "drgero.api.routers.runs",
        (
            "/api/runs",
            "/api/leaderboards/*/runs",
            "/api/leaderboards/*/ranking",
            "/api/leaderboards/*/selection",
            "/api/leaderboards/*/production-history",
        ),
    ),
    ("drgero.api.routers.models", ("/api/models", "/api/leaderboards/*/models")),
    ("drgero.api.routers.fine_tunes", ("/api/models/*/fine-tunes", "/api/models/*/fine-tune-schedule")),
    ("drgero.api.routers.dashboard_support", ("/api/datasets", "/api/leaderboards/*/dataset")),
    ("drgero.api.routers.openai_models", ("/v1/models",)),
    # Unauthenticated: the dashboard reads it before sign-in.
    ("drgero.api.routers.auth_config", ("/api/auth",)),
)


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def covers(prefix: str, path: str) -> bool:
    """Whether ``prefix`` (segments, ``*`` = any one segment) starts ``path``. ``path`` is a
    request path or a route template (its ``{param}`` segments match only ``*``)."""
    wanted, actual = _segments(prefix), _segments(path)
    if len(actual) < len(wanted):
        return False
    return all(w == "*" or w == a for w, a in zip(wanted, actual, strict=False))


class LazyRouters:
    """Includes the routers of ``table`` into ``app`` on demand (thread-safe: the local cloud
    serves requests from several threads)."""

    def __init__(self, app: Any, table: Sequence[tuple[str, tuple[str, ...]]] = ROUTERS) -> None:
        self.app = app
        self.table = list(table)
        self._loaded: set[int] = set()
        self._lock = threading.Lock()
        self._rank: dict[int, int] = {id(route): -1 for route in app.router.routes}  # FastAPI's own first

    @property
    def all_loaded(self) -> bool:
        return len(self._loaded) == len(self.table)

    def load_for(self, path: str) -> None:
        """Loads the routers whose prefixes cover ``path``."""
        wanted = [i for i, (_, prefixes) in enumerate(self.table) if any(covers(p, path) for p in prefixes)]
        self._load([i for i in wanted if i not in self._loaded])

    def load_all(self) -> None:
        self._load([i for i in range(len(self.table)) if i not in self._loaded])

    def ensure_for(self, scope: dict) -> None:
        """Before a request: its routers loaded; every router when no loaded route matches."""
        if self.all_loaded:
            return
        self.load_for(scope.get("path", ""))
        if not any(route.matches(scope)[0] != Match.NONE for route in self.app.router.routes):
            self.load_all()

    def _load(self, indexes: list[int]) -> None:
        if not indexes:
            return
        with self._lock:
            for index in sorted(i for i in indexes if i not in self._loaded):
                router = importlib.import_module(self.table[index][0]).router
                self.app.include_router(router)
                for route in self.app.router.routes:
                    self._rank.setdefault(id(route), index)
                self._loaded.add(index)
            # Stable sort: each router's routes keep their own order, routers keep the table's.
            # A new list: a request routing in another thread keeps iterating the old one.
            self.app.router.routes = sorted(self.app.router.routes, key=lambda route: self._rank[id(route)])


class LazyRoutersMiddleware:
    """Outermost ASGI layer: loads the routers a request needs before the app routes it."""

    def __init__(self, app: Any, routers: LazyRouters) -> None:
        self.app = app
        self.routers = routers

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.routers.ensure_for(scope)
        await self.app(scope, receive, send)
