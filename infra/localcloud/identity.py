"""Shared pieces of the local identity: the dev JWT issuer and its session tokens (used by
seed.py and devjwt.py; the workspace itself is seeded by drgero_ops.seeding).

The dev issuer signs HS256 with a secret generated per local cloud (kept in its state dir, if
it has one, so sessions outlive a restart); the functions verify with it because
:func:`local_identity_env` puts it into their environment (the same
``auth.jwt_*`` settings a Supabase deployment uses).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from drgero.core.settings import Settings

LOCAL_ISSUER = "http://127.0.0.1/drgero-local-issuer"
LOCAL_AUDIENCE = "authenticated"
LOCAL_OWNER_ID = "local-owner"
LOCAL_OWNER_EMAIL = "owner@drgero.local"


def local_identity_env(secret: str | None = None) -> dict[str, str]:
    """The function environment that makes the functions trust the local dev issuer."""
    return {
        "DRGERO_AUTH__JWT_ISSUER": LOCAL_ISSUER,
        "DRGERO_AUTH__JWT_AUDIENCE": LOCAL_AUDIENCE,
        "DRGERO_AUTH__JWT_HS256_SECRET": secret or secrets.token_urlsafe(32),
        "DRGERO_AUTH__JWT_JWKS_URL": "",
    }


def mint_jwt(
    secret: str,
    sub: str = LOCAL_OWNER_ID,
    email: str = LOCAL_OWNER_EMAIL,
    ttl_seconds: int = 12 * 3600,
    issuer: str = LOCAL_ISSUER,
    audience: str = LOCAL_AUDIENCE,
    now: float | None = None,
) -> str:
    """A session JWT as the dev issuer signs it (Supabase-shaped claims)."""
    import jwt

    now = time.time() if now is None else now
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "iat": int(now),
        "exp": int(now + ttl_seconds),
        "role": "authenticated",
    }
    if email:
        claims["email"] = email
        claims["email_verified"] = True
    return jwt.encode(claims, secret, algorithm="HS256")


def settings_from_env(env: dict[str, str]) -> Settings:
    """Settings as a function with environment ``env`` reads them (DRGERO_GROUP__NAME)."""
    nested: dict[str, Any] = {}
    for key, value in env.items():
        if not key.startswith("DRGERO_"):
            continue
        path = key.removeprefix("DRGERO_").lower().split("__")
        node = nested
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return Settings(**nested)
