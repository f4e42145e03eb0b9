"""events/ holds one sample event per trigger (`<function folder>-<what>.json`, usable by
`sam local invoke -e` and `drgero invoke`). These tests keep every file the exact shape AWS
sends for its trigger, keep every trigger of template.yaml covered, and invoke each event
through its real handler on the embedded AWS twice: as it is (ids that name nothing: a 4xx
answer or reported batch item failures are fine, a 5xx or an unhandled exception is not), and
retargeted at real resources (ids, credentials and message bodies overridden), where it must
succeed: a 2xx answer, no batch item failures, the result its function promises.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from drgero.traces import TraceStore
from localcloud.template import REPO_ROOT, Template
from tests.support.events import sample_event
from tests.support.handlers import push
from tests.support.identity import api_principal, new_workspace
from tests.support.inference import make_world
from tests.support.leaderboards import consolidated_rows, create_push_leaderboard
from tests.support.runs import Driver, Setup, make_setup

EVENTS_DIR = REPO_ROOT / "events"
EVENT_FILES = sorted(EVENTS_DIR.glob("*.json"))
TEMPLATE = Template.load()

# Routes API Gateway serves without the authorizer (their events carry no authorizer context).
PUBLIC_ROUTES = {("/v1/health", "GET"), ("/openapi.json", "GET"), ("/api/auth/config", "GET")}

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
    # Routes the template declares without the authorizer: the public ones, and the inference
    # routes, whose function checks the Authorization header itself.
    unguarded = {
        (p["Path"], p["Method"].upper())
        for p in _events_of(logical_id, "Api").values()
        if (p.get("Auth") or {}).get("Authorizer") == "NONE"
    }
    if (resource, method) in PUBLIC_ROUTES | unguarded:
        assert "authorizer" not in ctx, "a route without the authorizer gets no authorizer context"
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
    assert response["statusCode"] < 500, f"the handler failed: {response}"
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


# ---------------------------------------------------------------- one success path per sample


def _retarget(
    event: dict[str, Any], workspace_id: str, leaderboard_id: str = "", token_id: str = "", secret: str = ""
) -> dict:
    """The REST sample aimed at ``leaderboard_id`` of ``workspace_id`` (its authorizer context
    keeps the sample's kind and scopes); ``secret``: the sample's bearer token replaced by it
    (the inference routes, which have no authorizer context, check it themselves)."""
    if leaderboard_id:
        old = event["pathParameters"]["id"]
        event["path"] = event["path"].replace(old, leaderboard_id)
        event["requestContext"]["path"] = event["requestContext"]["path"].replace(old, leaderboard_id)
        event["pathParameters"] = {"id": leaderboard_id}
    if secret:
        assert "Authorization" in event["headers"], "the sample carries a bearer token"
        event["headers"]["Authorization"] = f"Bearer {secret}"
        event["multiValueHeaders"]["Authorization"] = [f"Bearer {secret}"]
    if "authorizer" not in event["requestContext"]:
        return event
    authorizer = event["requestContext"]["authorizer"]
    authorizer["workspace_id"] = workspace_id
    if token_id:
        authorizer.update(principalId=token_id, token_id=token_id)
    return event


def _with_bodies(event: dict[str, Any], *bodies: str) -> dict:
    """The SQS sample carrying ``bodies`` (one record each, the sample's first as the model)."""
    template = event["Records"][0]
    event["Records"] = [
        {
            **template,
            "messageId": f"{template['messageId'][:-1]}{i}",
            "body": body,
            "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's checksum
        }
        for i, body in enumerate(bodies)
    ]
    return event


def _no_failures(result: Any) -> None:
    assert result == {"batchItemFailures": []}, result


def _api_json(result: dict[str, Any], status: int) -> Any:
    assert result["statusCode"] == status, result
    return json.loads(result["body"])


def _health(aws, sandbox, event):
    assert _api_json(aws.functions.invoke("ApiFunction", event), 200)["status"] == "ok"


def _authorizer(aws, sandbox, event):
    seeded = new_workspace(aws)
    event["headers"]["Authorization"] = f"Bearer {seeded['token']}"
    event["multiValueHeaders"]["Authorization"] = [f"Bearer {seeded['token']}"]
    result = aws.functions.invoke("AuthorizerFunction", event)
    (statement,) = result["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow", result
    assert result["context"]["workspace_id"] == seeded["workspace_id"]


def _push(aws, sandbox, event):
    workspace_id = new_workspace(aws, plan="pro")["workspace_id"]
    leaderboard_id = create_push_leaderboard(aws, workspace_id)
    answer = _api_json(aws.functions.invoke("PushIngestFunction", _retarget(event, workspace_id, leaderboard_id)), 202)
    assert answer["accepted"] == 2, answer


def _consolidate(aws, sandbox, event):
    workspace_id = new_workspace(aws, plan="pro")["workspace_id"]
    leaderboard_id = create_push_leaderboard(aws, workspace_id)
    rows = [{"input": "2 + 2 = ?", "output": "4"}, {"input": "3 + 3 = ?", "output": "6"}]
    status, answer, _ = push(aws, leaderboard_id, api_principal(workspace_id), rows)
    assert status == 202, answer
    body = json.loads(event["Records"][0]["body"]) | {"workspace_id": workspace_id, "leaderboard_id": leaderboard_id}
    _no_failures(aws.functions.invoke("ConsolidateFunction", _with_bodies(event, json.dumps(body))))
    assert len(consolidated_rows(aws, leaderboard_id)) == 2


TOYS = ("sandbox/arithmetic-exact", "sandbox/off-by-one")  # a run compares two models at least


def _run_started(aws, sandbox) -> tuple[Setup, str, Driver]:
    setup = make_setup(aws, sandbox, toys=TOYS, n_rows=6)
    return setup, setup.start(), Driver(aws)


def _deliver_sample(aws, event, driver: Driver, queue: str, function: str) -> None:
    """Takes the queue's messages and delivers their bodies in the sample's envelope."""
    messages = driver.receive(queue)
    assert messages, f"nothing on the {queue} queue"
    _no_failures(aws.functions.invoke(function, _with_bodies(event, *(m["Body"] for m in messages))))
    for message in messages:
        driver.sqs.delete_message(QueueUrl=driver.urls[queue], ReceiptHandle=message["ReceiptHandle"])


def _run_fanout(aws, sandbox, event):
    setup, run_id, driver = _run_started(aws, sandbox)
    _deliver_sample(aws, event, driver, "runs", "RunFanoutFunction")
    assert driver.receive("evaluate"), "the run's shards were not queued for evaluation"
    driver.drain()
    assert setup.run(run_id)["status"] == "completed"


def _evaluate(aws, sandbox, event):
    setup, run_id, driver = _run_started(aws, sandbox)
    driver.step("runs")
    _deliver_sample(aws, event, driver, "evaluate", "EvaluateFunction")
    driver.drain()
    assert driver.failures == 0
    assert setup.run(run_id)["status"] == "completed"


def _judge(aws, sandbox, event):
    # The judge is the sandbox's echo model (an OpenRouter id): whatever it grades, a judge
    # message is handled (an unusable grade is a judge error of that row, never a failed record).
    setup = make_setup(aws, sandbox, toys=TOYS, n_rows=6)
    evaluation = {"type": "judge", "judge_model": "sandbox/echo", "judge_platform": "openrouter", "scale": "0-10"}
    status, answer = setup.api("PATCH", f"/api/leaderboards/{setup.leaderboard_id}", {"evaluation": evaluation})
    assert status == 200, answer
    run_id, driver = setup.start(), Driver(aws)
    driver.step("runs")
    while driver.step("evaluate"):
        pass
    _deliver_sample(aws, event, driver, "judge", "JudgeFunction")
    driver.drain()
    assert driver.failures == 0
    assert setup.run(run_id)["status"] == "completed"


def _inference_world(aws, sandbox):
    world = make_world(aws, sandbox)
    world.leaderboard()
    world.attach_toy("sandbox/echo", "echo")
    world.select("echo")
    return world


def _inference(aws, sandbox, event):
    world = _inference_world(aws, sandbox)
    event = _retarget(event, world.workspace_id, world.leaderboard_id, secret=world.token)
    answer = _api_json(aws.functions.invoke("InferenceFunction", event), 200)
    assert answer["output"] == "Answer briefly.\n\nWhat is the capital of France?"


def _chat_completions(aws, sandbox, event):
    world = _inference_world(aws, sandbox)
    event = _retarget(event, world.workspace_id, secret=world.token)
    body = json.loads(event["body"]) | {"model": f"leaderboard/{world.leaderboard_id}"}
    event["body"] = json.dumps(body)
    answer = _api_json(aws.functions.invoke("InferenceFunction", event), 200)
    assert answer["object"] == "chat.completion" and answer["choices"][0]["message"]["content"]


def _sweeper(aws, sandbox, event):
    result = aws.functions.invoke("SweeperFunction", event)
    assert result["job"] == event["job"] and result["done"] is True, result


def _run_sweep(aws, sandbox, event):
    # A run whose fan-out message sits in the runs DLQ: the sweep fails it and deletes the message.
    setup, run_id, driver = _run_started(aws, sandbox)
    (message,) = driver.receive("runs")
    dlq = aws.functions.environment("SweeperFunction")["DRGERO_AWS__RUNS_DLQ_URL"]
    driver.sqs.send_message(QueueUrl=dlq, MessageBody=message["Body"])
    driver.sqs.delete_message(QueueUrl=driver.urls["runs"], ReceiptHandle=message["ReceiptHandle"])
    result = aws.functions.invoke("SweeperFunction", event)
    assert result["job"] == event["job"] and result["dead_letters_failed"] == 1, result
    assert setup.run(run_id)["status"] == "failed"


def _export(aws, sandbox, event):
    setup, run_id, driver = _run_started(aws, sandbox)
    driver.drain()
    path = f"/api/runs/{run_id}/results/export?format=csv&redirect=false"
    status, answer = setup.api("GET", path)
    assert status == 202, answer
    _deliver_sample(aws, event, driver, "export", "ExportFunction")
    status, answer = setup.api("GET", path)
    assert status == 200 and answer["rows"] == 6, answer


def _trace_writer(aws, sandbox, event):
    _no_failures(aws.functions.invoke("TraceWriterFunction", event))
    store = TraceStore.from_clients(aws.settings, aws.clients)
    for record in event["Records"]:
        trace = json.loads(record["body"])
        assert store.get(trace["workspace_id"], trace["id"]).id == trace["id"]


SUCCESS_PATHS = {
    "api-health.json": _health,
    "authorizer-request.json": _authorizer,
    "push_ingest-push.json": _push,
    "consolidate-sqs.json": _consolidate,
    "run_fanout-sqs.json": _run_fanout,
    "evaluate-sqs.json": _evaluate,
    "judge-sqs.json": _judge,
    "export-sqs.json": _export,
    "inference-inference.json": _inference,
    "inference-chat-completions.json": _chat_completions,
    "sweeper-consolidation-sweep.json": _sweeper,
    "sweeper-fine-tune-poll.json": _sweeper,
    "sweeper-reservation-sweep.json": _sweeper,
    "sweeper-run-sweep.json": _run_sweep,
    "trace_writer-sqs.json": _trace_writer,
}


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.name)
def test_event_retargeted_at_real_resources_succeeds(aws, sandbox, path):
    success = SUCCESS_PATHS.get(path.name)
    if success is None:
        pytest.fail(f"{path.name} has no success path: add one to SUCCESS_PATHS")
    success(aws, sandbox, sample_event(path.name))
