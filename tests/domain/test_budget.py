"""Token budgets: atomic reservations under concurrency, settle/release/sweep in every order."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from drgero.core.errors import ApiError
from drgero.identity import budget, credentials
from drgero.identity.principal import Principal, PrincipalKind
from tests.support.identity import new_workspace, use_local_identity


@pytest.fixture
def setup(aws):
    use_local_identity(aws)
    ws = new_workspace(aws, "alpha")
    # No test-side lock: the embedded AWS itself keeps DynamoDB's per-request atomicity
    # (localcloud.moto_atomic), so the threads below race exactly as they would in AWS.
    table = aws.clients.table
    _, record = credentials.issue_api_token(table, ws["workspace_id"], "app", {"inference"}, budget_usd=10.0)
    principal = Principal(
        kind=PrincipalKind.API_TOKEN,
        workspace_id=ws["workspace_id"],
        scopes=frozenset({"inference"}),
        token_id=record["id"],
    )
    return aws, table, ws, principal


def token_state(table, principal):
    item = credentials.get_api_token(table, principal.workspace_id, principal.token_id)
    return item["remaining_micro_usd"], item["reserved_micro_usd"], item["spent_micro_usd"]


def test_100_concurrent_quarter_dollar_reservations_against_ten_dollars(setup):
    aws, table, _, principal = setup

    def attempt(i):
        try:
            return budget.reserve(table, aws.settings, principal, 0.25, purpose=f"call-{i}")
        except ApiError as err:
            assert err.status == 402 and err.code == "budget_exhausted"
            return None

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(attempt, range(100)))
    won = [r for r in results if r is not None]
    assert len(won) == 40
    remaining, reserved, spent = token_state(table, principal)
    assert (remaining, reserved, spent) == (0, 10_000_000, 0)

    # Half of them fail upstream: their reservations are released (concurrently, twice each).
    failed, succeeded = won[:20], won[20:]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda r: budget.release(table, r["id"]), failed + failed))
    assert token_state(table, principal) == (5_000_000, 5_000_000, 0)

    # The others settle at $0.10 each (twice each: settling is idempotent).
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda r: budget.settle(table, r["id"], 0.10), succeeded + succeeded))
    remaining, reserved, spent = token_state(table, principal)
    assert (reserved, spent) == (0, 2_000_000)
    assert remaining == 8_000_000
    assert spent <= 10_000_000

    report = budget.usage_report(table, principal.workspace_id)
    assert report["total_usd"] == pytest.approx(2.0)
    assert report["by_token"][0]["token_id"] == principal.token_id
    assert report["by_token"][0]["calls"] == 20


def test_exhausted_budget_is_402_for_owner_tokens_too(setup):
    aws, table, ws, _ = setup
    owner_token = credentials.get_api_token(table, ws["workspace_id"], ws["token_id"])
    assert "budget_micro_usd" not in owner_token  # the seeded owner token has no budget...
    _, capped = credentials.issue_api_token(table, ws["workspace_id"], "owner-capped", {"admin"}, budget_usd=0.5)
    owner = Principal(PrincipalKind.API_TOKEN, ws["workspace_id"], frozenset({"admin"}), token_id=capped["id"])
    budget.reserve(table, aws.settings, owner, 0.5)
    with pytest.raises(ApiError) as err:
        budget.reserve(table, aws.settings, owner, 0.000001)
    assert err.value.status == 402 and err.value.code == "budget_exhausted"
    assert err.value.details["remaining_usd"] == 0


def test_unestimable_cost_reserves_the_configured_maximum_never_zero(setup):
    aws, table, _, principal = setup
    resv = budget.reserve(table, aws.settings, principal, None)
    assert resv["amount_usd"] == aws.settings.auth.budget_unestimated_reserve_usd
    for bad in (float("nan"), float("inf"), -1.0):
        assert budget.reserve_amount_micro(aws.settings, bad) == 1_000_000
    assert budget.reserve_amount_micro(aws.settings, 0.0) == 1  # a free estimate still holds a micro-dollar


def test_retrying_a_reservation_with_the_same_id_holds_once(setup):
    aws, table, _, principal = setup
    first = budget.reserve(table, aws.settings, principal, 1.0, reservation_id="resv_fixed")
    again = budget.reserve(table, aws.settings, principal, 1.0, reservation_id="resv_fixed")
    assert first["id"] == again["id"]
    assert token_state(table, principal) == (9_000_000, 1_000_000, 0)


def test_settle_after_release_charges_nothing_and_release_after_settle_is_a_no_op(setup):
    aws, table, _, principal = setup
    a = budget.reserve(table, aws.settings, principal, 1.0)
    budget.release(table, a["id"])
    assert budget.settle(table, a["id"], 0.5)["state"] == "closed"
    b = budget.reserve(table, aws.settings, principal, 1.0)
    budget.settle(table, b["id"], 0.4)
    assert budget.release(table, b["id"])["state"] == "closed"
    assert token_state(table, principal) == (9_600_000, 0, 400_000)


def test_releasing_an_id_that_never_held_anything_is_a_no_op(setup):
    aws, table, _, principal = setup
    never = budget.new_reservation_id(aws.settings, principal, 1.0)
    assert budget.release(table, never)["state"] == "closed"
    assert token_state(table, principal) == (10_000_000, 0, 0)


def test_actual_cost_above_the_hold_is_charged_in_full(setup):
    aws, table, _, principal = setup
    r = budget.reserve(table, aws.settings, principal, 9.0)
    budget.settle(table, r["id"], 10.5)
    remaining, reserved, spent = token_state(table, principal)
    assert (remaining, reserved, spent) == (-500_000, 0, 10_500_000)
    with pytest.raises(ApiError):
        budget.reserve(table, aws.settings, principal, 0.01)


def test_sweep_releases_stale_holds_and_a_late_settle_still_charges_once(setup):
    """Nothing proves a stale hold's call reached a model: the sweeper refunds it, never
    charges it. A caller that comes back late settles its actual cost exactly once."""
    aws, table, _, principal = setup
    late_settled = budget.reserve(table, aws.settings, principal, 2.0, now=1_000.0)
    late_released = budget.reserve(table, aws.settings, principal, 1.0, now=1_000.0)
    fresh = budget.reserve(table, aws.settings, principal, 0.5)
    swept = aws.functions.invoke("SweeperFunction", {"job": "reservation_sweep"})
    assert swept["swept"] == 2 and swept["done"] is True
    assert token_state(table, principal) == (9_500_000, 500_000, 0)
    assert aws.functions.invoke("SweeperFunction", {"job": "reservation_sweep"})["swept"] == 0  # idempotent
    budget.settle(table, late_settled["id"], 0.25)  # the caller came back after all
    budget.settle(table, late_settled["id"], 0.25)  # ... twice
    budget.release(table, late_released["id"])
    assert token_state(table, principal) == (9_250_000, 500_000, 250_000)
    budget.settle(table, fresh["id"], 0.5)
    report = budget.usage_report(table, principal.workspace_id)
    assert report["total_usd"] == pytest.approx(0.75)
    assert sum(r["calls"] for r in report["by_month"]) == 2


def test_the_sweeper_drops_accounts_that_hold_nothing_from_its_index(setup):
    aws, table, _, principal = setup
    r = budget.reserve(table, aws.settings, principal, 1.0)
    assert table.get(*_account(principal)).get("gsi1pk", "").startswith("HOLDS#")
    budget.settle(table, r["id"], 0.1)
    aws.functions.invoke("SweeperFunction", {"job": "reservation_sweep"})
    assert "gsi1pk" not in table.get(*_account(principal))
    again = budget.reserve(table, aws.settings, principal, 1.0)  # back in the index with its hold
    assert table.get(*_account(principal))["gsi1pk"].startswith("HOLDS#")
    budget.release(table, again["id"])


def _account(principal):
    from drgero.store.keys import api_token_key

    return api_token_key(principal.workspace_id, principal.token_id)


def test_unknown_sweeper_job_is_an_error(aws):
    with pytest.raises(ValueError, match="unknown sweeper job"):
        aws.functions.invoke("SweeperFunction", {"job": "nope"})


def test_session_spend_is_recorded_under_sessions(setup):
    aws, table, ws, _ = setup
    user = Principal(PrincipalKind.USER, ws["workspace_id"], frozenset({"runs:write"}), user_id=ws["owner"])
    r = budget.reserve(table, aws.settings, user, 1.0, run_id="run_1")
    budget.settle(table, r["id"], 0.3)
    report = budget.usage_report(table, ws["workspace_id"])
    assert report["by_token"] == [{"token_id": budget.SESSION_SPEND, "name": "", "spent_usd": 0.3, "calls": 1}]
    assert report["total_usd"] == pytest.approx(0.3)


def test_revoked_token_cannot_reserve(setup):
    aws, table, _, principal = setup
    credentials.revoke_api_token(table, principal.workspace_id, principal.token_id)
    with pytest.raises(ApiError) as err:
        budget.reserve(table, aws.settings, principal, 0.1)
    assert err.value.status == 401


def test_a_deleted_token_cannot_reserve(setup):
    aws, table, _, principal = setup
    table.delete(*_account(principal))
    with pytest.raises(ApiError) as err:
        budget.reserve(table, aws.settings, principal, 0.1)
    assert err.value.status == 401
    assert table.get(*_account(principal)) is None  # nothing re-created


def test_a_token_issued_before_the_hold_maps_gets_them_on_its_first_call(setup):
    aws, table, _, principal = setup
    table.update(*_account(principal), "REMOVE holds, swept, spent_by_month, calls_by_month")
    r = budget.reserve(table, aws.settings, principal, 1.0)
    budget.settle(table, r["id"], 0.2)
    assert token_state(table, principal) == (9_800_000, 0, 200_000)
