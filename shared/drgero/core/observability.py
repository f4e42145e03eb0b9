"""The Powertools logger, tracer and metrics every function shares (functions/*/app.py import
them from here; no handler builds its own).

Where their settings come from: the service name is ``POWERTOOLS_SERVICE_NAME`` (one per
function, in template.yaml), the metrics namespace ``POWERTOOLS_METRICS_NAMESPACE`` and the
log level ``POWERTOOLS_LOG_LEVEL`` (template.yaml Globals, the ``LogLevel`` parameter). The
local cloud gives each function the same environment, so nothing here differs by place.

Domain logging: the domain logs with the standard library (``logging.getLogger(__name__)``,
every name under ``drgero``) and never imports Powertools. Importing this module gives the
``drgero`` logger the Powertools handler, JSON formatter and level
(``copy_config_to_registered_loggers``), so every domain line, from modules imported before
or after, comes out as the function's own lines do: structured JSON with its ``extra`` fields,
the Lambda context and the correlation id the handler's ``inject_lambda_context`` set; and at
the function's log level, where the Lambda runtime's root logger would drop INFO. The
``drgero`` logger stops propagating to the root logger (Powertools does so: in Lambda the
root logger's handler would print every line a second time, as plain text).

In the local cloud all functions share one process, hence one logger: its ``service`` key is
the first function imported; ``function_name`` (from the Lambda context) names the function
of each line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

# The root of every domain logger's name (drgero.runs, drgero.inference.service, ...).
DOMAIN_LOGGER = "drgero"

logger = Logger()
metrics = Metrics()

# Registered before the copy: copy_config_to_registered_loggers only configures loggers that
# exist, and children created later (lazily imported modules) inherit through propagation.
logging.getLogger(DOMAIN_LOGGER)
copy_config_to_registered_loggers(source_logger=logger, include={DOMAIN_LOGGER})


def count_outcome(metric_name: str, status: str) -> None:
    """One count of ``metric_name`` with the outcome as its ``status`` dimension, flushed at
    once. Not ``metrics.add_metric``: the records of one SQS batch can end differently, and the
    dimensions added to ``metrics`` are shared by every metric the invocation flushes; and one
    fixed name with a dimension, never names built from data."""
    with single_metric(name=metric_name, unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as metric:
        metric.add_dimension(name="status", value=status)


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process traces: Powertools' own rule (``Tracer._is_tracer_disabled``), read
    without importing the X-Ray SDK. Off when ``POWERTOOLS_TRACE_DISABLED`` is truthy, outside
    Lambda (no ``LAMBDA_TASK_ROOT``: tests, the local cloud, benchmarks) and under ``sam
    local`` or chalice; on in AWS, where the template's ``Tracing: Active`` sends the segments."""
    env = os.environ if environ is None else environ
    if env.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in _TRUTHY:
        return False
    in_lambda = bool(env.get("LAMBDA_TASK_ROOT"))
    emulated = bool(env.get("AWS_SAM_LOCAL") or env.get("AWS_CHALICE_CLI_MODE"))
    return in_lambda and not emulated


_TRUTHY = {"1", "y", "yes", "t", "true", "on"}  # Powertools' strtobool


class _OffTracer:
    """The tracer where tracing is off: the decorators the handlers use return the function
    unchanged. Powertools' Tracer, even disabled, imports the X-Ray SDK (about 200 ms of every
    cold start) and wraps every call in a dummy segment; nothing would be sent anyway."""

    disabled = True

    def capture_lambda_handler(self, lambda_handler: Any = None, **_options: Any) -> Any:
        return lambda_handler if lambda_handler is not None else (lambda fn: fn)

    def capture_method(self, method: Any = None, **_options: Any) -> Any:
        return method if method is not None else (lambda fn: fn)

    def put_annotation(self, key: str, value: Any) -> None:
        """Nothing to annotate: no segment exists."""

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        """Nothing to annotate: no segment exists."""


def __getattr__(name: str) -> Any:
    # Cold start: ``tracer`` is built when a handler first imports it, not with this module.
    # Tracer() loads the X-Ray SDK and patches every library it supports (boto3, httpx, ...):
    # hundreds of milliseconds that the authorizer and the sweeper, which trace nothing, must
    # not pay for importing ``logger``; and where tracing is off no function pays it.
    if name == "tracer":
        if tracing_enabled():
            from aws_lambda_powertools import Tracer

            tracer: Any = Tracer()
        else:
            tracer = _OffTracer()
        globals()["tracer"] = tracer
        return tracer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


tracer: Tracer  # for type checkers; the value comes from __getattr__ above
