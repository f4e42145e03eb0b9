"""Event builders: every event a test sends a function starts from a sample in ``events/``
(the files ``sam local invoke -e`` and ``drgero invoke`` use), with the test's overrides on top.
So a field the samples gain reaches every test, and a test event never drifts from what AWS
sends.

- :func:`sample_event`: one file of ``events/``, as is or with top-level fields replaced.
- :func:`rest_event`: a REST API (payload 1.0) proxy event for ``method path``.
- :func:`authorizer_event`: a REQUEST-authorizer event for ``method path`` with ``headers``.
- :func:`sqs_event`: an SQS batch of ``bodies``; :func:`sqs_event_of` turns messages received
  from a queue (boto3 ``receive_message``) into the batch SQS would deliver.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from typing import Any

from drgero.identity.principal import Principal
from localcloud.template import REPO_ROOT

EVENTS_DIR = REPO_ROOT / "events"
REQUEST_ID = "req-test"


@functools.cache
def _load(name: str) -> Any:
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


def sample_event(name: str, **overrides: Any) -> Any:
    """A fresh copy of ``events/<name>`` (``.json`` may be left off), with top-level fields
    replaced by ``overrides``."""
    event = copy.deepcopy(_load(name if name.endswith(".json") else f"{name}.json"))
    event.update(overrides)
    return event


def rest_event(
    method: str,
    path: str,
    body: Any = None,
    principal: Principal | None = None,
    *,
    headers: dict[str, str] | None = None,
    authorizer: dict | None = None,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    raw_body: str | None = None,
    request_id: str = REQUEST_ID,
) -> dict:
    """``events/api-health.json`` turned into ``method path``. The headers are exactly
    ``headers`` (plus a JSON content type when there is a body); the authorizer context is
    ``principal``'s, or ``authorizer`` as given, or none (a public route)."""
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    headers = dict(headers or {})
    if raw_body is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    resource = resource or path
    event = sample_event(
        "api-health",
        resource=resource,
        path=path,
        httpMethod=method,
        headers=headers,
        multiValueHeaders={k: [v] for k, v in headers.items()},
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
        pathParameters=path_parameters,
        body=raw_body,
    )
    context = event["requestContext"]
    context.update(resourcePath=resource, httpMethod=method, path=f"/{context['stage']}{path}", requestId=request_id)
    if principal is not None:
        authorizer = principal.to_context()
    if authorizer is not None:
        context["authorizer"] = authorizer
    return event


def authorizer_event(headers: dict[str, str], method: str = "GET", path: str = "/api/tokens") -> dict:
    """``events/authorizer-request.json`` turned into a request for ``method path`` carrying
    ``headers`` (and only those)."""
    event = sample_event(
        "authorizer-request",
        resource=path,
        path=path,
        httpMethod=method,
        headers=headers,
        multiValueHeaders={k: [v] for k, v in headers.items()},
        queryStringParameters={},
        multiValueQueryStringParameters={},
        pathParameters={},
    )
    context = event["requestContext"]
    arn_prefix = event["methodArn"].split("/", 1)[0]
    event["methodArn"] = f"{arn_prefix}/{context['stage']}/{method}{path}"
    context.update(resourcePath=path, httpMethod=method, path=f"/{context['stage']}{path}")
    return event


def sqs_event(
    *bodies: str | dict,
    queue: str = "drgero-local-runs-queue",
    ids: list[str] | None = None,
    receipt_handles: list[str] | None = None,
) -> dict:
    """A batch of ``bodies`` (dicts are sent as JSON) from ``queue``, each record shaped like
    the one in ``events/run_fanout-sqs.json``. Message ids are ``m0, m1, …`` unless given."""
    (template,) = _load("run_fanout-sqs.json")["Records"]
    arn = template["eventSourceARN"].rsplit(":", 1)[0]
    records = []
    for i, body in enumerate(bodies):
        if not isinstance(body, str | dict):
            raise TypeError(f"an SQS body is a str or a dict, not {type(body).__name__}: pass bodies, not a list")
        text = body if isinstance(body, str) else json.dumps(body)
        record = copy.deepcopy(template)
        record.update(
            messageId=ids[i] if ids else f"m{i}",
            receiptHandle=receipt_handles[i] if receipt_handles else f"rh{i}",
            body=text,
            md5OfBody=hashlib.md5(text.encode()).hexdigest(),  # noqa: S324 - SQS's checksum
            eventSourceARN=f"{arn}:{queue}",
        )
        records.append(record)
    return {"Records": records}


def sqs_event_of(messages: list[dict[str, Any]], queue: str) -> dict:
    """The batch event SQS delivers for ``messages`` received from ``queue``, with the system
    attributes the receive returned (``ApproximateReceiveCount`` on a redelivery)."""
    event = sqs_event(
        *(m["Body"] for m in messages),
        queue=queue,
        ids=[m["MessageId"] for m in messages],
        receipt_handles=[m["ReceiptHandle"] for m in messages],
    )
    for record, message in zip(event["Records"], messages, strict=True):
        record["attributes"].update(message.get("Attributes", {}))
    return event
