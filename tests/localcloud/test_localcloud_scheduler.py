"""The local scheduler fires EventBridge Scheduler schedules stored in the embedded AWS.

The clock is a ManualClock: tests move it and call ``scheduler.tick()``; nothing sleeps.
Each test first ticks once so whatever an earlier test left due is flushed.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.slow


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self._lock = threading.Lock()

    def __call__(self, event, _ctx):
        with self._lock:
            self.events.append(event)
        return {"batchItemFailures": []}


def wait_for(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def create(cloud, name: str, expression: str, target_arn: str, payload: dict, **extra) -> None:
    cloud.client("scheduler").create_schedule(
        Name=name,
        GroupName=cloud.created.refs["LeaderboardScheduleGroup"],
        ScheduleExpression=expression,
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": target_arn,
            "RoleArn": cloud.created.attrs["SchedulerRole"]["Arn"],
            "Input": json.dumps(payload),
        },
        **extra,
    )


def fired(firings, name: str) -> list:
    return [f for f in firings if f.name == name]


def test_template_schedules_exist_in_the_default_group(local_cloud):
    template = local_cloud.template
    targets = [
        local_cloud.created.attrs[logical]["Arn"]
        for logical, res in template.functions.items()
        for event in res["Properties"].get("Events", {}).values()
        if event["Type"] == "ScheduleV2"
    ]
    schedules = local_cloud.client("scheduler").list_schedules(GroupName="default")["Schedules"]
    assert len(targets) >= 2
    assert sorted(s["Target"]["Arn"] for s in schedules) == sorted(targets)


def test_template_rate_schedules_invoke_their_function_with_the_input(local_cloud):
    sweeper = Recorder()
    with local_cloud.override("sweeper", sweeper):
        local_cloud.scheduler.tick()
        sweeper.events.clear()
        local_cloud.clock.advance(5 * 60 + 1)  # rate(5 minutes)
        local_cloud.scheduler.tick()
        assert {"job": "reservation_sweep"} in sweeper.events
        local_cloud.clock.advance(15 * 60)  # rate(15 minutes): both are now due
        local_cloud.scheduler.tick()
    jobs = [e["job"] for e in sweeper.events]
    assert jobs.count("consolidation_sweep") == 1  # missed occurrences coalesce into one
    assert jobs.count("reservation_sweep") == 2


def test_the_fine_tune_poll_runs_every_few_seconds_locally(local_cloud):
    """[local] fine_tune_poll_seconds (default 5) replaces the template's rate(2 minutes)."""
    [poll] = [
        s
        for s in local_cloud.client("scheduler").list_schedules(GroupName="default")["Schedules"]
        if s["Name"].endswith("fine-tune-poll")
    ]
    expression = local_cloud.client("scheduler").get_schedule(Name=poll["Name"])["ScheduleExpression"]
    assert expression == f"rate({local_cloud.fine_tune_poll_seconds} seconds)" == "rate(5 seconds)"
    sweeper = Recorder()
    with local_cloud.override("sweeper", sweeper):
        local_cloud.scheduler.tick()
        sweeper.events.clear()
        for _ in range(3):
            local_cloud.clock.advance(5)
            local_cloud.scheduler.tick()
    assert [e["job"] for e in sweeper.events].count("fine_tune_poll") == 3


def test_runtime_rate_schedule_sends_its_input_to_the_runs_queue(local_cloud):
    fanout = Recorder()
    payload = {"leaderboard_id": "lb_9", "source": "schedule"}
    with local_cloud.override("run_fanout", fanout):
        local_cloud.scheduler.tick()
        create(local_cloud, "lb_9-runs", "rate(1 minute)", local_cloud.created.attrs["RunsQueue"]["Arn"], payload)
        assert fired(local_cloud.scheduler.tick(), "lb_9-runs") == []  # not due yet
        local_cloud.clock.advance(60)
        [firing] = fired(local_cloud.scheduler.tick(), "lb_9-runs")
        assert firing.error is None and firing.group == local_cloud.created.refs["LeaderboardScheduleGroup"]
        wait_for(lambda: fanout.events, what="the run message to reach run_fanout")
    [record] = fanout.events[0]["Records"]
    assert json.loads(record["body"]) == payload
    assert record["eventSourceARN"] == local_cloud.created.attrs["RunsQueue"]["Arn"]
    local_cloud.client("scheduler").delete_schedule(
        GroupName=local_cloud.created.refs["LeaderboardScheduleGroup"], Name="lb_9-runs"
    )


