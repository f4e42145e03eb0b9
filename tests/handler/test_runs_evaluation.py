"""Judge and human-evaluated runs through the real handlers: a judge model (a local toy judge
endpoint attached as a custom model) scores outputs, malformed judge answers become judge
errors (never zeros), judge cost is kept apart; human review is blind, graded, then ranked."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.identity import api_principal
from tests.support.runs import Driver, attach, make_setup

EXACT = "sandbox/arithmetic-exact"
OFF = "sandbox/off-by-one"


class _Judge(BaseHTTPRequestHandler):
    """Grades 10 when the candidate equals the reference, else 2; answers nonsense for the row
    whose task is '3 + 10' (malformed, every attempt) and refuses for '4 + 11'."""

    calls = 0

    def log_message(self, *args):  # quiet
        return

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"] if body["messages"][-1]["role"] == "user" else ""
        text = next(m["content"] for m in body["messages"] if m["role"] == "user")
        section = lambda tag: re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.S).group(1).strip()  # noqa: E731
        task, reference, candidate = section("task"), section("reference_answer"), section("candidate_answer")
        type(self).calls += 1
        if task == "3 + 10":
            answer = "banana"
        elif task == "4 + 11":
            answer = "I'm sorry, I cannot grade this."
        else:
            answer = json.dumps({"score": 10 if candidate == reference else 2, "reason": "compared"})
        reply = {
            "id": "judge-1",
            "object": "chat.completion",
            "model": "toy-judge",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 10},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def judge_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"
    server.shutdown()
    server.server_close()


def test_judge_run_scores_with_the_judge_and_keeps_judge_errors_apart(aws, sandbox, judge_url):
    setup = make_setup(aws, sandbox, toys=(EXACT, OFF))
    judge_id = attach(
        setup,
        {"platform": "custom", "url": judge_url, "model": "toy-judge",
         "pricing": {"input_per_m_usd": 1.0, "output_per_m_usd": 1.0}},
    )  # fmt: skip
    status, answer = setup.api(
        "PATCH",
        f"/api/leaderboards/{setup.leaderboard_id}",
        {"evaluation": {"type": "judge", "judge_model": judge_id, "judge_platform": "custom", "scale": "0-10"}},
    )
    assert status == 200, answer
    run_id = setup.start({"model_ids": [setup.models[EXACT], setup.models[OFF]]})
    driver = Driver(aws)
    driver.drain(duplicate=True)  # judge messages delivered twice too
    assert driver.failures == 0
    run = setup.run(run_id)
    assert run["status"] == "completed" and run["evaluation_type"] == "judge"
    rows = {r["model_id"]: r for r in run["ranking"]["rows"]}
    exact, off = rows[setup.models[EXACT]], rows[setup.models[OFF]]
    # 12 rows; rows '3 + 10' (malformed after 2 attempts) and '4 + 11' (refused) are judge errors.
    assert exact["judge_errors"] == 2 and exact["n"] == 10 and exact["score"] == 1.0
    assert off["judge_errors"] == 2 and off["n"] == 10 and off["score"] == pytest.approx(0.2)
    assert run["ranking"]["winner_model_id"] == setup.models[EXACT]
    # Judge cost: 1010 tokens at $1/M per attempt; the malformed row took 2 attempts.
    per_model = (10 + 2 + 1) * 1010 / 1_000_000
    assert exact["judge_cost_usd"] == pytest.approx(per_model)
    assert run["judge_cost_usd"] == pytest.approx(2 * per_model)
    assert run["cost_usd"] == pytest.approx(exact["cost_usd"] + off["cost_usd"])
    # Each (row, model) was judged once despite the duplicate deliveries (+1 retry of the malformed row).
    assert _Judge.calls == 2 * (12 + 1)


def test_human_review_blind_grades_then_ranking(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, OFF), n_rows=6, evaluation={"type": "human", "scale": "1-5"})
    run_id = setup.start()
    Driver(aws).drain()
    run = setup.run(run_id)
    assert run["status"] == "awaiting_review" and run["review"] == {"items": 12, "graded": 0}
    status, ranking = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/ranking")
    assert ranking["active_run_id"] is None  # a review does not block new runs

    status, page = setup.api("GET", f"/api/runs/{run_id}/reviews")
    assert status == 200 and page["blind"] is True and page["pages"] == 2 and page["next_page"] == 1
    items = []
    for number in range(page["pages"]):
        status, page = setup.api("GET", f"/api/runs/{run_id}/reviews?page={number}")
        for row in page["rows"]:
            assert row["expected"] is not None and len(row["items"]) == 2
            assert [i["label"] for i in row["items"]] == ["A", "B"]
            for item in row["items"]:
                assert "model_id" not in item  # blind
                items.append((row, item))
    assert len(items) == 12
    # Grade: 5 for a right answer, 1 for a wrong one.
    grades = [{"item_id": it["item_id"], "grade": 5 if it["output"] == row["expected"] else 1} for row, it in items]
    status, answer = setup.api("POST", f"/api/runs/{run_id}/reviews", {"grades": grades[:5]})
    assert status == 200 and answer["graded"] == 5 and answer["status"] == "awaiting_review"
    status, answer = setup.api("POST", f"/api/runs/{run_id}/reviews", {"grades": grades[:5]})  # a retry
    assert answer["graded"] == 5
    status, answer = setup.api(
        "POST", f"/api/runs/{run_id}/reviews", {"grades": [{"item_id": "0-000000000000", "grade": 3}]}
    )
    assert status == 400 and answer["error"]["code"] == "unknown_item"
    status, answer = setup.api("POST", f"/api/runs/{run_id}/reviews", {"grades": [{**grades[0], "grade": 9}]})
    assert status == 400 and answer["error"]["code"] == "invalid_grade"
    status, answer = setup.api("POST", f"/api/runs/{run_id}/reviews", {"grades": grades[5:]})
    assert status == 200 and answer["status"] == "completed"
    run = setup.run(run_id)
    rows = {r["model_id"]: r for r in run["ranking"]["rows"]}
    assert rows[setup.models[EXACT]]["score"] == 1.0 and rows[setup.models[OFF]]["score"] == 0.0
    assert run["ranking"]["winner_model_id"] == setup.models[EXACT]
    status, answer = setup.api("POST", f"/api/runs/{run_id}/reviews", {"grades": grades[:1]})
    assert status == 409 and answer["error"]["code"] == "review_not_open"


def test_admin_closes_a_review_early(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, OFF), n_rows=4, evaluation={"type": "human"})
    run_id = setup.start()
    Driver(aws).drain()
    status, page = setup.api("GET", f"/api/runs/{run_id}/reviews")
    first = page["rows"][0]["items"]
    grades = [{"item_id": i["item_id"], "grade": True} for i in first]
    member = api_principal(setup.workspace_id, scopes={"runs:write", "leaderboards:read"})
    status, answer = setup.api("POST", f"/api/runs/{run_id}/reviews", {"grades": grades, "close": True}, member)
    assert status == 403  # closing early is for admins
    status, answer = setup.api("POST", f"/api/runs/{run_id}/reviews", {"grades": grades, "close": True})
    assert status == 200 and answer["status"] == "completed"
    ranking = setup.run(run_id)["ranking"]
    assert all(r["n"] == 1 and r["not_run"] == 3 for r in ranking["rows"])
