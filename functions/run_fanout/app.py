"""run_fanout function: snapshots a run and enqueues its (model x shard) work items
(drgero.runs.fanout; message schema drgero.runs.messages.RunMessage; docs/runs.md).

Messages come from the API (with run_id) and from leaderboards' EventBridge schedules
(without: a ``schedule`` run is started here). Powertools BatchProcessor with partial batch
response (drgero.core.batch): a failing record, or one whose body is not a RunMessage, is
redelivered alone; the fan-out is idempotent, so that is harmless.
"""

from aws_lambda_powertools.utilities.batch import process_partial_response

from drgero.core.aws import AwsClients
from drgero.core.batch import SqsRecord, sqs_processor
from drgero.core.observability import count_outcome, logger, metrics, tracer
from drgero.core.settings import load_settings
from drgero.runs.fanout import handle_run_message
from drgero.runs.messages import RunMessage

processor = sqs_processor(RunMessage)

settings = load_settings()
clients = AwsClients(settings)


@tracer.capture_method
def record_handler(record: SqsRecord[RunMessage]) -> dict:
    result = handle_run_message(settings, clients, record.body)
    logger.info("run message", extra=result)
    count_outcome("RunMessages", str(result["status"]))
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
