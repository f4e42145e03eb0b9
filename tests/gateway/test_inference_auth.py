"""The inference routes authorize inside the inference function (no authorizer hop: the
template gives them ``Auth: {Authorizer: NONE}``; docs/performance.md, "authorizer hop"),
through the emulated API Gateway: the same credential decisions and error bodies as on every
route behind the authorizer, and a revoked token refused within ``auth.token_cache_seconds``
(the function's own token cache, driven here by an injected clock: no sleeps)."""

from __future__ import annotations

import pytest

from drgero.identity import tokens
from drgero.identity.credentials import issue_api_token
from tests.support.identity import new_workspace
from tests.support.inference import World, make_world


@pytest.fixture
def world(aws, sandbox) -> World:
    # The shipped default (samplecfg.toml), said here: the revocation test depends on it.
    w = make_world(aws, sandbox, DRGERO_AUTH__TOKEN_CACHE_SECONDS="10")
    w.leaderboard()
    w.attach_toy("sandbox/echo", "echo")
    w.select("echo")
    return w


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(world, monkeypatch) -> FakeClock:
    """The inference function's authorizer clock (its token cache and expiry checks)."""
    authorizer = world.aws.functions.module("InferenceFunction").authorizer
    fake = FakeClock(1_900_000_000.0)
    monkeypatch.setattr(authorizer, "clock", fake)
    authorizer.cache.clear()
    return fake


def chat_body(world: World) -> dict:
    return {"model": f"leaderboard/{world.leaderboard_id}", "messages": [{"role": "user", "content": "hi"}]}


def both_routes(world: World, token, **kw) -> list:
    return [world.infer({"input": "hi"}, token=token, **kw), world.chat(chat_body(world), token=token, **kw)]


def test_the_authorizer_function_is_not_invoked_on_the_inference_routes(world, monkeypatch):
    invoked: list[str] = []
    real = world.aws.functions.invoke

    def recording(function, event, streaming=False):
        invoked.append(function)
        return real(function, event, streaming=streaming)

    monkeypatch.setattr(world.aws.functions, "invoke", recording)
    for answer in both_routes(world, world.token):
        assert answer.status == 200, answer.json
    assert invoked == ["InferenceFunction", "InferenceFunction"]
    assert world.api.get("/api/tokens", world.token).status == 200
    assert invoked[2:] == ["AuthorizerFunction", "ApiFunction"]  # other routes keep the hop


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, "unauthorized"),
        ("", "invalid_token"),  # "Bearer " with nothing after it
        ("sk-not-ours", "invalid_token"),
        ("drgero_" + "x" * 40, "invalid_token"),  # our shape, bad checksum: no database read
    ],
)
def test_missing_or_bad_credentials_are_401_in_the_gateways_error_shape(world, token, code):
    elsewhere = world.api.get("/api/tokens", token)  # the same credential on an authorized route
    assert (elsewhere.status, elsewhere.error_code) == (401, code)
    for answer in both_routes(world, token):
        assert answer.status == 401, answer.json
        error = answer.json["error"]
        assert error["code"] == code and error["type"] == "authentication_error"
        assert error["message"] == elsewhere.json["error"]["message"]
        assert error["request_id"] == answer.headers["x-request-id"]


def test_unknown_and_revoked_tokens_are_401(world):
    unknown = tokens.generate("drgero")  # a valid shape and checksum, never issued
    assert [(a.status, a.error_code) for a in both_routes(world, unknown)] == [(401, "invalid_token")] * 2
    other = new_workspace(world.aws)
    assert world.api.delete(f"/api/tokens/{other['token_id']}", other["token"]).status in (200, 204)
    assert [(a.status, a.error_code) for a in both_routes(world, other["token"])] == [(401, "token_revoked")] * 2


def test_a_revoked_token_stops_working_at_once_and_leaves_the_cache_within_its_bound(world, clock):
    module = world.aws.functions.module("InferenceFunction")
    ttl = module.settings.auth.token_cache_seconds
    assert ttl == 10

    def cached_as_revoked() -> bool:
        (record,) = [value for _at, value in module.authorizer.cache._items.values() if value.token_id == token_id]
        return record.revoked

    secret, record = issue_api_token(world.table, world.workspace_id, "app", ["inference"])
    token_id = record["id"]
    assert all(answer.status == 200 for answer in both_routes(world, secret))  # looked up, cached at t0
    revoked = world.api.delete(f"/api/tokens/{token_id}", world.token)
    assert revoked.status in (200, 204), revoked.json
    clock.now += ttl - 1
    # Within the bound the cached lookup still says "live", but the call's budget hold is a
    # conditional write on the token's own item (drgero.identity.budget): refused at once.
    for answer in both_routes(world, secret):
        assert (answer.status, answer.error_code) == (401, "token_revoked")
    assert not cached_as_revoked()
    clock.now += 1  # the bound reached: looked up again, refused before any other work
    for answer in both_routes(world, secret):
        assert (answer.status, answer.error_code) == (401, "token_revoked")
    assert cached_as_revoked()


def test_an_expired_token_is_refused_even_while_cached(world, clock):
    secret, _ = issue_api_token(world.table, world.workspace_id, "app", ["inference"], expires_at=clock.now + 2)
    assert world.infer({"input": "hi"}, token=secret).status == 200
    clock.now += 2  # expiry is checked against the clock on every call, cached or not
    for answer in both_routes(world, secret):
        assert (answer.status, answer.error_code) == (401, "token_expired")


def test_scopes_dataset_tokens_and_tenancy_are_decided_as_before(world):
    no_scope, _ = issue_api_token(world.table, world.workspace_id, "reader", ["leaderboards:read"])
    assert [a.status for a in both_routes(world, no_scope)] == [403, 403]
    hpd = world.dataset_token()  # push-only: refused, even for its own leaderboard
    assert [a.status for a in both_routes(world, hpd)] == [403, 403]
    stranger = new_workspace(world.aws)
    # Another workspace's API token, and its owner's session: the leaderboard does not exist for them.
    assert [a.status for a in both_routes(world, stranger["token"])] == [404, 404]
    assert world.infer({"input": "hi"}, token=stranger["jwt"]).status == 404


def test_the_functions_log_line_names_the_caller(world, caplog):
    # API Gateway's access log has no authorizer context on these routes: the function says who.
    caplog.set_level("INFO")
    assert world.infer({"input": "hi"}).status == 200
    assert world.infer({"input": "hi"}, token="drgero_" + "x" * 40).status == 401
    served = [r for r in caplog.records if r.getMessage() == "inference served"]
    refused = [r for r in caplog.records if r.getMessage() == "inference refused"]
    assert served[-1].credential_id == world.token_id and served[-1].workspace_id == world.workspace_id
    assert served[-1].credential_kind == "api_token"
    assert refused[-1].code == "invalid_token" and not hasattr(refused[-1], "credential_id")
    assert world.token not in repr([r.__dict__ for r in caplog.records])  # never the secret
