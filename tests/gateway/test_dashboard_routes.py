"""The routes the dashboard needs (docs/dashboard.md), through the emulated API Gateway with
real tokens and JWTs: the static files without auth, my workspaces, a token's budget change,
a PUSH dataset's rows (preview, deletion that reaches pending batches and the next version),
dataset-token revocation, validate-only dataset URLs, the auto-select preview; each with
another tenant and a missing scope."""

from __future__ import annotations

import json
import re

import pytest

from drgero.datasets.consolidate import Consolidator
from drgero.identity import credentials
from drgero.identity.principal import ALL_SCOPES
from drgero.store.keys import api_token_key, dataset_key
from drgero.workspaces import membership
from tests.support.aws import table_of
from tests.support.gateway import Api
from tests.support.handlers import api as direct
from tests.support.handlers import push
from tests.support.hf_server import HfServer
from tests.support.identity import api_principal, dataset_principal, new_workspace, use_local_identity
from tests.support.leaderboards import consolidated_rows, create_push_leaderboard

OPENROUTER_KEY = "sk-or-" + "dashboard-test-key"  # assembled: never literal in a traceback


@pytest.fixture
def api(aws):
    use_local_identity(aws, DRGERO_AUTH__TOKEN_CACHE_SECONDS="0")
    return Api(aws)


@pytest.fixture
def a(aws, api):
    return new_workspace(aws, plan="pro")


@pytest.fixture
def b(aws, api):
    return new_workspace(aws, plan="pro")


def scoped_token(aws, ws: str, *scopes: str, budget: float | None = None) -> tuple[str, str]:
    secret, record = credentials.issue_api_token(table_of(aws), ws, "t", set(scopes), budget_usd=budget)
    return secret, record["id"]


# ------------------------------------------------------------------ the static files
def test_the_dashboard_is_served_without_auth_with_a_strict_csp(api):
    page = api.get("/")
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    html = page.body.decode()
    assert 'src="ui/app.js"' in html and "<script>" not in html  # relative URLs, no inline script
    script = api.get("/ui/app.js")
    assert script.status == 200 and script.headers["content-type"].startswith("text/javascript")
    assert api.get("/ui/no-such-file.js").status == 404
    assert api.get("/ui/../openapi.json").status in (404,)


def test_the_local_sign_in_route_does_not_exist_behind_the_template(api):
    # Only the local cloud's gateway adds it (localcloud.dashboard_session); AWS routes by the template.
    assert api.post("/local/session", None, {}, headers={"Origin": "http://127.0.0.1:3000"}).status == 404


def test_under_a_stage_prefix_the_root_gets_its_trailing_slash(aws):
    from drgero.api.dashboard import dashboard_answer

    event = {"resource": "/", "httpMethod": "GET", "requestContext": {"path": "/Prod"}}
    answer = dashboard_answer(event)
    assert answer["statusCode"] == 301 and answer["headers"]["Location"] == "/Prod/"
    event["requestContext"]["path"] = "/Prod/"
    assert dashboard_answer(event)["statusCode"] == 200


