"""The authorizer function through its real handler: header forms, token states, JWTs."""

import base64
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from drgero.identity import credentials
from drgero.identity.principal import ALL_SCOPES, Principal, PrincipalKind
from drgero.workspaces import membership as workspaces
from localcloud.identity import LOCAL_AUDIENCE, LOCAL_ISSUER
from tests.support.aws import table_of
from tests.support.events import authorizer_event
from tests.support.identity import TEST_JWT_SECRET, new_workspace, use_local_identity, user_jwt

REPO = Path(__file__).resolve().parents[2]


def authorize(aws, headers, method="GET", path="/api/tokens"):
    return aws.functions.invoke("AuthorizerFunction", authorizer_event(headers, method, path))


def effect(answer):
    return answer["policyDocument"]["Statement"][0]["Effect"]


def assert_denied(answer, code):
    assert effect(answer) == "Deny", answer
    assert answer["context"]["error_code"] == code
    assert answer["context"]["error_message"]


@pytest.fixture
def ws(aws):
    use_local_identity(aws)
    return new_workspace(aws, "alpha")


HEADER_FORMS = [
    lambda t: {"Authorization": f"Bearer {t}"},
    lambda t: {"authorization": f"bearer {t}"},
    lambda t: {"X-API-Key": t},
    lambda t: {"x-api-key": t},
    lambda t: {"X-Dr.Gero-API-Key": t},
    lambda t: {"X-DR.GERO-API-KEY": t},
]


def test_all_three_header_forms_are_accepted_case_insensitively(aws, ws):
    for header in HEADER_FORMS:
        headers = header(ws["token"])
        answer = authorize(aws, headers)
        assert effect(answer) == "Allow", list(headers)
        principal = Principal.from_context(answer["context"])
        assert principal.kind is PrincipalKind.API_TOKEN
        assert principal.workspace_id == ws["workspace_id"]
        assert principal.scopes == ALL_SCOPES
        assert answer["principalId"] == ws["token_id"]


def test_allow_policy_covers_every_route_of_the_stage(aws, ws):
    answer = authorize(aws, {"X-API-Key": ws["token"]}, "POST", "/api/leaderboards/lb_1/runs")
    resource = answer["policyDocument"]["Statement"][0]["Resource"]
    # The API id and stage of events/authorizer-request.json, which the event is built from.
    assert resource == "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/*/*"


def test_no_credential_is_api_gateways_own_401(aws, ws):
    for headers in ({}, {"Authorization": "   "}, {"X-Other": "drgero_x"}):
        with pytest.raises(Exception, match="^Unauthorized$"):
            authorize(aws, headers)


def test_same_token_in_two_headers_is_fine_but_different_ones_are_refused(aws, ws):
    assert effect(authorize(aws, {"Authorization": f"Bearer {ws['token']}", "X-API-Key": ws["token"]})) == "Allow"
    other = new_workspace(aws, "beta")
    answer = authorize(aws, {"Authorization": f"Bearer {ws['token']}", "X-API-Key": other["token"]})
    assert_denied(answer, "invalid_request")


def test_authorization_header_must_be_bearer(aws, ws):
    for value in ("Basic dXNlcjpwYXNz", "Bearer", "Token abc"):
        assert_denied(authorize(aws, {"Authorization": value}), "invalid_token")


def test_bad_checksum_is_refused_before_any_database_read(aws, ws):
    module = aws.functions.module("AuthorizerFunction")

    class NoReads:
        def __getattr__(self, name):
            raise AssertionError(f"the table was used ({name}) for a token with a bad checksum")

    module.authorizer.table = NoReads()
    token = ws["token"]
    typo = token[:-7] + ("A" if token[-7] != "A" else "B") + token[-6:]
    assert_denied(authorize(aws, {"X-API-Key": typo}), "invalid_token")
    assert_denied(authorize(aws, {"X-API-Key": "drgero_tooshort"}), "invalid_token")
    assert_denied(authorize(aws, {"X-API-Key": "not-a-token-at-all"}), "invalid_token")
    assert_denied(authorize(aws, {"X-API-Key": "x" * 20_000}), "invalid_token")


def test_unknown_well_formed_token_is_invalid(aws, ws):
    from drgero.identity import tokens

    assert_denied(authorize(aws, {"X-API-Key": tokens.generate("drgero")}), "invalid_token")
    assert_denied(authorize(aws, {"X-API-Key": tokens.generate("hpd")}), "invalid_token")


