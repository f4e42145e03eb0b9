"""Routes the dashboard needs beyond the contract's: a PUSH dataset's rows (paged preview,
deletion), dataset-token revocation and validate-only dataset URLs (docs/dashboard.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import ConfigDict, Field

from drgero.api.deps import CurrentClients, CurrentSettings, LeaderboardsWriter, require_leaderboard_scope
from drgero.core.errors import ApiError, not_found
from drgero.core.validation import StrictModel
from drgero.datasets.status import push_leaderboard
from drgero.identity.principal import Principal, Scope

router = APIRouter(tags=["datasets"])

# Dataset (hpd_) tokens push rows; reading or deleting them is for people and API tokens.
RowsReader = Annotated[Principal, require_leaderboard_scope(Scope.LEADERBOARDS_READ, allow_dataset_token=False)]
RowsWriter = Annotated[Principal, require_leaderboard_scope(Scope.LEADERBOARDS_WRITE, allow_dataset_token=False)]
TokenId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
MAX_PAGE = 100
MAX_DELETE = 100


class RowsDelete(StrictModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"row_ids": ["row-1"]}]})
    row_ids: list[Annotated[str, Field(min_length=1, max_length=512)]] = Field(min_length=1, max_length=MAX_DELETE)


class UrlValidate(StrictModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"url": "https://huggingface.co/datasets/acme/qa/blob/main/test.jsonl"}]},
    )
    url: str = Field(min_length=1, max_length=2048)


@router.get("/api/leaderboards/{id}/dataset/rows", summary="A page of a PUSH dataset's rows (pending, then current)")
def dataset_rows(
    id: str,
    principal: RowsReader,
    settings: CurrentSettings,
    clients: CurrentClients,
    cursor: Annotated[str | None, Query(max_length=12, pattern=r"^[0-9]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
) -> dict:
    from drgero.datasets import erasure

    push_leaderboard(clients.table, principal.workspace_id, id)
    return erasure.preview(settings, clients, id, int(cursor or 0), limit)


@router.post(
    "/api/leaderboards/{id}/dataset/rows/delete",
    summary="Delete rows by id: gone from pending batches and from the next dataset version",
)
def delete_dataset_rows(
    id: str, body: RowsDelete, principal: RowsWriter, settings: CurrentSettings, clients: CurrentClients
) -> dict:
    # A POST with the ids in the body: row ids are free text (and may be personal data), which
    # has no place in a URL or an access log.
    from drgero.datasets import erasure

    push_leaderboard(clients.table, principal.workspace_id, id)
    return erasure.delete_rows(settings, clients, id, body.row_ids)


@router.delete(
    "/api/leaderboards/{id}/dataset/tokens/{token_id}", status_code=204, summary="Revoke a dataset (hpd_) token"
)
def revoke_dataset_token(id: str, token_id: TokenId, principal: RowsWriter, clients: CurrentClients) -> Response:
    from drgero.identity.credentials import revoke_dataset_token as revoke

    push_leaderboard(clients.table, principal.workspace_id, id)
    if not revoke(clients.table, id, token_id):
        raise not_found("Dataset token")
    return Response(status_code=204)


@router.post("/api/datasets/validate", summary="Validate a Hugging Face dataset URL (reads no rows, stores nothing)")
def validate_dataset_url(
    body: UrlValidate, principal: LeaderboardsWriter, settings: CurrentSettings, clients: CurrentClients
) -> dict:
    """Always 200: ``{"valid": true, repo, revision, commit, path, size_bytes}``, or ``{"valid":
    false, "code", "message", "retryable"}`` with the code creating the leaderboard would answer
    (``retryable``: Hugging Face itself did not answer, the URL may be fine)."""
    from drgero.datasets import hf

    try:
        return hf.validate_url(settings, clients, principal.workspace_id, body.url)
    except ApiError as exc:
        return {"valid": False, "code": exc.code, "message": exc.message, "retryable": exc.status >= 500}
