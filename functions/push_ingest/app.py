"""push_ingest function: dataset push webhook (filled in by the datasets issue)."""

from aws_lambda_powertools import Logger

from drgero.errors import ApiError
from drgero.http import error_response

logger = Logger()


def handler(event, context):
    return error_response(ApiError(501, "not_implemented", "Dataset push is not available yet."), event)
