"""Domain logs go through the functions' Powertools logger (drgero.core.observability).

The domain logs with the standard library (``logging.getLogger(__name__)``); when a handler
runs, those lines must come out like the handler's own: one JSON object each, with the
record's ``extra`` fields, the Lambda context and the correlation id, and INFO lines kept.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from drgero.core import observability
from tests.support.events import authorizer_event

EVENTS = Path(__file__).resolve().parents[2] / "events"


@contextmanager
def function_log(aws, logical_id: str) -> Iterator[io.StringIO]:
    """What the function's Powertools log handler writes while the block runs (the one handler
    its logger and the drgero domain loggers share)."""
    module = aws.functions.module(logical_id)  # imported first: its import wires the loggers
    handler = module.logger.registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


def json_lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_handlers_share_the_one_observability_logger(aws):
    for logical_id in ("AuthorizerFunction", "RunFanoutFunction", "SweeperFunction"):
        assert aws.functions.module(logical_id).logger is observability.logger


def test_a_domain_info_line_is_json_with_its_extra_fields_and_the_correlation_id(aws):
    event = authorizer_event({"Authorization": "Basic dXNlcjpwYXNz"})
    with function_log(aws, "AuthorizerFunction") as out:
        answer = aws.functions.invoke("AuthorizerFunction", event)
    assert answer["context"]["error_code"] == "invalid_token"
    [line] = [line for line in json_lines(out) if line["message"] == "credential refused"]
    assert line["name"] == "drgero.identity.authorizer"  # a standard-library domain logger
    assert line["level"] == "INFO"  # kept: the Lambda runtime's root logger would drop it
    assert line["error_code"] == "invalid_token"  # the record's extra field
    assert line["correlation_id"] == event["requestContext"]["requestId"]
    assert line["function_name"] == "AuthorizerFunction" and line["function_request_id"]


def test_a_domain_warning_in_a_queue_consumer_is_json_with_its_extra_fields(aws):
    event = json.loads((EVENTS / "run_fanout-sqs.json").read_text())
    run_id = json.loads(event["Records"][0]["body"])["run_id"]
    with function_log(aws, "RunFanoutFunction") as out:
        result = aws.functions.invoke("RunFanoutFunction", event)
    assert result == {"batchItemFailures": []}
    [line] = [line for line in json_lines(out) if line["message"] == "run message for an unknown run"]
    assert line["name"] == "drgero.runs" and line["level"] == "WARNING"
    assert line["run_id"] == run_id
    assert line["function_name"] == "RunFanoutFunction"


def test_domain_loggers_do_not_also_reach_the_root_logger_in_lambda(aws):
    # In Lambda the root logger has the runtime's plain-text handler: a domain line that
    # propagated there would be printed twice, once without its fields.
    aws.functions.module("AuthorizerFunction")
    domain = logging.getLogger(observability.DOMAIN_LOGGER)
    assert domain.propagate is False
    assert observability.logger.registered_handler in domain.handlers
    assert domain.level == observability.logger.log_level
