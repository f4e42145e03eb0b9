"""User sessions: OIDC JWTs from Cognito, Supabase or the local dev issuer.

Checked: the signature (RS256/ES256 against the issuer's JWKS, or HS256 against the shared
secret), ``exp`` (and ``nbf``/``iat`` when present) with a small leeway, ``iss`` equal to
``auth.jwt_issuer``, ``aud`` containing ``auth.jwt_audience``, and a ``sub``.

The key is chosen by the algorithm family and never by anything else in the token: HS256
only ever uses the configured secret (and is refused when none is set), RS256/ES256 only the
JWKS keys, so a token signed with a public key as an HMAC secret ("algorithm confusion")
cannot pass. ``alg: none`` is refused.

PyJWT is imported lazily (only when a JWT arrives); PyJWKClient fetches the JWKS with urllib
and caches it, so the authorizer stays free of httpx.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drgero.core.settings import AuthSettings

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
MAX_JWT_CHARS = 16 * 1024


class SessionError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SessionClaims:
    user_id: str
    email: str  # "" unless the issuer says the address is verified
    claims: dict[str, Any]


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and value.startswith("eyJ")


def _verified_email(claims: dict[str, Any]) -> str:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        return ""
    verified = claims.get("email_verified")
    if verified is None and isinstance(claims.get("user_metadata"), dict):  # Supabase puts it here
        verified = claims["user_metadata"].get("email_verified")
    if verified is True or (isinstance(verified, str) and verified.lower() == "true"):
        return email.strip().lower()
    return ""


class SessionVerifier:
    """One per process: it keeps the JWKS client (and so its key cache) between requests."""

    def __init__(self, auth: AuthSettings, hs256_secret: Callable[[], str] | None = None) -> None:
        """``hs256_secret``: where the HS256 secret comes from when it is not in the settings
        (the authorizer passes a Secrets Manager read, cached by Powertools Parameters)."""
        self.auth = auth
        self._hs256_secret = hs256_secret or (lambda: auth.jwt_hs256_secret)
        self._jwks_client: Any = None

    def _jwks_url(self) -> str:
        """The configured JWKS URL, else the ``jwks_uri`` of the issuer's OIDC discovery
        document (Cognito and Supabase both publish one)."""
        if self.auth.jwt_jwks_url:
            return self.auth.jwt_jwks_url
        url = self.auth.jwt_issuer.rstrip("/") + "/.well-known/openid-configuration"
        if not url.startswith("https://") and not url.startswith("http://127.0.0.1"):
            raise SessionError("invalid_token", "The issuer must be an https URL for key discovery.")
        with urllib.request.urlopen(url, timeout=self.auth.jwks_timeout_seconds) as response:  # noqa: S310 - configured issuer, scheme checked above
            jwks_uri = json.loads(response.read(1_000_000)).get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://127.0.0.1")):
            raise SessionError("auth_unavailable", "The issuer's discovery document has no usable jwks_uri.")
        return jwks_uri

    def _jwks(self) -> Any:
        if self._jwks_client is None:
            from jwt import PyJWKClient  # Cold start: as in verify().

            self._jwks_client = PyJWKClient(
                self._jwks_url(),
                cache_keys=True,
                lifespan=self.auth.jwks_cache_seconds,
                timeout=self.auth.jwks_timeout_seconds,
            )
        return self._jwks_client

    def verify(self, token: str) -> SessionClaims:
        # Cold start: PyJWT and cryptography (~90 ms) load when the first user JWT arrives; the
        # authorizer function answers API and dataset tokens without them.
        import jwt

        if not self.auth.jwt_issuer:
            raise SessionError("invalid_token", "User sessions are not configured on this deployment.")
        if len(token) > MAX_JWT_CHARS:
            raise SessionError("invalid_token", "The session token is malformed.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise SessionError("invalid_token", "The session token is malformed.") from exc
        alg = header.get("alg")
        claims = self._decode(token, self._signing_key(token, alg), alg)
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 256:
            raise SessionError("invalid_token", "The session token has no subject.")
        return SessionClaims(user_id=sub, email=_verified_email(claims), claims=claims)

    def _signing_key(self, token: str, alg: Any) -> Any:
        """The key that must have signed ``token``: the HS256 secret, or the identity provider's
        public key for its ``kid`` (JWKS)."""
        import jwt  # Cold start: as in verify().

        if alg == "HS256":
            secret = self._hs256_secret()
            if not secret:
                raise SessionError("invalid_token", "HS256 session tokens are not accepted here.")
            return secret
        if alg not in ASYMMETRIC_ALGORITHMS:
            raise SessionError("invalid_token", "The session token's algorithm is not accepted.")
        try:
            return self._jwks().get_signing_key_from_jwt(token).key
        except (jwt.PyJWKClientConnectionError, OSError, ValueError) as exc:
            # OSError/ValueError: discovery document unreachable or not JSON.
            raise SessionError("auth_unavailable", "The identity provider's keys could not be fetched.") from exc
        except jwt.PyJWTError as exc:
            raise SessionError("invalid_token", "The session token's signing key is unknown.") from exc

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        """The verified claims (signature, expiry, issuer, audience); each failure its own message."""
        import jwt  # Cold start: as in verify().

        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                issuer=self.auth.jwt_issuer,
                audience=self.auth.jwt_audience or None,
                leeway=self.auth.jwt_leeway_seconds,
                options={"require": ["exp", "iss", "sub"], "verify_aud": bool(self.auth.jwt_audience)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise SessionError("token_expired", "The session has expired; sign in again.") from exc
        except jwt.InvalidAudienceError as exc:
            raise SessionError("invalid_token", "The session token is for another audience.") from exc
        except jwt.InvalidIssuerError as exc:
            raise SessionError("invalid_token", "The session token is from another issuer.") from exc
        except jwt.PyJWTError as exc:
            raise SessionError("invalid_token", "The session token is not valid.") from exc
