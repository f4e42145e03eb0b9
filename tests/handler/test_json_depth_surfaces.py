"""Deeply nested JSON is a 400 ``json_too_deep`` on every JSON surface, never a 5xx: push,
both inference routes and the api function's routes, through their real handlers."""

from __future__ import annotations

import json

from tests.support.events import rest_event
from tests.support.handlers import push
from tests.support.identity import api_principal, new_workspace
from tests.support.leaderboards import create_push_leaderboard

DEEP = "[" * 5000 + "]" * 5000  # about 10 KB


def error_of(response: dict) -> dict:
    return json.loads(response["body"])["error"]


def test_push(aws):
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    lb = create_push_leaderboard(aws, ws)
    status, answer, _ = push(aws, lb, api_principal(ws), raw_body=DEEP)
    assert (status, answer["error"]["code"]) == (400, "json_too_deep")


def test_inference_routes(aws):
    token = new_workspace(aws, plan="pro")["token"]
    for path, resource in (
        ("/v1/leaderboard/lb_x/inference", "/v1/leaderboard/{id}/inference"),
        ("/v1/chat/completions", "/v1/chat/completions"),
    ):
        auth = {"Authorization": f"Bearer {token}"}  # the function checks it itself (no authorizer)
        event = rest_event("POST", path, headers=auth, resource=resource, path_parameters={"id": "lb_x"}, raw_body=DEEP)
        response = aws.functions.invoke("InferenceFunction", event)
        assert response["statusCode"] == 400, response["body"]
        assert error_of(response)["code"] == "json_too_deep"


def test_api_routes(aws):
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    for path in ("/api/leaderboards", "/api/traces", "/api/tokens"):
        event = rest_event("POST", path, principal=api_principal(ws), raw_body=DEEP)
        response = aws.functions.invoke("ApiFunction", event)
        assert response["statusCode"] == 400, (path, response["body"])
        assert error_of(response)["code"] == "json_too_deep"
