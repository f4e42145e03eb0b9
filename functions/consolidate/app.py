"""consolidate function: SQS consumer that merges a PUSH leaderboard's pending batches into a
new dataset version (drgero.datasets.consolidate; message schema in drgero.datasets.triggers).

Powertools BatchProcessor with partial batch response: a record whose consolidation fails is
reported, SQS redelivers it (and moves it to the DLQ after maxReceiveCount); the others are
done. Consolidation is idempotent, so a redelivered or duplicate message is harmless.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from drgero.core.aws import AwsClients
from drgero.core.settings import load_settings
from drgero.datasets.triggers import handle_message

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)

settings = load_settings()
clients = AwsClients(settings)


@tracer.capture_method
def record_handler(record: SQSRecord) -> dict:
    result = handle_message(settings, clients, record.body)
    logger.info("consolidation", extra=result.body())
    if result.status == "consolidated":
        metrics.add_metric(name="RowsConsolidated", unit=MetricUnit.Count, value=result.rows_in)
    return result.body()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
