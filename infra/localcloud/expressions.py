"""EventBridge Scheduler expressions: ``rate(...)``, ``cron(...)`` and ``at(...)``.

``parse_expression(text, timezone)`` returns an object with ``next_after(t)``: the first fire
time strictly after the aware datetime ``t`` (``None`` when there is none). Cron and ``at``
are evaluated in the schedule's timezone (``ScheduleExpressionTimezone``), like AWS.

Cron is EventBridge's six-field form: ``minutes hours day-of-month month day-of-week year``,
with ``*``, ``?``, lists, ranges, ``/`` steps, month names (JAN-DEC), day names (SUN-SAT,
1 = Sunday), ``L`` in day-of-month and ``n#k`` (k-th weekday) in day-of-week. ``W`` and
``nL`` in day-of-week are refused with a clear error rather than guessed.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ExpressionError(ValueError):
    """A schedule expression this scheduler cannot evaluate (bad or unsupported)."""


# ``second(s)`` is a local-only extension (AWS's minimum rate is one minute): the local cloud
# uses it for the fine-tune poll ([local] fine_tune_poll_seconds); the product validates user
# schedules itself and never creates one.
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(second|seconds|minute|minutes|hour|hours|day|days)\s*\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m: i for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                        "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}  # fmt: skip
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ExpressionError(f"unknown ScheduleExpressionTimezone {name!r}") from exc


@dataclass(frozen=True)
class Rate:
    """``rate(N unit)``: every N units from an anchor (the schedule's start or creation)."""

    seconds: int

    def next_after(self, t: datetime, anchor: datetime) -> datetime | None:
        if t < anchor:
            return anchor + timedelta(seconds=self.seconds)
        periods = int((t - anchor).total_seconds() // self.seconds) + 1
        return anchor + timedelta(seconds=self.seconds * periods)


@dataclass(frozen=True)
class At:
    """``at(yyyy-mm-ddThh:mm:ss)``: once, at that wall-clock time in the schedule's zone."""

    when: datetime

    def next_after(self, t: datetime, anchor: datetime) -> datetime | None:
        return self.when if self.when > t else None


@dataclass(frozen=True)
class Cron:
    """Six-field EventBridge cron, matched minute by minute in the schedule's timezone."""

    minutes: frozenset[int]
    hours: frozenset[int]
    dom: str  # the raw day-of-month field ('?' / 'L' / a set spec), resolved per month
    months: frozenset[int]
    dow: str  # the raw day-of-week field
    years: frozenset[int] | None  # None: every year
    zone: ZoneInfo

    def _day_matches(self, d: date) -> bool:
        if self.dom != "?":
            return _dom_matches(self.dom, d)
        return _dow_matches(self.dow, d)

    def next_after(self, t: datetime, anchor: datetime) -> datetime | None:
        local = t.astimezone(self.zone).replace(second=0, microsecond=0)
        day = local.date()
        # Scan day by day (cheap: at most a few thousand days), then hours and minutes.
        for _ in range(366 * 6):
            if (self.years is None or day.year in self.years) and day.month in self.months and self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.zone)
                        if candidate.astimezone(UTC) > t.astimezone(UTC):
                            return candidate.astimezone(UTC)
            if self.years is not None and day.year > max(self.years):
                return None
            day += timedelta(days=1)
        return None


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None, what: str = "") -> frozenset[int]:
    """Expands ``*``, lists, ranges and steps into the set of values of one cron field."""
    out: set[int] = set()

    def number(token: str) -> int:
        token = token.upper()
        if names and token in names:
            return names[token]
        if not token.isdigit():
            raise ExpressionError(f"invalid {what} value {token!r} in cron expression")
        value = int(token)
        if not low <= value <= high:
            raise ExpressionError(f"{what} value {value} outside {low}-{high}")
        return value

    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ExpressionError(f"invalid step {step_text!r} in {what}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = number(a), number(b)
            if start > end:
                raise ExpressionError(f"descending range {base!r} in {what}")
        else:
            start = number(base)
            end = high if step_text else start
        out.update(range(start, end + 1, step))
    return frozenset(out)


def _dom_matches(field: str, d: date) -> bool:
    last = calendar.monthrange(d.year, d.month)[1]
    if field == "L":
        return d.day == last
    return d.day in _values(field, 1, 31, what="day-of-month")


def _dow_matches(field: str, d: date) -> bool:
    aws_dow = (d.isoweekday() % 7) + 1  # Sunday = 1 ... Saturday = 7
    if "#" in field:
        day_text, nth_text = field.split("#", 1)
        wanted = _values(day_text, 1, 7, _DAYS, "day-of-week")
        nth = int(nth_text)
        return aws_dow in wanted and (d.day - 1) // 7 + 1 == nth
    return aws_dow in _values(field, 1, 7, _DAYS, "day-of-week")


def parse_cron(body: str, zone: ZoneInfo) -> Cron:
    fields = body.split()
    if len(fields) != 6:
        raise ExpressionError(
            f"cron needs 6 fields (minutes hours day-of-month month day-of-week year), got {len(fields)}: {body!r}"
        )
    minute, hour, dom, month, dow, year = (f.upper() for f in fields)
    if (dom == "?") == (dow == "?"):
        raise ExpressionError("cron: exactly one of day-of-month and day-of-week must be '?'")
    if "W" in dom:
        raise ExpressionError("cron: the W (nearest weekday) wildcard is not supported by the local scheduler")
    if dow != "?" and "L" in dow:
        raise ExpressionError("cron: L in day-of-week is not supported by the local scheduler")
    if "L" in dom and dom != "L":
        raise ExpressionError("cron: L in day-of-month must stand alone locally")
    if "#" in dow:
        day_text, _, nth = dow.partition("#")
        if not nth.isdigit() or not 1 <= int(nth) <= 5 or "," in dow:
            raise ExpressionError(f"cron: invalid day-of-week {dow!r} (use e.g. MON#1)")
        _values(day_text, 1, 7, _DAYS, "day-of-week")
    elif dow != "?":
        _values(dow, 1, 7, _DAYS, "day-of-week")
    if dom not in ("?", "L"):
        _values(dom, 1, 31, what="day-of-month")
    return Cron(
        minutes=_values(minute, 0, 59, what="minutes"),
        hours=_values(hour, 0, 23, what="hours"),
        dom=dom,
        months=_values(month, 1, 12, _MONTHS, "month"),
        dow=dow,
        years=None if year == "*" else _values(year, 1970, 2199, what="year"),
        zone=zone,
    )


def parse_expression(text: str, timezone: str | None = None) -> Rate | At | Cron:
    """Parses a ScheduleExpression; raises ExpressionError with a readable reason."""
    text = (text or "").strip()
    zone = _zone(timezone)
    if m := _RATE.match(text):
        value, unit = int(m.group(1)), m.group(2).rstrip("s")
        if value < 1:
            raise ExpressionError("rate value must be at least 1")
        return Rate(value * _UNIT_SECONDS[unit])
    if m := _AT.match(text):
        return At(datetime.fromisoformat(m.group(1)).replace(tzinfo=zone).astimezone(UTC))
    if m := _CRON.match(text):
        return parse_cron(m.group(1), zone)
    raise ExpressionError(f"unsupported schedule expression {text!r} (use rate(...), cron(...) or at(...))")
