"""Workspace plans: what the plan allows, checked by the areas that create or delete things.

Plans come from configuration (``[plans]``): ``free`` caps the number of leaderboards
(``plans.free_max_leaderboards``) and locks leaderboard deletion unless
``plans.free_can_delete_leaderboards``; ``pro`` caps at ``plans.pro_max_leaderboards``
(0 = no cap). An unknown plan name is treated as ``free`` (the safe side).

For an exact cap under concurrent creates, put :func:`leaderboard_slot_op` into the
transaction that writes the leaderboard (and :func:`leaderboard_release_op` into the one that
deletes it): the workspace's ``leaderboard_count`` then moves under a condition.
"""

from __future__ import annotations

from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.store.keys import workspace_key
from drgero.store.table import Condition, MetadataTable
from drgero.workspaces.membership import get_workspace

PLANS = ("free", "pro")


def plan_of(table: MetadataTable, settings: Settings, workspace_id: str) -> str:
    plan = (get_workspace(table, workspace_id) or {}).get("plan") or settings.plans.default_plan
    return plan if plan in PLANS else "free"


def max_leaderboards(settings: Settings, plan: str) -> int | None:
    """None: no cap."""
    if plan == "pro":
        return settings.plans.pro_max_leaderboards or None
    return settings.plans.free_max_leaderboards


def _limit_error(plan: str, cap: int) -> ApiError:
    return ApiError(
        403,
        "plan_limit",
        f"The {plan} plan allows {cap} leaderboard(s); delete one or upgrade the plan to create more.",
        {"plan": plan, "max_leaderboards": cap},
    )


def check_can_create_leaderboard(
    table: MetadataTable, settings: Settings, workspace_id: str, current_count: int
) -> None:
    """403 ``plan_limit`` when the workspace already has as many leaderboards as its plan allows."""
    plan = plan_of(table, settings, workspace_id)
    cap = max_leaderboards(settings, plan)
    if cap is not None and current_count >= cap:
        raise _limit_error(plan, cap)


def check_can_delete_leaderboard(table: MetadataTable, settings: Settings, workspace_id: str) -> None:
    """403 ``plan_limit`` on the free plan, where deletion is locked."""
    plan = plan_of(table, settings, workspace_id)
    if plan == "free" and not settings.plans.free_can_delete_leaderboards:
        raise ApiError(
            403,
            "plan_limit",
            "Deleting leaderboards is not part of the free plan; upgrade the plan to delete one.",
            {"plan": plan},
        )


def leaderboard_slot_op(table: MetadataTable, settings: Settings, workspace_id: str) -> dict:
    """A transaction operation that takes one leaderboard slot, atomically within the cap.
    When the transaction fails on this operation's condition, answer :func:`slot_error`."""
    cap = max_leaderboards(settings, plan_of(table, settings, workspace_id))
    op: dict = {
        "update": workspace_key(workspace_id),
        "expression": "SET leaderboard_count = if_not_exists(leaderboard_count, :zero) + :one",
        "values": {":zero": 0, ":one": 1},
        "condition": Condition("attribute_exists(pk)"),
    }
    if cap is not None:
        op["condition"] = Condition(
            "attribute_exists(pk) AND (attribute_not_exists(leaderboard_count) OR leaderboard_count < :cap)",
            values={":cap": cap},
        )
    return op


def leaderboard_release_op(workspace_id: str) -> dict:
    return {
        "update": workspace_key(workspace_id),
        "expression": "SET leaderboard_count = leaderboard_count - :one",
        "values": {":one": 1},
        "condition": Condition("leaderboard_count > :zero", values={":zero": 0}),
    }


def slot_error(table: MetadataTable, settings: Settings, workspace_id: str) -> ApiError:
    plan = plan_of(table, settings, workspace_id)
    return _limit_error(plan, max_leaderboards(settings, plan) or 0)
