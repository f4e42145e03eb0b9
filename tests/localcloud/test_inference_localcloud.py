"""Production inference over real HTTP on the local cloud: the API Gateway emulation on a
loopback port, the real authorizer and inference function, the sandbox provider, the SQS
poller that hands traces to the trace_writer. Each credential header form on both routes,
the OpenAI SDK pointed at the local base URL, and the traces listed by GET /api/traces."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from drgero.core.aws import AwsClients
from drgero.identity.integrations import put_integration
from drgero.leaderboards.attach import attach_model
from drgero.runs.tracing import run_async
from drgero.store.table import MetadataTable
from localcloud.identity import settings_from_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(local_cloud):
    info = local_cloud.info()
    token, workspace_id = info["token"], info["workspace_id"]
    http = httpx.Client(base_url=local_cloud.api_url, trust_env=False, timeout=30)
    auth = {"Authorization": f"Bearer {token}"}
    created = http.post(
        "/api/leaderboards",
        headers=auth,
        json={"name": "support", "prompt": "Reply to: {input}", "dataset": {"mode": "PUSH"}},
    )
    assert created.status_code == 201, created.text
    leaderboard_id = created.json()["id"]

    # Models are attached through the domain (the attach route needs 100 consolidated rows).
    settings = settings_from_env(local_cloud.functions.environment("InferenceFunction"))
    settings = settings.model_copy(update={"limits": settings.limits.model_copy(update={"min_rows_before_models": 0})})
    clients = AwsClients(settings)
    put_integration(settings, clients, workspace_id, "openrouter", "sk-or-localcloud-inference-test")

    async def accept(_target):
        return None

    table = MetadataTable(clients.dynamodb, settings.aws.table_name)
    model = run_async(
        attach_model(
            table,
            settings,
            clients,
            workspace_id,
            leaderboard_id,
            {"platform": "openrouter", "model": "sandbox/echo"},
            validate=accept,
        )
    )
    selected = http.put(
        f"/api/leaderboards/{leaderboard_id}/selection",
        headers=auth,
        json={"strategy": "manual", "model_id": model["id"]},
    )
    assert selected.status_code == 200, selected.text
    yield {
        "http": http,
        "token": token,
        "leaderboard_id": leaderboard_id,
        "model_id": model["id"],
        "cloud": local_cloud,
    }
    http.close()


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key", "X-Dr.Gero-API-Key"])
def test_both_routes_over_http_with_each_credential_form(setup, header):
    http, token, lb = setup["http"], setup["token"], setup["leaderboard_id"]
    headers = {header: f"Bearer {token}" if header == "Authorization" else token}
    native = http.post(f"/v1/leaderboard/{lb}/inference", headers=headers, json={"input": "hello"})
    assert native.status_code == 200, native.text
    assert native.json()["output"] == "Reply to: hello"
    assert native.json()["model"]["id"] == setup["model_id"]
    chat = http.post(
        "/v1/chat/completions",
        headers=headers,
        json={"model": f"leaderboard/{lb}", "messages": [{"role": "user", "content": "hey"}]},
    )
    assert chat.status_code == 200, chat.text
    assert chat.json()["choices"][0]["message"]["content"] == "Reply to: hey"
    assert http.post(f"/v1/leaderboard/{lb}/inference", json={"input": "x"}).status_code == 401


def test_the_openai_sdk_with_only_base_url_and_api_key_changed(setup):
    client = openai.OpenAI(base_url=f"{setup['cloud'].api_url}/v1", api_key=setup["token"], max_retries=0)
    completion = client.chat.completions.create(
        model=f"leaderboard/{setup['leaderboard_id']}", messages=[{"role": "user", "content": "ping"}]
    )
    assert completion.choices[0].message.content == "Reply to: ping"
    assert completion._request_id  # x-request-id reaches the SDK


def test_inference_traces_are_stored_and_listed(setup):
    http, lb = setup["http"], setup["leaderboard_id"]
    auth = {"Authorization": f"Bearer {setup['token']}"}
    trace_id = http.post(f"/v1/leaderboard/{lb}/inference", headers=auth, json={"input": "trace me"}).json()["trace_id"]
    deadline = time.monotonic() + 30
    listed: list[str] = []
    while time.monotonic() < deadline:  # the poller delivers to the trace_writer within seconds
        listed = [
            t["id"]
            for t in http.get("/api/traces", headers=auth, params={"leaderboard_id": lb, "kind": "inference"}).json()[
                "traces"
            ]
        ]
        if trace_id in listed:
            break
        time.sleep(0.2)
    assert trace_id in listed
    trace = http.get(f"/api/traces/{trace_id}", headers=auth).json()
    assert trace["input"] == "trace me"
    assert trace["output"] == "Reply to: trace me"


def test_models_reach_the_sandbox_but_never_the_embedded_aws_or_the_gateway(setup):
    # The red-team finding: a model URL at moto's reset endpoint wiped every workspace on the
    # attach-time probe. Local mode admits exactly the cloud's own provider origins.
    http, token, cloud = setup["http"], setup["token"], setup["cloud"]
    auth = {"Authorization": f"Bearer {token}"}
    info = cloud.info()
    for url in (f"{info['aws_endpoint_url']}/moto-api/reset", f"{cloud.api_url}/v1/health"):
        made = http.post("/api/models", headers=auth, json={"name": "x", "endpoint": {"url": url}, "probe": True})
        assert made.status_code == 400, made.text
        assert made.json()["error"]["code"] == "unsafe_url", made.text
    sandbox = http.post(
        "/api/models",
        headers=auth,
        json={"name": "sandbox-bot", "endpoint": {"url": f"{info['sandbox_url']}/custom/openai"}, "probe": True},
    )
    assert sandbox.status_code == 201, sandbox.text
    # Nothing was reset: the leaderboard made by the fixture is still there.
    assert http.get(f"/api/leaderboards/{setup['leaderboard_id']}", headers=auth).status_code == 200
