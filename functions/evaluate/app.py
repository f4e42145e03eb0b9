"""evaluate function: calls one model on one shard of rows and scores what it can at once
(drgero.runs.evaluate; message schema drgero.runs.messages.EvaluateMessage; docs/runs.md).

Powertools BatchProcessor with partial batch response (drgero.core.batch). Idempotent: a
redelivered work item reuses the outputs already written and counts its shard at most once.
"""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response

from drgero.core.aws import AwsClients
from drgero.core.batch import SqsRecord, sqs_processor
from drgero.core.observability import logger, metrics, tracer
from drgero.core.settings import load_settings
from drgero.runs.evaluate import process_shard
from drgero.runs.messages import EvaluateMessage

processor = sqs_processor(EvaluateMessage)

settings = load_settings()
clients = AwsClients(settings)


@tracer.capture_method
def record_handler(record: SqsRecord[EvaluateMessage]) -> dict:
    result = process_shard(settings, clients, record.body, first_delivery=record.first_delivery)
    logger.info("shard evaluated", extra=result)
    metrics.add_metric(name="RowsEvaluated", unit=MetricUnit.Count, value=result.get("rows", 0))
    metrics.add_metric(name="CallErrors", unit=MetricUnit.Count, value=result.get("call_errors", 0))
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
