"""AWS clients, built once per process by handlers and passed into the domain.

Only the endpoint differs between AWS and the local cloud: boto3 reads
``AWS_ENDPOINT_URL`` itself, and ``settings.aws.endpoint_url`` overrides it when set.
Clients are created lazily so a function only pays for the services it touches.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from drgero.settings import Settings

if TYPE_CHECKING:
    import boto3


class AwsClients:
    def __init__(self, settings: Settings, session: boto3.session.Session | None = None) -> None:
        self.settings = settings
        self._session = session

    def _client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        session = self._session or boto3.session.Session()
        return session.client(
            service,
            region_name=self.settings.aws.region,
            endpoint_url=self.settings.aws.endpoint_url or None,
            config=Config(retries={"mode": "standard", "max_attempts": 4}, tcp_keepalive=True),
        )

    @cached_property
    def dynamodb(self) -> Any:
        return self._client("dynamodb")

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
