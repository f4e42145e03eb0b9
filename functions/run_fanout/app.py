"""run_fanout function: snapshots a run and enqueues its (model x shard) work items
(drgero.runs.fanout; message schema drgero.runs.messages.RunMessage; docs/runs.md).

Messages come from the API (with run_id) and from leaderboards' EventBridge schedules
(without: a ``schedule`` run is started here). Powertools BatchProcessor with partial batch
response: a failing record is redelivered; the fan-out is idempotent, so that is harmless.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from drgero.core.aws import AwsClients
from drgero.core.settings import load_settings
from drgero.runs.fanout import handle_run_message
from drgero.runs.messages import RunMessage

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

settings = load_settings()
clients = AwsClients(settings)


@tracer.capture_method
def record_handler(record: SQSRecord) -> dict:
    # A malformed body raises ValidationError: this record fails alone (and ends in the DLQ).
    result = handle_run_message(settings, clients, RunMessage.model_validate_json(record.body))
    logger.info("run message", extra=result)
    metrics.add_metric(name=f"RunFanout_{result['status']}", unit=MetricUnit.Count, value=1)
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
