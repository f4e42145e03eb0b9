"""The REQUEST authorizer's logic: credential in, IAM policy (with the principal) out.

Outcomes, as API Gateway needs them:

- no credential in any of the three headers -> :class:`MissingCredential`; the handler raises
  ``Exception("Unauthorized")`` and API Gateway answers its UNAUTHORIZED response (401);
- a credential that is malformed, has a bad checksum, is unknown, expired or revoked, or a bad
  JWT -> a Deny policy whose context carries ``error_code``/``error_message`` (the template
  renders ACCESS_DENIED as 401 with them);
- a valid credential -> an Allow policy on every route of the stage (``…/{stage}/*/*``) and the
  principal in the context. The functions then authorize (scopes, tenant, leaderboard).

The inference function's two routes skip the hop (no authorizer in the template): the function
calls :meth:`Authorizer.principal_of` itself, with its own instance and caches
(``drgero.api.inference_events.authenticate``).

Lookups are cached in memory for ``auth.token_cache_seconds``; that number is the bound on how
long a revoked token, a removed member or a changed role keeps its old access (expiry is
checked against the clock on every request, cached or not). API Gateway's cache is off.

Imports: standard library, the table wrapper and our own small modules only (no FastAPI,
httpx or huggingface_hub); PyJWT is imported only when a JWT arrives.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drgero.core.settings import Settings
from drgero.identity import tokens
from drgero.identity.access import scopes_for_role
from drgero.identity.credentials import CredentialRecord, lookup_credential, touch_last_used
from drgero.identity.principal import Principal, PrincipalKind
from drgero.identity.sessions import SessionError, SessionVerifier, looks_like_jwt
from drgero.store.keys import cred_key, member_index_pk
from drgero.store.table import MetadataTable
from drgero.workspaces.membership import memberships_of

logger = logging.getLogger(__name__)

CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-dr.gero-api-key")
WORKSPACE_HEADER = "x-workspace-id"
_WORKSPACE_PATH = re.compile(r"^/api/workspaces/([A-Za-z0-9_\-]{1,64})(?:/|$)")
MAX_HEADER_CHARS = 16 * 1024


class MissingCredential(Exception):
    """No credential header at all: API Gateway's own 401."""


class Denied(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TtlCache:
    """A small thread-safe LRU with a time-to-live, for credential and membership lookups."""

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, now: float) -> tuple[bool, Any]:
        with self._lock:
            hit = self._items.get(key)
            if hit is None or now - hit[0] >= self.ttl:
                self._items.pop(key, None)
                return False, None
            self._items.move_to_end(key)
            return True, hit[1]

    def put(self, key: str, value: Any, now: float) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._items[key] = (now, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _headers(event: dict) -> dict[str, str]:
    """Header names lower-cased (API Gateway keeps the client's casing)."""
    merged: dict[str, str] = {}
    for key, values in (event.get("multiValueHeaders") or {}).items():
        if values:
            merged[key.lower()] = values[0]
    for key, value in (event.get("headers") or {}).items():
        if value is not None:
            merged[key.lower()] = value
    return merged


def extract_credential(event: dict) -> str:
    """The credential from ``Authorization: Bearer``, ``X-API-Key`` or ``X-Dr.Gero-API-Key``."""
    headers = _headers(event)
    found: list[str] = []
    for name in CREDENTIAL_HEADERS:
        raw = headers.get(name)
        if raw is None or not raw.strip():
            continue
        if len(raw) > MAX_HEADER_CHARS:
            raise Denied("invalid_token", "The credential header is too large.")
        value = raw.strip()
        if name == "authorization":
            scheme, _, rest = value.partition(" ")
            if scheme.lower() != "bearer" or not rest.strip():
                raise Denied("invalid_token", "Send the credential as 'Authorization: Bearer <token>'.")
            value = rest.strip()
        found.append(value)
    if not found:
        raise MissingCredential
    if any(not tokens.secrets_equal(v, found[0]) for v in found[1:]):
        raise Denied("invalid_request", "Different credentials were sent in several headers; send one.")
    return found[0]


def stage_wide_arn(method_arn: str) -> str:
    """``arn:aws:execute-api:region:account:apiId/stage/GET/some/path`` -> ``…:apiId/stage/*/*``:
    one policy for every route, so a cached decision never blocks another route."""
    arn_prefix, _, path = method_arn.partition(":execute-api:")
    if not path:
        return method_arn
    parts = path.split("/")
    if len(parts) < 2:
        return method_arn
    return f"{arn_prefix}:execute-api:{parts[0]}/{parts[1]}/*/*"


def allow_policy(principal: Principal, method_arn: str) -> dict:
    return {
        "principalId": principal.token_id or principal.user_id or "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": stage_wide_arn(method_arn)}],
        },
        "context": principal.to_context(),
    }


def deny_policy(code: str, message: str, method_arn: str) -> dict:
    return {
        "principalId": "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": stage_wide_arn(method_arn)}],
        },
        "context": {"error_code": code, "error_message": message},
    }


def _hs256_source(settings: Settings, read_secret: Callable[[str], str] | None) -> Callable[[], str] | None:
    """Where the HS256 secret comes from: Secrets Manager when the settings name a secret (it
    then never sits in the function's environment), else the settings themselves."""
    name = settings.auth.jwt_hs256_secret_name
    if not name or read_secret is None:
        return None

    def read() -> str:
        try:
            return read_secret(name)
        except Exception as exc:  # noqa: BLE001 - any failure to read it: the session cannot be checked now
            raise SessionError("auth_unavailable", "The session signing secret could not be read.") from exc

    return read


