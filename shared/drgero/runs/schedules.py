"""Leaderboard run schedules -> EventBridge Scheduler schedules.

The leaderboard's ``schedule`` JSON::

    {"cron": "0 3 * * *", "timezone": "Europe/Paris", "enabled": true}
    {"rate": "1 day"}

``cron`` is the usual 5-field form (minute hour day-of-month month day-of-week; Sunday = 0 or
7, names allowed) or AWS's 6-field form; it becomes ``cron(...)`` with AWS's rules applied
(one of day-of-month / day-of-week is ``?``; day-of-week numbers 1-7 from Sunday). ``rate`` is
``N minute(s)|hour(s)|day(s)``. ``timezone`` (IANA, default UTC) and ``enabled`` (default
true) are optional. A disabled or null schedule deletes the EventBridge schedule.

The schedule is named ``lb-{leaderboard_id}`` in ``aws.schedule_group_name`` and sends
``{"leaderboard_id", "workspace_id", "source": "schedule"}`` to the runs queue
(``aws.runs_queue_arn``, role ``aws.scheduler_role_arn``); the fan-out starts the run.
"""

from __future__ import annotations

import json
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botocore.exceptions import ClientError
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.core.validation import TextModel, field_errors

_RATE = re.compile(r"^\s*(\d{1,5})\s+(minute|minutes|hour|hours|day|days)\s*$", re.IGNORECASE)
_FIELD = re.compile(r"^[0-9A-Za-z*?/,\-#LW]{1,60}$")
_DOW_NAMES = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}


class ScheduleConfig(TextModel):
    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(default=None, max_length=200)
    rate: str | None = Field(default=None, max_length=50)
    timezone: str = Field(default="UTC", max_length=64)
    enabled: bool = True

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'Europe/Paris')") from None
        return value

    @model_validator(mode="after")
    def _one_expression(self) -> ScheduleConfig:
        if (self.cron is None) == (self.rate is None):
            raise ValueError("give exactly one of 'cron' and 'rate'")
        self.expression()  # raises ValueError for a malformed cron/rate
        self.min_interval_minutes()  # and for a cron that never fires
        return self

    def expression(self) -> str:
        return rate_expression(self.rate) if self.rate is not None else cron_expression(self.cron or "")

    def min_interval_minutes(self) -> int:
        """The shortest time between two firings (for a cron: of two firings on consecutive
        days, a lower bound whatever the day fields say)."""
        if self.rate is not None:
            match = _RATE.match(self.rate)
            assert match is not None  # validated
            return int(match.group(1)) * _UNIT_MINUTES[match.group(2).lower().rstrip("s")]
        minute, hour = (self.cron or "").strip().removeprefix("cron(").removesuffix(")").split()[:2]
        times = sorted(h * 60 + m for h in _expand(hour, 0, 23) for m in _expand(minute, 0, 59))
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        return min([*gaps, times[0] + 1440 - times[-1]])


_UNIT_MINUTES = {"minute": 1, "hour": 60, "day": 1440}


def _expand(field: str, low: int, high: int) -> set[int]:
    """The values a minute or hour field matches: ``*``, ``a``, ``a-b``, with ``/step``, in lists."""
    values: set[int] = set()
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            start, end = (int(n) for n in base.split("-", 1))
        else:
            start = int(base)
            end = high if step else start
        values.update(range(start, end + 1, int(step or 1)))
    if not values:
        raise ValueError("the cron never fires")
    return values


def rate_expression(rate: str) -> str:
    match = _RATE.match(rate)
    if not match:
        raise ValueError("rate must look like '1 day', '6 hours' or '30 minutes'")
    count, unit = int(match.group(1)), match.group(2).lower().rstrip("s")
    if count < 1:
        raise ValueError("rate must be at least 1")
    return f"rate({count} {unit}{'' if count == 1 else 's'})"


def _dow(field: str) -> str:
    """Day-of-week numbers of standard cron (0-7, Sunday 0 or 7) -> AWS (1-7, Sunday 1)."""

    def convert(match: re.Match[str]) -> str:
        number = int(match.group(0))
        if number > 7:
            raise ValueError("day-of-week numbers go from 0 to 7")
        return str(number % 7 + 1)

    return re.sub(r"(?<![/#])\d+", convert, field)


_RANGES = {"minute": (0, 59), "hour": (0, 23), "day-of-month": (1, 31), "month": (1, 12), "day-of-week": (0, 7)}


def _check_numbers(name: str, value: str) -> None:
    """Every number of a field (not a step) must be within the field's range."""
    low, high = _RANGES[name]
    for part in value.split(","):
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) < 1):
            raise ValueError(f"invalid step in the {name} field: {part!r}")
        for number in re.findall(r"\d+", base.split("#")[0]):
            if not low <= int(number) <= high:
                raise ValueError(f"{name} values go from {low} to {high}, not {number}")


