"""Settings for tests: the environment every function gets on the embedded AWS, and the
Settings a function would read from an environment."""

from __future__ import annotations

from drgero.core.settings import Settings
from localcloud.identity import settings_from_env as local_settings_from_env

TEST_ENV = {
    "DRGERO_ENVIRONMENT": "test",
    "DRGERO_PROVIDERS__ALLOW_LOOPBACK": "true",
}


def settings_from_env(env: dict[str, str], **overrides) -> Settings:
    """Settings as a function would read them from ``env`` (DRGERO_GROUP__NAME variables), read
    the local cloud's way (``localcloud.identity.settings_from_env``); ``overrides`` are
    ``group__name=value``."""
    merged = dict(env)
    for key, value in overrides.items():
        merged[f"DRGERO_{key.upper()}"] = value
    return local_settings_from_env(merged)


def relaxed_settings(settings: Settings) -> Settings:
    """``settings`` with candidate models allowed on a leaderboard with no rows yet."""
    return settings.model_copy(update={"limits": settings.limits.model_copy(update={"min_rows_before_models": 0})})
