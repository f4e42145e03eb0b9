"""The HTTP machinery under every provider call: pooled clients, retries, AIMD, size caps.

One ``ProviderClient`` per process (``ProviderClient.shared(settings)``) holds:
- httpx.AsyncClient pools, one per (event loop, trust level). "guarded" clients (user URLs)
  connect through ``GuardedNetworkBackend``; "operator" clients (the configured OpenRouter
  base URL) do not. Both: ``trust_env=False``, no redirects, connect/read timeouts.
  Pools are per event loop because httpcore connections belong to the loop that opened them
  (a Lambda handler that calls ``asyncio.run`` per invocation gets a fresh pool each time,
  while the AIMD limits below persist).
- one AIMD limiter per (provider, key fingerprint).
- the retry policy, with injectable ``sleep``, ``rng`` and ``clock`` so tests never wait.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from drgero.core.loopback import loopback_endpoints
from drgero.core.settings import ProvidersSettings
from drgero.providers.errors import (
    AuthError,
    BadRequest,
    InsufficientCredits,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    UnsafeUrl,
    UpstreamError,
)
from drgero.providers.limiter import AimdConfig, AimdLimiter, LimiterRegistry
from drgero.providers.redact import redact_text
from drgero.providers.retry import RetryConfig, backoff_seconds, parse_retry_after
from drgero.providers.ssrf import GuardedNetworkBackend, GuardPolicy, Resolver, system_resolver

logger = logging.getLogger("drgero.providers")
# httpx logs every request URL at INFO; user endpoint URLs may carry credentials in their
# query string (e.g. "?code=…"), so keep its request log out of our logs.
logging.getLogger("httpx").setLevel(logging.WARNING)

Sleep = Callable[[float], Awaitable[None]]


def fingerprint(secret: str | None) -> str:
    """A stable, non-reversible label for a key (limiter keys, logs): never the key itself."""
    if not secret:
        return "anonymous"
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


@dataclass
class Answer:
    """A 2xx provider answer, body read (within the size cap)."""

    status: int
    headers: httpx.Headers
    content: bytes
    latency_ms: float
    attempts: int

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass
class RequestSpec:
    method: str
    url: str
    provider: str
    limiter_key: str
    guarded: bool
    headers: dict[str, str] = field(default_factory=dict)
    json_body: Any = None
    secrets: list[str] = field(default_factory=list)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over an httpcore pool that uses our network backend.

    httpx does not expose ``network_backend``; the documented way to customise the pool is
    to build the httpcore pool yourself. We keep httpx's request/response mapping by
    subclassing and replacing the pool it would have built.
    """

    def __init__(
        self, backend: httpcore.AsyncNetworkBackend, limits: httpx.Limits, ssl_context: ssl.SSLContext
    ) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=backend,
        )


