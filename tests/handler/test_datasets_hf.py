"""GET mode: Hugging Face URLs resolved through a local hub-compatible server (never the internet),
pinned to a commit, snapshotted into S3, with clear errors for every way a file can be unusable."""

from __future__ import annotations

import gzip
import json

import pytest

from drgero.core.errors import ApiError
from drgero.datasets.hf import parse_hf_url
from drgero.identity.integrations import put_integration
from localcloud.functions import FunctionRuntime
from tests.support.aws import table_of
from tests.support.events import rest_event
from tests.support.hf_server import HfServer
from tests.support.identity import api_principal, new_workspace
from tests.support.settings import TEST_ENV

GOOD = b'{"question": "2+2?", "answer": "4"}\n{"prompt": "Capital of France?", "expected": "Paris", "id": 7}\n'
HF_TOKEN = "hf_test_granted_token_0123456789"


@pytest.fixture
def hub():
    with HfServer() as server:
        yield server


@pytest.fixture
def api_fn(aws, hub):
    """The api function, cold-started with its Hugging Face endpoint pointing at the local hub."""
    return FunctionRuntime(
        aws.template,
        aws.created,
        extra_env={**TEST_ENV, "DRGERO_PROVIDERS__HUGGINGFACE_ENDPOINT": hub.url},
    )


def create(api_fn, ws: str, url: str) -> tuple[int, dict]:
    body = {"name": "hf", "prompt": "Answer: {question}", "dataset": {"mode": "GET", "url": url}}
    response = api_fn.invoke("ApiFunction", rest_event("POST", "/api/leaderboards", body, api_principal(ws)))
    return response["statusCode"], json.loads(response["body"])


def snapshot_rows(aws, resolved: dict) -> list[dict]:
    body = aws.clients.s3.get_object(
        Bucket=aws.settings.aws.bucket_name, Key=resolved["snapshot_key"], VersionId=resolved["snapshot_version_id"]
    )["Body"].read()
    return [json.loads(line) for line in gzip.decompress(body).splitlines()]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://huggingface.co/datasets/acme/qa/blob/main/data/train.jsonl", ("acme/qa", "main", "data/train.jsonl")),
        ("https://huggingface.co/datasets/acme/qa/resolve/v1.0/x.jsonl.gz", ("acme/qa", "v1.0", "x.jsonl.gz")),
        ("https://huggingface.co/datasets/acme/qa/blob/refs%2Fpr%2F1/a.jsonl", ("acme/qa", "refs/pr/1", "a.jsonl")),
        ("hf://datasets/acme/qa/train.jsonl", ("acme/qa", "main", "train.jsonl")),
        ("hf://datasets/acme/qa@dev/sub/train.jsonl.gz", ("acme/qa", "dev", "sub/train.jsonl.gz")),
    ],
)
def test_accepted_url_forms(url, expected):
    ref = parse_hf_url(url)
    assert (ref.repo_id, ref.revision, ref.path) == expected


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://evil.example.com/datasets/acme/qa/blob/main/x.jsonl", "invalid_dataset_url"),
        ("http://huggingface.co/datasets/acme/qa/blob/main/x.jsonl", "invalid_dataset_url"),
        ("https://huggingface.co/acme/model/blob/main/x.jsonl", "invalid_dataset_url"),
        ("hf://models/acme/qa/x.jsonl", "invalid_dataset_url"),
        ("hf://datasets/acme/qa", "invalid_dataset_url"),
        ("hf://datasets/acme/qa/../secrets.jsonl", "invalid_dataset_url"),
        ("hf://datasets/acme/qa/train.csv", "not_jsonl_file"),
        ("https://huggingface.co/datasets/acme/qa/blob/main/data.parquet", "not_jsonl_file"),
    ],
)
def test_refused_urls(url, code):
    with pytest.raises(ApiError) as caught:
        parse_hf_url(url)
    assert caught.value.status == 400
    assert caught.value.code == code


def test_public_jsonl_is_pinned_and_snapshotted(aws, hub, api_fn):
    sha = hub.add_repo("acme/qa", {"data/train.jsonl": GOOD})
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    status, body = create(api_fn, ws, "https://huggingface.co/datasets/acme/qa/blob/main/data/train.jsonl")
    assert status == 201, body
    resolved = body["dataset"]["resolved"]
    assert resolved["commit"] == sha
    assert resolved["rows"] == 2
    assert resolved["malformed_lines"] == 0
    assert resolved["snapshot_key"] == f"snapshots/{body['id']}/{sha}/data/train.jsonl.gz"
    rows = snapshot_rows(aws, resolved)
    assert [(r["input"], r["output"], r["id"]) for r in rows] == [
        ("2+2?", "4", rows[0]["id"]),
        ("Capital of France?", "Paris", "7"),
    ]
    # The file was read at the pinned commit, not at the moving branch name.
    assert any(path.endswith(f"/resolve/{sha}/data/train.jsonl") for _, path, _ in hub.requests)
    # No credential was sent for a public repo (no integration).
    assert all(auth is None for _, _, auth in hub.requests)


def test_gzip_file_and_malformed_lines_reported_with_numbers(aws, hub, api_fn):
    content = b'{"input": "a"}\n\nnot json\n{"output": "no input"}\n{"input": "b"}\n'
    hub.add_repo("acme/gz", {"train.jsonl.gz": gzip.compress(content)})
    status, body = create(
        api_fn, new_workspace(aws, plan="pro")["workspace_id"], "hf://datasets/acme/gz/train.jsonl.gz"
    )
    assert status == 201, body
    resolved = body["dataset"]["resolved"]
    assert resolved["rows"] == 2
    assert resolved["malformed_lines"] == 2
    assert [e["line"] for e in resolved["errors"]] == [3, 4]
    assert "not valid JSON" in resolved["errors"][0]["error"]
    assert "no input" in resolved["errors"][1]["error"]


