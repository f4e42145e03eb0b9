"""The api function answers GET /v1/health through its real handler."""

import json


def rest_event(method: str, path: str, body=None, headers=None, authorizer=None) -> dict:
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers or {},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": "req-1",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": authorizer,
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def test_health_answers_without_auth(aws):
    response = aws.functions.invoke("ApiFunction", rest_event("GET", "/v1/health"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "ok", "version": "0.1.0"}


def test_unknown_route_uses_contract_error_shape(aws):
    response = aws.functions.invoke("ApiFunction", rest_event("GET", "/api/nope"))
    body = json.loads(response["body"])
    assert response["statusCode"] == 404
    assert body["error"]["code"] == "not_found"
    assert body["error"]["request_id"] == "req-1"
