"""The trace_writer function through its real handler with SQS batch events: traces are
stored in S3 and indexed, duplicates are stored once, a bad record fails only itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from drgero.core.errors import ApiError
from drgero.store.table import MetadataTable
from drgero.traces import Trace, TraceKind, TraceStore
from drgero.traces.listing import TraceQuery, list_traces
from tests.support.events import sqs_event

WS = "ws_alpha"
TRACES_QUEUE = "drgero-local-traces-queue"


def make_trace(n: int, **fields) -> Trace:
    defaults = dict(
        workspace_id=WS,
        leaderboard_id="lb_one",
        kind=TraceKind.INFERENCE,
        name=f"inference {n}",
        created_at=datetime(2026, 11, 24, 12, 0, n, tzinfo=UTC),
        input=f"question {n}",
        output=f"answer {n}",
    )
    defaults.update(fields)
    return Trace(**defaults)


def stored_keys(aws) -> list[str]:
    response = aws.clients.s3.list_objects_v2(Bucket=aws.settings.aws.bucket_name, Prefix="traces/")
    return sorted(o["Key"] for o in response.get("Contents", []))


def listed(aws, **filters) -> list[dict]:
    table = MetadataTable(aws.clients.dynamodb, aws.settings.aws.table_name)
    return list_traces(table, TraceQuery(workspace_id=WS, **filters)).traces


def test_batch_is_stored_in_s3_and_indexed(aws):
    traces = [make_trace(n) for n in range(3)]
    result = aws.functions.invoke("TraceWriterFunction", sqs_event(*(t.to_json() for t in traces), queue=TRACES_QUEUE))
    assert result == {"batchItemFailures": []}
    assert stored_keys(aws) == sorted(f"traces/2026/11/24/{t.id}.json" for t in traces)
    body = aws.clients.s3.get_object(Bucket=aws.settings.aws.bucket_name, Key=f"traces/2026/11/24/{traces[0].id}.json")
    assert Trace.model_validate_json(body["Body"].read()) == traces[0]
    assert [t["id"] for t in listed(aws, leaderboard_id="lb_one", kind=TraceKind.INFERENCE)] == [
        t.id for t in reversed(traces)
    ]


def test_index_items_expire_with_the_retention(aws):
    trace = make_trace(1)
    aws.functions.invoke("TraceWriterFunction", sqs_event(trace.to_json(), queue=TRACES_QUEUE))
    table = MetadataTable(aws.clients.dynamodb, aws.settings.aws.table_name)
    anchor = table.get(f"TRACE#{trace.id}", "TRACE")
    days = aws.settings.limits.traces_retention_days
    assert days == 90  # from the template's TraceRetentionDays, through the function environment
    assert anchor["expires_at"] == int(trace.created_at.timestamp()) + days * 86400


def test_duplicate_delivery_is_stored_once(aws):
    trace = make_trace(1)
    # The same message twice in one batch, then once more in a later batch (at-least-once).
    first = aws.functions.invoke("TraceWriterFunction", sqs_event(trace.to_json(), trace.to_json(), queue=TRACES_QUEUE))
    second = aws.functions.invoke("TraceWriterFunction", sqs_event(trace.to_json(), queue=TRACES_QUEUE))
    assert first == second == {"batchItemFailures": []}
    assert stored_keys(aws) == [f"traces/2026/11/24/{trace.id}.json"]
    assert [t["id"] for t in listed(aws)] == [trace.id]
    assert [t["id"] for t in listed(aws, leaderboard_id="lb_one")] == [trace.id]


@pytest.mark.parametrize("crash_at", ["put_object", "batch_write_item", "put_item"])
def test_a_crash_mid_write_is_finished_by_the_redelivery(aws, monkeypatch, crash_at):
    """The writer dies after S3 / after the listing items / at the commit; SQS redelivers."""
    trace = make_trace(1)
    store = aws.functions.module("TraceWriterFunction").store
    client = store.s3 if crash_at == "put_object" else store.table.client
    real = getattr(client, crash_at)
    calls = {"n": 0}

    def crash_after_first_call(**kwargs):
        calls["n"] += 1
        result = real(**kwargs)  # the write happened ...
        if calls["n"] == 1:
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "boom"}}, crash_at
            )  # ... then the crash
        return result

    monkeypatch.setattr(client, crash_at, crash_after_first_call)
    event = sqs_event(trace.to_json(), queue=TRACES_QUEUE)
    failed = aws.functions.invoke("TraceWriterFunction", event)
    assert failed == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    if crash_at == "put_item":  # the commit itself succeeded, only its answer was lost
        assert TraceStore.from_clients(aws.settings, aws.clients).get(WS, trace.id) == trace
    else:
        with pytest.raises(ApiError, match="not found"):
            TraceStore.from_clients(aws.settings, aws.clients).get(WS, trace.id)  # not committed yet

    retried = aws.functions.invoke("TraceWriterFunction", event)  # SQS redelivers
    assert retried == {"batchItemFailures": []}
    assert TraceStore.from_clients(aws.settings, aws.clients).get(WS, trace.id) == trace
    assert [t["id"] for t in listed(aws)] == [trace.id]
    assert [t["id"] for t in listed(aws, leaderboard_id="lb_one", kind=TraceKind.INFERENCE)] == [trace.id]
    assert stored_keys(aws) == [f"traces/2026/11/24/{trace.id}.json"]


@pytest.mark.parametrize(
    "bad_body",
    [
        "not json at all",
        json.dumps({"id": "tr_x", "kind": "inference"}),  # missing fields, bad id
        json.dumps(make_trace(9).model_dump(mode="json") | {"workspace_id": "ws#evil"}),
        json.dumps(make_trace(9).model_dump(mode="json") | {"kind": "telepathy"}),
        json.dumps(make_trace(9).model_dump(mode="json") | {"surprise": 1}),
    ],
    # Fixed ids: the bodies hold fresh trace ids, and xdist's workers must collect the same names.
    ids=["not-json", "missing-fields", "foreign-workspace", "unknown-kind", "unknown-field"],
)
def test_malformed_record_fails_only_itself(aws, bad_body):
    good = [make_trace(1), make_trace(2)]
    event = sqs_event(good[0].to_json(), bad_body, good[1].to_json(), queue=TRACES_QUEUE)
    result = aws.functions.invoke("TraceWriterFunction", event)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert {t["id"] for t in listed(aws)} == {t.id for t in good}


def test_secrets_are_scrubbed_before_storage(aws):
    key = "sk-or-v1-" + "0123456789abcdef" * 4
    trace = make_trace(
        1,
        input=[{"role": "user", "content": f"my key is {key}"}],
        output="ok",
        error="upstream said: Authorization: Bearer hf_abcdefghijklmnopqrstuvwx",
        metadata={"headers": {"Authorization": "Bearer abc123def456"}, "password": "hunter2", "prompt_tokens": 12},
    )
    aws.functions.invoke("TraceWriterFunction", sqs_event(trace.to_json(), queue=TRACES_QUEUE))
    stored = TraceStore.from_clients(aws.settings, aws.clients).get(WS, trace.id)
    text = stored.to_json()
    for secret in (key, "hf_abcdefghijklmnopqrstuvwx", "abc123def456", "hunter2"):
        assert secret not in text
    assert stored.metadata["prompt_tokens"] == 12  # counts are not credentials
    assert stored.metadata["password"] == "[REDACTED]"


def test_sample_event_file_is_accepted(aws):
    from localcloud.template import REPO_ROOT

    event = json.loads((REPO_ROOT / "events" / "trace_writer-sqs.json").read_text())
    assert aws.functions.invoke("TraceWriterFunction", event) == {"batchItemFailures": []}
    assert len(stored_keys(aws)) == len(event["Records"])