def test_expired_token_is_refused(aws, ws):
    secret, _ = credentials.issue_api_token(
        table_of(aws), ws["workspace_id"], "old", {"leaderboards:read"}, expires_at=time.time() - 1
    )
    assert_denied(authorize(aws, {"X-API-Key": secret}), "token_expired")


def test_token_expiring_later_works_until_then_even_when_cached(aws, ws):
    module = aws.functions.module("AuthorizerFunction")
    now = [time.time()]
    module.authorizer.clock = lambda: now[0]
    secret, _ = credentials.issue_api_token(
        table_of(aws), ws["workspace_id"], "soon", {"leaderboards:read"}, expires_at=now[0] + 5
    )
    assert effect(authorize(aws, {"X-API-Key": secret})) == "Allow"
    now[0] += 6  # still inside the lookup cache window: expiry is checked against the clock
    assert_denied(authorize(aws, {"X-API-Key": secret}), "token_expired")


def test_revocation_takes_effect_within_the_cache_bound(aws, ws):
    module = aws.functions.module("AuthorizerFunction")
    now = [time.time()]
    module.authorizer.clock = lambda: now[0]
    table = table_of(aws)
    secret, record = credentials.issue_api_token(table, ws["workspace_id"], "ci", {"leaderboards:read"})
    assert effect(authorize(aws, {"X-API-Key": secret})) == "Allow"
    credentials.revoke_api_token(table, ws["workspace_id"], record["id"])
    bound = aws.settings.auth.token_cache_seconds
    assert bound > 0
    now[0] += bound  # the documented bound: at most token_cache_seconds of the old answer
    assert_denied(authorize(aws, {"X-API-Key": secret}), "token_revoked")


def test_fresh_authorizer_sees_revocation_immediately(aws, ws):
    table = table_of(aws)
    secret, record = credentials.issue_api_token(table, ws["workspace_id"], "ci", {"leaderboards:read"})
    credentials.revoke_api_token(table, ws["workspace_id"], record["id"])
    assert_denied(authorize(aws, {"X-API-Key": secret}), "token_revoked")


def test_rotation_keeps_old_secret_for_the_grace_period_only(aws, ws):
    module = aws.functions.module("AuthorizerFunction")
    now = [time.time()]
    module.authorizer.clock = lambda: now[0]
    table = table_of(aws)
    old, record = credentials.issue_api_token(table, ws["workspace_id"], "ci", {"leaderboards:read"})
    new, rotated = credentials.rotate_api_token(table, ws["workspace_id"], record["id"], grace_seconds=60, now=now[0])
    assert rotated["id"] == record["id"] and new != old
    assert effect(authorize(aws, {"X-API-Key": old})) == "Allow"
    assert effect(authorize(aws, {"X-API-Key": new})) == "Allow"
    now[0] += 61
    assert_denied(authorize(aws, {"X-API-Key": old}), "token_expired")
    assert effect(authorize(aws, {"X-API-Key": new})) == "Allow"


def test_dataset_token_principal_is_bound_to_its_leaderboard_and_has_no_scopes(aws, ws):
    secret, record = credentials.issue_dataset_token(table_of(aws), ws["workspace_id"], "lb_abc", "app")
    answer = authorize(aws, {"X-Dr.Gero-API-Key": secret}, "POST", "/v1/leaderboard/lb_abc/dataset/push")
    principal = Principal.from_context(answer["context"])
    assert principal.kind is PrincipalKind.DATASET_TOKEN
    assert principal.leaderboard_id == "lb_abc"
    assert principal.token_id == record["id"]
    assert principal.scopes == frozenset()


def test_last_used_is_recorded(aws, ws):
    authorize(aws, {"X-API-Key": ws["token"]})
    item = credentials.get_api_token(table_of(aws), ws["workspace_id"], ws["token_id"])
    assert item["last_used_at"] > 0


# ---------------------------------------------------------------------------- user sessions
def test_user_jwt_resolves_the_members_workspace_and_role_scopes(aws, ws):
    answer = authorize(aws, {"Authorization": f"Bearer {ws['jwt']}"})
    principal = Principal.from_context(answer["context"])
    assert principal.kind is PrincipalKind.USER
    assert (principal.workspace_id, principal.role, principal.user_id) == (ws["workspace_id"], "owner", ws["owner"])
    assert principal.scopes == ALL_SCOPES
    assert principal.email == f"{ws['owner']}@example.com"


