"""/api/traces through the real api function: record, read, list, filter, paginate, and every
way a caller can get it wrong (bad input, too large, wrong scope, wrong workspace)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from drgero.identity.principal import Principal, PrincipalKind
from drgero.store.table import MetadataTable
from drgero.traces import DirectSink, Trace, TraceKind, TraceStore
from tests.support.events import rest_event

WS = "ws_alpha"
OTHER_WS = "ws_beta"
READ = "traces:read"
WRITE = "leaderboards:write"


def principal(workspace_id: str = WS, scopes: tuple[str, ...] = (READ, WRITE)) -> dict:
    return Principal(
        kind=PrincipalKind.API_TOKEN, workspace_id=workspace_id, scopes=frozenset(scopes), token_id="tok_1"
    ).to_context()


def api_event(method: str, path: str, *, body=None, raw_body: str | None = None, query=None, auth=None) -> dict:
    """A request to the api function's catch-all route, by default as the WS principal."""
    return rest_event(
        method,
        path,
        body,
        headers={"content-type": "application/json", "host": "api.example.test"},
        authorizer=principal() if auth is None else auth,
        resource="/api/{proxy+}",
        path_parameters={"proxy": path.removeprefix("/api/")},
        query=query,
        raw_body=raw_body,
        request_id="req-traces",
    )


def call(aws, *args, **kwargs) -> tuple[int, dict]:
    response = aws.functions.invoke("ApiFunction", api_event(*args, **kwargs))
    return response["statusCode"], json.loads(response["body"])


def put_leaderboard(aws, workspace_id: str, leaderboard_id: str, redaction: dict | None = None) -> None:
    item = {"pk": f"WS#{workspace_id}", "sk": f"LB#{leaderboard_id}", "name": "support answers"}
    if redaction is not None:
        item["trace_redaction"] = redaction
    MetadataTable(aws.clients.dynamodb, aws.settings.aws.table_name).put(item)


def seed(aws, traces: list[Trace]) -> None:
    sink = DirectSink(TraceStore.from_clients(aws.settings, aws.clients))
    sink.emit_many(traces)


def make_trace(n: int, *, kind=TraceKind.INFERENCE, lb: str | None = "lb_one", ws: str = WS, base=None) -> Trace:
    base = base or datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    return Trace(
        workspace_id=ws, leaderboard_id=lb, kind=kind, name=f"event {n}", created_at=base + timedelta(minutes=n)
    )


# ---------------------------------------------------------------- POST + GET one


def test_manual_trace_is_recorded_and_readable(aws):
    put_leaderboard(aws, WS, "lb_one")
    body = {
        "name": "deployed prompt v2",
        "leaderboard_id": "lb_one",
        "input": "before",
        "output": "after",
        "metadata": {"ticket": "OPS-12"},
        "kind": "manual",
    }
    status, created = call(aws, "POST", "/api/traces", body={k: v for k, v in body.items() if k != "kind"})
    assert status == 201, created
    assert created["id"].startswith("tr_")
    assert created["kind"] == "manual"
    assert created["url"].endswith(f"/api/traces/{created['id']}")

    status, trace = call(aws, "GET", f"/api/traces/{created['id']}", auth=principal(scopes=(READ,)))
    assert status == 200
    assert trace["kind"] == "manual"
    assert trace["workspace_id"] == WS
    assert trace["input"] == "before" and trace["output"] == "after"
    assert trace["metadata"] == {"ticket": "OPS-12"}

    status, listing = call(aws, "GET", "/api/traces", query={"leaderboard_id": "lb_one", "kind": "manual"})
    assert status == 200
    assert [t["id"] for t in listing["traces"]] == [created["id"]]
    assert "input" not in listing["traces"][0]  # listings carry summaries only


def test_manual_trace_kind_and_ids_cannot_be_chosen_by_the_caller(aws):
    status, body = call(aws, "POST", "/api/traces", body={"name": "x", "kind": "inference"})
    assert status == 400
    assert body["error"]["code"] == "invalid_request"
    assert body["error"]["details"][0]["field"] == "kind"
    status, body = call(aws, "POST", "/api/traces", body={"name": "x", "workspace_id": OTHER_WS})
    assert status == 400


