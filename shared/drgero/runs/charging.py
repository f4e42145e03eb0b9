"""Charging a run to the API token that started it, or that set the leaderboard's schedule.

Per run, not per shard (the documented choice): ONE reservation of the run's worst-case cost
when it starts (402 ``budget_exhausted`` before anything is created when it does not fit), so a
token's budget is checked once, atomically, before any call; the run then never stops half-way
for money, and a run cannot outspend its budget by more than its own estimate was wrong. When
the run's paid calls are over (it ends, or a human run starts waiting for reviewers) the
reservation is settled to the known cost of its finished shards, candidates and judge alike; a
call of unknown cost settles at $0 (and shows ``null``). A run that made no paid call (it
failed at set-up, or was cancelled while queued) releases the hold instead. The reservation id
is derived from the run id, so every step is idempotent under retries; a run longer than
``auth.budget_reservation_ttl_seconds`` is charged its hold by the reservation sweep meanwhile,
and the final settle corrects it (identity.budget).

Worst case: every (row x model) call at its price with ``runs.candidate_max_tokens`` (else
``runs.budget_output_tokens``) output tokens and the rendered prompt's UTF-8 length as input
tokens (no tokenizer yields more tokens than bytes); a judge adds one call per (row x model)
with the output in its input. A model (or judge) without a known price cannot be bounded: it
adds ``auth.budget_unestimated_reserve_usd``, as an unestimated inference call does (a cost is
never assumed free); what it really costs is settled at the end (an unknown cost at $0).

Who pays: the API token that started the run; for a scheduled run, the token that set the
schedule (the leaderboard's ``schedule_token_id``): revoked, expired or out of budget, the run is
recorded ``failed`` with that reason and the schedule pauses (drgero.runs.fanout). User sessions
have no budget: their runs, and the schedules they set, are not charged.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.evaluation.judge import JudgeOptions
from drgero.identity import budget
from drgero.identity.credentials import get_api_token
from drgero.identity.principal import Principal, PrincipalKind
from drgero.leaderboards.prompt import render_prompt
from drgero.store.keys import SHARD_PREFIX, run_pk
from drgero.store.table import MetadataTable

logger = logging.getLogger("drgero.runs")
MESSAGE_OVERHEAD_TOKENS = 16  # chat framing per call, as inference counts it
JUDGE_TEMPLATE_TOKENS = 600  # the judge's instructions around task, answer and rubric


def reservation_id_of(run_id: str) -> str:
    return f"resv_{run_id}"


def charged(principal: Principal | None) -> bool:
    return principal is not None and principal.kind is PrincipalKind.API_TOKEN and bool(principal.token_id)


def has_token_record(table: MetadataTable, principal: Principal) -> bool:
    """Tokens are never deleted (a revoked one keeps its record, and reserve() answers 401 for
    it): a principal without a record was never issued a token, so there is nothing to charge."""
    return get_api_token(table, principal.workspace_id, principal.token_id) is not None


def schedule_principal(table: MetadataTable, leaderboard: dict[str, Any]) -> Principal | None:
    """Who pays for a scheduled run: the API token that set the schedule (None: a user session
    set it, not charged). Revoked or expired: 401 ``token_revoked`` / ``token_expired``, so the
    scheduled run fails with that reason and the schedule pauses (drgero.runs.fanout)."""
    token_id = leaderboard.get("schedule_token_id")
    if not token_id:
        return None
    item = get_api_token(table, leaderboard["workspace_id"], token_id)
    if item is None:
        return None
    if item.get("revoked"):
        raise ApiError(401, "token_revoked", f"The API token that set this schedule ({token_id}) has been revoked.")
    expires = item.get("token_expires_at")
    if expires is not None and time.time() >= float(expires):
        raise ApiError(401, "token_expired", f"The API token that set this schedule ({token_id}) has expired.")
    return Principal(
        PrincipalKind.API_TOKEN, leaderboard["workspace_id"], frozenset(item.get("scopes") or []), token_id=token_id
    )


def _price(item: dict[str, Any]) -> Any:
    from drgero.providers.types import Pricing  # Cold start: only when a budgeted token starts a run.

    try:
        return Pricing.model_validate(item["pricing"]) if isinstance(item.get("pricing"), dict) else None
    except ValueError:
        return None


def worst_case_cost(
    settings: Settings,
    prompt: str,
    rows: list[bytes],
    model_items: list[dict[str, Any]],
    options: Any,
    judge_item: dict[str, Any] | None = None,
) -> float:
    """The most the run can cost, in dollars (see the module docstring)."""
    output_tokens = settings.runs.candidate_max_tokens or settings.runs.budget_output_tokens
    input_tokens = 0
    for line in rows:
        row = json.loads(line)
        input_tokens += (
            len(render_prompt(prompt, str(row.get("input") or "")).encode("utf-8")) + MESSAGE_OVERHEAD_TOKENS
        )
    total = 0.0
    for item in model_items:
        pricing = _price(item)
        if pricing is None:  # never free: as inference, hold the configured unestimated amount
            total += settings.auth.budget_unestimated_reserve_usd
        else:
            total += pricing.cost(input_tokens, output_tokens * len(rows))
    if isinstance(options, JudgeOptions):
        judge_pricing = _price(judge_item) if judge_item else None
        if judge_pricing is None:
            total += settings.auth.budget_unestimated_reserve_usd
        else:
            # Per model: each row's task + the candidate's answer (at most output_tokens) + the
            # row's JSON (bounds expected and rubric) + the judge's template, per attempt.
            row_bytes = sum(len(line) for line in rows)
            judge_input = input_tokens + row_bytes + len(rows) * (JUDGE_TEMPLATE_TOKENS + output_tokens)
            calls = len(model_items) * options.max_attempts
            total += calls * judge_pricing.cost(judge_input, output_tokens * len(rows))
    return total


def reserve_run(
    table: MetadataTable, settings: Settings, principal: Principal, run_id: str, leaderboard_id: str, cost: float
) -> dict[str, Any]:
    """Holds the run's worst case; 402 ``budget_exhausted`` (or 401 for a revoked token)."""
    return budget.reserve(
        table,
        settings,
        principal,
        cost,
        run_id=run_id,
        purpose=f"run:{leaderboard_id}",
        reservation_id=reservation_id_of(run_id),
    )