def test_member_role_has_no_admin_scope(aws, ws):
    workspaces.add_member(table_of(aws), ws["workspace_id"], "bob", "member", "owner")
    principal = Principal.from_context(authorize(aws, {"Authorization": f"Bearer {user_jwt('bob')}"})["context"])
    assert principal.role == "member" and "admin" not in principal.scopes
    assert {"leaderboards:read", "leaderboards:write", "runs:write", "models:write"} <= principal.scopes


def test_user_without_workspace_gets_a_scopeless_principal(aws, ws):
    answer = authorize(aws, {"Authorization": f"Bearer {user_jwt('newcomer', 'new@example.com')}"})
    assert effect(answer) == "Allow"
    principal = Principal.from_context(answer["context"], require_workspace=False)
    assert principal.workspace_id == "" and principal.scopes == frozenset()
    assert principal.no_workspace_reason == "none"
    with pytest.raises(Exception) as err:
        Principal.from_context(answer["context"])
    assert err.value.status == 403 and err.value.code == "no_workspace"


def test_user_in_several_workspaces_picks_one_with_the_header_or_the_path(aws, ws):
    table = table_of(aws)
    other = workspaces.create_workspace(table, aws.settings, ws["owner"], "second")
    token = ws["jwt"]
    ambiguous = Principal.from_context(authorize(aws, {"Authorization": f"Bearer {token}"})["context"], False)
    assert ambiguous.no_workspace_reason == "ambiguous"
    picked = authorize(aws, {"Authorization": f"Bearer {token}", "X-Workspace-Id": other["id"]})
    assert Principal.from_context(picked["context"]).workspace_id == other["id"]
    by_path = authorize(aws, {"Authorization": f"Bearer {token}"}, "GET", f"/api/workspaces/{other['id']}/members")
    assert Principal.from_context(by_path["context"]).workspace_id == other["id"]
    foreign = new_workspace(aws, "foreign")
    refused = authorize(aws, {"Authorization": f"Bearer {token}", "X-Workspace-Id": foreign["workspace_id"]})
    principal = Principal.from_context(refused["context"], False)
    assert principal.workspace_id == "" and principal.no_workspace_reason == "not_member"


