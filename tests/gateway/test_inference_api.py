"""Production inference through its real entry point: the emulated API Gateway runs the real
authorizer, then the real inference function, which calls the sandbox provider on loopback.
Covers both routes, every credential form, scopes, tenancy, bad input, selection (manual and
ranking winner), budgets, fallback, upstream timeouts and traces."""

from __future__ import annotations

import json

import pytest

from drgero.identity.credentials import get_api_token
from tests.support.events import sqs_event_of
from tests.support.gateway import Api
from tests.support.identity import new_workspace
from tests.support.inference import World, make_world
from tests.support.sandbox import sandbox_control


@pytest.fixture
def world(aws, sandbox) -> World:
    w = make_world(aws, sandbox)
    w.leaderboard()
    w.attach_toy("sandbox/echo", "echo")
    w.select("echo")
    return w


def chat_body(world: World, content: str = "hi", **extra) -> dict:
    return {"model": f"leaderboard/{world.leaderboard_id}", "messages": [{"role": "user", "content": content}], **extra}


# ------------------------------------------------------------------ the happy paths
@pytest.mark.parametrize("header", ["Authorization", "X-API-Key", "X-Dr.Gero-API-Key"])
def test_both_routes_accept_each_credential_header(world, header):
    value = f"Bearer {world.token}" if header == "Authorization" else world.token
    native = world.infer({"input": "hello"}, token=None, headers={header: value})
    assert native.status == 200, native.json
    assert native.json["output"] == "Answer briefly.\n\nhello"  # the prompt was applied
    assert native.json["model"] == {"id": world.models["echo"], "platform": "openrouter", "name": "sandbox/echo"}
    assert set(native.json) >= {"output", "model", "usage", "cost_usd", "latency_ms", "trace_id"}
    assert native.json["usage"]["total_tokens"] == native.json["usage"]["prompt_tokens"] + 3
    assert native.headers["x-drgero-trace-id"] == native.json["trace_id"]

    chat = world.chat(chat_body(world), token=None, headers={header: value})
    assert chat.status == 200, chat.json
    body = chat.json
    assert body["object"] == "chat.completion"
    assert body["model"] == f"leaderboard/{world.leaderboard_id}"
    assert body["id"].startswith("chatcmpl-")
    assert isinstance(body["created"], int)
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Answer briefly.\n\nhi"},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert set(body["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert body["drgero"]["model"]["id"] == world.models["echo"]


def test_the_last_user_turn_is_rendered_into_the_prompt_and_earlier_turns_pass_through(world):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]
    answer = world.infer({"messages": messages, "max_tokens": 50, "temperature": 0})
    assert answer.status == 200, answer.json
    # The echo toy repeats the last user turn: the prompt applied to it alone.
    assert answer.json["output"] == "Answer briefly.\n\nWhat is 2+2?"
    # The trace keeps the turns as sent.
    assert world.queued_traces()[-1]["input"] == messages


def test_a_target_that_does_not_speak_chat_gets_the_turns_joined_like_pushed_rows(world, sandbox):
    world.attach(
        "text",
        {
            "platform": "custom",
            "url": f"{sandbox}/custom/echo-headers",
            "response_format": "json",
            "json_path": "result.text",
        },
    )
    world.select("text")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2 + 2"}]
    answer = world.infer({"messages": messages})
    assert answer.status == 200, answer.json
    # The custom fixture solves the arithmetic in the one input it is sent (the joined turns).
    assert answer.json["output"] == "4"


def test_manual_pick_and_ranking_winner_select_the_production_model(world):
    world.attach_toy("sandbox/arithmetic-exact", "exact")
    world.attach_toy("sandbox/off-by-one", "off")
    world.select("off")
    assert world.infer({"input": "2 + 2"}).json["output"] == "5"

    world.rank(["exact", "off", "echo"])  # ranking_winner: the winner answers
    answer = world.infer({"input": "2 + 2"})
    assert answer.json["output"] == "4"
    assert answer.json["model"]["id"] == world.models["exact"]

    world.select("echo")  # back to a manual pick: runs no longer decide
    assert world.infer({"input": "2 + 2"}).json["model"]["id"] == world.models["echo"]


