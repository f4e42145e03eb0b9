"""Shared test helpers (import as ``from helpers import ...``; pytest puts tests/ on sys.path).

- :func:`rest_event` / :func:`authorizer_event`: API Gateway REST proxy and REQUEST-authorizer
  events, for invoking one function directly (``aws.functions.invoke(...)``).
- :class:`Api`: the whole API Gateway path in-process - the template's routes, the real
  authorizer, then the real function - using the local cloud's gateway emulation (no sockets).
- :func:`use_local_identity` and :func:`new_workspace`: a dev JWT issuer and seeded workspaces
  (owner user + an owner API token with every scope).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from drgero.store.table import MetadataTable
from drgero_ops.seeding import seed_workspace
from localcloud.apigateway import Gateway, IncomingRequest
from localcloud.identity import local_identity_env, mint_jwt

TEST_JWT_SECRET = "test-dev-issuer-secret-0123456789abcdef"  # noqa: S105 - a test-only HS256 secret
# Provider URLs that can never reach the internet: nothing answers on port 9 of loopback.
UNREACHABLE_PROVIDERS_ENV = {
    "DRGERO_PROVIDERS__OPENROUTER_BASE_URL": "http://127.0.0.1:9/api/v1",
    "DRGERO_PROVIDERS__HUGGINGFACE_ENDPOINT": "http://127.0.0.1:9",
}


def rest_event(
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    authorizer: dict | None = None,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict:
    """A REST API (payload 1.0) proxy event, as API Gateway sends it to a function."""
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": headers or {},
        "multiValueHeaders": {k: [v] for k, v in (headers or {}).items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource or path,
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": "req-1",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": authorizer,
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def authorizer_event(headers: dict[str, str], method: str = "GET", path: str = "/api/tokens") -> dict:
    """A REQUEST authorizer event for ``method path`` with ``headers``."""
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/{method}{path}",
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {},
        "pathParameters": {},
        "stageVariables": {},
        "requestContext": {"stage": "prod", "requestId": "req-auth", "httpMethod": method, "path": path},
    }


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def error_code(self) -> str | None:
        data = self.json
        return data.get("error", {}).get("code") if isinstance(data, dict) else None


@dataclass
class Api:
    """Requests through the emulated API Gateway: route -> authorizer -> function."""

    aws: Any
    gateway: Gateway = field(init=False)

    def __post_init__(self) -> None:
        self.gateway = Gateway(self.aws.template, self._invoke, self.aws.settings.aws.region, "prod")

    def _invoke(self, function: str, event: dict) -> Any:
        # The gateway runs each integration in a thread of its own, and Mangum needs an event
        # loop in the calling thread (Lambda's main thread has one).
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            return self.aws.functions.invoke(function, event)
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    def request(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: str = "",
        raw_body: bytes | None = None,
    ) -> Response:
        all_headers = {"content-type": "application/json", **(headers or {})}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else b"")
        reply = self.gateway.handle(
            IncomingRequest(
                method=method,
                path=path,
                query=query,
                headers=list(all_headers.items()),
                body=data,
                source_ip="127.0.0.1",
                host="127.0.0.1:3000",
            )
        )
        return Response(reply.status, {k.lower(): v for k, v in reply.headers}, reply.body)

    def get(self, path: str, token: str | None = None, **kw: Any) -> Response:
        return self.request("GET", path, token, **kw)

    def post(self, path: str, token: str | None = None, body: Any = None, **kw: Any) -> Response:
        return self.request("POST", path, token, body, **kw)

    def put(self, path: str, token: str | None = None, body: Any = None, **kw: Any) -> Response:
        return self.request("PUT", path, token, body, **kw)

    def patch(self, path: str, token: str | None = None, body: Any = None, **kw: Any) -> Response:
        return self.request("PATCH", path, token, body, **kw)

    def delete(self, path: str, token: str | None = None, **kw: Any) -> Response:
        return self.request("DELETE", path, token, **kw)


def use_local_identity(aws: Any, **extra_env: str) -> None:
    """Makes the functions trust the dev issuer (TEST_JWT_SECRET) and keeps provider URLs off
    the internet. Call before the first invoke of a test (functions load lazily)."""
    aws.functions.extra_env.update(local_identity_env(TEST_JWT_SECRET))
    aws.functions.extra_env.update(UNREACHABLE_PROVIDERS_ENV)
    aws.functions.extra_env.update(extra_env)


def user_jwt(sub: str, email: str = "", **kw: Any) -> str:
    return mint_jwt(TEST_JWT_SECRET, sub=sub, email=email, **kw)


def table_of(aws: Any) -> MetadataTable:
    return MetadataTable(aws.clients.dynamodb, aws.settings.aws.table_name)


def new_workspace(aws: Any, name: str = "ws", owner: str = "", email: str = "") -> dict[str, str]:
    """A seeded workspace: ``{"workspace_id", "token", "token_id", "owner", "jwt"}``."""
    owner = owner or f"user-{name}"
    email = email or f"{owner}@example.com"
    seeded = seed_workspace(table_of(aws), aws.settings, name, owner, email)
    return {**seeded, "owner": owner, "jwt": user_jwt(owner, email)}
