"""trace_writer function: stores the traces producers queued (S3 object + metadata index).

SQS delivers up to 100 messages; each body is one trace's JSON (drgero.traces.Trace). Each
record is parsed and written on its own (Powertools BatchProcessor, partial batch response):
a malformed or failing record is reported alone and retried by SQS, then lands in the DLQ
after maxReceiveCount; the others are deleted. Writes are idempotent, so a redelivered
trace is stored once.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from drgero.core.aws import AwsClients
from drgero.core.settings import load_settings
from drgero.traces import Trace, TraceStore

logger = Logger()
tracer = Tracer()
metrics = Metrics()

settings = load_settings()
store = TraceStore.from_clients(settings, AwsClients(settings))
# When every record of a batch fails, report them all as failed (SQS retries exactly the same
# way) instead of raising, so one poison message does not count as a function error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    # A pydantic ValidationError here fails this record only (BatchProcessor catches it).
    trace = Trace.model_validate_json(record.body)
    stored = store.write(trace)
    metrics.add_metric(name="TracesStored" if stored else "TracesDuplicate", unit=MetricUnit.Count, value=1)
    logger.debug("trace handled", extra={"trace_id": trace.id, "kind": trace.kind.value, "stored": stored})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
