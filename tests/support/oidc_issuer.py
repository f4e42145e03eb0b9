"""A small OpenID Connect issuer on a free loopback port, for the dashboard's OIDC sign-in tests
(what Cognito's hosted UI and token endpoint do, minus the login form).

- ``GET /.well-known/openid-configuration``: discovery (authorization, token, JWKS and
  end-session endpoints; PKCE S256 only);
- ``GET /authorize``: checks ``response_type=code``, the client id, the registered redirect URI
  and an S256 code challenge, then redirects straight back with a one-time code and the state
  (no login form: the user is :attr:`TestIssuer.user`). ``next_error`` makes the next answer an
  ``error=…`` redirect instead; ``tamper_state`` changes the state it sends back;
  ``hold_authorize`` answers a page and never redirects (a person who stops there);
- ``POST /token``: the code exchange of a public client: ``grant_type=authorization_code``, the
  code (once), the same ``redirect_uri`` and ``client_id`` as at /authorize, and a
  ``code_verifier`` whose S256 is the challenge; answers an RS256 id token (``aud`` = client id,
  the nonce of /authorize) and an access token, with CORS for the allowed origins (the browser
  calls it directly);
- ``GET /jwks``: the RS256 public key; ``GET /logout``: back to ``post_logout_redirect_uri``.

Every token request is recorded in :attr:`TestIssuer.exchanges` (what was refused, and why).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "drgero-dashboard-test"
PKCE_CODE = ("code", "S256")  # response_type, code_challenge_method


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    used: bool = False


@dataclass
class TestIssuer:
    redirect_uris: set[str]
    allowed_origins: set[str]
    client_id: str = CLIENT_ID
    user: dict[str, Any] = field(
        default_factory=lambda: {"sub": "local-owner", "email": "owner@drgero.local", "email_verified": True}
    )
    next_error: str | None = None
    tamper_state: bool = False
    hold_authorize: bool = False
    url: str = ""
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[dict[str, str]] = field(default_factory=list)
    grants: dict[str, Grant] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)

    # ------------------------------------------------------------------ tokens
    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def id_token(self, nonce: str, ttl: int = 3600) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "aud": self.client_id, "iat": now, "exp": now + ttl, "nonce": nonce, **self.user}
        return self.sign(claims)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "end_session_endpoint": f"{self.url}/logout",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
        }

    # ------------------------------------------------------------------ endpoints
    def authorize(self, q: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        self.authorizations.append(q)
        redirect = q.get("redirect_uri", "")
        if redirect not in self.redirect_uris:
            return 400, {}, {"error": "invalid_request", "error_description": "redirect_uri is not registered"}
        if self.hold_authorize:  # the login form a person would see, left unanswered
            return 200, {}, {"login": "waiting for the person"}
        back: dict[str, str] = {"state": q.get("state", "")}
        if self.next_error:
            back["error"], self.next_error = self.next_error, None
        elif q.get("client_id") != self.client_id:
            back["error"] = "unauthorized_client"
        elif not q.get("code_challenge") or (q.get("response_type"), q.get("code_challenge_method")) != PKCE_CODE:
            back["error"] = "invalid_request"
        else:
            code = secrets.token_urlsafe(24)
            self.grants[code] = Grant(q["client_id"], redirect, q["code_challenge"], q.get("nonce", ""))
            back["code"] = code
        if self.tamper_state:
            back["state"] = back["state"][::-1] + "x"
        return 302, {"Location": f"{redirect}?{urllib.parse.urlencode(back)}"}, None

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        problem = self._token_problem(form)
        self.exchanges.append({"form": dict(form), "refused": problem})
        if problem:
            return 400, {"error": "invalid_grant", "error_description": problem}
        grant = self.grants[form["code"]]
        grant.used = True
        return 200, {
            "id_token": self.id_token(grant.nonce),
            "access_token": self.sign({"iss": self.url, "sub": self.user["sub"], "exp": int(time.time()) + 3600}),
            "refresh_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": 3600,
        }

    def _token_problem(self, form: dict[str, str]) -> str | None:
        if form.get("grant_type") != "authorization_code":
            return "grant_type must be authorization_code"
        if "client_secret" in form:
            return "a public client sends no secret"
        grant = self.grants.get(form.get("code", ""))
        if grant is None or grant.used:
            return "unknown or used code"
        if form.get("client_id") != grant.client_id:
            return "client_id differs from the authorization request"
        if form.get("redirect_uri") != grant.redirect_uri:
            return "redirect_uri differs from the authorization request"
        if s256(form.get("code_verifier", "")) != grant.challenge:
            return "code_verifier does not match the S256 challenge"
        return None

    def logout(self, q: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        back = q.get("post_logout_redirect_uri", "")
        if back not in self.redirect_uris or q.get("client_id") != self.client_id:
            return 400, {}, {"error": "invalid_request"}
        return 302, {"Location": back}, None


class IssuerHandler(BaseHTTPRequestHandler):
    """HTTP for one :class:`TestIssuer` (a subclass per issuer sets :attr:`issuer`)."""

    issuer: TestIssuer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: pytest shows failures, not every request."""

    def _cors(self) -> dict[str, str]:
        origin = self.headers.get("Origin", "")
        allowed = origin in self.issuer.allowed_origins
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if allowed else {}

    def _send(self, status: int, headers: dict[str, str], body: dict[str, Any] | None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in {**headers, **self._cors()}.items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(parts.query))
        documents = {"/.well-known/openid-configuration": self.issuer.discovery, "/jwks": self.issuer.jwks}
        redirects = {"/authorize": self.issuer.authorize, "/logout": self.issuer.logout}
        if parts.path in documents:
            self._send(200, {}, documents[parts.path]())
        elif parts.path in redirects:
            self._send(*redirects[parts.path](q))
        else:
            self._send(404, {}, {"error": "not_found"})

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._send(204, {"Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": "content-type"}, None)

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if urllib.parse.urlsplit(self.path).path != "/token":
            self._send(404, {}, {"error": "not_found"})
            return
        status, body = self.issuer.token(dict(urllib.parse.parse_qsl(raw)))
        self._send(status, {}, body)


def start_issuer(redirect_uris: set[str], allowed_origins: set[str]) -> tuple[TestIssuer, Any]:
    """The issuer serving on ``127.0.0.1:<free port>``, and a function that stops it."""
    issuer = TestIssuer(redirect_uris=set(redirect_uris), allowed_origins=set(allowed_origins))
    handler = type("BoundIssuerHandler", (IssuerHandler,), {"issuer": issuer})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    issuer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="test-oidc-issuer", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return issuer, stop