def test_manual_trace_obeys_the_leaderboards_redaction(aws):
    put_leaderboard(aws, WS, "lb_private", {"inputs": True, "outputs": False})
    status, created = call(
        aws,
        "POST",
        "/api/traces",
        body={"name": "call", "leaderboard_id": "lb_private", "input": "pii", "output": "ok"},
    )
    assert status == 201
    status, trace = call(aws, "GET", f"/api/traces/{created['id']}")
    assert "input" not in trace
    assert trace["output"] == "ok"
    assert trace["redacted"] == ["input"]


def test_manual_trace_secrets_are_scrubbed(aws):
    secret = "drgero_" + "A1b2C3d4" * 5
    status, created = call(
        aws,
        "POST",
        "/api/traces",
        body={
            "name": "debug",
            "input": f"curl -H 'Authorization: Bearer {secret}'",
            "metadata": {"api_key": "plain-value", "headers": {"X-API-Key": "hpd_zzzzzzzzzzzzzzzzzzzzzz"}},
        },
    )
    assert status == 201
    status, trace = call(aws, "GET", f"/api/traces/{created['id']}")
    text = json.dumps(trace)
    assert secret not in text and "plain-value" not in text and "hpd_zzz" not in text
    assert trace["metadata"]["api_key"] == "[REDACTED]"


def test_manual_trace_on_another_workspaces_leaderboard_is_404(aws):
    put_leaderboard(aws, OTHER_WS, "lb_theirs")
    status, body = call(aws, "POST", "/api/traces", body={"name": "x", "leaderboard_id": "lb_theirs"})
    assert status == 404
    assert body["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_request"),
        (json.dumps({"name": ""}), "invalid_request"),
        (json.dumps({"name": 12}), "invalid_request"),
        (json.dumps({"name": "x", "leaderboard_id": "lb#1/../x"}), "invalid_request"),
        (json.dumps({"name": "x", "cost_usd": -1}), "invalid_request"),
        (json.dumps({"name": "x", "created_at": "2999-01-01T00:00:00Z"}), "invalid_request"),
        (json.dumps({"name": "x", "created_at": "2001-01-01T00:00:00Z"}), "invalid_request"),
        ('{"name": "x", "metadata": {"a": ' + "[" * 40 + "]" * 40 + "}}", "invalid_request"),  # too deep
        ('{"name": "x", "input": ' + "[" * 30000 + "]" * 30000 + "}", "json_too_deep"),  # api.max_json_depth
    ],
)
def test_malformed_manual_trace_is_400(aws, raw, code):
    status, body = call(aws, "POST", "/api/traces", raw_body=raw)
    assert status == 400, body
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == "req-traces"


def test_oversized_manual_trace_is_413(aws):
    limit = aws.settings.limits.trace_max_manual_bytes
    status, body = call(aws, "POST", "/api/traces", body={"name": "big", "input": "x" * limit})
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert str(limit) in body["error"]["message"]


def test_scopes_are_enforced(aws):
    status, body = call(aws, "POST", "/api/traces", body={"name": "x"}, auth=principal(scopes=(READ,)))
    assert status == 403
    assert body["error"]["details"] == {"required_scope": "leaderboards:write"}
    status, body = call(aws, "GET", "/api/traces", auth=principal(scopes=(WRITE,)))
    assert status == 403
    assert body["error"]["details"] == {"required_scope": "traces:read"}
    status, _ = call(aws, "GET", "/api/traces/tr_00000000000000000000000000", auth=principal(scopes=(WRITE,)))
    assert status == 403
    # The scope is checked before the query: no validation detail for a caller who may not read.
    status, _ = call(aws, "GET", "/api/traces", query={"kind": "banana"}, auth=principal(scopes=(WRITE,)))
    assert status == 403
    status, _ = call(aws, "POST", "/api/traces", raw_body="{not json", auth=principal(scopes=(READ,)))
    assert status == 403


