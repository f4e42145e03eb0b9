"""The per-workspace limit of live API tokens: one counter moved with each issue and revoke
(drgero.identity.credentials). The concurrent race is soaked through HTTP in
tests/localcloud/test_localcloud_soak.py; these pin down the counting rules."""

from __future__ import annotations

import pytest

from drgero.core.errors import ApiError
from drgero.identity import credentials
from drgero.store.keys import api_token_counter_key
from tests.support.aws import table_of
from tests.support.identity import new_workspace


def live_count(table, ws: str) -> int:
    return int(table.get(*api_token_counter_key(ws))["count"])


def test_the_limit_counts_live_tokens_and_a_revoke_frees_one_slot_once(aws):
    table = table_of(aws)
    ws = new_workspace(aws)["workspace_id"]  # holds its owner token
    ids = [credentials.issue_api_token(table, ws, f"t{i}", {"inference"}, max_live=3)[1]["id"] for i in range(2)]
    assert live_count(table, ws) == 3
    with pytest.raises(ApiError) as refused:
        credentials.issue_api_token(table, ws, "one too many", {"inference"}, max_live=3)
    assert refused.value.status == 403 and refused.value.code == "token_limit"
    assert live_count(table, ws) == 3  # a refused create moves nothing

    credentials.revoke_api_token(table, ws, ids[0])
    credentials.revoke_api_token(table, ws, ids[0])  # idempotent: frees nothing more
    assert live_count(table, ws) == 2
    credentials.issue_api_token(table, ws, "fits again", {"inference"}, max_live=3)
    with pytest.raises(ApiError):
        credentials.issue_api_token(table, ws, "full again", {"inference"}, max_live=3)


def test_a_workspace_from_before_the_counter_gets_it_from_a_count(aws):
    table = table_of(aws)
    ws = new_workspace(aws)["workspace_id"]
    credentials.issue_api_token(table, ws, "second", {"inference"})
    table.delete(*api_token_counter_key(ws))  # as a workspace created before the counter existed
    credentials.issue_api_token(table, ws, "third", {"inference"}, max_live=10)
    assert live_count(table, ws) == 3
    with pytest.raises(ApiError):
        credentials.issue_api_token(table, ws, "fourth", {"inference"}, max_live=3)
