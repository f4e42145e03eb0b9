"""The dashboard's OIDC client: which issuer endpoints the browser's authorization-code + PKCE
sign-in uses (docs/dashboard.md, "Signing in with Cognito or Supabase").

The dashboard is a *public* client: it holds no client secret, and the code it receives is
bound to a PKCE S256 verifier that never leaves the browser tab. The browser exchanges the code
at the issuer's token endpoint itself; this module only says where those endpoints are, for the
config route (``GET /api/auth/config``) and for the dashboard's Content-Security-Policy
(``connect-src`` lists the token endpoint's origin, and nothing when OIDC is off).

Endpoints come from the settings (``auth.oidc_*``) or, for those left empty, from the issuer's
discovery document (``{auth.jwt_issuer}/.well-known/openid-configuration``), fetched at first
use and kept ``auth.oidc_discovery_cache_seconds``; a failed fetch is retried after
``auth.oidc_retry_seconds`` (it never takes the API down: sign-in with an API token still
works, and the config route says why OIDC is off). Every endpoint must be https (plain http on a
loopback address only, for the local test issuer); a URL with credentials, a fragment or a
wildcard is refused, so the CSP origin computed from it is exact.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from drgero.core.settings import AuthSettings

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
MAX_DISCOVERY_BYTES = 1_000_000
SESSION_TOKENS = ("id_token", "access_token")

FetchJson = Callable[[str, float], Any]


class OidcConfigError(ValueError):
    """The configured or discovered OIDC client cannot be used (the message says why)."""


@dataclass(frozen=True)
class OidcClient:
    """What the browser needs for authorization code + PKCE (no secret in it)."""

    name: str
    issuer: str
    client_id: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str | None
    scopes: str
    redirect_path: str
    session_token: str

    def public(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def token_origin(self) -> str:
        """The origin the browser posts the code to: the one ``connect-src`` entry OIDC adds."""
        return origin_of(self.token_endpoint)


def checked_url(url: str, what: str) -> str:
    """``url`` when it is an absolute https URL (http on loopback) without credentials,
    fragment or wildcard; else :class:`OidcConfigError`."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise OidcConfigError(f"{what} is not a valid URL.") from exc
    host = parts.hostname or ""
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise OidcConfigError(f"{what} must be an https URL (plain http only on a loopback address).")
    if parts.scheme not in ("https", "http") or not host:
        raise OidcConfigError(f"{what} must be an absolute https URL.")
    if parts.username or parts.password or parts.fragment or "*" in url or port == 0:
        raise OidcConfigError(f"{what} must not carry credentials, a fragment or a wildcard.")
    if any(ch in url for ch in " \"'<>;,\\"):
        raise OidcConfigError(f"{what} contains characters a URL cannot have.")
    return url


def origin_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def issuer_name(issuer: str) -> str:
    """The name on the sign-in button when ``auth.oidc_name`` is empty."""
    host = (urllib.parse.urlsplit(issuer).hostname or "").lower()
    if "cognito" in host:
        return "Cognito"
    if "supabase" in host:
        return "Supabase"
    return host or "your identity provider"


def checked_redirect_path(path: str) -> str:
    """``""`` (the dashboard's own URL) or an absolute path ending in ``/`` that serves it."""
    if not path:
        return ""
    if not path.startswith("/") or not path.endswith("/") or "//" in path or any(c in path for c in "?#*\\ "):
        raise OidcConfigError("auth.oidc_redirect_path must be empty or an absolute path ending in '/' (e.g. /Prod/).")
    return path


def fetch_json(url: str, timeout: float) -> Any:
    """GET ``url`` (already checked by :func:`checked_url`) as JSON."""
    import urllib.request  # Cold start: only when OIDC is configured and not yet resolved.

    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured issuer, scheme checked
        return json.loads(response.read(MAX_DISCOVERY_BYTES))


class OidcResolver:
    """One per process: resolves the client once, then answers from memory."""

    def __init__(
        self,
        auth: AuthSettings,
        fetch: FetchJson = fetch_json,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.auth = auth
        self._fetch = fetch
        self._monotonic = monotonic
        self._cached: tuple[float, OidcClient | None, str | None] | None = None

    @property
    def configured(self) -> bool:
        return bool(self.auth.oidc_client_id)

    def resolve(self) -> tuple[OidcClient | None, str | None]:
        """``(client, None)`` when OIDC sign-in is on; ``(None, why)`` when it is configured but
        unusable; ``(None, None)`` when it is not configured."""
        if not self.configured:
            return None, None
        now = self._monotonic()
        if self._cached is not None and now < self._cached[0]:
            return self._cached[1], self._cached[2]
        try:
            client, problem = self._build(), None
            expires = now + self.auth.oidc_discovery_cache_seconds
        except OidcConfigError as exc:
            client, problem = None, str(exc)
            expires = now + self.auth.oidc_retry_seconds
            logger.warning("dashboard OIDC sign-in is off", extra={"reason": problem})
        self._cached = (expires, client, problem)
        return client, problem

    def _build(self) -> OidcClient:
        auth = self.auth
        if not auth.jwt_issuer:
            raise OidcConfigError("auth.oidc_client_id is set but auth.jwt_issuer (the issuer) is empty.")
        if auth.oidc_session_token not in SESSION_TOKENS:
            raise OidcConfigError("auth.oidc_session_token must be id_token or access_token.")
        authorize, token, logout = auth.oidc_authorization_endpoint, auth.oidc_token_endpoint, auth.oidc_logout_endpoint
        if not authorize or not token:
            discovered = self._discover(auth.jwt_issuer)
            authorize = authorize or discovered.get("authorization_endpoint") or ""
            token = token or discovered.get("token_endpoint") or ""
            logout = logout or discovered.get("end_session_endpoint") or ""
            methods = discovered.get("code_challenge_methods_supported")
            if isinstance(methods, list) and methods and "S256" not in methods:
                raise OidcConfigError("The issuer does not support PKCE S256 (code_challenge_methods_supported).")
        if not isinstance(authorize, str) or not authorize or not isinstance(token, str) or not token:
            raise OidcConfigError("The issuer's authorization or token endpoint is unknown: set them or fix discovery.")
        logout_url = checked_url(logout, "The logout endpoint") if isinstance(logout, str) and logout else None
        return OidcClient(
            name=auth.oidc_name or issuer_name(auth.jwt_issuer),
            issuer=auth.jwt_issuer,
            client_id=auth.oidc_client_id,
            authorization_endpoint=checked_url(authorize, "The authorization endpoint"),
            token_endpoint=checked_url(token, "The token endpoint"),
            end_session_endpoint=logout_url,
            scopes=" ".join(auth.oidc_scopes.split()) or "openid",
            redirect_path=checked_redirect_path(auth.oidc_redirect_path),
            session_token=auth.oidc_session_token,
        )

    def _discover(self, issuer: str) -> dict[str, Any]:
        url = checked_url(issuer.rstrip("/") + "/.well-known/openid-configuration", "The issuer's discovery URL")
        try:
            document = self._fetch(url, self.auth.jwks_timeout_seconds)
        except (OSError, ValueError) as exc:  # unreachable, HTTP error, not JSON
            raise OidcConfigError(f"The issuer's discovery document could not be read ({type(exc).__name__}).") from exc
        if not isinstance(document, dict):
            raise OidcConfigError("The issuer's discovery document is not a JSON object.")
        return document
