"""The local scheduler's EventBridge Scheduler expressions: rate, cron (6 fields), at."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from localcloud.expressions import At, Cron, ExpressionError, Rate, parse_expression

T0 = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)  # a Tuesday


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fire_times(expression: str, after: datetime, count: int, tz: str | None = None) -> list[datetime]:
    parsed = parse_expression(expression, tz)
    out, t = [], after
    for _ in range(count):
        nxt = parsed.next_after(t, after)
        if nxt is None:
            break
        out.append(nxt)
        t = nxt
    return out


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("rate(5 seconds)", 5),
        ("rate(1 second)", 1),
    ],  # seconds: local-only (the fine-tune poll)
)
def test_rate_units(expression, seconds):
    parsed = parse_expression(expression)
    assert parsed == Rate(seconds)
    assert parsed.next_after(T0, T0) == datetime.fromtimestamp(T0.timestamp() + seconds, UTC)


def test_rate_counts_from_its_anchor_not_from_the_last_check():
    anchor = utc(2026, 1, 1, 0, 0, 0)
    assert parse_expression("rate(15 minutes)").next_after(utc(2026, 1, 1, 0, 20, 0), anchor) == utc(2026, 1, 1, 0, 30)


def test_every_weekday_at_nine_thirty():
    times = fire_times("cron(30 9 ? * MON-FRI *)", T0, 4)
    assert times == [utc(2026, 3, 11, 9, 30), utc(2026, 3, 12, 9, 30), utc(2026, 3, 13, 9, 30), utc(2026, 3, 16, 9, 30)]


def test_steps_lists_and_numbered_days():
    # Every 20 minutes between 8 and 9 on Sundays (1 = SUN) and Saturdays (7).
    times = fire_times("cron(0/20 8-9 ? * 1,7 *)", T0, 7)
    assert times[:6] == [utc(2026, 3, 14, h, m) for h in (8, 9) for m in (0, 20, 40)]
    assert times[6] == utc(2026, 3, 15, 8, 0)


def test_last_day_of_month_and_month_names():
    assert fire_times("cron(0 0 L FEB,APR ? *)", T0, 2) == [utc(2026, 4, 30), utc(2027, 2, 28)]


def test_nth_weekday_of_month():
    # The first Monday of each month, 10:15.
    assert fire_times("cron(15 10 ? * MON#1 *)", T0, 2) == [utc(2026, 4, 6, 10, 15), utc(2026, 5, 4, 10, 15)]


def test_year_field_ends_the_schedule():
    assert fire_times("cron(0 12 1 1 ? 2027)", T0, 3) == [utc(2027, 1, 1, 12)]


def test_timezone_is_honoured_across_daylight_saving():
    # 09:00 in New York is 14:00 UTC in winter and 13:00 UTC after DST starts (8 March 2026).
    before = fire_times("cron(0 9 * * ? *)", utc(2026, 3, 6, 0, 0), 3, tz="America/New_York")
    assert before == [utc(2026, 3, 6, 14), utc(2026, 3, 7, 14), utc(2026, 3, 8, 13)]


def test_at_fires_once_in_its_timezone():
    parsed = parse_expression("at(2026-03-10T14:00:00)", "Europe/Paris")
    assert isinstance(parsed, At)
    assert parsed.next_after(T0, T0) == utc(2026, 3, 10, 13, 0)
    assert parsed.next_after(utc(2026, 3, 10, 13, 0), T0) is None


def test_cron_parses_to_a_cron():
    assert isinstance(parse_expression("cron(0 3 * * ? *)"), Cron)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("cron(0 3 * * *)", "6 fields"),
        ("cron(0 3 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 3 ? * ? *)", "exactly one of day-of-month and day-of-week"),
        ("cron(61 3 * * ? *)", "outside 0-59"),
        ("cron(0 24 * * ? *)", "outside 0-23"),
        ("cron(0 3 15W * ? *)", "W"),
        ("cron(0 3 ? * 6L *)", "L in day-of-week"),
        ("cron(0 3 ? * MON#9 *)", "MON#1"),
        ("cron(0 3 * FOO ? *)", "invalid month"),
        ("cron(0 5-3 * * ? *)", "descending"),
        ("cron(0/0 3 * * ? *)", "invalid step"),
        ("rate(0 minutes)", "at least 1"),
        ("rate(5 weeks)", "unsupported"),
        ("every day", "unsupported"),
        ("at(2026-13-01 00:00)", "unsupported"),
    ],
)
def test_bad_or_unsupported_expressions_are_refused_clearly(expression, fragment):
    with pytest.raises(ExpressionError, match=fragment):
        parse_expression(expression)


def test_unknown_timezone_is_refused():
    with pytest.raises(ExpressionError, match="Mars/Olympus"):
        parse_expression("rate(1 minute)", "Mars/Olympus")
