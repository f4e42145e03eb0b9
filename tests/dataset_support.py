"""Helpers for the datasets tests: workspaces, principals, and requests through the real
handlers (ApiFunction for /api and dataset management routes, PushIngestFunction for pushes)."""

from __future__ import annotations

import json
from typing import Any

from drgero.core.ids import new_id
from drgero.identity.principal import ALL_SCOPES, Principal, PrincipalKind
from drgero.store.table import MetadataTable
from drgero.workspaces.membership import create_workspace


def table_of(aws) -> MetadataTable:
    return MetadataTable(aws.clients.dynamodb, aws.settings.aws.table_name)


def new_workspace(aws, plan: str = "pro") -> str:
    return create_workspace(table_of(aws), aws.settings, "", "test workspace", plan=plan)["id"]


def api_principal(workspace_id: str, scopes=ALL_SCOPES, token_id: str | None = None) -> Principal:
    return Principal(
        kind=PrincipalKind.API_TOKEN,
        workspace_id=workspace_id,
        scopes=frozenset(scopes),
        token_id=token_id or new_id("tok"),
    )


def dataset_principal(workspace_id: str, leaderboard_id: str, token_id: str | None = None) -> Principal:
    return Principal(
        kind=PrincipalKind.DATASET_TOKEN,
        workspace_id=workspace_id,
        token_id=token_id or new_id("dst"),
        leaderboard_id=leaderboard_id,
    )


def rest_event(
    method: str,
    path: str,
    body: Any = None,
    principal: Principal | None = None,
    headers: dict[str, str] | None = None,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict:
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource or path,
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": "req-test",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": principal.to_context() if principal else None,
        },
        "body": raw_body,
        "isBase64Encoded": False,
    }


def api(aws, method: str, path: str, principal: Principal | None, body: Any = None) -> tuple[int, Any]:
    response = aws.functions.invoke("ApiFunction", rest_event(method, path, body, principal))
    text = response.get("body") or ""
    return response["statusCode"], (json.loads(text) if text else None)


def push(
    aws,
    leaderboard_id: str,
    principal: Principal | None,
    body: Any = None,
    raw_body: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[int, Any, dict]:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    event = rest_event(
        "POST",
        f"/v1/leaderboard/{leaderboard_id}/dataset/push",
        body,
        principal,
        headers=headers,
        resource="/v1/leaderboard/{id}/dataset/push",
        path_parameters={"id": leaderboard_id},
        raw_body=raw_body,
    )
    response = aws.functions.invoke("PushIngestFunction", event)
    return response["statusCode"], json.loads(response["body"]), response.get("headers") or {}


PUSH_DATASET = {"mode": "PUSH", "max_samples": 1000, "daily_limit": 100_000, "monthly_limit": 1_000_000}


def create_push_leaderboard(aws, workspace_id: str, **dataset: Any) -> str:
    """A PUSH leaderboard, created through the domain (the API route has its own tests; going
    through it here would cold-start the api function in every push test)."""
    from drgero.leaderboards.leaderboard import create_leaderboard

    body = {
        "name": "support answers",
        "prompt": "Answer the customer.\n\n{input}",
        "dataset": {**PUSH_DATASET, **dataset},
        "evaluation": {"type": "exact"},
    }
    return create_leaderboard(table_of(aws), aws.settings, workspace_id, body)["id"]


def consolidated_rows(aws, leaderboard_id: str) -> list[dict]:
    """The rows of the current dataset version, read from S3 by the pointer's object version."""
    import gzip

    record = table_of(aws).get(f"LB#{leaderboard_id}", "DATASET") or {}
    if not record.get("s3_key"):
        return []
    body = aws.clients.s3.get_object(
        Bucket=aws.settings.aws.bucket_name, Key=record["s3_key"], VersionId=record["s3_version_id"]
    )["Body"].read()
    return [json.loads(line) for line in gzip.decompress(body).splitlines() if line]


class AtomicRequests:
    """A boto3 client whose requests each run atomically, as they do in AWS. moto's in-process
    backend is not thread-safe (a transaction deep-copies the table while another thread
    writes), so without this a concurrency test would exercise moto's races, not ours.
    Threads still interleave freely between requests, which is where our races would be."""

    _lock = __import__("threading").Lock()  # one lock for every wrapped client: one moto

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args, **kwargs):
            with AtomicRequests._lock:
                return method(*args, **kwargs)

        return call


def make_atomic(clients) -> None:
    """Wraps an AwsClients' DynamoDB and S3 clients (and so every table built on them)."""
    clients.__dict__["dynamodb"] = AtomicRequests(clients.dynamodb)
    clients.__dict__["s3"] = AtomicRequests(clients.s3)
