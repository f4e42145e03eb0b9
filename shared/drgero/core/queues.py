"""Sending work to the product's SQS queues: one message, or batches of ten.

Every producer (push -> consolidate, API/schedule -> runs, fan-out -> evaluate,
evaluate -> judge, the trace sink -> traces) sends through here, so a message body is always
JSON and a batch always resends only the entries SQS rejected. The queue URL comes from
``settings.aws.<name>_queue_url``; the caller names it, the domain never looks one up.

Consumers are idempotent (docs/architecture.md): a duplicate is harmless, a lost message is
not, which is why :func:`send_batch` resends rejected entries instead of dropping them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

logger = logging.getLogger(__name__)

MAX_BATCH_ENTRIES = 10  # SendMessageBatch's limit


def body_of(message: Mapping[str, Any] | BaseModel | str) -> str:
    """The JSON message body: a dict is dumped, a model serialised, a string sent as is
    (already JSON, e.g. a trace fitted to the message size)."""
    if isinstance(message, BaseModel):
        return message.model_dump_json()
    if isinstance(message, str):
        return message
    return json.dumps(message)


def send(sqs: Any, queue_url: str, message: Mapping[str, Any] | BaseModel | str) -> None:
    """One message; a client error is the caller's to handle (it decides what "not queued" means)."""
    sqs.send_message(QueueUrl=queue_url, MessageBody=body_of(message))


def send_batch(
    sqs: Any, queue_url: str, bodies: Sequence[str], *, attempts: int, retry_request_errors: bool = False
) -> list[int]:
    """One SendMessageBatch of at most ten bodies; the entries SQS rejects are sent again, up
    to ``attempts`` requests in all. Returns the indexes (into ``bodies``) still not queued.

    A failed request (not just rejected entries) raises, unless ``retry_request_errors``:
    then it is logged and counts as one of the attempts."""
    if len(bodies) > MAX_BATCH_ENTRIES:
        raise ValueError(f"a batch holds at most {MAX_BATCH_ENTRIES} messages, not {len(bodies)}")
    pending = list(range(len(bodies)))
    for _attempt in range(attempts):
        entries = [{"Id": str(index), "MessageBody": bodies[index]} for index in pending]
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except Exception as error:  # noqa: BLE001 - only when the caller asked: logged, then retried
            if not retry_request_errors:
                raise
            logger.warning("batch not queued: %s", error)
            continue
        pending = [int(failed["Id"]) for failed in response.get("Failed", [])]
        if not pending:
            return []
    return pending
