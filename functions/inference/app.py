"""inference function: production inference (filled in by the inference issue)."""

from aws_lambda_powertools import Logger

from drgero.errors import ApiError
from drgero.http import error_response

logger = Logger()


def handler(event, context):
    return error_response(ApiError(501, "not_implemented", "Production inference is not available yet."), event)
