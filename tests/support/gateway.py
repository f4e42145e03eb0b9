"""Requests through the whole API Gateway path, in-process: the template's routes, the real
authorizer, then the real function, using the local cloud's gateway emulation (no sockets).
``Api(aws).post(path, token, body)`` answers a :class:`Response`."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from localcloud.apigateway import Gateway, IncomingRequest


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