def test_every_shipped_asset_is_text_with_a_known_type():
    from drgero.api.dashboard import CONTENT_TYPES, STATIC_DIR, files

    shipped = [p for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert shipped and all(p.suffix in CONTENT_TYPES for p in shipped), "binary media types stay off"
    assert len(files()) == len(shipped)
    elsewhere = re.compile(
        r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|from\s+["'](?:https?:)?//"""
        r"""|import\(\s*["'](?:https?:)?//|fetch\(\s*["'`](?:https?:)?//|@import"""
    )
    for name, (_, text) in files().items():
        # Offline: nothing loaded from another origin (no CDN, no web font); the CSP says so too.
        assert not elsewhere.search(text), (name, elsewhere.search(text))
        assert ".innerHTML" not in text and "insertAdjacentHTML" not in text, name


# ------------------------------------------------------------------ my workspaces
def test_a_user_in_two_workspaces_lists_both_with_roles(aws, api, a, b):
    table = table_of(aws)
    membership.add_member(table, b["workspace_id"], a["owner"], "member", "owner")
    listed = api.get("/api/workspaces", a["jwt"])
    assert listed.status == 200, listed.body
    roles = {w["id"]: w["role"] for w in listed.json["workspaces"]}
    assert roles == {a["workspace_id"]: "owner", b["workspace_id"]: "member"}
    # A token belongs to exactly one workspace.
    assert [w["id"] for w in api.get("/api/workspaces", b["token"]).json["workspaces"]] == [b["workspace_id"]]


def test_a_dataset_token_lists_no_workspaces(aws, a):
    lb = create_push_leaderboard(aws, a["workspace_id"])
    status, body = direct(aws, "GET", "/api/workspaces", dataset_principal(a["workspace_id"], lb))
    assert status == 403 and body["error"]["code"] == "insufficient_scope"


# ------------------------------------------------------------------ token budgets
def test_budget_change_moves_remaining_by_the_difference_and_keeps_spend(aws, api, a):
    table = table_of(aws)
    _, token_id = scoped_token(aws, a["workspace_id"], "inference", budget=5.0)
    # As if 2 dollars were spent and 1 reserved.
    table.update(
        *api_token_key(a["workspace_id"], token_id),
        "SET spent_micro_usd = :s, reserved_micro_usd = :r, remaining_micro_usd = :m",
        None,
        {":s": 2_000_000, ":r": 1_000_000, ":m": 2_000_000},
    )
    raised = api.patch(f"/api/tokens/{token_id}", a["token"], {"budget_usd": 10.0})
    assert raised.status == 200, raised.body
    assert (raised.json["budget_usd"], raised.json["remaining_usd"], raised.json["spent_usd"]) == (10.0, 7.0, 2.0)
    removed = api.patch(f"/api/tokens/{token_id}", a["token"], {"budget_usd": None})
    assert (removed.json["budget_usd"], removed.json["remaining_usd"]) == (None, None)
    again = api.patch(f"/api/tokens/{token_id}", a["token"], {"budget_usd": 4.0})
    assert (again.json["budget_usd"], again.json["remaining_usd"]) == (4.0, 1.0)  # 4 - 2 spent - 1 reserved


def test_budget_change_needs_admin_its_own_tenant_and_a_live_token(aws, api, a, b):
    _, token_id = scoped_token(aws, a["workspace_id"], "inference", budget=1.0)
    assert api.patch(f"/api/tokens/{token_id}", b["token"], {"budget_usd": 2.0}).status == 404
    reader, _ = scoped_token(aws, a["workspace_id"], "leaderboards:read")
    assert api.patch(f"/api/tokens/{token_id}", reader, {"budget_usd": 2.0}).error_code == "insufficient_scope"
    budgeted_admin, _ = scoped_token(aws, a["workspace_id"], *ALL_SCOPES, budget=1.0)
    assert api.patch(f"/api/tokens/{token_id}", budgeted_admin, {"budget_usd": 99.0}).error_code == (
        "budget_limited_token"
    )
    assert api.patch(f"/api/tokens/{token_id}", a["token"], {"budget_usd": -1}).status == 400
    assert api.delete(f"/api/tokens/{token_id}", a["token"]).status == 204
    revoked = api.patch(f"/api/tokens/{token_id}", a["token"], {"budget_usd": 2.0})
    assert (revoked.status, revoked.error_code) == (409, "token_revoked")


# ------------------------------------------------------------------ PUSH rows: preview and deletion
def _push(aws, ws, lb, rows):
    status, answer, _ = push(aws, lb, api_principal(ws), rows)
    assert status == 202, answer


def _pending_objects(aws, lb) -> list[bytes]:
    s3, bucket = aws.clients.s3, aws.settings.aws.bucket_name
    versions = s3.list_object_versions(Bucket=bucket, Prefix=f"pending/{lb}/").get("Versions", [])
    return [s3.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read() for v in versions]


def test_rows_are_previewed_in_pages_and_a_deleted_row_is_gone_everywhere(aws, api, a):
    ws = a["workspace_id"]
    lb = create_push_leaderboard(aws, ws)
    _push(aws, ws, lb, [{"id": "c1", "input": "consolidated one"}, {"id": "c2", "input": "consolidated two"}])
    Consolidator(aws.settings, aws.clients).consolidate(ws, lb)
    _push(aws, ws, lb, [{"id": "p1", "input": "alice@example.com asked"}, {"id": "p2", "input": "pending two"}])

    first = api.get(f"/api/leaderboards/{lb}/dataset/rows", a["token"], query="limit=3")
    assert first.status == 200, first.body
    assert [(r["id"], r["state"]) for r in first.json["rows"]] == [
        ("p1", "pending"),
        ("p2", "pending"),
        ("c1", "consolidated"),
    ]
    cursor = first.json["next_cursor"]
    rest = api.get(f"/api/leaderboards/{lb}/dataset/rows", a["token"], query=f"limit=3&cursor={cursor}")
    assert [r["id"] for r in rest.json["rows"]] == ["c2"] and rest.json["next_cursor"] is None

    deleted = api.post(f"/api/leaderboards/{lb}/dataset/rows/delete", a["token"], {"row_ids": ["p1", "c1"]})
    assert deleted.status == 200, deleted.body
    assert deleted.json == {"deleted": 2, "already_deleted": 0, "pending_batches_rewritten": 1}
    again = api.post(f"/api/leaderboards/{lb}/dataset/rows/delete", a["token"], {"row_ids": ["p1"]})
    assert again.json["already_deleted"] == 1
    # Gone from the pending batch, old S3 versions included.
    assert not any(b"alice@example.com" in body for body in _pending_objects(aws, lb))
    ids = [r["id"] for r in api.get(f"/api/leaderboards/{lb}/dataset/rows", a["token"]).json["rows"]]
    assert ids == ["p2", "c2"]
    # Gone from the next version; the same id pushed again stays out.
    result = Consolidator(aws.settings, aws.clients).consolidate(ws, lb)
    assert result.status == "consolidated" and result.rows_deleted == 2
    assert sorted(r["id"] for r in consolidated_rows(aws, lb)) == ["c2", "p2"]
    _push(aws, ws, lb, [{"id": "c1", "input": "again"}])
    Consolidator(aws.settings, aws.clients).consolidate(ws, lb)
    assert sorted(r["id"] for r in consolidated_rows(aws, lb)) == ["c2", "p2"]
    assert table_of(aws).get(*dataset_key(lb))["deletions_pending"] == 0


def test_deleting_a_consolidated_row_with_nothing_pending_still_makes_a_new_version(aws, api, a):
    ws = a["workspace_id"]
    lb = create_push_leaderboard(aws, ws)
    _push(aws, ws, lb, [{"id": "x", "input": "x"}, {"id": "y", "input": "y"}])
    Consolidator(aws.settings, aws.clients).consolidate(ws, lb)
    api.post(f"/api/leaderboards/{lb}/dataset/rows/delete", a["token"], {"row_ids": ["x"]})
    result = Consolidator(aws.settings, aws.clients).consolidate(ws, lb)
    assert (result.status, result.version) == ("consolidated", 2)
    assert [r["id"] for r in consolidated_rows(aws, lb)] == ["y"]


def test_rows_routes_check_tenant_scope_and_dataset_tokens(aws, api, a, b):
    lb = create_push_leaderboard(aws, a["workspace_id"])
    assert api.get(f"/api/leaderboards/{lb}/dataset/rows", b["token"]).status == 404
    assert api.post(f"/api/leaderboards/{lb}/dataset/rows/delete", b["token"], {"row_ids": ["x"]}).status == 404
    reader, _ = scoped_token(aws, a["workspace_id"], "leaderboards:read")
    assert api.get(f"/api/leaderboards/{lb}/dataset/rows", reader).status == 200
    denied = api.post(f"/api/leaderboards/{lb}/dataset/rows/delete", reader, {"row_ids": ["x"]})
    assert denied.error_code == "insufficient_scope"
    assert api.post(f"/api/leaderboards/{lb}/dataset/rows/delete", a["token"], {"row_ids": []}).status == 400
    assert api.get(f"/api/leaderboards/{lb}/dataset/rows", a["token"], query="limit=1000").status == 400


def test_a_dataset_token_cannot_read_or_delete_rows(aws, a):
    lb = create_push_leaderboard(aws, a["workspace_id"])
    principal = dataset_principal(a["workspace_id"], lb)
    assert direct(aws, "GET", f"/api/leaderboards/{lb}/dataset/rows", principal)[0] == 403
    assert direct(aws, "POST", f"/api/leaderboards/{lb}/dataset/rows/delete", principal, {"row_ids": ["x"]})[0] == 403


# ------------------------------------------------------------------ dataset tokens
def test_a_dataset_token_is_revoked_and_stops_working(aws, api, a, b):
    lb = create_push_leaderboard(aws, a["workspace_id"])
    created = api.post(f"/v1/leaderboard/{lb}/dataset/tokens", a["token"], {"name": "app"})
    assert created.status == 201, created.body
    secret, token_id = created.json["token"], created.json["id"]
    assert api.post(f"/v1/leaderboard/{lb}/dataset/push", secret, {"input": "hi"}).status == 202
    assert api.delete(f"/api/leaderboards/{lb}/dataset/tokens/{token_id}", b["token"]).status == 404
    reader, _ = scoped_token(aws, a["workspace_id"], "leaderboards:read")
    assert api.delete(f"/api/leaderboards/{lb}/dataset/tokens/{token_id}", reader).status == 403
    assert api.delete(f"/api/leaderboards/{lb}/dataset/tokens/{token_id}", a["token"]).status == 204
    assert api.post(f"/v1/leaderboard/{lb}/dataset/push", secret, {"input": "hi"}).status == 401
    assert api.get(f"/v1/leaderboard/{lb}/dataset/status", a["token"]).json["tokens"] == []
    assert api.delete(f"/api/leaderboards/{lb}/dataset/tokens/dst_nope", a["token"]).status == 404


# ------------------------------------------------------------------ validate-only URLs
def test_dataset_urls_are_validated_without_reading_rows(aws, a):
    with HfServer() as hub:
        hub.add_repo("acme/qa", {"train.jsonl": b'{"input": "1+1", "output": "2"}\n'})
        use_local_identity(aws, DRGERO_PROVIDERS__HUGGINGFACE_ENDPOINT=hub.url)
        api = Api(aws)
        ok = api.post("/api/datasets/validate", a["token"], {"url": "hf://datasets/acme/qa/train.jsonl"})
        assert ok.status == 200, ok.body
        assert ok.json["valid"] is True and ok.json["repo"] == "acme/qa"
        missing = api.post("/api/datasets/validate", a["token"], {"url": "hf://datasets/acme/qa/nope.jsonl"})
        assert (missing.json["valid"], missing.json["code"]) == (False, "dataset_file_not_found")
        bad = api.post("/api/datasets/validate", a["token"], {"url": "https://example.com/x.jsonl"})
        assert (bad.json["valid"], bad.json["code"]) == (False, "invalid_dataset_url")
        reader, _ = scoped_token(aws, a["workspace_id"], "leaderboards:read")
        assert api.post("/api/datasets/validate", reader, {"url": "hf://datasets/acme/qa/train.jsonl"}).status == 403
        assert not aws.clients.s3.list_objects_v2(Bucket=aws.settings.aws.bucket_name, Prefix="snapshots/").get(
            "Contents"
        )


# ------------------------------------------------------------------ auto-select preview
def test_auto_select_preview_gives_reasons_and_attaches_nothing(aws, sandbox, a, b):
    use_local_identity(aws, DRGERO_PROVIDERS__OPENROUTER_BASE_URL=f"{sandbox}/api/v1")
    api = Api(aws)
    assert api.put("/api/integrations/openrouter", a["token"], {"api_key": OPENROUTER_KEY}).status == 200
    lb = create_push_leaderboard(aws, a["workspace_id"])
    table_of(aws).update(*dataset_key(lb), "SET #r = :r", {"#r": "rows"}, {":r": 500})
    preview = api.post(f"/api/leaderboards/{lb}/models/auto-select/preview", a["token"], {"count": 2})
    assert preview.status == 200, preview.body
    assert [p["model_id"] for p in preview.json["picked"]] == ["sandbox/arithmetic-exact", "sandbox/coin-flip-half"]
    assert all(p["reason"] for p in preview.json["picked"])
    assert api.get(f"/api/leaderboards/{lb}/models", a["token"]).json["models"] == []
    attached = api.post(f"/api/leaderboards/{lb}/models/auto-select", a["token"], {"count": 2})
    assert [m["config"]["model"] for m in attached.json["models"]] == [p["model_id"] for p in preview.json["picked"]]
    assert api.post(f"/api/leaderboards/{lb}/models/auto-select/preview", b["token"], {"count": 2}).status == 404


def test_the_json_of_every_new_route_is_in_the_openapi_document(api):
    paths = json.loads(api.get("/openapi.json").body)["paths"]
    for path in (
        "/",
        "/ui/{path}",
        "/api/workspaces",
        "/api/tokens/{token_id}",
        "/api/leaderboards/{id}/dataset/rows",
        "/api/leaderboards/{id}/dataset/rows/delete",
        "/api/leaderboards/{id}/dataset/tokens/{token_id}",
        "/api/datasets/validate",
        "/api/leaderboards/{id}/models/auto-select/preview",
    ):
        assert path in paths, path
    assert "patch" in paths["/api/tokens/{token_id}"]
