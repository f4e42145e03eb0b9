"""`make demo` (``python -m localcloud.demo``): the product tour.

The slow test runs the real thing as a subprocess, as `make demo` does, and checks that every
step answered as the contract says (exit 0) and that the output a person reads has each
section, the ranking table and the inference answers. The fast tests check the tour's own
logic: the pushed rows cover every body shape, alias and credential header; a failing step
names the request, status and error body; a run that never finishes is a clear timeout; and
a failure exits non-zero.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from localcloud import demo
from tests.support.secret_scan import find_secrets

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------ the tour, for real
@pytest.mark.slow
# Bounded, above the suite's 120 s default: the tour runs five evaluations, a review, a
# fine-tune and a restart (about 2-3 minutes on 2 shared cores).
@pytest.mark.timeout(480)
def test_make_demo_runs_the_whole_tour_and_exits_0():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DRGERO_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "localcloud.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=450,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, f"demo failed (exit {proc.returncode}):\n{out[-6000:]}\n{proc.stderr[-4000:]}"
    for section in (
        "1. Create a PUSH leaderboard",
        "2. Create an hpd_ dataset push token",
        "3. Push 160 rows in mixed formats",
        "4. Consolidate and read the dataset status",
        "5. Pick candidate models",
        "6. Run the evaluation and rank the models",
        "7. Call production inference",
        "8. Traces of this leaderboard",
        "9. A GET leaderboard from the local Hugging Face hub, judged by the toy judge",
        "10. A schedule fires a run",
        "11. Human evaluation: a blind review",
        "12. The fine-tuning loop",
        "13. Restart the local cloud: nothing is lost",
        "Figures measured",
    ):
        assert section in out
    assert "all on loopback" in out
    assert "X-Dr.Gero-API-Key" in out and "X-API-Key" in out and "Authorization" in out
    assert "dataset version 1: 161 rows" in out
    # The ranking table and the verdict: the exact toys and the custom endpoint are perfect,
    # the coin flip is in between, the off-by-one toy is never right.
    assert "#  model" in out and "95% CI" in out and "p95" in out
    assert "sandbox/off-by-one" in out and "0.0%" in out
    assert "In plain words:" in out
    assert "-> '9591'" in out  # 417 x 23, answered by the production model over plain HTTP
    assert "-> '1135'" in out  # 1234 - 99, through the OpenAI-compatible route
    assert "inference" in out.split("8. Traces of this leaderboard")[1]
    # GET mode from the local hub (an ordinary huggingface.co URL), ranked by the toy judge.
    get_step = out.split("9. A GET leaderboard")[1].split("10. A schedule")[0]
    assert demo.HUB_SAMPLE_URL in get_step and "40 rows of drgero-samples/arithmetic/train.jsonl" in get_step
    assert "with 0 judge errors in 120 judged answers" in get_step
    assert "source='schedule': completed" in out
    assert "grades -> run completed" in out
    restart = out.split("13. Restart the local cloud")[1]
    assert "restored: True" in restart and "-> '9591'" in restart
    figures = out.split("Figures measured")[1]
    assert "judge errors" in figures and "restart of the local cloud" in figures
    assert "Done in" in out and "DEMO FAILED" not in out
    assert '{"_aws"' not in out  # no metric records in what a person reads
    assert find_secrets(out + proc.stderr) == []


# ------------------------------------------------------------------------------ the tour's logic
def test_the_pushed_rows_use_every_shape_alias_and_credential_header():
    requests = demo.push_requests()
    headers = {header for _, header, _ in requests}
    assert headers == {"Authorization", "X-API-Key", "X-Dr.Gero-API-Key"}
    shapes, rows = set(), []
    for _, _, body in requests:
        if isinstance(body, list):
            shapes.add("array")
            rows.extend(body)
        elif {"rows", "events", "samples"} & body.keys():
            (key,) = {"rows", "events", "samples"} & body.keys()
            shapes.add(key)
            rows.extend(body[key])
        else:
            shapes.add("object")
            rows.append(body)
    assert shapes == {"object", "array", "rows", "events", "samples"}
    assert len(rows) == demo.ROW_COUNT >= 150
    fields = set().union(*(row.keys() for row in rows))
    assert {"input", "prompt", "question", "query", "messages"} <= fields
    assert {"output", "completion", "answer", "expected", "response"} <= fields
    assert sum(1 for row in rows if "messages" in row) == 1
    # Distinct questions, so consolidation keeps every one of them.
    assert len({json.dumps(row, sort_keys=True) for row in rows}) == len(rows)


def test_the_expected_answers_are_what_the_exact_toy_computes():
    from localcloud.sandbox.toys import TOYS

    exact = TOYS["sandbox/arithmetic-exact"].answer
    for _id, question, answer in demo.arithmetic_rows():
        assert exact(demo.PROMPT.replace("{input}", question)) == answer


class _FakeCloud:
    aws_endpoint_url = "http://127.0.0.1:1"
    functions = None

    def info(self) -> dict[str, Any]:
        return {"api_url": "http://api.test", "sandbox_url": "http://127.0.0.1:2", "token": "t"}


def _tour(handler, run_timeout: float = 30.0) -> demo.Tour:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return demo.Tour(_FakeCloud(), http, run_timeout=run_timeout, with_fine_tune=False)  # type: ignore[arg-type]


def test_a_failing_step_names_the_request_the_status_and_the_error_body():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": {"code": "internal_error", "message": "boom", "request_id": "r1"}})

    tour = _tour(handler)
    with pytest.raises(demo.StepFailed) as failed:
        tour.create_leaderboard()
    message = str(failed.value)
    assert "POST /api/leaderboards -> HTTP 500" in message
    assert "internal_error" in message and "boom" in message
    assert tour.current == "step 1 (Create a PUSH leaderboard)"


def test_a_run_that_never_finishes_is_a_clear_timeout():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json={"run_id": "run_1", "status": "queued", "estimated_seconds": 5})
        return httpx.Response(200, json={"id": "run_1", "status": "running", "progress": {"shards_done": 1}})

    tour = _tour(handler, run_timeout=0.3)
    tour.lb = "lb_1"
    with pytest.raises(demo.StepFailed, match=r"timed out after 0 s waiting for run run_1 \(last seen: running"):
        tour.run_and_rank()


def test_a_run_that_fails_is_reported_with_its_error():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json={"run_id": "run_1"})
        return httpx.Response(200, json={"id": "run_1", "status": "failed", "error": "dataset deleted"})

    tour = _tour(handler)
    tour.lb = "lb_1"
    with pytest.raises(demo.StepFailed, match="run run_1 ended failed: dataset deleted"):
        tour.run_and_rank()


def test_a_failed_step_exits_non_zero_and_says_which_step(monkeypatch, capsys):
    class Cloud(_FakeCloud):
        def __init__(self, **_kw: Any) -> None:
            pass

        def start(self) -> Cloud:
            return self

        def stop(self) -> None:
            return None

    def failing_run(self: demo.Tour) -> None:
        with self.step("Create a PUSH leaderboard"):
            raise demo.StepFailed("POST /api/leaderboards -> HTTP 403\n{...}")

    monkeypatch.setattr(demo, "LocalCloud", Cloud)
    monkeypatch.setattr(demo.Tour, "run", failing_run)
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # main() swaps stdout; restore it whatever happens
    assert demo.main([]) == 1
    out = capsys.readouterr().out
    assert "DEMO FAILED at step 1 (Create a PUSH leaderboard)" in out
    assert "HTTP 403" in out


def test_the_tour_stdout_drops_metric_records_only(capsys):
    human = demo.HumanStdout(sys.stdout)
    print("a line for people", file=human)
    print('{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"ColdStart":[1.0]}', file=human)
    human.write("partial ")
    human.write("line\n")
    human.close_out()
    assert capsys.readouterr().out == "a line for people\npartial line\n"


def test_without_the_openai_package_the_chat_route_is_called_with_httpx_and_says_so(monkeypatch, capsys):
    seen: list[tuple[str, dict]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.url.path, body))
        model = {"id": "mdl_1", "platform": "openrouter", "name": "toy"}
        if request.url.path == "/v1/chat/completions":
            return httpx.Response(
                200,
                json={
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "1135"}}],
                    "drgero": {"model": model, "cost_usd": 0.0, "trace_id": "tr_2"},
                },
            )
        return httpx.Response(200, json={"output": "9591", "model": model, "cost_usd": 0.0, "trace_id": "tr_1"})

    monkeypatch.setitem(sys.modules, "openai", None)  # import openai -> ImportError
    tour = _tour(handler)
    tour.lb = "lb_1"
    tour.inference({})
    out = capsys.readouterr().out
    assert "plain httpx (the openai package is not installed" in out
    assert [path for path, _ in seen] == ["/v1/leaderboard/lb_1/inference", "/v1/chat/completions"]
    assert seen[1][1]["model"] == "leaderboard/lb_1"
    assert tour.trace_ids == ["tr_1", "tr_2"]
