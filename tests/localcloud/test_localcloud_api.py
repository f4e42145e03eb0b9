"""The API Gateway emulation, end to end over HTTP against a running local cloud.

The real authorizer and functions answer where the product already has behaviour (health,
the 401 without a token); test doubles (``local_cloud.override``) stand in for an authorizer
that allows or denies, so API Gateway's semantics are checked independently of today's
placeholder handlers.
"""

from __future__ import annotations

import base64
import json
import threading

import httpx
import pytest

from localcloud.apigateway import match_route, policy_allows, routes_from_template

pytestmark = pytest.mark.slow

ARN = "arn:aws:execute-api:us-east-1:123456789012:local/prod/GET/api/leaderboards"


def allow_all(context: dict | None = None, principal: str = "tok_123"):
    def authorizer(event, _ctx):
        arn_prefix = event["methodArn"].split("/", 1)[0]
        return {
            "principalId": principal,
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{arn_prefix}/*"}],
            },
            "context": context or {},
        }

    return authorizer


def deny(context: dict):
    def authorizer(event, _ctx):
        return {
            "principalId": "anonymous",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": event["methodArn"]}],
            },
            "context": context,
        }

    return authorizer


class Recorder:
    """A function double that records its events and answers a fixed proxy response."""

    def __init__(self, response: dict | None = None) -> None:
        self.events: list[dict] = []
        self.response = response or {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    def __call__(self, event, _ctx):
        self.events.append(event)
        return self.response


@pytest.fixture(scope="module")
def http(local_cloud):
    with httpx.Client(base_url=local_cloud.api_url, timeout=30) as client:
        yield client


# ---------------------------------------------------------------- real handlers
def test_health_answers_without_auth(http):
    response = http.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["x-amzn-RequestId"]


def test_request_without_token_gets_401_from_the_authorizer_path(http):
    response = http.get("/api/leaderboards")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    assert error["message"]
    assert error["request_id"] == response.headers["x-amzn-RequestId"]


def test_unknown_route_is_404_not_found_in_the_one_error_shape(http, local_cloud):
    # API Gateway's MISSING_AUTHENTICATION_TOKEN response, mapped to 404 by the template; a
    # valid token changes nothing (it is not a credential problem).
    token = local_cloud.info()["token"]
    for method, path in (
        ("GET", "/nope"),
        ("DELETE", "/v1/health"),
        ("GET", "/v1/leaderboard//inference"),
        ("POST", "/v1/embeddings"),
        ("GET", "/docs"),
    ):
        for headers in ({}, {"Authorization": f"Bearer {token}"}):
            response = http.request(method, path, headers=headers)
            assert response.status_code == 404, (method, path)
            error = response.json()["error"]
            assert error["code"] == "not_found"
            assert error["type"] == "not_found_error"
            assert set(error) == {"code", "message", "type", "param", "details", "request_id"}
            assert error["request_id"] == response.headers["x-amzn-RequestId"]
            assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


# ---------------------------------------------------------------- authorizer semantics
def test_authorizer_gets_a_request_event(local_cloud, http):
    seen: list[dict] = []

    def authorizer(event, ctx):
        seen.append(event)
        raise Exception("Unauthorized")  # noqa: TRY002 - API Gateway's protocol

    with local_cloud.override("AuthorizerFunction", authorizer):
        http.post("/v1/leaderboard/lb_1/dataset/push?x=1&x=2", headers={"X-API-Key": "drgero_abc"}, json={})
    event = seen[0]
    assert event["type"] == "REQUEST"
    assert (
        event["methodArn"]
        == "arn:aws:execute-api:us-east-1:123456789012:local/prod/POST/v1/leaderboard/lb_1/dataset/push"
    )
    assert event["resource"] == "/v1/leaderboard/{id}/dataset/push"
    assert event["path"] == "/v1/leaderboard/lb_1/dataset/push"
    assert event["httpMethod"] == "POST"
    assert event["headers"]["X-API-Key"] == "drgero_abc"
    assert event["multiValueHeaders"]["X-API-Key"] == ["drgero_abc"]
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["pathParameters"] == {"id": "lb_1"}
    assert event["requestContext"]["resourcePath"] == "/v1/leaderboard/{id}/dataset/push"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"


def test_allow_invokes_the_route_with_a_rest_proxy_event_carrying_the_context(local_cloud, http):
    recorder = Recorder()
    context = {"workspace_id": "ws_1", "scopes": "inference", "admin": True, "budget": 5}
    with (
        local_cloud.override("AuthorizerFunction", allow_all(context)),
        local_cloud.override("PushIngestFunction", recorder),
    ):
        response = http.post(
            "/v1/leaderboard/lb_42/dataset/push?trace=yes", headers={"Authorization": "Bearer x"}, json={"input": "hi"}
        )
    assert response.status_code == 200
    event = recorder.events[0]
    assert event["resource"] == "/v1/leaderboard/{id}/dataset/push"
    assert event["path"] == "/v1/leaderboard/lb_42/dataset/push"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"id": "lb_42"}
    assert event["queryStringParameters"] == {"trace": "yes"}
    assert event["multiValueQueryStringParameters"] == {"trace": ["yes"]}
    assert json.loads(event["body"]) == {"input": "hi"}
    assert event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["stage"] == "prod"
    assert ctx["resourcePath"] == "/v1/leaderboard/{id}/dataset/push"
    assert ctx["requestId"] == response.headers["x-amzn-RequestId"]
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    # REST APIs deliver context values as strings, plus the principal.
    assert ctx["authorizer"] == {
        "workspace_id": "ws_1",
        "scopes": "inference",
        "admin": "true",
        "budget": "5",
        "principalId": "tok_123",
    }


def test_the_inference_routes_skip_the_authorizer_as_the_template_says(local_cloud, http):
    # Auth: {Authorizer: NONE} on both (the function checks the credential itself): no
    # authorizer call, and no authorizer context in the event.
    seen: list[dict] = []

    def authorizer(event, ctx):
        seen.append(event)
        raise Exception("Unauthorized")  # noqa: TRY002 - API Gateway's protocol

    recorder = Recorder()
    with local_cloud.override("AuthorizerFunction", authorizer), local_cloud.override("InferenceFunction", recorder):
        native = http.post("/v1/leaderboard/lb_7/inference", headers={"Authorization": "Bearer x"}, json={})
        chat = http.post("/v1/chat/completions", headers={"Authorization": "Bearer x"}, json={})
    assert (native.status_code, chat.status_code) == (200, 200)
    assert seen == []
    assert [e["resource"] for e in recorder.events] == ["/v1/leaderboard/{id}/inference", "/v1/chat/completions"]
    assert all("authorizer" not in e["requestContext"] for e in recorder.events)
    assert recorder.events[0]["headers"]["Authorization"] == "Bearer x"


def test_greedy_proxy_route_and_any_method(local_cloud, http):
    recorder = Recorder()
    with local_cloud.override("AuthorizerFunction", allow_all()), local_cloud.override("ApiFunction", recorder):
        assert http.patch("/api/leaderboards/lb_1/models/m_2", json={}).status_code == 200
    event = recorder.events[0]
    assert event["resource"] == "/api/{proxy+}"
    assert event["pathParameters"] == {"proxy": "leaderboards/lb_1/models/m_2"}
    assert event["httpMethod"] == "PATCH"


def test_deny_answers_access_denied_rendered_with_the_context(local_cloud, http):
    context = {"error_code": "token_revoked", "error_message": "This token was revoked."}
    recorder = Recorder()
    with local_cloud.override("AuthorizerFunction", deny(context)), local_cloud.override("ApiFunction", recorder):
        response = http.get("/api/leaderboards")
    assert response.status_code == 401  # the template's ACCESS_DENIED status
    assert response.json() == {
        "error": {
            "code": "token_revoked",
            "message": "This token was revoked.",
            "type": "authentication_error",
            "param": None,
            "details": None,
            "request_id": response.headers["x-amzn-RequestId"],
        }
    }
    assert recorder.events == []


def test_allow_that_does_not_cover_the_method_is_a_deny(local_cloud, http):
    def narrow(event, _ctx):
        prefix = event["methodArn"].split("/", 1)[0]
        return {
            "principalId": "p",
            "policyDocument": {
                "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{prefix}/prod/GET/*"}]
            },
            "context": {"error_code": "forbidden", "error_message": "no"},
        }

    recorder = Recorder()
    with local_cloud.override("AuthorizerFunction", narrow), local_cloud.override("ApiFunction", recorder):
        assert http.get("/api/leaderboards").status_code == 200
        assert http.post("/api/leaderboards", json={}).status_code == 401
    assert len(recorder.events) == 1


@pytest.mark.parametrize(
    "answer",
    [
        {"principalId": "p"},  # no policy
        {"principalId": "p", "policyDocument": {"Statement": []}, "context": {"nested": {"a": 1}}},
        "Allow",
    ],
)
def test_malformed_authorizer_answer_is_a_500(local_cloud, http, answer):
    with local_cloud.override("AuthorizerFunction", lambda event, ctx: answer):
        response = http.get("/api/leaderboards")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"


def test_authorizer_crash_is_a_500_not_a_401(local_cloud, http):
    def broken(event, ctx):
        raise RuntimeError("table unreachable")

    with local_cloud.override("AuthorizerFunction", broken):
        response = http.get("/api/leaderboards")
    assert response.status_code == 500


# ---------------------------------------------------------------- integration responses
def test_handler_exception_is_a_502_with_the_default_5xx_body(local_cloud, http):
    def crash(event, ctx):
        raise ValueError("boom")

    with local_cloud.override("ApiFunction", crash):
        response = http.get("/v1/health")
    assert response.status_code == 502
    body = response.json()
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["request_id"] == response.headers["x-amzn-RequestId"]
    assert "boom" not in response.text


@pytest.mark.parametrize("bad", [None, "ok", {"statusCode": "abc"}, {"statusCode": 200, "headers": ["x"]}])
def test_malformed_proxy_response_is_a_502(local_cloud, http, bad):
    with local_cloud.override("ApiFunction", lambda event, ctx: bad):
        assert http.get("/v1/health").status_code == 502


def test_response_status_headers_multi_value_headers_and_base64_body(local_cloud, http):
    payload = bytes(range(256))
    response_doc = {
        "statusCode": 201,
        "headers": {"Content-Type": "application/octet-stream", "X-One": "1"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": base64.b64encode(payload).decode(),
        "isBase64Encoded": True,
    }
    with local_cloud.override("ApiFunction", Recorder(response_doc)):
        response = http.get("/v1/health")
    assert response.status_code == 201
    assert response.content == payload
    assert response.headers["X-One"] == "1"
    assert response.headers.get_list("Set-Cookie") == ["a=1", "b=2"]


def test_binary_request_body_reaches_the_function_base64_encoded(local_cloud, http):
    recorder = Recorder()
    with local_cloud.override("AuthorizerFunction", allow_all()), local_cloud.override("ApiFunction", recorder):
        http.post("/api/upload", content=b"\xff\xfe\x00binary")
    event = recorder.events[0]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe\x00binary"


def test_oversized_payload_is_413_before_any_function_runs(local_cloud, http):
    recorder = Recorder()
    with local_cloud.override("AuthorizerFunction", recorder), local_cloud.override("ApiFunction", recorder):
        response = http.post("/api/upload", content=b"x" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert recorder.events == []


def test_requests_really_run_concurrently(local_cloud, http):
    # Two requests that each wait for the other: they only both finish if served in parallel.
    barrier = threading.Barrier(2, timeout=10)

    def meet(event, ctx):
        barrier.wait()
        return {"statusCode": 200, "body": "met"}

    results: list[int] = []
    with local_cloud.override("ApiFunction", meet):
        threads = [
            threading.Thread(target=lambda: results.append(httpx.get(f"{local_cloud.api_url}/v1/health").status_code))
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert results == [200, 200]


# ---------------------------------------------------------------- pure pieces
def test_routes_come_from_the_template_most_specific_first(template):
    routes = routes_from_template(template)
    assert {(r.path, r.method) for r in routes} >= {("/v1/health", "GET"), ("/api/{proxy+}", "ANY")}
    assert not next(r for r in routes if r.path == "/v1/health").authorized
    assert next(r for r in routes if r.path == "/api/{proxy+}" and r.method == "ANY").authorized
    # CORS preflights: an exact OPTIONS method, without the authorizer, beats ANY.
    preflight, _ = match_route(routes, "OPTIONS", "/api/leaderboards")
    assert (preflight.method, preflight.authorized) == ("OPTIONS", False)
    route, params = match_route(routes, "POST", "/v1/leaderboard/abc/dataset/push")
    assert (route.function, params) == ("PushIngestFunction", {"id": "abc"})
    assert match_route(routes, "GET", "/v1/leaderboard/abc/dataset/push") is None


@pytest.mark.parametrize(
    ("statements", "allowed"),
    [
        ([{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ARN}], True),
        ([{"Action": "execute-api:*", "Effect": "Allow", "Resource": ["arn:aws:execute-api:*:*:local/*"]}], True),
        ([{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ARN.replace("GET", "POST")}], False),
        ([{"Action": "s3:GetObject", "Effect": "Allow", "Resource": "*"}], False),
        (
            [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"},
                {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": ARN},
            ],
            False,
        ),
        ([], False),
    ],
)
def test_policy_evaluation(statements, allowed):
    assert policy_allows({"Version": "2012-10-17", "Statement": statements}, ARN) is allowed
