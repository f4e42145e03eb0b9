"""The sandbox provider: a local, deterministic stand-in for OpenRouter, a custom endpoint
and a Hugging Face endpoint, for tests, the demo (`make local`) and benchmarks.

Everything it serves is a toy and says so: model ids start with ``sandbox/`` and names with
"Sandbox (toy)". Answers are deterministic functions of the input.

OpenRouter shapes (point ``providers.openrouter_base_url`` at ``<url>/api/v1``):
- ``GET  /api/v1/models``                              catalog (pricing per token, hugging_face_id)
- ``GET  /api/v1/models/{author}/{slug}/endpoints``    latency_last_30m p50/p75/p90/p99 (ms)
- ``POST /api/v1/chat/completions``                    OpenAI answer with ``usage.cost``
- ``GET  /api/v1/key``                                 key info; 401 for a bad key
Keys: any ``Bearer sk-or-…`` is valid, except ones starting ``sk-or-invalid``.

Toy models:
- ``sandbox/arithmetic-exact``  solves "a op b" (+ - * / x) exactly
- ``sandbox/coin-flip-half``    the right answer or the right answer + 1, chosen by a hash of the input
- ``sandbox/off-by-one``        always the right answer + 1 (never right)
- ``sandbox/echo``              echoes the last user message
- ``sandbox/flaky``             echoes, but "[fail]" in the input answers 500 and "[429]" answers 429

Other fixtures on the same server:
- ``POST /custom/openai`` (chat completion), ``/custom/json`` (``{"result": {"text": …}}``),
  ``/custom/text`` (text/plain), ``/custom/secure/json`` (needs ``Bearer`` or ``X-Api-Key``
  = ``SANDBOX_CUSTOM_SECRET``), ``/custom/echo-headers`` (returns the request headers),
  ``/custom/redirect?to=URL`` (302), ``/custom/status/{code}``, ``/custom/large?bytes=N``.
- ``POST /hf/{toy}/v1/chat/completions`` (TGI) and ``POST /hf/{toy}`` (classic ``{"inputs"}``);
  ``/hf/private-{toy}…`` needs ``Bearer SANDBOX_HF_TOKEN``. ``{toy}`` is a toy slug, e.g. ``echo``.

Knobs (per model id, or "*" for all; "custom" and "hf" for the fixtures):
``POST /_sandbox/control {"model", "latency_ms", "error_rate", "rate_limit_next", "fail_next",
"retry_after"}``; ``POST /_sandbox/reset``; ``GET /_sandbox/stats``. Per request headers:
``X-Sandbox-Latency-Ms``, ``X-Sandbox-Status`` (force a status), ``X-Sandbox-Retry-After``.
``error_rate`` fails a deterministic share of requests (by per-model request count), so a
retry of the same input can succeed.

Fine-tuning (OpenAI-style ``/v1/files``, ``/v1/fine_tuning/jobs…``, ``/v1/chat/completions``
for tuned toys ``sandbox/ft-<job>``): see localcloud/sandbox_finetune.py; knobs at
``POST /_sandbox/fine_tune``.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from localcloud.sandbox_finetune import FineTuneRoutes, FineTuneState

SANDBOX_CUSTOM_SECRET = "sandbox-custom-secret"  # noqa: S105 - a toy fixture credential
SANDBOX_HF_TOKEN = "hf_sandbox_token"  # noqa: S105 - a toy fixture credential
CREATED = 1_735_689_600  # fixed timestamps keep answers deterministic
MAX_BODY = 1024 * 1024
_GOLDEN = 0.6180339887498949


@dataclass
class ToyModel:
    id: str
    name: str
    description: str
    prompt_price: float  # USD per token, as OpenRouter reports it
    completion_price: float
    hugging_face_id: str
    created: int
    latency: dict[str, float]  # latency_last_30m, ms
    answer: Callable[[str], str]


_ARITH = re.compile(r"(-?\d+(?:\.\d+)?)\s*([+\-*/x×])\s*(-?\d+(?:\.\d+)?)")


def arithmetic(text: str) -> float | None:
    match = _ARITH.search(text)
    if not match:
        return None
    a, op, b = float(match.group(1)), match.group(2), float(match.group(3))
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op in ("*", "x", "×"):
        return a * b
    return None if b == 0 else a / b


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def _solve(text: str) -> str:
    value = arithmetic(text)
    return number(value) if value is not None else "I only solve simple arithmetic like 2 + 3."


def _coin(text: str) -> str:
    value = arithmetic(text)
    if value is None:
        return "I only solve simple arithmetic like 2 + 3."
    right = hashlib.sha256(text.encode()).digest()[0] % 2 == 0
    return number(value if right else value + 1)


def _off_by_one(text: str) -> str:
    value = arithmetic(text)
    return number(value + 1) if value is not None else "I only solve simple arithmetic like 2 + 3."


def _echo(text: str) -> str:
    return text


def _latency(p50: float) -> dict[str, float]:
    return {"p50": p50, "p75": round(p50 * 1.3, 1), "p90": round(p50 * 1.8, 1), "p99": round(p50 * 3.5, 1)}


TOYS: dict[str, ToyModel] = {
    toy.id: toy
    for toy in [
        ToyModel(
            "sandbox/arithmetic-exact",
            "Sandbox (toy): Arithmetic, exact",
            "Toy model: solves 'a op b' exactly.",
            0.000001,
            0.000002,
            "sandbox/arithmetic-exact",
            CREATED + 400,
            _latency(120),
            _solve,
        ),
        ToyModel(
            "sandbox/coin-flip-half",
            "Sandbox (toy): Coin flip, right about half the time",
            "Toy model: right or off by one, by a hash of the input.",
            0.0000002,
            0.0000004,
            "sandbox/coin-flip-half",
            CREATED + 300,
            _latency(60),
            _coin,
        ),
        ToyModel(
            "sandbox/off-by-one",
            "Sandbox (toy): Off by one, never right",
            "Toy model: always the right answer plus one.",
            0.0000001,
            0.0000001,
            "",
            CREATED + 200,
            _latency(40),
            _off_by_one,
        ),
        ToyModel(
            "sandbox/echo",
            "Sandbox (toy): Echo",
            "Toy model: repeats the last user message.",
            0.0,
            0.0,
            "sandbox/echo",
            CREATED + 100,
            _latency(10),
            _echo,
        ),
        ToyModel(
            "sandbox/flaky",
            "Sandbox (toy): Flaky echo",
            "Toy model: echoes; '[fail]' in the input answers 500, '[429]' answers 429.",
            0.000003,
            0.000015,
            "",
            CREATED,
            _latency(900),
            _echo,
        ),
    ]
}


@dataclass
class Knobs:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit_next: int = 0
    fail_next: int = 0
    retry_after: float | None = 1.0


class SandboxState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.knobs: dict[str, Knobs] = {}
        self.counters: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.fine_tune = FineTuneState()

    def knobs_for(self, model: str) -> Knobs:
        return self.knobs.get(model) or self.knobs.get("*") or Knobs()

    def decide_failure(self, model: str) -> tuple[int, float | None] | None:
        """A forced status for this request (429/500), consuming bursts; None: answer normally."""
        with self.lock:
            knobs = self.knobs.get(model) or self.knobs.get("*")
            count = self.counters.get(model, 0)
            self.counters[model] = count + 1
            if knobs is None:
                return None
            if knobs.rate_limit_next > 0:
                knobs.rate_limit_next -= 1
                return 429, knobs.retry_after
            if knobs.fail_next > 0:
                knobs.fail_next -= 1
                return 500, None
            if knobs.error_rate > 0 and ((count + 1) * _GOLDEN) % 1.0 < knobs.error_rate:
                return 500, None
        return None


def tokens(text: str) -> int:
    """The sandbox's toy tokenizer: whitespace-separated words."""
    return len(text.split())


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _last_user(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


class _Handler(BaseHTTPRequestHandler):
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
            return self._openrouter(method, path.removeprefix("/api/v1"))
        fine_tune = FineTuneRoutes(self.state.fine_tune, {toy_id: toy.answer for toy_id, toy in TOYS.items()})
        if path == "/_sandbox/fine_tune" and method == "POST":
            return fine_tune.control(self, self._body())
        if fine_tune.route(self, method, path):
            return None
        if path.startswith("/custom/") and method == "POST":
            return self._custom(path.removeprefix("/custom/"), query)
        if path.startswith("/hf/") and method == "POST":
            return self._hf(path.removeprefix("/hf/"))
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

    # -- OpenRouter ----------------------------------------------------------------------
    def _openrouter(self, method: str, path: str) -> None:
        if path == "/models" and method == "GET":
            return self._send(200, {"data": [_catalog_entry(t) for t in TOYS.values()]})
        match = re.fullmatch(r"/models/([^/]+)/([^/]+)/endpoints", path)
        if match and method == "GET":
            toy = TOYS.get(f"{match.group(1)}/{match.group(2)}")
            if toy is None:
                return self._error(404, "sandbox: no such model")
            # Like OpenRouter: latency only for authenticated callers.
            return self._send(200, {"data": _endpoints(toy, with_latency=self._openrouter_key_ok())})
        if path == "/key" and method == "GET":
            if not self._openrouter_key_ok():
                return self._error(401, "sandbox: invalid API key")
            return self._send(
                200,
                {"data": {"label": "sandbox key", "usage": 0, "limit": None, "is_free_tier": False}},
            )
        if path == "/chat/completions" and method == "POST":
            if not self._openrouter_key_ok():
                return self._error(401, "sandbox: invalid API key")
            body = self._body()
            model = str(body.get("model") or "")
            toy = TOYS.get(model)
            if toy is None:
                return self._error(400, f"sandbox: {model!r} is not a valid model ID")
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return self._error(400, "sandbox: messages must be a non-empty list")
            text = _last_user(messages)
            if toy.id == "sandbox/flaky" and "[fail]" in text:
                return self._error(500, "sandbox: flaky model failed on demand")
            if toy.id == "sandbox/flaky" and "[429]" in text:
                return self._error(429, "sandbox: flaky model rate limited on demand", {"Retry-After": "1"})
            if not self._pre(toy.id):
                return None
            output = _truncate(toy.answer(text), body.get("max_tokens"))
            prompt_tokens = sum(tokens(_content_text(m.get("content"))) for m in messages if isinstance(m, dict))
            completion_tokens = tokens(output)
            cost = prompt_tokens * toy.prompt_price + completion_tokens * toy.completion_price
            return self._send(
                200,
                _completion(toy.id, text, output, prompt_tokens, completion_tokens, round(cost, 12), "Sandbox"),
            )
        self._error(404, f"sandbox: no route {method} /api/v1{path}")

    # -- custom endpoint fixture ---------------------------------------------------------
    def _custom(self, rest: str, query: dict[str, list[str]]) -> None:
        if rest == "redirect":
            target = (query.get("to") or ["http://169.254.169.254/latest/meta-data/"])[0]
            return self._send(302, {"redirect": target}, {"Location": target})
        if rest.startswith("status/") and rest[7:].isdigit():
            # Plays a careless endpoint that echoes the caller's credentials in its error
            # message: the provider layer must redact them.
            sent = self.headers.get("Authorization") or self.headers.get("X-Api-Key") or "nothing"
            return self._error(int(rest[7:]), f"sandbox: forced status (you sent {sent})")
        if rest == "large":
            size = int((query.get("bytes") or ["1048576"])[0])
            return self._send(200, "x" * min(size, 64 * 1024 * 1024))
        body = self._body()
        if rest.startswith("secure/"):
            supplied = self._bearer() or self.headers.get("X-Api-Key") or ""
            if supplied != SANDBOX_CUSTOM_SECRET:
                return self._error(401, "sandbox: custom endpoint needs its credential")
            rest = rest.removeprefix("secure/")
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        text = str(body.get("input") or _last_user(messages))
        if not self._pre("custom"):
            return None
        output = _solve(text)
        if rest == "openai":
            prompt_tokens = sum(tokens(_content_text(m.get("content"))) for m in messages if isinstance(m, dict))
            return self._send(
                200, _completion(str(body.get("model") or "custom"), text, output, prompt_tokens, tokens(output))
            )
        if rest == "json":
            return self._send(200, {"result": {"text": output}, "meta": {"toy": "sandbox custom endpoint"}})
        if rest == "text":
            return self._send(200, output)
        if rest == "echo-headers":
            return self._send(200, {"result": {"text": output}, "headers": dict(self.headers.items())})
        self._error(404, f"sandbox: no custom fixture {rest!r}")

    # -- Hugging Face endpoint fixture ---------------------------------------------------
    def _hf(self, rest: str) -> None:
        name, _, tail = rest.partition("/")
        if name.startswith("private-"):
            if self._bearer() != SANDBOX_HF_TOKEN:
                return self._error(401, "sandbox: Hugging Face endpoint needs its token")
            name = name.removeprefix("private-")
        toy = TOYS.get(f"sandbox/{name}")
        if toy is None:
            return self._error(404, f"sandbox: no toy {name!r}")
        body = self._body()
        if not self._pre("hf"):
            return None
        if tail == "v1/chat/completions":
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return self._error(422, "sandbox: messages must be a non-empty list")
            text = _last_user(messages)
            output = _truncate(toy.answer(text), body.get("max_tokens"))
            prompt_tokens = sum(tokens(_content_text(m.get("content"))) for m in messages if isinstance(m, dict))
            return self._send(200, _completion("tgi", text, output, prompt_tokens, tokens(output)))
        if tail == "":
            inputs = body.get("inputs")
            if not isinstance(inputs, str):
                return self._error(422, "sandbox: inputs must be a string")
            max_new = (body.get("parameters") or {}).get("max_new_tokens")
            return self._send(200, [{"generated_text": _truncate(toy.answer(inputs), max_new)}])
        self._error(404, f"sandbox: no Hugging Face route {tail!r}")


def _truncate(text: str, max_tokens: Any) -> str:
    if isinstance(max_tokens, int) and max_tokens > 0:
        words = text.split(" ")
        return " ".join(words[:max_tokens])
    return text


def _completion(
    model: str,
    prompt: str,
    output: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost: float | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cost is not None:
        usage["cost"] = cost
    answer: dict[str, Any] = {
        "id": "gen-sandbox-" + hashlib.sha256(f"{model}\n{prompt}".encode()).hexdigest()[:20],
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": output}, "finish_reason": "stop"}],
        "usage": usage,
    }
    if provider:
        answer["provider"] = provider
    return answer


def _catalog_entry(toy: ToyModel) -> dict[str, Any]:
    return {
        "id": toy.id,
        "canonical_slug": toy.id,
        "name": toy.name,
        "created": toy.created,
        "description": toy.description,
        "context_length": 8192,
        "hugging_face_id": toy.hugging_face_id,
        "architecture": {
            "modality": "text->text",
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "tokenizer": "toy-whitespace",
        },
        "pricing": {
            "prompt": f"{toy.prompt_price:.10f}".rstrip("0").rstrip(".") or "0",
            "completion": f"{toy.completion_price:.10f}".rstrip("0").rstrip(".") or "0",
            "request": "0",
            "image": "0",
        },
        "top_provider": {"context_length": 8192, "max_completion_tokens": 1024, "is_moderated": False},
        "supported_parameters": ["max_tokens", "temperature"],
    }


def _endpoints(toy: ToyModel, with_latency: bool) -> dict[str, Any]:
    entry = _catalog_entry(toy)
    return {
        "id": toy.id,
        "name": toy.name,
        "created": toy.created,
        "description": toy.description,
        "architecture": entry["architecture"],
        "endpoints": [
            {
                "name": f"Sandbox | {toy.id}",
                "model_name": toy.name,
                "context_length": 8192,
                "pricing": entry["pricing"],
                "provider_name": "Sandbox",
                "tag": "sandbox",
                "quantization": "unknown",
                "max_completion_tokens": 1024,
                "max_prompt_tokens": 8192,
                "supported_parameters": entry["supported_parameters"],
                "status": 0,
                "uptime_last_30m": 100,
                "latency_last_30m": dict(toy.latency) if with_latency else None,
                "throughput_last_30m": {"p50": 100.0, "p75": 90.0, "p90": 80.0, "p99": 50.0} if with_latency else None,
            }
        ],
    }


class _SandboxServer(ThreadingHTTPServer):
    # The stdlib default backlog is 5: a run's worker pool (dozens of concurrent calls) would
    # queue on connect instead of reaching the toy models' configured latency.
    request_queue_size = 256
    daemon_threads = True


def start_sandbox(host: str, port: int) -> tuple[str, Callable[[], None]]:
    """Serve the sandbox on ``host:port`` (port 0: any free port) in a background thread.

    Returns the base URL (``http://127.0.0.1:4010``) and a stop function that shuts the
    server down and joins its thread.
    """
    state = SandboxState()
    handler = type("SandboxHandler", (_Handler,), {"state": state})
    server = _SandboxServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, name="drgero-sandbox", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    display_host = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return
        stopped.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://{display_host}:{bound_port}", stop
