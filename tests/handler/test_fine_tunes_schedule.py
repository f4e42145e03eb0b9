"""Fine-tune schedules: the EventBridge Scheduler schedule they become (target: the sweeper),
a firing that starts a job, firings skipped while the dataset is unchanged or a job runs, a
new dataset version trained again; bad schedules, wrong tenant, scopes."""

from __future__ import annotations

import json

import pytest

from tests.support.fine_tunes import BASE, make_fine_tune_setup, principal
from tests.support.identity import new_workspace
from tests.support.runs import push_rows


@pytest.fixture
def ft(aws, sandbox):
    return make_fine_tune_setup(aws, sandbox)


def put(ft, schedule, principal_=None, **body):
    payload = {"leaderboard_id": ft.lb, "base_model": BASE, "schedule": schedule, **body}
    return ft.api("PUT", f"/api/models/{ft.model_id}/fine-tune-schedule", payload, principal_)


def remote(ft):
    return ft.aws.clients.scheduler.get_schedule(
        Name=f"ft-{ft.model_id}", GroupName=ft.aws.settings.aws.schedule_group_name
    )


def fire(ft):
    """What EventBridge Scheduler does: invoke the target with the schedule's Input."""
    schedule = remote(ft)
    functions = ft.aws.functions
    assert functions.logical_id_for_arn(schedule["Target"]["Arn"]) == "SweeperFunction"
    return functions.invoke("SweeperFunction", json.loads(schedule["Target"]["Input"]))


def jobs_of(ft):
    status, listing = ft.api("GET", f"/api/models/{ft.model_id}/fine-tunes")
    assert status == 200
    return listing["fine_tunes"]


def test_schedule_starts_a_job_then_skips_until_the_dataset_changes(ft):
    status, schedule = put(ft, {"cron": "0 4 * * 1", "timezone": "Europe/Paris"}, hyperparameters={"n_epochs": 1})
    assert status == 200, schedule
    assert schedule["expression"] == "cron(0 4 ? * 2 *)"
    made = remote(ft)
    assert made["ScheduleExpression"] == "cron(0 4 ? * 2 *)" and made["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert json.loads(made["Target"]["Input"]) == {
        "job": "fine_tune_scheduled",
        "workspace_id": ft.setup.workspace_id,
        "model_id": ft.model_id,
    }

    first = fire(ft)
    assert first["outcome"] == "started"
    [job] = jobs_of(ft)
    assert job["id"] == first["job_id"] and job["source"] == "schedule" and job["hyperparameters"] == {"n_epochs": 1}

    # While it trains: skipped (one job per model).
    assert fire(ft)["outcome"] == "dataset_unchanged"
    assert ft.poll_until_done(job["id"])["status"] == "succeeded"
    # Done, dataset unchanged: skipped, nothing new is trained.
    skipped = fire(ft)
    assert skipped["outcome"] == "dataset_unchanged" and skipped["dataset_version"] == 1
    assert len(jobs_of(ft)) == 1
    status, read = ft.api("GET", f"/api/models/{ft.model_id}/fine-tune-schedule")
    assert status == 200 and read["last_outcome"] == "dataset_unchanged" and read["last_job_id"] == job["id"]

    # New rows, a new dataset version: trained again.
    push_rows(ft.setup, [{"id": "new1", "input": "100 + 1", "output": "101"}])
    again = fire(ft)
    assert again["outcome"] == "started" and again["job_id"] != job["id"]
    assert [j["dataset"]["version"] for j in jobs_of(ft)] == [2, 1]


def test_a_firing_while_a_manual_job_runs_on_a_new_version_is_skipped(ft):
    status, job = ft.create()
    assert status == 201
    assert put(ft, {"rate": "1 day"})[0] == 200
    push_rows(ft.setup, [{"id": "new1", "input": "100 + 1", "output": "101"}])
    assert fire(ft)["outcome"] == "in_progress"
    assert len(jobs_of(ft)) == 1


