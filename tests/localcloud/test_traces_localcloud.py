"""Traces end to end on the local cloud, over HTTP with a real API token: a manual event is
readable right after its 201; a trace a producer queues is stored by the trace_writer (real
SQS poller) and shows up in the listing."""

from __future__ import annotations

import time

import httpx
import pytest

from drgero.traces import QueueSink, Trace, TraceKind

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def http(local_cloud):
    token = local_cloud.info()["token"]
    with httpx.Client(
        base_url=local_cloud.api_url, headers={"Authorization": f"Bearer {token}"}, trust_env=False, timeout=30
    ) as client:
        yield client


def test_manual_event_round_trip_over_http(http):
    created = http.post("/api/traces", json={"name": "deploy", "metadata": {"version": "2"}})
    assert created.status_code == 201, created.text
    trace_id = created.json()["id"]
    read = http.get(f"/api/traces/{trace_id}")
    assert read.status_code == 200
    assert read.json()["metadata"] == {"version": "2"}
    assert http.get(f"/api/traces/{trace_id}", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_queued_trace_is_written_by_the_writer_and_listed(local_cloud, http):
    workspace_id = local_cloud.info()["workspace_id"]
    trace = Trace(workspace_id=workspace_id, kind=TraceKind.INFERENCE, name="inference", input="hi", output="hello")
    QueueSink(local_cloud.client("sqs"), local_cloud.queue_url("TracesQueue")).emit(trace)

    # Eventually visible: the poller hands the message to the trace_writer within seconds.
    deadline = time.monotonic() + 30
    listed: list[str] = []
    while time.monotonic() < deadline:
        listed = [t["id"] for t in http.get("/api/traces", params={"kind": "inference"}).json()["traces"]]
        if trace.id in listed:
            break
        time.sleep(0.2)
    assert trace.id in listed
    assert http.get(f"/api/traces/{trace.id}").json()["output"] == "hello"
