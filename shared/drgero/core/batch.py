"""The SQS consumers' batch processing, one configuration for the six of them (consolidate,
run_fanout, evaluate, judge, export, trace_writer).

Typed records: ``sqs_processor(Message)`` is a Powertools BatchProcessor (its ``model``
support) whose record handler receives an ``SqsRecord[Message]``: the SQS record with its body
parsed and validated as ``Message`` (the message schemas live with their capability, e.g.
drgero.runs.messages). A record whose body does not validate fails alone, like a record whose
handler raises. ``SqsRecord`` is ours, not Powertools' ``SqsRecordModel``: importing that one
loads every model of Powertools' parser (about 50 ms of each consumer's cold start), and the
consumers read nothing of a record but its id and body.

Failure, the one decision (``raise_on_entire_batch_failure=False``, every consumer): a failed
record is reported in ``batchItemFailures`` (partial batch response), logged as a warning with
its traceback, and never raised, even when every record of the batch failed. SQS retries a
reported record exactly as it retries a raised batch, and moves it to the queue's DLQ after
maxReceiveCount (the DLQ depth alarms in template.yaml then fire). Raising would add nothing
to that and would make a poison message a function error on each of its attempts: the Lambda
SQS poller backs off on function errors, slowing the good messages behind it, and the
functions' error alarms would page for what the DLQ alarm already reports. Those alarms keep
their meaning: the function itself failed (a timeout, a crash outside the record handler).
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from pydantic import BaseModel, ConfigDict, Json

from drgero.core.observability import logger

RAISE_ON_ENTIRE_BATCH_FAILURE = False  # the decision above, for every consumer


class SqsRecord[MessageT: BaseModel](BaseModel):
    """An SQS record as Lambda delivers it (its other keys ignored), the JSON body validated as
    ``MessageT``."""

    model_config = ConfigDict(extra="ignore")

    messageId: str  # Lambda's name, which BatchProcessor reads to report a failed record
    body: Json[MessageT]
    # SQS's system attributes (``ApproximateReceiveCount``: 1 on a first delivery, so a
    # consumer can skip looking for what an earlier attempt left behind).
    attributes: dict[str, str] = {}

    @property
    def first_delivery(self) -> bool:
        """True only when SQS says this is the message's first receive (unknown: False)."""
        return self.attributes.get("ApproximateReceiveCount") == "1"


def sqs_processor(message: type[BaseModel]) -> BatchProcessor:
    """The BatchProcessor of a consumer whose messages are ``message``."""
    return BatchProcessor(
        event_type=EventType.SQS,
        model=SqsRecord[message],  # type: ignore[valid-type]  # a pydantic generic, parametrized at runtime
        raise_on_entire_batch_failure=RAISE_ON_ENTIRE_BATCH_FAILURE,
        logger=logger,
    )
