"""api function: the FastAPI app (through Mangum) for /api/* and the /v1 management routes."""

from aws_lambda_powertools.logging import correlation_paths
from mangum import Mangum

from drgero.api.app import create_app
from drgero.api.dashboard import dashboard_answer
from drgero.api.raw_events import finish, preflight_answer, too_deep_answer
from drgero.core.aws import AwsClients
from drgero.core.observability import logger, metrics, tracer
from drgero.core.settings import load_settings

settings = load_settings()
app = create_app(settings, AwsClients(settings), lazy=True)  # routers load on first use (cold start)
_asgi = Mangum(app, lifespan="off")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event, context):
    # Answered here, off the web framework: the dashboard's static files, CORS preflights
    # (OPTIONS without credentials), and bodies nested too deep to parse safely (api.max_json_depth).
    response = (
        dashboard_answer(event, settings)
        or preflight_answer(event, settings)
        or too_deep_answer(event, settings)
        or _asgi(event, context)
    )
    return finish(event, response, settings)
