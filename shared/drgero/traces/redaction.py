"""Per-leaderboard redaction of trace inputs and outputs.

A leaderboard may say its traces keep no inputs and/or no outputs (for personal or
confidential data): the leaderboard field ``trace_redaction`` is
``{"inputs": bool, "outputs": bool}`` (absent: keep both). Producers apply ``redact`` before
emitting; the trace records which fields were removed, so a reader can tell "redacted" from
"empty".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from drgero.traces.model import Trace


class RedactionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: bool = False
    outputs: bool = False

    @classmethod
    def of_leaderboard(cls, leaderboard: Mapping[str, Any] | None) -> RedactionPolicy:
        """The policy stored on a leaderboard record (a dict); keep-everything when unset."""
        raw = (leaderboard or {}).get("trace_redaction") or {}
        return cls.model_validate(raw)


KEEP_ALL = RedactionPolicy()


def redact(trace: Trace, policy: RedactionPolicy) -> Trace:
    """A copy of ``trace`` without the fields the policy removes. Pure; idempotent."""
    update: dict[str, Any] = {}
    redacted = list(trace.redacted)
    if policy.inputs:
        update["input"] = None
        if "input" not in redacted:
            redacted.append("input")
    if policy.outputs:
        update["output"] = None
        if "output" not in redacted:
            redacted.append("output")
    if not update:
        return trace
    update["redacted"] = redacted
    return trace.model_copy(update=update)
