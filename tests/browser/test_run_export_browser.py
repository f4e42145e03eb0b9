"""The Run Logs export in a real browser: "Download CSV" asks the export route, waits while the
export job writes the file (202, Retry-After), then downloads it from the presigned URL."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import httpx

from tests.support.browser import click_text, go, sign_in_local, text_appears, until
from tests.support.runs import finished_local_run

SAMPLE = "hf://datasets/drgero-samples/arithmetic/train.jsonl"  # 40 rows


def _finished_run(local_cloud) -> str:
    token = local_cloud.info()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=local_cloud.api_url, headers=headers, timeout=60, trust_env=False) as http:
        return finished_local_run(http, SAMPLE)


def test_download_csv_waits_for_the_export_job_then_saves_the_file(local_cloud, browser):
    run_id = _finished_run(local_cloud)
    downloads = Path(tempfile.mkdtemp(prefix="drgero-downloads-"))
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    sign_in_local(browser, local_cloud.api_url)
    go(browser, local_cloud.api_url, f"/runs/{run_id}")
    text_appears(browser, "Export")
    click_text(browser, "button", "Download CSV")
    until(browser, lambda: any(p.suffix == ".csv" for p in downloads.iterdir()), timeout=60)
    (saved,) = [p for p in downloads.iterdir() if p.suffix == ".csv"]
    table = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert len(table) == 40 * 2 and {r["outcome"] for r in table} <= {"pass", "fail"}
