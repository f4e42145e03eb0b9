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
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

# The root of every domain logger's name (drgero.runs, drgero.inference.service, ...).
DOMAIN_LOGGER = "drgero"

logger = Logger()
metrics = Metrics()

# Registered before the copy: copy_config_to_registered_loggers only configures loggers that
# exist, and children created later (lazily imported modules) inherit through propagation.
logging.getLogger(DOMAIN_LOGGER)
copy_config_to_registered_loggers(source_logger=logger, include={DOMAIN_LOGGER})


def __getattr__(name: str) -> Any:
    # Cold start: ``tracer`` is built when a handler first imports it, not with this module.
    # Tracer() loads the X-Ray SDK and patches every library it supports (boto3, httpx, ...):
    # hundreds of milliseconds that the authorizer and the sweeper, which trace nothing, must
    # not pay for importing ``logger``.
    if name == "tracer":
        tracer = Tracer()
        globals()["tracer"] = tracer
        return tracer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


tracer: Tracer  # for type checkers; the value comes from __getattr__ above
