"""POST /v1/leaderboard/{id}/dataset/push through the real push_ingest handler on moto."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from drgero.datasets.consolidate import Consolidator
from drgero.identity.principal import Principal, PrincipalKind
from tests.support.aws import table_of
from tests.support.handlers import api, push
from tests.support.identity import api_principal, dataset_principal, new_workspace
from tests.support.leaderboards import consolidated_rows, create_push_leaderboard


@pytest.fixture
def ws(aws) -> str:
    return new_workspace(aws, plan="pro")["workspace_id"]


@pytest.fixture
def lb(aws, ws) -> str:
    return create_push_leaderboard(aws, ws)


def pending_lines(aws, leaderboard_id: str) -> list[dict]:
    s3 = aws.clients.s3
    bucket = aws.settings.aws.bucket_name
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"pending/{leaderboard_id}/").get("Contents", [])
    rows = []
    for obj in listing:
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        rows += [json.loads(line) for line in body.splitlines() if line]
    return rows


def dataset_record(aws, leaderboard_id: str) -> dict:
    return table_of(aws).get(f"LB#{leaderboard_id}", "DATASET")


# ------------------------------------------------------------------ body formats and aliases
@pytest.mark.parametrize(
    "body",
    [
        {"input": "q1", "output": "a1"},
        [{"input": "q1", "output": "a1"}, {"input": "q2"}],
        {"rows": [{"input": "q1"}, {"input": "q2"}, {"input": "q3"}]},
        {"events": [{"input": "q1"}]},
        {"samples": [{"input": "q1"}, {"input": "q2"}]},
    ],
)
def test_body_formats(aws, ws, lb, body):
    expected = len(body) if isinstance(body, list) else len(next(iter(body.values()))) if "input" not in body else 1
    status, answer, _ = push(aws, lb, api_principal(ws), body)
    assert status == 202, answer
    assert answer["accepted"] == expected
    assert answer["pending"] == expected
    assert answer["batch_id"].startswith("b_")
    assert len(pending_lines(aws, lb)) == expected


def test_every_alias(aws, ws, lb):
    rows = [
        *({alias: f"in-{alias}"} for alias in ("input", "prompt", "question", "query")),
        *(
            {"input": "q", alias: f"out-{alias}"}
            for alias in ("output", "response", "completion", "answer", "expected")
        ),
        *({"input": "q", alias: f"id-{alias}"} for alias in ("id", "example_id", "trace_id")),
    ]
    status, answer, _ = push(aws, lb, api_principal(ws), rows)
    assert status == 202, answer
    stored = pending_lines(aws, lb)
    assert [r["input"] for r in stored[:4]] == ["in-input", "in-prompt", "in-question", "in-query"]
    outputs = ["out-output", "out-response", "out-completion", "out-answer", "out-expected"]
    assert [r["output"] for r in stored[4:9]] == outputs
    assert [r["id"] for r in stored[9:]] == ["id-id", "id-example_id", "id-trace_id"]


def test_first_alias_wins_and_metadata_fields_are_kept(aws, ws, lb):
    row = {
        "prompt": "second",
        "input": "first",
        "answer": "later",
        "output": "earliest",
        "rubric": "be exact",
        "example_id": "e",
        "id": "i",
        "metadata": {"source": "app"},
        "tags": ["a", "b"],
        "user_id": "u1",
        "session_id": "s1",
        "conversation_id": "c1",
        "latency_ms": 120,
        "cost_usd": 0.0012,
        "model": "gpt-x",
        "provider": "openrouter",
        "custom_field": {"kept": True},
    }
    assert push(aws, lb, api_principal(ws), row)[0] == 202
    stored = pending_lines(aws, lb)[0]
    assert (stored["input"], stored["output"], stored["id"], stored["rubric"]) == ("first", "earliest", "i", "be exact")
    assert stored["metadata"] == {
        "source": "app",
        "tags": ["a", "b"],
        "user_id": "u1",
        "session_id": "s1",
        "conversation_id": "c1",
        "latency_ms": 120,
        "cost_usd": 0.0012,
        "model": "gpt-x",
        "provider": "openrouter",
        "custom_field": {"kept": True},
    }


def test_rows_without_id_get_a_stable_content_hash(aws, ws, lb):
    p = api_principal(ws)
    push(
        aws,
        lb,
        p,
        [{"input": "same", "output": "x", "latency_ms": 1}, {"input": "same", "output": "x", "latency_ms": 2}],
    )
    push(aws, lb, p, {"input": "other", "output": "x"})
    ids_by_input: dict[str, set[str]] = {}
    for row in pending_lines(aws, lb):
        ids_by_input.setdefault(row["input"], set()).add(row["id"])
    assert len(ids_by_input["same"]) == 1  # metadata does not change the content id
    assert ids_by_input["same"] != ids_by_input["other"]
    assert all(i.startswith("h_") for ids in ids_by_input.values() for i in ids)


# ------------------------------------------------------------------ messages
MESSAGE_CASES = [
    ([{"role": "user", "content": "Hi there"}], "Hi there"),
    (
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "2+2?"},
        ],
        "system: Be brief.\n\nuser: Hi\n\nassistant: Hello!\n\nuser: 2+2?",
    ),
    (
        [{"role": "user", "content": [{"type": "text", "text": "Look:"}, {"type": "image_url", "image_url": {}}]}],
        "Look:",
    ),
]


def test_messages_become_text_input_and_input_wins(aws, ws, lb):
    rows = [{"messages": messages, "output": "ok"} for messages, _ in MESSAGE_CASES]
    rows.append({"input": "direct", "messages": [{"role": "user", "content": "ignored"}]})
    status, answer, _ = push(aws, lb, api_principal(ws), rows)
    assert status == 202, answer
    assert [r["input"] for r in pending_lines(aws, lb)] == [text for _, text in MESSAGE_CASES] + ["direct"]


def test_bad_messages_are_invalid_rows(aws, ws, lb):
    bad = [
        [],
        "hello",
        [{"content": "no role"}],
        [{"role": "user", "content": 5}],
        ["not an object"],
        [{"role": "user", "content": [{"type": "weird"}]}],
    ]
    status, answer, _ = push(aws, lb, api_principal(ws), [{"messages": m} for m in bad])
    assert status == 400
    assert answer["error"]["code"] == "invalid_rows"
    details = answer["error"]["details"]
    assert [d["index"] for d in details] == list(range(len(bad)))
    assert all("messages" in d["error"] for d in details)


# ------------------------------------------------------------------ malformed and wrong types
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "invalid_json"),
        ("", "invalid_json"),
        ("   ", "invalid_json"),
        ('{"input": NaN}', "invalid_json"),
        ('"just a string"', "invalid_body"),
        ("42", "invalid_body"),
        ('{"rows": {"input": "x"}}', "invalid_body"),
        ("[]", "empty_batch"),
        ('{"rows": []}', "empty_batch"),
    ],
)
def test_malformed_bodies(aws, ws, lb, raw, code):
    status, answer, _ = push(aws, lb, api_principal(ws), raw_body=raw)
    assert status == 400, answer
    assert answer["error"]["code"] == code
    assert answer["error"]["request_id"] == "req-test"
    assert dataset_record(aws, lb)["accepted_rows"] == 0


def test_every_bad_row_is_reported_and_nothing_is_accepted(aws, ws, lb):
    rows = [
        {"input": "fine"},
        {"input": {"nested": 1}},
        {"output": "no input"},
        "not an object",
        {"input": "x", "output": ["list"]},
        {"input": "x", "metadata": "not an object"},
        {"input": "x", "id": {"bad": 1}},
        {"input": True},
        {"input": "   "},
        {"input": "fine too"},
    ]
    status, answer, _ = push(aws, lb, api_principal(ws), rows)
    assert status == 400
    assert answer["error"]["code"] == "invalid_rows"
    assert [d["index"] for d in answer["error"]["details"]] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert all(d["error"] for d in answer["error"]["details"])
    assert dataset_record(aws, lb)["accepted_rows"] == 0
    assert pending_lines(aws, lb) == []


def test_numeric_answers_are_kept_as_text(aws, ws, lb):
    push(aws, lb, api_principal(ws), {"question": "2+2", "answer": 4, "id": 12})
    stored = pending_lines(aws, lb)[0]
    assert (stored["output"], stored["id"]) == ("4", "12")


# ------------------------------------------------------------------ sizes
def test_oversize_body_is_413_with_the_limit(aws, ws, lb):
    limit = aws.settings.limits.push_max_body_bytes
    body = json.dumps([{"input": "x" * 60_000} for _ in range(limit // 60_000 + 2)])
    status, answer, _ = push(aws, lb, api_principal(ws), raw_body=body)
    assert status == 413
    assert answer["error"]["code"] == "payload_too_large"
    assert str(limit) in answer["error"]["message"]


def test_oversize_row_is_413_with_the_limit(aws, ws, lb):
    limit = aws.settings.limits.push_max_row_bytes
    status, answer, _ = push(aws, lb, api_principal(ws), [{"input": "ok"}, {"input": "x" * (limit + 1)}])
    assert status == 413
    assert answer["error"]["code"] == "row_too_large"
    assert str(limit) in answer["error"]["message"]
    assert answer["error"]["details"][0]["index"] == 1
    assert dataset_record(aws, lb)["accepted_rows"] == 0


def test_ten_thousand_rows_is_over_the_per_request_limit(aws, ws, lb):
    limit = aws.settings.limits.push_max_rows_per_request
    status, answer, _ = push(aws, lb, api_principal(ws), [{"input": f"q{i}"} for i in range(10_000)])
    assert status == 413
    assert answer["error"]["code"] == "too_many_rows"
    assert str(limit) in answer["error"]["message"]


def test_a_request_at_the_row_limit_is_accepted(aws, ws, lb):
    limit = aws.settings.limits.push_max_rows_per_request
    status, answer, _ = push(aws, lb, api_principal(ws), [{"input": f"q{i}"} for i in range(limit)])
    assert status == 202, answer
    assert answer["accepted"] == limit


# ------------------------------------------------------------------ unicode and control characters
def test_unicode_round_trips(aws, ws, lb):
    text = "Grüße, 東京 🚀 — مرحبا\tשלום\nnew line\r\nok"
    status, _, _ = push(aws, lb, api_principal(ws), {"input": text, "output": "✓", "id": "ключ-🔑"})
    assert status == 202
    stored = pending_lines(aws, lb)[0]
    assert (stored["input"], stored["output"], stored["id"]) == (text, "✓", "ключ-🔑")


def test_control_characters_are_refused_by_name(aws, ws, lb):
    cases = [("a\u0000b", "U+0000"), ("bell\u0007", "U+0007"), ("esc\u001b[0m", "U+001B"), ("del\u007f", "U+007F")]
    rows = [{"input": "fine"}] + [{"input": "q", "output": text} for text, _ in cases]
    status, answer, _ = push(aws, lb, api_principal(ws), rows)
    assert status == 400
    details = answer["error"]["details"]
    assert [d["index"] for d in details] == [1, 2, 3, 4]
    for detail, (_, codepoint) in zip(details, cases, strict=True):
        assert codepoint in detail["error"] and "output" in detail["error"]


def test_lone_surrogates_are_refused(aws, ws, lb):
    status, answer, _ = push(aws, lb, api_principal(ws), raw_body='{"input": "broken \\ud800 text"}')
    assert status == 400
    assert "U+D800" in answer["error"]["details"][0]["error"]


# ------------------------------------------------------------------ limits and end date
def test_daily_limit_reached_exactly_then_refused(aws, ws):
    lb = create_push_leaderboard(aws, ws, daily_limit=10, monthly_limit=100)
    p = api_principal(ws)
    assert push(aws, lb, p, [{"input": f"a{i}"} for i in range(6)])[0] == 202
    status, answer, _ = push(aws, lb, p, [{"input": f"b{i}"} for i in range(4)])
    assert status == 202, answer  # exactly at the limit
    status, answer, headers = push(aws, lb, p, {"input": "one too many"})
    assert status == 429
    assert answer["error"]["code"] == "daily_limit"
    assert answer["error"]["details"]["accepted"] == 10
    assert int(headers["Retry-After"]) > 0
    assert dataset_record(aws, lb)["accepted_rows"] == 10


def test_a_request_that_would_pass_the_limit_is_refused_whole(aws, ws):
    lb = create_push_leaderboard(aws, ws, daily_limit=10, monthly_limit=100)
    p = api_principal(ws)
    push(aws, lb, p, [{"input": f"a{i}"} for i in range(8)])
    status, answer, _ = push(aws, lb, p, [{"input": f"b{i}"} for i in range(3)])
    assert (status, answer["error"]["code"]) == (429, "daily_limit")
    assert dataset_record(aws, lb)["accepted_rows"] == 8
    assert len(pending_lines(aws, lb)) == 8  # the refused request left no object behind


def test_monthly_limit(aws, ws):
    lb = create_push_leaderboard(aws, ws, daily_limit=None, monthly_limit=5)
    p = api_principal(ws)
    assert push(aws, lb, p, [{"input": f"a{i}"} for i in range(5)])[0] == 202
    status, answer, headers = push(aws, lb, p, {"input": "x"})
    assert (status, answer["error"]["code"]) == (429, "monthly_limit")
    assert "Retry-After" in headers


def test_end_date_passed_closes_the_dataset(aws, ws):
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    lb = create_push_leaderboard(aws, ws, end_date=yesterday)
    status, answer, _ = push(aws, lb, api_principal(ws), {"input": "late"})
    assert (status, answer["error"]["code"]) == (403, "dataset_closed")


def test_end_date_in_the_future_accepts(aws, ws):
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    lb = create_push_leaderboard(aws, ws, end_date=tomorrow)
    assert push(aws, lb, api_principal(ws), {"input": "in time"})[0] == 202


def test_patching_the_end_date_closes_the_dataset(aws, ws, lb):
    p = api_principal(ws)
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    status, body = api(aws, "PATCH", f"/api/leaderboards/{lb}", p, {"dataset": {"mode": "PUSH", "end_date": past}})
    assert status == 200, body
    assert push(aws, lb, p, {"input": "x"})[1]["error"]["code"] == "dataset_closed"
    # The other PUSH options kept their values.
    assert body["dataset"]["daily_limit"] == 100_000 and body["dataset"]["max_samples"] == 1000
    status, body = api(aws, "PATCH", f"/api/leaderboards/{lb}", p, {"dataset": {"mode": "PUSH", "end_date": None}})
    assert (status, body["dataset"]["end_date"]) == (200, None)
    assert push(aws, lb, p, {"input": "x"})[0] == 202
    status, body = api(aws, "PATCH", f"/api/leaderboards/{lb}", p, {"dataset": {"mode": "PUSH", "monthly_limit": 5}})
    assert status == 400  # below the stored daily_limit


def test_get_mode_leaderboard_takes_no_pushes(aws, ws):
    table = table_of(aws)
    table.put(
        {
            "pk": f"WS#{ws}",
            "sk": "LB#lb_get",
            "id": "lb_get",
            "workspace_id": ws,
            "name": "hf",
            "prompt": "p",
            "dataset": {"mode": "GET", "url": "hf://datasets/a/b/c.jsonl"},
            "dataset_mode": "GET",
            "evaluation": {"type": "exact"},
            "created_at": "2026-01-01T00:00:00Z",
        }
    )
    status, answer, _ = push(aws, "lb_get", api_principal(ws), {"input": "x"})
    assert (status, answer["error"]["code"]) == (409, "not_push_dataset")


# ------------------------------------------------------------------ concurrency
def test_fifty_concurrent_pushes_race_a_daily_limit(aws, ws):
    lb = create_push_leaderboard(aws, ws, daily_limit=60, monthly_limit=1000)
    aws.functions.module("PushIngestFunction")  # cold start once, before the race
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        status, answer, _ = push(
            aws, lb, api_principal(ws), [{"input": f"r{i}-a", "id": f"{i}-a"}, {"input": f"r{i}-b", "id": f"{i}-b"}]
        )
        with lock:
            results.append((status, answer))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = [a for s, a in results if s == 202]
    refused = [a for s, a in results if s != 202]
    assert sum(a["accepted"] for a in accepted) == 60
    assert len(accepted) == 30
    assert all(a["error"]["code"] == "daily_limit" for a in refused)
    assert dataset_record(aws, lb)["accepted_rows"] == 60

    result = Consolidator(aws.settings, aws.clients).consolidate(ws, lb)
    assert result.rows == 60
    rows = consolidated_rows(aws, lb)
    assert len(rows) == 60
    assert {r["input"] for r in rows} == {line["input"] for line in _accepted_rows(aws, lb, accepted)}
    assert dataset_record(aws, lb)["consumed_rows"] == 60


def _accepted_rows(aws, leaderboard_id, accepted):
    """The rows of the accepted batches, from their batch records' objects (kept versions)."""
    s3 = aws.clients.s3
    bucket = aws.settings.aws.bucket_name
    rows = []
    for answer in accepted:
        key = f"pending/{leaderboard_id}/{answer['batch_id']}.jsonl"
        versions = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
        body = s3.get_object(Bucket=bucket, Key=key, VersionId=versions[0]["VersionId"])["Body"].read()
        rows += [json.loads(line) for line in body.splitlines() if line]
    assert len(rows) == 60
    return rows


