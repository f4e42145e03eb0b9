"""The inference function's entry in AWS: a minimal ASGI app behind the Lambda Web Adapter.

Why (docs/inference.md#streaming-in-aws): API Gateway streams a REST answer only from a
Lambda invoked with InvokeWithResponseStream, and Python's managed runtime cannot write a
streamed response itself. The Lambda Web Adapter layer (``AWS_LAMBDA_EXEC_WRAPPER``) starts
``run.sh`` (uvicorn serving this app) at cold start, turns each API Gateway event into an
HTTP request (the event's ``requestContext`` in the ``x-amzn-request-context`` header) and
streams the app's response back (``AWS_LWA_INVOKE_MODE=response_stream``).

This app only rebuilds the proxy event and calls ``app.stream_handler``, the same code the
local gateway emulation runs: a streamed body is sent piece by piece as it is produced and
closed if the client leaves (the call is still paid for and traced).
"""

from __future__ import annotations

import json
import re
from typing import Any

import app as function  # the handler module: settings and service built once per cold start
from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

_ADAPTER_HEADERS = ("x-amzn-request-context", "x-amzn-lambda-context")
_INFERENCE_PATH = re.compile(r"^/v1/leaderboard/(?P<id>[^/]+)/inference$")


class AdapterContext:
    """The Lambda context the adapter passes as ``x-amzn-lambda-context`` (what Powertools reads)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.aws_request_id = str(raw.get("request_id") or "")
        self.invoked_function_arn = str(raw.get("invoked_function_arn") or "")
        self.function_name = self.invoked_function_arn.rsplit(":", 1)[-1] or "inference"
        self.function_version = str(raw.get("env_config", {}).get("version") or "$LATEST")
        self.memory_limit_in_mb = int(raw.get("env_config", {}).get("memory") or 1024)
        self._deadline_ms = int(raw.get("deadline") or 0)

    def get_remaining_time_in_millis(self) -> int:
        import time

        return max(0, self._deadline_ms - int(time.time() * 1000)) if self._deadline_ms else 29_000


def proxy_event(request: Request, body: bytes) -> dict[str, Any]:
    """The REST proxy event the function would have received (requestContext from the adapter)."""
    context = json.loads(request.headers.get("x-amzn-request-context") or "{}")
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _ADAPTER_HEADERS}
    path = request.url.path
    match = _INFERENCE_PATH.match(path)
    query = dict(request.query_params) or None
    return {
        "resource": context.get("resourcePath") or ("/v1/leaderboard/{id}/inference" if match else path),
        "path": path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "pathParameters": {"id": match.group("id")} if match else None,
        "requestContext": context,
        "body": body.decode("utf-8", errors="replace") if body else None,
        "isBase64Encoded": False,
    }


async def _closing(pieces: Any) -> Any:
    try:
        async for piece in iterate_in_threadpool(pieces):
            yield piece
    finally:
        await run_in_threadpool(pieces.close)  # the client left, or the stream ended: settle


async def serve(request: Request) -> Response:
    event = proxy_event(request, await request.body())
    lambda_context = AdapterContext(json.loads(request.headers.get("x-amzn-lambda-context") or "{}"))
    answer = await run_in_threadpool(function.stream_handler, event, lambda_context)
    headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
    status = int(answer.get("statusCode", 200))
    stream = answer.get(function.STREAM_KEY)
    if stream is not None:
        return StreamingResponse(_closing(stream), status_code=status, headers=headers)
    return Response(answer.get("body") or "", status_code=status, headers=headers)


async def ready(_request: Request) -> Response:
    return Response("ok")  # the adapter's readiness check (AWS_LWA_READINESS_CHECK_PATH)


app = Starlette(
    routes=[
        Route("/_lwa/ready", ready, methods=["GET"]),
        Route("/v1/chat/completions", serve, methods=["POST"]),
        Route("/v1/leaderboard/{id}/inference", serve, methods=["POST"]),
    ]
)
