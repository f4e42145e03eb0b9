"""GET /v1/models and GET /v1/models/{model} through the emulated API Gateway, with the real
OpenAI SDK (``client.models.list()`` is what health checks and chat UIs call first), and the
OpenAI-shaped 404 of the /v1 paths Dr.Gero does not serve."""

from __future__ import annotations

import openai
import pytest

from tests.support.inference import echo_world, make_world, openai_sdk


@pytest.fixture
def world(aws, sandbox):
    return echo_world(aws, sandbox)


def sdk(world, api_key: str) -> openai.OpenAI:
    return openai_sdk(world, api_key)


def test_models_list_names_each_leaderboard_with_its_production_model(world):
    first = world.leaderboard_id
    second = world.leaderboard(name="no production yet")
    page = sdk(world, world.token).models.list()
    by_id = {model.id: model for model in page.data}
    assert set(by_id) == {f"leaderboard/{first}", f"leaderboard/{second}"}
    served = by_id[f"leaderboard/{first}"]
    assert served.object == "model"
    assert served.owned_by == world.workspace_id
    assert served.created > 1_700_000_000
    assert served.model_extra["name"] == "support"
    assert served.model_extra["production_model"] == {
        "id": world.models["echo"],
        "platform": "openrouter",
        "name": "sandbox/echo",
    }
    assert by_id[f"leaderboard/{second}"].model_extra["production_model"] is None


def test_models_list_answers_with_a_request_id_and_the_list_shape(world):
    answer = world.api.get("/v1/models", world.token)
    assert answer.status == 200
    assert answer.json["object"] == "list"
    assert answer.headers["x-request-id"]


def test_model_retrieve_through_the_sdk_and_by_plain_path(world):
    model = sdk(world, world.token).models.retrieve(f"leaderboard/{world.leaderboard_id}")
    assert model.id == f"leaderboard/{world.leaderboard_id}"
    assert model.model_extra["production_model"]["id"] == world.models["echo"]
    plain = world.api.get(f"/v1/models/leaderboard/{world.leaderboard_id}", world.token)
    assert plain.status == 200, plain.json
    assert plain.json["id"] == f"leaderboard/{world.leaderboard_id}"


def test_unknown_or_foreign_model_is_an_openai_404(world, aws):
    client = sdk(world, world.token)
    for name in ("gpt-4o", "leaderboard/lb_missing", "leaderboard/"):
        with pytest.raises(openai.NotFoundError) as missing:
            client.models.retrieve(name)
        assert missing.value.code == "not_found"
        assert missing.value.type == "not_found_error"
    # Another workspace's leaderboard is not listed and reads as missing.
    other = make_world(aws, world.sandbox)
    other.leaderboard()
    assert all(m.id != f"leaderboard/{other.leaderboard_id}" for m in client.models.list().data)
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve(f"leaderboard/{other.leaderboard_id}")


def test_models_need_the_inference_scope_and_refuse_dataset_tokens(world):
    reader, _ = world.token_with(["leaderboards:read"])
    with pytest.raises(openai.PermissionDeniedError) as denied:
        sdk(world, reader).models.list()
    assert denied.value.code == "insufficient_scope"
    with pytest.raises(openai.PermissionDeniedError):
        sdk(world, world.dataset_token()).models.retrieve(f"leaderboard/{world.leaderboard_id}")
    with pytest.raises(openai.AuthenticationError):
        sdk(world, "drgero_wrong").models.list()


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/embeddings"), ("POST", "/v1/responses"), ("POST", "/v1/completions"), ("GET", "/v1/files")],
)
def test_paths_dr_gero_does_not_serve_are_openai_404s(world, method, path):
    answer = world.api.request(method, path, world.token, body={"model": "x", "input": "y"})
    assert answer.status == 404
    error = answer.json["error"]
    assert (error["code"], error["type"]) == ("not_found", "not_found_error")
    assert set(error) == {"code", "message", "type", "param", "details", "request_id"}
    assert answer.headers["x-amzn-requestid"] == error["request_id"]


def test_sdk_embeddings_raise_the_sdks_not_found(world):
    with pytest.raises(openai.NotFoundError) as missing:
        sdk(world, world.token).embeddings.create(model="leaderboard/x", input="hello")
    assert missing.value.code == "not_found"
