"""Helpers for the runs tests: a PUSH leaderboard with consolidated arithmetic rows, candidate
models on the sandbox provider, and a driver that delivers the run queues' messages to the
real functions (as SQS would, at least once)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from drgero.datasets.consolidate import Consolidator
from drgero.identity.integrations import put_integration
from drgero.leaderboards.attach import attach_model
from drgero.runs.tracing import run_async
from drgero.store.table import MetadataTable
from tests.dataset_support import api, api_principal, new_workspace, push, rest_event

SANDBOX_KEY = "sk-or-sandbox-test-key-0123456789"
QUEUES = {"runs": "RunFanoutFunction", "evaluate": "EvaluateFunction", "judge": "JudgeFunction"}


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
        return MetadataTable(self.aws.clients.dynamodb, self.aws.settings.aws.table_name)

    @property
    def principal(self):
        return api_principal(self.workspace_id)

    def api(self, method: str, path: str, body: Any = None, principal: Any = None) -> tuple[int, Any]:
        """A request through the real api function; ``path`` may carry a query string."""
        path, _, query = path.partition("?")
        event = rest_event(method, path, body, principal or self.principal)
        if query:
            params = dict(part.split("=", 1) for part in query.split("&"))
            event["queryStringParameters"] = params
            event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()}
        response = self.aws.functions.invoke("ApiFunction", event)
        text = response.get("body") or ""
        return response["statusCode"], (json.loads(text) if text else None)

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
    settings = aws.settings.model_copy(
        update={"limits": aws.settings.limits.model_copy(update={"min_rows_before_models": 1})}
    )
    workspace_id = new_workspace(aws)
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
    put_integration(settings, aws.clients, workspace_id, "openrouter", SANDBOX_KEY)
    for toy in toys:
        setup.models[toy] = attach(setup, {"platform": "openrouter", "model": toy}, settings)
    return setup


def push_rows(setup: Setup, batch: list[dict[str, Any]]) -> None:
    status, answer, _ = push(setup.aws, setup.leaderboard_id, setup.principal, batch)
    assert status == 202, answer
    result = Consolidator(setup.aws.settings, setup.aws.clients).consolidate(setup.workspace_id, setup.leaderboard_id)
    assert result.status == "consolidated", result


def attach(setup: Setup, body: dict[str, Any], settings: Any = None) -> str:
    async def accept(_target: Any) -> None:
        return None

    settings = settings or setup.aws.settings.model_copy(
        update={"limits": setup.aws.settings.limits.model_copy(update={"min_rows_before_models": 1})}
    )
    view = run_async(
        attach_model(
            setup.table, settings, setup.aws.clients, setup.workspace_id, setup.leaderboard_id, body, validate=accept
        )
    )
    return view["id"]


def sandbox_control(sandbox: str, **knobs: Any) -> None:
    httpx.post(f"{sandbox}/_sandbox/control", json=knobs, trust_env=False).raise_for_status()


def sandbox_requests(sandbox: str) -> int:
    stats = httpx.get(f"{sandbox}/_sandbox/stats", trust_env=False).json()
    return sum(v for k, v in (stats.get("requests") or {}).items() if "chat/completions" in k)


def sqs_event(messages: list[dict[str, Any]], queue: str) -> dict:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


class Driver:
    """Delivers messages from the runs/evaluate/judge queues to their functions, deleting the
    ones the function did not report as failed (partial batch response), like SQS."""

    def __init__(self, aws) -> None:
        self.aws = aws
        self.sqs = aws.clients.sqs
        s = aws.settings.aws
        self.urls = {"runs": s.runs_queue_url, "evaluate": s.evaluate_queue_url, "judge": s.judge_queue_url}
        self.failures = 0

    def receive(self, queue: str, max_messages: int = 10) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.urls[queue], MaxNumberOfMessages=max_messages, VisibilityTimeout=0, WaitTimeSeconds=0
        ).get("Messages", [])

    def deliver(self, queue: str, messages: list[dict[str, Any]], delete: bool = True) -> list[str]:
        """Invokes the function with these messages (one record per invocation, BatchSize 1);
        returns the ids it reported as failed."""
        failed: list[str] = []
        for message in messages:
            answer = self.aws.functions.invoke(QUEUES[queue], sqs_event([message], queue)) or {}
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
            moved = sum(self.step(q, duplicate=duplicate) for q in ("runs", "evaluate", "judge"))
            if moved == 0:
                return
        raise AssertionError("the run queues did not drain")

    def traces(self) -> list[dict[str, Any]]:
        url = self.aws.settings.aws.traces_queue_url
        found = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if not batch:
                return found
            for m in batch:
                found.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