# ------------------------------------------------------------------ idempotency
def test_same_key_same_body_returns_the_first_answer_and_counts_once(aws, ws, lb):
    p = api_principal(ws)
    body = [{"input": "a"}, {"input": "b"}]
    first = push(aws, lb, p, body, idempotency_key="key-1")
    second = push(aws, lb, p, body, idempotency_key="key-1")
    assert first[0] == second[0] == 202
    assert first[1] == second[1]
    assert dataset_record(aws, lb)["accepted_rows"] == 2
    assert len(pending_lines(aws, lb)) == 2


def test_same_key_other_body_is_refused(aws, ws, lb):
    p = api_principal(ws)
    push(aws, lb, p, {"input": "a"}, idempotency_key="key-1")
    status, answer, _ = push(aws, lb, p, {"input": "b"}, idempotency_key="key-1")
    assert (status, answer["error"]["code"]) == (422, "idempotency_key_reused")
    assert dataset_record(aws, lb)["accepted_rows"] == 1


def test_keys_are_scoped_per_credential(aws, ws, lb):
    body = {"input": "a"}
    push(aws, lb, api_principal(ws, token_id="tok_one"), body, idempotency_key="shared")
    status, _, _ = push(aws, lb, api_principal(ws, token_id="tok_two"), body, idempotency_key="shared")
    assert status == 202
    assert dataset_record(aws, lb)["accepted_rows"] == 2


