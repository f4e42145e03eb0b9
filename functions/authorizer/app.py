"""authorizer function: API Gateway REQUEST authorizer. (Identity issue fills in the checks.)"""

from aws_lambda_powertools import Logger

logger = Logger()


def handler(event, context):
    # No credential: API Gateway answers 401 (UNAUTHORIZED gateway response).
    raise Exception("Unauthorized")  # noqa: TRY002 - the exact message API Gateway expects
