"""How producers record traces: ``sink.emit(trace)``.

Producers (inference, runs, datasets, fine-tunes) depend on the ``TraceSink`` protocol only.

- ``QueueSink`` (the default everywhere but the trace writer) sends the trace to the traces
  SQS queue: one small SQS call, no S3 round trip on the caller's path. ``emit_many`` and
  ``buffer()`` pack up to 10 traces per ``SendMessageBatch`` for callers that emit many (runs).
  The trace_writer function stores what arrives (S3 + index).
- ``DirectSink`` stores synchronously through ``TraceStore`` (the writer itself, the manual
  traces route, tests).

Every sink scrubs secrets before a trace leaves the process, and the store scrubs again
before writing (defense in depth). Redaction is the producer's job (``redact(trace, policy)``)
because only the producer knows the leaderboard's policy.

A trace too large for one queue message has its input, output and metadata shortened (the
trace lists them in ``truncated``) rather than being dropped.

If SQS refuses a trace after botocore's own retries, ``TraceEmitError`` is raised: the caller
decides whether a missing trace may fail its request (the inference path logs and carries on).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from drgero.core import queues
from drgero.traces.model import Trace
from drgero.traces.scrub import scrub
from drgero.traces.store import TraceStore

SQS_BATCH_MAX_ENTRIES = queues.MAX_BATCH_ENTRIES
# SQS's limit for one message and for a whole batch request is 256 KiB.
SQS_BATCH_MAX_BYTES = 256 * 1024
_PREVIEW_CHARS = 2000


class TraceEmitError(Exception):
    """Some traces could not be handed to the queue; ``trace_ids`` names them."""

    def __init__(self, message: str, trace_ids: list[str]) -> None:
        super().__init__(message)
        self.trace_ids = trace_ids


class TraceSink(Protocol):
    def emit(self, trace: Trace) -> None: ...

    def emit_many(self, traces: Iterable[Trace]) -> None: ...


def fit_message(trace: Trace, max_bytes: int) -> str:
    """The trace's JSON, with its large free-form fields shortened until it fits ``max_bytes``."""
    body = trace.to_json()
    if len(body.encode()) <= max_bytes:
        return body
    update: dict[str, Any] = {}
    truncated = list(trace.truncated)
    for field in ("input", "output", "metadata"):
        value = getattr(trace, field)
        if value in (None, {}, ""):
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        preview = text[:_PREVIEW_CHARS]
        update[field] = {"preview": preview} if field == "metadata" else preview
        truncated.append(field)
        body = trace.model_copy(update={**update, "truncated": truncated}).to_json()
        if len(body.encode()) <= max_bytes:
            return body
    raise TraceEmitError(f"trace {trace.id} does not fit in a queue message", [trace.id])


class QueueSink:
    """Sends traces to the traces queue (consumed by the trace_writer function)."""

    def __init__(self, sqs_client: Any, queue_url: str, max_message_bytes: int = SQS_BATCH_MAX_BYTES) -> None:
        if not queue_url:
            raise ValueError("QueueSink needs the traces queue URL (settings.aws.traces_queue_url)")
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.max_message_bytes = min(max_message_bytes, SQS_BATCH_MAX_BYTES)

    @classmethod
    def from_clients(cls, settings: Any, clients: Any) -> QueueSink:
        return cls(clients.sqs, settings.aws.traces_queue_url, settings.limits.trace_max_message_bytes)

    def emit(self, trace: Trace) -> None:
        body = fit_message(scrub(trace), self.max_message_bytes)
        try:
            queues.send(self.sqs, self.queue_url, body)
        except Exception as error:  # noqa: BLE001 - any client failure becomes one typed error for the caller
            raise TraceEmitError(f"could not queue trace {trace.id}: {error}", [trace.id]) from error

    def emit_many(self, traces: Iterable[Trace]) -> None:
        batch: list[tuple[str, str]] = []
        batch_bytes = 0
        failed: list[str] = []
        for trace in traces:
            body = fit_message(scrub(trace), self.max_message_bytes)
            size = len(body.encode())
            if batch and (len(batch) == SQS_BATCH_MAX_ENTRIES or batch_bytes + size > SQS_BATCH_MAX_BYTES):
                failed += self._send_batch(batch)
                batch, batch_bytes = [], 0
            batch.append((trace.id, body))
            batch_bytes += size
        if batch:
            failed += self._send_batch(batch)
        if failed:
            raise TraceEmitError(f"could not queue {len(failed)} trace(s)", failed)

    def _send_batch(self, batch: list[tuple[str, str]]) -> list[str]:
        """Sends one batch; entries SQS rejects are retried once. Returns the ids still failing."""
        # A failed request is retried once too, then reported: the caller decides what to do.
        failed = queues.send_batch(
            self.sqs, self.queue_url, [body for _id, body in batch], attempts=2, retry_request_errors=True
        )
        return [batch[index][0] for index in failed]

    @contextmanager
    def buffer(self) -> Iterator[TraceBuffer]:
        """Collects traces and sends them in batches of 10, the rest when the block ends."""
        buffer = TraceBuffer(self)
        try:
            yield buffer
        finally:
            buffer.flush()


class TraceBuffer:
    def __init__(self, sink: QueueSink) -> None:
        self.sink = sink
        self._pending: list[Trace] = []

    def emit(self, trace: Trace) -> None:
        self._pending.append(trace)
        if len(self._pending) >= SQS_BATCH_MAX_ENTRIES:
            self.flush()

    def emit_many(self, traces: Iterable[Trace]) -> None:
        for trace in traces:
            self.emit(trace)

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            self.sink.emit_many(pending)


class DirectSink:
    """Stores traces synchronously (S3 + index) through a TraceStore."""

    def __init__(self, store: TraceStore) -> None:
        self.store = store

    def emit(self, trace: Trace) -> None:
        self.store.write(trace)

    def emit_many(self, traces: Iterable[Trace]) -> None:
        for trace in traces:
            self.store.write(trace)