def test_a_ranking_winner_that_was_removed_is_never_called(world):
    world.attach_toy("sandbox/arithmetic-exact", "exact")
    world.rank(["exact", "echo"])
    removed = world.api.delete(f"/api/leaderboards/{world.leaderboard_id}/models/{world.models['exact']}", world.token)
    assert removed.status in (200, 204), removed.json
    # Removing the winner moves production to a model still attached (the runs area's rule);
    # inference only ever resolves among attached models.
    answer = world.infer({"input": "2 + 2"})
    assert answer.status == 200, answer.json
    assert answer.json["model"]["id"] == world.models["echo"]


def test_no_production_model_is_409_with_a_clear_message(aws, sandbox):
    world = make_world(aws, sandbox)
    world.leaderboard()
    world.attach_toy("sandbox/echo", "echo")
    answer = world.infer({"input": "hi"})
    assert answer.status == 409
    assert answer.error_code == "no_production_model"
    assert "/selection" in answer.json["error"]["message"]
    chat = world.chat(chat_body(world))
    assert chat.status == 409
    assert chat.json["error"]["code"] == "no_production_model"
    assert chat.json["error"]["type"] == "invalid_request_error"


# ------------------------------------------------------------------ who may call
def test_a_token_without_the_inference_scope_is_403_on_both_routes(world):
    token, _ = world.token_with(["leaderboards:read", "leaderboards:write"])
    native = world.infer({"input": "hi"}, token=token)
    assert native.status == 403
    assert native.json["error"]["code"] == "insufficient_scope"
    assert native.json["error"]["details"] == {"required_scope": "inference"}
    chat = world.chat(chat_body(world), token=token)
    assert chat.status == 403
    assert chat.json["error"]["code"] == "insufficient_scope"
    assert chat.json["error"]["type"] == "permission_error"
    assert chat.json["error"]["request_id"]


def test_an_inference_only_token_is_enough(world):
    token, _ = world.token_with(["inference"])
    assert world.infer({"input": "hi"}, token=token).status == 200
    assert world.chat(chat_body(world), token=token).status == 200


def test_dataset_push_tokens_are_refused(world):
    hpd = world.dataset_token()
    native = world.infer({"input": "hi"}, token=hpd)
    assert native.status == 403
    chat = world.chat(chat_body(world), token=hpd)
    assert chat.status == 403
    other_lb = world.leaderboard()
    assert world.infer({"input": "hi"}, token=hpd, leaderboard_id=other_lb).status == 404


def test_another_workspaces_leaderboard_is_404(world, aws):
    stranger = new_workspace(aws, name="stranger")
    native = Api(aws).post(f"/v1/leaderboard/{world.leaderboard_id}/inference", stranger["token"], {"input": "x"})
    assert native.status == 404
    assert native.json["error"]["code"] == "not_found"
    chat = Api(aws).post("/v1/chat/completions", stranger["token"], chat_body(world))
    assert chat.status == 404
    assert chat.json["error"]["type"] == "not_found_error"
    assert world.infer({"input": "x"}, leaderboard_id="lb_doesnotexist").status == 404


@pytest.mark.parametrize("token", [None, "drgero_notarealtoken", "Bearer"])
def test_missing_or_invalid_credentials_are_401(world, token):
    assert world.infer({"input": "hi"}, token=token).status == 401
    assert world.chat(chat_body(world), token=token).status == 401


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"input": "a", "messages": [{"role": "user", "content": "b"}]},
        {"input": 5},
        {"input": None},
        {"messages": []},
        {"messages": "hi"},
        {"messages": [{"role": "wizard", "content": "hi"}]},
        {"messages": [{"content": "hi"}]},
        {"messages": [{"role": "user", "content": 7}]},
        {"input": "hi", "max_tokens": "5"},
        {"input": "hi", "max_tokens": True},
        {"input": "hi", "max_tokens": 0},
        {"input": "hi", "max_tokens": 10**9},
        {"input": "hi", "temperature": "hot"},
        {"input": "hi", "temperature": 9},
        {"input": "hi", "metadata": ["a"]},
        {"input": "hi", "surprise": 1},
        ["input"],
        "hello",
    ],
)
def test_malformed_inference_bodies_are_400(world, body):
    answer = world.infer(body)
    assert answer.status == 400, answer.json
    assert answer.json["error"]["code"] in {"invalid_request", "invalid_json"}
    assert answer.json["error"]["request_id"]


