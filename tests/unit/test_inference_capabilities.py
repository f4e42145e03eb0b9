"""Which models may serve a request with OpenAI options (drgero.providers.capabilities and
drgero.inference.service.serving_chain), and how the prompt is rendered into chat turns."""

from __future__ import annotations

import pytest

from drgero.core.errors import ApiError
from drgero.inference.config import CaptureRule, InferencePolicy
from drgero.inference.request import InferenceRequest
from drgero.inference.service import messages_for, serving_chain
from drgero.inference.target import ModelChoice, ProductionTarget
from drgero.leaderboards.prompt import render_turns
from drgero.providers.capabilities import required_parameters, speaks_chat, supported_parameters
from drgero.providers.types import CustomTarget, HuggingFaceTarget, OpenRouterTarget


def choice(model_id: str, supported: set[str], chat: bool = True) -> ModelChoice:
    return ModelChoice(model_id, model_id, "openrouter", None, chat=chat, supported=frozenset(supported))


def target(*models: ModelChoice) -> ProductionTarget:
    return ProductionTarget(
        "ws", "lb", "Q: {input}", "PUSH", {}, InferencePolicy(), CaptureRule(), "manual", tuple(models)
    )


def request(options: dict, messages: list | None = None) -> InferenceRequest:
    return InferenceRequest("hi", messages, None, None, options=options)


def test_fallbacks_that_cannot_honour_the_options_are_skipped():
    chain = serving_chain(
        target(choice("a", {"tools"}), choice("b", set()), choice("c", {"tools"}, chat=True)), request({"tools": []})
    )
    assert [m.model_id for m in chain] == ["a", "c"]


def test_the_production_model_without_the_capability_is_400_naming_it():
    with pytest.raises(ApiError) as refused:
        serving_chain(target(choice("a", {"tools"}), choice("b", {"seed"})), request({"tools": [], "seed": 1}))
    assert refused.value.code == "unsupported_parameter"
    assert refused.value.details == [{"field": "seed", "error": "not supported by the production model"}]


def test_plain_requests_keep_the_whole_chain():
    models = (choice("a", set(), chat=False), choice("b", set()))
    assert serving_chain(target(*models), request({})) == models


def test_required_parameters_map_openai_names_to_capabilities():
    assert required_parameters({"response_format": {"type": "json_schema"}}, None) == ["structured_outputs"]
    assert required_parameters({"tool_choice": "auto", "tools": []}, None) == ["tools", "tool_choice"]
    assert required_parameters({}, [{"role": "tool", "content": "x"}]) == ["tools"]
    assert required_parameters({}, [{"role": "user", "content": "x"}]) == []


def test_which_targets_speak_chat_and_what_they_declare():
    assert speaks_chat(OpenRouterTarget(model="a/b"))
    assert speaks_chat(CustomTarget(url="https://x.example/v1"))
    assert not speaks_chat(CustomTarget(url="https://x.example/v1", response_format="text"))
    assert not speaks_chat(HuggingFaceTarget(url="https://x.example", api="classic"))
    declared = CustomTarget(url="https://x.example/v1", supported_parameters=["tools", "seed"])
    assert supported_parameters(declared, {}) == {"tools", "seed"}
    assert supported_parameters(OpenRouterTarget(model="a/b"), {"supported_parameters": ["tools"]}) == {
        "tools",
        "stream",
    }
    text_only = CustomTarget(url="https://x.example/v1", response_format="text", supported_parameters=["tools"])
    assert supported_parameters(text_only, {}) == frozenset()


def test_turns_pass_through_around_the_rendered_last_user_turn():
    turns = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]},
        {"role": "tool", "tool_call_id": "c", "content": "42"},
    ]
    rendered = render_turns("Q: {input}", turns)
    assert rendered[:3] == turns[:3]
    assert rendered[3] == {"role": "user", "content": "Q: second"}
    assert rendered[4:] == turns[4:]
    assert render_turns("Q: {input}", [{"role": "system", "content": "s"}]) == [
        {"role": "user", "content": "Q: system: s"}
    ]


def test_a_model_that_does_not_speak_chat_gets_one_rendered_turn():
    req = InferenceRequest(
        "system: s\n\nuser: hi", [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}], None, None
    )
    assert messages_for(choice("a", set(), chat=False), "Q: {input}", req) == [
        {"role": "user", "content": "Q: system: s\n\nuser: hi"}
    ]
    assert messages_for(choice("b", set()), "Q: {input}", req)[1] == {"role": "user", "content": "Q: hi"}


def test_runs_send_a_messages_row_the_way_inference_sends_the_request():
    from drgero.datasets.rows import normalize_row
    from drgero.runs.evaluate import row_messages

    turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2 + 2"}]
    row = normalize_row({"messages": turns, "output": "4"})
    assert row["input"] == "system: Be brief.\n\nuser: 2 + 2"
    assert row["messages"] == turns
    req = InferenceRequest(row["input"], turns, None, None)
    for chat in (True, False):
        assert row_messages("Q: {input}", row, chat) == messages_for(choice("m", set(), chat=chat), "Q: {input}", req)
    assert "messages" not in normalize_row({"input": "x"})
