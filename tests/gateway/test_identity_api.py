"""Workspaces, members, invitations, tokens and integrations through the API Gateway path
(route -> real authorizer -> real api function) against the embedded AWS."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from drgero.core.errors import ApiError
from drgero.identity import integrations
from drgero.workspaces import membership as workspaces
from tests.support.aws import table_of
from tests.support.gateway import Api
from tests.support.identity import new_workspace, use_local_identity, user_jwt


@pytest.fixture
def api(aws):
    # No authorizer cache here: these tests follow role changes and revocations request by
    # request (the cache bound itself is tested in test_authorizer.py).
    use_local_identity(aws, DRGERO_AUTH__TOKEN_CACHE_SECONDS="0")
    return Api(aws)


@pytest.fixture
def alpha(aws, api):
    return new_workspace(aws, "alpha")


# ---------------------------------------------------------------------------- workspaces
def test_signed_in_user_without_workspace_creates_one_and_owns_it(aws, api):
    newcomer = user_jwt("newcomer", "new@example.com")
    assert api.get("/api/tokens", newcomer).error_code == "no_workspace"
    created = api.post("/api/workspaces", newcomer, {"name": "Acme"})
    assert created.status == 201, created.json
    ws = created.json
    assert ws["role"] == "owner" and ws["plan"] == "free"
    assert api.get(f"/api/workspaces/{ws['id']}", newcomer).json["name"] == "Acme"
    members = api.get(f"/api/workspaces/{ws['id']}/members", newcomer).json["members"]
    assert members == [
        {"user_id": "newcomer", "role": "owner", "email": "new@example.com", "added_at": members[0]["added_at"]}
    ]


def test_api_tokens_cannot_create_workspaces(api, alpha):
    response = api.post("/api/workspaces", alpha["token"], {"name": "x"})
    assert response.status == 403 and response.error_code == "user_session_required"


def test_workspace_creation_validates_input(api):
    for body in ({}, {"name": ""}, {"name": "x" * 101}, {"name": 5}, {"name": "ok", "extra": 1}, []):
        response = api.post("/api/workspaces", user_jwt("someone"), body)
        assert response.status == 400 and response.error_code == "invalid_request", body


def test_malformed_json_is_400_not_500(api, alpha):
    response = api.request("POST", "/api/tokens", alpha["token"], raw_body=b"{not json")
    assert response.status == 400


def test_workspace_limit_per_user(aws, api):
    aws.functions.extra_env["DRGERO_AUTH__MAX_WORKSPACES_PER_USER"] = "1"
    token = user_jwt("busy")
    assert api.post("/api/workspaces", token, {"name": "one"}).status == 201
    response = api.post("/api/workspaces", token, {"name": "two"}, headers={"X-Workspace-Id": "x"})
    assert response.status == 403 and response.error_code == "workspace_limit"


# ---------------------------------------------------------------------------- members
def test_members_roles_and_the_last_owner(aws, api, alpha):
    ws, owner = alpha["workspace_id"], alpha["jwt"]
    base = f"/api/workspaces/{ws}/members"
    bob = user_jwt("bob")
    carol = user_jwt("carol")
    join(api, ws, owner, bob, {"user_id": "bob", "role": "admin"})
    assert api.post(base, owner, {"user_id": "bob", "role": "member"}).error_code == "already_member"
    assert join(api, ws, owner, carol, {"user_id": "carol"})["role"] == "member"
    # A member has no admin pages.
    assert api.get(base, carol).status == 403
    # An admin manages members but cannot touch owners or make owners.
    assert api.patch(f"{base}/carol", bob, {"role": "admin"}).json["role"] == "admin"
    assert api.patch(f"{base}/carol", bob, {"role": "owner"}).error_code == "owner_required"
    assert api.delete(f"{base}/{alpha['owner']}", bob).error_code == "owner_required"
    # The only owner can neither leave nor be demoted.
    assert api.delete(f"{base}/{alpha['owner']}", owner).error_code == "last_owner"
    assert api.patch(f"{base}/{alpha['owner']}", owner, {"role": "admin"}).error_code == "last_owner"
    # With a second owner, the first can step down.
    assert api.patch(f"{base}/bob", owner, {"role": "owner"}).status == 200
    assert api.patch(f"{base}/{alpha['owner']}", owner, {"role": "member"}).json["role"] == "member"
    assert api.delete(f"{base}/bob", bob).error_code == "last_owner"
    assert api.delete(f"{base}/carol", bob).status == 204
    assert api.delete(f"{base}/carol", bob).status == 404
    assert api.patch(f"{base}/nobody", bob, {"role": "member"}).status == 404
    assert api.patch(f"{base}/bob", bob, {"role": "king"}).status == 400


def test_of_two_owners_only_one_can_step_down(aws, alpha):
    table = table_of(aws)
    ws = alpha["workspace_id"]
    workspaces.add_member(table, ws, "second", "owner", "owner")
    results = []

    def demote(user):
        try:
            workspaces.change_role(table, ws, user, "member", "owner")
            results.append("ok")
        except ApiError as err:
            results.append(err.code)

    # The owner_count condition decides, whichever request comes first.
    demote(alpha["owner"])
    demote("second")
    assert sorted(results) == ["last_owner", "ok"]
    assert workspaces.get_workspace(table, ws)["owner_count"] == 1


# ---------------------------------------------------------------------------- invitations
def join(api, ws, admin, invitee, body):
    """An admin invites a user by id and the user accepts with their own session."""
    invited = api.post(f"/api/workspaces/{ws}/members", admin, body)
    assert invited.status == 202, invited.json
    accepted = api.post(f"/api/invitations/{invited.json['id']}/accept", invitee)
    assert accepted.status == 200, accepted.json
    return accepted.json


def test_adding_a_member_by_id_is_an_invitation_until_they_accept(aws, api, alpha):
    ws, owner = alpha["workspace_id"], alpha["jwt"]
    victim = user_jwt("victim")
    mine = api.post("/api/workspaces", victim, {"name": "Victim's own"})
    assert mine.status == 201
    invited = api.post(f"/api/workspaces/{ws}/members", owner, {"user_id": "victim", "role": "owner"})
    assert invited.status == 202, invited.json
    assert invited.json["state"] == "pending" and invited.json["user_id"] == "victim"
    # Not a member, not an owner: nothing of A is visible, and the victim's own calls
    # without X-Workspace-Id keep working (no second workspace was forced on them).
    members = api.get(f"/api/workspaces/{ws}/members", owner).json["members"]
    assert "victim" not in {m["user_id"] for m in members}
    assert api.get(f"/api/workspaces/{ws}", victim).status == 404
    assert api.get("/api/tokens", victim).status == 200
    assert api.post(f"/api/workspaces/{ws}/members", owner, {"user_id": "victim"}).error_code == "already_invited"
    # The invitee sees it, with the workspace's name; others do not and cannot answer it.
    pending = api.get("/api/invitations", victim).json["invitations"]
    assert [(i["id"], i["workspace_name"], i["role"]) for i in pending] == [(invited.json["id"], "alpha", "owner")]
    assert api.get("/api/invitations", user_jwt("eve")).json["invitations"] == []
    eve_accepts = api.post(f"/api/invitations/{invited.json['id']}/accept", user_jwt("eve"))
    assert eve_accepts.status == 404 and eve_accepts.error_code == "invitation_not_found"
    assert api.post(f"/api/invitations/{invited.json['id']}/accept", alpha["token"]).status == 403
    # Declining ends it: no membership, nothing pending, cannot be accepted afterwards.
    declined = api.post(f"/api/invitations/{invited.json['id']}/decline", victim)
    assert declined.status == 200 and declined.json["state"] == "declined"
    assert api.post(f"/api/invitations/{invited.json['id']}/accept", victim).status == 404
    assert api.get("/api/invitations", victim).json["invitations"] == []
    assert workspaces.get_member(table_of(aws), ws, "victim") is None
    assert workspaces.get_workspace(table_of(aws), ws)["owner_count"] == 1
    # Invited again and accepted: now an owner, by their own consent.
    again = api.post(f"/api/workspaces/{ws}/members", owner, {"user_id": "victim", "role": "owner"})
    accepted = api.post(f"/api/invitations/{again.json['id']}/accept", victim, headers={"X-Workspace-Id": ws})
    assert accepted.status == 200 and accepted.json["role"] == "owner"
    assert workspaces.get_workspace(table_of(aws), ws)["owner_count"] == 2


def test_admins_list_and_revoke_invitations(aws, api, alpha):
    ws, owner = alpha["workspace_id"], alpha["jwt"]
    invited = api.post(f"/api/workspaces/{ws}/members", owner, {"user_id": "zed"}).json
    listed = api.get(f"/api/workspaces/{ws}/invitations", owner).json["invitations"]
    assert [(i["id"], i["state"]) for i in listed] == [(invited["id"], "pending")]
    assert api.delete(f"/api/workspaces/{ws}/invitations/{invited['id']}", owner).status == 204
    again = api.delete(f"/api/workspaces/{ws}/invitations/{invited['id']}", owner)
    assert again.status == 409 and again.error_code == "invitation_answered"
    assert api.delete(f"/api/workspaces/{ws}/invitations/inv_unknown", owner).status == 404
    assert api.post(f"/api/invitations/{invited['id']}/accept", user_jwt("zed")).status == 404
    assert api.get("/api/invitations", user_jwt("zed")).json["invitations"] == []
    # An admin cannot revoke an owner's invitation; an email invitation's code dies with it.
    adm = user_jwt("adm")
    join(api, ws, owner, adm, {"user_id": "adm", "role": "admin"})
    to_owner = api.post(f"/api/workspaces/{ws}/members", owner, {"user_id": "o2", "role": "owner"}).json
    assert api.delete(f"/api/workspaces/{ws}/invitations/{to_owner['id']}", adm).error_code == "owner_required"
    by_mail = api.post(f"/api/workspaces/{ws}/invitations", owner, {"email": "kim@example.com"}).json
    assert api.delete(f"/api/workspaces/{ws}/invitations/{by_mail['id']}", adm).status == 204
    kim = user_jwt("kim", "kim@example.com")
    assert api.post("/api/invitations/accept", kim, {"code": by_mail["code"]}).status == 404


def test_email_invitations_are_listed_and_answered_by_the_verified_email(aws, api, alpha):
    ws = alpha["workspace_id"]
    invite = api.post(f"/api/workspaces/{ws}/invitations", alpha["jwt"], {"email": "Lee@Example.com"}).json
    lee = user_jwt("lee", "lee@example.com")
    assert [i["id"] for i in api.get("/api/invitations", lee).json["invitations"]] == [invite["id"]]
    assert api.get("/api/invitations", user_jwt("lee-unverified")).json["invitations"] == []
    accepted = api.post(f"/api/invitations/{invite['id']}/accept", lee)
    assert accepted.status == 200 and accepted.json["workspace"]["id"] == ws
    # The one-time code died in the same transaction.
    assert api.post("/api/invitations/accept", lee, {"code": invite["code"]}).status == 404


def test_expired_invitation_by_id_is_410(aws, api, alpha):
    from drgero.workspaces import invitations

    made = invitations.invite_user(
        table_of(aws), aws.settings, alpha["workspace_id"], "slow", "member", "x", "owner", now=0
    )
    assert api.get("/api/invitations", user_jwt("slow")).json["invitations"] == []
    response = api.post(f"/api/invitations/{made['id']}/accept", user_jwt("slow"))
    assert response.status == 410 and response.error_code == "invitation_expired"


def test_invitation_is_accepted_once_by_the_invited_verified_email(aws, api, alpha):
    ws = alpha["workspace_id"]
    created = api.post(
        f"/api/workspaces/{ws}/invitations", alpha["jwt"], {"email": "Dana@Example.com", "role": "admin"}
    )
    assert created.status == 201
    code = created.json["code"]
    assert code.startswith("inv_")
    listed = api.get(f"/api/workspaces/{ws}/invitations", alpha["jwt"]).json["invitations"]
    assert listed[0]["email"] == "dana@example.com" and "code" not in listed[0]
    assert code not in json.dumps(listed)

    stranger = user_jwt("eve", "eve@example.com")
    assert api.post("/api/invitations/accept", stranger, {"code": code}).error_code == "invitation_email_mismatch"
    unverified = user_jwt("dana-unverified", "")
    assert api.post("/api/invitations/accept", unverified, {"code": code}).error_code == "email_not_verified"
    assert api.post("/api/invitations/accept", alpha["token"], {"code": code}).error_code == "user_session_required"
    dana = user_jwt("dana", "dana@example.com")
    accepted = api.post("/api/invitations/accept", dana, {"code": code})
    assert accepted.status == 200, accepted.json
    assert accepted.json["role"] == "admin" and accepted.json["workspace"]["id"] == ws
    again = api.post("/api/invitations/accept", user_jwt("dana2", "dana@example.com"), {"code": code})
    assert again.status == 404 and again.error_code == "invitation_not_found"
    assert api.get(f"/api/workspaces/{ws}/members", dana).status == 200


def test_expired_and_unknown_invitations(aws, api, alpha):
    table = table_of(aws)
    code, _ = workspaces.create_invitation(
        table, aws.settings, alpha["workspace_id"], "late@example.com", "member", "x", "owner", now=0
    )
    late = user_jwt("late", "late@example.com")
    assert api.post("/api/invitations/accept", late, {"code": code}).error_code == "invitation_expired"
    assert api.post("/api/invitations/accept", late, {"code": "inv_nope"}).status == 404
    assert api.post("/api/invitations/accept", late, {"code": "x" * 65}).status == 400


def test_only_owners_invite_owners(aws, api, alpha):
    ws = alpha["workspace_id"]
    workspaces.add_member(table_of(aws), ws, "adm", "admin", "owner")
    response = api.post(
        f"/api/workspaces/{ws}/invitations", user_jwt("adm"), {"email": "o@example.com", "role": "owner"}
    )
    assert response.error_code == "owner_required"
    bad = api.post(f"/api/workspaces/{ws}/invitations", alpha["jwt"], {"email": "not-an-email"})
    assert bad.status == 400


# ---------------------------------------------------------------------------- tokens
def test_token_lifecycle_secret_shown_once(aws, api, alpha):
    owner = alpha["token"]
    created = api.post(
        "/api/tokens",
        owner,
        {"name": "ci", "scopes": ["leaderboards:read"], "budget_usd": 5, "expires_at": "2099-01-01T00:00:00Z"},
    )
    assert created.status == 201, created.json
    secret = created.json["token"]
    assert secret.startswith("drgero_") and created.json["display"] == f"drgero_…{secret[-4:]}"
    assert created.json["budget_usd"] == 5 and created.json["expires_at"].startswith("2099-01-01")
    listing = api.get("/api/tokens", owner)
    assert secret not in listing.body.decode() and "cred_hash" not in listing.body.decode()
    row = next(t for t in listing.json["tokens"] if t["id"] == created.json["id"])
    assert row["scopes"] == ["leaderboards:read"] and row["spent_usd"] == 0 and row["remaining_usd"] == 5
    # The new token works, within its scopes only.
    assert api.get("/api/tokens", secret).error_code == "insufficient_scope"
    rotated = api.post(f"/api/tokens/{created.json['id']}/rotate", owner, {"grace_seconds": 0})
    assert rotated.status == 201 and rotated.json["token"] != secret
    assert api.get("/api/tokens", secret).error_code == "token_expired"
    assert api.delete(f"/api/tokens/{created.json['id']}", owner).status == 204
    revoked = api.get("/api/tokens", rotated.json["token"])
    assert revoked.status == 401 and revoked.error_code == "token_revoked"
    assert api.delete(f"/api/tokens/{created.json['id']}", owner).status == 204  # idempotent
    assert api.delete("/api/tokens/tok_nope", owner).status == 404
    assert api.post("/api/tokens/tok_nope/rotate", owner).status == 404


BAD_TOKEN_BODIES = [
    ({"name": "x", "scopes": []}, 400),
    ({"name": "x", "scopes": ["root"]}, 400),
    ({"name": "x", "scopes": ["admin"], "budget_usd": -1}, 400),
    ({"name": "x", "scopes": ["admin"], "budget_usd": "lots"}, 400),
    ({"name": "x", "scopes": ["admin"], "expires_at": "2001-01-01T00:00:00Z"}, 400),
    ({"name": "x", "scopes": ["admin"], "expires_at": "2099-01-01T00:00:00"}, 400),
    ({"name": "x", "scopes": ["admin"], "budget_usd": 1e12}, 400),
    ({"scopes": ["admin"]}, 400),
    ({"name": "x" * 101, "scopes": ["admin"]}, 400),
]


def test_token_creation_validates_input(api, alpha):
    for body, status in BAD_TOKEN_BODIES:
        assert api.post("/api/tokens", alpha["token"], body).status == status, body


def test_tokens_cannot_grant_more_than_they_hold_nor_escape_a_budget(aws, api, alpha):
    owner = alpha["token"]
    limited = api.post("/api/tokens", owner, {"name": "adm", "scopes": ["admin"]}).json["token"]
    escalate = api.post("/api/tokens", limited, {"name": "x", "scopes": ["inference"]})
    assert escalate.status == 403 and escalate.json["error"]["details"]["required_scope"] == "inference"
    capped = api.post("/api/tokens", owner, {"name": "capped", "scopes": ["admin"], "budget_usd": 1}).json["token"]
    escape = api.post("/api/tokens", capped, {"name": "free", "scopes": ["admin"]})
    assert escape.status == 403 and escape.error_code == "budget_limited_token"


def test_dataset_tokens_reach_no_app_route(aws, api, alpha):
    from drgero.identity.credentials import issue_dataset_token, list_dataset_tokens

    secret, record = issue_dataset_token(table_of(aws), alpha["workspace_id"], "lb_1", "app")
    assert list_dataset_tokens(table_of(aws), "lb_1") == [record]
    ws = alpha["workspace_id"]
    for method, path in [
        ("GET", "/api/tokens"),
        ("GET", f"/api/workspaces/{ws}/members"),
        ("GET", f"/api/workspaces/{ws}"),
    ]:
        response = api.request(method, path, secret)
        assert response.status == 403 and response.error_code == "insufficient_scope"


# ---------------------------------------------------------------------------- integrations
class _Provider:
    """A local stand-in for OpenRouter's /key and Hugging Face's /api/whoami-v2."""

    GOOD = "sk-or-v1-good-key-0123456789"

    def __init__(self):
        outer = self
        self.seen_keys = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the stdlib's name
                key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                outer.seen_keys.append(key)
                ok = key == outer.GOOD
                body = {"data": {"label": "x", "limit_remaining": 12.5}} if "/key" in self.path else {"name": "hf-user"}
                payload = json.dumps(body if ok else {"error": "bad key"}).encode()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider(aws):
    server = _Provider()
    yield server
    server.close()


def test_integration_keys_are_encrypted_masked_and_validated(aws, provider):
    use_local_identity(
        aws,
        DRGERO_PROVIDERS__OPENROUTER_BASE_URL=f"{provider.url}/api/v1",
        DRGERO_PROVIDERS__HUGGINGFACE_ENDPOINT=provider.url,
    )
    api = Api(aws)
    alpha = new_workspace(aws, "alpha", openrouter=False)
    owner = alpha["token"]
    key = provider.GOOD
    assert api.get("/api/integrations/openrouter", owner).status == 404
    stored = api.put("/api/integrations/openrouter", owner, {"api_key": key})
    assert stored.status == 200 and key not in stored.body.decode()
    assert stored.json["key_hint"] == f"{key[:4]}…{key[-4:]}"
    read = api.get("/api/integrations/openrouter", owner)
    assert read.json["configured"] is True and key not in read.body.decode()
    item = table_of(aws).get(f"WS#{alpha['workspace_id']}", "INTEGRATION#openrouter")
    assert key.encode() not in bytes(item["ciphertext"])

    valid = api.post("/api/integrations/validate", owner, {"provider": "openrouter"})
    assert valid.json == {"provider": "openrouter", "valid": True, "status": "valid", "detail": valid.json["detail"]}
    invalid = api.post("/api/integrations/validate", owner, {"provider": "huggingface", "api_key": "hf_wrongwrong"})
    assert invalid.json["status"] == "invalid" and "hf_wrongwrong" not in invalid.body.decode()
    hf_ok = api.post("/api/integrations/validate", owner, {"provider": "huggingface", "api_key": key})
    assert hf_ok.json["valid"] is True and "hf-user" in hf_ok.json["detail"]
    missing = api.post("/api/integrations/validate", owner, {"provider": "huggingface"})
    assert missing.status == 409 and missing.error_code == "integration_required"

    assert api.delete("/api/integrations/openrouter", owner).status == 204
    assert api.delete("/api/integrations/openrouter", owner).status == 404
    assert api.put("/api/integrations/anthropic", owner, {"api_key": key}).status == 404
    assert api.put("/api/integrations/openrouter", owner, {"api_key": "short"}).status == 400
    assert api.put("/api/integrations/openrouter", owner, {"api_key": "has space in it!"}).status == 400


def test_unreachable_provider_is_reported_as_such(aws, api, alpha):
    response = api.post(
        "/api/integrations/validate", alpha["token"], {"provider": "openrouter", "api_key": "sk-or-abcdefgh"}
    )
    assert response.status == 200
    assert response.json["valid"] is False and response.json["status"] == "unreachable"


def test_a_ciphertext_copied_to_another_workspace_does_not_decrypt(aws, api, alpha):
    beta = new_workspace(aws, "beta")
    integrations.put_integration(
        aws.settings, aws.clients, alpha["workspace_id"], "openrouter", "sk-or-v1-secret-abcdef"
    )
    table = table_of(aws)
    item = table.get(f"WS#{alpha['workspace_id']}", "INTEGRATION#openrouter")
    table.put({**item, "pk": f"WS#{beta['workspace_id']}"})
    with pytest.raises(Exception, match="InvalidCiphertext"):
        integrations.get_integration_key(aws.settings, aws.clients, beta["workspace_id"], "openrouter")
    key = integrations.get_integration_key(aws.settings, aws.clients, alpha["workspace_id"], "openrouter")
    assert key == "sk-or-v1-secret-abcdef"


def test_require_integration_says_what_to_configure(aws, alpha):
    integrations.delete_integration(aws.settings, aws.clients, alpha["workspace_id"], "openrouter")
    with pytest.raises(ApiError) as err:
        integrations.require_integration(aws.settings, aws.clients, alpha["workspace_id"], "openrouter")
    assert err.value.status == 409 and err.value.code == "integration_required"
    assert "PUT /api/integrations/openrouter" in err.value.message


# ---------------------------------------------------------------------------- usage & plans
def test_usage_route_reports_spend(aws, api, alpha):
    from drgero.identity import budget
    from drgero.identity.principal import Principal, PrincipalKind

    principal = Principal(PrincipalKind.API_TOKEN, alpha["workspace_id"], frozenset(), token_id=alpha["token_id"])
    r = budget.reserve(table_of(aws), aws.settings, principal, 1.0, run_id="run_x")
    budget.settle(table_of(aws), r["id"], 0.42)
    report = api.get(f"/api/workspaces/{alpha['workspace_id']}/usage", alpha["token"]).json
    assert report["total_usd"] == pytest.approx(0.42)
    assert report["by_run"] == []  # spend by run comes from run records; there is none here
    assert report["by_token"][0]["name"] == "owner (every scope)"
    member = user_jwt("mem")
    workspaces.add_member(table_of(aws), alpha["workspace_id"], "mem", "member", "owner")
    assert api.get(f"/api/workspaces/{alpha['workspace_id']}/usage", member).status == 403


def test_plan_limits(aws, alpha):
    from drgero.workspaces import plans

    table = table_of(aws)
    ws = alpha["workspace_id"]
    cap = aws.settings.plans.free_max_leaderboards
    plans.check_can_create_leaderboard(table, aws.settings, ws, cap - 1)
    with pytest.raises(ApiError) as err:
        plans.check_can_create_leaderboard(table, aws.settings, ws, cap)
    assert err.value.status == 403 and err.value.code == "plan_limit"
    with pytest.raises(ApiError) as err:
        plans.check_can_delete_leaderboard(table, aws.settings, ws)
    assert err.value.code == "plan_limit"
    # The atomic slot: exactly `cap` leaderboards fit, whatever the order of creates.
    for _ in range(cap):
        table.transact([plans.leaderboard_slot_op(table, aws.settings, ws)])
    with pytest.raises(Exception) as full:
        table.transact([plans.leaderboard_slot_op(table, aws.settings, ws)])
    assert "TransactionCanceled" in str(full.value)
    table.transact([plans.leaderboard_release_op(ws)])
    table.transact([plans.leaderboard_slot_op(table, aws.settings, ws)])
    table.update(f"WS#{ws}", "META", "SET #p = :pro", names={"#p": "plan"}, values={":pro": "pro"})
    plans.check_can_create_leaderboard(table, aws.settings, ws, 10_000)
    plans.check_can_delete_leaderboard(table, aws.settings, ws)
