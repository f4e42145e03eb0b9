"""The dashboard's one-click local sign-in: ``POST /local/session`` on the local gateway mints a
session JWT of the seeded local owner from the local dev issuer (docs/dashboard.md).

It exists only in the local cloud (a gateway-local route, not a template route: AWS has nothing
like it), and only for the dashboard served by the same gateway: a same-origin POST from a
loopback page. Whatever CORS allows, a cross-origin page cannot use it:

- the method is POST with ``Content-Type: application/json`` (a cross-origin fetch of that needs
  a preflight, which this route never answers with CORS headers);
- ``Origin`` must be present and equal to ``http://{Host}``, and ``Host`` a loopback name (a
  DNS-rebound page has another Host);
- ``Sec-Fetch-Site``, when the browser sends it, must be ``same-origin``.

``GET /local/session`` says whether one-click sign-in is available (no secret in it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from localcloud.apigateway import IncomingRequest, Reply

PATH = "/local/session"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


def _json(status: int, body: dict[str, Any], request_id: str) -> Reply:
    headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("x-request-id", request_id)]
    return Reply(status, headers, json.dumps(body).encode())


def _refused(message: str, request_id: str) -> Reply:
    error = {
        "code": "local_session_refused",
        "message": message,
        "type": "permission_error",
        "param": None,
        "details": None,
        "request_id": request_id,
    }
    return _json(403, {"error": error}, request_id)


def same_origin_problem(request: IncomingRequest) -> str | None:
    """Why this request is not a same-origin POST from a loopback page (None: it is)."""
    headers = {name.lower(): value for name, value in request.headers}
    host = headers.get("host", "")
    if host.rsplit(":", 1)[0] not in LOOPBACK_HOSTS:
        return "Local sign-in answers pages served from a loopback address only."
    if headers.get("origin") != f"http://{host}":
        return "Local sign-in answers the dashboard of this local cloud only (same origin)."
    if headers.get("sec-fetch-site", "same-origin") != "same-origin":
        return "Local sign-in answers same-origin requests only."
    if headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return "Send Content-Type: application/json."
    return None


class LocalSession:
    """A gateway local route; ``mint()`` returns ``{"user_jwt", "workspace_id", "email"}``."""

    def __init__(self, mint: Callable[[], dict[str, str]]) -> None:
        self._mint = mint

    def __call__(self, request: IncomingRequest, request_id: str) -> Reply | None:
        if request.path != PATH:
            return None
        if request.method == "GET":
            return _json(200, {"available": True}, request_id)
        if request.method != "POST":
            return _json(405, {"error": {"code": "method_not_allowed", "message": "Use POST."}}, request_id)
        problem = same_origin_problem(request)
        if problem is not None:
            return _refused(problem, request_id)
        return _json(200, self._mint(), request_id)


def local_session_for(cloud: Any) -> LocalSession:
    """The route for a started local cloud: sessions of its seeded owner, from its dev issuer."""
    from localcloud.identity import LOCAL_OWNER_EMAIL, mint_jwt

    env = cloud.functions.environment("AuthorizerFunction")

    def mint() -> dict[str, str]:
        jwt = mint_jwt(
            env["DRGERO_AUTH__JWT_HS256_SECRET"],
            issuer=env["DRGERO_AUTH__JWT_ISSUER"],
            audience=env["DRGERO_AUTH__JWT_AUDIENCE"],
        )
        return {
            "user_jwt": jwt,
            "workspace_id": str(cloud.seed_info.get("workspace_id") or ""),
            "email": LOCAL_OWNER_EMAIL,
        }

    return LocalSession(mint)
