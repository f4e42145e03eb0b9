"""judge function: scores one shard's candidate outputs with the judge model
(drgero.runs.judging; message schema drgero.runs.messages.JudgeMessage; docs/runs.md).

Powertools BatchProcessor with partial batch response (drgero.core.batch). Idempotent:
judgements already written for the shard are reused and the shard is counted at most once.
"""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response

from drgero.core.aws import AwsClients
from drgero.core.batch import SqsRecord, sqs_processor
from drgero.core.observability import logger, metrics, tracer
from drgero.core.settings import load_settings
from drgero.runs.judging import process_judge
from drgero.runs.messages import JudgeMessage

processor = sqs_processor(JudgeMessage)

settings = load_settings()
clients = AwsClients(settings)


@tracer.capture_method
def record_handler(record: SqsRecord[JudgeMessage]) -> dict:
    result = process_judge(settings, clients, record.body)
    logger.info("shard judged", extra=result)
    metrics.add_metric(name="RowsJudged", unit=MetricUnit.Count, value=result.get("judged", 0))
    metrics.add_metric(name="JudgeErrors", unit=MetricUnit.Count, value=result.get("judge_errors", 0))
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
