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

from drgero.aws import AwsClients  # noqa: E402
from drgero.settings import Settings  # noqa: E402
from localcloud.functions import FunctionRuntime  # noqa: E402
from localcloud.resources import CreatedResources, create_resources  # noqa: E402
from localcloud.template import Template  # noqa: E402


@pytest.fixture(scope="session")
def template() -> Template:
    return Template.load()


def settings_from_env(env: dict[str, str], **overrides) -> Settings:
    """Settings as a function would read them from ``env`` (DRGERO_GROUP__NAME variables)."""
    nested: dict = {}
    for key, value in env.items():
        if not key.startswith("DRGERO_"):
            continue
        path = key.removeprefix("DRGERO_").lower().split("__")
        node = nested
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    for key, value in overrides.items():
        group, _, name = key.partition("__")
        nested.setdefault(group, {})[name] = value
    return Settings(**nested)


@dataclass
class AwsEnv:
    template: Template
    created: CreatedResources
    settings: Settings
    clients: AwsClients
    functions: FunctionRuntime


TEST_ENV = {
    "DRGERO_ENVIRONMENT": "test",
    "DRGERO_PROVIDERS__ALLOW_LOOPBACK": "true",
}


@pytest.fixture
def aws(template: Template):
    from moto import mock_aws

    with mock_aws():
        created = create_resources(boto3.session.Session(), template, None, "us-east-1")
        functions = FunctionRuntime(template, created, extra_env=dict(TEST_ENV))
        env = functions.environment("ApiFunction")
        settings = settings_from_env(env)
        yield AwsEnv(template, created, settings, AwsClients(settings), functions)
