"""Changing a token's budget while reservations move its counters: remaining always ends as
budget - spent - reserved, whichever way the race goes (drgero.identity.credentials.change_budget)."""

from __future__ import annotations

import pytest

from drgero.identity import credentials
from drgero.store.keys import api_token_key
from tests.support.aws import table_of
from tests.support.identity import new_workspace


def reserve_one_dollar_after_the_first_read(monkeypatch, table, ws, token_id):
    """A reservation that lands between change_budget's read and its write."""
    real = credentials.get_api_token
    calls = {"n": 0}

    def racing(table_, ws_, id_):
        item = real(table_, ws_, id_)
        calls["n"] += 1
        if calls["n"] == 1:
            expression = "SET reserved_micro_usd = reserved_micro_usd + :a"
            if "budget_micro_usd" in item:
                expression += ", remaining_micro_usd = remaining_micro_usd - :a"
            table.update(*api_token_key(ws, token_id), expression, None, {":a": 1_000_000})
        return item

    monkeypatch.setattr(credentials, "get_api_token", racing)
    return calls


@pytest.mark.parametrize("start_budget", [5.0, None])
def test_a_reservation_racing_a_budget_change_is_not_lost(aws, monkeypatch, start_budget):
    table = table_of(aws)
    ws = new_workspace(aws)["workspace_id"]
    _, record = credentials.issue_api_token(table, ws, "app", {"inference"}, budget_usd=start_budget)
    calls = reserve_one_dollar_after_the_first_read(monkeypatch, table, ws, record["id"])
    changed = credentials.change_budget(table, ws, record["id"], 10.0)
    assert (changed["budget_usd"], changed["reserved_usd"], changed["remaining_usd"]) == (10.0, 1.0, 9.0)
    # A budgeted token needs no retry (the condition is on the budget); an unbudgeted one retried once.
    assert calls["n"] == (2 if start_budget is not None else 3)
