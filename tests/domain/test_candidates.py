"""Candidate models on a leaderboard (domain level; the HTTP routes come with the API):
attach with validation, secrets encrypted and never returned, duplicates, limits, tenant
isolation, removal that never leaves the production selection on a removed model."""

from __future__ import annotations

import asyncio
import json

import pytest

from drgero.core.errors import ApiError
from drgero.identity.integrations import put_integration
from drgero.leaderboards import attach as attaching
from drgero.leaderboards import candidates
from drgero.leaderboards.leaderboard import create_leaderboard, get_leaderboard, update_leaderboard
from drgero.providers import ProviderClient, call_model
from drgero.providers.catalog import InMemoryCatalogStore, OpenRouterCatalog
from drgero.providers.validation import validate_target
from drgero.store import keys
from drgero.store.table import MetadataTable
from drgero.workspaces.membership import create_workspace
from localcloud.sandbox.custom import SANDBOX_CUSTOM_SECRET
from tests.support.sandbox import SANDBOX_KEY

KEY = "sk-or-candidates-test"


@pytest.fixture
def env(aws, sandbox):
    table = MetadataTable(aws.clients.dynamodb, aws.settings.aws.table_name)
    settings = aws.settings.model_copy(
        update={
            "providers": aws.settings.providers.model_copy(
                update={"openrouter_base_url": f"{sandbox}/api/v1", "allow_loopback": True}
            )
        }
    )
    ws = create_workspace(table, settings, "", "candidates ws", plan="pro")["id"]
    other = create_workspace(table, settings, "", "other ws", plan="pro")["id"]
    for workspace in (ws, other):  # leaderboard creation needs the OpenRouter integration
        put_integration(settings, aws.clients, workspace, "openrouter", SANDBOX_KEY)
    lb = create_leaderboard(
        table,
        settings,
        ws,
        {"name": "math", "prompt": "Solve {input}", "dataset": {"mode": "GET", "url": "https://hf.co/x.jsonl"}},
        resolve_get_dataset=lambda config, lb_id: {"rows": 10},
    )["id"]

    class Env:
        pass

    e = Env()
    e.table, e.settings, e.clients, e.ws, e.other, e.lb, e.sandbox = (
        table,
        settings,
        aws.clients,
        ws,
        other,
        lb,
        sandbox,
    )
    return e


async def _no_sleep(seconds: float) -> None:
    return None


def attach(env, body, ws=None, lb=None, settings=None):
    client = ProviderClient(env.settings.providers, sleep=_no_sleep)
    catalog = OpenRouterCatalog(client, InMemoryCatalogStore())

    async def validate(target):
        return await validate_target(target, client=client, catalog=catalog, api_key=KEY)

    async def main():
        try:
            return await attaching.attach_model(
                env.table,
                settings or env.settings,
                env.clients,
                ws or env.ws,
                lb or env.lb,
                body,
                validate=validate,
            )
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_attach_openrouter_model(env):
    view = attach(env, {"platform": "openrouter", "model": "sandbox/arithmetic-exact"})
    assert view["platform"] == "openrouter" and view["name"] == "sandbox/arithmetic-exact"
    assert view["config"] == {"platform": "openrouter", "model": "sandbox/arithmetic-exact"}
    leaderboard = get_leaderboard(env.table, env.ws, env.lb)
    assert [m["id"] for m in leaderboard["models"]] == [view["id"]]
    assert [m["id"] for m in candidates.list_models(env.table, env.ws, env.lb)] == [view["id"]]


def test_custom_secret_is_encrypted_never_returned_and_usable(env):
    body = {
        "platform": "custom",
        "name": "my endpoint",
        "url": f"{env.sandbox}/custom/secure/json",
        "auth": {"kind": "bearer", "secret": SANDBOX_CUSTOM_SECRET},
        "response_format": "json",
        "json_path": "result.text",
    }
    view = attach(env, body)
    assert SANDBOX_CUSTOM_SECRET not in json.dumps(view)
    assert view["secret"] == {"configured": True, "hint": "…cret"}
    item = env.table.get(*keys.candidate_key(env.lb, view["id"]))
    stored = json.dumps({k: v for k, v in item.items() if k != "secret_ciphertext"}, default=str)
    assert SANDBOX_CUSTOM_SECRET not in stored
    assert SANDBOX_CUSTOM_SECRET.encode() not in bytes(item["secret_ciphertext"])
    assert SANDBOX_CUSTOM_SECRET not in json.dumps(candidates.list_models(env.table, env.ws, env.lb))

    target, _ = candidates.load_target(env.table, env.settings, env.clients, env.ws, env.lb, view["id"])
    client = ProviderClient(env.settings.providers)
    result = asyncio.run(call_model(target, [{"role": "user", "content": "6 * 7"}], client=client))
    assert result.output == "42"


