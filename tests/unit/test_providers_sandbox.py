"""The sandbox provider itself: OpenRouter shapes, toy models, fixtures, knobs, clean stop."""

from __future__ import annotations

import socket

import httpx
import pytest

from localcloud.sandbox import start_sandbox
from localcloud.sandbox.toys import TOYS

KEY = {"Authorization": "Bearer sk-or-sandbox-test"}


def chat(sandbox: str, model: str, text: str, headers: dict | None = None, **extra) -> httpx.Response:
    return httpx.post(
        f"{sandbox}/api/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}], **extra},
        headers={**KEY, **(headers or {})},
        trust_env=False,
    )


def test_models_listing_has_openrouter_shape(sandbox):
    data = httpx.get(f"{sandbox}/api/v1/models", trust_env=False).json()["data"]
    assert {m["id"] for m in data} == set(TOYS)
    for entry in data:
        assert entry["id"].startswith("sandbox/") and "toy" in entry["name"].lower()
        assert float(entry["pricing"]["prompt"]) >= 0 and float(entry["pricing"]["completion"]) >= 0
        assert "hugging_face_id" in entry and entry["architecture"]["output_modalities"] == ["text"]


def test_endpoints_latency_only_with_a_key(sandbox):
    url = f"{sandbox}/api/v1/models/sandbox/arithmetic-exact/endpoints"
    keyed = httpx.get(url, headers=KEY, trust_env=False).json()["data"]["endpoints"][0]
    assert set(keyed["latency_last_30m"]) == {"p50", "p75", "p90", "p99"}
    anonymous = httpx.get(url, trust_env=False).json()["data"]["endpoints"][0]
    assert anonymous["latency_last_30m"] is None
    assert httpx.get(f"{sandbox}/api/v1/models/sandbox/nope/endpoints", trust_env=False).status_code == 404


def test_key_info(sandbox):
    assert httpx.get(f"{sandbox}/api/v1/key", headers=KEY, trust_env=False).json()["data"]["label"]
    for headers in ({}, {"Authorization": "Bearer sk-or-invalid-1"}, {"Authorization": "Bearer nope"}):
        assert httpx.get(f"{sandbox}/api/v1/key", headers=headers, trust_env=False).status_code == 401


@pytest.mark.parametrize(
    ("question", "answer"),
    [("What is 2 + 3?", "5"), ("12*12", "144"), ("7 - 10", "-3"), ("1 / 4", "0.25"), ("5 / 0", "I only")],
)
def test_arithmetic_exact(sandbox, question, answer):
    assert (
        chat(sandbox, "sandbox/arithmetic-exact", question)
        .json()["choices"][0]["message"]["content"]
        .startswith(answer)
    )


def test_coin_flip_is_deterministic_and_about_half_right(sandbox):
    right = 0
    with httpx.Client(trust_env=False, headers=KEY) as client:

        def ask(question: str) -> str:
            body = {"model": "sandbox/coin-flip-half", "messages": [{"role": "user", "content": question}]}
            answer = client.post(f"{sandbox}/api/v1/chat/completions", json=body).json()
            return answer["choices"][0]["message"]["content"]

        for n in range(60):
            first = ask(f"{n} + {n}")
            assert first == ask(f"{n} + {n}")
            right += first == str(2 * n)
    assert 15 <= right <= 45


def test_off_by_one_is_never_right_and_echo_echoes(sandbox):
    assert chat(sandbox, "sandbox/off-by-one", "2 + 2").json()["choices"][0]["message"]["content"] == "5"
    assert chat(sandbox, "sandbox/echo", "hi there").json()["choices"][0]["message"]["content"] == "hi there"


def test_usage_cost_is_tokens_times_price(sandbox):
    body = chat(sandbox, "sandbox/arithmetic-exact", "what is 2 + 2").json()
    usage = body["usage"]
    toy = TOYS["sandbox/arithmetic-exact"]
    assert usage["prompt_tokens"] == 5 and usage["completion_tokens"] == 1
    assert usage["cost"] == pytest.approx(5 * toy.prompt_price + 1 * toy.completion_price)


def test_flaky_on_demand_and_bad_requests(sandbox):
    assert chat(sandbox, "sandbox/flaky", "please [fail]").status_code == 500
    limited = chat(sandbox, "sandbox/flaky", "please [429]")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert chat(sandbox, "sandbox/flaky", "fine").status_code == 200
    assert chat(sandbox, "sandbox/nope", "x").status_code == 400
    assert chat(sandbox, "sandbox/echo", "x", headers={"Authorization": "Bearer bad"}).status_code == 401
    bad = httpx.post(f"{sandbox}/api/v1/chat/completions", content=b"{not json", headers=KEY, trust_env=False)
    assert bad.status_code == 400
    assert httpx.post(f"{sandbox}/api/v1/chat/completions", json=[1], headers=KEY, trust_env=False).status_code == 400
    too_big = httpx.post(f"{sandbox}/custom/json", content=b"x" * (1024 * 1024 + 1), trust_env=False)
    assert too_big.status_code == 413
    assert httpx.get(f"{sandbox}/nowhere", trust_env=False).status_code == 404


def test_knobs_bursts_and_per_request_headers(sandbox):
    httpx.post(
        f"{sandbox}/_sandbox/control",
        json={"model": "sandbox/echo", "rate_limit_next": 2, "retry_after": 4},
        trust_env=False,
    ).raise_for_status()
    assert [chat(sandbox, "sandbox/echo", "x").status_code for _ in range(3)] == [429, 429, 200]
    forced = chat(sandbox, "sandbox/echo", "x", headers={"X-Sandbox-Status": "503"})
    assert forced.status_code == 503
    assert httpx.post(f"{sandbox}/_sandbox/control", json={"bogus": 1}, trust_env=False).status_code == 400
    stats = httpx.get(f"{sandbox}/_sandbox/stats", trust_env=False).json()
    assert stats["requests"]["/api/v1/chat/completions"] == 4


def test_hf_and_custom_fixture_shapes(sandbox):
    classic = httpx.post(f"{sandbox}/hf/echo", json={"inputs": "abc"}, trust_env=False).json()
    assert classic == [{"generated_text": "abc"}]
    assert httpx.post(f"{sandbox}/hf/echo", json={"inputs": 3}, trust_env=False).status_code == 422
    assert httpx.post(f"{sandbox}/hf/private-echo", json={"inputs": "a"}, trust_env=False).status_code == 401
    text = httpx.post(f"{sandbox}/custom/text", json={"input": "3 x 3"}, trust_env=False)
    assert text.text == "9" and text.headers["content-type"].startswith("text/plain")
    redirect = httpx.post(f"{sandbox}/custom/redirect", trust_env=False)
    assert redirect.status_code == 302 and "169.254.169.254" in redirect.headers["location"]


def test_start_on_a_free_port_and_stop_cleanly():
    url, stop = start_sandbox("127.0.0.1", 0)
    port = int(url.rsplit(":", 1)[1])
    assert url == f"http://127.0.0.1:{port}"
    with httpx.Client(trust_env=False) as client:  # keep-alive connection left open
        assert client.get(f"{url}/api/v1/models").status_code == 200
        stop()
        stop()  # idempotent
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
