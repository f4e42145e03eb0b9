"""Shared fixtures.

``aws``: moto's in-process mock with every resource of template.yaml created, plus the
Settings and AwsClients a handler would get, and a FunctionRuntime that invokes the real
handlers with their template environment. No network, no state shared between tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import boto3
import pytest

# Fake credentials for the embedded AWS; set before anything builds a client.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_METRICS_NAMESPACE="DrGeroTest",
    POWERTOOLS_DEV="false",
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("DRGERO_CONFIG", None)

from drgero.core.aws import AwsClients  # noqa: E402
from drgero.core.settings import Settings  # noqa: E402
from localcloud.functions import FunctionRuntime  # noqa: E402
from localcloud.moto_atomic import install as install_moto_atomicity  # noqa: E402
from localcloud.resources import CreatedResources, create_resources  # noqa: E402
from localcloud.template import Template  # noqa: E402
from tests.support.secret_scan import pytest_runtest_makereport  # noqa: E402,F401 - suite-wide secret scan
from tests.support.settings import TEST_ENV, settings_from_env  # noqa: E402


@pytest.fixture(scope="session")
def template() -> Template:
    return Template.load()


@dataclass
class AwsEnv:
    template: Template
    created: CreatedResources
    settings: Settings
    clients: AwsClients
    functions: FunctionRuntime


def _cache_moto_kms_key_material() -> None:
    """Test-only speed-up: moto generates a fresh RSA private key for every KMS key it creates
    (~0.5 s each, one per test). Our code never uses that key material (symmetric
    Encrypt/Decrypt only), so tests reuse one generated key per key spec."""
    import functools

    import moto.kms.models as kms_models

    if not hasattr(kms_models.generate_private_key, "cache_info"):
        kms_models.generate_private_key = functools.lru_cache(maxsize=None)(kms_models.generate_private_key)


_cache_moto_kms_key_material()
# The in-process moto keeps AWS's per-request atomicity, exactly as the local cloud's does.
install_moto_atomicity()
# One boto3 session for creating test resources: it loads each service model once.
_RESOURCE_SESSION = boto3.session.Session()


@pytest.fixture
def aws(template: Template):
    from moto import mock_aws

    with mock_aws():
        created = create_resources(_RESOURCE_SESSION, template, None, "us-east-1")
        functions = FunctionRuntime(template, created, extra_env=dict(TEST_ENV))
        env = functions.environment("ApiFunction")
        settings = settings_from_env(env)
        yield AwsEnv(template, created, settings, AwsClients(settings), functions)


@pytest.fixture(scope="module")
def local_cloud():
    """The whole local cloud on free loopback ports, for one test module (tests that use it
    should be marked ``slow``). It is a ``localcloud.cloud.LocalCloud``: ``api_url``,
    ``functions`` (the FunctionRuntime), ``client("sqs")`` (boto3 clients to the embedded
    AWS), ``clock`` (a ManualClock: ``clock.advance(60)`` then ``scheduler.tick()``),
    ``override(function, handler)`` (a test double for one function), ``info()`` (what
    local.json holds, seed fields included). Failed SQS records are redelivered at once.
    Do not combine it with the ``aws`` fixture in one module: each has its own AWS."""
    from localcloud.clock import ManualClock
    from localcloud.cloud import LocalCloud

    with LocalCloud(api_port=0, aws_port=0, sandbox_port=0, clock=ManualClock(), redelivery_delay_seconds=0) as cloud:
        yield cloud


@pytest.fixture(scope="session")
def sandbox_server():
    """The sandbox provider (localcloud.sandbox) on a free loopback port, for the session."""
    from localcloud.sandbox import start_sandbox

    url, stop = start_sandbox("127.0.0.1", 0)
    yield url
    stop()


@pytest.fixture
def sandbox(sandbox_server: str):
    """The sandbox's base URL with its knobs and counters reset before each test.
    OpenRouter shapes live under ``<url>/api/v1``; see localcloud/sandbox/ for the rest."""
    import httpx

    httpx.post(f"{sandbox_server}/_sandbox/reset", trust_env=False).raise_for_status()
    return sandbox_server