def test_missing_principal_is_401(aws):
    event = api_event("GET", "/api/traces")
    event["requestContext"]["authorizer"] = None
    response = aws.functions.invoke("ApiFunction", event)
    assert response["statusCode"] == 401


def test_another_workspaces_trace_is_404_and_never_listed(aws):
    theirs = make_trace(1, ws=OTHER_WS)
    seed(aws, [theirs, make_trace(2)])
    status, body = call(aws, "GET", f"/api/traces/{theirs.id}")
    assert status == 404
    assert body["error"]["code"] == "not_found"
    status, listing = call(aws, "GET", "/api/traces")
    assert theirs.id not in [t["id"] for t in listing["traces"]]
    assert len(listing["traces"]) == 1


@pytest.mark.parametrize("trace_id", ["tr_nope", "../../etc", "tr_00000000000000000000000000"])
def test_unknown_or_malformed_trace_id_is_404(aws, trace_id):
    status, body = call(aws, "GET", f"/api/traces/{trace_id}")
    assert status == 404


# ---------------------------------------------------------------- listing


def test_list_filters_by_leaderboard_kind_and_time_newest_first(aws):
    traces = [
        make_trace(0, kind=TraceKind.RUN),
        make_trace(1, kind=TraceKind.INFERENCE),
        make_trace(2, kind=TraceKind.INFERENCE, lb="lb_two"),
        make_trace(3, kind=TraceKind.INFERENCE),
        make_trace(4, kind=TraceKind.DATASET, lb=None),
        make_trace(5, kind=TraceKind.INFERENCE),
    ]
    seed(aws, traces)
    ids = [t.id for t in traces]

    def listed(**query) -> list[str]:
        status, body = call(aws, "GET", "/api/traces", query=query)
        assert status == 200, body
        return [t["id"] for t in body["traces"]]

    assert listed() == ids[::-1]
    assert listed(leaderboard_id="lb_one") == [ids[5], ids[3], ids[1], ids[0]]
    assert listed(kind="inference") == [ids[5], ids[3], ids[2], ids[1]]
    assert listed(leaderboard_id="lb_one", kind="inference") == [ids[5], ids[3], ids[1]]
    # since inclusive, until exclusive
    assert listed(since="2026-11-20T12:01:00Z", until="2026-11-20T12:05:00Z") == [ids[4], ids[3], ids[2], ids[1]]
    assert listed(leaderboard_id="lb_one", kind="inference", since="2026-11-20T12:02:00+00:00") == [ids[5], ids[3]]
    assert listed(leaderboard_id="lb_none") == []
    # Times without an offset are UTC, and may be mixed with ones that have one.
    assert listed(since="2026-11-20T12:04:00", until="2026-11-20T13:05:00+01:00") == [ids[4]]


def test_list_paginates_with_an_opaque_cursor(aws):
    traces = [make_trace(n, lb="lb_one") for n in range(7)]
    seed(aws, traces)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "3", "leaderboard_id": "lb_one"}
        if cursor:
            query["cursor"] = cursor
        status, body = call(aws, "GET", "/api/traces", query=query)
        assert status == 200
        pages += 1
        seen += [t["id"] for t in body["traces"]]
        cursor = body["next_cursor"]
        assert body["has_more"] is (cursor is not None)
        if not cursor:
            break
    assert pages == 3
    assert seen == [t.id for t in traces][::-1]


def test_cursor_keeps_working_while_new_traces_arrive(aws):
    seed(aws, [make_trace(n) for n in range(4)])
    status, first = call(aws, "GET", "/api/traces", query={"limit": "2"})
    seed(aws, [make_trace(10)])  # newer than everything listed
    status, second = call(aws, "GET", "/api/traces", query={"limit": "2", "cursor": first["next_cursor"]})
    assert status == 200
    assert [t["name"] for t in second["traces"]] == ["event 1", "event 0"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    "query",
    [
        {"kind": "banana"},
        {"since": "yesterday"},
        {"until": "2026-13-01"},
        {"limit": "0"},
        {"limit": "abc"},
        {"limit": "100000"},
        {"cursor": "not-a-cursor"},
        {"cursor": "dHJfeHh4"},  # base64 of something that is not a sort key
        {"leaderboard_id": "lb#x"},
        {"since": "2026-11-21T00:00:00Z", "until": "2026-11-20T00:00:00Z"},
    ],
)
def test_bad_list_queries_are_400(aws, query):
    status, body = call(aws, "GET", "/api/traces", query=query)
    assert status == 400, body
    assert body["error"]["code"] in ("invalid_request", "invalid_cursor")