def test_invalid_idempotency_key(aws, ws, lb):
    status, answer, _ = push(aws, lb, api_principal(ws), {"input": "a"}, idempotency_key="x" * 300)
    assert (status, answer["error"]["code"]) == (400, "invalid_idempotency_key")


def _pusher(aws):
    return aws.functions.module("PushIngestFunction").pusher


def test_crash_between_s3_and_transaction_then_retry_counts_once(aws, ws, lb, monkeypatch):
    pusher = _pusher(aws)
    real = pusher.table.transact
    calls = {"n": 0}

    def crash_once(operations):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected crash after the S3 write")
        return real(operations)

    monkeypatch.setattr(pusher.table, "transact", crash_once)
    p = api_principal(ws)
    with pytest.raises(RuntimeError):
        push(aws, lb, p, [{"input": "a"}, {"input": "b"}], idempotency_key="retry-me")
    assert dataset_record(aws, lb)["accepted_rows"] == 0  # not accepted: the client got no 202
    status, answer, _ = push(aws, lb, p, [{"input": "a"}, {"input": "b"}], idempotency_key="retry-me")
    assert status == 202, answer
    assert dataset_record(aws, lb)["accepted_rows"] == 2
    assert len(pending_lines(aws, lb)) == 2  # the same object, not a second one