def known_cost(table: MetadataTable, run_id: str) -> float:
    """The known cost of the run's finished shards: candidate calls plus judge calls."""
    total = 0.0
    for shard in table.query_all(run_pk(run_id), SHARD_PREFIX, consistent=True):
        evaluated = shard.get("evaluated_stats") or {}
        total += float(shard.get("cost_usd") or evaluated.get("cost_usd") or 0.0)
        total += float(shard.get("judge_cost_usd") or 0.0)
    return round(total, 9)


def close_run_charge(table: MetadataTable, run: dict[str, Any]) -> None:
    """Settles (or, with nothing spent, releases) the run's reservation. Idempotent; a run
    without one (a user session started it) does nothing. Never raises: the run's outcome
    matters more. A hold the reservation sweep released meanwhile (a run longer than
    ``auth.budget_reservation_ttl_seconds``) is still settled here, once (drgero.identity.budget)."""
    reservation_id = run.get("reservation_id")
    if not reservation_id:
        return
    try:
        cost = known_cost(table, run["id"])
        if cost > 0:
            budget.settle(table, reservation_id, cost)
        else:
            budget.release(table, reservation_id)
    except ApiError as exc:
        logger.warning("run charge not closed", extra={"run_id": run["id"], "code": exc.code})
    except Exception:  # noqa: BLE001 - the run must still end; the sweep releases the open hold
        logger.exception("run charge not closed; the reservation sweep will release it", extra={"run_id": run["id"]})
