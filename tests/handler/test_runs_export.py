"""The results export job (drgero.runs.export_jobs) through the real api and export functions:
202 then 200, reuse, a changed run makes a new file, exactly one job under racing requests,
another workspace, no scope, and the worker at least once (duplicate delivery, a crash mid-way,
a crash that leaves its lease, a permanently failing export reported and restarted)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from drgero.core import clock
from drgero.runs import export, export_jobs
from drgero.store.keys import EXPORT_PREFIX, run_pk
from drgero.store.table import MetadataTable
from tests.handler.test_runs_results import object_key
from tests.support.events import rest_event
from tests.support.identity import api_principal, new_workspace
from tests.support.runs import Driver, make_setup

EXACT, ECHO = "sandbox/arithmetic-exact", "sandbox/echo"


@pytest.fixture
def finished(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, ECHO), n_rows=12)
    run_id = setup.start()
    Driver(aws).drain()
    assert setup.run(run_id)["status"] == "completed"
    return setup, run_id


def ask(setup, run_id: str, fmt: str = "csv", extra: str = "", principal=None) -> tuple[int, dict, dict]:
    """GET the export with redirect=false; answers (status, body, headers)."""
    query = {"format": fmt, "redirect": "false"}
    for part in filter(None, extra.split("&")):
        name, _, value = part.partition("=")
        query[name] = value
    event = rest_event("GET", f"/api/runs/{run_id}/results/export", None, principal or setup.principal, query=query)
    response = setup.aws.functions.invoke("ApiFunction", event)
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    return response["statusCode"], json.loads(response["body"]), headers


def jobs(aws, run_id: str) -> list[dict]:
    return list(aws.clients.table.query_all(run_pk(run_id), EXPORT_PREFIX, consistent=True))


def queued(aws) -> list[dict]:
    return Driver(aws).receive("export")


def file_of(aws, answer: dict) -> bytes:
    key = object_key(aws, answer["url"])
    return aws.clients.s3.get_object(Bucket=aws.settings.aws.bucket_name, Key=key)["Body"].read()


def later(monkeypatch, seconds: float) -> None:
    moment = clock.now() + timedelta(seconds=seconds)
    monkeypatch.setattr(clock, "now", lambda: moment)


def test_202_while_written_then_200_with_the_file_then_reused(aws, finished):
    setup, run_id = finished
    status, body, headers = ask(setup, run_id)
    assert status == 202, body
    assert body["status"] == "pending" and body["attempts"] == 0 and body["run_id"] == run_id
    assert body["poll"] == {"method": "GET", "path": f"/api/runs/{run_id}/results/export?format=csv"}
    assert headers["retry-after"] == str(body["retry_after_seconds"])
    # Polling before the worker ran: still 202, and no second job or message.
    assert ask(setup, run_id)[0] == 202
    assert len(jobs(aws, run_id)) == 1 and len(queued(aws)) == 1
    assert Driver(aws).step("export") == 1
    status, ready, _ = ask(setup, run_id)
    assert status == 200 and ready["status"] == "ready" and ready["rows"] == 12
    table = list(csv.DictReader(io.StringIO(file_of(aws, ready).decode())))
    assert len(table) == 12 * 2 and ready["bytes"] == len(file_of(aws, ready))
    # A finished run is immutable: the same file, no new job, no message.
    status, again, _ = ask(setup, run_id)
    assert status == 200 and object_key(aws, again["url"]) == object_key(aws, ready["url"])
    assert len(jobs(aws, run_id)) == 1 and queued(aws) == []
    # Each format is its own job.
    assert ask(setup, run_id, "jsonl")[0] == 202 and len(jobs(aws, run_id)) == 2


def test_a_changed_run_gets_a_new_file(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, ECHO), n_rows=12)
    run_id = setup.start()
    driver = Driver(aws)
    driver.step("runs")
    driver.step("evaluate", limit=1)  # one shard of one model: the run is still running
    assert ask(setup, run_id, "jsonl")[0] == 202
    driver.step("export")
    status, early, _ = ask(setup, run_id, "jsonl")
    assert status == 200
    pending = [json.loads(line) for line in file_of(aws, early).splitlines()]
    assert any(r["outcome"] == "not_run" or r["outcome"] == "pending" for e in pending for r in e["results"])
    driver.drain()
    assert setup.run(run_id)["status"] == "completed"
    # The run moved on: the old file is not served, a new export starts.
    status, body, _ = ask(setup, run_id, "jsonl")
    assert status == 202, body
    driver.step("export")
    status, final, _ = ask(setup, run_id, "jsonl")
    assert status == 200 and object_key(aws, final["url"]) != object_key(aws, early["url"])
    done = [json.loads(line) for line in file_of(aws, final).splitlines()]
    assert all(r["outcome"] in ("pass", "fail") for e in done for r in e["results"])


def test_racing_requests_start_one_job(aws, finished, monkeypatch):
    setup, run_id = finished
    assert ask(setup, run_id)[0] == 202
    # A second request that read "no job" before the first wrote it: its conditional put
    # loses, and it answers from the winner's job without sending a second message.
    real_get = MetadataTable.get
    reads = {"n": 0}

    def first_read_absent(self, pk, sk, consistent=True):
        if sk.startswith(EXPORT_PREFIX) and reads["n"] == 0:
            reads["n"] += 1
            return None
        return real_get(self, pk, sk, consistent)

    monkeypatch.setattr(MetadataTable, "get", first_read_absent)
    status, body, _ = ask(setup, run_id)
    assert reads["n"] == 1
    assert status == 202 and body["status"] == "pending"
    assert len(jobs(aws, run_id)) == 1 and len(queued(aws)) == 1


def test_another_workspace_and_no_scope(aws, finished):
    setup, run_id = finished
    other = api_principal(new_workspace(aws)["workspace_id"])
    status, body, _ = ask(setup, run_id, principal=other)
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body, _ = ask(setup, run_id, principal=api_principal(setup.workspace_id, scopes=["runs:write"]))
    assert status == 403 and body["error"]["code"] == "insufficient_scope"
    assert jobs(aws, run_id) == [] and queued(aws) == []
    status, body, _ = ask(setup, run_id, "xlsx")
    assert status == 400


def test_a_duplicate_delivery_does_no_work_twice(aws, finished, monkeypatch):
    setup, run_id = finished
    ask(setup, run_id)
    writes = []
    real_write = export.write_export
    monkeypatch.setattr(export, "write_export", lambda *a, **k: writes.append(1) or real_write(*a, **k))
    Driver(aws).step("export", duplicate=True)  # the same message delivered twice
    assert writes == [1]
    (job,) = jobs(aws, run_id)
    assert job["status"] == "ready" and job["attempts"] == 1


def test_a_delivery_while_another_holds_the_job_is_dropped(aws, finished, monkeypatch):
    setup, run_id = finished
    ask(setup, run_id)
    (job,) = jobs(aws, run_id)
    export_jobs._claim(aws.settings, aws.clients.table, (job["pk"], job["sk"]), "exa_other")  # a live attempt
    message = queued(aws)
    assert Driver(aws).deliver("export", message) == []  # acknowledged: the live attempt finishes the job
    (job,) = jobs(aws, run_id)
    assert job["status"] == "running" and job["attempts"] == 1 and job["attempt_id"] == "exa_other"
    assert ask(setup, run_id)[1]["status"] == "running"


def test_an_error_mid_way_is_retried_and_leaves_no_half_file(aws, finished, monkeypatch):
    setup, run_id = finished
    ask(setup, run_id)
    real_entries = export.entries_of
    seen = []

    def fail_on_second_shard(view, shard):
        seen.append(shard.index)
        if shard.index == 1:
            raise ConnectionError("S3 went away")
        return real_entries(view, shard)

    monkeypatch.setattr(export, "entries_of", fail_on_second_shard)
    driver = Driver(aws)
    assert len(driver.deliver("export", queued(aws))) == 1  # reported failed: SQS redelivers it
    (job,) = jobs(aws, run_id)
    assert job["status"] == "pending" and job["attempts"] == 1 and job["last_error"] == "ConnectionError"
    bucket = aws.settings.aws.bucket_name
    assert aws.clients.s3.list_objects_v2(Bucket=bucket, Prefix=f"exports/runs/{run_id}/").get("KeyCount") == 0
    assert aws.clients.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert ask(setup, run_id)[0] == 202
    monkeypatch.setattr(export, "entries_of", real_entries)
    assert driver.step("export") == 1  # the redelivery
    status, ready, _ = ask(setup, run_id)
    assert status == 200 and ready["rows"] == 12
    assert len(list(csv.DictReader(io.StringIO(file_of(aws, ready).decode())))) == 24


def test_a_crashed_attempt_is_taken_over_after_its_lease(aws, finished, monkeypatch):
    setup, run_id = finished
    ask(setup, run_id)
    (job,) = jobs(aws, run_id)
    # An attempt claimed the job, then its Lambda died (timeout): the job stays running.
    export_jobs._claim(aws.settings, aws.clients.table, (job["pk"], job["sk"]), "exa_dead")
    message = queued(aws)  # the dead attempt's message, not deleted
    later(monkeypatch, aws.settings.runs.export_lease_seconds + 1)
    # A poll after the lease re-sends the message (as the redelivery would, later).
    status, body, _ = ask(setup, run_id)
    assert status == 202 and body["status"] == "running"
    assert len(queued(aws)) == 2
    Driver(aws).deliver("export", message)
    (job,) = jobs(aws, run_id)
    assert job["status"] == "ready" and job["attempts"] == 2
    assert Driver(aws).step("export") == 1  # the re-sent copy: acknowledged, nothing done
    assert jobs(aws, run_id)[0]["attempts"] == 2
    assert ask(setup, run_id)[0] == 200


def test_a_permanently_failing_export_is_reported_then_restarted(aws, finished, monkeypatch):
    setup, run_id = finished
    ask(setup, run_id)

    def broken(view, shard):
        raise ValueError("unreadable shard")

    monkeypatch.setattr(export, "entries_of", broken)
    driver = Driver(aws)
    limit = aws.settings.runs.export_max_attempts
    for attempt in range(1, limit + 1):
        failed = driver.deliver("export", queued(aws))
        assert len(failed) == (1 if attempt < limit else 0)  # the last attempt ends the job instead
    assert queued(aws) == []  # reported, not dead-lettered
    status, body, _ = ask(setup, run_id)
    assert status == 500 and body["error"]["code"] == "export_failed"
    assert body["error"]["details"]["attempts"] == limit and "ValueError" in body["error"]["message"]
    assert "retry=true" in body["error"]["message"]
    monkeypatch.undo()  # the export works again
    status, body, _ = ask(setup, run_id, extra="retry=true")
    assert status == 202 and body["status"] == "pending" and body["attempts"] == 0
    assert driver.step("export") == 1
    assert ask(setup, run_id)[0] == 200


def test_attempts_that_never_end_are_reported_before_the_dlq(aws, finished, monkeypatch):
    setup, run_id = finished
    ask(setup, run_id)
    (job,) = jobs(aws, run_id)
    key = (job["pk"], job["sk"])
    message = queued(aws)
    limit = aws.settings.runs.export_max_attempts
    for i in range(limit):  # every attempt dies with its lease held
        later(monkeypatch, (i + 1) * (aws.settings.runs.export_lease_seconds + 1))
        assert export_jobs._claim(aws.settings, aws.clients.table, key, f"exa_dead{i}") is not None
    later(monkeypatch, (limit + 1) * (aws.settings.runs.export_lease_seconds + 1))
    assert Driver(aws).deliver("export", message) == []
    (job,) = jobs(aws, run_id)
    assert job["status"] == "failed" and "crash or a timeout" in job["error"]
    status, body, _ = ask(setup, run_id)
    assert status == 500 and body["error"]["code"] == "export_failed"
