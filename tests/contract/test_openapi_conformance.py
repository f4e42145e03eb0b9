"""Schemathesis over the published OpenAPI document, through the API Gateway emulation on a
loopback port (route -> real authorizer -> real function, with a real owner token): for every
operation, generated requests (valid and invalid) must get no 5xx, only documented status
codes, and bodies that match the documented schemas (the error shape included).

Seeded (``derandomize``) and bounded: ``MAX_EXAMPLES`` per operation and a ``timeout`` for the
whole run, so it is part of ``make test``. Widen locally with SCHEMATHESIS_MAX_EXAMPLES=200.
"""

from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from localcloud.apigateway import ApiServer
from tests.support.gateway import Api
from tests.support.identity import new_workspace, use_local_identity
from tests.support.route_matrix import openapi_document

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Operations whose success depends on a provider on the internet are still fuzzed: providers
# point at a closed loopback port here, so they answer their documented 502 at worst.


@pytest.fixture
def served(aws):
    use_local_identity(aws, DRGERO_AUTH__TOKEN_CACHE_SECONDS="0")
    api = Api(aws)
    doc = openapi_document(api)
    workspace = new_workspace(aws, "fuzz", plan="pro")
    server = ApiServer(api.gateway, "127.0.0.1", 0)
    server.start()
    try:
        yield doc, server.url, workspace
    finally:
        server.stop()


@pytest.mark.timeout(600)
def test_every_operation_conforms_to_the_document(served):
    doc, base_url, workspace = served
    schema = schemathesis.openapi.from_dict(doc)
    headers = {"Authorization": f"Bearer {workspace['token']}"}
    session = requests.Session()
    session.trust_env = False
    failures: list[str] = []
    statuses: dict[int, int] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            try:
                case.validate_response(response, checks=CHECKS)
            except (AssertionError, FailureGroup) as failure:  # collected: one report for the whole API
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {failure}"[:800])

        run()
    assert operations >= 60
    requests_sent = sum(statuses.values())
    print(f"schemathesis: {operations} operations, {requests_sent} requests, statuses {sorted(statuses.items())}")
    # The run reached the functions, not only the authorizer: successes and refusals both.
    assert any(200 <= s < 300 for s in statuses) and 400 in statuses and 404 in statuses
    assert not failures, f"{len(failures)} failures:\n" + "\n\n".join(failures[:20])