@pytest.mark.parametrize(
    ("files", "url", "code"),
    [
        ({"train.jsonl": GOOD}, "hf://datasets/acme/missing/train.jsonl", "dataset_not_found"),
        ({"train.jsonl": GOOD}, "hf://datasets/acme/qa@nope/train.jsonl", "dataset_revision_not_found"),
        ({"train.jsonl": GOOD}, "hf://datasets/acme/qa/other.jsonl", "dataset_file_not_found"),
        ({"train.jsonl": b""}, "hf://datasets/acme/qa/train.jsonl", "dataset_empty"),
        ({"train.jsonl": b"\n\n  \n"}, "hf://datasets/acme/qa/train.jsonl", "dataset_empty"),
        ({"train.jsonl": b"a,b,c\n1,2,3\n"}, "hf://datasets/acme/qa/train.jsonl", "not_jsonl_file"),
        ({"train.jsonl.gz": b"plain text, not gzip"}, "hf://datasets/acme/qa/train.jsonl.gz", "not_jsonl_file"),
        ({"train.jsonl": GOOD}, "hf://datasets/acme/qa/train.txt", "not_jsonl_file"),
    ],
)
def test_validation_errors_at_creation(aws, hub, api_fn, files, url, code):
    hub.add_repo("acme/qa", files)
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    status, body = create(api_fn, ws, url)
    assert status == 400, body
    assert body["error"]["code"] == code
    # Nothing was created.
    assert list(table_of(aws).query_all(f"WS#{ws}", "LB#")) == []


def test_private_repo_needs_a_working_integration(aws, hub, api_fn):
    hub.add_repo("acme/private", {"train.jsonl": GOOD}, private=True, allowed_tokens={HF_TOKEN})
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    status, body = create(api_fn, ws, "hf://datasets/acme/private/train.jsonl")
    assert (status, body["error"]["code"]) == (400, "dataset_not_found")
    assert "integration" in body["error"]["message"]

    put_integration(aws.settings, aws.clients, ws, "huggingface", "hf_wrong_token_without_access_000")
    status, body = create(api_fn, ws, "hf://datasets/acme/private/train.jsonl")
    assert (status, body["error"]["code"]) == (400, "dataset_not_found")
    assert "has no access" in body["error"]["message"]

    put_integration(aws.settings, aws.clients, ws, "huggingface", HF_TOKEN)
    status, body = create(api_fn, ws, "hf://datasets/acme/private/train.jsonl")
    assert status == 201, body
    assert body["dataset"]["resolved"]["rows"] == 2
    assert "hf_" not in json.dumps(body)  # the key never appears in an answer


def test_gated_repo_without_and_with_access(aws, hub, api_fn):
    hub.add_repo("acme/gated", {"train.jsonl": GOOD}, gated=True, allowed_tokens={HF_TOKEN})
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    status, body = create(api_fn, ws, "hf://datasets/acme/gated/train.jsonl")
    assert (status, body["error"]["code"]) == (400, "dataset_gated")
    put_integration(aws.settings, aws.clients, ws, "huggingface", "hf_not_granted_token_00000000")
    status, body = create(api_fn, ws, "hf://datasets/acme/gated/train.jsonl")
    assert (status, body["error"]["code"]) == (400, "dataset_gated")
    put_integration(aws.settings, aws.clients, ws, "huggingface", HF_TOKEN)
    status, body = create(api_fn, ws, "hf://datasets/acme/gated/train.jsonl")
    assert status == 201, body


def test_hub_unreachable_is_a_502(aws):
    runtime = FunctionRuntime(
        aws.template,
        aws.created,
        extra_env={**TEST_ENV, "DRGERO_PROVIDERS__HUGGINGFACE_ENDPOINT": "http://127.0.0.1:9"},
    )
    body = {"name": "hf", "prompt": "p", "dataset": {"mode": "GET", "url": "hf://datasets/acme/qa/train.jsonl"}}
    response = runtime.invoke(
        "ApiFunction",
        rest_event("POST", "/api/leaderboards", body, api_principal(new_workspace(aws, plan="pro")["workspace_id"])),
    )
    assert response["statusCode"] == 502
    assert json.loads(response["body"])["error"]["code"] == "huggingface_unavailable"


def test_changing_the_url_resolves_again_and_a_bad_url_changes_nothing(aws, hub, api_fn):
    hub.add_repo("acme/qa", {"a.jsonl": GOOD, "b.jsonl": b'{"input": "only one"}\n'})
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    status, created = create(api_fn, ws, "hf://datasets/acme/qa/a.jsonl")
    assert status == 201, created

    def patch(url: str) -> tuple[int, dict]:
        event = rest_event(
            "PATCH", f"/api/leaderboards/{created['id']}", {"dataset": {"mode": "GET", "url": url}}, api_principal(ws)
        )
        response = api_fn.invoke("ApiFunction", event)
        return response["statusCode"], json.loads(response["body"])

    status, body = patch("hf://datasets/acme/qa/missing.jsonl")
    assert (status, body["error"]["code"]) == (400, "dataset_file_not_found")
    status, body = patch("hf://datasets/acme/qa/b.jsonl")
    assert status == 200, body
    assert body["dataset"]["resolved"]["rows"] == 1
    assert body["dataset"]["resolved"]["path"] == "b.jsonl"
    requests_before = len(hub.requests)
    status, body = patch("hf://datasets/acme/qa/b.jsonl")  # same URL: the pinned snapshot is kept
    assert status == 200 and len(hub.requests) == requests_before