def test_ciphertext_is_bound_to_its_model(env):
    body = {
        "platform": "huggingface",
        "url": f"{env.sandbox}/hf/private-echo",
        "api": "classic",
        "token": "hf_sandbox_token",
    }
    view = attach(env, body)
    item = env.table.get(*keys.candidate_key(env.lb, view["id"]))
    # Copy the ciphertext onto another model's item: it must not decrypt there.
    second = attach(env, {"platform": "openrouter", "model": "sandbox/echo"})
    other = env.table.get(*keys.candidate_key(env.lb, second["id"]))
    other["secret_ciphertext"] = item["secret_ciphertext"]
    other["config"] = item["config"]
    env.table.put(other)
    with pytest.raises(Exception, match="InvalidCiphertext|AccessDenied|Invalid"):
        candidates.load_target(env.table, env.settings, env.clients, env.ws, env.lb, second["id"])


def test_duplicate_is_refused(env):
    attach(env, {"platform": "openrouter", "model": "sandbox/echo"})
    with pytest.raises(ApiError) as caught:
        attach(env, {"platform": "openrouter", "model": "sandbox/echo", "name": "again"})
    assert (caught.value.status, caught.value.code) == (409, "model_already_attached")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"platform": "openrouter", "model": "sandbox/does-not-exist"}, 400, "unknown_model"),
        ({"platform": "custom", "url": "https://169.254.169.254/latest/meta-data/"}, 400, "unsafe_url"),
        ({"platform": "custom", "url": "PLACEHOLDER/custom/secure/json"}, 400, "endpoint_probe_failed"),
        ({"platform": "custom", "url": "PLACEHOLDER/custom/status/503"}, 400, "endpoint_probe_failed"),
        ({"platform": "drgero", "model_id": "dgm_missing"}, 404, "not_found"),
        ([1, 2], 400, "invalid_request"),
        ({"platform": "mystery"}, 400, "invalid_request"),
        ({"platform": "openrouter", "model": 42}, 400, "invalid_request"),
        ({"platform": "openrouter", "model": "a/b", "name": "x" * 500}, 400, "invalid_request"),
        ({"platform": "custom", "url": "https://x.example", "auth": {"kind": "bearer"}}, 400, "invalid_request"),
    ],
)
def test_invalid_attach(env, body, status, code):
    if isinstance(body, dict) and str(body.get("url", "")).startswith("PLACEHOLDER"):
        body = {**body, "url": body["url"].replace("PLACEHOLDER", env.sandbox)}
    with pytest.raises(ApiError) as caught:
        attach(env, body)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert get_leaderboard(env.table, env.ws, env.lb)["models"] == []


def test_validation_errors_never_echo_secrets(env):
    body = {"platform": "custom", "url": "ftp://nope", "auth": {"kind": "bearer", "secret": "top-secret-value-123"}}
    with pytest.raises(ApiError) as caught:
        attach(env, body)
    assert "top-secret-value-123" not in json.dumps(caught.value.details) + caught.value.message


def test_other_workspace_gets_404(env):
    view = attach(env, {"platform": "openrouter", "model": "sandbox/echo"})
    with pytest.raises(ApiError) as caught:
        attach(env, {"platform": "openrouter", "model": "sandbox/flaky"}, ws=env.other)
    assert caught.value.status == 404
    for action in (
        lambda: candidates.remove_model(env.table, env.other, env.lb, view["id"]),
        lambda: candidates.load_target(env.table, env.settings, env.clients, env.other, env.lb, view["id"]),
        lambda: candidates.list_models(env.table, env.other, env.lb),
    ):
        with pytest.raises(ApiError) as caught:
            action()
        assert caught.value.status == 404


def test_model_limit(env):
    tight = env.settings.model_copy(
        update={"limits": env.settings.limits.model_copy(update={"max_models_per_leaderboard": 1})}
    )
    attach(env, {"platform": "openrouter", "model": "sandbox/echo"}, settings=tight)
    with pytest.raises(ApiError) as caught:
        attach(env, {"platform": "openrouter", "model": "sandbox/flaky"}, settings=tight)
    assert (caught.value.status, caught.value.code) == (409, "model_limit")


def test_remove_and_reattach(env):
    first = attach(env, {"platform": "openrouter", "model": "sandbox/echo"})
    second = attach(env, {"platform": "openrouter", "model": "sandbox/flaky"})
    candidates.remove_model(env.table, env.ws, env.lb, first["id"])
    assert [m["id"] for m in get_leaderboard(env.table, env.ws, env.lb)["models"]] == [second["id"]]
    assert env.table.get(*keys.candidate_key(env.lb, first["id"])) is None
    with pytest.raises(ApiError) as caught:
        candidates.remove_model(env.table, env.ws, env.lb, first["id"])
    assert caught.value.status == 404
    again = attach(env, {"platform": "openrouter", "model": "sandbox/echo"})  # identity was released
    assert again["id"] != first["id"]


