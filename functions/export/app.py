"""export function: writes a run's per-row results export to S3 off the request path
(drgero.runs.export_jobs; message schema drgero.runs.messages.ExportMessage; docs/runs.md).

Powertools BatchProcessor with partial batch response (drgero.core.batch): a failed attempt
is redelivered; the job's lease and attempt count make a duplicate or a redelivered message
harmless, and the last attempt ends the job ``failed`` rather than dead-lettering it.
"""

from aws_lambda_powertools.utilities.batch import process_partial_response

from drgero.core.aws import AwsClients
from drgero.core.batch import SqsRecord, sqs_processor
from drgero.core.observability import count_outcome, logger, metrics, tracer
from drgero.core.settings import load_settings
from drgero.runs.export_jobs import handle_export_message
from drgero.runs.messages import ExportMessage

processor = sqs_processor(ExportMessage)

settings = load_settings()
clients = AwsClients(settings)


@tracer.capture_method
def record_handler(record: SqsRecord[ExportMessage]) -> dict:
    result = handle_export_message(settings, clients, record.body)
    logger.info("export message", extra=result)
    count_outcome("ExportMessages", str(result["status"]))
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