def test_not_json_is_400(world):
    answer = world.infer(None, raw_body=b"{not json")
    assert answer.status == 400
    assert answer.error_code == "invalid_json"
    for raw in (b'{"input": "hi", "temperature": NaN}', b'{"input": "hi", "metadata": {"x": Infinity}}', b"\xff\xfe"):
        assert world.infer(None, raw_body=raw).error_code == "invalid_json", raw
    chat = world.chat(None, raw_body=b"")
    assert chat.status == 400
    assert chat.json["error"]["type"] == "invalid_request_error"


def test_oversized_bodies_and_too_many_messages_are_413(aws, sandbox):
    world = make_world(aws, sandbox, DRGERO_INFERENCE__MAX_BODY_BYTES="2048", DRGERO_INFERENCE__MAX_MESSAGES="3")
    world.leaderboard()
    world.attach_toy("sandbox/echo", "echo")
    world.select("echo")
    big = world.infer({"input": "x" * 3000})
    assert big.status == 413
    assert big.error_code == "payload_too_large"
    assert "2048" in big.json["error"]["message"]
    many = world.infer({"messages": [{"role": "user", "content": "hi"}] * 4})
    assert many.status == 413
    assert many.error_code == "too_many_messages"
    chat = world.chat(chat_body(world, content="y" * 3000))
    assert chat.status == 413
    assert chat.json["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"stream": "yes"}, "invalid_request", "stream"),
        ({"n": 2}, "invalid_request", "n"),
        ({"model": "gpt-4o"}, "invalid_model", "model"),
        ({"model": "leaderboard/../x"}, "invalid_model", "model"),
        ({"model": 5}, "invalid_request", "model"),
        ({"messages": []}, "invalid_request", "messages"),
        ({"max_tokens": "10"}, "invalid_request", "max_tokens"),
    ],
)
def test_chat_errors_use_one_body_that_is_both_openai_and_contract_shaped(world, body, code, param):
    answer = world.chat({**chat_body(world), **body})
    assert answer.status == 400, answer.json
    error = answer.json["error"]
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]
    assert error["request_id"]


def test_unknown_openai_parameters_are_accepted_and_ignored(world):
    # user is ignored; top_p and stop are forwarded (the echo toy declares them).
    answer = world.chat(chat_body(world, top_p=0.5, user="u-1", stop=["\n"], max_completion_tokens=20))
    assert answer.status == 200, answer.json
    assert answer.json["choices"][0]["message"]["content"] == "Answer briefly."


# ------------------------------------------------------------------ budgets
def test_budget_exhausted_is_402_and_nothing_is_called(world, sandbox):
    # The echo toy has no known price: its worst case cannot be estimated, so the budget must
    # cover auth.budget_unestimated_reserve_usd (1 USD) - this token has 0.5.
    token, _ = world.token_with(["inference"], budget_usd=0.5)
    native = world.infer({"input": "hi"}, token=token)
    assert native.status == 402
    assert native.error_code == "budget_exhausted"
    chat = world.chat(chat_body(world), token=token)
    assert chat.status == 402
    assert chat.json["error"]["type"] == "insufficient_quota"


