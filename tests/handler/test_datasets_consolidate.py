"""Consolidation: dedupe (newest wins), max samples (newest kept), immutable versions, the lease,
and a crash at every step finished by the next attempt with no row lost or duplicated."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from drgero.datasets.consolidate import Consolidator, InjectedFault
from drgero.store.keys import LEASE_SK
from tests.support.aws import table_of
from tests.support.events import sqs_event
from tests.support.handlers import api, push
from tests.support.identity import api_principal, dataset_principal, new_workspace
from tests.support.leaderboards import consolidated_rows, create_push_leaderboard

STEPS = ["lease", "finish_previous", "list", "merge", "upload", "pointer", "mark"]


@pytest.fixture
def ws(aws) -> str:
    return new_workspace(aws, plan="pro")["workspace_id"]


@pytest.fixture
def lb(aws, ws) -> str:
    return create_push_leaderboard(aws, ws)


def record(aws, lb) -> dict:
    return table_of(aws).get(f"LB#{lb}", "DATASET")


def push_ok(aws, ws, lb, rows) -> None:
    status, answer, _ = push(aws, lb, api_principal(ws), rows)
    assert status == 202, answer


def test_newest_version_of_an_id_wins_and_rows_without_id_dedupe_by_content(aws, ws, lb):
    push_ok(aws, ws, lb, [{"id": "a", "input": "a1"}, {"id": "b", "input": "b1"}, {"input": "same", "output": "x"}])
    push_ok(aws, ws, lb, [{"id": "a", "input": "a2"}, {"input": "same", "output": "x"}, {"id": "a", "input": "a3"}])
    result = Consolidator(aws.settings, aws.clients).consolidate(ws, lb)
    assert (result.status, result.version, result.rows, result.rows_in, result.duplicates_dropped) == (
        "consolidated",
        1,
        3,
        6,
        3,
    )
    rows = {r["id"]: r["input"] for r in consolidated_rows(aws, lb)}
    assert rows["a"] == "a3" and rows["b"] == "b1"
    assert list(rows.values()).count("same") == 1
    assert record(aws, lb)["consumed_rows"] == 6


def test_later_consolidations_merge_into_the_previous_version(aws, ws, lb):
    consolidator = Consolidator(aws.settings, aws.clients)
    push_ok(aws, ws, lb, [{"id": "a", "input": "old"}, {"id": "b", "input": "b"}])
    consolidator.consolidate(ws, lb)
    push_ok(aws, ws, lb, [{"id": "a", "input": "new"}, {"id": "c", "input": "c"}])
    result = consolidator.consolidate(ws, lb)
    assert (result.version, result.rows, result.rows_in) == (2, 3, 2)
    assert {r["id"]: r["input"] for r in consolidated_rows(aws, lb)} == {"a": "new", "b": "b", "c": "c"}
    # Version 1 is still there, unchanged (immutable versions).
    versions = aws.clients.s3.list_object_versions(
        Bucket=aws.settings.aws.bucket_name, Prefix=f"datasets/{lb}/v1.jsonl.gz"
    )
    assert len(versions["Versions"]) == 1


def test_max_samples_keeps_the_newest_rows(aws, ws):
    lb = create_push_leaderboard(aws, ws, max_samples=3)
    push_ok(aws, ws, lb, [{"id": str(i), "input": f"row {i}"} for i in range(5)])
    push_ok(aws, ws, lb, [{"id": "1", "input": "row 1 updated"}])
    result = Consolidator(aws.settings, aws.clients).consolidate(ws, lb)
    assert (result.rows, result.trimmed_to_max_samples) == (3, 2)
    assert [r["id"] for r in consolidated_rows(aws, lb)] == ["3", "4", "1"]


def test_auto_limit_off_keeps_everything(aws, ws):
    lb = create_push_leaderboard(aws, ws, max_samples=2, auto_limit=False)
    push_ok(aws, ws, lb, [{"id": str(i), "input": f"row {i}"} for i in range(5)])
    assert Consolidator(aws.settings, aws.clients).consolidate(ws, lb).rows == 5


def test_nothing_pending_writes_no_version(aws, ws, lb):
    result = Consolidator(aws.settings, aws.clients).consolidate(ws, lb)
    assert (result.status, result.version) == ("nothing_pending", 0)


def test_a_held_lease_means_busy(aws, ws, lb):
    push_ok(aws, ws, lb, {"input": "x"})
    later = datetime.now(UTC)
    table_of(aws).put(
        {"pk": f"LB#{lb}", "sk": LEASE_SK, "lease_owner": "someone", "lease_until": int(later.timestamp()) + 600}
    )
    assert Consolidator(aws.settings, aws.clients).consolidate(ws, lb).status == "busy"
    # Once the lease has expired, the next attempt takes it over.
    clock = lambda: later + timedelta(seconds=601)  # noqa: E731
    assert Consolidator(aws.settings, aws.clients, clock=clock).consolidate(ws, lb).status == "consolidated"


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_any_step_is_finished_by_the_next_attempt(aws, ws, lb, step, monkeypatch):
    # Version 1 exists, then new rows arrive, and the consolidation to version 2 crashes.
    push_ok(aws, ws, lb, [{"id": "a", "input": "a1"}, {"id": "b", "input": "b1"}])
    Consolidator(aws.settings, aws.clients).consolidate(ws, lb)
    push_ok(aws, ws, lb, [{"id": "a", "input": "a2"}, {"id": "c", "input": "c1"}])
    push_ok(aws, ws, lb, [{"input": "no id"}, {"id": "c", "input": "c2"}])

    def crash(name: str) -> None:
        if name == step:
            raise InjectedFault(f"crash after {name}")

    crashing = Consolidator(aws.settings, aws.clients, fault=crash)
    # A hard crash does not release the lease: the next attempt must wait for it to expire.
    monkeypatch.setattr(crashing, "_release_lease", lambda lb, owner: None)
    if step == "finish_previous":
        # Make finish_previous have work to do: the last run "crashed" before marking.
        table_of(aws).update(f"LB#{lb}", "DATASET", "REMOVE marked_version")
    with pytest.raises(InjectedFault):
        crashing.consolidate(ws, lb)

    after_expiry = lambda: datetime.now(UTC) + timedelta(seconds=aws.settings.limits.consolidate_lease_seconds + 5)  # noqa: E731
    result = Consolidator(aws.settings, aws.clients, clock=after_expiry).consolidate(ws, lb)
    if step in {"pointer", "mark"}:
        assert result.status == "nothing_pending"  # the crashed run had already committed v2
    else:
        assert result.status == "consolidated"
    assert Consolidator(aws.settings, aws.clients, clock=after_expiry).consolidate(ws, lb).status == "nothing_pending"

    rows = consolidated_rows(aws, lb)
    by_id = {r["id"]: r["input"] for r in rows}
    assert len(rows) == len(by_id) == 4  # nothing duplicated
    assert by_id["a"] == "a2" and by_id["b"] == "b1" and by_id["c"] == "c2"
    assert "no id" in by_id.values()  # nothing lost
    final = record(aws, lb)
    assert final["version"] == 2
    assert final["consumed_rows"] == final["accepted_rows"] == 6  # nothing counted twice
    batches = list(table_of(aws).query_all(f"LB#{lb}", "BATCH#"))
    assert {b["state"] for b in batches} == {"consumed"}
    assert (
        aws.clients.s3.list_objects_v2(Bucket=aws.settings.aws.bucket_name, Prefix=f"pending/{lb}/").get("KeyCount")
        == 0
    )


def test_rows_pushed_during_a_consolidation_wait_for_the_next_one(aws, ws, lb):
    push_ok(aws, ws, lb, {"id": "first", "input": "1"})

    def push_meanwhile(name: str) -> None:
        if name == "merge":
            push_ok(aws, ws, lb, {"id": "second", "input": "2"})

    result = Consolidator(aws.settings, aws.clients, fault=push_meanwhile).consolidate(ws, lb)
    assert (result.rows, result.pending) == (1, 1)
    result = Consolidator(aws.settings, aws.clients).consolidate(ws, lb)
    assert {r["id"] for r in consolidated_rows(aws, lb)} == {"first", "second"}
    assert result.pending == 0


# ------------------------------------------------------------------ the consolidate function
def test_queue_message_consolidates_and_duplicate_delivery_is_harmless(aws, ws, lb):
    push_ok(aws, ws, lb, [{"id": "a", "input": "a"}, {"id": "b", "input": "b"}])
    message = {"workspace_id": ws, "leaderboard_id": lb, "reason": "events_threshold"}
    first = aws.functions.invoke("ConsolidateFunction", sqs_event(message))
    second = aws.functions.invoke("ConsolidateFunction", sqs_event(message, message))
    assert first == {"batchItemFailures": []}
    assert second == {"batchItemFailures": []}
    assert record(aws, lb)["version"] == 1
    assert len(consolidated_rows(aws, lb)) == 2


def test_a_bad_message_is_reported_and_the_others_are_done(aws, ws, lb):
    push_ok(aws, ws, lb, {"input": "x"})
    event = sqs_event(
        "not json", {"workspace_id": ws, "leaderboard_id": lb}, {"leaderboard_id": lb}, ids=["bad", "good", "partial"]
    )
    response = aws.functions.invoke("ConsolidateFunction", event)
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == ["bad", "partial"]
    assert record(aws, lb)["version"] == 1


def test_message_for_an_unknown_or_get_mode_leaderboard_is_a_no_op(aws, ws):
    response = aws.functions.invoke("ConsolidateFunction", sqs_event({"workspace_id": ws, "leaderboard_id": "lb_gone"}))
    assert response == {"batchItemFailures": []}


# ------------------------------------------------------------------ the sweep
def test_sweep_queues_datasets_due_by_time_or_size(aws, ws):
    due_by_time = create_push_leaderboard(aws, ws, consolidate_every_hours=1)
    due_by_size = create_push_leaderboard(aws, ws, consolidate_every_events=2, consolidate_every_hours=100)
    not_due = create_push_leaderboard(aws, ws, consolidate_every_hours=100)
    empty = create_push_leaderboard(aws, ws, consolidate_every_hours=1)
    for lb in (due_by_time, not_due):
        push_ok(aws, ws, lb, {"input": "x"})
    push_ok(aws, ws, due_by_size, [{"input": "x"}, {"input": "y"}])
    # The threshold message for due_by_size was sent on push; drop it (as if it were lost).
    sqs, queue = aws.clients.sqs, aws.settings.aws.consolidate_queue_url
    sqs.purge_queue(QueueUrl=queue)
    table_of(aws).update(
        f"LB#{due_by_time}", "DATASET", "SET last_consolidated_at = :t",
        values={":t": (datetime.now(UTC) - timedelta(hours=2)).isoformat()},
    )  # fmt: skip
    summary = aws.functions.invoke("SweeperFunction", {"job": "consolidation_sweep"})
    assert summary["done"] is True and summary["queued"] == 2
    queued = set()
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        for m in messages:
            queued.add(json.loads(m["Body"])["leaderboard_id"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    assert queued == {due_by_time, due_by_size}
    assert empty not in queued


# ------------------------------------------------------------------ the API routes
def test_consolidate_route_runs_inline(aws, ws, lb):
    push_ok(aws, ws, lb, [{"id": "a", "input": "a"}, {"id": "a", "input": "b"}])
    status, body = api(aws, "POST", f"/v1/leaderboard/{lb}/dataset/consolidate", api_principal(ws))
    assert status == 200, body
    assert (body["version"], body["rows"], body["duplicates_dropped"], body["pending"]) == (1, 1, 1, 0)


def test_consolidate_route_with_a_dataset_token(aws, ws, lb):
    push_ok(aws, ws, lb, {"input": "a"})
    status, body = api(aws, "POST", f"/v1/leaderboard/{lb}/dataset/consolidate", dataset_principal(ws, lb))
    assert status == 200, body


def test_consolidate_route_queues_large_backlogs(aws, ws, lb):
    from localcloud.functions import FunctionRuntime
    from tests.support.events import rest_event
    from tests.support.settings import TEST_ENV

    push_ok(aws, ws, lb, [{"input": f"r{i}"} for i in range(5)])
    runtime = FunctionRuntime(
        aws.template, aws.created, extra_env={**TEST_ENV, "DRGERO_LIMITS__CONSOLIDATE_INLINE_MAX_ROWS": "3"}
    )
    response = runtime.invoke(
        "ApiFunction", rest_event("POST", f"/v1/leaderboard/{lb}/dataset/consolidate", None, api_principal(ws))
    )
    assert response["statusCode"] == 202
    assert json.loads(response["body"]) == {"status": "queued", "version": 0, "pending": 5}
    message = aws.clients.sqs.receive_message(QueueUrl=aws.settings.aws.consolidate_queue_url)["Messages"][0]
    assert json.loads(message["Body"])["reason"] == "api"


def test_status_route(aws, ws, lb):
    p = api_principal(ws)
    status, token = api(aws, "POST", f"/v1/leaderboard/{lb}/dataset/tokens", p, {"name": "prod app"})
    assert status == 201, token
    assert token["token"].startswith("hpd_")
    push_ok(aws, ws, lb, [{"id": "a", "input": "a"}, {"id": "b", "input": "b"}])
    api(aws, "POST", f"/v1/leaderboard/{lb}/dataset/consolidate", p)
    push_ok(aws, ws, lb, {"id": "c", "input": "c"})
    status, body = api(aws, "GET", f"/v1/leaderboard/{lb}/dataset/status", dataset_principal(ws, lb))
    assert status == 200, body
    assert (body["accepted"], body["pending"], body["consolidated"]) == (3, 1, 2)
    assert body["dataset"]["version"] == 1 and body["dataset"]["rows"] == 2
    assert body["dataset"]["uri"] == f"s3://{aws.settings.aws.bucket_name}/datasets/{lb}/v1.jsonl.gz"
    assert "versionId=" in body["dataset"]["url"]
    assert body["limits"]["accepted_today"] == 3 and body["limits"]["accepted_this_month"] == 3
    assert body["limits"]["daily_limit"] == 100_000
    assert body["limits"]["min_rows_before_models"] == aws.settings.limits.min_rows_before_models
    assert [t["id"] for t in body["tokens"]] == [token["id"]]
    assert token["token"] not in json.dumps(body)
    assert [(b["rows"], b["state"]) for b in body["recent_batches"]] == [(1, "pending"), (2, "consumed")]


@pytest.mark.parametrize(("method", "suffix"), [("GET", "status"), ("POST", "consolidate"), ("POST", "tokens")])
def test_dataset_routes_refuse_other_tenants_and_missing_credentials(aws, ws, lb, method, suffix):
    path = f"/v1/leaderboard/{lb}/dataset/{suffix}"
    intruder = new_workspace(aws, plan="pro")["workspace_id"]
    assert api(aws, method, path, api_principal(intruder))[0] == 404
    assert api(aws, method, path, dataset_principal(ws, create_push_leaderboard(aws, ws)))[0] == 404
    assert api(aws, method, path, None)[0] == 401
    assert api(aws, method, path, api_principal(ws, scopes=set()))[0] == 403
    assert api(aws, method, f"/v1/leaderboard/lb_missing/dataset/{suffix}", api_principal(ws))[0] == 404


def test_dataset_tokens_cannot_create_tokens(aws, ws, lb):
    status, body = api(aws, "POST", f"/v1/leaderboard/{lb}/dataset/tokens", dataset_principal(ws, lb))
    assert (status, body["error"]["code"]) == (403, "insufficient_scope")


def test_minimum_rows_before_models(aws, ws, lb):
    from drgero.core.errors import ApiError
    from drgero.leaderboards.leaderboard import get_leaderboard, require_enough_rows

    table = table_of(aws)
    leaderboard = get_leaderboard(table, ws, lb)
    push_ok(aws, ws, lb, [{"input": f"r{i}"} for i in range(99)])
    Consolidator(aws.settings, aws.clients).consolidate(ws, lb)
    with pytest.raises(ApiError) as caught:
        require_enough_rows(table, aws.settings, leaderboard)
    assert (caught.value.status, caught.value.code) == (409, "dataset_too_small")
    assert "99" in caught.value.message and "100" in caught.value.message
    push_ok(aws, ws, lb, {"input": "one more"})
    Consolidator(aws.settings, aws.clients).consolidate(ws, lb)
    require_enough_rows(table, aws.settings, leaderboard)
