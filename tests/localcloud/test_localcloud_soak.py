"""Soak tests: exactness under concurrency, through HTTP, on the local cloud.

Each test races real concurrent requests through the API Gateway emulation into the real
handlers and the embedded AWS, and checks that the product's counts are exact. Nothing here
serializes requests: if the embedded AWS did not keep DynamoDB's per-request atomicity
(``localcloud.moto_atomic``), or our own code had a check-then-write race, the counts would
drift. Bounded: a fixed number of rounds and requests, loopback only, free ports.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from localcloud.clock import ManualClock
from localcloud.cloud import LocalCloud

pytestmark = pytest.mark.slow

ROUNDS = 10
PUSHERS = 30
ROWS_PER_PUSH = 3
DAILY_LIMIT = 40  # 13 pushes of 3 rows fit (39), the 14th would make 42
TOKEN_LIMIT = 8
CHARGES = 100
PRICE_USD = 0.01  # the fixed price of one call: one output token at $10,000 per million
BUDGET_USD = 0.37  # exactly 37 calls fit


@pytest.fixture(scope="module")
def cloud():
    env = {
        # Enough leaderboards for every round in the seeded workspace.
        "DRGERO_PLANS__FREE_MAX_LEADERBOARDS": str(ROUNDS + 5),
        "DRGERO_LIMITS__MAX_DRGERO_MODELS": "3",
        "DRGERO_AUTH__MAX_TOKENS_PER_WORKSPACE": str(TOKEN_LIMIT),
    }
    with LocalCloud(
        api_port=0, aws_port=0, sandbox_port=0, clock=ManualClock(), redelivery_delay_seconds=0, env_overrides=env
    ) as local:
        yield local


@pytest.fixture(scope="module")
def http(cloud):
    token = cloud.info()["token"]
    limits = httpx.Limits(max_connections=PUSHERS + 5, max_keepalive_connections=PUSHERS + 5)
    with httpx.Client(
        base_url=cloud.api_url, timeout=60, limits=limits, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        # The budgeted token is made first, before the token-limit race fills the workspace.
        client.budgeted = client.post(
            "/api/tokens", json={"name": "budgeted", "scopes": ["inference"], "budget_usd": BUDGET_USD}
        ).json()
        yield client


def _push_leaderboard(http: httpx.Client, name: str) -> str:
    response = http.post(
        "/api/leaderboards",
        json={
            "name": name,
            "prompt": "Answer: {input}",
            "dataset": {"mode": "PUSH", "daily_limit": DAILY_LIMIT, "consolidate_every_events": 100_000},
            "evaluation": {"type": "exact"},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_pushes_racing_a_daily_limit_are_exact(http, round_):
    lb = _push_leaderboard(http, f"race {round_}")

    def push(i: int) -> httpx.Response:
        rows = [{"id": f"r{round_}-{i}-{j}", "input": f"q{i}-{j}", "output": str(j)} for j in range(ROWS_PER_PUSH)]
        return http.post(f"/v1/leaderboard/{lb}/dataset/push", json=rows)

    with ThreadPoolExecutor(PUSHERS) as pool:
        answers = list(pool.map(push, range(PUSHERS)))

    statuses = sorted(a.status_code for a in answers)
    accepted = [a for a in answers if a.status_code == 202]
    assert len(accepted) == DAILY_LIMIT // ROWS_PER_PUSH, statuses
    assert set(statuses) == {202, 429}, statuses
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 429} == {"daily_limit"}

    status = http.get(f"/v1/leaderboard/{lb}/dataset/status").json()
    expected_rows = len(accepted) * ROWS_PER_PUSH
    assert status["accepted"] == expected_rows
    assert status["pending"] == expected_rows
    assert status["limits"]["accepted_today"] == expected_rows

    consolidated = http.post(f"/v1/leaderboard/{lb}/dataset/consolidate")
    assert consolidated.status_code in (200, 202), consolidated.text
    after = http.get(f"/v1/leaderboard/{lb}/dataset/status").json()
    assert after["pending"] == 0
    assert after["dataset"]["rows"] == expected_rows

    # Each accepted row exactly once, and only accepted rows.
    url = after["dataset"]["url"]
    body = httpx.get(url, timeout=30).content
    import gzip

    ids = [json.loads(line)["id"] for line in gzip.decompress(body).splitlines() if line]
    assert len(ids) == len(set(ids)) == expected_rows
    accepted_batches = {a.json()["batch_id"] for a in accepted}
    assert len(accepted_batches) == len(accepted)


def test_dr_gero_model_limit_is_exact_under_concurrency(http, cloud):
    sandbox = cloud.info()["sandbox_url"]

    def create(i: int) -> httpx.Response:
        return http.post(
            "/api/models",
            json={"name": f"bot-{i}", "base_model": "llama", "endpoint": {"url": f"{sandbox}/custom/openai"}},
        )

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(create, range(12)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == 3, statuses
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"model_limit"}
    assert len(http.get("/api/models").json()["models"]) == 3


def test_token_limit_is_exact_under_concurrency(http):
    live = [t for t in http.get("/api/tokens").json()["tokens"] if not t["revoked"]]
    room = TOKEN_LIMIT - len(live)
    assert room >= 3

    def create(i: int) -> httpx.Response:
        return http.post("/api/tokens", json={"name": f"race-{i}", "scopes": ["leaderboards:read"]})

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(create, range(20)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == room, statuses
    assert {a.json()["error"]["code"] for a in answers if a.status_code != 201} == {"token_limit"}
    live = [t for t in http.get("/api/tokens").json()["tokens"] if not t["revoked"]]
    assert len(live) == TOKEN_LIMIT
    # Revoking one frees exactly one slot.
    created = next(a.json()["id"] for a in answers if a.status_code == 201)
    assert http.delete(f"/api/tokens/{created}").status_code in (200, 204)
    with ThreadPoolExecutor(5) as pool:
        again = list(pool.map(create, range(5)))
    assert sorted(a.status_code for a in again).count(201) == 1


def test_concurrent_charges_on_a_budgeted_token_are_exact(http, cloud):
    """A fixed-price model (its worst case is its price: one output token, and the sandbox's
    arithmetic answer is one token), so exactly budget / price calls can succeed."""
    created = http.post(
        "/api/leaderboards",
        json={"name": "charges", "prompt": "{input}", "dataset": {"mode": "PUSH"}, "evaluation": {"type": "exact"}},
    )
    assert created.status_code == 201, created.text
    lb = created.json()["id"]
    rows = [{"id": f"sum-{i}", "input": f"{i} + 1", "output": str(i + 1)} for i in range(100)]
    assert http.post(f"/v1/leaderboard/{lb}/dataset/push", json=rows).status_code == 202
    assert http.post(f"/v1/leaderboard/{lb}/dataset/consolidate").status_code in (200, 202)
    sandbox = cloud.info()["sandbox_url"]
    model = http.post(
        f"/api/leaderboards/{lb}/models",
        json={
            "platform": "custom",
            "url": f"{sandbox}/custom/openai",
            "name": "fixed price",
            "pricing": {"input_per_m_usd": 0, "output_per_m_usd": PRICE_USD * 1_000_000},
        },
    )
    assert model.status_code == 201, model.text
    selected = http.put(
        f"/api/leaderboards/{lb}/selection", json={"strategy": "manual", "model_id": model.json()["id"]}
    )
    assert selected.status_code == 200, selected.text
    secret = http.budgeted["token"]

    def charge(i: int) -> httpx.Response:
        return http.post(
            f"/v1/leaderboard/{lb}/inference",
            json={"input": f"{i} + 1", "max_tokens": 1},
            headers={"Authorization": f"Bearer {secret}"},
        )

    with ThreadPoolExecutor(PUSHERS) as pool:
        answers = list(pool.map(charge, range(CHARGES)))
    statuses = sorted(a.status_code for a in answers)
    fit = round(BUDGET_USD / PRICE_USD)
    assert statuses.count(200) == fit, statuses
    assert set(statuses) == {200, 402}, statuses
    assert {a.json()["cost_usd"] for a in answers if a.status_code == 200} == {PRICE_USD}
    token = next(t for t in http.get("/api/tokens").json()["tokens"] if t["id"] == http.budgeted["id"])
    assert token["spent_usd"] == pytest.approx(BUDGET_USD)
    assert token["reserved_usd"] == 0
    assert token["remaining_usd"] == pytest.approx(0)
