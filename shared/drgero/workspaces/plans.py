"""Workspace plans: what the plan allows, checked by the areas that create or delete things.

Plans come from configuration (``[plans]``): ``free`` caps the number of leaderboards
(``plans.free_max_leaderboards``) and locks leaderboard deletion unless
``plans.free_can_delete_leaderboards``; ``pro`` caps at ``plans.pro_max_leaderboards``
(0 = no cap). An unknown plan name is treated as ``free`` (the safe side).

There is no self-service upgrade: an operator changes a workspace's plan (``drgero plan set``,
:func:`set_plan`), so a plan-limit error says exactly that (and names ``plans.upgrade_contact``
when the deployment configures one) instead of pointing at a route that does not exist.
Admins read their plan, its limits and their usage with :func:`billing`
(``GET /api/workspaces/{ws}/billing``).

For an exact cap under concurrent creates, put :func:`leaderboard_slot_op` into the
transaction that writes the leaderboard (and :func:`leaderboard_release_op` into the one that
deletes it): the workspace's ``leaderboard_count`` then moves under a condition.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from drgero.core import clock
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.store.keys import workspace_key
from drgero.store.table import Condition, MetadataTable, is_conditional_failure
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


def can_delete_leaderboards(settings: Settings, plan: str) -> bool:
    return plan != "free" or settings.plans.free_can_delete_leaderboards


def limits(settings: Settings, plan: str) -> dict:
    """What ``plan`` allows: ``max_leaderboards`` (None: no cap) and ``can_delete_leaderboards``."""
    return {
        "max_leaderboards": max_leaderboards(settings, plan),
        "can_delete_leaderboards": can_delete_leaderboards(settings, plan),
    }


def how_to_change(settings: Settings, workspace_id: str) -> str:
    """The one true way to another plan: an operator runs the plan command (or the contact the
    deployment names does it for you). Said in every plan-limit error and in the billing view."""
    command = f"drgero plan set --workspace {workspace_id} --plan pro"
    contact = settings.plans.upgrade_contact.strip()
    if contact:
        return f"To change the plan, contact {contact} (an operator runs `{command}`)."
    return f"To change the plan, ask the operator of this Dr.Gero deployment to run `{command}`."


def _limit_error(settings: Settings, workspace_id: str, plan: str, cap: int) -> ApiError:
    delete = (
        " Delete a leaderboard to free a slot, or change the plan." if can_delete_leaderboards(settings, plan) else ""
    )
    return ApiError(
        403,
        "plan_limit",
        f"The {plan} plan allows {cap} leaderboard(s).{delete} {how_to_change(settings, workspace_id)}",
        {"plan": plan, "max_leaderboards": cap},
    )


def check_can_create_leaderboard(
    table: MetadataTable, settings: Settings, workspace_id: str, current_count: int
) -> None:
    """403 ``plan_limit`` when the workspace already has as many leaderboards as its plan allows."""
    plan = plan_of(table, settings, workspace_id)
    cap = max_leaderboards(settings, plan)
    if cap is not None and current_count >= cap:
        raise _limit_error(settings, workspace_id, plan, cap)


def check_can_delete_leaderboard(table: MetadataTable, settings: Settings, workspace_id: str) -> None:
    """403 ``plan_limit`` on the free plan, where deletion is locked."""
    plan = plan_of(table, settings, workspace_id)
    if not can_delete_leaderboards(settings, plan):
        raise ApiError(
            403,
            "plan_limit",
            f"Deleting leaderboards is not part of the {plan} plan. {how_to_change(settings, workspace_id)}",
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
    return _limit_error(settings, workspace_id, plan, max_leaderboards(settings, plan) or 0)


def set_plan(table: MetadataTable, workspace_id: str, plan: str) -> dict:
    """An operator's plan change (``drgero plan set``): ``{"workspace_id", "plan", "previous_plan"}``.

    ValueError for a plan that is not one of :data:`PLANS` or a workspace that does not exist.
    Only the plan moves: leaderboards beyond a lower cap stay (creating more is refused until the
    workspace is under the cap again), and the slot counter keeps counting what exists."""
    if plan not in PLANS:
        raise ValueError(f"unknown plan {plan!r}: choose one of {', '.join(PLANS)}")
    try:
        old = table.update(
            *workspace_key(workspace_id),
            "SET #plan = :plan, plan_changed_at = :now",
            {"#plan": "plan"},
            {":plan": plan, ":now": clock.iso()},
            condition=Condition("attribute_exists(pk)"),
            return_values="UPDATED_OLD",
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            raise ValueError(f"no workspace {workspace_id!r} in this table") from exc
        raise
    return {"workspace_id": workspace_id, "plan": plan, "previous_plan": (old or {}).get("plan") or ""}


def billing(table: MetadataTable, settings: Settings, workspace_id: str, leaderboards: int) -> dict:
    """``GET /api/workspaces/{ws}/billing``: the plan, what it allows, the usage it is measured
    against (``leaderboards``: how many the workspace has now) and how to change it."""
    plan = plan_of(table, settings, workspace_id)
    allowed = limits(settings, plan)
    cap = allowed["max_leaderboards"]
    return {
        "workspace_id": workspace_id,
        "plan": plan,
        "plans": list(PLANS),
        "limits": allowed,
        "usage": {
            "leaderboards": leaderboards,
            "leaderboards_remaining": None if cap is None else max(0, cap - leaderboards),
        },
        "how_to_change": how_to_change(settings, workspace_id),
    }
