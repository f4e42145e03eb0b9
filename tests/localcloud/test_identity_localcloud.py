"""Local mode, end to end over HTTP: the seed (workspace, owner token, owner session), the
real authorizer in front of the real functions, and `drgero mint-jwt`."""

import contextlib
import io
import json

import httpx
import pytest

from localcloud import devjwt

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def http(local_cloud):
    with httpx.Client(base_url=local_cloud.api_url, timeout=30) as client:
        yield client


def test_seed_fields_are_in_local_json(local_cloud):
    info = local_cloud.info()
    assert info["workspace_id"].startswith("ws_")
    assert info["token"].startswith("drgero_")
    assert info["user_jwt"].count(".") == 2


def test_seeded_token_and_session_work_through_the_gateway(local_cloud, http):
    info = local_cloud.info()
    ws = info["workspace_id"]
    for headers in (
        {"Authorization": f"Bearer {info['token']}"},
        {"X-API-Key": info["token"]},
        {"X-Dr.Gero-API-Key": info["token"]},
        {"Authorization": f"Bearer {info['user_jwt']}"},
    ):
        response = http.get(f"/api/workspaces/{ws}", headers=headers)
        assert response.status_code == 200, (list(headers), response.text)
        assert response.json()["id"] == ws
    tokens = http.get("/api/tokens", headers={"X-API-Key": info["token"]}).json()["tokens"]
    assert set(tokens[0]["scopes"]) == {
        "leaderboards:read",
        "leaderboards:write",
        "runs:write",
        "inference",
        "traces:read",
        "models:write",
        "admin",
    }


def test_gateway_answers_401_with_the_authorizers_error_code(local_cloud, http):
    token = local_cloud.info()["token"]
    assert http.get("/api/tokens").status_code == 401
    typo = token[:-1] + ("a" if token[-1] != "a" else "b")
    response = http.get("/api/tokens", headers={"X-API-Key": typo})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_mint_jwt_signs_sessions_the_running_cloud_accepts(local_cloud, http, tmp_path):
    (tmp_path / "local.json").write_text(json.dumps(local_cloud.info()))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert devjwt.main(["--state-dir", str(tmp_path), "--sub", "alice", "--email", "alice@example.com"]) == 0
    alice = out.getvalue().strip()
    created = http.post("/api/workspaces", json={"name": "Alice's"}, headers={"Authorization": f"Bearer {alice}"})
    assert created.status_code == 201 and created.json()["role"] == "owner"
    assert devjwt.main(["--state-dir", str(tmp_path / "missing")]) == 2


def test_bootstrap_creates_a_workspace_and_prints_its_owner_token_once(local_cloud, http):
    from drgero_ops import bootstrap

    out = io.StringIO()
    args = [
        "--name", "Acme", "--owner-user-id", "founder", "--owner-email", "Founder@Acme.com",
        "--table", local_cloud.created.refs["MetadataTable"],
        "--region", "us-east-1", "--endpoint-url", local_cloud.aws_endpoint_url,
    ]  # fmt: skip
    with contextlib.redirect_stdout(out):
        assert bootstrap.main(args) == 0
    lines = dict(line.split(":", 1) for line in out.getvalue().splitlines())
    ws, token = lines["workspace_id"].strip(), lines["owner token"].strip()
    response = http.get(f"/api/workspaces/{ws}/members", headers={"X-API-Key": token})
    assert response.status_code == 200
    assert response.json()["members"][0]["user_id"] == "founder"
    assert response.json()["members"][0]["email"] == "founder@acme.com"


def test_the_seeded_workspace_is_on_a_plan_that_lets_people_work(local_cloud, http):
    """[local] seed_plan (default pro): no leaderboard cap, deletion allowed."""
    info = local_cloud.info()
    billing = http.get(f"/api/workspaces/{info['workspace_id']}/billing", headers={"X-API-Key": info["token"]})
    assert billing.status_code == 200, billing.text
    assert billing.json()["plan"] == "pro"
    assert billing.json()["limits"] == {"max_leaderboards": None, "can_delete_leaderboards": True}


def test_links_point_at_the_local_gateway(local_cloud, http):
    """The local cloud is its own public base URL: a leaderboard's traces_url must be
    followable as given (no API Gateway stage prefix, no TLS on loopback)."""
    token = local_cloud.info()["token"]
    body = {"name": "links", "prompt": "Q: {input}", "dataset": {"mode": "PUSH"}}
    created = http.post("/api/leaderboards", json=body, headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201, created.text
    traces_url = created.json()["traces_url"]
    assert traces_url.startswith(f"{local_cloud.api_url}/api/traces?leaderboard_id=")
    followed = httpx.get(traces_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert followed.status_code == 200, followed.text
