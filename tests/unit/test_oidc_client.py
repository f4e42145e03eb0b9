"""The dashboard's OIDC client settings: explicit endpoints, discovery (cached, retried after a
failure), the URL checks that keep the CSP origin exact, and the CSP itself."""

from __future__ import annotations

import pytest

from drgero.api.oidc import auth_config, content_security_policy
from drgero.core.settings import AuthSettings, Settings
from drgero.identity.oidc_client import OidcConfigError, OidcResolver, checked_redirect_path, checked_url, issuer_name

COGNITO_ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
COGNITO_DOMAIN = "https://drgero.auth.eu-west-1.amazoncognito.com"


def discovery(issuer: str = COGNITO_ISSUER, **extra: object) -> dict:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{COGNITO_DOMAIN}/oauth2/authorize",
        "token_endpoint": f"{COGNITO_DOMAIN}/oauth2/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        **extra,
    }


class Fetcher:
    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.urls: list[str] = []

    def __call__(self, url: str, timeout: float) -> object:
        self.urls.append(url)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def auth(**kw: object) -> AuthSettings:
    return AuthSettings(**{"jwt_issuer": COGNITO_ISSUER, "oidc_client_id": "client-1", **kw})


def test_off_without_a_client_id():
    fetch = Fetcher()
    assert OidcResolver(AuthSettings(jwt_issuer=COGNITO_ISSUER), fetch).resolve() == (None, None)
    assert fetch.urls == []


def test_discovery_fills_the_endpoints_once_then_the_cache_answers():
    fetch, clock = Fetcher(discovery(), discovery()), Clock()
    resolver = OidcResolver(auth(), fetch, clock)
    client, problem = resolver.resolve()
    assert problem is None
    assert client.authorization_endpoint == f"{COGNITO_DOMAIN}/oauth2/authorize"
    assert client.token_origin == COGNITO_DOMAIN
    assert client.name == "Cognito" and client.scopes == "openid email profile" and client.session_token == "id_token"
    assert client.end_session_endpoint is None  # Cognito's discovery has none
    assert fetch.urls == [f"{COGNITO_ISSUER}/.well-known/openid-configuration"]
    clock.now += 3599
    assert resolver.resolve()[0] == client and len(fetch.urls) == 1
    clock.now += 2
    resolver.resolve()
    assert len(fetch.urls) == 2


def test_explicit_endpoints_need_no_discovery():
    fetch = Fetcher()
    settings = auth(
        oidc_authorization_endpoint=f"{COGNITO_DOMAIN}/oauth2/authorize",
        oidc_token_endpoint=f"{COGNITO_DOMAIN}/oauth2/token",
        oidc_logout_endpoint=f"{COGNITO_DOMAIN}/logout",
        oidc_name="Acme SSO",
        oidc_redirect_path="/Prod/",
    )
    client, problem = OidcResolver(settings, fetch).resolve()
    assert problem is None and fetch.urls == []
    assert client.name == "Acme SSO" and client.end_session_endpoint == f"{COGNITO_DOMAIN}/logout"
    assert client.redirect_path == "/Prod/"
    assert "secret" not in str(client.public()).lower()


def test_a_failed_discovery_turns_oidc_off_with_a_reason_and_is_retried_later():
    fetch, clock = Fetcher(OSError("unreachable"), discovery()), Clock()
    resolver = OidcResolver(auth(), fetch, clock)
    client, problem = resolver.resolve()
    assert client is None and "discovery document could not be read" in problem
    clock.now += 59
    assert resolver.resolve() == (None, problem) and len(fetch.urls) == 1
    clock.now += 2
    assert resolver.resolve()[0] is not None


@pytest.mark.parametrize(
    ("document", "why"),
    [
        (["not", "an", "object"], "not a JSON object"),
        (discovery(code_challenge_methods_supported=["plain"]), "PKCE S256"),
        ({"issuer": COGNITO_ISSUER}, "endpoint is unknown"),
        (discovery(token_endpoint="http://evil.example/token"), "https"),
        (discovery(token_endpoint="https://*.example.com/token"), "wildcard"),
        (discovery(token_endpoint="https://user:pw@example.com/token"), "credentials"),
        (discovery(token_endpoint="https://example.com/token; script-src 'unsafe-inline'"), "cannot have"),
    ],
)
def test_a_discovery_document_that_cannot_be_used_is_refused(document, why):
    client, problem = OidcResolver(auth(), Fetcher(document)).resolve()
    assert client is None and why in problem


def test_settings_checked():
    no_issuer = OidcResolver(AuthSettings(oidc_client_id="c"), Fetcher()).resolve()[1]
    assert no_issuer.startswith("auth.oidc_client_id is set")
    bad_token = OidcResolver(auth(oidc_session_token="refresh_token"), Fetcher(discovery())).resolve()[1]
    assert "id_token or access_token" in bad_token
    bad_path = OidcResolver(auth(oidc_redirect_path="callback"), Fetcher(discovery())).resolve()[1]
    assert "oidc_redirect_path" in bad_path


def test_url_and_path_rules():
    assert checked_url("http://127.0.0.1:9999/token", "x") == "http://127.0.0.1:9999/token"
    assert checked_url("https://a.example/t?x=1", "x")
    for bad in ["ftp://a.example/t", "https:///t", "https://a.example/t#frag", "//a.example/t", "https://a.example:0/"]:
        with pytest.raises(OidcConfigError):
            checked_url(bad, "x")
    assert checked_redirect_path("") == "" and checked_redirect_path("/Prod/") == "/Prod/"
    for bad in ["Prod/", "/Prod", "//evil.example/", "/a?b/", "/a#/"]:
        with pytest.raises(OidcConfigError):
            checked_redirect_path(bad)
    assert issuer_name("https://abc.supabase.co/auth/v1") == "Supabase"
    assert issuer_name("https://login.acme.example") == "login.acme.example"


def test_the_csp_adds_the_token_endpoint_origin_only_when_configured():
    plain = content_security_policy(Settings())
    assert "connect-src 'self';" in plain and "*" not in plain
    assert content_security_policy(None) == plain
    configured = Settings(
        auth=auth(
            oidc_authorization_endpoint=f"{COGNITO_DOMAIN}/oauth2/authorize",
            oidc_token_endpoint=f"{COGNITO_DOMAIN}/oauth2/token",
        )
    )
    csp = content_security_policy(configured)
    assert f"connect-src 'self' {COGNITO_DOMAIN};" in csp
    assert "script-src 'self';" in csp and "form-action 'none'" in csp and "*" not in csp
    # Configured but unusable (no endpoints, discovery unreachable): nothing is added.
    broken = Settings(auth=auth(jwt_issuer="http://10.0.0.1/issuer"))
    assert content_security_policy(broken) == plain


def test_the_config_answer_names_the_methods():
    assert auth_config(Settings(environment="local")) == {
        "methods": ["local", "token"],
        "local": True,
        "oidc": None,
        "oidc_problem": None,
        "token": True,
    }
    settings = Settings(
        auth=auth(oidc_authorization_endpoint=f"{COGNITO_DOMAIN}/a", oidc_token_endpoint=f"{COGNITO_DOMAIN}/t")
    )
    answer = auth_config(settings)
    assert answer["methods"] == ["oidc", "token"] and answer["local"] is False
    assert answer["oidc"]["client_id"] == "client-1" and answer["oidc"]["token_endpoint"] == f"{COGNITO_DOMAIN}/t"
