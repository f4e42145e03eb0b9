"""Runs on the embedded AWS: a PUSH leaderboard with consolidated arithmetic rows, candidate
models on the sandbox provider (:func:`make_setup`), and a :class:`Driver` that delivers the
run queues' messages to the real functions (as SQS would, at least once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drgero.datasets.consolidate import Consolidator
from drgero.identity.integrations import put_integration
from drgero.store.table import MetadataTable

from .aws import queued_traces, table_of
from .events import sqs_event_of
from .handlers import api, push
from .identity import api_principal, new_workspace
from .leaderboards import attach_candidate
from .sandbox import SANDBOX_KEY

QUEUES = {
    "runs": "RunFanoutFunction",
    "evaluate": "EvaluateFunction",
    "judge": "JudgeFunction",
    "export": "ExportFunction",
}


def fast_provider_env(sandbox: str) -> dict[str, str]:
    return {
        "DRGERO_PROVIDERS__OPENROUTER_BASE_URL": f"{sandbox}/api/v1",
        "DRGERO_PROVIDERS__BACKOFF_BASE_SECONDS": "0.001",
        "DRGERO_PROVIDERS__BACKOFF_CAP_SECONDS": "0.002",
        "DRGERO_PROVIDERS__MAX_RETRIES": "2",
        "DRGERO_RUNS__CANCEL_CHECK_SECONDS": "0.001",
        "DRGERO_EVALUATION__SHARD_SIZE": "5",
        "DRGERO_EVALUATION__BOOTSTRAP_RESAMPLES": "200",
        "DRGERO_EVALUATION__PERMUTATION_RESAMPLES": "200",
    }


def rows(n: int) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "input": f"{i} + {i + 7}", "output": str(2 * i + 7)} for i in range(n)]


@dataclass
class Setup:
    aws: Any
    sandbox: str
    workspace_id: str
    leaderboard_id: str
    models: dict[str, str] = field(default_factory=dict)  # toy name -> model id

    @property
    def table(self) -> MetadataTable:
        return table_of(self.aws)

    @property
    def principal(self):
        return api_principal(self.workspace_id)

    def api(self, method: str, path: str, body: Any = None, principal: Any = None) -> tuple[int, Any]:
        """A request through the real api function; ``path`` may carry a query string."""
        return api(self.aws, method, path, principal or self.principal, body)

    def start(self, body: Any = None) -> str:
        status, answer = self.api("POST", f"/api/leaderboards/{self.leaderboard_id}/runs", body)
        assert status == 202, answer
        return answer["run_id"]

    def run(self, run_id: str) -> dict[str, Any]:
        status, answer = self.api("GET", f"/api/runs/{run_id}")
        assert status == 200, answer
        return answer


def make_setup(
    aws,
    sandbox: str,
    toys: tuple[str, ...] = ("sandbox/arithmetic-exact", "sandbox/coin-flip-half", "sandbox/off-by-one"),
    n_rows: int = 12,
    evaluation: dict | None = None,
    dataset: dict | None = None,
) -> Setup:
    aws.functions.extra_env.update(fast_provider_env(sandbox))
    workspace_id = new_workspace(aws, plan="pro")["workspace_id"]
    body = {
        "name": "arithmetic",
        "prompt": "{input}",
        "dataset": {"mode": "PUSH", "max_samples": 100_000, **(dataset or {})},
        "evaluation": evaluation or {"type": "exact"},
    }
    status, created = api(aws, "POST", "/api/leaderboards", api_principal(workspace_id), body)
    assert status == 201, created
    setup = Setup(aws, sandbox, workspace_id, created["id"])
    if n_rows:
        push_rows(setup, rows(n_rows))
    put_integration(aws.settings, aws.clients, workspace_id, "openrouter", SANDBOX_KEY)
    for toy in toys:
        setup.models[toy] = attach(setup, {"platform": "openrouter", "model": toy})
    return setup


def push_rows(setup: Setup, batch: list[dict[str, Any]]) -> None:
    status, answer, _ = push(setup.aws, setup.leaderboard_id, setup.principal, batch)
    assert status == 202, answer
    result = Consolidator(setup.aws.settings, setup.aws.clients).consolidate(setup.workspace_id, setup.leaderboard_id)
    assert result.status == "consolidated", result


def attach(setup: Setup, body: dict[str, Any]) -> str:
    return attach_candidate(setup.aws, setup.workspace_id, setup.leaderboard_id, body)


class Driver:
    """Delivers messages from the runs/evaluate/judge (and results export) queues to their
    functions, deleting the ones the function did not report as failed (partial batch
    response), like SQS."""

    def __init__(self, aws) -> None:
        self.aws = aws
        self.sqs = aws.clients.sqs
        s = aws.settings.aws
        self.urls = {
            "runs": s.runs_queue_url,
            "evaluate": s.evaluate_queue_url,
            "judge": s.judge_queue_url,
            "export": s.export_queue_url,
        }
        self.failures = 0

    def receive(self, queue: str, max_messages: int = 10) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.urls[queue],
            MaxNumberOfMessages=max_messages,
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])

    def deliver(self, queue: str, messages: list[dict[str, Any]], delete: bool = True) -> list[str]:
        """Invokes the function with these messages (one record per invocation, BatchSize 1);
        returns the ids it reported as failed."""
        failed: list[str] = []
        for message in messages:
            answer = self.aws.functions.invoke(QUEUES[queue], sqs_event_of([message], queue)) or {}
            ids = [f["itemIdentifier"] for f in answer.get("batchItemFailures", [])]
            failed += ids
            if delete and message["MessageId"] not in ids:
                self.sqs.delete_message(QueueUrl=self.urls[queue], ReceiptHandle=message["ReceiptHandle"])
        self.failures += len(failed)
        return failed

    def step(self, queue: str, limit: int = 10, duplicate: bool = False) -> int:
        messages = self.receive(queue, limit)
        if duplicate:
            self.deliver(queue, messages, delete=False)
        self.deliver(queue, messages)
        return len(messages)

    def drain(self, duplicate: bool = False, max_rounds: int = 500) -> None:
        for _ in range(max_rounds):
            moved = sum(self.step(q, duplicate=duplicate) for q in ("runs", "evaluate", "judge", "export"))
            if moved == 0:
                return
        raise AssertionError("the run queues did not drain")

    def traces(self) -> list[dict[str, Any]]:
        return queued_traces(self.aws)


def poll_until(http: Any, path: str, done: Any, seconds: float = 180) -> Any:
    """GETs ``path`` until ``done(response)`` or ``seconds`` pass: against a started local
    cloud, whose SQS pollers and functions run in real time."""
    import time

    deadline = time.monotonic() + seconds
    response = http.get(path)
    while not done(response) and time.monotonic() < deadline:
        time.sleep(0.3)
        response = http.get(path)
    return response


def finished_local_run(
    http: Any, dataset_url: str, toys: tuple[str, ...] = ("sandbox/arithmetic-exact", "sandbox/off-by-one")
) -> str:
    """Through a started local cloud's API (``http``: a client with its base URL and token):
    a GET leaderboard on ``dataset_url`` with ``toys`` attached, one run, finished. Its id."""
    created = http.post("/api/leaderboards", json={"name": "export", "prompt": "{input}",
                                                   "dataset": {"mode": "GET", "url": dataset_url}})  # fmt: skip
    assert created.status_code == 201, created.text
    lb = created.json()["id"]
    for toy in toys:
        attached = http.post(f"/api/leaderboards/{lb}/models", json={"platform": "openrouter", "model": toy})
        assert attached.status_code == 201, attached.text
    started = http.post(f"/api/leaderboards/{lb}/runs", json={})
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    run = poll_until(http, f"/api/runs/{run_id}", lambda r: r.json()["status"] in {"completed", "failed"}).json()
    assert run["status"] == "completed", run
    return run_id
