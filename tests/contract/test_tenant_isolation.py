"""Tenant isolation, for EVERY route of the OpenAPI document: workspace B's credentials get
404/403 on workspace A's resources, and nothing of workspace A changes (items and objects).
Routes added later are covered automatically (see route_matrix.py for what they need)."""

import pytest

from drgero.identity import credentials
from tests.support.aws import table_of
from tests.support.identity import use_local_identity
from tests.support.route_matrix import build_world, example_body, routes, snapshot_of


@pytest.fixture
def world(aws):
    use_local_identity(aws, DRGERO_AUTH__TOKEN_CACHE_SECONDS="0")
    return build_world(aws)


# Drives every route of the document with several credentials: minutes on a loaded 2-core box.
@pytest.mark.timeout(360)
def test_other_workspace_gets_404_or_403_on_every_route_and_changes_nothing(aws, world):
    b_dataset_token, _ = credentials.issue_dataset_token(table_of(aws), world.b["workspace_id"], "lb_b", "b-app")
    b_ws = {"X-Workspace-Id": world.b["workspace_id"]}  # B's user may create more workspaces on the way
    callers = {
        "b-owner-token": (world.b["token"], {}),
        "b-owner-session": (world.b["jwt"], b_ws),
        "b-dataset-token": (b_dataset_token, {}),
    }
    before = snapshot_of(aws, world)
    assert before["items"], "workspace A should have items"
    checked, failures = 0, []
    for route in routes(world.doc):
        path, names_a_resource, made_up = world.fill(route)
        body = example_body(world.doc, route)
        for who, (credential, headers) in callers.items():
            response = world.api.request(route.method, path, credential, body, headers=headers)
            assert response.status < 500, f"{route} as {who}: {response.status} {response.body[:300]}"
            allowed = {403, 404} | ({400} if made_up else set())
            if names_a_resource and response.status not in allowed:
                failures.append(f"{route} ({path}) as {who}: {response.status} {response.body[:200]}")
            checked += 1
    assert not failures, "another workspace reached A's resources:\n" + "\n".join(failures)
    assert checked >= 3 * 15
    after = snapshot_of(aws, world)
    assert after == before, "workspace A changed while workspace B called every route"


def test_the_matrix_covers_the_identity_routes(world):
    covered = {str(r) for r in routes(world.doc)}
    for route in [
        "GET /api/workspaces/{ws}",
        "POST /api/workspaces/{ws}/members",
        "DELETE /api/workspaces/{ws}/members/{user}",
        "DELETE /api/workspaces/{ws}/invitations/{invitation_id}",
        "POST /api/invitations/{invitation_id}/accept",
        "POST /api/invitations/{invitation_id}/decline",
        "DELETE /api/tokens/{token_id}",
        "PUT /api/integrations/{provider}",
        "GET /api/workspaces/{ws}/usage",
    ]:
        assert route in covered
