"""API Gateway (REST) emulation: the template's ``Api`` events served on loopback.

For each request, like API Gateway with a REQUEST Lambda authorizer and proxy integrations:

1. match a route from the template (literal paths beat ``{param}`` paths beat ``{proxy+}``;
   an exact method beats ``ANY``); no match -> the MISSING_AUTHENTICATION_TOKEN gateway
   response (403 "Missing Authentication Token" unless the template sets it: ours says 404);
2. unless the route says ``Auth: {Authorizer: NONE}``, invoke the authorizer with a REQUEST
   event: raising ``Exception("Unauthorized")`` -> the UNAUTHORIZED gateway response; a policy
   that denies (or does not allow) the method ARN -> ACCESS_DENIED, rendered with the returned
   context (``$context.authorizer.<key>``); any other failure -> 500;
3. invoke the function with a REST proxy event (payload 1.0) whose
   ``requestContext.authorizer`` is the returned context plus ``principalId``, and return its
   response (status, headers, multi-value headers, base64 bodies). A raising function or a
   malformed response -> 502; longer than 29 s -> 504.
4. a route whose event says ``ResponseTransferMode: RESPONSE_STREAM`` (API Gateway's response
   streaming) invokes the function's streaming entry (``invoke_stream``); a body it gives as a
   generator of bytes is sent piece by piece as it comes (chunked transfer encoding), and the
   generator is closed when the client goes away. The 29 s limit applies to the answer's
   start, not to the whole stream (as with API Gateway streaming).

Gateway responses (status code and ``application/json`` template) come from the template's
``GatewayResponses``, falling back to DEFAULT_4XX / DEFAULT_5XX like AWS. There is no stage
prefix locally (like ``sam local start-api``), no throttling, and no authorizer cache (the
template sets ReauthorizeEvery: 0, so AWS has none either).
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from localcloud.resources import ACCOUNT_ID
from localcloud.template import Template

# Not "localcloud.api": Powertools hides records of any logger whose name contains a
# function's service name ("api", "judge", ...) from the root handlers.
logger = logging.getLogger("localcloud.gateway")

API_ID = "local"
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's request payload limit
INTEGRATION_TIMEOUT_SECONDS = 29.0  # API Gateway's default integration timeout

# The default status of each gateway response type (used when the template sets none).
_DEFAULT_STATUS = {
    "UNAUTHORIZED": 401,
    "ACCESS_DENIED": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "REQUEST_TOO_LARGE": 413,
    "AUTHORIZER_FAILURE": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "BAD_GATEWAY": 502,
    "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504,
}
_ERROR_MESSAGES = {
    "UNAUTHORIZED": "Unauthorized",
    "ACCESS_DENIED": "User is not authorized to access this resource",
    "MISSING_AUTHENTICATION_TOKEN": "Missing Authentication Token",
    "REQUEST_TOO_LARGE": "Request Too Long",
    "AUTHORIZER_FAILURE": None,
    "AUTHORIZER_CONFIGURATION_ERROR": None,
    "BAD_GATEWAY": "Internal server error",
    "INTEGRATION_FAILURE": "Internal server error",
    "INTEGRATION_TIMEOUT": "Endpoint request timed out",
}


# ---------------------------------------------------------------- routes
@dataclass(frozen=True)
class Route:
    function: str  # logical id
    event_name: str
    path: str  # the template's resource path, e.g. /v1/leaderboard/{id}/inference
    method: str  # GET, POST, ..., or ANY
    authorized: bool
    pattern: re.Pattern[str]
    streaming: bool = False  # ResponseTransferMode: RESPONSE_STREAM

    @property
    def sort_key(self) -> tuple:
        segments = [s for s in self.path.split("/") if s]
        greedy = any(s.endswith("+}") for s in segments)
        params = sum(1 for s in segments if s.startswith("{"))
        # Literal segments first, then fewer parameters, then non-greedy; exact methods first.
        return (greedy, params, -len(segments), self.method == "ANY")


def _compile(path: str) -> re.Pattern[str]:
    parts = []
    for segment in path.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{segment[1:-2]}>.+)")
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "$")


def routes_from_template(template: Template) -> list[Route]:
    """Every ``Api`` event of every function, most specific first."""
    default_authorizer = None
    for res in template.of_type("AWS::Serverless::Api").values():
        default_authorizer = res.get("Properties", {}).get("Auth", {}).get("DefaultAuthorizer")
    routes = []
    for logical, res in template.functions.items():
        for event_name, event in res.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") != "Api":
                continue
            props = event["Properties"]
            authorizer = props.get("Auth", {}).get("Authorizer", default_authorizer)
            routes.append(
                Route(
                    function=logical,
                    event_name=event_name,
                    path=props["Path"],
                    method=props["Method"].upper(),
                    authorized=bool(authorizer) and authorizer != "NONE",
                    pattern=_compile(props["Path"]),
                    streaming=props.get("ResponseTransferMode") == "RESPONSE_STREAM",
                )
            )
    return sorted(routes, key=lambda r: r.sort_key)


def match_route(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in routes:
        if route.method not in (method, "ANY"):
            continue
        m = route.pattern.match(path)
        if m:
            return route, m.groupdict()
    return None


# ---------------------------------------------------------------- authorizer policy
def _statements(policy: Any) -> list[dict[str, Any]]:
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _glob(pattern: str, value: str) -> bool:
    # IAM wildcards: * any run of characters, ? one character (case-sensitive).
    return fnmatch.fnmatchcase(value, pattern)


def policy_allows(policy: Any, method_arn: str) -> bool:
    """IAM evaluation for execute-api:Invoke on ``method_arn``: explicit Deny wins, then Allow,
    and anything not allowed is denied."""
    allowed = False
    for statement in _statements(policy):
        actions = _as_list(statement.get("Action"))
        if not any(_glob(a, "execute-api:Invoke") for a in actions):
            continue
        if not any(_glob(r, method_arn) for r in _as_list(statement.get("Resource"))):
            continue
        effect = statement.get("Effect")
        if effect == "Deny":
            return False
        if effect == "Allow":
            allowed = True
    return allowed


class AuthorizerConfigurationError(ValueError):
    """The authorizer answered something API Gateway would reject (-> 500)."""


def authorizer_context(answer: Any) -> tuple[str, dict[str, str]]:
    """(principalId, context) from an authorizer answer. Context values must be strings,
    numbers or booleans (API Gateway refuses objects and arrays) and reach the integration
    as strings, as REST APIs deliver them."""
    if not isinstance(answer, dict) or "principalId" not in answer or "policyDocument" not in answer:
        raise AuthorizerConfigurationError("authorizer response needs principalId and policyDocument")
    context = answer.get("context") or {}
    if not isinstance(context, dict):
        raise AuthorizerConfigurationError("authorizer context must be an object")
    out: dict[str, str] = {}
    for key, value in context.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            out[key] = str(value)
        elif value is None:
            continue
        else:
            raise AuthorizerConfigurationError(f"authorizer context value {key!r} is not a string, number or boolean")
    return str(answer["principalId"]), out


# ---------------------------------------------------------------- gateway responses
@dataclass
class GatewayResponse:
    status: int
    body: str
    headers: dict[str, str]


class GatewayResponses:
    """Renders the template's GatewayResponses (status + application/json template)."""

    def __init__(self, template: Template) -> None:
        self._config: dict[str, dict[str, Any]] = {}
        for res in template.of_type("AWS::Serverless::Api").values():
            self._config.update(res.get("Properties", {}).get("GatewayResponses", {}) or {})

    def render(self, kind: str, request_id: str, authorizer: dict[str, str] | None = None) -> GatewayResponse:
        family = "DEFAULT_4XX" if _DEFAULT_STATUS.get(kind, 500) < 500 else "DEFAULT_5XX"
        own = self._config.get(kind, {})
        fallback = self._config.get(family, {})
        status = int(own.get("StatusCode") or _DEFAULT_STATUS.get(kind, 500))
        templates = own.get("ResponseTemplates") or fallback.get("ResponseTemplates") or {}
        message = _ERROR_MESSAGES.get(kind)
        variables = {
            "requestId": request_id,
            "extendedRequestId": request_id,
            "error.message": message or "",
            # Like AWS: the quoted message (a JSON string literal), or null.
            "error.messageString": json.dumps(message) if message is not None else "null",
            "error.responseType": kind,
            "apiId": API_ID,
        }
        for key, value in (authorizer or {}).items():
            variables[f"authorizer.{key}"] = value
        template = templates.get("application/json")
        if template is None:
            body = json.dumps({"message": message})
        else:
            # Plain substitution, no escaping: what API Gateway's templates do.
            body = re.sub(
                r"\$context\.([A-Za-z0-9_.]+)",
                lambda m: variables.get(m.group(1), ""),
                template,
            )
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": _error_type(kind)}
        return GatewayResponse(status, body, headers)

    def mapped_headers(self, kind: str, request_headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The response's ``ResponseParameters.Headers``: a quoted literal (``"'value'"``) or an
        echo of a request header (``method.request.header.Name``; left out when the request has
        none), like API Gateway. The type's own mapping, else its DEFAULT_4XX/5XX family's."""
        family = "DEFAULT_4XX" if _DEFAULT_STATUS.get(kind, 500) < 500 else "DEFAULT_5XX"
        own = (self._config.get(kind, {}).get("ResponseParameters") or {}).get("Headers")
        mapping = (
            own if own is not None else (self._config.get(family, {}).get("ResponseParameters") or {}).get("Headers")
        )
        received = {name.lower(): value for name, value in request_headers}
        headers: list[tuple[str, str]] = []
        for name, source in (mapping or {}).items():
            source = str(source)
            if len(source) >= 2 and source[0] == source[-1] == "'":
                headers.append((name, source[1:-1]))
            elif source.startswith("method.request.header."):
                value = received.get(source.removeprefix("method.request.header.").lower())
                if value is not None:
                    headers.append((name, value))
        return headers


def _error_type(kind: str) -> str:
    return {
        "UNAUTHORIZED": "UnauthorizedException",
        "ACCESS_DENIED": "AccessDeniedException",
        "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
        "REQUEST_TOO_LARGE": "RequestTooLargeException",
    }.get(kind, "InternalServerErrorException")


# ---------------------------------------------------------------- events
@dataclass
class IncomingRequest:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    host: str


def _headers(request: IncomingRequest) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in request.headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _query(request: IncomingRequest) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    pairs = parse_qsl(request.query, keep_blank_values=True)
    if not pairs:
        return None, None
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    return single, multi


def _request_context(request: IncomingRequest, route: Route, stage: str, request_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    user_agent = next((v for k, v in request.headers if k.lower() == "user-agent"), None)
    return {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "resourceId": route.event_name,
        "resourcePath": route.path,
        "httpMethod": request.method,
        "path": request.path,
        "protocol": "HTTP/1.1",
        "stage": stage,
        "domainName": request.host,
        "domainPrefix": request.host.split(".")[0],
        "requestId": request_id,
        "extendedRequestId": request_id,
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "identity": {
            "sourceIp": request.source_ip,
            "userAgent": user_agent,
            "accountId": None,
            "caller": None,
            "user": None,
            "userArn": None,
            "accessKey": None,
            "apiKey": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
        },
    }


def method_arn(region: str, stage: str, method: str, path: str) -> str:
    return f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{API_ID}/{stage}/{method}/{path.lstrip('/')}"


def authorizer_event(
    request: IncomingRequest, route: Route, params: dict[str, str], stage: str, region: str, request_id: str
) -> dict[str, Any]:
    headers, multi_headers = _headers(request)
    query, multi_query = _query(request)
    return {
        "type": "REQUEST",
        "methodArn": method_arn(region, stage, request.method, request.path),
        "resource": route.path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or {},
        "multiValueQueryStringParameters": multi_query or {},
        "pathParameters": params,
        "stageVariables": {},
        "requestContext": _request_context(request, route, stage, request_id),
    }


def proxy_event(
    request: IncomingRequest,
    route: Route,
    params: dict[str, str],
    stage: str,
    request_id: str,
    authorizer: dict[str, str] | None,
) -> dict[str, Any]:
    headers, multi_headers = _headers(request)
    query, multi_query = _query(request)
    context = _request_context(request, route, stage, request_id)
    if authorizer is not None:
        context["authorizer"] = authorizer
    body: str | None
    encoded = False
    if not request.body:
        body = None
    else:
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            body, encoded = base64.b64encode(request.body).decode(), True
    return {
        "resource": route.path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": encoded,
    }


# ---------------------------------------------------------------- the gateway
@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    gateway_response: str | None = None  # the gateway response type, when API Gateway answered itself
    stream: Any = None  # a streamed body: a generator of bytes (body is then empty)


class Gateway:
    """Turns one HTTP request into authorizer + integration invocations (no sockets here)."""

    def __init__(
        self,
        template: Template,
        invoke: Callable[[str, dict], Any],
        region: str,
        stage: str,
        authorizer_function: str = "AuthorizerFunction",
        integration_timeout: float = INTEGRATION_TIMEOUT_SECONDS,
        invoke_stream: Callable[[str, dict], Any] | None = None,
    ) -> None:
        self.routes = routes_from_template(template)
        self.responses = GatewayResponses(template)
        self._invoke = invoke
        self._invoke_stream = invoke_stream
        self.region = region
        self.stage = stage
        self.authorizer_function = authorizer_function
        self.integration_timeout = integration_timeout
        # Answers only the local cloud gives, before any template route (None: not theirs),
        # e.g. the dashboard's one-click local sign-in (localcloud.dashboard_session). Nothing
        # like them exists in AWS.
        self.local_routes: list[Callable[[IncomingRequest, str], Reply | None]] = []

    def _gateway(self, kind: str, request_id: str, authorizer: dict[str, str] | None = None) -> Reply:
        response = self.responses.render(kind, request_id, authorizer)
        headers = list(response.headers.items())
        return Reply(response.status, headers, response.body.encode(), gateway_response=kind)

    def handle(self, request: IncomingRequest) -> Reply:
        request_id = str(uuid.uuid4())
        reply = self._handle(request, request_id)
        if reply.gateway_response is not None:
            reply.headers.extend(self.responses.mapped_headers(reply.gateway_response, request.headers))
        reply.headers.append(("x-amzn-RequestId", request_id))
        return reply

    def _handle(self, request: IncomingRequest, request_id: str) -> Reply:
        for local_route in self.local_routes:
            reply = local_route(request, request_id)
            if reply is not None:
                return reply
        found = match_route(self.routes, request.method, request.path)
        if found is None:
            return self._gateway("MISSING_AUTHENTICATION_TOKEN", request_id)
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return self._gateway("REQUEST_TOO_LARGE", request_id)
        route, params = found
        authorizer: dict[str, str] | None = None
        if route.authorized:
            event = authorizer_event(request, route, params, self.stage, self.region, request_id)
            try:
                answer = self._invoke(self.authorizer_function, event)
            except Exception as exc:  # noqa: BLE001 - API Gateway maps any authorizer failure to a response
                if str(exc) == "Unauthorized":
                    return self._gateway("UNAUTHORIZED", request_id)
                logger.exception("authorizer failed")
                return self._gateway("AUTHORIZER_FAILURE", request_id)
            try:
                principal, context = authorizer_context(answer)
            except AuthorizerConfigurationError as exc:
                logger.error("authorizer configuration error: %s", exc)
                return self._gateway("AUTHORIZER_CONFIGURATION_ERROR", request_id)
            if not policy_allows(answer.get("policyDocument"), event["methodArn"]):
                return self._gateway("ACCESS_DENIED", request_id, context)
            authorizer = {**context, "principalId": principal}
        event = proxy_event(request, route, params, self.stage, request_id, authorizer)
        return self._integrate(route, event, request_id)

    def _integrate(self, route: Route, event: dict[str, Any], request_id: str) -> Reply:
        outcome: dict[str, Any] = {}

        invoke = self._invoke_stream if route.streaming and self._invoke_stream is not None else self._invoke

        def run() -> None:
            try:
                outcome["response"] = invoke(route.function, event)
            except BaseException as exc:  # noqa: BLE001 - handed back to the request thread below
                outcome["error"] = exc

        worker = threading.Thread(target=run, name=f"invoke-{route.function}", daemon=True)
        started = time.monotonic()
        worker.start()
        worker.join(self.integration_timeout)
        if worker.is_alive():
            logger.error("%s timed out after %.0fs", route.function, time.monotonic() - started)
            return self._gateway("INTEGRATION_TIMEOUT", request_id)
        if "error" in outcome:
            exc = outcome["error"]
            logger.error("%s raised %s: %s", route.function, type(exc).__name__, exc, exc_info=exc)
            return self._gateway("BAD_GATEWAY", request_id)
        try:
            return _reply_from_proxy_response(outcome.get("response"))
        except (TypeError, ValueError) as exc:
            logger.error("%s returned a malformed proxy response: %s", route.function, exc)
            return self._gateway("BAD_GATEWAY", request_id)


def _reply_from_proxy_response(response: Any) -> Reply:
    if not isinstance(response, dict):
        raise TypeError("a proxy response must be an object")
    status = int(response.get("statusCode", 200))
    headers: list[tuple[str, str]] = []
    multi = response.get("multiValueHeaders") or {}
    single = response.get("headers") or {}
    if not isinstance(multi, dict) or not isinstance(single, dict):
        raise TypeError("headers and multiValueHeaders must be objects")
    for name, values in multi.items():
        for value in values:
            headers.append((name, str(value)))
    multi_names = {n.lower() for n in multi}
    for name, value in single.items():
        if name.lower() not in multi_names:
            headers.append((name, str(value)))
    stream = response.get("bodyStream")
    if stream is not None:
        if not any(n.lower() == "content-type" for n, _ in headers):
            headers.append(("Content-Type", "application/octet-stream"))
        return Reply(status, headers, b"", stream=stream)
    body = response.get("body")
    if body is None:
        data = b""
    elif response.get("isBase64Encoded"):
        data = base64.b64decode(body)
    else:
        data = str(body).encode()
    if not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return Reply(status, headers, data)


# ---------------------------------------------------------------- HTTP
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "DrGeroLocalApiGateway"
    gateway: Gateway  # set on the subclass built per server

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                total += size
                if total > MAX_PAYLOAD_BYTES + 1:
                    raise ValueError("payload too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            # Read (and drop) what was announced so the connection stays usable; reply 413.
            remaining = length
            while remaining > 0:
                remaining -= len(self.rfile.read(min(remaining, 1 << 16)) or b"x" * remaining)
            return b"\0" * (MAX_PAYLOAD_BYTES + 1)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        split = urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError:
            body = b"\0" * (MAX_PAYLOAD_BYTES + 1)
        request = IncomingRequest(
            method=self.command.upper(),
            path=split.path or "/",
            query=split.query,
            headers=[(k, v) for k, v in self.headers.items() if k.lower() not in ("transfer-encoding",)],
            body=body,
            source_ip=self.client_address[0],
            host=self.headers.get("Host", f"{self.server.server_address[0]}:{self.server.server_address[1]}"),
        )
        reply = self.gateway.handle(request)
        if reply.stream is not None:
            self._send_stream(reply)
            return
        self.send_response(reply.status)
        for name, value in reply.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command.upper() != "HEAD":
            self.wfile.write(reply.body)

    def _send_stream(self, reply: Reply) -> None:
        """A streamed body, each piece as one HTTP chunk as soon as the function yields it;
        the generator is closed however this ends (a client that left included)."""
        self.send_response(reply.status)
        for name, value in reply.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for piece in reply.stream:
                if piece:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            logger.info("client left a streamed answer")
        finally:
            reply.stream.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        logger.info("%s %s", self.address_string(), format % args)


class _GatewayServer(ThreadingHTTPServer):
    # The stdlib default listen backlog is 5: concurrent clients would wait on connect.
    request_queue_size = 256
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Open client connections: HTTP/1.1 keeps them alive, and a handler thread goes on
        # serving its connection after shutdown() (which only stops accepting new ones).
        self._open: set[Any] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Ends every kept-alive connection, so no client keeps talking to a stopped gateway
        (and through it to the functions of a stopped cloud)."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its client
                connection.shutdown(socket.SHUT_RDWR)


class ApiServer:
    """The gateway on a ThreadingHTTPServer: one thread per request, so requests run in parallel."""

    def __init__(self, gateway: Gateway, host: str = "127.0.0.1", port: int = 3000) -> None:
        handler = type("GatewayHandler", (_Handler,), {"gateway": gateway})
        self._server = _GatewayServer((host, port), handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        # shutdown() waits for serve_forever to exit: only call it once serving has started
        # (the socket is bound earlier, when the cloud builds function environments).
        if self._thread is not None:
            self._server.shutdown()
        self._server.close_open_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
