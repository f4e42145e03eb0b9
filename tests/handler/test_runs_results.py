"""Per-row results (GET /api/runs/{id}/results) and their export, on a real exact-match run
through the real handlers: paging, every filter, another workspace, bad parameters, and the
review items that link to the same rows."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import unquote, urlparse

import pytest

from tests.support.identity import api_principal, new_workspace
from tests.support.runs import Driver, make_setup, push_rows, rows

EXACT = "sandbox/arithmetic-exact"
ECHO = "sandbox/echo"
OFF = "sandbox/off-by-one"

# r0..r9: arithmetic (only EXACT passes); h1, h2: "hello" -> "hello" (only ECHO passes: the
# winner loses); b1: nobody passes; n1: no expected answer (a scoring error for every model).
EXTRA = [
    {"id": "h1", "input": "hello", "output": "hello"},
    {"id": "h2", "input": "hello", "output": "hello"},
    {"id": "b1", "input": "hello", "output": "bye"},
    {"id": "n1", "input": "2 + 2"},
]


@pytest.fixture
def finished(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, ECHO, OFF), n_rows=0)
    push_rows(setup, rows(10) + EXTRA)
    run_id = setup.start()
    Driver(aws).drain()
    run = setup.run(run_id)
    assert run["status"] == "completed", run
    assert run["ranking"]["winner_model_id"] == setup.models[EXACT]
    return setup, run_id


def page(setup, run_id: str, query: str = "") -> dict:
    status, answer = setup.api("GET", f"/api/runs/{run_id}/results{query}")
    assert status == 200, answer
    return answer


def all_rows(setup, run_id: str, query: str = "", limit: int = 4) -> list[dict]:
    seen, cursor = [], None
    for _ in range(20):
        sep = "&" if query else "?"
        answer = page(setup, run_id, f"{query}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert len(answer["rows"]) <= limit
        seen += answer["rows"]
        cursor = answer["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


def ids(entries: list[dict]) -> list[str]:
    return [e["row_id"] for e in entries]


def test_every_row_once_in_dataset_order_with_each_models_result(finished):
    setup, run_id = finished
    first = page(setup, run_id, "?limit=4")
    assert len(first["rows"]) == 4 and first["next_cursor"] == "4" and first["rows_total"] == 14
    assert {m["name"] for m in first["models"]} == {EXACT, ECHO, OFF}
    entries = all_rows(setup, run_id)
    assert ids(entries) == [f"r{i}" for i in range(10)] + ["h1", "h2", "b1", "n1"]
    assert [e["row"] for e in entries] == list(range(14))
    r3 = entries[3]
    assert r3["input"] == "3 + 10" and r3["prompt"] == "3 + 10" and r3["expected"] == "13"
    by_model = {r["model_id"]: r for r in r3["results"]}
    exact = by_model[setup.models[EXACT]]
    assert exact["output"] == "13" and exact["score"] == 1.0 and exact["passed"] is True
    assert exact["outcome"] == "pass" and exact["error"] is None and exact["name"] == EXACT
    assert exact["latency_ms"] is not None and exact["cost_usd"] > 0 and exact["platform"] == "openrouter"
    off = by_model[setup.models[OFF]]
    assert off["output"] == "14" and off["passed"] is False and off["outcome"] == "fail"
    n1 = {r["model_id"]: r for r in entries[13]["results"]}
    assert all(r["outcome"] == "error" and r["error"] == "scoring_error" for r in n1.values())


def test_every_filter(finished):
    setup, run_id = finished
    echo, exact = setup.models[ECHO], setup.models[EXACT]
    assert ids(all_rows(setup, run_id, f"?model_id={echo}&outcome=pass")) == ["h1", "h2"]
    only = all_rows(setup, run_id, f"?model_id={echo}&outcome=pass")
    assert all([r["model_id"] for r in e["results"]] == [echo] for e in only)
    assert ids(all_rows(setup, run_id, f"?model_id={exact}&outcome=fail")) == ["h1", "h2", "b1"]
    assert ids(all_rows(setup, run_id, "?outcome=error")) == ["n1"]
    assert len(all_rows(setup, run_id, "?outcome=fail")) == 13
    assert ids(all_rows(setup, run_id, "?disagreement=true")) == [f"r{i}" for i in range(10)] + ["h1", "h2"]
    assert ids(all_rows(setup, run_id, "?winner_lost=true", limit=1)) == ["h1", "h2"]
    assert ids(all_rows(setup, run_id, "?winner_lost=true&disagreement=true&outcome=pass")) == ["h1", "h2"]


def test_bad_parameters_and_other_workspace(aws, finished):
    setup, run_id = finished
    for query, code in [
        ("?model_id=mdl_nope", "unknown_models"),
        ("?cursor=abc", "invalid_cursor"),
        ("?cursor=999", "invalid_cursor"),
    ]:
        status, answer = setup.api("GET", f"/api/runs/{run_id}/results{query}")
        assert status == 400 and answer["error"]["code"] == code, answer
    status, answer = setup.api("GET", f"/api/runs/{run_id}/results?outcome=maybe")
    assert status == 400, answer
    other = api_principal(new_workspace(aws)["workspace_id"])
    for path in (f"/api/runs/{run_id}/results", f"/api/runs/{run_id}/results/export?format=csv"):
        status, answer = setup.api("GET", path, principal=other)
        assert status == 404 and answer["error"]["code"] == "not_found"
    writer_only = api_principal(setup.workspace_id, scopes=["runs:write"])
    status, answer = setup.api("GET", f"/api/runs/{run_id}/results", principal=writer_only)
    assert status == 403


def test_winner_lost_needs_a_ranked_run(aws, sandbox):
    setup = make_setup(aws, sandbox, n_rows=6)
    run_id = setup.start()
    status, answer = setup.api("GET", f"/api/runs/{run_id}/results?winner_lost=true")
    assert status == 409 and answer["error"]["code"] == "run_not_ranked"
    assert page(setup, run_id)["rows"] == []  # queued: nothing to show yet, and no error


def test_untrusted_output_is_returned_as_text(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(ECHO, OFF), n_rows=0)
    push_rows(setup, [{"id": "x", "input": "<script>alert(1)</script> =cmd|' /C calc'!A0", "output": "no"}])
    run_id = setup.start()
    Driver(aws).drain()
    echo = next(r for r in page(setup, run_id)["rows"][0]["results"] if r["model_id"] == setup.models[ECHO])
    assert echo["output"] == "<script>alert(1)</script> =cmd|' /C calc'!A0"


def object_key(aws, url: str) -> str:
    """The S3 key a presigned URL names (virtual-hosted or path style)."""
    path = unquote(urlparse(url).path).lstrip("/")
    return path.removeprefix(f"{aws.settings.aws.bucket_name}/")


def export(aws, setup, run_id: str, fmt: str) -> tuple[dict, bytes]:
    """The export as a client sees it: 202 (the job starts), the worker runs, then 200."""
    path = f"/api/runs/{run_id}/results/export?format={fmt}&redirect=false"
    status, answer = setup.api("GET", path)
    if status == 202:
        Driver(aws).step("export")
        status, answer = setup.api("GET", path)
    assert status == 200, answer
    key = object_key(aws, answer["url"])
    assert f"runs/{run_id}/" in key and key.endswith(f"results.{fmt}")
    assert "Signature" in answer["url"] and answer["expires_in"] > 0
    body = aws.clients.s3.get_object(Bucket=aws.settings.aws.bucket_name, Key=key)["Body"].read()
    return answer, body


def test_export_jsonl_and_csv_hold_the_whole_table(aws, finished):
    setup, run_id = finished
    answer, body = export(aws, setup, run_id, "jsonl")
    lines = [json.loads(line) for line in body.splitlines()]
    assert answer["rows"] == 14 and ids(lines) == ids(all_rows(setup, run_id))
    assert lines == all_rows(setup, run_id)
    answer, body = export(aws, setup, run_id, "csv")
    table = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(table) == 14 * 3
    h1_echo = next(r for r in table if r["row_id"] == "h1" and r["model_id"] == setup.models[ECHO])
    assert h1_echo["outcome"] == "pass" and h1_echo["output"] == "hello"
    # A final run's export is written once, then reused: no new job, at once.
    status, again = setup.api("GET", f"/api/runs/{run_id}/results/export?format=csv&redirect=false")
    assert status == 200 and again["finished_at"] == answer["finished_at"]
    status, redirect = setup.api("GET", f"/api/runs/{run_id}/results/export?format=csv")
    assert status == 303 and redirect["url"]


def test_export_streams_in_parts_and_guards_formulas(aws, sandbox):
    aws.functions.extra_env["DRGERO_RUNS__EXPORT_PART_MIB"] = "5"
    setup = make_setup(aws, sandbox, toys=(ECHO, OFF), n_rows=0)
    big = "=" + "x" * 40_000
    push_rows(setup, [{"id": f"b{i}", "input": f"{big}{i}", "output": "no"} for i in range(40)])
    run_id = setup.start()
    Driver(aws).drain()
    answer, body = export(aws, setup, run_id, "csv")
    key = object_key(aws, answer["url"])
    head = aws.clients.s3.head_object(Bucket=aws.settings.aws.bucket_name, Key=key, PartNumber=1)
    assert head.get("PartsCount", 1) >= 2  # a multipart upload, not one buffered PUT
    table = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(table) == 80 and all(r["input"].startswith("'=") for r in table)


def test_review_items_name_the_same_rows(aws, sandbox):
    setup = make_setup(aws, sandbox, n_rows=6, evaluation={"type": "human", "blind": False})
    run_id = setup.start()
    Driver(aws).drain()
    status, review = setup.api("GET", f"/api/runs/{run_id}/reviews")
    assert status == 200, review
    results = page(setup, run_id)
    assert [(r["row"], r["row_id"]) for r in review["rows"]] == [(r["row"], r["row_id"]) for r in results["rows"]][
        : len(review["rows"])
    ]
    assert all(r["outcome"] == "pending" for e in results["rows"] for r in e["results"])
