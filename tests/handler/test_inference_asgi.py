"""The inference function's ASGI app (functions/inference/asgi.py), as the Lambda Web Adapter
drives it in AWS: an HTTP request carrying the event's requestContext in
``x-amzn-request-context``; answers (streamed or not) come back from ``app.stream_handler``."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
from starlette.testclient import TestClient

from localcloud.template import REPO_ROOT
from tests.support.inference import echo_world


@pytest.fixture
def world(aws, sandbox):
    return echo_world(aws, sandbox)


@pytest.fixture
def client(aws, world, monkeypatch):
    # asgi.py imports its folder's app.py as "app", as on Lambda (the code dir is on sys.path).
    monkeypatch.setitem(sys.modules, "app", aws.functions.module("InferenceFunction"))
    spec = importlib.util.spec_from_file_location("inference_asgi", REPO_ROOT / "functions/inference/asgi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return TestClient(module.app)


def adapter_headers(world, resource: str) -> dict[str, str]:
    # No authorizer context: the routes have none; the function checks the bearer token.
    context = {"requestId": "req-asgi-1", "resourcePath": resource, "stage": "prod"}
    return {
        "x-amzn-request-context": json.dumps(context),
        "x-amzn-lambda-context": json.dumps({"request_id": "r"}),
        "Authorization": f"Bearer {world.token}",
    }


def test_a_buffered_answer_comes_back_whole(world, client):
    answer = client.post(
        "/v1/chat/completions",
        json={"model": f"leaderboard/{world.leaderboard_id}", "messages": [{"role": "user", "content": "hi"}]},
        headers=adapter_headers(world, "/v1/chat/completions"),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "Answer briefly.\n\nhi"
    assert answer.headers["x-request-id"] == "req-asgi-1"


def test_a_streamed_answer_arrives_as_server_sent_events(world, client):
    with client.stream(
        "POST",
        f"/v1/leaderboard/{world.leaderboard_id}/inference",
        json={"input": "a b", "stream": True},
        headers=adapter_headers(world, "/v1/leaderboard/{id}/inference"),
    ) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in answer.iter_lines() if line]
    assert lines[-2] == "event: result"
    assert json.loads(lines[-1][6:])["output"] == "Answer briefly.\n\na b"


def test_errors_keep_the_one_error_shape(world, client):
    answer = client.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": []},
        headers=adapter_headers(world, "/v1/chat/completions"),
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["request_id"] == "req-asgi-1"


def test_the_readiness_path_answers(client):
    assert client.get("/_lwa/ready").text == "ok"