def test_the_worst_case_is_reserved_then_settled_to_the_actual_cost(world):
    world.attach_custom("priced")
    world.select("priced")
    token, token_id = world.token_with(["inference"], budget_usd=0.01)
    # Worst case: (len(prompt) + 16) input tokens at $1/M + 1000 output tokens at $2/M < $0.01.
    answer = world.infer({"input": "hello there", "max_tokens": 1000}, token=token)
    assert answer.status == 200, answer.json
    cost = answer.json["cost_usd"]
    assert cost is not None and cost > 0
    record = get_api_token(world.table, world.workspace_id, token_id)
    assert record["spent_micro_usd"] == round(cost * 1_000_000)
    assert record["reserved_micro_usd"] == 0
    assert record["remaining_micro_usd"] == 10_000 - record["spent_micro_usd"]
    # A request whose worst case exceeds what is left is refused before any call.
    refused = world.infer({"input": "hello", "max_tokens": 60_000}, token=token)
    assert refused.status == 402
    usage = world.api.get(f"/api/workspaces/{world.workspace_id}/usage", world.token).json
    assert any(row["token_id"] == token_id and row["calls"] == 1 for row in usage["by_token"])


def test_a_failed_call_releases_its_reservation(world, sandbox):
    world.attach_toy("sandbox/flaky", "flaky")
    world.select("flaky")
    token, token_id = world.token_with(["inference"], budget_usd=5)
    answer = world.infer({"input": "[fail] please"}, token=token)
    assert answer.status == 502
    assert answer.error_code == "provider_error"
    record = get_api_token(world.table, world.workspace_id, token_id)
    assert record["reserved_micro_usd"] == 0
    assert record["spent_micro_usd"] == 0
    assert record["remaining_micro_usd"] == 5_000_000


# ------------------------------------------------------------------ failure policy
def _allow_fallback(world: World, enabled: bool = True, max_fallbacks: int = 1) -> None:
    patched = world.api.patch(
        f"/api/leaderboards/{world.leaderboard_id}",
        world.token,
        {"inference": {"fallback": enabled, "max_fallbacks": max_fallbacks}},
    )
    assert patched.status == 200, patched.json
    assert patched.json["inference"] == {"fallback": enabled, "max_fallbacks": max_fallbacks}


def test_a_retryable_failure_falls_back_to_the_next_ranked_model_and_says_so(world):
    world.attach_toy("sandbox/flaky", "flaky")
    world.rank(["flaky", "echo"])
    _allow_fallback(world)
    answer = world.infer({"input": "[fail] hi"})
    assert answer.status == 200, answer.json
    assert answer.json["model"]["id"] == world.models["echo"]
    assert answer.json["fallback_from"] == [
        {"id": world.models["flaky"], "platform": "openrouter", "name": "sandbox/flaky", "error": "provider_error"}
    ]
    chat = world.chat(chat_body(world, content="[429] hi"))
    assert chat.status == 200, chat.json
    assert chat.json["drgero"]["fallback_from"][0]["error"] == "provider_rate_limited"
    traces = {t["id"]: t for t in world.queued_traces()}
    assert traces[answer.json["trace_id"]]["metadata"]["fallback_from"][0]["id"] == world.models["flaky"]


def test_without_the_fallback_setting_the_failure_is_surfaced(world):
    world.attach_toy("sandbox/flaky", "flaky")
    world.rank(["flaky", "echo"])
    answer = world.infer({"input": "[fail] hi"})
    assert answer.status == 502
    assert answer.error_code == "provider_error"
    assert answer.json["error"]["details"]["trace_id"].startswith("tr_")


def test_a_non_retryable_failure_does_not_fall_back(world, sandbox):
    world.attach("broken", {"platform": "custom", "url": f"{sandbox}/custom/status/400", "name": "broken endpoint"})
    world.rank(["broken", "echo"])
    _allow_fallback(world)
    answer = world.infer({"input": "hi"})
    assert answer.status == 400
    assert answer.error_code == "provider_bad_request"


def test_fallback_settings_are_validated(world):
    for bad in ({"fallback": "yes"}, {"max_fallbacks": 9}, {"surprise": True}, "on"):
        answer = world.api.patch(f"/api/leaderboards/{world.leaderboard_id}", world.token, {"inference": bad})
        assert answer.status == 400, (bad, answer.json)


