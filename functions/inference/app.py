"""inference function: POST /v1/leaderboard/{id}/inference and POST /v1/chat/completions
(docs/inference.md).

Thin: the event becomes (principal, leaderboard, request), one domain call serves it, the
result becomes the route's answer (native or OpenAI-compatible, errors in the matching
shape). No web framework on this import path: it is the hot path. The service is built once
per cold start and keeps warm state across invocations: one event loop with pooled provider
connections, and a few seconds' cache of each leaderboard's production target.

Its routes have no API Gateway authorizer (docs/performance.md, "authorizer hop"): the caller
is decided here by the authorizer's own code (drgero.identity.authorizer) with its own token
cache (``auth.token_cache_seconds``, the revocation bound), saving a Lambda invoke per call.
"""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from drgero.api.inference_events import STREAM_KEY, authenticate, handle
from drgero.api.raw_events import error_response, finish
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.observability import logger, metrics, tracer
from drgero.core.settings import load_settings
from drgero.identity.authorizer import Authorizer
from drgero.inference.service import InferenceService

settings = load_settings()
_clients = AwsClients(settings)
service = InferenceService(settings, _clients)
# As in functions/authorizer: the HS256 session secret (JwtHs256SecretName) is read at the
# first HS256 session, cached by Powertools Parameters.
authorizer = Authorizer(settings, _clients.table, read_secret=lambda name: str(_clients.secrets.get(name)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event, context):
    """The buffered Lambda protocol (``sam local invoke``, a buffered integration): a streamed
    answer is read whole into the body."""
    answer = finish(event, _serve(event), settings)
    stream = answer.pop(STREAM_KEY, None)
    if stream is not None:
        answer["body"] = b"".join(stream).decode()
    return answer


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics(capture_cold_start_metric=True)
def stream_handler(event, context):
    """The streaming entry (functions/inference/asgi.py in AWS, the gateway emulation
    locally): a streamed answer keeps its body as a generator of bytes under ``STREAM_KEY``;
    the caller sends each piece as it comes and closes the generator when the client leaves
    (the call is then still settled and traced: drgero.inference.streaming)."""
    return finish(event, _serve(event), settings)


def _serve(event: dict) -> dict:
    # Who called, on this function's log lines: API Gateway's access log has no authorizer
    # context on these routes (no authorizer hop). Per line, not logger.append_keys: the
    # logger is shared by concurrent requests (the local gateway runs them in threads).
    who: dict = {}
    try:
        principal = authenticate(authorizer, event)
        who = {
            "credential_kind": principal.kind.value,
            "credential_id": principal.token_id or None,
            "user_id": principal.user_id or None,
            "workspace_id": principal.workspace_id,
        }
        answer, outcome = handle(event, service, principal)
    except ApiError as error:
        logger.info("inference refused", extra={"status": error.status, "code": error.code, **who})
        metrics.add_metric(name="InferenceRefused", unit=MetricUnit.Count, value=1)
        return error_response(error, event)
    except Exception:  # noqa: BLE001 - an unexpected failure still answers in the route's error shape
        logger.exception("inference failed", extra=who)
        metrics.add_metric(name="InferenceErrors", unit=MetricUnit.Count, value=1)
        internal = ApiError(500, "internal_error", "Something went wrong on our side; retry the request.")
        return error_response(internal, event)
    metrics.add_metric(name="InferenceCalls", unit=MetricUnit.Count, value=1)
    if outcome is None:  # a stream: opened here, settled and traced when it ends
        logger.info("inference stream opened", extra=who)
        return answer
    # The operations dashboard's latency percentiles and spend per hour (docs/operations.md).
    metrics.add_metric(name="InferenceLatencyMs", unit=MetricUnit.Milliseconds, value=outcome.latency_ms)
    if outcome.cost_usd:
        metrics.add_metric(name="SpendUsd", unit=MetricUnit.NoUnit, value=outcome.cost_usd)
    if outcome.fallback_from:
        metrics.add_metric(name="InferenceFallbacks", unit=MetricUnit.Count, value=1)
    logger.info(
        "inference served",
        extra={
            "trace_id": outcome.trace_id,
            "model_id": outcome.model.model_id,
            "latency_ms": outcome.latency_ms,
            **who,
        },
    )
    return answer
