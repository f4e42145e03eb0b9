"""The fine-tuning backend: the OpenAI-style fine-tuning API that OpenAI, Together and
Fireworks all speak (upload a file, create a job, read it, cancel it).

One backend per deployment (``settings.fine_tune``): its base URL and key are the operator's,
not user input, so calls go through a plain pooled httpx client (no SSRF guard; the same
reasoning as OpenRouter's base URL). Calls are retried with full-jitter backoff on 429, 5xx,
timeouts and connection errors (honouring a short ``Retry-After``); anything else surfaces
as a typed :class:`BackendError` whose message is the backend's own (with the key redacted).

Sync on purpose: a job needs a handful of calls, made from the API (FastAPI runs sync routes
in its thread pool) and from the sweeper; there is nothing to overlap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from drgero.core.settings import FineTuneSettings, Settings
from drgero.providers.retry import RetryConfig, backoff_seconds, parse_retry_after

if TYPE_CHECKING:
    from drgero.core.aws import AwsClients

MAX_ANSWER_BYTES = 1024 * 1024
_RETRY_AFTER_CAP = 10.0


class BackendError(Exception):
    """A refused or failed backend call. ``retryable``: a later attempt may succeed (5xx, 429,
    network); otherwise the backend refused the request itself (4xx)."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class BackendJob:
    """What Dr.Gero reads from a backend job (the rest is kept raw for the record)."""

    id: str
    status: str  # validating_files | queued | running | succeeded | failed | cancelled
    fine_tuned_model: str | None
    trained_tokens: int | None
    cost_usd: float | None
    error: str | None
    raw: dict[str, Any]

    @classmethod
    def parse(cls, data: Any) -> BackendJob:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(data.get("status"), str):
            raise BackendError("The fine-tuning backend answered without a job id and status.", retryable=True)
        error = data.get("error")
        message = None
        if isinstance(error, dict) and error.get("message"):
            message = str(error["message"])
        elif isinstance(error, str) and error:
            message = error
        tokens = data.get("trained_tokens")
        cost = data.get("estimated_cost_usd", data.get("cost_usd"))
        return cls(
            id=data["id"],
            status=_status(data["status"]),
            fine_tuned_model=data.get("fine_tuned_model") or data.get("output_model") or None,
            trained_tokens=int(tokens) if isinstance(tokens, int | float) and tokens >= 0 else None,
            cost_usd=float(cost) if isinstance(cost, int | float) and cost >= 0 else None,
            error=message[:2000] if message else None,
            raw=data,
        )


# Backends name a few states differently; Dr.Gero records OpenAI's names.
_ALIASES = {
    "pending": "queued",
    "completed": "succeeded",
    "cancel_requested": "running",
    "canceled": "cancelled",
    "error": "failed",
    "uploading": "running",
    "compressing": "running",
}


def _status(value: str) -> str:
    value = value.strip().lower()
    return _ALIASES.get(value, value)


Sleep = Callable[[float], None]


def with_backend_key(settings: Settings, clients: AwsClients) -> Settings:
    """``settings`` with the backend key in ``fine_tune.api_key``, called just before a backend
    is built. In AWS the functions get only the name of the Secrets Manager secret
    (``fine_tune.api_key_secret_name``): its value is read here, at the first backend call, and
    cached by ``clients.secrets`` (Powertools Parameters). Without a secret name, ``api_key`` is
    the key as configured (the local cloud sets its sandbox's key directly)."""
    name = settings.fine_tune.api_key_secret_name
    if not name:
        return settings
    key = str(clients.secrets.get(name))
    return settings.model_copy(update={"fine_tune": settings.fine_tune.model_copy(update={"api_key": key})})