def cron_expression(cron: str) -> str:
    text = cron.strip()
    if text.startswith("cron(") and text.endswith(")"):
        text = text[5:-1].strip()
    fields = text.split()
    if len(fields) == 5:
        minute, hour, dom, month, dow = fields
        year = "*"
        for name, value in zip(_RANGES, fields, strict=True):
            _check_numbers(name, value)
        dow = dow if dow in ("*", "?") else _dow(dow)
    elif len(fields) == 6:
        minute, hour, dom, month, dow, year = fields
    else:
        raise ValueError("cron must have 5 fields (minute hour day-of-month month day-of-week)")
    for value in (minute, hour, dom, month, dow, year):
        if not _FIELD.match(value):
            raise ValueError(f"invalid cron field {value!r}")
    if dom not in ("*", "?") and dow not in ("*", "?"):
        raise ValueError("cron cannot restrict both day-of-month and day-of-week (EventBridge Scheduler rule)")
    if dow in ("*", "?"):
        dow = "?"
    else:
        dom = "?"
    return f"cron({minute} {hour} {dom} {month} {dow} {year})"


def parse_schedule(raw: Any, min_interval_minutes: int = 0) -> ScheduleConfig | None:
    """The leaderboard's ``schedule`` JSON -> config (None: no schedule); 400 ``invalid_schedule``,
    or 400 ``schedule_too_frequent`` when it fires more often than ``min_interval_minutes``
    (``runs.schedule_min_interval_minutes``: every firing is a paid run)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_schedule", "schedule must be a JSON object or null.")
    try:
        config = ScheduleConfig.model_validate(raw)
        config.expression()
    except ValidationError as exc:
        details = field_errors(exc.errors(include_url=False, include_input=False), prefix=("schedule",))
        raise ApiError(
            400, "invalid_schedule", "The schedule is not valid: " + "; ".join(d["error"] for d in details), details
        ) from None
    except ValueError as exc:
        raise ApiError(
            400, "invalid_schedule", f"The schedule is not valid: {exc}", [{"field": "schedule", "error": str(exc)}]
        ) from None
    if config.enabled and min_interval_minutes and config.min_interval_minutes() < min_interval_minutes:
        raise ApiError(
            400,
            "schedule_too_frequent",
            f"The schedule fires every {config.min_interval_minutes()} minutes at its most frequent; the minimum "
            f"interval is {min_interval_minutes} minutes (setting runs.schedule_min_interval_minutes).",
            {"min_interval_minutes": min_interval_minutes, "interval_minutes": config.min_interval_minutes()},
        )
    return config


def schedule_name(leaderboard_id: str) -> str:
    return f"lb-{leaderboard_id}"[:64]


def upsert_schedule(
    settings: Settings,
    clients: AwsClients,
    name: str,
    config: ScheduleConfig,
    target: dict[str, Any],
    description: str,
) -> None:
    """Creates or updates one EventBridge Scheduler schedule in our group. Idempotent, and
    safe when two writers race to create the same schedule."""
    request = {
        "Name": name,
        "GroupName": settings.aws.schedule_group_name,
        "ScheduleExpression": config.expression(),
        "ScheduleExpressionTimezone": config.timezone,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED",
        "Description": description,
        "Target": {"RoleArn": settings.aws.scheduler_role_arn, **target},
    }
    try:
        clients.scheduler.update_schedule(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        try:
            clients.scheduler.create_schedule(**request)
        except ClientError as create_exc:
            if create_exc.response.get("Error", {}).get("Code") != "ConflictException":
                raise
            clients.scheduler.update_schedule(**request)  # created concurrently: bring it up to date


def delete_named_schedule(settings: Settings, clients: AwsClients, name: str) -> bool:
    """Deletes one schedule of our group if it exists; False when there was none."""
    try:
        clients.scheduler.delete_schedule(Name=name, GroupName=settings.aws.schedule_group_name)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise


def sync_leaderboard_schedule(settings: Settings, clients: AwsClients, leaderboard: dict[str, Any]) -> str | None:
    """Creates, updates or deletes the leaderboard's EventBridge schedule to match its
    ``schedule`` field. Idempotent. Returns the schedule expression, or None when none."""
    config = parse_schedule(leaderboard.get("schedule"))
    if config is None or not config.enabled:
        delete_leaderboard_schedule(settings, clients, leaderboard["id"])
        return None
    message = {"leaderboard_id": leaderboard["id"], "workspace_id": leaderboard["workspace_id"], "source": "schedule"}
    upsert_schedule(
        settings,
        clients,
        schedule_name(leaderboard["id"]),
        config,
        {"Arn": settings.aws.runs_queue_arn, "Input": json.dumps(message)},
        f"Dr.Gero scheduled run of leaderboard {leaderboard['id']}",
    )
    return config.expression()


def delete_leaderboard_schedule(settings: Settings, clients: AwsClients, leaderboard_id: str) -> bool:
    """Deletes the schedule if it exists; False when there was none."""
    return delete_named_schedule(settings, clients, schedule_name(leaderboard_id))
