"""GET /v1/health: no auth, answers while the function can run."""

from __future__ import annotations

from fastapi import APIRouter

from drgero.api.deps import CurrentSettings

router = APIRouter(tags=["health"])


@router.get("/v1/health", summary="Liveness check (no authentication)")
def health(settings: CurrentSettings) -> dict:
    return {"status": "ok", "version": settings.api.version}
