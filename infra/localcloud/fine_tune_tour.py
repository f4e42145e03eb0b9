"""The fine-tuning loop as a demo step, over real HTTP against a running local cloud:

push rows -> consolidate -> create a Dr.Gero model -> fine-tune it on the sandbox's emulated
backend -> poll (the sweeper's ``fine_tune_poll`` job, invoked directly instead of waiting
for its 2-minute schedule) -> attach the tuned model as a ``drgero`` candidate next to its
base toy -> run -> the tuned toy ranks first.

``make demo`` can call :func:`fine_tune_tour` with its cloud and httpx client; run alone:
``python -m localcloud.fine_tune_tour``. Every model here is a sandbox toy and says so.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

BASE_TOY = "sandbox/off-by-one"
ROWS = 120  # above limits.min_rows_before_models (100), so candidates can be attached
OPENROUTER_SANDBOX_KEY = "sk-or-" + "sandbox-demo-key-000000"  # a toy key the sandbox accepts
FINE_TUNE_SANDBOX_KEY = "sk-sandbox-fine-tune"  # noqa: S105 - the local cloud's toy backend key


def _print(title: str, response: httpx.Response) -> None:
    print(f"\n>>> {title}\n    {response.request.method} {response.request.url}  ->  HTTP {response.status_code}")
    try:
        body = json.dumps(response.json(), indent=2)[:1500]
    except ValueError:
        body = response.text[:1500]
    print("    " + body.replace("\n", "\n    "))


def _expect(response: httpx.Response, *statuses: int) -> Any:
    if response.status_code not in statuses:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: HTTP {response.status_code} {response.text}"
        )
    return response.json() if response.content else None


def _wait(check: Callable[[], Any], what: str, timeout: float = 120.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


def fine_tune_tour(cloud: Any, http: httpx.Client, show: Callable[[str, httpx.Response], None] = _print) -> dict:
    """Runs the loop; returns ``{"leaderboard_id", "model_id", "job", "run"}``. Raises
    RuntimeError when an answer is not what the contract says."""
    info = cloud.info()
    api = info["api_url"]
    sandbox = info["sandbox_url"]
    headers = {"Authorization": f"Bearer {info['token']}"}

    def call(method: str, path: str, body: Any = None) -> httpx.Response:
        return http.request(method, f"{api}{path}", headers=headers, json=body)

    _expect(call("PUT", "/api/integrations/openrouter", {"api_key": OPENROUTER_SANDBOX_KEY}), 200)
    board = {
        "name": "arithmetic (fine-tune tour)",
        "prompt": "{input}",
        "dataset": {"mode": "PUSH", "max_samples": 10_000},
        "evaluation": {"type": "exact"},
    }
    created = call("POST", "/api/leaderboards", board)
    show("a leaderboard whose dataset the app pushes", created)
    lb = _expect(created, 201)["id"]
    rows = [{"id": f"r{i}", "input": f"{i} + {i + 7}", "output": str(2 * i + 7)} for i in range(ROWS)]
    _expect(call("POST", f"/v1/leaderboard/{lb}/dataset/push", {"rows": rows}), 202)
    _expect(call("POST", f"/v1/leaderboard/{lb}/dataset/consolidate"), 200, 202)
    _wait(
        lambda: (
            (_expect(call("GET", f"/v1/leaderboard/{lb}/dataset/status"), 200).get("dataset") or {}).get("rows") == ROWS
        ),
        "the dataset to be consolidated",
    )
    _expect(call("POST", f"/api/leaderboards/{lb}/models", {"platform": "openrouter", "model": BASE_TOY}), 201)

    model = call(
        "POST",
        "/api/models",
        {
            "name": "arith-bot (toy)",
            "base_model": BASE_TOY,
            "endpoint": {
                "url": f"{sandbox}/v1/chat/completions",
                "model": BASE_TOY,
                "auth": {"kind": "bearer", "secret": FINE_TUNE_SANDBOX_KEY},
            },
        },
    )
    show("a Dr.Gero model, starting as the base toy", model)
    model_id = _expect(model, 201)["id"]
    started = call(
        "POST",
        f"/api/models/{model_id}/fine-tunes",
        {"leaderboard_id": lb, "base_model": BASE_TOY, "validation_fraction": 0.1},
    )
    show("fine-tune it on the leaderboard's dataset (sandbox backend)", started)
    job = _expect(started, 201)

    def finished() -> dict | None:
        cloud.invoke("SweeperFunction", {"job": "fine_tune_poll"})
        current = _expect(call("GET", f"/api/models/{model_id}/fine-tunes/{job['id']}"), 200)
        return current if current["status"] in ("succeeded", "failed", "cancelled") else None

    job = _wait(finished, "the fine-tune job", timeout=60)
    show("the job, after the poller saw it succeed", call("GET", f"/api/models/{model_id}/fine-tunes/{job['id']}"))
    if job["status"] != "succeeded":
        raise RuntimeError(f"the fine-tune job ended {job['status']}: {job.get('error')}")

    attached = call("POST", f"/api/leaderboards/{lb}/models", {"platform": "drgero", "model_id": model_id})
    show("the tuned model joins the leaderboard as a drgero candidate", attached)
    candidate = _expect(attached, 201)["id"]
    run_id = _expect(call("POST", f"/api/leaderboards/{lb}/runs"), 202)["run_id"]
    run = _wait(
        lambda: (
            (r := _expect(call("GET", f"/api/runs/{run_id}"), 200))["status"] in ("completed", "failed", "cancelled")
            and r
        ),
        "the run",
    )
    show("the ranking", call("GET", f"/api/leaderboards/{lb}/ranking"))
    if run["status"] != "completed" or run["ranking"]["winner_model_id"] != candidate:
        raise RuntimeError("the tuned model did not win the run")
    return {"leaderboard_id": lb, "model_id": model_id, "candidate_id": candidate, "job": job, "run": run}


def main() -> int:
    from localcloud.cloud import LocalCloud

    with LocalCloud(api_port=0, aws_port=0, sandbox_port=0) as cloud, httpx.Client(timeout=30) as http:
        try:
            fine_tune_tour(cloud, http)
        except RuntimeError as exc:
            print(f"fine-tune tour FAILED: {exc}", file=sys.stderr)
            return 1
    print("\nThe tuned toy answers its training rows exactly and wins; its base toy is never right.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