def test_crash_after_the_transaction_then_retry_counts_once(aws, ws, lb, monkeypatch):
    pusher = _pusher(aws)
    real = pusher.pending_rows
    calls = {"n": 0}

    def crash_once(leaderboard_id):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected crash after the commit")
        return real(leaderboard_id)

    monkeypatch.setattr(pusher, "pending_rows", crash_once)
    p = api_principal(ws)
    with pytest.raises(RuntimeError):
        push(aws, lb, p, {"input": "a"}, idempotency_key="retry-2")
    assert dataset_record(aws, lb)["accepted_rows"] == 1  # accepted, but the answer was lost
    status, answer, _ = push(aws, lb, p, {"input": "a"}, idempotency_key="retry-2")
    assert status == 202, answer
    assert answer["accepted"] == 1
    assert dataset_record(aws, lb)["accepted_rows"] == 1  # the retry counted nothing
    assert len(pending_lines(aws, lb)) == 1


# ------------------------------------------------------------------ every-N-events trigger
def test_crossing_the_events_threshold_queues_a_consolidation(aws, ws):
    lb = create_push_leaderboard(aws, ws, consolidate_every_events=5)
    p = api_principal(ws)
    sqs = aws.clients.sqs
    queue = aws.settings.aws.consolidate_queue_url
    push(aws, lb, p, [{"input": f"a{i}"} for i in range(3)])
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages") is None
    push(aws, lb, p, [{"input": f"b{i}"} for i in range(3)])
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages")
    assert messages and json.loads(messages[0]["Body"])["leaderboard_id"] == lb
    assert json.loads(messages[0]["Body"])["reason"] == "events_threshold"


