"""The sandbox's fine-tuning emulation: an OpenAI-style fine-tuning API with toy jobs.

Served by the sandbox (``localcloud.sandbox.handler``) under ``/v1`` (point ``fine_tune.base_url`` at
``<sandbox>/v1``); every call needs ``Authorization: Bearer sk-…`` (keys starting
``sk-invalid`` are refused with 401):

- ``POST /v1/files`` (multipart: ``file``, ``purpose=fine-tune``): stores a chat-format JSONL
  file, checking every line like OpenAI does (``messages`` with a user and an assistant turn).
- ``POST /v1/fine_tuning/jobs`` ``{model, training_file, validation_file?, hyperparameters?,
  suffix?}``: the base ``model`` must be a sandbox toy.
- ``GET /v1/fine_tuning/jobs/{id}``: each read moves the job one state on, no clock involved:
  ``validating_files`` -> ``queued`` -> ``running`` -> ``succeeded`` (three polls). A job
  created while ``fail_next`` is set fails instead of succeeding, with a backend message.
- ``POST /v1/fine_tuning/jobs/{id}/cancel``; ``GET /v1/fine_tuning/jobs/{id}/events``.
- ``POST /v1/chat/completions``: base toys, and each tuned model ``sandbox/ft-<job>``. A tuned
  model answers a user message that is a training row's user message with that row's
  assistant message, exactly; anything else it answers like its base toy. So it is
  deterministically better than its base on the rows it was trained on, and no better
  elsewhere - a toy, and named as one.

Knobs: ``POST /_sandbox/fine_tune {"fail_next": n, "fail_message": "…"}``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from localcloud.sandbox.shapes import completion, content_text, last_user, tokens, truncate

# Mirrors OpenAI's terminal states; the poller in drgero.own_models.finetune reads these names.
STATES = ("validating_files", "queued", "running", "succeeded")
TERMINAL = ("succeeded", "failed", "cancelled")
CREATED_AT = 1_735_689_600
# What one trained token costs on the sandbox backend (USD), reported on finished jobs so the
# "backend-reported cost" path is exercised; a job with hyperparameters.report_cost = false
# reports none (the price x tokens path).
COST_PER_TOKEN = 0.000002


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    answers: dict[str, str]  # last user message -> assistant message
    tokens: int


@dataclass
class Job:
    id: str
    model: str
    training_file: str
    validation_file: str | None
    hyperparameters: dict[str, Any]
    suffix: str | None
    fail: str | None
    state_index: int = 0
    status: str = "validating_files"
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fine_tuned_model(self) -> str | None:
        return f"sandbox/ft-{self.id}" if self.status == "succeeded" else None


class FineTuneState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, Job] = {}
        self.fail_next = 0
        self.fail_message = "sandbox: training diverged (loss became NaN at step 12)"
        self.counter = 0

    def tuned(self, model: str) -> tuple[Job, StoredFile] | None:
        """The job and training file behind a tuned model id, if it is one that succeeded."""
        if not model.startswith("sandbox/ft-"):
            return None
        job = self.jobs.get(model.removeprefix("sandbox/ft-"))
        if job is None or job.status != "succeeded":
            return None
        return job, self.files[job.training_file]


def _words(text: str) -> int:
    return len(text.split())


def parse_training_file(content: bytes) -> tuple[dict[str, str], int]:
    """(answers by user message, toy tokens); ValueError naming the first bad line."""
    answers: dict[str, str] = {}
    total = 0
    for number, line in enumerate(content.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number} is not JSON: {exc.msg}") from exc
        messages = record.get("messages") if isinstance(record, dict) else None
        if not isinstance(messages, list) or not messages:
            raise ValueError(f"line {number}: 'messages' must be a non-empty list")
        roles = [m.get("role") for m in messages if isinstance(m, dict)]
        if len(roles) != len(messages) or "user" not in roles or roles[-1] != "assistant":
            raise ValueError(f"line {number}: needs a user message and ends with an assistant message")
        for message in messages:
            if not isinstance(message.get("content"), str):
                raise ValueError(f"line {number}: every message needs string content")
            total += _words(message["content"])
        user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        answers[user] = messages[-1]["content"]
    if not answers:
        raise ValueError("the file has no examples")
    return answers, total


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """``{field: (filename, bytes)}`` of a multipart/form-data body (stdlib email parser)."""
    if "multipart/form-data" not in content_type:
        raise ValueError("expected multipart/form-data")
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


def job_view(job: Job, files: dict[str, StoredFile]) -> dict[str, Any]:
    finished = job.status in TERMINAL
    trained = None
    cost = None
    if job.status == "succeeded":
        epochs = int(job.hyperparameters.get("n_epochs") or 1)
        trained = files[job.training_file].tokens * epochs
        if job.hyperparameters.get("report_cost", True) is not False:
            cost = round(trained * COST_PER_TOKEN, 10)
    view: dict[str, Any] = {
        "object": "fine_tuning.job",
        "id": job.id,
        "model": job.model,
        "created_at": CREATED_AT,
        "finished_at": CREATED_AT + 60 * job.state_index if finished else None,
        "fine_tuned_model": job.fine_tuned_model,
        "organization_id": "org-sandbox",
        "status": job.status,
        "training_file": job.training_file,
        "validation_file": job.validation_file,
        "hyperparameters": {"n_epochs": job.hyperparameters.get("n_epochs") or 1},
        "trained_tokens": trained,
        "result_files": [],
        "seed": 0,
        "suffix": job.suffix,
        "error": {"code": "training_failed", "message": job.fail, "param": None} if job.status == "failed" else None,
    }
    if cost is not None:
        view["estimated_cost_usd"] = cost  # Together-style cost field; OpenAI reports none
    return view


class FineTuneRoutes:
    """The routes, called by the sandbox's request handler (``handler`` gives ``_send``,
    ``_error``, ``_payload``, ``headers``)."""

    def __init__(self, state: FineTuneState, base_answer: Any) -> None:
        self.state = state
        # toy id -> callable(text) -> answer; the sandbox's toys
        self.base_answer = base_answer

    def control(self, handler: Any, body: dict[str, Any]) -> None:
        with self.state.lock:
            if "fail_next" in body:
                self.state.fail_next = int(body["fail_next"])
            if "fail_message" in body:
                self.state.fail_message = str(body["fail_message"])
            return handler._send(200, {"fail_next": self.state.fail_next})

    def route(self, handler: Any, method: str, path: str) -> bool:
        """Serves ``/v1…``; False when the path is not one of ours."""
        if not path.startswith("/v1/"):
            return False
        key = handler._bearer()
        if not key.startswith("sk-") or key.startswith("sk-invalid"):
            handler._error(401, "sandbox: invalid API key for the fine-tuning backend")
            return True
        rest = path.removeprefix("/v1")
        if rest == "/files" and method == "POST":
            self._upload(handler)
        elif rest == "/fine_tuning/jobs" and method == "POST":
            self._create(handler)
        elif rest.startswith("/fine_tuning/jobs/"):
            self._job(handler, method, rest.removeprefix("/fine_tuning/jobs/"))
        elif rest == "/chat/completions" and method == "POST":
            self._chat(handler)
        else:
            handler._error(404, f"sandbox: no route {method} {path}")
        return True

    def _upload(self, handler: Any) -> None:
        fields = parse_multipart(handler.headers.get("Content-Type") or "", handler._payload)
        if "file" not in fields:
            return handler._error(400, "sandbox: the 'file' field is required")
        purpose = (fields.get("purpose") or (None, b"fine-tune"))[1].decode()
        if purpose != "fine-tune":
            return handler._error(400, f"sandbox: purpose must be 'fine-tune', not {purpose!r}")
        filename, content = fields["file"]
        try:
            answers, tokens = parse_training_file(content)
        except (ValueError, UnicodeDecodeError) as exc:
            return handler._error(400, f"sandbox: invalid training file: {exc}")
        file_id = "file-" + hashlib.sha256(content).hexdigest()[:24]
        with self.state.lock:
            self.state.files[file_id] = StoredFile(
                file_id, filename or "upload.jsonl", purpose, content, answers, tokens
            )
        handler._send(
            200,
            {
                "object": "file",
                "id": file_id,
                "bytes": len(content),
                "created_at": CREATED_AT,
                "filename": filename,
                "purpose": purpose,
            },
        )

    def _create(self, handler: Any) -> None:
        body = handler._body()
        model = str(body.get("model") or "")
        if model not in self.base_answer:
            return handler._error(400, f"sandbox: model {model!r} is not available for fine-tuning")
        training = body.get("training_file")
        validation = body.get("validation_file")
        hyper = body.get("hyperparameters") or {}
        if not isinstance(hyper, dict):
            return handler._error(400, "sandbox: hyperparameters must be an object")
        with self.state.lock:
            if training not in self.state.files:
                return handler._error(400, f"sandbox: no file {training!r}")
            if validation is not None and validation not in self.state.files:
                return handler._error(400, f"sandbox: no file {validation!r}")
            self.state.counter += 1
            job_id = f"ftjob-sandbox{self.state.counter:06d}"
            fail = None
            if self.state.fail_next > 0:
                self.state.fail_next -= 1
                fail = self.state.fail_message
            job = Job(job_id, model, training, validation, hyper, body.get("suffix"), fail)
            job.events.append({"object": "fine_tuning.job.event", "level": "info", "message": "Validating files"})
            self.state.jobs[job_id] = job
            return handler._send(200, job_view(job, self.state.files))

    def _job(self, handler: Any, method: str, rest: str) -> None:
        job_id, _, action = rest.partition("/")
        with self.state.lock:
            job = self.state.jobs.get(job_id)
            if job is None:
                return handler._error(404, f"sandbox: no fine-tuning job {job_id!r}")
            if method == "GET" and action == "":
                self._advance(job)
                return handler._send(200, job_view(job, self.state.files))
            if method == "GET" and action == "events":
                return handler._send(200, {"object": "list", "data": list(reversed(job.events)), "has_more": False})
            if method == "POST" and action == "cancel":
                if job.status in ("succeeded", "failed"):
                    return handler._error(400, f"sandbox: job {job_id} has already {job.status}")
                job.status = "cancelled"
                job.events.append({"object": "fine_tuning.job.event", "level": "info", "message": "Job cancelled"})
                return handler._send(200, job_view(job, self.state.files))
        handler._error(404, f"sandbox: no route {method} /v1/fine_tuning/jobs/{rest}")

    def _advance(self, job: Job) -> None:
        """One read, one state on (deterministic: no clock)."""
        if job.status in TERMINAL:
            return
        job.state_index += 1
        if job.state_index >= len(STATES) - 1 and job.fail:
            job.status = "failed"
            job.events.append({"object": "fine_tuning.job.event", "level": "error", "message": job.fail})
            return
        job.status = STATES[min(job.state_index, len(STATES) - 1)]
        job.events.append({"object": "fine_tuning.job.event", "level": "info", "message": f"Job {job.status}"})

    def _chat(self, handler: Any) -> None:
        body = handler._body()
        model = str(body.get("model") or "")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return handler._error(400, "sandbox: messages must be a non-empty list")
        text = last_user(messages)
        with self.state.lock:
            tuned = self.state.tuned(model)
        if tuned is not None:
            job, training = tuned
            answer = training.answers.get(text)
            output = answer if answer is not None else self.base_answer[job.model](text)
        elif model in self.base_answer:
            output = self.base_answer[model](text)
        else:
            return handler._error(404, f"sandbox: the model {model!r} does not exist")
        output = truncate(output, body.get("max_tokens"))
        prompt_tokens = sum(tokens(content_text(m.get("content"))) for m in messages if isinstance(m, dict))
        handler._send(200, completion(model, text, output, prompt_tokens, tokens(output)))
