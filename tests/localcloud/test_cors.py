"""CORS through the local cloud: preflights on every route, allowed origins only, the gateway's
own errors readable by the page, x-request-id on every answer (docs/api.md, "CORS")."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow

ALLOWED = "http://localhost:5173"  # the local cloud allows http://localhost:* and http://127.0.0.1:*
FOREIGN = "https://evil.example"
PATHS = (
    ("/api/leaderboards", "POST"),
    ("/api/tokens/tok_1", "DELETE"),
    ("/v1/leaderboard/lb_1/dataset/push", "POST"),
    ("/v1/leaderboard/lb_1/dataset/status", "GET"),
    ("/v1/leaderboard/lb_1/inference", "POST"),
    ("/v1/chat/completions", "POST"),
    ("/v1/health", "GET"),
)


@pytest.fixture(scope="module")
def http(local_cloud):
    with httpx.Client(base_url=local_cloud.api_url, timeout=30) as client:
        yield client


def preflight(http: httpx.Client, path: str, method: str, origin: str) -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    return http.options(path, headers=headers)


@pytest.mark.parametrize(("path", "method"), PATHS)
def test_a_preflight_from_an_allowed_origin_is_204_with_methods_and_credential_headers(http, path, method):
    response = preflight(http, path, method, ALLOWED)
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert method in response.headers["access-control-allow-methods"]
    allowed_headers = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "x-api-key", "x-dr.gero-api-key", "content-type", "idempotency-key"} <= allowed_headers
    assert int(response.headers["access-control-max-age"]) > 0
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize(("path", "method"), PATHS[:3])
def test_a_preflight_from_another_origin_is_refused_in_the_error_shape(http, path, method):
    response = preflight(http, path, method, FOREIGN)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    assert response.json()["error"]["code"] == "cors_origin_not_allowed"


def test_data_answers_carry_the_allowed_origin_and_expose_our_headers(http, local_cloud):
    token = local_cloud.info()["token"]
    answer = http.get("/api/leaderboards", headers={"Authorization": f"Bearer {token}", "Origin": ALLOWED})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    exposed = {h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert {"x-request-id", "retry-after"} <= exposed
    assert answer.headers["x-request-id"] == answer.headers["x-amzn-RequestId"]


def test_data_answers_to_another_origin_carry_no_allow_origin(http, local_cloud):
    token = local_cloud.info()["token"]
    answer = http.get("/api/leaderboards", headers={"Authorization": f"Bearer {token}", "Origin": FOREIGN})
    assert answer.status_code == 200  # the browser, not the API, withholds it from the page
    assert "access-control-allow-origin" not in answer.headers
    assert answer.headers["x-request-id"]


def test_push_and_inference_answers_carry_cors_headers_too(http, local_cloud):
    token = local_cloud.info()["token"]
    headers = {"Authorization": f"Bearer {token}", "Origin": ALLOWED}
    for path in ("/v1/leaderboard/lb_nope/dataset/push", "/v1/leaderboard/lb_nope/inference"):
        answer = http.post(path, headers=headers, json={"input": "x"})
        assert answer.status_code == 404, (path, answer.text)
        assert answer.headers["access-control-allow-origin"] == ALLOWED
        assert answer.headers["x-request-id"]


def test_the_gateways_own_errors_echo_the_origin_so_the_page_can_read_them(http):
    for answer in (
        http.get("/api/leaderboards", headers={"Origin": ALLOWED}),  # no credential: UNAUTHORIZED
        http.get("/nope", headers={"Origin": ALLOWED}),  # no route: 404
    ):
        assert answer.status_code in (401, 404)
        assert answer.headers["access-control-allow-origin"] == ALLOWED
        assert answer.json()["error"]["request_id"]
