"""The OpenAI SDK works against Dr.Gero by changing base_url and api_key.

The SDK's HTTP goes through a handler-backed httpx transport: every request runs the
emulated API Gateway (real authorizer, real inference function). Errors surface as the
SDK's own exception classes, with the contract's code in the body."""

from __future__ import annotations

import openai
import pytest

from tests.support.inference import echo_world, openai_sdk


@pytest.fixture
def world(aws, sandbox):
    return echo_world(aws, sandbox)


def sdk(world, api_key: str) -> openai.OpenAI:
    return openai_sdk(world, api_key)


def test_chat_completions_create_through_the_sdk(world):
    client = sdk(world, world.token)
    completion = client.chat.completions.create(
        model=f"leaderboard/{world.leaderboard_id}",
        messages=[{"role": "user", "content": "Bonjour"}],
        max_tokens=20,
        temperature=0,
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Answer briefly.\n\nBonjour"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens > 0
    assert completion.model == f"leaderboard/{world.leaderboard_id}"
    extra = completion.model_extra["drgero"]
    assert extra["model"]["id"] == world.models["echo"]


def test_sdk_errors_are_the_sdks_exception_classes(world):
    reader, _ = world.token_with(["leaderboards:read"])
    with pytest.raises(openai.PermissionDeniedError) as denied:
        sdk(world, reader).chat.completions.create(
            model=f"leaderboard/{world.leaderboard_id}", messages=[{"role": "user", "content": "x"}]
        )
    assert denied.value.code == "insufficient_scope"
    assert denied.value.type == "permission_error"

    with pytest.raises(openai.NotFoundError):
        sdk(world, world.token).chat.completions.create(
            model="leaderboard/lb_unknown", messages=[{"role": "user", "content": "x"}]
        )

    with pytest.raises(openai.BadRequestError) as bad:
        sdk(world, world.token).chat.completions.create(
            model=f"leaderboard/{world.leaderboard_id}", messages=[{"role": "user", "content": "x"}], n=2
        )
    assert bad.value.code == "invalid_request"

    with pytest.raises(openai.AuthenticationError):
        sdk(world, "drgero_wrong").chat.completions.create(
            model=f"leaderboard/{world.leaderboard_id}", messages=[{"role": "user", "content": "x"}]
        )
