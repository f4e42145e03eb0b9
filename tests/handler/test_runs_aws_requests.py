"""AWS requests per run shard, counted on the evaluate function's own clients (issue 18: each
request is a few ms in AWS and most are serial with the shard's work).

A fresh container's first shard pays for the decrypted provider key (one KMS Decrypt); later
shards of the same container reuse it (``drgero.core.secrets``' bounded cache), and the
cancel watch starts from the run record the shard just read instead of reading it again, and
a first delivery makes no reuse probe (no earlier attempt can have written outputs). Today a
shard makes 9 requests: GetItem of the shard, the run, the candidate, the integration and the
run again (completion check); the rows (S3 GetObject), the outputs (PutObject), the trace
(SendMessage) and the count (TransactWriteItems).
Issue 18's goal is 6; this test pins what is achieved so a regression shows."""

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


def test_a_shard_makes_at_most_nine_requests_and_decrypts_the_key_once_per_container(aws, sandbox):
    setup, run_id, driver = _run_to_evaluate(aws, sandbox, n_rows=20)  # 4 shards x 3 models
    counted = _evaluate_requests(aws)
    per_shard: list[collections.Counter[str]] = []
    while messages := driver.receive("evaluate", 1):
        before = collections.Counter(counted.by_operation)
        assert driver.deliver("evaluate", messages) == []
        per_shard.append(counted.by_operation - before)
    assert len(per_shard) == 12
    middle = per_shard[1:-1]  # neither the container's first shard nor the run's last (aggregation)
    assert all(sum(c.values()) <= 9 for c in middle), middle
    assert all(c["s3.GetObject"] == 1 for c in per_shard[:-1]), per_shard  # the rows; no reuse probe
    assert sum(c["kms.Decrypt"] for c in per_shard) == 1  # the first shard only
    assert all(c["dynamodb.GetItem"] <= 5 and c["kms.Decrypt"] == 0 for c in middle), middle
    assert setup.run(run_id)["status"] == "completed"
