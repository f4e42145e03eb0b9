"""Settings for tests: the environment every function gets on the embedded AWS, and the
Settings a function would read from an environment."""

from __future__ import annotations

from drgero.core.settings import Settings

TEST_ENV = {
    "DRGERO_ENVIRONMENT": "test",
    "DRGERO_PROVIDERS__ALLOW_LOOPBACK": "true",
}


def settings_from_env(env: dict[str, str], **overrides) -> Settings:
    """Settings as a function would read them from ``env`` (DRGERO_GROUP__NAME variables);
    ``overrides`` are ``group__name=value``."""
    nested: dict = {}
    for key, value in env.items():
        if not key.startswith("DRGERO_"):
            continue
        path = key.removeprefix("DRGERO_").lower().split("__")
        node = nested
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    for key, value in overrides.items():
        group, _, name = key.partition("__")
        nested.setdefault(group, {})[name] = value
    return Settings(**nested)


def relaxed_settings(settings: Settings) -> Settings:
    """``settings`` with candidate models allowed on a leaderboard with no rows yet."""
    return settings.model_copy(update={"limits": settings.limits.model_copy(update={"min_rows_before_models": 0})})
