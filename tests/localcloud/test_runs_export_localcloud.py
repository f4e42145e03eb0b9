"""The results export end to end over real sockets: a run on a shipped hub sample through the
started local cloud, then GET /api/runs/{id}/results/export through the API Gateway emulation
(the real authorizer and api function): 202 with Retry-After at once, the export queue's poller
runs the export function, the poll answers 200, and the presigned URL serves the whole CSV."""

from __future__ import annotations

import csv
import io
import time

import httpx
import pytest

from tests.support.runs import finished_local_run, poll_until

pytestmark = pytest.mark.slow

SAMPLE = "hf://datasets/drgero-samples/arithmetic/train.jsonl"  # 40 rows


def test_export_answers_at_once_then_serves_the_file(local_cloud):
    token = local_cloud.info()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=local_cloud.api_url, headers=headers, timeout=60, trust_env=False) as http:
        run_id = finished_local_run(http, SAMPLE)

        path = f"/api/runs/{run_id}/results/export?format=csv&redirect=false"
        began = time.monotonic()
        first = http.get(path)
        answered = time.monotonic() - began
        assert first.status_code == 202, first.text
        assert int(first.headers["Retry-After"]) >= 1 and first.json()["status"] in {"pending", "running"}
        assert answered < 5, answered  # the route never writes the file

        ready = poll_until(http, path, lambda r: r.status_code != 202)
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready" and body["rows"] == 40
        # The presigned URL names the embedded S3; fetched without the API credential.
        file = httpx.get(body["url"], trust_env=False, timeout=30)
        assert file.status_code == 200
        table = list(csv.DictReader(io.StringIO(file.text)))
        assert len(table) == 40 * 2 and {r["outcome"] for r in table} <= {"pass", "fail"}

        redirect = http.get(f"/api/runs/{run_id}/results/export?format=csv", follow_redirects=False)
        assert redirect.status_code == 303 and redirect.headers["Location"].startswith("http")
        other = http.get(f"/api/runs/{run_id}/results/export?format=csv", headers={"Authorization": "Bearer nope"})
        assert other.status_code == 401