def test_expired_traces_are_hidden(aws):
    old = make_trace(0, base=datetime.now(UTC) - timedelta(days=aws.settings.limits.traces_retention_days + 1))
    seed(aws, [old, make_trace(1, base=datetime.now(UTC) - timedelta(minutes=5))])
    status, listing = call(aws, "GET", "/api/traces")
    assert [t["name"] for t in listing["traces"]] == ["event 1"]
    status, _ = call(aws, "GET", f"/api/traces/{old.id}")
    assert status == 404


# ---------------------------------------------------------------- Idempotency-Key


def post_with_key(aws, body: dict, key: str, auth=None) -> tuple[int, dict]:
    event = api_event("POST", "/api/traces", body=body, auth=auth)
    event["headers"]["Idempotency-Key"] = key
    response = aws.functions.invoke("ApiFunction", event)
    return response["statusCode"], json.loads(response["body"])


def test_a_retry_with_the_same_idempotency_key_records_once(aws):
    body = {"name": "deploy", "metadata": {"v": 2}}
    first = post_with_key(aws, body, "deploy-2026-11-24")
    again = post_with_key(aws, body, "deploy-2026-11-24")
    assert first[0] == again[0] == 201
    assert first[1] == again[1]
    status, listing = call(aws, "GET", "/api/traces")
    assert [t["id"] for t in listing["traces"]] == [first[1]["id"]]


def test_the_same_idempotency_key_with_another_body_is_422(aws):
    assert post_with_key(aws, {"name": "deploy"}, "k1")[0] == 201
    status, body = post_with_key(aws, {"name": "rollback"}, "k1")
    assert status == 422
    assert body["error"]["code"] == "idempotency_key_reused"


def test_idempotency_keys_are_per_workspace(aws):
    _, ours = post_with_key(aws, {"name": "deploy"}, "shared-key")
    status, theirs = post_with_key(aws, {"name": "deploy"}, "shared-key", auth=principal(OTHER_WS))
    assert status == 201
    assert theirs["id"] != ours["id"]
    assert call(aws, "GET", f"/api/traces/{theirs['id']}")[0] == 404


def test_an_overlong_idempotency_key_is_400(aws):
    status, body = post_with_key(aws, {"name": "deploy"}, "k" * 256)
    assert status == 400
    assert body["error"]["code"] == "invalid_idempotency_key"


def test_a_racing_retry_that_loses_takes_back_its_listing_entries(aws, monkeypatch):
    """Two copies of one idempotent request race: both pass the 'already stored?' check, the
    other commits first; the loser (its own created_at) must not leave a second listing entry."""
    store = TraceStore.from_clients(aws.settings, aws.clients)
    winner = make_trace(1)
    loser = winner.model_copy(update={"created_at": winner.created_at + timedelta(milliseconds=3)})
    assert store.write(winner)
    real_get = store.table.get
    calls = {"n": 0}

    def anchor_not_seen_yet(pk, sk, consistent=True):
        calls["n"] += 1
        return None if calls["n"] == 1 else real_get(pk, sk, consistent)

    monkeypatch.setattr(store.table, "get", anchor_not_seen_yet)
    assert store.write(loser) is False
    status, listing = call(aws, "GET", "/api/traces")
    assert [t["id"] for t in listing["traces"]] == [winner.id]
    status, listing = call(aws, "GET", "/api/traces", query={"leaderboard_id": "lb_one", "kind": "inference"})
    assert [t["created_at"] for t in listing["traces"]] == [winner.created_at.isoformat().replace("+00:00", "Z")]