class ProviderClient:
    _shared: dict[str, ProviderClient] = {}

    def __init__(
        self,
        settings: ProvidersSettings,
        *,
        resolver: Resolver = system_resolver,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.perf_counter,
        inner_backend: httpcore.AsyncNetworkBackend | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.policy = GuardPolicy(
            allow_loopback=settings.allow_loopback,
            allow_plain_http=settings.allow_plain_http,
            loopback_origins=loopback_endpoints([*settings.loopback_origins, *settings.extra_loopback_origins]),
        )
        self.resolver = resolver
        self.sleep = sleep
        self.rng = rng
        self.clock = clock
        self.inner_backend = inner_backend
        # Certificate verification is always on; None means httpx's default CA bundle. Built
        # once per process (loading the CA bundle costs tens of ms) and shared by every pool.
        self._ssl_context = ssl_context
        self.retry = RetryConfig(
            max_retries=settings.max_retries,
            backoff_base_seconds=settings.backoff_base_seconds,
            backoff_cap_seconds=settings.backoff_cap_seconds,
            retry_after_cap_seconds=settings.retry_after_cap_seconds,
        )
        self.limiters = LimiterRegistry(
            AimdConfig(
                initial=settings.aimd_initial,
                minimum=settings.aimd_min,
                maximum=settings.aimd_max,
                increase_step=settings.aimd_increase_step,
                success_window=settings.aimd_success_window,
            )
        )
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]] = (
            weakref.WeakKeyDictionary()
        )

    @classmethod
    def shared(cls, settings: ProvidersSettings) -> ProviderClient:
        """The process-wide client for these settings (pools and AIMD state survive invocations)."""
        key = settings.model_dump_json()
        client = cls._shared.get(key)
        if client is None:
            client = cls._shared[key] = cls(settings)
        return client

    # -- pools ---------------------------------------------------------------------------
    @property
    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context(trust_env=False)
        return self._ssl_context

    def http(self, guarded: bool) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        clients = self._clients.setdefault(loop, {})
        kind = "guarded" if guarded else "operator"
        client = clients.get(kind)
        if client is None or client.is_closed:
            limits = httpx.Limits(
                max_connections=self.settings.pool_max_connections,
                max_keepalive_connections=self.settings.pool_max_keepalive,
            )
            timeout = httpx.Timeout(
                connect=self.settings.connect_timeout_seconds,
                read=self.settings.read_timeout_seconds,
                write=self.settings.read_timeout_seconds,
                pool=self.settings.read_timeout_seconds,
            )
            if guarded:
                backend = GuardedNetworkBackend(self.policy, self.resolver, self.inner_backend)
                transport: httpx.AsyncBaseTransport = _GuardedTransport(backend, limits, self.ssl_context)
            else:
                transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False, verify=self.ssl_context)
            client = httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
            clients[kind] = client
        return client

    async def aclose(self) -> None:
        """Close this loop's pools (tests, benchmarks, shutdown)."""
        loop = asyncio.get_running_loop()
        for client in self._clients.pop(loop, {}).values():
            await client.aclose()

    def limiter(self, provider: str, key_fingerprint: str) -> AimdLimiter:
        return self.limiters.get(provider, key_fingerprint)

    # -- one request, retried ------------------------------------------------------------
    async def request(self, spec: RequestSpec) -> Answer:
        limiter = self.limiter(spec.provider, spec.limiter_key)
        attempt = 0
        while True:
            retry_after: float | None = None
            async with limiter.slot() as ticket:
                started = self.clock()
                try:
                    status, headers, content = await self._send(spec)
                except UnsafeUrl as exc:
                    exc.provider = spec.provider
                    raise
                except httpx.TimeoutException:
                    error: ProviderError = ProviderTimeout(
                        f"The {spec.provider} endpoint did not answer in time.", provider=spec.provider
                    )
                except (httpx.TransportError, httpx.DecodingError) as exc:
                    error = transport_error(exc, spec.provider)
                else:
                    latency_ms = (self.clock() - started) * 1000
                    if 200 <= status < 300:
                        limiter.on_success()
                        return Answer(status, headers, content, latency_ms, attempt + 1)
                    if status == 429:
                        limiter.on_rate_limited(ticket)
                        retry_after = parse_retry_after(headers.get("retry-after"))
                    error = classify_status(status, content, spec)
                    if isinstance(error, RateLimited):
                        error.retry_after = retry_after
            await self.retry_or_raise(error, attempt, retry_after, spec, "provider attempt failed")
            attempt += 1

    async def retry_or_raise(
        self, error: Any, attempt: int, retry_after: float | None, spec: RequestSpec, what: str
    ) -> None:
        """After a failed attempt: waits before the next one, or raises ``error`` when there is
        none (not retryable, out of retries, or a Retry-After too long to hold a worker: the
        caller reschedules)."""
        logger.info(what, extra={"provider": spec.provider, "error": error.code, "attempt": attempt + 1})
        if not error.retryable or attempt >= self.retry.max_retries:
            raise error
        if retry_after is not None and retry_after > self.retry.retry_after_cap_seconds:
            raise error
        await self.sleep(retry_after if retry_after is not None else backoff_seconds(attempt, self.retry, self.rng))

    async def _send(self, spec: RequestSpec) -> tuple[int, httpx.Headers, bytes]:
        client = self.http(spec.guarded)
        cap = self.settings.max_response_bytes
        async with client.stream(spec.method, spec.url, headers=spec.headers, json=spec.json_body) as response:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise UpstreamError(f"The {spec.provider} answer is larger than {cap} bytes.", provider=spec.provider)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise UpstreamError(
                        f"The {spec.provider} answer is larger than {cap} bytes.", provider=spec.provider
                    )
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)


def transport_error(exc: Exception, provider: str) -> UpstreamError:
    """A connection-level failure; certificate failures are not worth retrying."""
    if _is_cert_failure(exc):
        error = UpstreamError(
            f"The {provider} endpoint's TLS certificate could not be verified for its hostname.", provider=provider
        )
        error.retryable = False
        return error
    return UpstreamError(f"Could not reach the {provider} endpoint.", provider=provider)