def test_disabled_schedules_do_not_fire_until_enabled(local_cloud):
    arn = local_cloud.created.attrs["SweeperFunction"]["Arn"]
    sweeper = Recorder()
    group = local_cloud.created.refs["LeaderboardScheduleGroup"]
    with local_cloud.override("sweeper", sweeper):
        local_cloud.scheduler.tick()
        create(local_cloud, "paused", "rate(1 minute)", arn, {"job": "paused"}, State="DISABLED")
        local_cloud.clock.advance(120)
        assert fired(local_cloud.scheduler.tick(), "paused") == []
        detail = local_cloud.client("scheduler").get_schedule(GroupName=group, Name="paused")
        local_cloud.client("scheduler").update_schedule(
            Name="paused",
            GroupName=group,
            ScheduleExpression=detail["ScheduleExpression"],
            FlexibleTimeWindow={"Mode": "OFF"},
            Target=detail["Target"],
            State="ENABLED",
        )
        local_cloud.clock.advance(61)
        assert len(fired(local_cloud.scheduler.tick(), "paused")) == 1
    assert {"job": "paused"} in sweeper.events
    local_cloud.client("scheduler").delete_schedule(GroupName=group, Name="paused")


def test_at_schedule_fires_once_and_deletes_itself(local_cloud):
    arn = local_cloud.created.attrs["SweeperFunction"]["Arn"]
    when = (local_cloud.clock.now() + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S")
    group = local_cloud.created.refs["LeaderboardScheduleGroup"]
    with local_cloud.override("sweeper", Recorder()):
        create(local_cloud, "once", f"at({when})", arn, {"job": "once"}, ActionAfterCompletion="DELETE")
        local_cloud.clock.advance(5 * 60)
        assert fired(local_cloud.scheduler.tick(), "once") == []
        local_cloud.clock.advance(6 * 60)
        assert len(fired(local_cloud.scheduler.tick(), "once")) == 1
        local_cloud.clock.advance(3600)
        assert fired(local_cloud.scheduler.tick(), "once") == []
    names = {s["Name"] for s in local_cloud.client("scheduler").list_schedules(GroupName=group)["Schedules"]}
    assert "once" not in names


def test_cron_schedule_fires_at_its_wall_clock_time(local_cloud):
    arn = local_cloud.created.attrs["SweeperFunction"]["Arn"]
    group = local_cloud.created.refs["LeaderboardScheduleGroup"]
    tomorrow = (local_cloud.clock.now() + timedelta(days=1)).date()
    with local_cloud.override("sweeper", Recorder()):
        local_cloud.scheduler.tick()
        create(local_cloud, "nightly", "cron(0 3 * * ? *)", arn, {"job": "nightly"}, ScheduleExpressionTimezone="UTC")
        local_cloud.clock.set(datetime(tomorrow.year, tomorrow.month, tomorrow.day, 2, 59, tzinfo=UTC))
        local_cloud.scheduler.tick()
        local_cloud.clock.set(datetime(tomorrow.year, tomorrow.month, tomorrow.day, 3, 0, 30, tzinfo=UTC))
        [firing] = fired(local_cloud.scheduler.tick(), "nightly")
        assert firing.at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 3, 0, tzinfo=UTC)
        assert fired(local_cloud.scheduler.tick(), "nightly") == []
    local_cloud.client("scheduler").delete_schedule(GroupName=group, Name="nightly")


def test_schedule_past_its_end_date_never_fires(local_cloud):
    arn = local_cloud.created.attrs["SweeperFunction"]["Arn"]
    group = local_cloud.created.refs["LeaderboardScheduleGroup"]
    end = local_cloud.clock.now() + timedelta(seconds=30)
    with local_cloud.override("sweeper", Recorder()):
        local_cloud.scheduler.tick()
        create(local_cloud, "ended", "rate(1 minute)", arn, {"job": "ended"}, EndDate=end)
        local_cloud.clock.advance(120)
        assert fired(local_cloud.scheduler.tick(), "ended") == []
    local_cloud.client("scheduler").delete_schedule(GroupName=group, Name="ended")


def test_unknown_lambda_target_is_recorded_as_a_failed_firing(local_cloud):
    group = local_cloud.created.refs["LeaderboardScheduleGroup"]
    local_cloud.scheduler.tick()
    create(local_cloud, "ghost", "rate(1 minute)", "arn:aws:lambda:us-east-1:123456789012:function:nope", {})
    local_cloud.clock.advance(61)
    [firing] = fired(local_cloud.scheduler.tick(), "ghost")
    assert "no template function" in firing.error
    local_cloud.client("scheduler").delete_schedule(GroupName=group, Name="ghost")


def test_a_schedule_with_an_unusable_expression_is_skipped_not_fatal(local_cloud):
    arn = local_cloud.created.attrs["SweeperFunction"]["Arn"]
    group = local_cloud.created.refs["LeaderboardScheduleGroup"]
    sweeper = Recorder()
    with local_cloud.override("sweeper", sweeper):
        local_cloud.scheduler.tick()
        create(local_cloud, "five-fields", "cron(0 3 * * *)", arn, {"job": "bad"})  # Unix cron, not EventBridge's
        local_cloud.clock.advance(2 * 86400)
        firings = local_cloud.scheduler.tick()
    assert fired(firings, "five-fields") == []
    assert {"job": "bad"} not in sweeper.events
    local_cloud.client("scheduler").delete_schedule(GroupName=group, Name="five-fields")
