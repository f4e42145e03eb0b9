"""Run schedules (EventBridge Scheduler, created/updated/deleted with the leaderboard, fired by
the local cloud's scheduler) and dataset-improvement runs started by consolidation."""

from __future__ import annotations

import json

import pytest

from drgero.core.errors import ApiError
from drgero.datasets.triggers import ConsolidateMessage, handle_message
from drgero.runs.schedules import cron_expression, parse_schedule, rate_expression
from localcloud.clock import ManualClock
from localcloud.scheduler import Scheduler
from tests.support.handlers import api, push
from tests.support.identity import api_principal, new_workspace
from tests.support.runs import Driver, make_setup, rows


def get_schedule(aws, leaderboard_id: str) -> dict | None:
    client = aws.clients.scheduler
    try:
        return client.get_schedule(Name=f"lb-{leaderboard_id}", GroupName=aws.settings.aws.schedule_group_name)
    except client.exceptions.ResourceNotFoundException:
        return None


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 3 * * *", "cron(0 3 * * ? *)"),
        ("30 2 * * 1-5", "cron(30 2 ? * 2-6 *)"),  # Monday-Friday; AWS counts Sunday as 1
        ("0 0 1 * *", "cron(0 0 1 * ? *)"),
        ("0 9 * * 0", "cron(0 9 ? * 1 *)"),
        ("0 9 * * 7", "cron(0 9 ? * 1 *)"),
        ("0 9 ? * MON *", "cron(0 9 ? * MON *)"),
    ],
)
def test_cron_to_eventbridge(cron, expected):
    assert cron_expression(cron) == expected


def test_rate_and_invalid_schedules():
    assert rate_expression("1 days") == "rate(1 day)"
    assert rate_expression("6 hour") == "rate(6 hours)"
    bad_schedules = [
        {"cron": "0 3 * *"},
        {"rate": "soon"},
        {"cron": "0 3 1 * 1"},
        {},
        {"cron": "0 3 * * *", "rate": "1 day"},
        {"cron": "0 3 * * *", "timezone": "Mars/Olympus"},
        {"cron": "0 3 * * *", "extra": 1},
        "daily",
    ]
    for bad in bad_schedules:
        with pytest.raises(ApiError) as error:
            parse_schedule(bad)
        assert error.value.status == 400 and error.value.code == "invalid_schedule"
    assert parse_schedule(None) is None


def test_schedule_created_updated_deleted_with_the_leaderboard(aws):
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    principal = api_principal(ws)
    body = {
        "name": "nightly",
        "prompt": "{input}",
        "dataset": {"mode": "PUSH"},
        "schedule": {"cron": "0 3 * * *", "timezone": "Europe/Paris"},
    }
    status, created = api(aws, "POST", "/api/leaderboards", principal, body)
    assert status == 201, created
    lb = created["id"]
    schedule = get_schedule(aws, lb)
    assert schedule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert schedule["Target"]["Arn"] == aws.settings.aws.runs_queue_arn
    assert schedule["Target"]["RoleArn"] == aws.settings.aws.scheduler_role_arn
    assert json.loads(schedule["Target"]["Input"]) == {"leaderboard_id": lb, "workspace_id": ws, "source": "schedule"}

    status, _ = api(aws, "PATCH", f"/api/leaderboards/{lb}", principal, {"schedule": {"rate": "1 hour"}})
    assert status == 200 and get_schedule(aws, lb)["ScheduleExpression"] == "rate(1 hour)"
    status, answer = api(aws, "PATCH", f"/api/leaderboards/{lb}", principal, {"schedule": {"cron": "nope"}})
    assert status == 400 and answer["error"]["code"] == "invalid_schedule"
    assert get_schedule(aws, lb)["ScheduleExpression"] == "rate(1 hour)"  # unchanged
    status, _ = api(
        aws, "PATCH", f"/api/leaderboards/{lb}", principal, {"schedule": {"rate": "1 hour", "enabled": False}}
    )
    assert status == 200 and get_schedule(aws, lb) is None
    status, _ = api(aws, "PATCH", f"/api/leaderboards/{lb}", principal, {"schedule": {"rate": "2 days"}})
    assert get_schedule(aws, lb)["ScheduleExpression"] == "rate(2 days)"
    status, _ = api(aws, "PATCH", f"/api/leaderboards/{lb}", principal, {"schedule": None})
    assert status == 200 and get_schedule(aws, lb) is None
    api(aws, "PATCH", f"/api/leaderboards/{lb}", principal, {"schedule": {"rate": "1 day"}})
    status, _ = api(aws, "DELETE", f"/api/leaderboards/{lb}", principal)
    assert status == 204 and get_schedule(aws, lb) is None

    status, answer = api(aws, "POST", "/api/leaderboards", principal, {**body, "schedule": {"cron": "61 3 * * *"}})
    assert status == 400 and answer["error"]["code"] == "invalid_schedule"


