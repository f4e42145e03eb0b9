"""Tools, JSON mode, structured outputs, logprobs and stop through POST /v1/chat/completions
with the real OpenAI SDK: forwarded when the production model honours them (OpenRouter's
supported_parameters, a custom endpoint's declaration), refused with 400
``unsupported_parameter`` naming the parameter otherwise - never silently dropped."""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel

from tests.support.inference import make_world, openai_sdk

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def world(aws, sandbox):
    w = make_world(aws, sandbox)
    w.leaderboard(prompt="{input}")
    w.attach_toy("sandbox/arithmetic-exact", "tools")
    w.attach_toy("sandbox/off-by-one", "plain")
    w.select("tools")
    return w


def sdk(world) -> openai.OpenAI:
    return openai_sdk(world)


def model(world) -> str:
    return f"leaderboard/{world.leaderboard_id}"


def test_a_tool_call_round_trip(world, sandbox):
    client = sdk(world)
    messages: list = [{"role": "user", "content": "Paris"}]
    first = client.chat.completions.create(model=model(world), messages=messages, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 0}

    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
    ]
    second = client.chat.completions.create(model=model(world), messages=messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "Tool said: sunny, 21 C"


def test_tool_choice_names_the_tool_and_none_answers_in_text(world):
    other = {"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {}}}}
    client = sdk(world)
    picked = client.chat.completions.create(
        model=model(world),
        messages=[{"role": "user", "content": "2 + 3"}],
        tools=[WEATHER, other],
        tool_choice={"type": "function", "function": {"name": "add"}},
    )
    assert picked.choices[0].message.tool_calls[0].function.name == "add"
    text = client.chat.completions.create(
        model=model(world), messages=[{"role": "user", "content": "2 + 3"}], tools=[WEATHER], tool_choice="none"
    )
    assert text.choices[0].message.content == "5"
    assert text.choices[0].message.tool_calls is None


class Answer(BaseModel):
    value: int
    explanation: str


def test_parse_with_a_pydantic_schema_gives_the_parsed_object(world):
    completion = sdk(world).chat.completions.parse(
        model=model(world), messages=[{"role": "user", "content": "2 + 3"}], response_format=Answer
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Answer)
    assert parsed.model_dump() == {"value": 5, "explanation": "5"}


def test_json_mode_and_logprobs_and_stop(world):
    client = sdk(world)
    json_mode = client.chat.completions.create(
        model=model(world), messages=[{"role": "user", "content": "2 * 4"}], response_format={"type": "json_object"}
    )
    assert json.loads(json_mode.choices[0].message.content) == {"answer": "8"}
    with_logprobs = client.chat.completions.create(
        model=model(world), messages=[{"role": "user", "content": "2 * 4"}], logprobs=True, top_logprobs=2
    )
    assert [t.token for t in with_logprobs.choices[0].logprobs.content] == ["8"]
    stopped = client.chat.completions.create(
        model=model(world), messages=[{"role": "user", "content": "10 / 4"}], stop=["."], seed=7, top_p=0.9
    )
    assert stopped.choices[0].message.content == "2"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [WEATHER]}, "tools"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}}},
            "structured_outputs",
        ),
        ({"logprobs": True}, "logprobs"),
        ({"stop": ["."]}, "stop"),
        ({"seed": 1}, "seed"),
        ({"top_p": 0.5}, "top_p"),
    ],
)
def test_a_parameter_the_production_model_cannot_honour_is_refused_naming_it(world, extra, param):
    world.select("plain")  # sandbox/off-by-one: only max_tokens and temperature
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(world).chat.completions.create(model=model(world), messages=[{"role": "user", "content": "1 + 1"}], **extra)
    assert refused.value.code == "unsupported_parameter"
    assert refused.value.param == param
    assert "sandbox/off-by-one" in refused.value.message


def test_tool_turns_to_a_model_without_tools_are_refused(world):
    world.select("plain")
    messages = [
        {"role": "user", "content": "1 + 1"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "x"},
    ]
    answer = world.chat({"model": model(world), "messages": messages})
    assert answer.status == 400
    assert (answer.error_code, answer.json["error"]["param"]) == ("unsupported_parameter", "tools")
    # Plain text still works on the same model.
    assert world.chat({"model": model(world), "messages": messages[:1]}).status == 200


def test_a_custom_endpoint_honours_what_it_declared_at_attach(world, sandbox):
    declared = world.attach(
        "declared",
        {"platform": "custom", "url": f"{sandbox}/custom/openai", "supported_parameters": ["tools", "response_format"]},
    )
    world.attach("silent", {"platform": "custom", "url": f"{sandbox}/custom/openai?same=endpoint", "name": "silent"})
    world.select("declared")
    body = {"model": model(world), "messages": [{"role": "user", "content": "3 + 4"}], "tools": [WEATHER]}
    answer = world.chat(body)
    assert answer.status == 200, answer.json
    assert answer.json["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert answer.json["drgero"]["model"]["id"] == declared
    logprobs = world.chat({**body, "tools": None, "logprobs": True})
    assert (logprobs.status, logprobs.json["error"]["param"]) == (400, "logprobs")
    world.select("silent")
    refused = world.chat(body)
    assert (refused.status, refused.error_code) == (400, "unsupported_parameter")


def test_an_unknown_declared_parameter_is_refused_at_attach(world, sandbox):
    answer = world.api.post(
        f"/api/leaderboards/{world.leaderboard_id}/models",
        world.token,
        {"platform": "custom", "url": f"{sandbox}/custom/openai", "supported_parameters": ["teleport"]},
    )
    assert answer.status == 400
    assert "teleport" in json.dumps(answer.json)


def test_malformed_tools_and_response_formats_are_400_invalid_request(world):
    for extra in (
        {"tools": [{"type": "function"}]},
        {"tools": [{"type": "retrieval", "function": {"name": "x"}}]},
        {"response_format": {"type": "xml"}},
        {"response_format": {"type": "json_schema"}},
        {"stop": ["a", "b", "c", "d", "e"]},
        {"top_logprobs": 3},
    ):
        answer = world.chat({"model": model(world), "messages": [{"role": "user", "content": "x"}], **extra})
        assert (answer.status, answer.error_code) == (400, "invalid_request"), extra
