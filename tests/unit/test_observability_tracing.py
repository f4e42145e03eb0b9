"""When the functions trace (drgero.core.observability.tracing_enabled): Powertools' own rule,
read without importing the X-Ray SDK."""

from __future__ import annotations

import pytest

from drgero.core.observability import _OffTracer, tracing_enabled


@pytest.mark.parametrize(
    "env, traced",
    [
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),  # AWS, the template's Tracing: Active
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),  # sam local invoke
        ({}, False),  # tests, the local cloud, benchmarks: no X-Ray daemon to send to
    ],
)
def test_tracing_follows_powertools_rule(env, traced):
    assert tracing_enabled(env) is traced


def test_the_off_tracer_leaves_functions_as_they_are():
    tracer = _OffTracer()

    def handler(event, context):
        return event

    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_method(handler) is handler
    assert tracer.capture_lambda_handler(capture_response=False)(handler) is handler
    assert tracer.capture_method(capture_response=False)(handler) is handler
