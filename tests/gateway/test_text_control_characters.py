"""One rule for control characters in every text field (drgero.core.validation): NUL, the
other C0 controls and DEL are a 400 naming the code point, on every surface; tab, newline and
carriage return are kept. Driven through the API Gateway path with real tokens."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from drgero.api.app import create_app
from drgero.core.validation import TextModel
from tests.support.gateway import Api
from tests.support.identity import new_workspace, use_local_identity, user_jwt

BOARD = {"name": "support", "prompt": "Answer: {input}", "dataset": {"mode": "PUSH"}}


@pytest.fixture
def env(aws):
    use_local_identity(aws, DRGERO_AUTH__TOKEN_CACHE_SECONDS="0")
    return Api(aws), new_workspace(aws, "ctl", plan="pro")


def refused(response, code_point="U+0000"):
    assert response.status == 400, response.body
    return code_point in response.body.decode()


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x1b[31m", "\x7f", "\x0b"])
def test_leaderboard_names_and_prompts_refuse_control_characters(env, bad):
    api, ws = env
    code_point = f"U+{ord(bad[0]):04X}"
    assert refused(api.post("/api/leaderboards", ws["token"], {**BOARD, "name": f"x{bad}y"}), code_point)
    assert refused(api.post("/api/leaderboards", ws["token"], {**BOARD, "prompt": f"{bad}{{input}}"}), code_point)
    created = api.post("/api/leaderboards", ws["token"], BOARD)
    assert created.status == 201
    patched = api.patch(f"/api/leaderboards/{created.json['id']}", ws["token"], {"name": f"a{bad}"})
    assert refused(patched, code_point)


def test_tab_newline_and_carriage_return_are_kept(env):
    api, ws = env
    prompt = "Line one\tcol\r\nLine two: {input}\n"
    created = api.post("/api/leaderboards", ws["token"], {**BOARD, "name": "a\tb", "prompt": prompt})
    assert created.status == 201, created.body
    board = api.get(f"/api/leaderboards/{created.json['id']}", ws["token"]).json
    assert board["prompt"] == prompt and board["name"] == "a\tb"


def test_every_surface_applies_the_same_rule(env):
    api, ws = env
    token, wsid = ws["token"], ws["workspace_id"]
    lb = api.post("/api/leaderboards", token, BOARD).json["id"]
    nul = "bad\x00"
    for method, path, credential, body in [
        ("POST", "/api/workspaces", user_jwt("nul-user"), {"name": nul}),
        ("POST", "/api/tokens", token, {"name": nul, "scopes": ["leaderboards:read"]}),
        ("POST", f"/api/workspaces/{wsid}/members", token, {"user_id": nul}),
        ("POST", f"/api/workspaces/{wsid}/invitations", token, {"email": "a\x00@example.com"}),
        ("POST", "/api/models", token, {"name": nul, "endpoint": {"url": "https://m.example.com/v1"}, "probe": False}),
        ("POST", "/api/traces", token, {"name": "deploy", "input": nul}),
        ("POST", "/api/traces", token, {"name": "deploy", "metadata": {"nested": [nul]}}),  # free JSON too
        ("POST", "/api/traces", token, {"name": "deploy", "metadata": {nul: 1}}),  # and its keys
        ("POST", f"/v1/leaderboard/{lb}/dataset/tokens", token, {"name": nul}),
        ("POST", f"/v1/leaderboard/{lb}/dataset/push", token, {"input": nul, "output": "x"}),
    ]:
        response = api.request(method, path, credential, body)
        assert response.status == 400 and "U+0000" in response.body.decode(), (path, body, response.body)


# Models that never hold request input, and why (everything else must be a TextModel).
NOT_REQUEST_MODELS = {
    "drgero.api.inference_openapi": "response shapes, documented only",
    "drgero.core.settings": "settings, read from the environment",
    "drgero.core.batch": "SQS records from AWS",
    "drgero.runs.messages": "queue messages the product writes itself",
    "drgero.datasets.triggers": "queue messages the product writes itself",
    "drgero.evaluation.ranking": "computed results",
    "drgero.providers.catalog": "provider catalog answers, not user input",
    "drgero.providers.types": "call results and targets built from validated requests",
    "drgero.traces.model": "trace records the product writes",
    "drgero.traces.redaction": "a policy built from settings",
}
NOT_REQUEST_CLASSES = {
    "PushAccepted": "a response shape",
    "AutoSelectResult": "a response shape",
    "LatencyFigure": "a response shape",
    "ObservedLatency": "computed from traces",
    "PickedModel": "a response shape",
}


def _all_models(root: type) -> set[type]:
    found: set[type] = set()
    stack = [root]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    return found


def test_every_request_model_of_the_api_is_under_the_rule(aws):
    # Every router and what they parse with; the document also loads the inference function's models.
    create_app(aws.settings, aws.clients).openapi()
    import drgero.own_models.finetune.bodies  # noqa: F401 - parsed from raw bodies
    import drgero.runs.review  # noqa: F401

    models = {
        m
        for m in _all_models(BaseModel)
        if m.__module__.startswith("drgero.")
        and m.__module__ not in NOT_REQUEST_MODELS
        and m.__name__ not in NOT_REQUEST_CLASSES
        and m is not TextModel
    }
    assert len(models) >= 30
    outside = sorted(f"{m.__module__}.{m.__name__}" for m in models if not issubclass(m, TextModel))
    assert not outside, f"request models without the control-character rule: {outside}"
