"""The local Hugging Face hub in the local cloud, over real sockets: GET leaderboards created
with ordinary huggingface.co URLs read the shipped samples (``.jsonl``, ``.jsonl.gz``, a
private one with and without the integration key, a missing file), and a judge run on one of
them, graded by the sandbox's toy judge, ranks the always-right toy first and the
always-wrong toy last with no judge errors."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from localcloud.cloud import LocalCloud
from localcloud.hub import SAMPLE_TOKEN

pytestmark = pytest.mark.slow

SAMPLES = "https://huggingface.co/datasets/drgero-samples"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    # Five leaderboards in one workspace: more than the free plan's three.
    env = {"DRGERO_PLANS__FREE_MAX_LEADERBOARDS": "10"}
    hub_dir = tmp_path_factory.mktemp("hub")
    with LocalCloud(api_port=0, aws_port=0, sandbox_port=0, hub_dir=hub_dir, env_overrides=env) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def http(cloud):
    token = cloud.info()["token"]
    with httpx.Client(
        base_url=cloud.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=60, trust_env=False
    ) as client:
        yield client


def create(http: httpx.Client, url: str, evaluation: dict[str, Any] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"name": url.rsplit("/", 1)[-1], "prompt": "{input}", "dataset": {"mode": "GET", "url": url}}
    if evaluation:
        body["evaluation"] = evaluation
    return http.post("/api/leaderboards", json=body)


def test_local_json_names_the_hub_and_functions_use_it(cloud):
    info = cloud.info()
    assert info["hub_url"] == cloud.hub_url and info["hub_url"].startswith("http://127.0.0.1:")
    assert info["hub_dir"] == str(cloud.hub_dir)
    assert (cloud.hub_dir / "datasets/drgero-samples/arithmetic/train.jsonl").is_file()
    env = cloud.functions.environment("ApiFunction")
    assert env["DRGERO_PROVIDERS__HUGGINGFACE_ENDPOINT"] == cloud.hub_url == env["HF_ENDPOINT"]
    assert env["DRGERO_EVALUATION__DEFAULT_JUDGE_MODEL"] == "sandbox/judge-toy"


def test_get_leaderboards_from_the_shipped_samples(http):
    plain = create(http, f"{SAMPLES}/arithmetic/resolve/main/train.jsonl")
    assert plain.status_code == 201, plain.text
    assert plain.json()["dataset"]["resolved"]["rows"] == 40

    gz = create(http, f"{SAMPLES}/arithmetic-gz/blob/main/data/test.jsonl.gz")
    assert gz.status_code == 201, gz.text
    assert gz.json()["dataset"]["resolved"]["rows"] == 30

    missing = create(http, f"{SAMPLES}/arithmetic/resolve/main/test.jsonl")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "dataset_file_not_found"

    private = f"{SAMPLES}/private-arithmetic/resolve/main/train.jsonl"
    refused = create(http, private)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "dataset_not_found"
    # The key is checked against the hub (whoami) when it is stored, then used for the repo.
    key = http.put("/api/integrations/huggingface", json={"api_key": SAMPLE_TOKEN})
    assert key.status_code == 200, key.text
    assert SAMPLE_TOKEN not in key.text
    allowed = create(http, private)
    assert allowed.status_code == 201, allowed.text
    assert allowed.json()["dataset"]["resolved"]["rows"] == 20


def test_a_judge_run_on_a_sample_ranks_with_the_toy_judge(http):
    judge = {"type": "judge", "judge_model": "sandbox/judge-toy", "judge_platform": "openrouter", "scale": "0-10"}
    created = create(http, "hf://datasets/drgero-samples/arithmetic/train.jsonl", judge)
    assert created.status_code == 201, created.text
    lb = created.json()["id"]
    ids = {}
    for toy in ("sandbox/arithmetic-exact", "sandbox/coin-flip-half", "sandbox/off-by-one"):
        attached = http.post(f"/api/leaderboards/{lb}/models", json={"platform": "openrouter", "model": toy})
        assert attached.status_code == 201, attached.text
        ids[toy] = attached.json()["id"]
    started = http.post(f"/api/leaderboards/{lb}/runs", json={})
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    deadline = time.monotonic() + 180
    run = http.get(f"/api/runs/{run_id}").json()
    while run["status"] not in {"completed", "failed", "cancelled"} and time.monotonic() < deadline:
        time.sleep(0.5)  # the SQS pollers and functions run in real time
        run = http.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "completed", run
    rows = run["ranking"]["rows"]
    assert rows[0]["model_id"] == ids["sandbox/arithmetic-exact"] and rows[0]["score"] == 1.0
    assert rows[-1]["model_id"] == ids["sandbox/off-by-one"] and rows[-1]["score"] == 0.0
    assert all(row["judge_errors"] == 0 and row["n"] == 40 for row in rows), rows
