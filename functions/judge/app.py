"""judge function: SQS consumer (filled in by its issue). Until then every record is reported
as failed, so SQS keeps it and, after maxReceiveCount, moves it to the DLQ: nothing is lost."""

from aws_lambda_powertools import Logger

logger = Logger()


def handler(event, context):
    records = event.get("Records", [])
    logger.warning("not implemented yet; returning records to the queue", extra={"count": len(records)})
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
