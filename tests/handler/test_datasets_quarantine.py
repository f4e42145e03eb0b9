"""A pending batch whose object is missing or unreadable never wedges consolidation: it is
quarantined (state ``failed`` with its reason), the others consolidate, the next run is clean.
Driven through the real api function's consolidate route and the consolidate function."""

from __future__ import annotations

import gzip

import pytest

from drgero.store.keys import pending_object_key
from tests.support.aws import queued_traces, table_of
from tests.support.events import sqs_event
from tests.support.handlers import api, push
from tests.support.identity import api_principal, new_workspace
from tests.support.leaderboards import consolidated_rows, create_push_leaderboard


@pytest.fixture
def setup(aws):
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    lb = create_push_leaderboard(aws, ws)
    batches = []
    for n in range(3):
        status, answer, _ = push(
            aws, lb, api_principal(ws), [{"id": f"b{n}-{i}", "input": f"q{n}{i}"} for i in range(2)]
        )
        assert status == 202, answer
        batches.append(answer["batch_id"])
    queued_traces(aws)  # start with an empty traces queue
    return ws, lb, batches


def bucket(aws) -> str:
    return aws.settings.aws.bucket_name


def status_of(aws, ws, lb) -> dict:
    code, body = api(aws, "GET", f"/v1/leaderboard/{lb}/dataset/status", api_principal(ws))
    assert code == 200, body
    return body


def test_a_deleted_pending_object_is_quarantined_and_the_rest_consolidates(aws, setup):
    ws, lb, batches = setup
    aws.clients.s3.delete_object(Bucket=bucket(aws), Key=pending_object_key(lb, batches[1]))

    code, result = api(aws, "POST", f"/v1/leaderboard/{lb}/dataset/consolidate", api_principal(ws))
    assert code == 200, result
    assert result["status"] == "consolidated" and result["rows"] == 4 and result["batches"] == 2
    assert [q["batch_id"] for q in result["quarantined"]] == [batches[1]]
    assert "missing" in result["quarantined"][0]["reason"]
    assert sorted(r["id"] for r in consolidated_rows(aws, lb)) == ["b0-0", "b0-1", "b2-0", "b2-1"]

    status = status_of(aws, ws, lb)
    assert (status["accepted"], status["pending"], status["failed"], status["consolidated"]) == (6, 0, 2, 4)
    failed = [b for b in status["recent_batches"] if b["state"] == "failed"]
    assert [b["batch_id"] for b in failed] == [batches[1]] and "missing" in failed[0]["reason"]

    traces = [t for t in queued_traces(aws) if t["kind"] == "dataset"]
    errors = [t for t in traces if t["status"] == "error"]
    assert len(errors) == 1 and batches[1] in errors[0]["error"]

    # The next consolidation is clean: nothing pending, nothing quarantined again.
    code, again = api(aws, "POST", f"/v1/leaderboard/{lb}/dataset/consolidate", api_principal(ws))
    assert code == 200 and again["status"] == "nothing_pending" and again["quarantined"] == []


def test_an_unreadable_pending_object_is_quarantined_by_the_consolidate_function(aws, setup):
    ws, lb, batches = setup
    aws.clients.s3.put_object(Bucket=bucket(aws), Key=pending_object_key(lb, batches[0]), Body=gzip.compress(b"x"))
    event = sqs_event(
        {"workspace_id": ws, "leaderboard_id": lb, "reason": "api"}, queue="drgero-local-consolidate-queue"
    )
    answer = aws.functions.invoke("ConsolidateFunction", event)
    assert answer == {"batchItemFailures": []}
    record = table_of(aws).get(f"LB#{lb}", "DATASET")
    assert (record["version"], record["rows"], record["consumed_rows"], record["failed_rows"]) == (1, 4, 6, 2)
    reasons = {b["batch_id"]: b.get("reason") for b in status_of(aws, ws, lb)["recent_batches"]}
    assert "not JSON" in reasons[batches[0]]


def test_a_batch_with_fewer_rows_than_counted_is_quarantined(aws, setup):
    ws, lb, batches = setup
    aws.clients.s3.put_object(Bucket=bucket(aws), Key=pending_object_key(lb, batches[2]), Body=b'{"id": "b2-0"}\n')
    code, result = api(aws, "POST", f"/v1/leaderboard/{lb}/dataset/consolidate", api_principal(ws))
    assert code == 200 and [q["batch_id"] for q in result["quarantined"]] == [batches[2]]
    assert "1 rows" in result["quarantined"][0]["reason"]


def test_when_every_pending_batch_is_unreadable_nothing_is_committed(aws, setup):
    ws, lb, batches = setup
    for batch in batches:
        aws.clients.s3.delete_object(Bucket=bucket(aws), Key=pending_object_key(lb, batch))
    code, result = api(aws, "POST", f"/v1/leaderboard/{lb}/dataset/consolidate", api_principal(ws))
    assert code == 200 and result["status"] == "nothing_pending" and len(result["quarantined"]) == 3
    status = status_of(aws, ws, lb)
    assert (status["pending"], status["failed"], status["dataset"]["version"]) == (0, 6, 0)
