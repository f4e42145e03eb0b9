"""Traces: JSON records of runs, inference calls, dataset events and manual events.

Producers build a ``Trace``, apply the leaderboard's ``redact(trace, policy)`` and call
``sink.emit(trace)`` on a ``QueueSink`` (no S3 round trip on their path). The trace_writer
function stores what the queue delivers with ``TraceStore.write`` (S3 object + index).
See docs/traces.md. Modules, one job each:

- ``model``: the trace record and its kinds.
- ``scrub`` / ``redaction``: secrets removed always; inputs and outputs redacted per leaderboard.
- ``sink``: how producers emit a trace (to the traces queue).
- ``store``: the trace writer's storage (S3 object + index items) and reading one back.
- ``listing``: listing traces by leaderboard, kind and time.
- ``manual``: manual events recorded through ``POST /api/traces``.
- ``links``: trace links shown elsewhere (``traces_url``).
"""

from drgero.traces.links import trace_url, traces_url
from drgero.traces.model import ModelInfo, Trace, TraceKind, TraceStatus, Usage, new_trace_id
from drgero.traces.redaction import KEEP_ALL, RedactionPolicy, redact
from drgero.traces.scrub import scrub
from drgero.traces.sink import DirectSink, QueueSink, TraceEmitError, TraceSink
from drgero.traces.store import TraceStore

__all__ = [
    "KEEP_ALL",
    "DirectSink",
    "ModelInfo",
    "QueueSink",
    "RedactionPolicy",
    "Trace",
    "TraceEmitError",
    "TraceKind",
    "TraceSink",
    "TraceStatus",
    "TraceStore",
    "Usage",
    "new_trace_id",
    "redact",
    "scrub",
    "trace_url",
    "traces_url",
]
