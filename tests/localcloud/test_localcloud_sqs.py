"""SQS pollers: real batch events, partial batch failures, redelivery and the DLQ.

The consumers are test doubles (``local_cloud.override``) so each test decides what fails;
the queues, redrive policies and batch sizes are the template's. Waits are bounded polls for
an outcome (the pollers run on their own threads), never sleeps with a timed assertion.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest

from localcloud.sqs_poller import failed_ids

pytestmark = pytest.mark.slow


def wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Consumer:
    """Records every batch; ``decide(record) -> bool`` says whether a record succeeds."""

    def __init__(self, decide: Callable[[dict], bool] = lambda r: True, raise_error: bool = False) -> None:
        self.batches: list[list[dict]] = []
        self.decide = decide
        self.raise_error = raise_error
        self._lock = threading.Lock()

    def __call__(self, event, _ctx):
        with self._lock:
            self.batches.append(event["Records"])
        if self.raise_error:
            raise RuntimeError("consumer crashed")
        failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if not self.decide(r)]
        return {"batchItemFailures": failures}

    def bodies(self) -> list[str]:
        with self._lock:
            return [r["body"] for batch in self.batches for r in batch]


def dlq_bodies(cloud, dlq: str) -> list[str]:
    messages = cloud.client("sqs").receive_message(
        QueueUrl=cloud.queue_url(dlq), MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [m["Body"] for m in messages.get("Messages", [])]


def test_a_message_reaches_its_consumer_as_a_batch_event(local_cloud):
    consumer = Consumer()
    sqs = local_cloud.client("sqs")
    with local_cloud.override("consolidate", consumer):
        sqs.send_message(
            QueueUrl=local_cloud.queue_url("ConsolidateQueue"),
            MessageBody=json.dumps({"leaderboard_id": "lb_1"}),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "push"}},
        )
        wait_for(lambda: consumer.batches, what="the consolidate consumer")
    [record] = consumer.batches[0]  # the template's BatchSize is 1
    assert json.loads(record["body"]) == {"leaderboard_id": "lb_1"}
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == local_cloud.created.attrs["ConsolidateQueue"]["Arn"]
    assert record["awsRegion"] == "us-east-1"
    assert record["messageId"] and record["receiptHandle"]
    assert record["md5OfBody"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert "SentTimestamp" in record["attributes"]
    assert record["messageAttributes"]["kind"]["stringValue"] == "push"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    # Succeeded: deleted (not merely in flight), so the queue empties once the consumer is done.

    def queue_empty() -> bool:
        attrs = sqs.get_queue_attributes(QueueUrl=local_cloud.queue_url("ConsolidateQueue"), AttributeNames=["All"])
        counts = attrs["Attributes"]
        return counts["ApproximateNumberOfMessages"] == counts["ApproximateNumberOfMessagesNotVisible"] == "0"

    wait_for(queue_empty, what="the consumed message to be deleted")
    assert len(consumer.batches) == 1


def test_failed_records_come_back_and_land_in_the_dlq_after_max_receives(local_cloud):
    # The traces consumer takes batches (BatchSize 100): only the poisoned record fails.
    consumer = Consumer(decide=lambda r: r["body"] != "poison")
    sqs = local_cloud.client("sqs")
    url = local_cloud.queue_url("TracesQueue")
    with local_cloud.override("trace_writer", consumer):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(["ok-1", "poison", "ok-2"])]
        )
        bodies = wait_for(lambda: dlq_bodies(local_cloud, "TracesDLQ"), what="the poisoned record in TracesDLQ")
    assert bodies == ["poison"]
    seen = consumer.bodies()
    assert seen.count("ok-1") == 1 and seen.count("ok-2") == 1  # deleted after their first success
    assert seen.count("poison") == 5  # the template's maxReceiveCount
    counts = [r["attributes"]["ApproximateReceiveCount"] for b in consumer.batches for r in b if r["body"] == "poison"]
    assert counts == ["1", "2", "3", "4", "5"]


def test_a_raising_consumer_fails_the_whole_batch(local_cloud):
    consumer = Consumer(raise_error=True)
    with local_cloud.override("judge", consumer):
        local_cloud.client("sqs").send_message(QueueUrl=local_cloud.queue_url("JudgeQueue"), MessageBody="work")
        wait_for(lambda: dlq_bodies(local_cloud, "JudgeDLQ"), what="the record in JudgeDLQ")
    assert consumer.bodies() == ["work"] * 5


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"a", "b"}),  # unknown id: whole batch
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}),
        ({"batchItemFailures": [{}]}, {"a", "b"}),
        ({"batchItemFailures": "b"}, {"a", "b"}),
    ],
)
def test_batch_item_failures_follow_lambda_rules(response, expected):
    assert failed_ids(response, ["a", "b"]) == expected
