"""The embedded AWS of the ``aws`` fixture: the metadata table, reading a queue the way a
consumer would, and clients whose requests are atomic (as in AWS) for concurrency tests."""

from __future__ import annotations

import json
from typing import Any

from drgero.store.table import MetadataTable


def table_of(aws: Any) -> MetadataTable:
    return MetadataTable(aws.clients.dynamodb, aws.settings.aws.table_name)


def drain_queue(aws: Any, queue_url: str) -> list[str]:
    """Receives and deletes every message waiting on ``queue_url``; returns their bodies."""
    sqs = aws.clients.sqs
    bodies: list[str] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return bodies
        for message in batch:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def queued_traces(aws: Any) -> list[dict[str, Any]]:
    """The traces waiting on the traces queue (what the functions emitted), taken off it."""
    return [json.loads(body) for body in drain_queue(aws, aws.settings.aws.traces_queue_url)]