def test_an_upstream_timeout_is_a_504_in_both_shapes(aws, sandbox):
    world = make_world(aws, sandbox, DRGERO_INFERENCE__READ_TIMEOUT_SECONDS="0.3", DRGERO_INFERENCE__MAX_RETRIES="0")
    world.leaderboard()
    world.attach_toy("sandbox/echo", "echo")
    world.select("echo")
    sandbox_control(sandbox, model="sandbox/echo", latency_ms=1500)
    native = world.infer({"input": "slow"})
    assert native.status == 504
    assert native.error_code == "provider_timeout"
    assert "did not answer in time" in native.json["error"]["message"]
    chat = world.chat(chat_body(world))
    assert chat.status == 504
    assert chat.json["error"]["code"] == "provider_timeout"
    assert chat.json["error"]["type"] == "timeout_error"


# ------------------------------------------------------------------ traces
def _store_queued_traces(world: World) -> list[dict]:
    sqs = world.aws.clients.sqs
    url = world.aws.settings.aws.traces_queue_url
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    if messages:
        answer = world.aws.functions.invoke("TraceWriterFunction", sqs_event_of(messages, "TracesQueue")) or {}
        assert not answer.get("batchItemFailures")
    return [json.loads(m["Body"]) for m in messages]


def test_every_call_leaves_an_inference_trace_listable_via_the_api(world):
    world.attach_toy("sandbox/flaky", "flaky")
    ok = world.infer({"input": "hello", "metadata": {"user_id": "u1"}}).json["trace_id"]
    chat = world.chat(chat_body(world)).json["drgero"]["trace_id"]
    world.select("flaky")
    failed = world.infer({"input": "[fail]"}).json["error"]["details"]["trace_id"]
    queued = {t["id"]: t for t in _store_queued_traces(world)}
    assert set(queued) == {ok, chat, failed}
    assert queued[failed]["status"] == "error"
    assert queued[ok]["metadata"]["request"] == {"user_id": "u1"}

    listed = world.api.get(
        "/api/traces", world.token, query=f"leaderboard_id={world.leaderboard_id}&kind=inference"
    ).json["traces"]
    assert {t["id"] for t in listed} == {ok, chat, failed}
    one = world.api.get(f"/api/traces/{ok}", world.token).json
    assert one["input"] == "hello"
    assert one["output"] == "Answer briefly.\n\nhello"
    assert one["model"]["id"] == world.models["echo"]


def test_the_leaderboard_redaction_applies_to_inference_traces(world):
    patched = world.api.patch(
        f"/api/leaderboards/{world.leaderboard_id}",
        world.token,
        {"trace_redaction": {"inputs": True, "outputs": True}},
    )
    assert patched.status == 200, patched.json
    assert patched.json["trace_redaction"] == {"inputs": True, "outputs": True}
    bad = world.api.patch(
        f"/api/leaderboards/{world.leaderboard_id}", world.token, {"trace_redaction": {"inputs": "x"}}
    )
    assert bad.status == 400
    trace_id = world.infer({"input": "my secret question"}).json["trace_id"]
    trace = next(t for t in world.queued_traces() if t["id"] == trace_id)
    assert "input" not in trace and "output" not in trace
    assert sorted(trace["redacted"]) == ["input", "output"]


def test_a_tracing_failure_never_fails_the_paid_call(world, monkeypatch):
    service = world.aws.functions.module("InferenceFunction").service

    class Broken:
        def emit(self, trace):
            raise RuntimeError("queue down")

    monkeypatch.setattr(service, "_sink", Broken())
    answer = world.infer({"input": "hi"})
    assert answer.status == 200
    assert answer.json["trace_id"].startswith("tr_")


def test_the_openapi_document_describes_both_routes(world):
    doc = world.api.get("/openapi.json").json
    native = doc["paths"]["/v1/leaderboard/{id}/inference"]["post"]
    chat = doc["paths"]["/v1/chat/completions"]["post"]
    assert native["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InferenceBody"
    }
    assert {"200", "402", "403", "404", "409", "413", "504"} <= set(native["responses"])
    assert chat["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ChatCompletion"
    }
    schemas = doc["components"]["schemas"]
    assert {"InferenceBody", "ChatBody", "InferenceResponse", "ChatCompletion", "OpenAIStyleError"} <= set(schemas)
    assert set(schemas["InferenceResponse"]["required"]) >= {"output", "model", "usage", "cost_usd", "trace_id"}
