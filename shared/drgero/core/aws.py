"""AWS clients, built once per process by handlers and passed into the domain.

Only the endpoint differs between AWS and the local cloud: boto3 reads
``AWS_ENDPOINT_URL`` itself, and ``settings.aws.endpoint_url`` overrides it when set.
Clients are created lazily so a function only pays for the services it touches.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from drgero.core.settings import Settings

if TYPE_CHECKING:
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from drgero.store.table import MetadataTable

# One boto3 session per process: a session loads each service's model from disk once, so
# the second and later clients cost milliseconds instead of ~100 ms each. Sessions are not
# thread-safe while creating clients (the local cloud runs handlers on threads), hence the lock;
# the clients themselves are thread-safe.
_shared_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def _process_session() -> boto3.session.Session:
    global _shared_session
    if _shared_session is None:
        # Cold start: boto3 (~200 ms) loads with the first client, not at import; the sweeper
        # function imports no table code and pays for it only when a job runs.
        import boto3

        _shared_session = boto3.session.Session()
    return _shared_session


class AwsClients:
    def __init__(self, settings: Settings, session: boto3.session.Session | None = None) -> None:
        self.settings = settings
        self._session = session
        self._table: MetadataTable | None = None

    def _client(self, service: str) -> Any:
        from botocore.config import Config  # Cold start: with boto3, at the first client (above).

        with _session_lock:
            session = self._session or _process_session()
            return session.client(
                service,
                region_name=self.settings.aws.region,
                endpoint_url=self.settings.aws.endpoint_url or None,
                config=Config(retries={"mode": "standard", "max_attempts": 4}, tcp_keepalive=True),
            )

    @cached_property
    def dynamodb(self) -> Any:
        return self._client("dynamodb")

    @property
    def table(self) -> MetadataTable:
        """The metadata table: the one way domain code reaches DynamoDB. Built once per
        DynamoDB client: tests and benchmarks wrap ``dynamodb`` after the fact, and the table
        must follow the client it is given rather than keep the one it was built on."""
        dynamodb = self.dynamodb
        if self._table is None or self._table.client is not dynamodb:
            # Imported here: the table wrapper loads boto3's type serializer, which a function
            # that never touches the table should not pay for at import.
            from drgero.store.table import MetadataTable

            self._table = MetadataTable(dynamodb, self.settings.aws.table_name)
        return self._table

    @cached_property
    def s3(self) -> Any:
        return self._client("s3")

    @cached_property
    def sqs(self) -> Any:
        return self._client("sqs")

    @cached_property
    def kms(self) -> Any:
        return self._client("kms")

    @cached_property
    def scheduler(self) -> Any:
        return self._client("scheduler")

    @cached_property
    def secrets(self) -> SecretsProvider:
        """Secrets Manager through Powertools Parameters: a value is read once and cached in
        this process (``POWERTOOLS_PARAMETERS_MAX_AGE``, 5 minutes by default), so a rotated
        secret reaches a warm function within that time."""
        # Cold start: Parameters is imported by the few paths that read a secret, not by every
        # function that builds clients.
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        return SecretsProvider(boto3_client=self._client("secretsmanager"))
