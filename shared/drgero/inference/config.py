"""Per-leaderboard inference settings, validated by the leaderboards module on create/PATCH.

- ``inference``: the failure policy of production inference,
  ``{"fallback": bool, "max_fallbacks": 0..3}``. With ``fallback`` on, a retryable failure of
  the production model (rate limited, upstream 5xx/connection error, timeout) is answered by
  the next model of the latest ranking, at most ``max_fallbacks`` of them.
- ``capture``: traffic becomes data (PUSH leaderboards only),
  ``{"enabled": bool, "sample_rate": 0..1, "metadata_filter": {key: value | [values]}}``.
  A sampled call whose request metadata matches the filter becomes a pending dataset row.

Kept free of AWS and of the rest of the inference package: leaderboards.py imports it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator

from drgero.core.validation import TextModel

MAX_FALLBACKS = 3
MAX_FILTER_KEYS = 20
MAX_FILTER_VALUES = 50
FilterScalar = str | int | float | bool


class InferencePolicy(TextModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    fallback: bool = False
    max_fallbacks: int = Field(1, ge=0, le=MAX_FALLBACKS)

    @classmethod
    def of_leaderboard(cls, leaderboard: dict[str, Any]) -> InferencePolicy:
        return cls.model_validate(leaderboard.get("inference") or {})


class CaptureRule(TextModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    enabled: bool = False
    sample_rate: float = Field(1.0, ge=0.0, le=1.0)
    # Every key must match: the request metadata's value equals the given value, or is one of
    # the given list. Empty: every call matches.
    metadata_filter: dict[str, FilterScalar | list[FilterScalar]] = Field(default_factory=dict)

    @field_validator("metadata_filter")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_FILTER_KEYS:
            raise ValueError(f"at most {MAX_FILTER_KEYS} metadata_filter keys")
        for key, wanted in value.items():
            if not key or len(key) > 100:
                raise ValueError("metadata_filter keys must be 1 to 100 characters")
            if isinstance(wanted, list) and not 1 <= len(wanted) <= MAX_FILTER_VALUES:
                raise ValueError(f"a metadata_filter list holds 1 to {MAX_FILTER_VALUES} values")
        return value

    @classmethod
    def of_leaderboard(cls, leaderboard: dict[str, Any]) -> CaptureRule:
        return cls.model_validate(leaderboard.get("capture") or {})

    def matches(self, metadata: dict[str, Any]) -> bool:
        for key, wanted in self.metadata_filter.items():
            if key not in metadata:
                return False
            value = metadata[key]
            options = wanted if isinstance(wanted, list) else [wanted]
            # bool is an int in Python: compare types too, so True never matches 1.
            if not any(type(value) is type(option) and value == option for option in options):
                return False
        return True
