"""Streaming (``stream: true``) through the emulated API Gateway, with the real OpenAI SDK
(sync and async, with and without usage, tool calls) and the native route: chunks relayed as
the upstream produces them, ``data: [DONE]``, an error event after the first byte, fallback
only before it, and the budget settled on what the upstream produced - also when the client
leaves mid-stream."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest

from drgero.identity.credentials import get_api_token
from tests.support.gateway import SdkTransport
from tests.support.inference import echo_world, openai_sdk


@pytest.fixture
def world(aws, sandbox):
    return echo_world(aws, sandbox)


def sdk(world, token: str | None = None) -> openai.OpenAI:
    return openai_sdk(world, token)


def model(world) -> str:
    return f"leaderboard/{world.leaderboard_id}"


def sse(body: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) of each server-sent event."""
    events = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        name = None
        data = []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        events.append((name, "\n".join(data)))
    return events


def test_sdk_stream_without_usage_relays_the_words_and_ends(world):
    chunks = list(
        sdk(world).chat.completions.create(
            model=model(world), messages=[{"role": "user", "content": "one two three"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Answer briefly.\n\none two three"
    assert len(chunks) >= 5  # token by token, not one blob
    assert all(c.object == "chat.completion.chunk" and c.model == model(world) for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-tr_")
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_sdk_stream_with_usage_ends_with_a_usage_chunk(world):
    chunks = list(
        sdk(world).chat.completions.create(
            model=model(world),
            messages=[{"role": "user", "content": "hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.completion_tokens == 3  # "Answer briefly.\n\nhello": the toy's words
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert last.model_extra["drgero"]["model"]["id"] == world.models["echo"]
    # The trace is written after the stream, with the whole output.
    trace = next(t for t in world.queued_traces() if t["id"] == last.model_extra["drgero"]["trace_id"])
    assert trace["output"] == "Answer briefly.\n\nhello"
    assert trace["status"] == "ok"


def test_the_raw_stream_is_server_sent_events_ending_with_done(world):
    answer = world.chat({"model": model(world), "messages": [{"role": "user", "content": "hi"}], "stream": True})
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/event-stream"
    assert answer.headers["x-request-id"]
    assert answer.headers["x-drgero-trace-id"].startswith("tr_")
    events = sse(answer.body)
    assert events[-1] == (None, "[DONE]")
    assert all(json.loads(data)["object"] == "chat.completion.chunk" for _, data in events[:-1])


def test_async_sdk_create_and_stream(world):
    async def run() -> tuple[str, str]:
        client = openai.AsyncOpenAI(
            base_url="http://127.0.0.1:3000/v1",
            api_key=world.token,
            max_retries=0,
            http_client=httpx.AsyncClient(transport=SdkTransport(world.api).asynchronous()),
        )
        whole = await client.chat.completions.create(model=model(world), messages=[{"role": "user", "content": "x y"}])
        stream = await client.chat.completions.create(
            model=model(world), messages=[{"role": "user", "content": "x y"}], stream=True
        )
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        return whole.choices[0].message.content, "".join(pieces)

    whole, streamed = asyncio.run(run())
    assert whole == streamed == "Answer briefly.\n\nx y"


def test_a_streamed_tool_call_arrives_as_tool_call_deltas(world):
    world.attach_toy("sandbox/arithmetic-exact", "tools")
    world.select("tools")
    tool = {
        "type": "function",
        "function": {"name": "add", "parameters": {"type": "object", "properties": {"n": {"type": "number"}}}},
    }
    chunks = list(
        sdk(world).chat.completions.create(
            model=model(world), messages=[{"role": "user", "content": "2 + 2"}], tools=[tool], stream=True
        )
    )
    calls = [call for c in chunks if c.choices for call in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "add"
    assert json.loads("".join(call.function.arguments or "" for call in calls)) == {"n": 4}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_the_native_route_streams_deltas_then_its_normal_body(world):
    answer = world.infer({"input": "a b c", "stream": True})
    assert answer.status == 200
    events = sse(answer.body)
    deltas = [json.loads(data)["delta"] for name, data in events if name is None]
    assert "".join(deltas) == "Answer briefly.\n\na b c"
    name, data = events[-1]
    assert name == "result"
    result = json.loads(data)
    assert result["output"] == "Answer briefly.\n\na b c"
    assert result["model"]["id"] == world.models["echo"]
    assert set(result) >= {"output", "model", "usage", "cost_usd", "latency_ms", "trace_id"}


def test_an_upstream_failure_after_the_first_byte_is_an_error_event(world):
    world.attach_toy("sandbox/flaky", "flaky")
    world.select("flaky")
    token, token_id = world.token_with(["inference"], budget_usd=5)
    answer = world.chat(
        {"model": model(world), "messages": [{"role": "user", "content": "[fail] a b c d"}], "stream": True},
        token=token,
    )
    assert answer.status == 200  # the status line went out with the first byte
    events = sse(answer.body)
    error = json.loads(events[-1][1])["error"]
    assert error["code"] == "provider_error"
    assert error["details"]["trace_id"].startswith("tr_")
    assert (None, "[DONE]") not in events
    # The SDK raises on the error event.
    with pytest.raises(openai.APIError):
        list(
            sdk(world, token).chat.completions.create(
                model=model(world), messages=[{"role": "user", "content": "[fail] x"}], stream=True
            )
        )
    record = get_api_token(world.table, world.workspace_id, token_id)
    assert record["reserved_micro_usd"] == 0  # nothing left held
    trace = next(t for t in world.queued_traces() if t["id"] == error["details"]["trace_id"])
    assert trace["status"] == "error"


def test_fallback_happens_only_before_the_first_byte(world):
    world.attach_toy("sandbox/flaky", "flaky")
    world.rank(["flaky", "echo"])
    patched = world.api.patch(
        f"/api/leaderboards/{world.leaderboard_id}", world.token, {"inference": {"fallback": True, "max_fallbacks": 1}}
    )
    assert patched.status == 200
    body = {"model": model(world), "messages": [{"role": "user", "content": "[429] hi"}], "stream": True}
    answer = world.chat({**body, "stream_options": {"include_usage": True}})
    last = json.loads(sse(answer.body)[-2][1])
    assert last["drgero"]["model"]["id"] == world.models["echo"]
    assert last["drgero"]["fallback_from"][0]["error"] == "provider_rate_limited"
    # After the first byte the model is fixed: a mid-stream failure is not retried elsewhere.
    failing = world.chat({**body, "messages": [{"role": "user", "content": "[fail] hi"}]})
    assert json.loads(sse(failing.body)[-1][1])["error"]["code"] == "provider_error"


def test_a_client_that_leaves_mid_stream_is_charged_for_what_the_upstream_produced(world, sandbox):
    world.attach_custom("priced", supported_parameters=["stream"])
    world.select("priced")
    httpx.post(f"{sandbox}/_sandbox/control", json={"model": "custom", "stream_delay_ms": 5})
    token, token_id = world.token_with(["inference"], budget_usd=1)
    question = "1 + 1 " + "word " * 30
    buffered = world.infer({"input": question, "max_tokens": 100}, token=world.token)
    full_cost = buffered.json["cost_usd"]
    assert full_cost > 0

    reply = world.api.open(
        "POST",
        "/v1/chat/completions",
        token,
        {"model": model(world), "messages": [{"role": "user", "content": question}], "max_tokens": 100, "stream": True},
    )
    assert reply.status == 200
    first = next(reply.stream)
    assert first.startswith(b"data: ")
    reply.stream.close()  # the client goes away after the first chunk
    record = get_api_token(world.table, world.workspace_id, token_id)
    assert record["reserved_micro_usd"] == 0
    assert record["spent_micro_usd"] == round(full_cost * 1_000_000)
    httpx.post(f"{sandbox}/_sandbox/control", json={"model": "custom", "stream_delay_ms": 0})


def test_budget_held_by_a_live_stream_refuses_the_next_call_then_settles(world):
    world.attach_custom("priced", supported_parameters=["stream"])
    world.select("priced")
    # Worst case of one call: ~(prompt bytes + 16) x $1/M + 2000 x $2/M ~ $0.004: one fits, not two.
    token, token_id = world.token_with(["inference"], budget_usd=0.006)
    body = {
        "model": model(world),
        "messages": [{"role": "user", "content": "2 + 2"}],
        "max_tokens": 2000,
        "stream": True,
    }
    live = world.api.open("POST", "/v1/chat/completions", token, body)
    assert live.status == 200
    second = world.chat(body, token=token)
    assert (second.status, second.error_code) == (402, "budget_exhausted")
    rest = b"".join(live.stream)
    live.stream.close()
    assert rest.endswith(b"data: [DONE]\n\n")
    record = get_api_token(world.table, world.workspace_id, token_id)
    assert record["reserved_micro_usd"] == 0
    assert 0 < record["spent_micro_usd"] < 6_000
    assert world.chat(body, token=token).status == 200  # the worst case fits again


def test_a_model_that_cannot_stream_is_refused_before_anything(world, sandbox):
    world.attach("plain", {"platform": "custom", "url": f"{sandbox}/custom/openai", "name": "no stream declared"})
    world.select("plain")
    answer = world.chat({"model": model(world), "messages": [{"role": "user", "content": "hi"}], "stream": True})
    assert (answer.status, answer.error_code) == (400, "unsupported_parameter")
    assert answer.json["error"]["param"] == "stream"
    world.attach(
        "streams", {"platform": "custom", "url": f"{sandbox}/custom/openai?s=1", "supported_parameters": ["stream"]}
    )
    world.select("streams")
    streamed = world.chat({"model": model(world), "messages": [{"role": "user", "content": "3 + 4"}], "stream": True})
    assert streamed.status == 200
    assert (
        "".join((json.loads(d)["choices"][0]["delta"].get("content") or "") for _, d in sse(streamed.body)[:-1]) == "7"
    )


def test_stream_options_without_stream_is_400(world):
    answer = world.chat(
        {
            "model": model(world),
            "messages": [{"role": "user", "content": "hi"}],
            "stream_options": {"include_usage": True},
        }
    )
    assert (answer.status, answer.error_code, answer.json["error"]["param"]) == (
        400,
        "invalid_request",
        "stream_options",
    )
