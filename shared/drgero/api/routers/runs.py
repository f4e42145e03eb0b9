"""Runs, ranking, selection and human review routes (docs/runs.md).

Scopes: ``runs:write`` to start, cancel and grade; ``leaderboards:read`` to read;
``leaderboards:write`` to change the selection; ``admin`` to close a review early.
Another workspace's leaderboard or run is a 404.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from drgero.api.deps import (
    CurrentClients,
    CurrentSettings,
    CurrentTable,
    LeaderboardsReader,
    LeaderboardsWriter,
    RunsWriter,
)
from drgero.leaderboards.leaderboard import Selection, get_leaderboard
from drgero.runs import records
from drgero.runs.eligibility import annotate, missing_of
from drgero.runs.review import ReviewSubmission, list_review, submit_grades
from drgero.runs.selection import latest_completed_run, production_model, set_selection
from drgero.runs.start import StartRunBody
from drgero.runs.start import start_run as start

router = APIRouter(tags=["runs"])


@router.post("/api/leaderboards/{id}/runs", status_code=202, summary="Start a run")
def start_run(
    id: str,
    principal: RunsWriter,
    settings: CurrentSettings,
    clients: CurrentClients,
    body: StartRunBody | None = None,
) -> JSONResponse:
    run = start(
        settings,
        clients,
        principal.workspace_id,
        id,
        body,
        "manual",
        started_by=principal.user_id or principal.token_id,
        principal=principal,
    )
    return JSONResponse(
        {
            "run_id": run["id"],
            "id": run["id"],
            "status": run["status"],
            "estimated_seconds": run["estimated_seconds"],
            "estimated_range_seconds": run["estimated_range_seconds"],
        },
        status_code=202,
    )


@router.get("/api/leaderboards/{id}/runs", summary="Run history of a leaderboard, newest first")
def list_runs(
    id: str,
    principal: LeaderboardsReader,
    settings: CurrentSettings,
    table: CurrentTable,
    limit: int = Query(default=0, ge=0, le=200),
    cursor: str | None = Query(default=None, max_length=200),
) -> dict:
    return records.run_history(table, principal.workspace_id, id, limit or settings.runs.history_page_default, cursor)


@router.get("/api/leaderboards/{id}/ranking", summary="Current ranking and production model")
def ranking(id: str, principal: LeaderboardsReader, table: CurrentTable) -> dict:
    leaderboard = get_leaderboard(table, principal.workspace_id, id)
    latest = latest_completed_run(table, id)
    ranking = records.named_ranking(latest) if latest else None
    return {
        "leaderboard_id": id,
        "run_id": latest["id"] if latest else None,
        "finished_at": latest.get("finished_at") if latest else None,
        # Each row says whether it may be production (the leaderboard's required capabilities).
        "rows": annotate((ranking or {}).get("rows", []), missing_of(table, leaderboard)),
        "required_capabilities": leaderboard.get("required_capabilities") or [],
        "winner_model_id": (ranking or {}).get("winner_model_id"),
        "winner_significant": (ranking or {}).get("winner_significant"),
        "verdict": (ranking or {}).get("verdict"),
        "selection": leaderboard.get("selection") or {"strategy": "ranking_winner"},
        "production": production_model(leaderboard),
        "active_run_id": leaderboard.get("active_run_id"),
    }


@router.get(
    "/api/leaderboards/{id}/production-history",
    summary="Every change of the production model: when, from, to, and the run or pin that made it",
)
def production_history(id: str, principal: LeaderboardsReader, table: CurrentTable) -> dict:
    from drgero.runs.production_history import history

    return history(table, principal.workspace_id, id)


@router.put("/api/leaderboards/{id}/selection", summary="Choose how the production model is selected")
def put_selection(id: str, principal: LeaderboardsWriter, table: CurrentTable, body: Selection) -> dict:
    return set_selection(table, principal.workspace_id, id, body)


@router.get("/api/runs/{run_id}", summary="A run record")
def get_run(run_id: str, principal: LeaderboardsReader, table: CurrentTable) -> dict:
    return records.public_run(records.get_run_for(table, principal.workspace_id, run_id))


@router.post("/api/runs/{run_id}/cancel", status_code=202, summary="Cancel a run")
def cancel(run_id: str, principal: RunsWriter, settings: CurrentSettings, clients: CurrentClients) -> dict:
    # Cold start: cancelling is rare; runs.cancel stays off the api function's import.
    from drgero.runs.cancel import cancel_run

    return records.public_run(cancel_run(settings, clients, principal.workspace_id, run_id), include_configs=False)


@router.get("/api/runs/{run_id}/results", summary="Per-row results of a run, paged and filtered")
def results(
    run_id: str,
    principal: LeaderboardsReader,
    settings: CurrentSettings,
    clients: CurrentClients,
    limit: int = Query(default=0, ge=0, le=500, description="Rows per page (0: runs.results_page_default)."),
    cursor: str | None = Query(default=None, max_length=20, description="next_cursor of the previous page."),
    model_id: str | None = Query(default=None, max_length=100, description="Only this model's results."),
    outcome: Literal["pass", "fail", "error"] | None = Query(default=None, description="Rows with this outcome."),
    disagreement: bool = Query(default=False, description="Rows where some models pass and others fail."),
    winner_lost: bool = Query(default=False, description="Rows the winner failed and another model passed."),
) -> dict:
    # Cold start: results reading loads with the first results request, not with the api function.
    from drgero.runs.results import ResultsFilter, results_page

    wanted = ResultsFilter(model_id=model_id, outcome=outcome, disagreement=disagreement, winner_lost=winner_lost)
    return results_page(
        settings, clients, principal.workspace_id, run_id, wanted, limit or settings.runs.results_page_default, cursor
    )


_EXPORT_STARTED = {
    "description": "Accepted: the export is being written off the request path (started now, or earlier by "
    "another request). Poll the same URL after the Retry-After header's seconds; it answers 200 when the file "
    "is ready.",
    "headers": {"Retry-After": {"description": "Seconds to wait before polling.", "schema": {"type": "integer"}}},
    "content": {
        "application/json": {
            "example": {
                "status": "pending",
                "run_id": "run_01jd3k9a2b4c6d8e0f2g4h6j8k",
                "format": "csv",
                "attempts": 0,
                "retry_after_seconds": 2,
                "poll": {"method": "GET", "path": "/api/runs/run_01jd3k9a2b4c6d8e0f2g4h6j8k/results/export?format=csv"},
                "message": "The export is being written. Request the same URL again after retry_after_seconds.",
            }
        }
    },
}


@router.get(
    "/api/runs/{run_id}/results/export",
    summary="The whole results table (JSONL or CSV): written by an export job, then a short-lived download URL",
    responses={
        202: _EXPORT_STARTED,
        303: {"description": "See Other: the file is ready; the Location header is the presigned download URL."},
    },
)
def export(
    run_id: str,
    principal: LeaderboardsReader,
    settings: CurrentSettings,
    clients: CurrentClients,
    format: Literal["jsonl", "csv"] = Query(default="jsonl"),
    redirect: bool = Query(default=True, description="false: answer 200 with the URL instead of a 303."),
    retry: bool = Query(default=False, description="true: start a failed export again."),
) -> JSONResponse:
    """Answers at once: the file of the run as it is now when it is written (303, or 200 with
    ``redirect=false``), else 202 while the export job writes it (started by the first request,
    exactly once). A run still running, or graded since, is a new export."""
    from drgero.runs.export_jobs import request_export  # Cold start: as in results.

    answer = request_export(settings, clients, principal.workspace_id, run_id, format, retry=retry)
    if answer.status_code != 200 or not redirect:
        return JSONResponse(answer.body, status_code=answer.status_code, headers=answer.headers)
    return JSONResponse(answer.body, status_code=303, headers={"Location": answer.body["url"]})


@router.get("/api/runs/{run_id}/compare/{other_run_id}", summary="Compare two runs of a leaderboard, row by row")
def compare(
    run_id: str,
    other_run_id: str,
    principal: LeaderboardsReader,
    settings: CurrentSettings,
    clients: CurrentClients,
    model_id: str | None = Query(default=None, max_length=100, description="Only this model's changed rows."),
    change: Literal["regressed", "improved"] | None = Query(default=None, description="Only this kind of change."),
    limit: int = Query(default=0, ge=0, le=500, description="Changed rows per page (0: runs.results_page_default)."),
    cursor: str | None = Query(default=None, max_length=20, description="next_cursor of the previous page."),
) -> dict:
    from drgero.runs.compare import compare_runs  # Cold start: as in results.

    return compare_runs(
        settings,
        clients,
        principal.workspace_id,
        run_id,
        other_run_id,
        model_id=model_id,
        change=change,
        limit=limit or settings.runs.results_page_default,
        cursor=cursor,
    )


@router.get("/api/runs/{run_id}/reviews", summary="Human review items of a run (blind by default)")
def list_reviews(
    run_id: str,
    principal: LeaderboardsReader,
    settings: CurrentSettings,
    clients: CurrentClients,
    page: int = Query(default=0, ge=0, le=10_000_000),
) -> dict:
    return list_review(settings, clients, principal.workspace_id, run_id, page)


@router.post("/api/runs/{run_id}/reviews", summary="Submit grades (admins may close the review)")
def submit_reviews(
    run_id: str,
    principal: RunsWriter,
    settings: CurrentSettings,
    clients: CurrentClients,
    body: ReviewSubmission,
) -> dict:
    return submit_grades(settings, clients, principal, run_id, body)