class FineTuneBackend:
    def __init__(
        self,
        settings: FineTuneSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self.retry = RetryConfig(max_retries=settings.max_retries, backoff_base_seconds=0.25, backoff_cap_seconds=4.0)
        self.sleep = sleep
        self.http = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_seconds),
            transport=transport,
            follow_redirects=False,
            trust_env=False,
        )

    @property
    def inference_url(self) -> str:
        return self.settings.inference_url or f"{self.base_url}/chat/completions"

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ API
    def upload_file(self, filename: str, content: bytes) -> str:
        data = self._call(
            "POST", "/files", files={"file": (filename, content, "application/jsonl")}, data={"purpose": "fine-tune"}
        )
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise BackendError("The fine-tuning backend answered an upload without a file id.", retryable=True)
        return data["id"]

    def create_job(
        self,
        base_model: str,
        training_file: str,
        validation_file: str | None,
        hyperparameters: dict[str, Any],
        suffix: str,
    ) -> BackendJob:
        body: dict[str, Any] = {"model": base_model, "training_file": training_file, "suffix": suffix}
        if validation_file:
            body["validation_file"] = validation_file
        if hyperparameters:
            body["hyperparameters"] = hyperparameters
        return BackendJob.parse(self._call("POST", "/fine_tuning/jobs", json=body))

    def get_job(self, job_id: str) -> BackendJob:
        return BackendJob.parse(self._call("GET", f"/fine_tuning/jobs/{job_id}"))

    def cancel_job(self, job_id: str) -> BackendJob:
        return BackendJob.parse(self._call("POST", f"/fine_tuning/jobs/{job_id}/cancel"))

    # ------------------------------------------------------------------ plumbing
    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Accept": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        attempt = 0
        while True:
            answer, error, retry_after = self._attempt(method, path, headers, kwargs)
            if error is None:
                return answer
            self.sleep(self._retry_delay(error, attempt, retry_after))
            attempt += 1

    def _attempt(
        self, method: str, path: str, headers: dict[str, str], kwargs: dict[str, Any]
    ) -> tuple[Any, BackendError | None, float | None]:
        """One request: ``(answer, None, None)``, or ``(None, error, Retry-After)`` for the caller
        to retry or raise. A 2xx answer that cannot be used is raised at once (never retried)."""
        try:
            response = self.http.request(method, self.base_url + path, headers=headers, **kwargs)
        except httpx.TimeoutException:
            return None, BackendError("The fine-tuning backend did not answer in time.", retryable=True), None
        except httpx.TransportError as exc:
            message = f"The fine-tuning backend could not be reached ({type(exc).__name__})."
            return None, BackendError(message, retryable=True), None
        status = response.status_code
        if 200 <= status < 300:
            return self._answer(response), None, None
        retry_after = parse_retry_after(response.headers.get("retry-after")) if status == 429 else None
        error = BackendError(self._message(response), status=status, retryable=status == 429 or status >= 500)
        return None, error, retry_after

    def _retry_delay(self, error: BackendError, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before the next attempt; raises ``error`` when there is none."""
        if not error.retryable or attempt >= self.retry.max_retries:
            raise error
        delay = backoff_seconds(attempt, self.retry)
        if retry_after is not None:
            if retry_after > _RETRY_AFTER_CAP:
                raise error
            delay = retry_after
        return delay

    @staticmethod
    def _answer(response: httpx.Response) -> Any:
        if len(response.content) > MAX_ANSWER_BYTES:
            raise BackendError("The fine-tuning backend's answer is too large.", status=response.status_code)
        try:
            return response.json()
        except json.JSONDecodeError as exc:
            raise BackendError("The fine-tuning backend answered with invalid JSON.", retryable=True) from exc

    def _message(self, response: httpx.Response) -> str:
        """The backend's own error message (OpenAI shape ``{"error": {"message"}}``, else the
        text), short and with the key redacted: it is stored on the job and shown to users."""
        text = response.text[:2000]
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict) and error.get("message"):
                text = str(error["message"])
            elif isinstance(error, str):
                text = error
            elif body.get("message"):
                text = str(body["message"])
        key = self.settings.api_key
        if key:
            text = text.replace(key, "[redacted]")
        return f"{text[:1000]} (HTTP {response.status_code})"


# How job code gets a backend: tests pass their own factory to reach a sandbox or a fake.
BackendFactory = Callable[[Settings], FineTuneBackend]


def default_backend(settings: Settings) -> FineTuneBackend:
    return FineTuneBackend(settings.fine_tune)
