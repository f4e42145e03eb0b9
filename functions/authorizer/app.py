"""authorizer function: API Gateway REQUEST authorizer (drgero_/hpd_ tokens and user JWTs).

The logic lives in drgero.identity.authorizer; this handler only maps "no credential" to the
exact exception API Gateway turns into its 401. Kept lean for cold starts: no FastAPI, httpx
or huggingface_hub on this import path (tests/handler/test_authorizer.py checks).
"""

from aws_lambda_powertools.logging import correlation_paths

from drgero.core.aws import AwsClients
from drgero.core.observability import logger
from drgero.core.settings import load_settings
from drgero.identity.authorizer import Authorizer, MissingCredential

settings = load_settings()
_clients = AwsClients(settings)
# The HS256 session secret comes from Secrets Manager (JwtHs256SecretName), read at the first
# HS256 session and cached by Powertools Parameters; Parameters loads only then (cold start).
authorizer = Authorizer(settings, _clients.table, read_secret=lambda name: str(_clients.secrets.get(name)))


# A REQUEST authorizer event carries the request's requestContext: its lines share the
# correlation id of the function that serves the request.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event, context):
    try:
        return authorizer.authorize(event)
    except MissingCredential:
        # No credential at all: API Gateway answers 401 (its UNAUTHORIZED gateway response).
        raise Exception("Unauthorized") from None  # noqa: TRY002 - the exact message API Gateway expects
