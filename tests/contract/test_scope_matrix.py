"""Scope matrix, for EVERY route of the OpenAPI document: a token missing one scope is
refused with 403 ``insufficient_scope`` exactly where that scope is needed, and a token
holding only the scopes a route needs is not refused for scope. Routes added later are
covered automatically; a route that needs no scope at all must be listed below, with why."""

import pytest

from drgero.identity import credentials
from drgero.identity.principal import ALL_SCOPES
from tests.support.aws import table_of
from tests.support.identity import use_local_identity
from tests.support.route_matrix import build_world, example_body, routes

# Routes an API token may call whatever its scopes, and why.
NO_SCOPE_NEEDED = {
    "GET /api/workspaces/{ws}": "any member or API token of a workspace may read its name and plan",
    "POST /api/workspaces": "user sessions only (tokens get 403 user_session_required)",
    "POST /api/invitations/accept": "user sessions only (tokens get 403 user_session_required)",
    "GET /api/invitations": "user sessions only (tokens get 403 user_session_required)",
    "POST /api/invitations/{invitation_id}/accept": "user sessions only (tokens get 403 user_session_required)",
    "POST /api/invitations/{invitation_id}/decline": "user sessions only (tokens get 403 user_session_required)",
    "GET /api/workspaces": "lists the caller's own workspaces (a token: its one workspace)",
}


@pytest.fixture
def world(aws):
    use_local_identity(aws, DRGERO_AUTH__TOKEN_CACHE_SECONDS="0")
    return build_world(aws)


def refused_for_scope(response) -> bool:
    return response.status == 403 and response.error_code == "insufficient_scope"


# Drives every route of the document with several credentials: minutes on a loaded 2-core box.
@pytest.mark.timeout(360)
def test_each_route_is_refused_without_its_scope_and_allowed_with_it(aws, world):
    table = table_of(aws)
    ws = world.a["workspace_id"]
    all_but = {
        scope: credentials.issue_api_token(table, ws, f"all-but-{scope}", ALL_SCOPES - {scope})[0]
        for scope in sorted(ALL_SCOPES)
    }
    problems, needs_by_route = [], {}
    for route in routes(world.doc):
        path, _, _ = world.fill(route)
        body = example_body(world.doc, route)
        needs = {
            scope
            for scope, token in all_but.items()
            if refused_for_scope(world.api.request(route.method, path, token, body))
        }
        needs_by_route[str(route)] = needs
        if str(route) in NO_SCOPE_NEEDED:
            if needs:
                problems.append(f"{route} is listed as needing no scope but needs {sorted(needs)}")
            continue
        if not needs:
            problems.append(f"{route} refuses no token for a missing scope: which scope guards it?")
            continue
        only, _ = credentials.issue_api_token(table, ws, "only-needed", needs)
        response = world.api.request(route.method, path, only, body)
        if refused_for_scope(response):
            problems.append(f"{route} refuses a token holding exactly {sorted(needs)}: {response.body[:200]}")
    assert not problems, "\n".join(problems)
    # Spot checks of the contract's scopes on the identity routes.
    assert needs_by_route["GET /api/tokens"] == {"admin"}
    assert needs_by_route["PUT /api/integrations/{provider}"] == {"admin"}
    assert needs_by_route["GET /api/workspaces/{ws}/usage"] == {"admin"}
    assert needs_by_route["POST /api/workspaces/{ws}/invitations"] == {"admin"}
    assert needs_by_route["DELETE /api/workspaces/{ws}/invitations/{invitation_id}"] == {"admin"}