# ------------------------------------------------------------------ authorization
def test_no_credentials_is_401(aws, lb):
    status, answer, _ = push(aws, lb, None, {"input": "x"})
    assert (status, answer["error"]["code"]) == (401, "unauthorized")


def test_api_token_without_write_scope_is_403(aws, ws, lb):
    status, answer, _ = push(aws, lb, api_principal(ws, scopes={"leaderboards:read"}), {"input": "x"})
    assert (status, answer["error"]["code"]) == (403, "insufficient_scope")


def test_dataset_token_pushes_to_its_own_leaderboard_only(aws, ws, lb):
    other = create_push_leaderboard(aws, ws)
    assert push(aws, lb, dataset_principal(ws, lb), {"input": "x"})[0] == 202
    status, answer, _ = push(aws, other, dataset_principal(ws, lb), {"input": "x"})
    assert (status, answer["error"]["code"]) == (404, "not_found")
    # An id sharing a prefix with the token's own is another leaderboard.
    status, _, _ = push(aws, lb + "x", dataset_principal(ws, lb), {"input": "x"})
    assert status == 404
    status, _, _ = push(aws, lb[:-1], dataset_principal(ws, lb), {"input": "x"})
    assert status == 404


def test_another_workspace_gets_404_even_with_a_bad_body(aws, ws, lb):
    intruder = new_workspace(aws, plan="pro")["workspace_id"]
    for raw in ("{not json", '{"no": "input"}', "[]"):
        status, answer, _ = push(aws, lb, api_principal(intruder), raw_body=raw)
        assert (status, answer["error"]["code"]) == (404, "not_found")


