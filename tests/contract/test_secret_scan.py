"""The suite-wide secret scan recognises our secrets, and a whole identity flow (tokens,
rotation, bad credentials, invitations, integrations) logs none of them."""

from drgero.identity import tokens
from tests.support.gateway import Api
from tests.support.identity import new_workspace, use_local_identity, user_jwt
from tests.support.secret_scan import find_secrets


def test_scanner_recognises_every_secret_format():
    samples = [
        tokens.generate("drgero"),
        tokens.generate("hpd"),
        "inv_" + tokens.generate("drgero").split("_", 1)[1],
        user_jwt("someone"),
        "sk-or-v1-0123456789abcdef",
        "hf_" + "a" * 30,
    ]
    for sample in samples:
        assert find_secrets(f"log line {sample} end"), sample
    assert not find_secrets("drgero_…abcd tok_01abc ws_01xyz sk-o…cdef")


def test_identity_flow_logs_and_errors_contain_no_secret(aws, caplog):
    # stdout/stderr (Powertools' JSON logs) are checked by the suite-wide scan after this
    # test (secret_scan.py); here: every response body and every logging record.
    use_local_identity(aws, DRGERO_AUTH__TOKEN_CACHE_SECONDS="0")
    api = Api(aws)
    a = new_workspace(aws, "alpha")
    owner = a["token"]
    created = api.post("/api/tokens", owner, {"name": "ci", "scopes": ["leaderboards:read"]}).json
    secret = created["token"]
    rotated = api.post(f"/api/tokens/{created['id']}/rotate", owner, {"grace_seconds": 0}).json["token"]
    typo = secret[:-1] + ("a" if secret[-1] != "a" else "b")
    responses = [
        api.get("/api/tokens", secret),  # expired by rotation
        api.get("/api/tokens", typo),
        api.get("/api/tokens", rotated),
        api.get("/api/tokens", owner),
        api.put("/api/integrations/openrouter", owner, {"api_key": "sk-or-v1-never-log-me-0123"}),
        api.get("/api/integrations/openrouter", owner),
        api.post("/api/integrations/validate", owner, {"provider": "openrouter"}),
        api.post("/api/integrations/validate", owner, {"provider": "huggingface", "api_key": "hf_" + "z" * 30}),
        api.put("/api/integrations/openrouter", owner, {"api_key": "sk-or-v1 with spaces"}),
    ]
    invite = api.post(f"/api/workspaces/{a['workspace_id']}/invitations", owner, {"email": "x@example.com"}).json
    responses.append(api.post("/api/invitations/accept", user_jwt("y", "y@example.com"), {"code": invite["code"]}))
    api.delete(f"/api/tokens/{created['id']}", owner)
    responses.append(api.get("/api/tokens", rotated))
    for response in responses:
        assert not find_secrets(response.body.decode()), response.body
        assert response.status < 500
    logs = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    for value in (secret, rotated, typo, owner, a["jwt"], invite["code"], "sk-or-v1-never-log-me-0123", "z" * 30):
        assert value not in logs
