"""sweeper function: recurring housekeeping jobs fired by EventBridge Scheduler."""

from aws_lambda_powertools import Logger

logger = Logger()


def handler(event, context):
    job = (event or {}).get("job")
    logger.info("sweeper job not implemented yet", extra={"job": job})
    return {"job": job, "done": False}