def test_another_workspace_cannot_push(aws, ws, lb):
    intruder = new_workspace(aws, plan="pro")["workspace_id"]
    status, answer, _ = push(aws, lb, api_principal(intruder), {"input": "x"})
    assert (status, answer["error"]["code"]) == (404, "not_found")
    # A dataset token minted (somehow) for this lb id in another workspace also finds nothing.
    status, _, _ = push(aws, lb, dataset_principal(intruder, lb), {"input": "x"})
    assert status == 404
    assert dataset_record(aws, lb)["accepted_rows"] == 0


def test_user_session_with_write_can_push(aws, ws, lb):
    user = Principal(
        kind=PrincipalKind.USER, workspace_id=ws, scopes=frozenset({"leaderboards:write"}), user_id="u1", role="member"
    )
    assert push(aws, lb, user, {"input": "x"})[0] == 202


# ------------------------------------------------------------------ AWS requests per push
def test_aws_requests_per_push_do_not_grow_with_rows(aws, ws, lb):
    pusher = _pusher(aws)
    counts: list[dict[str, int]] = []

    def counter(store):
        def count(event_name, **kwargs):
            operation = event_name.split(".")[-1]
            store[operation] = store.get(operation, 0) + 1

        return count

    for rows in (1, 1000):
        store: dict[str, int] = {}
        hook = counter(store)
        pusher.clients.dynamodb.meta.events.register("before-call.dynamodb", hook)
        pusher.clients.s3.meta.events.register("before-call.s3", hook)
        try:
            assert push(aws, lb, api_principal(ws), [{"input": f"{rows}-{i}"} for i in range(rows)])[0] == 202
        finally:
            pusher.clients.dynamodb.meta.events.unregister("before-call.dynamodb", hook)
            pusher.clients.s3.meta.events.unregister("before-call.s3", hook)
        counts.append(store)
    assert counts[0] == counts[1]
    assert counts[0] == {"GetItem": 2, "PutObject": 1, "TransactWriteItems": 1}


def test_retry_of_a_committed_request_that_filled_the_daily_limit_replays(aws, ws, monkeypatch):
    lb = create_push_leaderboard(aws, ws, daily_limit=2, monthly_limit=100)
    pusher = _pusher(aws)
    real = pusher.pending_rows
    calls = {"n": 0}

    def crash_once(leaderboard_id):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected crash after the commit")
        return real(leaderboard_id)

    monkeypatch.setattr(pusher, "pending_rows", crash_once)
    p = api_principal(ws)
    rows = [{"input": "a"}, {"input": "b"}]
    with pytest.raises(RuntimeError):
        push(aws, lb, p, rows, idempotency_key="fill")
    status, answer, _ = push(aws, lb, p, rows, idempotency_key="fill")
    assert (status, answer["accepted"]) == (202, 2)  # not a 429: it is the same, committed request
    assert len(pending_lines(aws, lb)) == 2  # its object was kept
    assert dataset_record(aws, lb)["accepted_rows"] == 2