class Authorizer:
    """One per process (module level in the handler): it owns the caches."""

    def __init__(
        self,
        settings: Settings,
        table: MetadataTable,
        verifier: SessionVerifier | None = None,
        clock: Callable[[], float] = time.time,
        read_secret: Callable[[str], str] | None = None,
    ) -> None:
        """``read_secret(name)``: a Secrets Manager read (cached by the caller), used for the
        HS256 secret when ``auth.jwt_hs256_secret_name`` names one."""
        self.settings = settings
        self.table = table
        self.verifier = verifier or SessionVerifier(settings.auth, _hs256_source(settings, read_secret))
        self.clock = clock
        self.cache = TtlCache(settings.auth.token_cache_seconds)

    def authorize(self, event: dict) -> dict:
        """The policy for ``event``; raises MissingCredential when there is no credential."""
        method_arn = str(event.get("methodArn") or "")
        try:
            principal = self.principal_of(event)
        except Denied as denied:
            logger.info("credential refused", extra={"error_code": denied.code})
            return deny_policy(denied.code, denied.message, method_arn)
        logger.info(
            "credential accepted",
            extra={
                "kind": principal.kind.value,
                "workspace_id": principal.workspace_id,
                "token_id": principal.token_id,
            },
        )
        return allow_policy(principal, method_arn)

    def principal_of(self, event: dict) -> Principal:
        """The caller of ``event`` (a REQUEST-authorizer event or a REST proxy event: both carry
        the request's headers and path), from the same caches. Raises MissingCredential or
        Denied. The inference function calls this itself (its routes have no authorizer hop:
        docs/performance.md, "authorizer hop"), so both paths share one decision."""
        return self._principal(extract_credential(event), event)

    # ---- which principal
    def _principal(self, credential: str, event: dict) -> Principal:
        if tokens.looks_like_token(credential):
            return self._token_principal(credential)
        if looks_like_jwt(credential):
            return self._session_principal(credential, event)
        raise Denied("invalid_token", "The credential is malformed.")

    def _token_principal(self, credential: str) -> Principal:
        try:
            tokens.parse(credential)  # shape and checksum: no database read for a typo
        except tokens.TokenFormatError as exc:
            raise Denied("invalid_token", str(exc)) from exc
        now = self.clock()
        key = cred_key(tokens.hash_secret(credential))[0]
        cached, record = self.cache.get(key, now)
        if not cached:
            record = lookup_credential(self.table, credential)
            self.cache.put(key, record, now)
            if record is not None and record.kind is PrincipalKind.API_TOKEN and not record.revoked:
                self._touch(record, now)
        if record is None:
            raise Denied("invalid_token", "The token is not valid.")
        return self._check_record(record, now)

    @staticmethod
    def _check_record(record: CredentialRecord, now: float) -> Principal:
        if record.revoked:
            raise Denied("token_revoked", "The token has been revoked.")
        if record.is_expired(now):
            raise Denied("token_expired", "The token has expired.")
        if record.kind is PrincipalKind.DATASET_TOKEN:
            # No scopes: a dataset token passes only require_leaderboard_access for its leaderboard.
            return Principal(
                kind=record.kind,
                workspace_id=record.workspace_id,
                token_id=record.token_id,
                leaderboard_id=record.leaderboard_id,
            )
        return Principal(
            kind=record.kind, workspace_id=record.workspace_id, scopes=record.scopes, token_id=record.token_id
        )

    def _touch(self, record: CredentialRecord, now: float) -> None:
        try:
            touch_last_used(
                self.table, record.workspace_id, record.token_id, now, self.settings.auth.last_used_granularity_seconds
            )
        except (ClientError, BotoCoreError) as exc:
            # Bookkeeping only: a failed last_used_at write must not refuse a valid token.
            logger.warning("could not record last_used_at", extra={"token_id": record.token_id, "error": str(exc)})

    def _session_principal(self, credential: str, event: dict) -> Principal:
        try:
            session = self.verifier.verify(credential)
        except SessionError as exc:
            raise Denied(exc.code, exc.message) from exc
        wanted = (_headers(event).get(WORKSPACE_HEADER) or "").strip()
        if not wanted:
            match = _WORKSPACE_PATH.match(str(event.get("path") or ""))
            wanted = match.group(1) if match else ""
        memberships = self._memberships(session.user_id, must_include=wanted)
        base = {"kind": PrincipalKind.USER, "user_id": session.user_id, "email": session.email}
        if wanted:
            role = memberships.get(wanted)
            if role is None:
                return Principal(workspace_id="", no_workspace_reason="not_member", **base)
            return Principal(workspace_id=wanted, role=role, scopes=scopes_for_role(role), **base)
        if len(memberships) == 1:
            (workspace_id, role), *_ = memberships.items()
            return Principal(workspace_id=workspace_id, role=role, scopes=scopes_for_role(role), **base)
        reason = "ambiguous" if memberships else "none"
        return Principal(workspace_id="", no_workspace_reason=reason, **base)

    def _memberships(self, user_id: str, must_include: str = "") -> dict[str, str]:
        """The user's ``{workspace: role}``. The cache may only delay taking access away (the
        documented bound): a workspace the cached answer lacks - one just created or joined -
        triggers a fresh read, and a user with no workspace is never cached."""
        now = self.clock()
        key = member_index_pk(user_id)
        cached, value = self.cache.get(key, now)
        if not cached or (must_include and must_include not in value):
            value = memberships_of(self.table, user_id)
            if value:
                self.cache.put(key, value, now)
        return value
