"""events/ holds one sample event per trigger (`<function folder>-<what>.json`, usable by
`sam local invoke -e` and `drgero invoke`). These tests keep every file the exact shape AWS
sends for its trigger, keep every trigger of template.yaml covered, and invoke each event
through its real handler on the embedded AWS: a 4xx/5xx answer or reported batch item
failures are fine, an unhandled exception is not.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from localcloud.template import REPO_ROOT, Template

EVENTS_DIR = REPO_ROOT / "events"
EVENT_FILES = sorted(EVENTS_DIR.glob("*.json"))
TEMPLATE = Template.load()

# Routes API Gateway serves without the authorizer (their events carry no authorizer context).
PUBLIC_ROUTES = {("/v1/health", "GET"), ("/openapi.json", "GET")}

REST_PROXY_KEYS = {
    "resource",
    "path",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext",
    "body",
    "isBase64Encoded",
}
REQUEST_AUTHORIZER_KEYS = {
    "type",
    "methodArn",
    "resource",
    "path",
    "httpMethod",
    "headers",
    "queryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext",
}
SQS_RECORD_KEYS = {
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
}


# ---------------------------------------------------------------- template lookups


def _folder(logical_id: str) -> str:
    return Path(TEMPLATE.functions[logical_id]["Properties"]["CodeUri"]).name


def _logical_id(folder: str) -> str:
    for logical in TEMPLATE.functions:
        if _folder(logical) == folder:
            return logical
    raise AssertionError(f"no function with CodeUri functions/{folder}/ in template.yaml")


def _split_name(path: Path) -> tuple[str, str]:
    """`inference-chat-completions.json` -> ("inference", "chat-completions")."""
    folder, sep, what = path.stem.partition("-")
    assert sep and what, f"{path.name}: name events <function folder>-<what>.json"
    return folder, what


def _events_of(logical_id: str, kind: str) -> dict[str, dict[str, Any]]:
    events = TEMPLATE.functions[logical_id]["Properties"].get("Events", {})
    return {name: ev.get("Properties", {}) for name, ev in events.items() if ev["Type"] == kind}


def _authorizer_function_ids() -> set[str]:
    ids = set()
    for api in TEMPLATE.of_type("AWS::Serverless::Api").values():
        for authorizer in api["Properties"].get("Auth", {}).get("Authorizers", {}).values():
            ids.add(authorizer["FunctionArn"]["Fn::GetAtt"][0])
    return ids


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _local_queue_name(logical_id: str) -> str:
    """The name the local cloud gives the queue (localcloud.resources naming)."""
    from localcloud.resources import _local_name

    return TEMPLATE.resources[logical_id].get("Properties", {}).get("QueueName") or _local_name(logical_id)


def _route_regex(resource: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{[^}]+\\\+\\\}", r".+", re.escape(resource))  # {proxy+}
    pattern = re.sub(r"\\\{[^}]+\\\}", r"[^/]+", pattern)  # {id}
    return re.compile(f"^{pattern}$")


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _trigger_kind(logical_id: str) -> str:
    if logical_id in _authorizer_function_ids():
        return "authorizer"
    kinds = {ev["Type"] for ev in TEMPLATE.functions[logical_id]["Properties"].get("Events", {}).values()}
    assert len(kinds) == 1, f"{logical_id} mixes trigger kinds {kinds}; teach tests/contract/test_events.py"
    return kinds.pop()


# ---------------------------------------------------------------- shape checks per trigger


def _check_rest_proxy(logical_id: str, event: dict[str, Any]) -> None:
    assert REST_PROXY_KEYS <= set(event), f"missing {sorted(REST_PROXY_KEYS - set(event))}"
    method, resource = event["httpMethod"], event["resource"]
    routes = {(p["Path"], p["Method"].upper()) for p in _events_of(logical_id, "Api").values()}
    assert (resource, method) in routes or (resource, "ANY") in routes, f"{method} {resource} is not a route of it"
    assert _route_regex(resource).match(event["path"]), f"path {event['path']} does not match {resource}"
    for name in re.findall(r"\{([^}+]+)\+?\}", resource):
        assert (event["pathParameters"] or {}).get(name), f"pathParameters lacks {name}"
    ctx = event["requestContext"]
    assert ctx["resourcePath"] == resource and ctx["httpMethod"] == method
    assert ctx["requestId"] and ctx["stage"] and ctx["identity"]["sourceIp"]
    assert ctx["path"].endswith(event["path"])
    assert isinstance(event["isBase64Encoded"], bool)
    assert isinstance(event["headers"], dict) and isinstance(event["multiValueHeaders"], dict)
    for key, value in event["headers"].items():
        assert event["multiValueHeaders"].get(key) == [value], f"multiValueHeaders disagrees on {key}"
    if (resource, method) in PUBLIC_ROUTES:
        assert "authorizer" not in ctx, "a public route gets no authorizer context"
    else:
        # API Gateway passes the authorizer's context as flat strings/numbers/booleans.
        authorizer = ctx.get("authorizer") or {}
        assert authorizer, "a route behind the authorizer gets its context in requestContext.authorizer"
        assert authorizer["principalId"] and authorizer["kind"] and authorizer["workspace_id"]
        assert all(isinstance(v, str | int | float | bool) for v in authorizer.values())
    if event["body"] is not None:
        assert isinstance(event["body"], str)
        json.loads(event["body"])


def _check_request_authorizer(event: dict[str, Any]) -> None:
    assert REQUEST_AUTHORIZER_KEYS <= set(event), f"missing {sorted(REQUEST_AUTHORIZER_KEYS - set(event))}"
    assert event["type"] == "REQUEST"
    arn = re.fullmatch(r"arn:aws:execute-api:[a-z0-9-]+:\d{12}:(\w+)/(\w+)/([A-Z]+)(/.*)", event["methodArn"])
    assert arn, f"methodArn {event['methodArn']} is not an execute-api ARN"
    api_id, stage, method, path = arn.groups()
    assert method == event["httpMethod"] and path == event["path"]
    assert event["requestContext"]["apiId"] == api_id and event["requestContext"]["stage"] == stage
    # The sample credential must look fake: real drgero_ tokens carry >= 30 base62 chars.
    headers = {k.lower(): v for k, v in event["headers"].items()}
    credential = headers.get("authorization", "").removeprefix("Bearer ")
    assert credential.startswith("drgero_"), "the sample should show a Bearer drgero_ credential"
    assert not re.fullmatch(r"drgero_[0-9A-Za-z]{30,}", credential), "use an obviously fake credential"


def _check_sqs(logical_id: str, event: dict[str, Any]) -> None:
    (queue_event,) = _events_of(logical_id, "SQS").values()
    queue_logical = queue_event["Queue"]["Fn::GetAtt"][0]
    records = event["Records"]
    assert 1 <= len(records) <= int(queue_event.get("BatchSize", 10)), "batch larger than the mapping's BatchSize"
    assert len({r["messageId"] for r in records}) == len(records), "messageIds must be unique"
    for record in records:
        assert SQS_RECORD_KEYS <= set(record), f"missing {sorted(SQS_RECORD_KEYS - set(record))}"
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"].rsplit(":", 1)[1] == _local_queue_name(queue_logical)
        assert record["eventSourceARN"].split(":")[3] == record["awsRegion"]
        assert int(record["attributes"]["ApproximateReceiveCount"]) >= 1
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()  # noqa: S324 - SQS's checksum
        assert isinstance(json.loads(record["body"]), dict), "message bodies are JSON objects"


def _check_schedule(logical_id: str, what: str, event: Any) -> None:
    schedules = {_kebab(name): props for name, props in _events_of(logical_id, "ScheduleV2").items()}
    assert what in schedules, f"no ScheduleV2 event named like '{what}' (have {sorted(schedules)})"
    # EventBridge Scheduler delivers the target's Input verbatim as the event.
    assert event == json.loads(schedules[what]["Input"])


# ---------------------------------------------------------------- tests


def test_events_dir_is_not_empty():
    assert EVENT_FILES, "events/ has no sample events"


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.name)
def test_event_has_the_shape_of_its_trigger(path):
    folder, what = _split_name(path)
    logical_id = _logical_id(folder)
    event = _load(path)
    kind = _trigger_kind(logical_id)
    if kind == "authorizer":
        _check_request_authorizer(event)
    elif kind == "Api":
        _check_rest_proxy(logical_id, event)
    elif kind == "SQS":
        _check_sqs(logical_id, event)
    elif kind == "ScheduleV2":
        _check_schedule(logical_id, what, event)
    else:
        pytest.fail(f"{path.name}: no shape check for trigger kind {kind}; add one")


def test_every_trigger_has_a_sample_event():
    by_function: dict[str, list[Path]] = {}
    for path in EVENT_FILES:
        by_function.setdefault(_logical_id(_split_name(path)[0]), []).append(path)
    missing = [f"{_folder(fn)}-*.json" for fn in TEMPLATE.functions if fn not in by_function]
    for logical_id, paths in by_function.items():
        events = [_load(p) for p in paths]
        for name in _events_of(logical_id, "ScheduleV2"):
            if not (EVENTS_DIR / f"{_folder(logical_id)}-{_kebab(name)}.json").exists():
                missing.append(f"{_folder(logical_id)}-{_kebab(name)}.json")
        api_routes = {(p["Path"], p["Method"].upper()) for p in _events_of(logical_id, "Api").values()}
        # A catch-all ({proxy+}) function is one trigger; dedicated routes are one trigger each.
        if not any("+}" in route for route, _ in api_routes):
            covered = {(e["resource"], e["httpMethod"]) for e in events if isinstance(e, dict) and "resource" in e}
            missing += [f"{_folder(logical_id)}: {m} {r}" for r, m in sorted(api_routes - covered)]
    assert not missing, f"triggers without a sample event: {missing}"


def _check_api_response(response: Any) -> None:
    assert isinstance(response, dict) and isinstance(response["statusCode"], int), response
    if response["statusCode"] >= 400:
        body = json.loads(response["body"])
        error = body["error"]
        assert error["code"] and error["message"] and error["request_id"], body


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.name)
def test_event_invokes_its_function_without_unhandled_error(aws, path):
    logical_id = _logical_id(_split_name(path)[0])
    event = _load(path)
    kind = _trigger_kind(logical_id)
    if kind == "authorizer":
        try:
            result = aws.functions.invoke(logical_id, event)
        except Exception as exc:  # noqa: BLE001 - API Gateway's protocol: only this exact one is a 401
            assert type(exc) is Exception and exc.args == ("Unauthorized",), f"unhandled {exc!r}"
            return
        assert result["principalId"] and result["policyDocument"]["Statement"], result
        return
    result = aws.functions.invoke(logical_id, event)
    if kind == "Api":
        _check_api_response(result)
    elif kind == "SQS":
        failures = (result or {}).get("batchItemFailures", [])
        ids = {r["messageId"] for r in event["Records"]}
        assert {f["itemIdentifier"] for f in failures} <= ids, "reported failures must name records of the batch"
