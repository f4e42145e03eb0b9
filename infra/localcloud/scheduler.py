"""Fires EventBridge Scheduler schedules stored in the embedded AWS (moto stores them, never
fires them).

Every schedule lives in moto: the template's ``ScheduleV2`` function events are created there
at startup (default group), and code creates its own at runtime (any group). On each
``tick(now)`` the scheduler lists them all and fires those due since the last tick:

- a Lambda target that is a template function is invoked in-process with the ``Input`` JSON
  as its event (asynchronously, like Scheduler's async invoke);
- an SQS target gets ``SendMessage`` with ``Input`` as the body.

A rate schedule fires at anchor + k x period, where the anchor is its StartDate, else its
creation (or last modification) time. Occurrences missed between two ticks (a laptop asleep,
a test jumping the clock by an hour) are coalesced into one firing, so a jump never floods
the queues. ``at`` schedules fire once; ActionAfterCompletion DELETE then removes them.
State DISABLED, StartDate and EndDate are honoured.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from localcloud.expressions import ExpressionError, parse_expression

logger = logging.getLogger("localcloud.scheduler")


@dataclass
class Firing:
    """One schedule firing: what fired, when, where to, and how it went."""

    group: str
    name: str
    target_arn: str
    at: datetime
    input: str
    result: Any = None
    error: str | None = None


@dataclass
class _Tracked:
    signature: tuple
    last_checked: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    reported: bool = False  # an unusable expression was logged


def _aware(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Scheduler:
    """Polls moto's schedules and fires the due ones; ``tick`` is the whole algorithm."""

    def __init__(
        self,
        scheduler_client: Any,
        sqs_client: Any,
        invoke_lambda: Callable[[str, dict], Any],
        lambda_arn_to_function: Callable[[str], str | None],
        clock: Any,
        workers: int = 4,
    ) -> None:
        self._scheduler = scheduler_client
        self._sqs = sqs_client
        self._invoke = invoke_lambda
        self._function_for_arn = lambda_arn_to_function
        self.clock = clock
        self._tracked: dict[tuple[str, str], _Tracked] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scheduler-target")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.history: list[Firing] = []

    # ---------------------------------------------------------------- lifecycle
    def start(self, interval: float = 1.0) -> None:
        """Runs ``tick`` on the clock from a background thread (real clocks only)."""
        if self.clock.manual:
            return
        self._thread = threading.Thread(target=self._loop, args=(interval,), name="scheduler", daemon=True)
        self._thread.start()

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.tick(wait=False)
            except Exception:  # noqa: BLE001 - the loop must survive one bad tick; it is logged
                logger.exception("scheduler tick failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    # ---------------------------------------------------------------- the algorithm
    def tick(self, now: datetime | None = None, wait: bool = True) -> list[Firing]:
        """Fires every schedule due in (its last check, now]. With ``wait`` (the default, for
        tests) it returns once every target has been invoked or sent to."""
        now = now or self.clock.now()
        with self._lock:
            due = self._collect_due(now)
        futures: list[tuple[Firing, Future]] = [(f, self._pool.submit(self._deliver, f)) for f in due]
        if wait:
            for _firing, future in futures:
                future.result()
        return [f for f, _ in futures]

    def _collect_due(self, now: datetime) -> list[Firing]:
        due: list[Firing] = []
        seen: set[tuple[str, str]] = set()
        paginator_kwargs: dict[str, Any] = {}
        while True:
            page = self._scheduler.list_schedules(**paginator_kwargs)
            for summary in page.get("Schedules", []):
                key = (summary["GroupName"], summary["Name"])
                seen.add(key)
                firing = self._check(key, summary, now)
                if firing is not None:
                    due.append(firing)
            if not page.get("NextToken"):
                break
            paginator_kwargs["NextToken"] = page["NextToken"]
        for gone in set(self._tracked) - seen:
            del self._tracked[gone]
        return due

    def _check(self, key: tuple[str, str], summary: dict[str, Any], now: datetime) -> Firing | None:
        # AWS stamps real times; read them on the scheduler's clock (a test's clock may be ahead).
        stamped = _aware(summary.get("LastModificationDate"))
        modified = self.clock.reading_at(stamped) if stamped else now
        tracked = self._tracked.get(key)
        if tracked is None or tracked.signature[0] != stamped:
            detail = self._scheduler.get_schedule(GroupName=key[0], Name=key[1])
            anchor = _aware(detail.get("StartDate")) or modified
            tracked = _Tracked(signature=(stamped,), last_checked=min(anchor, now), detail=detail)
            self._tracked[key] = tracked
        detail = tracked.detail
        if detail.get("State", "ENABLED") != "ENABLED":
            tracked.last_checked = now
            return None
        try:
            expression = parse_expression(detail["ScheduleExpression"], detail.get("ScheduleExpressionTimezone"))
        except ExpressionError as exc:
            if not tracked.reported:  # once per version of the schedule, not every tick
                logger.error("schedule %s/%s cannot fire: %s", key[0], key[1], exc)
                tracked.reported = True
            tracked.last_checked = now
            return None
        start = _aware(detail.get("StartDate"))
        end = _aware(detail.get("EndDate"))
        anchor = start or modified
        since = tracked.last_checked
        if start and since < start:
            since = start - timedelta(microseconds=1)  # fire times at or after StartDate only
        next_time = expression.next_after(since, anchor)
        tracked.last_checked = now
        if next_time is None or next_time > now or (start and next_time < start) or (end and next_time > end):
            return None
        target = detail["Target"]
        return Firing(group=key[0], name=key[1], target_arn=target["Arn"], at=next_time, input=target.get("Input", ""))

    def _deliver(self, firing: Firing) -> Firing:
        arn = firing.target_arn
        try:
            if arn.startswith("arn:aws:sqs:"):
                queue_name = arn.rsplit(":", 1)[1]
                url = self._sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
                firing.result = self._sqs.send_message(QueueUrl=url, MessageBody=firing.input or "{}")["MessageId"]
            elif arn.startswith("arn:aws:lambda:"):
                function = self._function_for_arn(arn)
                if function is None:
                    raise LookupError(f"no template function has ARN {arn}")
                event = json.loads(firing.input) if firing.input else {}
                firing.result = self._invoke(function, event)
            else:
                raise LookupError(f"unsupported schedule target {arn} (local scheduler: Lambda or SQS)")
            logger.info("schedule %s/%s fired -> %s", firing.group, firing.name, arn)
            self._after_completion(firing)
        except Exception as exc:  # noqa: BLE001 - a failing target is recorded and logged, like Scheduler
            firing.error = f"{type(exc).__name__}: {exc}"
            logger.exception("schedule %s/%s target %s failed", firing.group, firing.name, arn)
        with self._lock:
            self.history.append(firing)
        return firing

    def _after_completion(self, firing: Firing) -> None:
        tracked = self._tracked.get((firing.group, firing.name))
        detail = tracked.detail if tracked else {}
        if detail.get("ScheduleExpression", "").startswith("at(") and detail.get("ActionAfterCompletion") == "DELETE":
            self._scheduler.delete_schedule(GroupName=firing.group, Name=firing.name)
