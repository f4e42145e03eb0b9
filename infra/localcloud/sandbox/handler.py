"""The sandbox's HTTP request handler: reading requests, answering, the latency and failure
knobs applied before a toy answers, the ``/_sandbox/*`` control routes, and the dispatch to
each emulated API's module."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from localcloud.sandbox import custom, huggingface, openrouter
from localcloud.sandbox.behaviours import number
from localcloud.sandbox.finetune import FineTuneRoutes
from localcloud.sandbox.state import Knobs, SandboxState
from localcloud.sandbox.toys import TOYS

MAX_BODY = 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "DrGeroSandbox/1"
    state: SandboxState  # set on the subclass per server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without NODELAY, Nagle + delayed ACK
        # add ~40 ms to every answer, which would swamp latency knobs and benchmarks.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # quiet: tests and benchmarks read stats instead

    # -- plumbing ------------------------------------------------------------------------
    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None, content_type: str = "") -> None:
        if isinstance(body, bytes | str):
            data = body.encode() if isinstance(body, str) else body
            content_type = content_type or "text/plain; charset=utf-8"
        else:
            data = json.dumps(body).encode()
            content_type = content_type or "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"code": status, "message": message}}, headers)

    def _read_payload(self) -> bytes | None:
        """Read the whole request body up front, so keep-alive connections stay in sync even
        on routes that answer without looking at it. None: too large (connection closed)."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _body(self) -> Any:
        body = json.loads(self._payload) if self._payload else {}
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body

    def _bearer(self) -> str:
        value = self.headers.get("Authorization") or ""
        return value[7:] if value.lower().startswith("bearer ") else ""

    def _openrouter_key_ok(self) -> bool:
        key = self._bearer()
        return key.startswith("sk-or-") and not key.startswith("sk-or-invalid")

    def _pre(self, model: str) -> bool:
        """Apply latency and forced failures; False when a failure answer was sent."""
        knobs = self.state.knobs_for(model)
        latency = float(self.headers.get("X-Sandbox-Latency-Ms") or knobs.latency_ms or 0)
        if latency > 0:
            time.sleep(min(latency, 30_000) / 1000)
        forced = self.headers.get("X-Sandbox-Status")
        if forced and forced.isdigit():
            status = int(forced)
            headers = {}
            if status == 429:
                headers["Retry-After"] = self.headers.get("X-Sandbox-Retry-After") or "1"
            self._error(status, f"sandbox: forced status {status}", headers)
            return False
        failure = self.state.decide_failure(model)
        if failure:
            status, retry_after = failure
            headers = {"Retry-After": number(retry_after)} if status == 429 and retry_after is not None else {}
            message = "sandbox: rate limited (burst)" if status == 429 else "sandbox: injected upstream failure"
            self._error(status, message, headers)
            return False
        return True

    def _stream_delay_ms(self, model: str) -> float:
        """The pause between streamed chunks: header X-Sandbox-Stream-Delay-Ms, else the knob."""
        value = self.headers.get("X-Sandbox-Stream-Delay-Ms")
        return float(value) if value else float(self.state.knobs_for(model).stream_delay_ms or 0)

    def _count(self, path: str) -> None:
        with self.state.lock:
            self.state.requests[path] = self.state.requests.get(path, 0) + 1
            self.state.in_flight += 1
            self.state.max_in_flight = max(self.state.max_in_flight, self.state.in_flight)

    def _done(self) -> None:
        with self.state.lock:
            self.state.in_flight -= 1

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        payload = self._read_payload()
        if payload is None:
            return self._error(413, "sandbox: body too large")
        self._payload = payload
        self._count(path)
        try:
            self._dispatch(method, path, parse_qs(parts.query))
        except (ValueError, json.JSONDecodeError) as exc:
            self._error(400, f"sandbox: bad request: {exc}")
        finally:
            self._done()

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        if path == "/_sandbox/control" and method == "POST":
            return self._control()
        if path == "/_sandbox/reset" and method == "POST":
            with self.state.lock:
                self.state.reset()
            return self._send(200, {"reset": True})
        if path == "/_sandbox/stats" and method == "GET":
            with self.state.lock:
                return self._send(
                    200,
                    {
                        "requests": dict(self.state.requests),
                        "max_in_flight": self.state.max_in_flight,
                        "in_flight": self.state.in_flight - 1,
                    },
                )
        if path.startswith("/api/v1/"):
            return openrouter.route(self, method, path.removeprefix("/api/v1"))
        fine_tune = FineTuneRoutes(self.state.fine_tune, {toy_id: toy.answer for toy_id, toy in TOYS.items()})
        if path == "/_sandbox/fine_tune" and method == "POST":
            return fine_tune.control(self, self._body())
        if fine_tune.route(self, method, path):
            return None
        if path.startswith("/custom/") and method == "POST":
            return custom.route(self, path.removeprefix("/custom/"), query)
        if path.startswith("/hf/") and method == "POST":
            return huggingface.route(self, path.removeprefix("/hf/"))
        self._error(404, f"sandbox: no route {method} {path}")

    def _control(self) -> None:
        body = self._body()
        model = str(body.pop("model", "*"))
        allowed = set(Knobs.__dataclass_fields__)
        unknown = set(body) - allowed
        if unknown:
            return self._error(400, f"sandbox: unknown knobs {sorted(unknown)}")
        with self.state.lock:
            knobs = self.state.knobs.setdefault(model, Knobs())
            for key, value in body.items():
                setattr(knobs, key, value)
            return self._send(200, {"model": model, **asdict(knobs)})