def _is_cert_failure(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def upstream_message(content: bytes, secrets: list[str]) -> str:
    """A short, redacted excerpt of the provider's own error message, for our message."""
    text = ""
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            text = str(error.get("message") or "")
        elif isinstance(error, str):
            text = error
        elif isinstance(body.get("message"), str):
            text = body["message"]
    elif body is None:
        text = content[:300].decode("utf-8", errors="replace")
    text = redact_text(" ".join(text.split()), secrets)[:300]
    return f": {text}" if text else ""


def classify_status(status: int, content: bytes, spec: RequestSpec) -> ProviderError:
    provider = spec.provider
    detail = upstream_message(content, spec.secrets)
    if status in (401, 403):
        return AuthError(
            f"The {provider} endpoint rejected the credentials ({status}){detail}",
            provider=provider,
            upstream_status=status,
        )
    if status == 429:
        return RateLimited(
            f"The {provider} endpoint is rate limiting us{detail}", provider=provider, upstream_status=429
        )
    if status == 402:
        return InsufficientCredits(
            f"The {provider} account has insufficient credits{detail}", provider=provider, upstream_status=402
        )
    if 300 <= status < 400:
        redirect = UpstreamError(
            f"The {provider} endpoint answered with a redirect ({status}); redirects are not followed.",
            provider=provider,
            upstream_status=status,
        )
        redirect.retryable = False  # the same request would redirect again
        return redirect
    if status == 408:
        return ProviderTimeout(
            f"The {provider} endpoint timed out (408){detail}", provider=provider, upstream_status=408
        )
    if 400 <= status < 500:
        return BadRequest(
            f"The {provider} endpoint refused the request ({status}){detail}", provider=provider, upstream_status=status
        )
    return UpstreamError(
        f"The {provider} endpoint failed ({status}){detail}", provider=provider, upstream_status=status
    )


# -- streaming --------------------------------------------------------------------------------
class StreamingAnswer:
    """A 2xx provider answer whose body is server-sent events, read as they arrive.

    ``events()`` yields each ``data:`` payload decoded from JSON, until ``data: [DONE]`` or
    the end of the body; ``aclose()`` closes the connection (also mid-stream). The body is
    capped like a buffered answer (``max_response_bytes``)."""

    def __init__(self, response: httpx.Response, provider: str, cap: int, latency_ms: float, attempts: int) -> None:
        self.response = response
        self.provider = provider
        self.cap = cap
        self.latency_ms = latency_ms  # time to the response headers
        self.attempts = attempts
        self.headers = response.headers

    async def events(self) -> Any:
        size = 0
        data: list[str] = []
        try:
            async for line in self.response.aiter_lines():
                size += len(line) + 1
                if size > self.cap:
                    raise UpstreamError(
                        f"The {self.provider} stream is larger than {self.cap} bytes.", provider=self.provider
                    )
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                    continue
                if line or not data:
                    continue  # comments (": keep-alive"), event names, or a blank line without data
                payload, data = "\n".join(data), []
                if payload == "[DONE]":
                    return
                try:
                    yield json.loads(payload)
                except ValueError as exc:
                    raise UpstreamError(
                        f"The {self.provider} stream sent an event that is not JSON.", provider=self.provider
                    ) from exc
            if data and data[0] != "[DONE]":
                yield json.loads("\n".join(data))
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"The {self.provider} stream stalled.", provider=self.provider) from exc
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise transport_error(exc, self.provider) from exc

    async def aclose(self) -> None:
        await self.response.aclose()


async def open_stream(client: ProviderClient, spec: RequestSpec) -> StreamingAnswer:
    """Sends ``spec`` and returns once the provider answered 2xx with its headers (the body
    unread), retrying like :meth:`ProviderClient.request` until then: a stream is only ever
    retried before its first byte. Holds an AIMD slot only while opening (a long stream does
    not starve the limiter; 429s still shrink it)."""
    limiter = client.limiter(spec.provider, spec.limiter_key)
    attempt = 0
    while True:
        retry_after: float | None = None
        async with limiter.slot() as ticket:
            started = client.clock()
            http = client.http(spec.guarded)
            try:
                request = http.build_request(spec.method, spec.url, headers=spec.headers, json=spec.json_body)
                response = await http.send(request, stream=True)
            except UnsafeUrl as exc:
                exc.provider = spec.provider
                raise
            except httpx.TimeoutException:
                error: ProviderError = ProviderTimeout(
                    f"The {spec.provider} endpoint did not answer in time.", provider=spec.provider
                )
            except (httpx.TransportError, httpx.DecodingError) as exc:
                error = transport_error(exc, spec.provider)
            else:
                status = response.status_code
                if 200 <= status < 300:
                    limiter.on_success()
                    latency_ms = (client.clock() - started) * 1000
                    return StreamingAnswer(
                        response, spec.provider, client.settings.max_response_bytes, latency_ms, attempt + 1
                    )
                try:
                    content = (await response.aread())[:65536]
                finally:
                    await response.aclose()
                if status == 429:
                    limiter.on_rate_limited(ticket)
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                error = classify_status(status, content, spec)
                if isinstance(error, RateLimited):
                    error.retry_after = retry_after
        await client.retry_or_raise(error, attempt, retry_after, spec, "provider stream attempt failed")
        attempt += 1
