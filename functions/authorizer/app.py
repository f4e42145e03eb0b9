"""authorizer function: API Gateway REQUEST authorizer (drgero_/hpd_ tokens and user JWTs).

The logic lives in drgero.identity.authorizer; this handler only maps "no credential" to the
exact exception API Gateway turns into its 401. Kept lean for cold starts: no FastAPI, httpx
or huggingface_hub on this import path (tests/handler/test_authorizer.py checks).
"""

from aws_lambda_powertools import Logger

from drgero.core.aws import AwsClients
from drgero.core.settings import load_settings
from drgero.identity.authorizer import Authorizer, MissingCredential
from drgero.store.table import MetadataTable

logger = Logger()

settings = load_settings()
_clients = AwsClients(settings)
authorizer = Authorizer(settings, MetadataTable(_clients.dynamodb, settings.aws.table_name))


@logger.inject_lambda_context
def handler(event, context):
    try:
        return authorizer.authorize(event)
    except MissingCredential:
        # No credential at all: API Gateway answers 401 (its UNAUTHORIZED gateway response).
        raise Exception("Unauthorized") from None  # noqa: TRY002 - the exact message API Gateway expects
