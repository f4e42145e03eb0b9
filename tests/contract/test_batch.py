"""The SQS consumers share one batch configuration (drgero.core.batch): typed records, and a
failed record reported, never raised. run_fanout counts its outcomes under one metric name."""

from __future__ import annotations

import json
from pathlib import Path

from drgero.core.batch import RAISE_ON_ENTIRE_BATCH_FAILURE, SqsRecord
from localcloud.template import Template

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _sqs_consumers() -> list[str]:
    template = Template.load()
    return sorted(
        logical
        for logical, res in template.functions.items()
        if any(e.get("Type") == "SQS" for e in res.get("Properties", {}).get("Events", {}).values())
    )


def test_every_consumer_uses_the_one_batch_configuration(aws):
    consumers = _sqs_consumers()
    assert len(consumers) == 6, consumers
    for logical_id in consumers:
        processor = aws.functions.module(logical_id).processor
        assert processor.raise_on_entire_batch_failure is RAISE_ON_ENTIRE_BATCH_FAILURE is False, logical_id
        assert issubclass(processor.model, SqsRecord), logical_id


def test_a_batch_whose_every_record_fails_is_reported_not_raised(aws):
    event = json.loads((EVENTS / "consolidate-sqs.json").read_text())
    for record in event["Records"]:
        record["body"] = json.dumps({"not": "a consolidate message"})
    result = aws.functions.invoke("ConsolidateFunction", event)
    assert result == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}


def test_run_fanout_counts_outcomes_under_one_metric_name_with_a_status_dimension(aws, capsys):
    event = json.loads((EVENTS / "run_fanout-sqs.json").read_text())
    aws.functions.module("RunFanoutFunction")
    capsys.readouterr()
    assert aws.functions.invoke("RunFanoutFunction", event) == {"batchItemFailures": []}
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    [blob] = [b for b in blobs if "RunMessages" in b]
    assert blob["RunMessages"] == [1.0]
    assert blob["status"] == "unknown_run"
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    assert "status" in directive["Dimensions"][0]
    assert not [b for b in blobs for key in b if key.startswith("RunFanout_")]
