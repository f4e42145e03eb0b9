"""Requests through the whole API Gateway path, in-process: the template's routes, the real
authorizer, then the real function, using the local cloud's gateway emulation (no sockets).
``Api(aws).post(path, token, body)`` answers a :class:`Response`."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

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
        self.gateway = Gateway(
            self.aws.template,
            self._invoke,
            self.aws.settings.aws.region,
            "prod",
            invoke_stream=lambda function, event: self._invoke(function, event, streaming=True),
        )

    def _invoke(self, function: str, event: dict, streaming: bool = False) -> Any:
        # The gateway runs each integration in a thread of its own, and Mangum needs an event
        # loop in the calling thread (Lambda's main thread has one).
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            return self.aws.functions.invoke(function, event, streaming=streaming)
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    def open(self, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        """The gateway's reply with a streamed body left unread (``reply.stream``, a generator of
        bytes): a test reads what it wants and closes it, as a client that leaves would."""
        headers = {"content-type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.gateway.handle(
            IncomingRequest(
                method=method,
                path=path,
                query="",
                headers=list(headers.items()),
                body=json.dumps(body).encode() if body is not None else b"",
                source_ip="127.0.0.1",
                host="127.0.0.1:3000",
            )
        )

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
        body = reply.body
        if reply.stream is not None:
            try:
                body = b"".join(reply.stream)
            finally:
                reply.stream.close()
        return Response(reply.status, {k.lower(): v for k, v in reply.headers}, body)

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


class SdkTransport:
    """httpx transports into the emulated API Gateway, no sockets, for HTTP clients such as
    the OpenAI SDK and LangChain: ``sync()`` and ``asynchronous()``. A streamed answer reaches
    the client piece by piece, as the gateway yields it."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def _reply(self, request: Any) -> Any:
        headers = [(k, v) for k, v in request.headers.items() if k.lower() != "host"]
        return self.api.gateway.handle(
            IncomingRequest(
                method=request.method,
                path=request.url.path,
                query=request.url.query.decode(),
                headers=headers,
                body=request.read(),
                source_ip="127.0.0.1",
                host="127.0.0.1:3000",
            )
        )

    def sync(self) -> Any:
        outer = self

        class Transport(httpx.BaseTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                reply = outer._reply(request)
                headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
                if reply.stream is None:
                    return httpx.Response(reply.status, headers=headers, content=reply.body)
                return httpx.Response(reply.status, headers=headers, stream=_SyncStream(reply.stream))

        return Transport()

    def asynchronous(self) -> Any:
        outer = self

        class Transport(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                await request.aread()
                reply = await asyncio.to_thread(outer._reply, request)
                headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
                if reply.stream is None:
                    return httpx.Response(reply.status, headers=headers, content=reply.body)
                return httpx.Response(reply.status, headers=headers, stream=_AsyncStream(reply.stream))

        return Transport()


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, pieces: Any) -> None:
        self.pieces = pieces

    def __iter__(self) -> Any:
        yield from self.pieces

    def close(self) -> None:
        self.pieces.close()


class _AsyncStream(httpx.AsyncByteStream):
    """The gateway's generator read on a worker thread, one piece at a time."""

    def __init__(self, pieces: Any) -> None:
        self.pieces = pieces

    async def __aiter__(self) -> Any:
        while True:
            piece = await asyncio.to_thread(next, self.pieces, None)
            if piece is None:
                return
            yield piece

    async def aclose(self) -> None:
        await asyncio.to_thread(self.pieces.close)
