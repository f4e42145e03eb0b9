"""A consolidation leaves one `dataset` trace, wherever it ran (the API inline, or the queue),
listable by kind; a redelivered consolidation message stores it once."""

import json

from tests.support.events import rest_event, sqs_event
from tests.support.handlers import api, push
from tests.support.identity import api_principal, new_workspace
from tests.support.leaderboards import create_push_leaderboard


def queued_traces(aws) -> list[str]:
    url = aws.settings.aws.traces_queue_url
    bodies = []
    while True:
        messages = aws.clients.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            aws.clients.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_consolidation_leaves_one_dataset_trace_listable_by_kind(aws):
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    lb = create_push_leaderboard(aws, ws)
    principal = api_principal(ws)
    status, body, _ = push(aws, lb, principal, [{"id": "a", "input": "2+2", "output": "4"}, {"input": "x"}])
    assert status == 202, body
    status, body = api(aws, "POST", f"/v1/leaderboard/{lb}/dataset/consolidate", principal)
    assert status == 200 and body["version"] == 1, body

    bodies = [b for b in queued_traces(aws) if json.loads(b)["kind"] == "dataset"]
    assert len(bodies) == 1
    trace = json.loads(bodies[0])
    assert trace["leaderboard_id"] == lb and trace["metadata"]["rows"] == 2

    # Delivered twice (at-least-once SQS): stored once.
    for _ in range(2):
        result = aws.functions.invoke("TraceWriterFunction", sqs_event(bodies[0], queue="drgero-local-traces-queue"))
        assert result["batchItemFailures"] == []
    event = rest_event("GET", "/api/traces", principal=principal)
    event["queryStringParameters"] = {"leaderboard_id": lb, "kind": "dataset"}
    event["multiValueQueryStringParameters"] = {"leaderboard_id": [lb], "kind": ["dataset"]}
    response = aws.functions.invoke("ApiFunction", event)
    listing = json.loads(response["body"])
    assert response["statusCode"] == 200, listing
    assert [t["id"] for t in listing["traces"]] == [trace["id"]]


def test_nothing_to_consolidate_leaves_no_trace(aws):
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    lb = create_push_leaderboard(aws, ws)
    status, body = api(aws, "POST", f"/v1/leaderboard/{lb}/dataset/consolidate", api_principal(ws))
    assert status == 200 and body["status"] == "nothing_pending", body
    assert [b for b in queued_traces(aws) if json.loads(b)["kind"] == "dataset"] == []