def test_local_scheduler_fires_a_scheduled_run(aws, sandbox):
    setup = make_setup(aws, sandbox)
    status, _ = setup.api("PATCH", f"/api/leaderboards/{setup.leaderboard_id}", {"schedule": {"rate": "1 hour"}})
    assert status == 200
    clock = ManualClock()
    scheduler = Scheduler(aws.clients.scheduler, aws.clients.sqs, aws.functions.invoke, lambda _arn: None, clock)
    try:
        assert scheduler.tick() == []
        clock.advance(3601)
        fired = scheduler.tick()
    finally:
        scheduler.stop()
    assert len(fired) == 1 and fired[0].error is None
    driver = Driver(aws)
    scheduled = driver.receive("runs")
    assert len(scheduled) == 1
    driver.deliver("runs", scheduled, delete=False)
    driver.deliver("runs", scheduled)  # a duplicate schedule message starts no second run
    driver.drain()
    status, history = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert [r["source"] for r in history["runs"]] == ["schedule"]
    assert history["runs"][0]["status"] == "completed"


def test_dataset_improvement_run_starts_after_enough_new_rows(aws, sandbox):
    setup = make_setup(aws, sandbox, dataset={"improvement_run_min_new_rows": 5})
    body = {"workspace_id": setup.workspace_id, "leaderboard_id": setup.leaderboard_id, "reason": "api"}
    status, _, _ = push(aws, setup.leaderboard_id, setup.principal, rows(16)[12:])  # 4 new rows: below
    handle_message(aws.settings, aws.clients, ConsolidateMessage(**body))
    status, history = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert history["runs"] == []
    more = [{"id": f"n{i}", "input": f"{i} + 1", "output": str(i + 1)} for i in range(5)]
    push(aws, setup.leaderboard_id, setup.principal, more)
    handle_message(aws.settings, aws.clients, ConsolidateMessage(**body))
    status, history = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert [r["source"] for r in history["runs"]] == ["dataset_improvement"]
    Driver(aws).drain()
    run = setup.run(history["runs"][0]["id"])
    assert run["status"] == "completed" and run["dataset"]["rows"] == 21


def test_no_improvement_run_when_the_setting_is_off(aws, sandbox):
    setup = make_setup(aws, sandbox)
    push(aws, setup.leaderboard_id, setup.principal, rows(40)[12:])
    body = {"workspace_id": setup.workspace_id, "leaderboard_id": setup.leaderboard_id, "reason": "api"}
    handle_message(aws.settings, aws.clients, ConsolidateMessage(**body))
    status, history = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert history["runs"] == []


@pytest.mark.parametrize(
    ("schedule", "minutes"),
    [
        ({"cron": "* * * * *"}, 1),
        ({"cron": "*/15 * * * *"}, 15),
        ({"cron": "0,30 9 * * *"}, 30),
        ({"cron": "0 */2 * * *"}, 120),
        ({"cron": "0 23,0 * * *"}, 60),  # across midnight
        ({"cron": "59 23 * * *"}, 1440),
        ({"cron": "0/5 * ? * MON *"}, 5),  # AWS's 6-field form
        ({"rate": "1 minute"}, 1),
        ({"rate": "6 hours"}, 360),
        ({"rate": "2 days"}, 2880),
    ],
)
def test_the_shortest_interval_of_a_schedule(schedule, minutes):
    assert parse_schedule(schedule).min_interval_minutes() == minutes


def test_schedules_below_the_minimum_interval_are_400_naming_the_limit(aws):
    aws.functions.extra_env["DRGERO_RUNS__SCHEDULE_MIN_INTERVAL_MINUTES"] = "90"
    principal = api_principal(new_workspace(aws, plan="pro")["workspace_id"])
    body = {"name": "spendy", "prompt": "{input}", "dataset": {"mode": "PUSH"}}
    for schedule in ({"cron": "* * * * *"}, {"cron": "0,30 * * * *"}, {"rate": "1 hour"}):
        status, answer = api(aws, "POST", "/api/leaderboards", principal, {**body, "schedule": schedule})
        assert status == 400 and answer["error"]["code"] == "schedule_too_frequent", (schedule, answer)
        assert "90 minutes" in answer["error"]["message"]
        assert answer["error"]["details"]["min_interval_minutes"] == 90
    status, created = api(aws, "POST", "/api/leaderboards", principal, {**body, "schedule": {"rate": "2 hours"}})
    assert status == 201, created
    lb = created["id"]
    status, answer = api(aws, "PATCH", f"/api/leaderboards/{lb}", principal, {"schedule": {"cron": "*/5 * * * *"}})
    assert status == 400 and answer["error"]["code"] == "schedule_too_frequent"
    assert get_schedule(aws, lb)["ScheduleExpression"] == "rate(2 hours)"  # unchanged
    # A disabled schedule never fires, whatever its expression.
    disabled = {"schedule": {"cron": "* * * * *", "enabled": False}}
    assert api(aws, "PATCH", f"/api/leaderboards/{lb}", principal, disabled)[0] == 200
