"""SQS event source mappings: one poller per template ``SQS`` function event.

Each poller long-polls its queue, hands the consumer a real SQS batch event (the template's
BatchSize; Lambda's record shape), and then does what Lambda does with the answer:

- a ``batchItemFailures`` list: deletes every other record; the failed ones stay;
- no failures (``None``, ``{}``, an empty list): deletes the whole batch;
- an exception, or a malformed failure list (an identifier missing, empty or not in the batch):
  the whole batch failed and stays.

A record that stays is received again later, and moto moves it to the queue's DLQ once it has
been received ``maxReceiveCount`` times (moto's redrive, checked by tests). Deviation from
AWS: the template's visibility timeouts are 6 x the consumer's timeout (up to 90 minutes), so
locally a failed record is made visible again after ``redelivery_delay`` seconds with
ChangeMessageVisibility instead of waiting out the timeout.

Other local simplifications: one batch at a time per queue (no concurrent pollers), and
``MaximumBatchingWindowInSeconds`` is not waited for (a batch is what is available now, up to
BatchSize).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("localcloud.sqs")

SQS_RECEIVE_MAX = 10


@dataclass(frozen=True)
class SqsSource:
    """One event source mapping read from the template."""

    function: str  # logical id of the consumer
    event_name: str
    queue_url: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool


def _record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A Lambda SQS record from a ReceiveMessage message."""
    attributes = dict(message.get("Attributes", {}))
    message_attributes = {}
    for name, value in message.get("MessageAttributes", {}).items():
        entry: dict[str, Any] = {
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            import base64

            entry["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        message_attributes[name] = entry
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_ids(response: Any, batch_ids: list[str]) -> set[str]:
    """The message ids Lambda would leave on the queue, given the handler's return value."""
    if not isinstance(response, dict) or response.get("batchItemFailures") in (None, []):
        return set()
    failures = response["batchItemFailures"]
    if not isinstance(failures, list):
        return set(batch_ids)
    ids: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in batch_ids:
            # Lambda treats a malformed failure list as a failure of the whole batch.
            return set(batch_ids)
        ids.add(ident)
    return ids


class SqsPoller:
    """Feeds one queue to one consumer until stopped."""

    def __init__(
        self,
        source: SqsSource,
        sqs_client: Any,
        invoke: Callable[[str, dict], Any],
        region: str,
        redelivery_delay: int,
        wait_seconds: int = 1,
    ) -> None:
        self.source = source
        self._sqs = sqs_client
        self._invoke = invoke
        self._region = region
        self.redelivery_delay = redelivery_delay
        self._wait_seconds = wait_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.batches_handled = 0

    def start(self) -> None:
        name = f"sqs-poller-{self.source.function}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - keep polling; the failure (e.g. AWS gone at shutdown) is logged
                if self._stop.is_set():
                    return
                logger.exception("poller for %s failed; retrying", self.source.function)
                self._stop.wait(1)

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self.source.queue_url,
            MaxNumberOfMessages=min(count, SQS_RECEIVE_MAX),
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response.get("Messages", [])

    def poll_once(self) -> int:
        """Receives one batch (waiting up to the poll wait) and handles it; returns its size."""
        messages = self._receive(self.source.batch_size, self._wait_seconds)
        # Fill a large batch (BatchSize > 10) from what is available right now.
        while messages and len(messages) < self.source.batch_size:
            more = self._receive(self.source.batch_size - len(messages), 0)
            if not more:
                break
            messages.extend(more)
        if not messages:
            return 0
        records = [_record(m, self.source.queue_arn, self._region) for m in messages]
        ids = [r["messageId"] for r in records]
        try:
            response = self._invoke(self.source.function, {"Records": records})
            failed = failed_ids(response, ids) if self.source.report_batch_item_failures else set()
        except Exception:  # noqa: BLE001 - Lambda semantics: a raising handler fails the whole batch
            logger.exception("%s failed a batch of %d; it returns to the queue", self.source.function, len(ids))
            failed = set(ids)
        self._settle(messages, failed)
        self.batches_handled += 1
        return len(messages)

    def _settle(self, messages: list[dict[str, Any]], failed: set[str]) -> None:
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), SQS_RECEIVE_MAX):
            chunk = done[start : start + SQS_RECEIVE_MAX]
            self._sqs.delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        for message in messages:
            if message["MessageId"] in failed:
                self._sqs.change_message_visibility(
                    QueueUrl=self.source.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self.redelivery_delay,
                )
