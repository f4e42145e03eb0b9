"""trace_writer function: stores the traces producers queued (S3 object + metadata index).

SQS delivers up to 100 messages; each body is one trace's JSON (drgero.traces.Trace). Each
record is parsed and written on its own (Powertools BatchProcessor, partial batch response,
drgero.core.batch): a malformed or failing record is reported alone and retried by SQS, then
lands in the DLQ after maxReceiveCount; the others are deleted. A batch whose every record
fails is reported too, not raised, so one poison message is not a function error. Writes are
idempotent, so a redelivered trace is stored once.
"""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response

from drgero.core.aws import AwsClients
from drgero.core.batch import SqsRecord, sqs_processor
from drgero.core.observability import logger, metrics, tracer
from drgero.core.settings import load_settings
from drgero.traces import Trace, TraceStore

settings = load_settings()
store = TraceStore.from_clients(settings, AwsClients(settings))
processor = sqs_processor(Trace)


@tracer.capture_method
def record_handler(record: SqsRecord[Trace]) -> None:
    trace = record.body
    stored = store.write(trace)
    metrics.add_metric(name="TracesStored" if stored else "TracesDuplicate", unit=MetricUnit.Count, value=1)
    logger.debug("trace handled", extra={"trace_id": trace.id, "kind": trace.kind.value, "stored": stored})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
