"""Streaming over real sockets on the local cloud: the API Gateway emulation sends each piece
as an HTTP chunk as it is produced; the OpenAI SDK and LangChain's ChatOpenAI (``stream``,
``bind_tools``) pointed at the local base URL; a client that leaves mid-stream is charged for
what the upstream produced. Offline: LangChain never counts tokens here (no tiktoken
download); TIKTOKEN_CACHE_DIR points at an empty directory so an attempt would fail loudly."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from drgero.core.aws import AwsClients
from drgero.identity.credentials import get_api_token, issue_api_token
from drgero.identity.integrations import put_integration
from drgero.leaderboards.attach import attach_model
from drgero.providers.catalog import parse_model
from drgero.providers.validation import Validated
from drgero.runs.tracing import run_async
from drgero.store.table import MetadataTable
from localcloud.identity import settings_from_env
from localcloud.sandbox.shapes import catalog_entry
from localcloud.sandbox.toys import TOYS
from tests.localcloud.test_localcloud_sqs import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(local_cloud, tmp_path_factory):
    info = local_cloud.info()
    token, workspace_id = info["token"], info["workspace_id"]
    http = httpx.Client(base_url=local_cloud.api_url, trust_env=False, timeout=30)
    auth = {"Authorization": f"Bearer {token}"}
    created = http.post(
        "/api/leaderboards",
        headers=auth,
        json={"name": "stream", "prompt": "{input}", "dataset": {"mode": "PUSH"}},
    )
    assert created.status_code == 201, created.text
    leaderboard_id = created.json()["id"]
    settings = settings_from_env(local_cloud.functions.environment("InferenceFunction"))
    settings = settings.model_copy(update={"limits": settings.limits.model_copy(update={"min_rows_before_models": 0})})
    clients = AwsClients(settings)
    put_integration(settings, clients, workspace_id, "openrouter", "sk-or-localcloud-stream-test")
    table = MetadataTable(clients.dynamodb, settings.aws.table_name)

    async def from_catalog(_target):
        return Validated(catalog_model=parse_model(catalog_entry(TOYS["sandbox/arithmetic-exact"])))

    model = run_async(
        attach_model(
            table,
            settings,
            clients,
            workspace_id,
            leaderboard_id,
            {"platform": "openrouter", "model": "sandbox/arithmetic-exact"},
            validate=from_catalog,
        )
    )
    selected = http.put(
        f"/api/leaderboards/{leaderboard_id}/selection",
        headers=auth,
        json={"strategy": "manual", "model_id": model["id"]},
    )
    assert selected.status_code == 200, selected.text
    monkey = pytest.MonkeyPatch()
    monkey.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path_factory.mktemp("tiktoken-empty")))
    yield {
        "http": http,
        "token": token,
        "workspace_id": workspace_id,
        "table": table,
        "leaderboard_id": leaderboard_id,
        "cloud": local_cloud,
        "sandbox": info["sandbox_url"],
    }
    monkey.undo()
    http.close()


def base_url(setup) -> str:
    return f"{setup['cloud'].api_url}/v1"


def test_the_sdk_streams_over_real_sockets(setup):
    client = openai.OpenAI(base_url=base_url(setup), api_key=setup["token"], max_retries=0)
    stream = client.chat.completions.create(
        model=f"leaderboard/{setup['leaderboard_id']}",
        messages=[{"role": "user", "content": "6 * 7"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "42"
    assert chunks[-1].usage.total_tokens > 0
    # The bytes on the wire: chunked transfer, server-sent events, [DONE] last.
    with setup["http"].stream(
        "POST",
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {setup['token']}"},
        json={
            "model": f"leaderboard/{setup['leaderboard_id']}",
            "messages": [{"role": "user", "content": "1+1"}],
            "stream": True,
        },
    ) as answer:
        assert answer.headers["transfer-encoding"] == "chunked"
        assert answer.headers["x-request-id"]
        lines = [line for line in answer.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"


def test_langchain_chat_openai_stream_and_bind_tools(setup):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        model=f"leaderboard/{setup['leaderboard_id']}", base_url=base_url(setup), api_key=setup["token"], max_retries=0
    )
    pieces = [chunk.content for chunk in chat.stream("2 + 5")]
    assert len(pieces) >= 2
    assert "".join(pieces) == "7"

    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    answer = chat.bind_tools([multiply]).invoke("3 * 4")
    assert answer.tool_calls[0]["name"] == "multiply"
    assert answer.tool_calls[0]["args"] == {"a": 12, "b": 12}
    streamed = None
    for chunk in chat.bind_tools([multiply]).stream("3 * 4"):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed.tool_calls[0]["name"] == "multiply"


def test_a_client_that_leaves_over_sockets_is_charged_for_the_whole_answer(setup):
    httpx.post(
        f"{setup['sandbox']}/_sandbox/control", json={"model": "sandbox/arithmetic-exact", "stream_delay_ms": 20}
    )
    secret, record = issue_api_token(
        setup["table"], setup["workspace_id"], "stream-leaver", ["inference"], budget_usd=5
    )
    question = "2 + 2 " + "pad " * 20
    body = {"model": f"leaderboard/{setup['leaderboard_id']}", "messages": [{"role": "user", "content": question}]}
    headers = {"Authorization": f"Bearer {secret}"}
    whole = setup["http"].post("/v1/chat/completions", headers=headers, json=body).json()
    full = whole["drgero"]["cost_usd"]
    assert full > 0
    with setup["http"].stream("POST", "/v1/chat/completions", headers=headers, json={**body, "stream": True}) as answer:
        first = next(answer.iter_lines())
        assert json.loads(first.removeprefix("data: "))["object"] == "chat.completion.chunk"
    # Left after the first chunk; the gateway notices at its next write and the call settles.
    spent = wait_for(
        lambda: (
            (r := get_api_token(setup["table"], setup["workspace_id"], record["id"]))["reserved_micro_usd"] == 0
            and r["spent_micro_usd"]
        ),
        what="settlement after the client left",
    )
    assert spent == 2 * round(full * 1_000_000)
    httpx.post(f"{setup['sandbox']}/_sandbox/control", json={"model": "sandbox/arithmetic-exact", "stream_delay_ms": 0})
