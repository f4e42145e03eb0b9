"""The api function answers GET /v1/health through its real handler."""

import json

from tests.support.events import rest_event


def test_health_answers_without_auth(aws):
    response = aws.functions.invoke("ApiFunction", rest_event("GET", "/v1/health"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "ok", "version": "0.1.0"}


def test_unknown_route_uses_contract_error_shape(aws):
    response = aws.functions.invoke("ApiFunction", rest_event("GET", "/api/nope", request_id="req-1"))
    body = json.loads(response["body"])
    assert response["statusCode"] == 404
    assert body["error"]["code"] == "not_found"
    assert body["error"]["request_id"] == "req-1"
