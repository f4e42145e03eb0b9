"""The dashboard's sign-in configuration through the emulated API Gateway: ``GET
/api/auth/config`` without credentials (local one-click only in local mode, OIDC only when
configured, an API token always), the dashboard's CSP computed from the same settings, and an
id token from a real authorization-code + PKCE exchange with the test issuer accepted by the
real authorizer."""

from __future__ import annotations

import base64
import hashlib
import secrets
import urllib.parse

import httpx
import pytest

from tests.support.gateway import Api
from tests.support.identity import use_local_identity
from tests.support.oidc_issuer import CLIENT_ID, start_issuer

DASHBOARD = "http://127.0.0.1:3000/"


@pytest.fixture
def issuer():
    issuer, stop = start_issuer({DASHBOARD}, {"http://127.0.0.1:3000"})
    yield issuer
    stop()


def oidc_env(issuer) -> dict[str, str]:
    return {
        "DRGERO_AUTH__JWT_ISSUER": issuer.url,
        "DRGERO_AUTH__JWT_AUDIENCE": CLIENT_ID,
        "DRGERO_AUTH__JWT_JWKS_URL": "",
        "DRGERO_AUTH__OIDC_CLIENT_ID": CLIENT_ID,
        "DRGERO_AUTH__OIDC_NAME": "Test SSO",
    }


def test_without_oidc_only_the_api_token_is_offered_and_the_csp_stays_self(aws):
    use_local_identity(aws)
    api = Api(aws)
    answer = api.get("/api/auth/config")
    assert answer.status == 200, answer.body
    assert answer.json == {"methods": ["token"], "local": False, "oidc": None, "oidc_problem": None, "token": True}
    csp = api.get("/").headers["content-security-policy"]
    assert "connect-src 'self';" in csp


def test_local_mode_offers_the_one_click_sign_in(aws):
    use_local_identity(aws, DRGERO_ENVIRONMENT="local", DRGERO_PROVIDERS__ALLOW_LOOPBACK="false")
    assert Api(aws).get("/api/auth/config").json["methods"] == ["local", "token"]


def test_configured_oidc_is_discovered_and_its_token_origin_joins_connect_src(aws, issuer):
    use_local_identity(aws, **oidc_env(issuer))
    api = Api(aws)
    answer = api.get("/api/auth/config")
    assert answer.status == 200
    body = answer.json
    assert body["methods"] == ["oidc", "token"]
    assert body["oidc"] == {
        "name": "Test SSO",
        "issuer": issuer.url,
        "client_id": CLIENT_ID,
        "authorization_endpoint": f"{issuer.url}/authorize",
        "token_endpoint": f"{issuer.url}/token",
        "end_session_endpoint": f"{issuer.url}/logout",
        "scopes": "openid email profile",
        "redirect_path": "",
        "session_token": "id_token",
    }
    for path in ("/", "/ui/app.js"):
        csp = api.get(path).headers["content-security-policy"]
        assert f"connect-src 'self' {issuer.url};" in csp, csp
        assert "*" not in csp and "unsafe" not in csp
    # A preflight of its own, without the authorizer (the template keeps one per path).
    asking = {"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"}
    preflight = api.request("OPTIONS", "/api/auth/config", headers=asking)
    assert preflight.status == 403 and preflight.error_code == "cors_origin_not_allowed"


def test_an_unusable_issuer_turns_oidc_off_and_says_why(aws):
    use_local_identity(aws, DRGERO_AUTH__OIDC_CLIENT_ID=CLIENT_ID, DRGERO_AUTH__JWT_ISSUER="http://issuer.example")
    body = Api(aws).get("/api/auth/config").json
    assert body["oidc"] is None and body["methods"] == ["token"]
    assert "https" in body["oidc_problem"]


def test_the_id_token_of_a_pkce_exchange_is_a_session_the_authorizer_accepts(aws, issuer):
    use_local_identity(aws, **oidc_env(issuer))
    api = Api(aws)
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": DASHBOARD,
        "scope": "openid email",
        "state": "s1",
        "nonce": "n1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with httpx.Client(trust_env=False) as http:
        back = http.get(f"{issuer.url}/authorize", params=query)
        assert back.status_code == 302
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back.headers["location"]).query))["code"]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": DASHBOARD, "client_id": CLIENT_ID}
        wrong = http.post(f"{issuer.url}/token", data={**form, "code_verifier": "not-the-verifier"})
        assert wrong.status_code == 400  # the test issuer really checks PKCE
        tokens = http.post(f"{issuer.url}/token", data={**form, "code_verifier": verifier}).json()
    listed = api.get("/api/workspaces", tokens["id_token"])
    assert listed.status == 200, listed.body
    assert api.get("/api/workspaces", tokens["id_token"][:-4] + "AAAA").status == 401