def test_production_model_cannot_be_removed(env):
    pinned = attach(env, {"platform": "openrouter", "model": "sandbox/echo"})
    update_leaderboard(env.table, env.ws, env.lb, {"selection": {"strategy": "manual", "model_id": pinned["id"]}})
    with pytest.raises(ApiError) as caught:
        candidates.remove_model(env.table, env.ws, env.lb, pinned["id"])
    assert (caught.value.status, caught.value.code) == (409, "model_in_production")
    assert pinned["id"] in candidates.attached_model_ids(get_leaderboard(env.table, env.ws, env.lb))


def test_selection_pinned_between_read_and_remove_is_still_refused(env, monkeypatch):
    pinned = attach(env, {"platform": "openrouter", "model": "sandbox/echo"})
    real_get = candidates.get_leaderboard
    calls = {"n": 0}

    def racing_get(table, ws, lb):
        item = real_get(table, ws, lb)
        calls["n"] += 1
        if calls["n"] == 1:
            # Someone pins the model right after our read: the transaction condition must catch it.
            update_leaderboard(
                env.table, env.ws, env.lb, {"selection": {"strategy": "manual", "model_id": pinned["id"]}}
            )
        return item

    monkeypatch.setattr(candidates, "get_leaderboard", racing_get)
    with pytest.raises(ApiError) as caught:
        candidates.remove_model(env.table, env.ws, env.lb, pinned["id"])
    assert caught.value.code == "model_in_production"
    assert env.table.get(*keys.candidate_key(env.lb, pinned["id"])) is not None


def test_push_leaderboard_needs_enough_rows_first(env):
    push_lb = create_leaderboard(
        env.table, env.settings, env.ws, {"name": "pushed", "prompt": "{input}", "dataset": {"mode": "PUSH"}}
    )["id"]
    with pytest.raises(ApiError) as caught:
        attach(env, {"platform": "openrouter", "model": "sandbox/echo"}, lb=push_lb)
    assert (caught.value.status, caught.value.code) == (409, "dataset_too_small")


def test_unknown_leaderboard_is_404(env):
    with pytest.raises(ApiError) as caught:
        attach(env, {"platform": "openrouter", "model": "sandbox/echo"}, lb="lb_nope")
    assert caught.value.status == 404


def auto(env, body, ws=None, settings=None):
    client = ProviderClient(env.settings.providers, sleep=_no_sleep)
    catalog = OpenRouterCatalog(client, InMemoryCatalogStore())

    async def main():
        try:
            return await attaching.auto_attach(
                env.table,
                settings or env.settings,
                env.clients,
                ws or env.ws,
                env.lb,
                body,
                catalog=catalog,
                api_key=KEY,
            )
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_openrouter_attach_keeps_the_catalog_price(env):
    view = attach(env, {"platform": "openrouter", "model": "sandbox/arithmetic-exact"})
    assert view["pricing"] == {"input_per_m_usd": 1.0, "output_per_m_usd": 2.0}


def test_auto_attach_adds_picks_with_reasons_and_is_idempotent(env):
    first = auto(env, {"count": 2, "open_source_only": True})
    assert [m["name"] for m in first["models"]] == ["sandbox/arithmetic-exact", "sandbox/coin-flip-half"]
    assert all(not m["already_attached"] and m["auto_select"]["reason"] for m in first["models"])
    assert first["models"][0]["auto_select"]["p95"]["source"] == "estimate_p90_p99"
    again = auto(env, {"count": 2, "open_source_only": True})
    assert [m["id"] for m in again["models"]] == [m["id"] for m in first["models"]]
    assert all(m["already_attached"] for m in again["models"])
    assert len(get_leaderboard(env.table, env.ws, env.lb)["models"]) == 2


def test_auto_attach_respects_the_model_limit_all_or_nothing(env):
    tight = env.settings.model_copy(
        update={"limits": env.settings.limits.model_copy(update={"max_models_per_leaderboard": 2})}
    )
    with pytest.raises(ApiError) as caught:
        auto(env, {"count": 3}, settings=tight)
    assert (caught.value.status, caught.value.code) == (409, "model_limit")
    assert get_leaderboard(env.table, env.ws, env.lb)["models"] == []


@pytest.mark.parametrize("body", [[], {"count": 0}, {"count": 2, "max_p95_latency_ms": "fast"}, {"count": 1, "x": 1}])
def test_auto_attach_bad_bodies(env, body):
    with pytest.raises(ApiError) as caught:
        auto(env, body)
    assert (caught.value.status, caught.value.code) == (400, "invalid_request")


def test_auto_attach_other_workspace_is_404(env):
    with pytest.raises(ApiError) as caught:
        auto(env, {"count": 1}, ws=env.other)
    assert caught.value.status == 404
