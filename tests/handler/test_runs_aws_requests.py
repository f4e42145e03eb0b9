"""AWS requests per run shard, counted on the evaluate function's own clients (issue 18: each
request is a few ms in AWS and most are serial with the shard's work).

A shard makes 6 requests (issue 18's goal), the provider-key lease included: ONE
BatchGetItem of the shard, the run, the candidate and the integration; the rows (S3
GetObject); the lease of its provider key's slots (UpdateItem, drgero.runs.key_lease); the
outputs (PutObject); the trace (SendMessage); the count (TransactWriteItems, which also
releases the lease and, by its condition, tells a middle shard it is not the run's last, so
no completion read). A fresh container's first shard also pays for the decrypted provider key
(one KMS Decrypt); later shards of the same container reuse it (``drgero.core.secrets``'
bounded cache). The cancel watch starts from the run record the batch read, and a first
delivery makes no reuse probe (no earlier attempt can have written outputs). The run's last
shard also reads the run and aggregates."""

from __future__ import annotations

import collections
from typing import Any

from tests.support.runs import QUEUES, Driver, make_setup


class Requests:
    """Counts the AWS requests made through some boto3 clients, by operation."""

    def __init__(self, *clients: Any) -> None:
        self.by_operation: collections.Counter[str] = collections.Counter()
        for client in clients:
            client.meta.events.register("before-call", self._count)

    def _count(self, event_name: str, **_kwargs: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.by_operation[f"{service}.{operation}"] += 1

    def total(self) -> int:
        return sum(self.by_operation.values())


def _evaluate_requests(aws) -> Requests:
    module = aws.functions.module(QUEUES["evaluate"])
    clients = module.clients
    return Requests(clients.dynamodb, clients.s3, clients.sqs, clients.kms)


def _run_to_evaluate(aws, sandbox, n_rows: int):
    setup = make_setup(aws, sandbox, n_rows=n_rows)
    # The production default (0.5 s): the test default (1 ms) re-reads the run between rows.
    aws.functions.extra_env["DRGERO_RUNS__CANCEL_CHECK_SECONDS"] = "30"
    run_id = setup.start()
    driver = Driver(aws)
    assert driver.step("runs") == 1
    return setup, run_id, driver


SHARD_REQUESTS = collections.Counter(
    {
        "dynamodb.BatchGetItem": 1,
        "s3.GetObject": 1,
        "dynamodb.UpdateItem": 1,  # the provider-key lease
        "s3.PutObject": 1,
        "sqs.SendMessage": 1,
        "dynamodb.TransactWriteItems": 1,
    }
)


def test_a_shard_makes_six_requests_and_decrypts_the_key_once_per_container(aws, sandbox):
    setup, run_id, driver = _run_to_evaluate(aws, sandbox, n_rows=20)  # 4 shards x 3 models
    counted = _evaluate_requests(aws)
    per_shard: list[collections.Counter[str]] = []
    while messages := driver.receive("evaluate", 1):
        before = collections.Counter(counted.by_operation)
        assert driver.deliver("evaluate", messages) == []
        per_shard.append(counted.by_operation - before)
    assert len(per_shard) == 12
    assert per_shard[0] == SHARD_REQUESTS + collections.Counter({"kms.Decrypt": 1}), per_shard[0]
    middle = per_shard[1:-1]  # neither the container's first shard nor the run's last (aggregation)
    assert all(c == SHARD_REQUESTS and c.total() == 6 for c in middle), middle
    assert sum(c["kms.Decrypt"] for c in per_shard) == 1  # the first shard only
    assert setup.run(run_id)["status"] == "completed"


def test_without_the_lease_a_shard_makes_five_requests(aws, sandbox):
    aws.functions.extra_env["DRGERO_PROVIDERS__KEY_CONCURRENCY_LIMIT"] = "0"
    setup, run_id, driver = _run_to_evaluate(aws, sandbox, n_rows=10)  # 2 shards x 3 models
    counted = _evaluate_requests(aws)
    per_shard: list[collections.Counter[str]] = []
    while messages := driver.receive("evaluate", 1):
        before = collections.Counter(counted.by_operation)
        assert driver.deliver("evaluate", messages) == []
        per_shard.append(counted.by_operation - before)
    assert all(c == SHARD_REQUESTS - collections.Counter({"dynamodb.UpdateItem": 1}) for c in per_shard[1:-1])
    assert setup.run(run_id)["status"] == "completed"
