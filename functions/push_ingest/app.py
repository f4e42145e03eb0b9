"""push_ingest function: POST /v1/leaderboard/{id}/dataset/push (docs/datasets.md).

Thin: the event becomes (principal, leaderboard id, raw body, Idempotency-Key), one domain call
accepts the request whole or refuses it, the result becomes a 202 or the contract's error.
No web framework on this import path: it is the hot path apps call on every event.
"""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from drgero.api.raw_events import error_response, finish, header, json_response, raw_body
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.observability import logger, metrics, tracer
from drgero.core.settings import load_settings
from drgero.datasets.push import Pusher
from drgero.identity.principal import Principal

settings = load_settings()
pusher = Pusher(settings, AwsClients(settings))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event, context):
    return finish(event, _serve(event, context), settings)


def _serve(event: dict, context) -> dict:
    try:
        principal = Principal.from_context((event.get("requestContext") or {}).get("authorizer"))
        leaderboard_id = str((event.get("pathParameters") or {}).get("id") or "")
        result = pusher.push(
            principal,
            leaderboard_id,
            raw_body(event),
            idempotency_key=header(event, "Idempotency-Key"),
            lambda_context=context,
        )
    except ApiError as error:
        logger.info("push refused", extra={"status": error.status, "code": error.code})
        metrics.add_metric(name="PushRefused", unit=MetricUnit.Count, value=1)
        return error_response(error, event)
    metrics.add_metric(name="PushRowsAccepted", unit=MetricUnit.Count, value=result.accepted)
    logger.info("push accepted", extra={"batch_id": result.batch_id, "rows": result.accepted})
    return json_response(202, result.body())
