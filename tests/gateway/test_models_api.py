"""The model routes through the API (emulated API Gateway -> authorizer -> ApiFunction):
candidates of every platform against the sandbox provider, each error class as a clear API
error, secrets never returned, removal rules, auto-select with each constraint, Dr.Gero model
CRUD, wrong tenant / missing scope / bad bodies on every new route."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from drgero.identity import credentials
from drgero.identity.integrations import delete_integration, put_integration
from drgero.identity.principal import ALL_SCOPES
from drgero.store import keys as trace_keys
from drgero.store.keys import dataset_key, history_index_pk, leaderboard_key, run_key
from drgero_ops.seeding import seed_workspace
from localcloud.sandbox.custom import SANDBOX_CUSTOM_SECRET
from localcloud.sandbox.huggingface import SANDBOX_HF_TOKEN
from tests.support.aws import table_of
from tests.support.gateway import Api
from tests.support.identity import new_workspace, use_local_identity

OPENROUTER_KEY = "sk-or-" + "models-api-test-key"  # assembled: never literal in a traceback


@pytest.fixture
def env(aws, sandbox):
    use_local_identity(
        aws,
        DRGERO_PROVIDERS__OPENROUTER_BASE_URL=f"{sandbox}/api/v1",
        DRGERO_PROVIDERS__MAX_RETRIES="0",
        DRGERO_AUTH__TOKEN_CACHE_SECONDS="0",
        DRGERO_LIMITS__MODELS_MAX_BODY_BYTES="8192",
    )
    api = Api(aws)
    # Pro workspaces: tests here create more leaderboards than the free plan allows.
    pro = aws.settings.model_copy(update={"plans": aws.settings.plans.model_copy(update={"default_plan": "pro"})})
    a = seed_workspace(table_of(aws), pro, "alpha", "owner-a", "owner-a@example.com")
    b = seed_workspace(table_of(aws), pro, "beta", "owner-b", "owner-b@example.com")
    for seeded in (a, b):  # as the local seed does: leaderboard creation needs OpenRouter
        put_integration(aws.settings, aws.clients, seeded["workspace_id"], "openrouter", OPENROUTER_KEY)

    class Env:
        pass

    e = Env()
    e.aws, e.api, e.a, e.b, e.sandbox, e.table = aws, api, a, b, sandbox, table_of(aws)
    e.token = a["token"]
    return e


def put_key(env, token=None):
    r = env.api.put("/api/integrations/openrouter", token or env.token, {"api_key": OPENROUTER_KEY})
    assert r.status == 200, r.body


def new_leaderboard(env, token=None, rows=500):
    body = {
        "name": "math",
        "prompt": "Solve {input}",
        "dataset": {"mode": "PUSH", "max_samples": 1000, "daily_limit": 100_000, "monthly_limit": 1_000_000},
    }
    r = env.api.post("/api/leaderboards", token or env.token, body)
    assert r.status == 201, r.body
    lb = r.json["id"]
    if rows:
        # As if consolidation had produced this many rows.
        env.table.update(*dataset_key(lb), "SET #r = :r", {"#r": "rows"}, {":r": rows})
    return lb


def attach(env, lb, body, token=None, **kw):
    return env.api.post(f"/api/leaderboards/{lb}/models", token or env.token, body, **kw)


def custom(env, path="custom/openai", **extra):
    return {"platform": "custom", "url": f"{env.sandbox}/{path}", **extra}


def assert_no_secret(response, *secrets):
    for secret in secrets:
        assert secret not in response.body.decode(), "a secret was returned"


# ------------------------------------------------------------------ platforms: happy paths
def test_openrouter_model_is_validated_against_the_catalog_and_listed(env):
    put_key(env)
    lb = new_leaderboard(env)
    r = attach(env, lb, {"platform": "openrouter", "model": "sandbox/arithmetic-exact"})
    assert r.status == 201, r.body
    model = r.json
    assert model["platform"] == "openrouter" and model["config"]["model"] == "sandbox/arithmetic-exact"
    assert model["pricing"] == {"input_per_m_usd": 1.0, "output_per_m_usd": 2.0}
    board = env.api.get(f"/api/leaderboards/{lb}", env.token).json
    assert [m["id"] for m in board["models"]] == [model["id"]]
    listed = env.api.get(f"/api/leaderboards/{lb}/models", env.token).json["models"]
    assert [m["id"] for m in listed] == [model["id"]]
    one = env.api.get(f"/api/leaderboards/{lb}/models/{model['id']}", env.token)
    assert one.status == 200 and one.json["config"]["model"] == "sandbox/arithmetic-exact"
    # The catalog is cached in S3 (TTL: providers.catalog_ttl_seconds).
    bucket = env.aws.settings.aws.bucket_name
    assert env.aws.clients.s3.get_object(Bucket=bucket, Key="catalog/openrouter.json")["Body"].read()


def test_custom_endpoint_with_a_secret_header_never_returns_the_secret(env):
    lb = new_leaderboard(env)
    body = custom(
        env,
        "custom/secure/json",
        auth={"kind": "header", "header_name": "X-Api-Key", "secret": SANDBOX_CUSTOM_SECRET},
        response_format="json",
        json_path="result.text",
        pricing={"input_per_m_usd": 0.5, "output_per_m_usd": 1.5},
    )
    r = attach(env, lb, body)
    assert r.status == 201, r.body
    assert r.json["secret"] == {"configured": True, "hint": "…" + SANDBOX_CUSTOM_SECRET[-4:]}
    assert r.json["config"]["auth"] == {"kind": "header", "header_name": "X-Api-Key"}
    assert r.json["config"]["pricing"] == {"input_per_m_usd": 0.5, "output_per_m_usd": 1.5}
    assert_no_secret(r, SANDBOX_CUSTOM_SECRET)
    for path in (
        f"/api/leaderboards/{lb}/models",
        f"/api/leaderboards/{lb}",
        f"/api/leaderboards/{lb}/models/{r.json['id']}",
    ):
        assert_no_secret(env.api.get(path, env.token), SANDBOX_CUSTOM_SECRET)
    stored = json.dumps(env.table.get(f"LB#{lb}", f"MODEL#{r.json['id']}"), default=repr)
    assert SANDBOX_CUSTOM_SECRET not in stored


def test_custom_endpoint_bearer_and_text_formats(env):
    lb = new_leaderboard(env)
    bearer = custom(env, "custom/secure/openai", auth={"kind": "bearer", "secret": SANDBOX_CUSTOM_SECRET})
    assert attach(env, lb, bearer).status == 201
    assert attach(env, lb, custom(env, "custom/text", response_format="text")).status == 201


def test_huggingface_endpoints_openai_and_classic_with_a_token(env):
    lb = new_leaderboard(env)
    tgi = {"platform": "huggingface", "url": f"{env.sandbox}/hf/private-echo", "token": SANDBOX_HF_TOKEN}
    r = attach(env, lb, tgi)
    assert r.status == 201, r.body
    assert r.json["secret"]["configured"] is True
    assert_no_secret(r, SANDBOX_HF_TOKEN)
    classic = {"platform": "huggingface", "api": "classic", "url": f"{env.sandbox}/hf/arithmetic-exact"}
    assert attach(env, lb, classic).status == 201


# ------------------------------------------------------------------ error classes
def test_unknown_openrouter_model_is_400(env):
    put_key(env)
    lb = new_leaderboard(env)
    r = attach(env, lb, {"platform": "openrouter", "model": "nobody/no-such-model"})
    assert (r.status, r.error_code) == (400, "unknown_model")


def test_openrouter_without_integration_is_409_integration_required(env):
    lb = new_leaderboard(env)
    delete_integration(env.aws.settings, env.aws.clients, env.a["workspace_id"], "openrouter")
    r = attach(env, lb, {"platform": "openrouter", "model": "sandbox/echo"})
    assert (r.status, r.error_code) == (409, "integration_required")
    r = env.api.post(f"/api/leaderboards/{lb}/models/auto-select", env.token, {"count": 2})
    assert (r.status, r.error_code) == (409, "integration_required")


def test_push_leaderboard_below_the_minimum_rows_is_409_dataset_too_small(env):
    put_key(env)
    lb = new_leaderboard(env, rows=0)
    r = attach(env, lb, {"platform": "openrouter", "model": "sandbox/echo"})
    assert (r.status, r.error_code) == (409, "dataset_too_small")
    assert r.json["error"]["details"]["required_rows"] == 100
    r = env.api.post(f"/api/leaderboards/{lb}/models/auto-select", env.token, {"count": 2})
    assert (r.status, r.error_code) == (409, "dataset_too_small")


def test_unreachable_endpoint_is_400_endpoint_probe_failed(env):
    lb = new_leaderboard(env)
    r = attach(env, lb, {"platform": "custom", "url": "http://127.0.0.1:9/generate"})
    assert (r.status, r.error_code) == (400, "endpoint_probe_failed")
    r = attach(env, lb, custom(env, "custom/status/500"))
    assert (r.status, r.error_code) == (400, "endpoint_probe_failed")


def test_endpoint_auth_failure_is_400_with_the_cause(env):
    lb = new_leaderboard(env)
    wrong = "wrong-" + "secret-value-1234"
    r = attach(env, lb, custom(env, "custom/secure/openai", auth={"kind": "bearer", "secret": wrong}))
    assert (r.status, r.error_code) == (400, "endpoint_probe_failed")
    assert r.json["error"]["details"]["cause"] == "provider_auth_failed"
    assert_no_secret(r, wrong)
    r = attach(env, lb, {"platform": "huggingface", "url": f"{env.sandbox}/hf/private-echo"})
    assert (r.status, r.error_code) == (400, "endpoint_probe_failed")


def test_ssrf_refused_urls_are_400_unsafe_url(env):
    lb = new_leaderboard(env)
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.8/v1", "http://[fd00:ec2::254]/"):
        r = attach(env, lb, {"platform": "custom", "url": url})
        assert (r.status, r.error_code) == (400, "unsafe_url"), url
        r = attach(env, lb, {"platform": "huggingface", "url": url})
        assert (r.status, r.error_code) == (400, "unsafe_url"), url
    r = attach(env, lb, {"platform": "custom", "url": "ftp://example.com/x"})
    assert (r.status, r.error_code) == (400, "invalid_request")
    assert env.api.get(f"/api/leaderboards/{lb}/models", env.token).json["models"] == []


def test_redirect_to_the_metadata_service_is_refused(env):
    lb = new_leaderboard(env)
    r = attach(env, lb, custom(env, "custom/redirect"))
    assert (r.status, r.error_code) == (400, "endpoint_probe_failed")
    assert env.api.get(f"/api/leaderboards/{lb}/models", env.token).json["models"] == []


# ------------------------------------------------------------------ idempotency, duplicates
def test_idempotency_key_returns_the_same_model_and_refuses_a_different_body(env):
    lb = new_leaderboard(env)
    body = custom(env)
    first = attach(env, lb, body, headers={"Idempotency-Key": "attach-1"})
    again = attach(env, lb, body, headers={"Idempotency-Key": "attach-1"})
    assert first.status == again.status == 201
    assert first.json["id"] == again.json["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    assert len(env.api.get(f"/api/leaderboards/{lb}/models", env.token).json["models"]) == 1
    other = attach(env, lb, custom(env, "custom/text", response_format="text"), headers={"Idempotency-Key": "attach-1"})
    assert (other.status, other.error_code) == (422, "idempotency_key_reused")
    duplicate = attach(env, lb, body)
    assert (duplicate.status, duplicate.error_code) == (409, "model_already_attached")
    bad_key = attach(env, lb, body, headers={"Idempotency-Key": "x" * 300})
    assert bad_key.status == 400


def test_concurrent_retries_with_one_idempotency_key_attach_one_model(env):
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    lb = new_leaderboard(env)
    # Slow probes, so both attempts are past validation before either commits.
    httpx.post(f"{env.sandbox}/_sandbox/control", json={"model": "custom", "latency_ms": 300}, trust_env=False)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(attach, env, lb, custom(env), headers={"Idempotency-Key": "race-1"}) for _ in range(2)]
        answers = [f.result() for f in futures]
    assert [a.status for a in answers] == [201, 201], [a.body for a in answers]
    assert answers[0].json["id"] == answers[1].json["id"]
    assert len(env.api.get(f"/api/leaderboards/{lb}/models", env.token).json["models"]) == 1


# ------------------------------------------------------------------ removal rules
def _run(env, lb, run_id, status, model_ids, ranking_rows=None, started_at="2026-01-01T00:00:00Z"):
    pk, sk = run_key(run_id)
    item = {
        "pk": pk,
        "sk": sk,
        "gsi1pk": history_index_pk(lb),
        "gsi1sk": f"{started_at}#{run_id}",
        "id": run_id,
        "workspace_id": env.a["workspace_id"],
        "leaderboard_id": lb,
        "source": "manual",
        "status": status,
        "model_ids": model_ids,
        "started_at": started_at,
    }
    if ranking_rows is not None:
        item["ranking_json"] = json.dumps({"rows": ranking_rows, "winner_model_id": ranking_rows[0]["model_id"]})
    env.table.put(item)


def test_remove_refuses_a_pinned_model_and_a_model_of_the_active_run(env):
    lb = new_leaderboard(env)
    m1 = attach(env, lb, custom(env)).json["id"]
    m2 = attach(env, lb, custom(env, "custom/text", response_format="text")).json["id"]
    m3 = attach(
        env, lb, custom(env, "custom/secure/openai", auth={"kind": "bearer", "secret": SANDBOX_CUSTOM_SECRET})
    ).json["id"]
    assert (
        env.api.put(f"/api/leaderboards/{lb}/selection", env.token, {"strategy": "manual", "model_id": m1}).status
        == 200
    )
    r = env.api.delete(f"/api/leaderboards/{lb}/models/{m1}", env.token)
    assert (r.status, r.error_code) == (409, "model_in_production")

    _run(env, lb, "run_active", "running", [m1, m2])
    env.table.update(*leaderboard_key(env.a["workspace_id"], lb), "SET active_run_id = :r", None, {":r": "run_active"})
    r = env.api.delete(f"/api/leaderboards/{lb}/models/{m2}", env.token)
    assert (r.status, r.error_code) == (409, "model_in_use")
    assert r.json["error"]["details"]["active_run_id"] == "run_active"
    # A model the active run does not use can go.
    assert env.api.delete(f"/api/leaderboards/{lb}/models/{m3}", env.token).status == 204
    env.table.update(*leaderboard_key(env.a["workspace_id"], lb), "REMOVE active_run_id")
    assert env.api.delete(f"/api/leaderboards/{lb}/models/{m2}", env.token).status == 204
    assert env.api.delete(f"/api/leaderboards/{lb}/models/{m2}", env.token).status == 404
    assert [m["id"] for m in env.api.get(f"/api/leaderboards/{lb}", env.token).json["models"]] == [m1]


def test_removing_the_ranking_winner_moves_production_to_the_next_ranked_model(env):
    lb = new_leaderboard(env)
    m1 = attach(env, lb, custom(env)).json["id"]
    m2 = attach(env, lb, custom(env, "custom/text", response_format="text")).json["id"]
    rows = [{"model_id": m1, "rank": 1, "score": 0.9}, {"model_id": m2, "rank": 2, "score": 0.5}]
    _run(env, lb, "run_done", "completed", [m1, m2], rows)
    assert env.api.put(f"/api/leaderboards/{lb}/selection", env.token, {"strategy": "ranking_winner"}).status == 200
    assert env.api.get(f"/api/leaderboards/{lb}/ranking", env.token).json["production"]["model_id"] == m1

    assert env.api.delete(f"/api/leaderboards/{lb}/models/{m1}", env.token).status == 204
    production = env.api.get(f"/api/leaderboards/{lb}/ranking", env.token).json["production"]
    assert production["model_id"] == m2
    assert env.api.delete(f"/api/leaderboards/{lb}/models/{m2}", env.token).status == 204
    assert env.api.get(f"/api/leaderboards/{lb}/ranking", env.token).json["production"] is None


def test_a_crash_between_removal_and_production_fallback_never_serves_the_removed_model(env):
    from drgero.leaderboards import candidates

    lb = new_leaderboard(env)
    m1 = attach(env, lb, custom(env)).json["id"]
    m2 = attach(env, lb, custom(env, "custom/text", response_format="text")).json["id"]
    _run(env, lb, "run_done", "completed", [m1, m2], [{"model_id": m1, "rank": 1, "score": 1.0}])
    env.api.put(f"/api/leaderboards/{lb}/selection", env.token, {"strategy": "ranking_winner"})
    candidates.remove_model(env.table, env.a["workspace_id"], lb, m1)  # the fallback step never ran
    assert env.api.get(f"/api/leaderboards/{lb}/ranking", env.token).json["production"] is None


# ------------------------------------------------------------------ auto-select
def auto(env, lb, body):
    r = env.api.post(f"/api/leaderboards/{lb}/models/auto-select", env.token, body)
    assert r.status == 200, r.body
    return r.json


def picked(result):
    return [m["config"]["model"] if "config" in m else m["name"] for m in result["models"]]


AUTO_SELECT_CASES = [
    ({"count": 2}, ["sandbox/arithmetic-exact", "sandbox/coin-flip-half"]),
    ({"count": 5, "max_input_cost_per_m": 0.5}, ["sandbox/coin-flip-half", "sandbox/off-by-one", "sandbox/echo"]),
    ({"count": 5, "max_output_cost_per_m": 0.2}, ["sandbox/off-by-one", "sandbox/echo"]),
    ({"count": 5, "max_p95_latency_ms": 200}, ["sandbox/coin-flip-half", "sandbox/off-by-one", "sandbox/echo"]),
    ({"count": 5, "max_p99_latency_ms": 150}, ["sandbox/off-by-one", "sandbox/echo"]),
    ({"count": 5, "open_source_only": True}, ["sandbox/arithmetic-exact", "sandbox/coin-flip-half", "sandbox/echo"]),
]


def test_auto_select_each_constraint(env):
    put_key(env)
    for constraints, expected in AUTO_SELECT_CASES:
        lb = new_leaderboard(env)
        result = auto(env, lb, constraints)
        assert picked(result) == expected, constraints
        for model in result["models"]:
            choice = model["auto_select"]
            assert choice["reason"]
            assert choice["p95"]["source"] == "estimate_p90_p99"
            assert choice["p99"]["source"] == "openrouter"
            assert model["already_attached"] is False
        assert any("p95" in note for note in result["notes"])
        # Deterministic and idempotent: the same request again attaches nothing more.
        again = auto(env, lb, constraints)
        assert picked(again) == expected
        assert all(m["already_attached"] for m in again["models"])
        assert len(env.api.get(f"/api/leaderboards/{lb}/models", env.token).json["models"]) == len(expected)


def test_auto_select_uses_observed_p95_from_inference_traces(env):
    put_key(env)
    lb = new_leaderboard(env)
    ws = env.a["workspace_id"]
    partition = trace_keys.trace_listing_pk(ws, kind="inference")
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    for i in range(25):  # enough for a p95 (observed_latency_min_samples = 20), not for a p99
        moment = trace_keys.sortable_time(now - timedelta(minutes=i))
        trace_id = f"tr_{i:026d}"
        env.table.put(
            {
                "pk": partition,
                "sk": f"{moment}#{trace_id}",
                "t": {
                    "id": trace_id,
                    "kind": "inference",
                    "status": "ok",
                    "duration_ms": 40 + i,
                    "model": {"id": "sandbox/arithmetic-exact", "platform": "openrouter", "name": "x"},
                },
            }
        )
    result = auto(env, lb, {"count": 1, "max_p95_latency_ms": 100})
    assert picked(result) == ["sandbox/arithmetic-exact"]  # its OpenRouter estimate (329 ms) would not pass
    choice = result["models"][0]["auto_select"]
    assert choice["p95"] == {"value_ms": 63.0, "source": "observed"}
    assert choice["p99"]["source"] == "openrouter"

    # Traces name the candidate (mdl_…): mapped to its OpenRouter id. Failed and expired
    # traces do not count.
    from drgero.providers.observed import observed_latencies

    echo = attach(env, lb, {"platform": "openrouter", "model": "sandbox/echo"}).json["id"]
    for i in range(22):
        moment = trace_keys.sortable_time(now - timedelta(minutes=i, seconds=30))
        trace_id = f"tr_{i + 100:026d}"
        summary = {"id": trace_id, "status": "ok", "duration_ms": 5, "model": {"id": echo, "platform": "openrouter"}}
        if i == 0:
            summary = {**summary, "status": "error", "duration_ms": 99_999}
        item = {"pk": partition, "sk": f"{moment}#{trace_id}", "t": summary}
        if i == 1:
            item["expires_at"] = 1  # past its TTL
            item["t"] = {**summary, "duration_ms": 88_888}
        env.table.put(item)
    observed = observed_latencies(env.table, env.aws.settings, ws)
    assert observed["sandbox/echo"].samples == 20 and observed["sandbox/echo"].p95_ms == 5.0
    assert observed["sandbox/arithmetic-exact"].samples == 25


def test_auto_select_bad_bodies(env):
    put_key(env)
    lb = new_leaderboard(env)
    for body in (
        {},
        {"count": 0},
        {"count": "many"},
        {"count": 2, "max_p95_latency_ms": -1},
        {"count": 2, "x": 1},
        [1],
    ):
        r = env.api.post(f"/api/leaderboards/{lb}/models/auto-select", env.token, body)
        assert (r.status, r.error_code) == (400, "invalid_request"), body


# ------------------------------------------------------------------ Dr.Gero models
def create_dg(env, token=None, **extra):
    body = {"name": "support-bot", "base_model": "llama", "endpoint": {"url": f"{env.sandbox}/custom/openai"}, **extra}
    return env.api.post("/api/models", token or env.token, body)


def test_drgero_model_crud_with_versions_and_masked_secret(env):
    r = create_dg(
        env,
        endpoint={
            "url": f"{env.sandbox}/custom/secure/openai",
            "model": "bot-v1",
            "auth": {"kind": "bearer", "secret": SANDBOX_CUSTOM_SECRET},
        },
    )
    assert r.status == 201, r.body
    model = r.json
    assert model["status"] == "ready" and model["current_version"] == 1
    assert model["versions"][0]["source"] == "manual"
    assert model["endpoint"]["auth"] == {
        "kind": "bearer",
        "secret": {"configured": True, "hint": "…" + SANDBOX_CUSTOM_SECRET[-4:]},
    }
    assert_no_secret(r, SANDBOX_CUSTOM_SECRET)
    mid = model["id"]
    assert env.api.get(f"/api/models/{mid}", env.token).json["name"] == "support-bot"
    assert [m["id"] for m in env.api.get("/api/models", env.token).json["models"]] == [mid]

    renamed = env.api.patch(f"/api/models/{mid}", env.token, {"name": "bot", "description": "d", "base_model": None})
    assert renamed.status == 200 and renamed.json["name"] == "bot" and renamed.json["current_version"] == 1
    assert renamed.json["base_model"] is None
    v2 = env.api.patch(f"/api/models/{mid}", env.token, {"endpoint": {"url": f"{env.sandbox}/custom/openai"}})
    assert v2.status == 200, v2.body
    assert v2.json["current_version"] == 2 and [v["version"] for v in v2.json["versions"]] == [1, 2]
    assert v2.json["endpoint"]["url"].endswith("/custom/openai")
    for path in ("/api/models", f"/api/models/{mid}"):
        assert_no_secret(env.api.get(path, env.token), SANDBOX_CUSTOM_SECRET)
    assert SANDBOX_CUSTOM_SECRET not in json.dumps(
        env.table.get(f"WS#{env.a['workspace_id']}", f"DGMODEL#{mid}"), default=repr
    )

    assert env.api.delete(f"/api/models/{mid}", env.token).status == 204
    assert env.api.get(f"/api/models/{mid}", env.token).status == 404


def test_drgero_model_endpoint_checks(env):
    r = create_dg(env, endpoint={"url": "http://169.254.169.254/latest"})
    assert (r.status, r.error_code) == (400, "unsafe_url")
    r = create_dg(env, endpoint={"url": "http://169.254.169.254/latest"}, probe=False)
    assert (r.status, r.error_code) == (400, "unsafe_url")
    r = create_dg(env, endpoint={"url": "http://127.0.0.1:9/v1"})
    assert (r.status, r.error_code) == (400, "endpoint_probe_failed")
    r = create_dg(env, endpoint={"url": "https://not-deployed-yet.example/v1"}, probe=False)
    assert r.status == 201 and r.json["status"] == "unverified"
    r = create_dg(
        env,
        endpoint={"url": f"{env.sandbox}/custom/secure/openai", "auth": {"kind": "bearer", "secret": "nope-nope-nope"}},
    )
    assert (r.status, r.error_code) == (400, "endpoint_probe_failed")


def test_drgero_model_as_a_candidate_and_delete_while_attached(env):
    lb = new_leaderboard(env)
    mid = create_dg(env).json["id"]
    r = attach(env, lb, {"platform": "drgero", "model_id": mid})
    assert r.status == 201, r.body
    assert r.json["platform"] == "drgero" and r.json["config"]["model_id"] == mid
    r = env.api.delete(f"/api/models/{mid}", env.token)
    assert (r.status, r.error_code) == (409, "model_attached")
    assert r.json["error"]["details"]["leaderboards"] == [{"id": lb, "name": "math"}]
    assert env.api.get(f"/api/models/{mid}", env.token).json["status"] == "ready"  # restored
    candidate = env.api.get(f"/api/leaderboards/{lb}/models", env.token).json["models"][0]["id"]
    assert env.api.delete(f"/api/leaderboards/{lb}/models/{candidate}", env.token).status == 204
    assert env.api.delete(f"/api/models/{mid}", env.token).status == 204
    r = attach(env, lb, {"platform": "drgero", "model_id": mid})
    assert r.status == 404


def test_drgero_model_being_deleted_cannot_be_attached_and_a_crashed_delete_finishes(env):
    lb = new_leaderboard(env)
    mid = create_dg(env).json["id"]
    key = (f"WS#{env.a['workspace_id']}", f"DGMODEL#{mid}")
    # A delete that crashed after marking the model (before looking for attachments).
    env.table.update(
        *key, "SET #s = :d, status_before_delete = :r", {"#s": "status"}, {":d": "deleting", ":r": "ready"}
    )
    assert attach(env, lb, {"platform": "drgero", "model_id": mid}).status == 404
    assert env.api.get(f"/api/leaderboards/{lb}/models", env.token).json["models"] == []
    assert env.api.delete(f"/api/models/{mid}", env.token).status == 204
    assert env.table.get(*key) is None
    # The workspace's model counter went back down: a new model can be created.
    assert env.table.get(f"WS#{env.a['workspace_id']}", "DGMODELCOUNT")["count"] == 0


def test_drgero_model_limit_per_workspace_is_exact_under_concurrency(env):
    from concurrent.futures import ThreadPoolExecutor

    env.aws.functions.extra_env["DRGERO_LIMITS__MAX_DRGERO_MODELS"] = "2"  # before the first call
    first = create_dg(env, probe=False)
    assert first.status == 201
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: create_dg(env, probe=False), range(3)))
    assert sorted(a.status for a in answers) == [201, 409, 409]
    assert {a.error_code for a in answers if a.status == 409} == {"model_limit"}
    assert len(env.api.get("/api/models", env.token).json["models"]) == 2
    assert env.api.delete(f"/api/models/{first.json['id']}", env.token).status == 204
    assert create_dg(env, probe=False).status == 201
    # Another workspace's listing never shows these.
    assert env.api.get("/api/models", env.b["token"]).json["models"] == []


def test_drgero_model_of_another_workspace_cannot_be_attached(env):
    lb = new_leaderboard(env)
    theirs = create_dg(env, token=env.b["token"]).json["id"]
    r = attach(env, lb, {"platform": "drgero", "model_id": theirs})
    assert r.status == 404


def test_drgero_model_bad_bodies(env):
    for body in (
        {},
        {"name": "x"},
        {"name": 5, "endpoint": {"url": f"{env.sandbox}/custom/openai"}},
        {"name": "x", "endpoint": {"url": "not a url"}},
        {"name": "x", "endpoint": {"url": f"{env.sandbox}/custom/openai", "auth": {"kind": "bearer"}}},
        {"name": "   ", "endpoint": {"url": f"{env.sandbox}/custom/openai"}},
        {"name": "x", "endpoint": {"url": f"{env.sandbox}/custom/openai"}, "extra": 1},
        ["x"],
    ):
        r = env.api.post("/api/models", env.token, body)
        assert r.status == 400, (body, r.body)


# ------------------------------------------------------------------ every new route: tenant, scope, bodies
def _routes(env, lb, candidate_id, dg_id):
    body = custom(env)
    return [
        ("POST", f"/api/leaderboards/{lb}/models", body, "leaderboards:write"),
        ("GET", f"/api/leaderboards/{lb}/models", None, "leaderboards:read"),
        ("GET", f"/api/leaderboards/{lb}/models/{candidate_id}", None, "leaderboards:read"),
        ("POST", f"/api/leaderboards/{lb}/models/auto-select", {"count": 1}, "leaderboards:write"),
        ("DELETE", f"/api/leaderboards/{lb}/models/{candidate_id}", None, "leaderboards:write"),
        ("POST", "/api/models", {"name": "n", "endpoint": {"url": f"{env.sandbox}/custom/openai"}}, "models:write"),
        ("GET", "/api/models", None, "leaderboards:read"),
        ("GET", f"/api/models/{dg_id}", None, "leaderboards:read"),
        ("PATCH", f"/api/models/{dg_id}", {"name": "renamed"}, "models:write"),
        ("DELETE", f"/api/models/{dg_id}", None, "models:write"),
    ]


def test_every_new_route_wrong_tenant_and_missing_scope(env):
    put_key(env)
    lb = new_leaderboard(env)
    candidate_id = attach(env, lb, custom(env, "custom/text", response_format="text")).json["id"]
    dg_id = create_dg(env).json["id"]
    ws = env.a["workspace_id"]
    for method, path, body, scope in _routes(env, lb, candidate_id, dg_id):
        other = env.api.request(method, path, env.b["token"], body)
        if path.startswith("/api/leaderboards/") or "/api/models/" in path:
            assert other.status == 404, (method, path, other.body)
        lacking, _ = credentials.issue_api_token(env.table, ws, "lacking", ALL_SCOPES - {scope})
        refused = env.api.request(method, path, lacking, body)
        assert (refused.status, refused.error_code) == (403, "insufficient_scope"), (method, path)
    # B's calls changed nothing of A's.
    assert env.api.get(f"/api/leaderboards/{lb}/models/{candidate_id}", env.token).status == 200
    assert env.api.get(f"/api/models/{dg_id}", env.token).json["name"] == "support-bot"


def test_malformed_oversized_and_wrong_type_bodies(env):
    put_key(env)
    lb = new_leaderboard(env)
    dg_id = create_dg(env).json["id"]
    for path_kind, (method, path) in {
        "attach": ("POST", f"/api/leaderboards/{lb}/models"),
        "auto": ("POST", f"/api/leaderboards/{lb}/models/auto-select"),
        "create": ("POST", "/api/models"),
        "patch": ("PATCH", f"/api/models/{dg_id}"),
    }.items():
        _bad_bodies(env, path_kind, method, path)
    assert env.api.get(f"/api/leaderboards/{lb}/models", env.token).json["models"] == []
    assert env.api.get(f"/api/models/{dg_id}", env.token).json["name"] == "support-bot"


def _bad_bodies(env, path_kind, method, path):
    assert env.api.request(method, path, env.token, raw_body=b"{not json").status == 400
    assert env.api.request(method, path, env.token, raw_body=b'"a string"').status == 400
    assert env.api.request(method, path, env.token, body=[1, 2]).status == 400
    big = env.api.request(method, path, env.token, body={"name": "x" * 10_000})
    assert (big.status, big.error_code) == (413, "payload_too_large")
    if path_kind == "attach":
        for body in (
            {"platform": "nope"},
            {"platform": "openrouter", "model": 5},
            {"platform": "openrouter", "model": "no slash"},
            {"platform": "custom", "url": f"{env.sandbox}/custom/openai", "auth": {"kind": "bearer"}},
            {"platform": "custom", "url": f"{env.sandbox}/custom/openai", "response_format": "json"},
            {"platform": "drgero"},
        ):
            r = env.api.request(method, path, env.token, body)
            assert (r.status, r.error_code) == (400, "invalid_request"), body
        secret = "secret-" + "in-a-bad-body-0000"
        body = {"platform": "custom", "url": "x", "auth": {"kind": "bearer", "secret": secret}, "json_path": "?"}
        r = env.api.request(method, path, env.token, body)
        assert r.status == 400
        assert_no_secret(r, secret)


# ------------------------------------------------------------------ local seed
def test_local_seed_gives_the_workspace_a_sandbox_openrouter_key_only_for_a_loopback_base_url(aws):
    from drgero.identity.integrations import get_integration_key
    from localcloud.seed import SANDBOX_OPENROUTER_KEY, seed_sandbox_integration

    ws = new_workspace(aws, "local", openrouter=False)["workspace_id"]
    real = aws.settings.model_copy(
        update={
            "providers": aws.settings.providers.model_copy(
                update={"openrouter_base_url": "https://openrouter.ai/api/v1"}
            )
        }
    )
    assert seed_sandbox_integration(real, aws.clients, ws) is False
    assert get_integration_key(real, aws.clients, ws, "openrouter") is None
    local = aws.settings.model_copy(
        update={
            "providers": aws.settings.providers.model_copy(
                update={"openrouter_base_url": "http://127.0.0.1:4010/api/v1"}
            )
        }
    )
    assert seed_sandbox_integration(local, aws.clients, ws) is True
    assert get_integration_key(local, aws.clients, ws, "openrouter") == SANDBOX_OPENROUTER_KEY


# ------------------------------------------------------------------ loopback: exact origins
@pytest.fixture
def exact_loopback(env):
    """The local cloud's policy: loopback only at the listed origins (here the sandbox's)."""
    env.aws.functions.extra_env.update(
        DRGERO_PROVIDERS__ALLOW_LOOPBACK="false",
        DRGERO_PROVIDERS__LOOPBACK_ORIGINS=json.dumps([env.sandbox]),
    )
    return env


class _Recorder(BaseHTTPRequestHandler):
    """Another local service (think: the embedded AWS); counts what reaches it."""

    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._answer()

    def do_POST(self):  # noqa: N802
        self._answer()

    def _answer(self):
        type(self).hits.append(self.path)
        body = b'{"choices": [{"message": {"content": "bucket listing"}}]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def other_local_service():
    _Recorder.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_loopback_is_admitted_only_at_the_listed_origins(exact_loopback, other_local_service):
    env = exact_loopback
    lb = new_leaderboard(env)
    # The listed origin (the sandbox) works, probe included.
    assert attach(env, lb, custom(env)).status == 201
    sandbox_port = env.sandbox.rsplit(":", 1)[1]
    for url in (
        f"{other_local_service}/moto-api/reset",  # another port of 127.0.0.1: the embedded AWS, say
        f"http://127.0.0.2:{sandbox_port}/custom/openai",  # the right port on another loopback address
        f"http://[::1]:{sandbox_port}/custom/openai",
    ):
        for platform in ("custom", "huggingface"):
            r = attach(env, lb, {"platform": platform, "url": url})
            assert (r.status, r.error_code) == (400, "unsafe_url"), (platform, url, r.body)
    # Not even the attach-time probe reached the other service.
    assert _Recorder.hits == []
