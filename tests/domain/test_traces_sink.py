"""Producers' side: emit() queues a trace (no S3 call on the caller's path), emit_many()
batches, oversized traces are shortened, failures are reported; and the queued messages are
exactly what the trace_writer stores. Plus the pure helpers: scrub, redact, traces_url."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import boto3
import pytest

from drgero.core.aws import AwsClients
from drgero.core.settings import Settings
from drgero.traces import (
    QueueSink,
    RedactionPolicy,
    Trace,
    TraceEmitError,
    TraceKind,
    TraceStore,
    redact,
    scrub,
    traces_url,
)
from drgero.traces.scrub import scrub_value
from drgero.traces.sink import fit_message
from tests.support.aws import drain_queue
from tests.support.events import sqs_event

WS = "ws_alpha"


def make_trace(n: int = 0, **fields) -> Trace:
    defaults = dict(workspace_id=WS, leaderboard_id="lb_one", kind=TraceKind.RUN, name=f"run row {n}", input="q")
    defaults.update(fields)
    return Trace(**defaults)


@pytest.fixture
def counted(aws):
    """AwsClients whose every AWS call is counted by service and operation (botocore event hook)."""
    session = boto3.session.Session()
    calls: Counter[str] = Counter()

    def count(event_name: str, **_kwargs) -> None:
        calls[event_name.removeprefix("before-call.")] += 1

    session.events.register("before-call.*.*", count)
    return AwsClients(aws.settings, session=session), calls


def drain(aws) -> list[str]:
    return drain_queue(aws, aws.settings.aws.traces_queue_url)


def test_emit_sends_one_sqs_message_and_makes_no_s3_call(aws, counted):
    clients, calls = counted
    sink = QueueSink.from_clients(aws.settings, clients)
    trace = make_trace()
    sink.emit(trace)
    assert calls == Counter({"sqs.SendMessage": 1})
    assert [Trace.model_validate_json(b) for b in drain(aws)] == [trace]


def test_emit_many_packs_ten_per_batch(aws, counted):
    clients, calls = counted
    sink = QueueSink.from_clients(aws.settings, clients)
    traces = [make_trace(n) for n in range(25)]
    sink.emit_many(traces)
    assert calls == Counter({"sqs.SendMessageBatch": 3})
    assert sorted(Trace.model_validate_json(b).id for b in drain(aws)) == sorted(t.id for t in traces)


def test_buffer_flushes_every_ten_and_at_the_end(aws, counted):
    clients, calls = counted
    sink = QueueSink.from_clients(aws.settings, clients)
    with sink.buffer() as buffer:
        for n in range(12):
            buffer.emit(make_trace(n))
        assert calls == Counter({"sqs.SendMessageBatch": 1})
    assert calls == Counter({"sqs.SendMessageBatch": 2})
    assert len(drain(aws)) == 12


def test_batches_respect_the_sqs_request_size(aws, counted):
    clients, calls = counted
    sink = QueueSink.from_clients(aws.settings, clients)
    traces = [make_trace(n, input="x" * 100_000) for n in range(4)]  # ~100 KB each: 2 per request
    sink.emit_many(traces)
    assert calls == Counter({"sqs.SendMessageBatch": 2})
    assert len(drain(aws)) == 4


def test_oversized_trace_is_shortened_not_dropped(aws):
    sink = QueueSink.from_clients(aws.settings, aws.clients)
    trace = make_trace(input="q" * 400_000, output="a" * 10, metadata={"k": "v"})
    sink.emit(trace)
    (body,) = drain(aws)
    received = Trace.model_validate_json(body)
    assert received.id == trace.id
    assert received.truncated == ["input"]
    assert received.input == "q" * 2000
    assert received.output == "a" * 10


def test_fit_message_gives_up_only_when_nothing_can_shrink():
    with pytest.raises(TraceEmitError) as error:
        fit_message(make_trace(name="n" * 200, input=None), max_bytes=100)
    assert error.value.trace_ids


def test_emit_failure_is_a_typed_error(aws):
    sink = QueueSink(aws.clients.sqs, aws.settings.aws.traces_queue_url + "-missing")
    trace = make_trace()
    with pytest.raises(TraceEmitError) as error:
        sink.emit(trace)
    assert error.value.trace_ids == [trace.id]
    with pytest.raises(TraceEmitError) as error:
        sink.emit_many([trace])
    assert error.value.trace_ids == [trace.id]


def test_secrets_never_reach_the_queue(aws):
    sink = QueueSink.from_clients(aws.settings, aws.clients)
    sink.emit(make_trace(input="use hf_abcdefghijklmnopqrstuvwxyz please", metadata={"openrouter_api_key": "k"}))
    (body,) = drain(aws)
    assert "hf_abcdefghijklmnopqrstuvwxyz" not in body
    assert json.loads(body)["metadata"]["openrouter_api_key"] == "[REDACTED]"


def test_queued_traces_are_stored_by_the_writer_and_listable(aws):
    sink = QueueSink.from_clients(aws.settings, aws.clients)
    traces = [make_trace(n, created_at=datetime(2026, 11, 24, 12, 0, n, tzinfo=UTC)) for n in range(3)]
    sink.emit_many(traces)
    result = aws.functions.invoke("TraceWriterFunction", sqs_event(*drain(aws), queue="drgero-local-traces-queue"))
    assert result == {"batchItemFailures": []}
    store = TraceStore.from_clients(aws.settings, aws.clients)
    assert store.get(WS, traces[1].id) == traces[1]


def test_queue_sink_needs_a_queue_url():
    with pytest.raises(ValueError, match="traces_queue_url"):
        QueueSink(object(), "")


# ---------------------------------------------------------------- pure helpers


def test_scrub_replaces_secret_shapes_and_keeps_ordinary_text():
    # Token-shaped values are assembled from parts so no source line looks like a real secret.
    fake_api_token = "drgero_" + "abcdefghijklmnopqrstuvwxyz" + "0123456789ABCDEF"
    fake_push_token = "hpd_" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "012345"
    text = (
        f"token {fake_api_token} then {fake_push_token} "
        "and sk-or-v1-0123456789abcdef and hf_ABCDEFGHIJKLMNOPQRSTUV and AKIAABCDEFGHIJKLMNOP "
        "url ?api_key=abc123&x=1 header Authorization: Basic dXNlcjpwYXNz jwt "
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    )
    cleaned = scrub_value(text)
    for secret in (
        "drgero_abcdefghij",
        "hpd_ABCDEFGHIJ",
        "sk-or-v1-0123",
        "hf_ABCDEFGH",
        "AKIAABCDEFGH",
        "abc123",
        "dXNlcjpwYXNz",
        "eyJhbGciOiJIUzI1NiJ9",
    ):
        assert secret not in cleaned, secret
    prose = "A basic arithmetic question; the bearer of bad news; max_tokens is 512; the token limit."
    assert scrub_value(prose) == prose


def test_scrub_by_key_keeps_counts_and_structure():
    value = {
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
        "max_tokens": 64,
        "X-Api-Key": "abc",
        "nested": [{"client_secret": "s", "hf_token": "t", "note": "fine"}],
        "token": None,
    }
    assert scrub_value(value) == {
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
        "max_tokens": 64,
        "X-Api-Key": "[REDACTED]",
        "nested": [{"client_secret": "[REDACTED]", "hf_token": "[REDACTED]", "note": "fine"}],
        "token": None,
    }


def test_scrub_is_idempotent_and_does_not_modify_its_input():
    trace = make_trace(metadata={"password": "p4ss"}, input="Authorization: Bearer abcdef123456 and Bearer x1y2z3w4v5")
    once = scrub(trace)
    assert scrub(once) == once
    assert trace.metadata == {"password": "p4ss"}


def test_redact_removes_what_the_policy_says():
    trace = make_trace(input="in", output="out")
    assert redact(trace, RedactionPolicy()) == trace
    both = redact(trace, RedactionPolicy(inputs=True, outputs=True))
    assert (both.input, both.output, both.redacted) == (None, None, ["input", "output"])
    assert redact(both, RedactionPolicy(inputs=True)).redacted == ["input", "output"]
    only_out = redact(trace, RedactionPolicy.of_leaderboard({"trace_redaction": {"outputs": True}}))
    assert (only_out.input, only_out.output) == ("in", None)
    assert RedactionPolicy.of_leaderboard({}) == RedactionPolicy()
    assert RedactionPolicy.of_leaderboard(None) == RedactionPolicy()


def test_traces_url_prefers_the_public_base_url():
    settings = Settings()
    assert (
        traces_url(settings, "http://127.0.0.1:3000/", "lb_1") == "http://127.0.0.1:3000/api/traces?leaderboard_id=lb_1"
    )
    public = Settings(api={"public_base_url": "https://api.drgero.example/prod"})
    assert (
        traces_url(public, "http://ignored/", "lb_1")
        == "https://api.drgero.example/prod/api/traces?leaderboard_id=lb_1"
    )
