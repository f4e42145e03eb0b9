"""consolidate function: SQS consumer that merges a PUSH leaderboard's pending batches into a
new dataset version (drgero.datasets.consolidate; message schema in drgero.datasets.triggers).

Powertools BatchProcessor with partial batch response (drgero.core.batch: typed records, and
why a failed record is reported, never raised): SQS redelivers a failed record and moves it to
the DLQ after maxReceiveCount; the others are done. Consolidation is idempotent, so a
redelivered or duplicate message is harmless.
"""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response

from drgero.core.aws import AwsClients
from drgero.core.batch import SqsRecord, sqs_processor
from drgero.core.observability import logger, metrics, tracer
from drgero.core.settings import load_settings
from drgero.datasets.triggers import ConsolidateMessage, handle_message

processor = sqs_processor(ConsolidateMessage)

settings = load_settings()
clients = AwsClients(settings)


@tracer.capture_method
def record_handler(record: SqsRecord[ConsolidateMessage]) -> dict:
    result = handle_message(settings, clients, record.body)
    logger.info("consolidation", extra=result.body())
    if result.status == "consolidated":
        metrics.add_metric(name="RowsConsolidated", unit=MetricUnit.Count, value=result.rows_in)
    if result.quarantined:  # alarm-worthy: rows that were accepted will never reach a dataset
        metrics.add_metric(name="BatchesQuarantined", unit=MetricUnit.Count, value=len(result.quarantined))
    return result.body()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
