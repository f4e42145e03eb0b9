"""GET mode from the local hub's shipped samples, served from a folder the way ``make local``
serves them: ordinary huggingface.co URLs read ``{hub_dir}/datasets/{owner}/{name}/{path}``."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from drgero.identity.integrations import put_integration
from localcloud.functions import FunctionRuntime
from localcloud.hub import SAMPLE_TOKEN
from localcloud.hub.samples import arithmetic, qa_rows, write_samples
from tests.support.events import rest_event
from tests.support.hf_server import HfServer
from tests.support.identity import api_principal, new_workspace
from tests.support.settings import TEST_ENV

SAMPLES = "https://huggingface.co/datasets/drgero-samples"


@pytest.fixture
def hub(tmp_path):
    write_samples(tmp_path)
    with HfServer(tmp_path) as server:
        yield server


@pytest.fixture
def api_fn(aws, hub):
    return FunctionRuntime(
        aws.template, aws.created, extra_env={**TEST_ENV, "DRGERO_PROVIDERS__HUGGINGFACE_ENDPOINT": hub.url}
    )


def create(api_fn, ws: str, url: str, evaluation: dict | None = None) -> tuple[int, dict]:
    body = {"name": "hf", "prompt": "{input}", "dataset": {"mode": "GET", "url": url}}
    if evaluation:
        body["evaluation"] = evaluation
    response = api_fn.invoke("ApiFunction", rest_event("POST", "/api/leaderboards", body, api_principal(ws)))
    return response["statusCode"], json.loads(response["body"])


def snapshot(aws, resolved: dict) -> list[dict]:
    obj = aws.clients.s3.get_object(
        Bucket=aws.settings.aws.bucket_name, Key=resolved["snapshot_key"], VersionId=resolved["snapshot_version_id"]
    )
    return [json.loads(line) for line in gzip.decompress(obj["Body"].read()).splitlines()]


def test_the_arithmetic_sample_from_an_ordinary_resolve_url(aws, hub, api_fn):
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    status, body = create(api_fn, ws, f"{SAMPLES}/arithmetic/resolve/main/train.jsonl")
    assert status == 201, body
    resolved = body["dataset"]["resolved"]
    assert resolved["rows"] == 40 and resolved["malformed_lines"] == 0
    assert resolved["commit"] == hub.repo("drgero-samples/arithmetic").sha
    rows = snapshot(aws, resolved)
    assert [(r["id"], r["input"], r["output"]) for r in rows] == [
        (r["id"], r["question"], r["answer"]) for r in arithmetic(40)
    ]
    # The same file through a branch other than main, and pinned to the commit itself.
    for url in (
        f"{SAMPLES}/arithmetic/blob/v1/train.jsonl",
        f"hf://datasets/drgero-samples/arithmetic@{resolved['commit']}/train.jsonl",
    ):
        status, again = create(api_fn, ws, url)
        assert status == 201, again
        assert again["dataset"]["resolved"]["commit"] == resolved["commit"]


def test_the_gzip_sample_and_the_qa_sample_with_rubrics(aws, hub, api_fn):
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    status, body = create(api_fn, ws, "hf://datasets/drgero-samples/arithmetic-gz/data/test.jsonl.gz")
    assert status == 201, body
    assert body["dataset"]["resolved"]["rows"] == 30
    judge = {"type": "judge", "judge_model": "sandbox/judge-toy"}
    status, body = create(api_fn, ws, f"{SAMPLES}/short-answer-qa/resolve/main/qa.jsonl", judge)
    assert status == 201, body
    rows = snapshot(aws, body["dataset"]["resolved"])
    assert [r["rubric"] for r in rows] == [r["rubric"] for r in qa_rows()]
    assert all(r["output"] for r in rows)


def test_the_private_sample_needs_the_integration_key(aws, hub, api_fn):
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    url = f"{SAMPLES}/private-arithmetic/resolve/main/train.jsonl"
    status, body = create(api_fn, ws, url)
    assert (status, body["error"]["code"]) == (400, "dataset_not_found"), body
    assert "PUT /api/integrations/huggingface" in body["error"]["message"]

    put_integration(aws.settings, aws.clients, ws, "huggingface", SAMPLE_TOKEN)
    status, body = create(api_fn, ws, url)
    assert status == 201, body
    assert body["dataset"]["resolved"]["rows"] == 20
    assert SAMPLE_TOKEN not in json.dumps(body)
    # The key went to the hub, and only for this workspace's requests.
    assert ("GET", "/api/datasets/drgero-samples/private-arithmetic/revision/main", f"Bearer {SAMPLE_TOKEN}") in [
        (m, p, a) for m, p, a in hub.requests
    ]


def test_a_missing_file_repo_and_the_gated_sample_are_clear_400s(aws, hub, api_fn):
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    cases = [
        (f"{SAMPLES}/arithmetic/resolve/main/nope.jsonl", "dataset_file_not_found"),
        (f"{SAMPLES}/arithmetic/resolve/v9/train.jsonl", "dataset_revision_not_found"),
        (f"{SAMPLES}/no-such-repo/resolve/main/train.jsonl", "dataset_not_found"),
        (f"{SAMPLES}/gated-arithmetic/resolve/main/train.jsonl", "dataset_gated"),
    ]
    for url, code in cases:
        status, body = create(api_fn, ws, url)
        assert (status, body["error"]["code"]) == (400, code), (url, body)


def test_a_file_dropped_into_the_folder_is_served_at_once(aws, hub, api_fn, tmp_path):
    folder = tmp_path / "datasets" / "me" / "mine"
    folder.mkdir(parents=True)
    (folder / "rows.jsonl").write_text('{"input": "2 + 2", "output": "4"}\n')
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    status, body = create(api_fn, ws, "https://huggingface.co/datasets/me/mine/resolve/main/rows.jsonl")
    assert status == 201, body
    first = body["dataset"]["resolved"]["commit"]
    (folder / "rows.jsonl").write_text('{"input": "2 + 2", "output": "4"}\n{"input": "3 + 3", "output": "6"}\n')
    status, body = create(api_fn, ws, "https://huggingface.co/datasets/me/mine/resolve/main/rows.jsonl")
    assert status == 201 and body["dataset"]["resolved"]["rows"] == 2
    assert body["dataset"]["resolved"]["commit"] != first  # new bytes, new commit


def test_the_hub_answers_whoami_and_never_serves_dotfiles(hub):
    with httpx.Client(base_url=hub.url, trust_env=False) as http:
        assert http.get("/api/whoami-v2", headers={"Authorization": f"Bearer {SAMPLE_TOKEN}"}).status_code == 200
        refused = http.get("/api/whoami-v2", headers={"Authorization": "Bearer hf_unknown"})
        assert refused.status_code == 401
        hidden = http.get("/datasets/drgero-samples/private-arithmetic/resolve/main/.hub.json",
                          headers={"Authorization": f"Bearer {SAMPLE_TOKEN}"})  # fmt: skip
        assert hidden.status_code == 404 and hidden.headers["X-Error-Code"] == "EntryNotFound"