def test_disable_and_delete_remove_the_eventbridge_schedule(ft):
    assert put(ft, {"rate": "6 hours"})[0] == 200
    assert remote(ft)["ScheduleExpression"] == "rate(6 hours)"
    status, disabled = put(ft, {"rate": "6 hours", "enabled": False})
    assert status == 200 and disabled["expression"] is None
    with pytest.raises(ft.aws.clients.scheduler.exceptions.ResourceNotFoundException):
        remote(ft)
    assert put(ft, {"rate": "1 day"})[0] == 200
    status, _ = ft.api("DELETE", f"/api/models/{ft.model_id}/fine-tune-schedule")
    assert status == 204
    with pytest.raises(ft.aws.clients.scheduler.exceptions.ResourceNotFoundException):
        remote(ft)
    status, answer = ft.api("GET", f"/api/models/{ft.model_id}/fine-tune-schedule")
    assert status == 404
    # A firing that raced the delete finds nothing to do.
    result = ft.aws.functions.invoke(
        "SweeperFunction",
        {"job": "fine_tune_scheduled", "workspace_id": ft.setup.workspace_id, "model_id": ft.model_id},
    )
    assert result["outcome"] == "no_schedule"


@pytest.mark.parametrize(
    "schedule",
    [
        {"cron": "61 * * * *"},
        {"rate": "often"},
        {"cron": "0 3 * * *", "rate": "1 day"},
        {"cron": "0 3 * * *", "timezone": "Mars/Base"},
    ],
)
def test_invalid_schedules_are_400(ft, schedule):
    status, answer = put(ft, schedule)
    assert status == 400 and answer["error"]["code"] == "invalid_schedule", answer


@pytest.mark.parametrize("body", [{"schedule": "daily"}, {"schedule": None}, {}])
def test_malformed_schedule_bodies_are_400(ft, body):
    payload = {"leaderboard_id": ft.lb, "base_model": BASE, **body}
    status, answer = ft.api("PUT", f"/api/models/{ft.model_id}/fine-tune-schedule", payload)
    assert status == 400, answer


def test_wrong_tenant_and_scopes(ft):
    assert put(ft, {"rate": "1 day"})[0] == 200
    stranger = principal(new_workspace(ft.aws, plan="pro")["workspace_id"], "models:write", "leaderboards:read")
    assert put(ft, {"rate": "1 day"}, stranger)[0] == 404
    assert ft.api("GET", f"/api/models/{ft.model_id}/fine-tune-schedule", None, stranger)[0] == 404
    assert ft.api("DELETE", f"/api/models/{ft.model_id}/fine-tune-schedule", None, stranger)[0] == 404
    reader = principal(ft.setup.workspace_id, "leaderboards:read")
    assert put(ft, {"rate": "1 day"}, reader)[0] == 403
    assert ft.api("DELETE", f"/api/models/{ft.model_id}/fine-tune-schedule", None, reader)[0] == 403
    assert ft.api("GET", f"/api/models/{ft.model_id}/fine-tune-schedule", None, reader)[0] == 200
    assert remote(ft)  # untouched by the refused calls


def test_a_deleted_models_schedule_removes_itself_when_it_fires(ft):
    assert put(ft, {"rate": "1 day"})[0] == 200
    event = json.loads(remote(ft)["Target"]["Input"])
    status, answer = ft.api("DELETE", f"/api/models/{ft.model_id}")
    assert status == 204, answer
    assert ft.aws.functions.invoke("SweeperFunction", event)["outcome"] == "model_deleted"
    with pytest.raises(ft.aws.clients.scheduler.exceptions.ResourceNotFoundException):
        remote(ft)


def test_fine_tune_schedules_below_the_minimum_interval_are_400(ft):
    status, answer = put(ft, {"cron": "*/10 * * * *"})
    assert status == 400 and answer["error"]["code"] == "schedule_too_frequent", answer
    assert "60 minutes" in answer["error"]["message"]
