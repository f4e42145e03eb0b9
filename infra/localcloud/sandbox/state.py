"""The sandbox's mutable state: per-model knobs (latency, injected failures), request counters
and in-flight gauges, and the fine-tuning emulation's state. Guarded by one lock."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from localcloud.sandbox.finetune import FineTuneState

# Steps the error-rate sequence by the golden ratio: a deterministic, evenly spread share of
# requests fails, so a retry of the same input can succeed.
_GOLDEN = 0.6180339887498949


@dataclass
class Knobs:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit_next: int = 0
    fail_next: int = 0
    retry_after: float | None = 1.0
    stream_delay_ms: float = 0.0  # pause between streamed chunks (token-by-token pace)


class SandboxState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.knobs: dict[str, Knobs] = {}
        self.counters: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.fine_tune = FineTuneState()

    def knobs_for(self, model: str) -> Knobs:
        return self.knobs.get(model) or self.knobs.get("*") or Knobs()

    def decide_failure(self, model: str) -> tuple[int, float | None] | None:
        """A forced status for this request (429/500), consuming bursts; None: answer normally."""
        with self.lock:
            knobs = self.knobs.get(model) or self.knobs.get("*")
            count = self.counters.get(model, 0)
            self.counters[model] = count + 1
            if knobs is None:
                return None
            if knobs.rate_limit_next > 0:
                knobs.rate_limit_next -= 1
                return 429, knobs.retry_after
            if knobs.fail_next > 0:
                knobs.fail_next -= 1
                return 500, None
            if knobs.error_rate > 0 and ((count + 1) * _GOLDEN) % 1.0 < knobs.error_rate:
                return 500, None
        return None