def _claims(**overrides):
    now = int(time.time())
    claims = {"iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "sub": "user-alpha", "iat": now, "exp": now + 600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


BAD_JWTS = list(
    zip(
        ["bad-signature", "expired", "wrong-issuer", "wrong-audience", "no-sub", "no-exp", "hs512", "alg-none", "junk"],
        [
            (
                lambda: jwt.encode(_claims(), "wrong-secret-wrong-secret-wrong-secret", algorithm="HS256"),
                "invalid_token",
            ),
            (
                lambda: jwt.encode(_claims(exp=int(time.time()) - 120), TEST_JWT_SECRET, algorithm="HS256"),
                "token_expired",
            ),
            (
                lambda: jwt.encode(_claims(iss="https://evil.example"), TEST_JWT_SECRET, algorithm="HS256"),
                "invalid_token",
            ),
            (lambda: jwt.encode(_claims(aud="someone-else"), TEST_JWT_SECRET, algorithm="HS256"), "invalid_token"),
            (lambda: jwt.encode(_claims(sub=None), TEST_JWT_SECRET, algorithm="HS256"), "invalid_token"),
            (lambda: jwt.encode(_claims(exp=None), TEST_JWT_SECRET, algorithm="HS256"), "invalid_token"),
            (lambda: jwt.encode(_claims(), TEST_JWT_SECRET, algorithm="HS512"), "invalid_token"),
            (lambda: _unsigned(_claims()), "invalid_token"),
            (lambda: "eyJhbGciOiJIUzI1NiJ9.not-json.sig", "invalid_token"),
        ],
        strict=True,
    )
)


def test_bad_jwts_are_refused(aws, ws):
    for name, (token_factory, code) in BAD_JWTS:
        answer = authorize(aws, {"Authorization": f"Bearer {token_factory()}"})
        assert effect(answer) == "Deny" and answer["context"]["error_code"] == code, name


def _unsigned(claims):
    def b64(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def test_hs256_is_refused_when_no_secret_is_configured(aws):
    use_local_identity(aws, DRGERO_AUTH__JWT_HS256_SECRET="")
    token = jwt.encode(_claims(), TEST_JWT_SECRET, algorithm="HS256")
    assert_denied(authorize(aws, {"Authorization": f"Bearer {token}"}), "invalid_token")


# ---------------------------------------------------------------------------- JWKS (RS256 / ES256)
class _JwksServer:
    def __init__(self, jwks):
        body = json.dumps(jwks).encode()
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the stdlib's name
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _jwk(private_key, kid, alg):
    public = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(private_key.public_key()))
    return {**public, "kid": kid, "alg": alg, "use": "sig"}


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_asymmetric_jwts_verify_against_the_issuers_jwks(aws, alg):
    key = rsa.generate_private_key(65537, 2048) if alg == "RS256" else ec.generate_private_key(ec.SECP256R1())
    stranger = rsa.generate_private_key(65537, 2048) if alg == "RS256" else ec.generate_private_key(ec.SECP256R1())
    with _JwksServer({"keys": [_jwk(key, "k1", alg)]}) as jwks:
        use_local_identity(aws, DRGERO_AUTH__JWT_JWKS_URL=jwks.url)
        ws = new_workspace(aws, "alpha", owner="user-alpha")
        good = jwt.encode(_claims(), key, algorithm=alg, headers={"kid": "k1"})
        answer = authorize(aws, {"Authorization": f"Bearer {good}"})
        assert effect(answer) == "Allow"
        assert Principal.from_context(answer["context"]).workspace_id == ws["workspace_id"]
        forged = jwt.encode(_claims(), stranger, algorithm=alg, headers={"kid": "k1"})
        assert_denied(authorize(aws, {"Authorization": f"Bearer {forged}"}), "invalid_token")
        unknown_kid = jwt.encode(_claims(), key, algorithm=alg, headers={"kid": "k2"})
        assert_denied(authorize(aws, {"Authorization": f"Bearer {unknown_kid}"}), "invalid_token")
        expired = jwt.encode(_claims(exp=int(time.time()) - 120), key, algorithm=alg, headers={"kid": "k1"})
        assert_denied(authorize(aws, {"Authorization": f"Bearer {expired}"}), "token_expired")
        # Algorithm confusion: the issuer's public key used as an HMAC secret must not pass.
        confused = _hmac_signed(_claims(), _public_pem(key))
        assert_denied(authorize(aws, {"Authorization": f"Bearer {confused}"}), "invalid_token")
        assert jwks.hits >= 1


def _public_pem(key):
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _hmac_signed(claims, secret: bytes) -> str:
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'}).encode())}.{b64(json.dumps(claims).encode())}"
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_unreachable_jwks_is_a_clear_refusal(aws):
    use_local_identity(aws, DRGERO_AUTH__JWT_JWKS_URL="http://127.0.0.1:9/jwks.json")
    key = rsa.generate_private_key(65537, 2048)
    token = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": "k1"})
    assert_denied(authorize(aws, {"Authorization": f"Bearer {token}"}), "auth_unavailable")


# ---------------------------------------------------------------------------- cold start
def test_authorizer_import_path_is_lean(aws):
    env = aws.functions.environment("AuthorizerFunction")
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('authz', {str(REPO / 'functions/authorizer/app.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "heavy = sorted(m for m in ('fastapi', 'httpx', 'huggingface_hub', 'starlette', 'mangum', 'jwt')"
        " if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    import os

    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        env={**os.environ, **env, "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "", f"heavy modules on the authorizer's import path: {result.stdout}"


# ---------------------------------------------------------------------------- HS256 secret in Secrets Manager
def test_hs256_secret_is_read_from_secrets_manager_not_the_environment(aws, ws):
    # In AWS the authorizer gets the secret's NAME (JwtHs256SecretName); the value is read at
    # the first HS256 session through Powertools Parameters and cached.
    aws.clients._client("secretsmanager").create_secret(Name="drgero/jwt-hs256", SecretString=TEST_JWT_SECRET)
    use_local_identity(aws, DRGERO_AUTH__JWT_HS256_SECRET="", DRGERO_AUTH__JWT_HS256_SECRET_NAME="drgero/jwt-hs256")
    good = jwt.encode(_claims(), TEST_JWT_SECRET, algorithm="HS256")
    assert effect(authorize(aws, {"Authorization": f"Bearer {good}"})) == "Allow"
    forged = jwt.encode(_claims(), "another-secret-of-32-characters!!", algorithm="HS256")
    assert_denied(authorize(aws, {"Authorization": f"Bearer {forged}"}), "invalid_token")


def test_an_unreadable_hs256_secret_denies_as_auth_unavailable(aws, ws):
    use_local_identity(aws, DRGERO_AUTH__JWT_HS256_SECRET="", DRGERO_AUTH__JWT_HS256_SECRET_NAME="drgero/missing")
    token = jwt.encode(_claims(), TEST_JWT_SECRET, algorithm="HS256")
    assert_denied(authorize(aws, {"Authorization": f"Bearer {token}"}), "auth_unavailable")
