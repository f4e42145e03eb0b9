"""An unexpected failure inside the api function is a 500 in the one error shape, never text."""

from __future__ import annotations

import json
import logging

from drgero.leaderboards import leaderboard
from tests.support.events import rest_event
from tests.support.identity import api_principal, new_workspace


def test_an_unexpected_exception_is_a_500_internal_error_with_the_request_id(aws, monkeypatch, caplog):
    ws = new_workspace(aws, plan="pro")["workspace_id"]

    def broken(*_args, **_kwargs):
        raise RuntimeError("database exploded: secret-detail-42")

    monkeypatch.setattr(leaderboard, "list_leaderboards", broken)
    event = rest_event("GET", "/api/leaderboards", principal=api_principal(ws))
    with caplog.at_level(logging.ERROR):
        response = aws.functions.invoke("ApiFunction", event)

    assert response["statusCode"] == 500
    assert response["headers"]["content-type"] == "application/json"
    error = json.loads(response["body"])["error"]
    assert error["code"] == "internal_error"
    assert error["type"] == "api_error"
    assert error["request_id"] == event["requestContext"]["requestId"]
    # The cause is logged with its traceback, never returned.
    assert "secret-detail-42" not in response["body"]
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "secret-detail-42" in str(logged[0].exc_info[1])
