"""Builds the FastAPI app: routers, and errors mapped to the contract's error shape."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from drgero.aws import AwsClients
from drgero.errors import ApiError, error_body
from drgero.settings import Settings
from drgero.web.deps import request_id_of
from drgero.web.routers import health

# Each area of the API is one router module; add new ones here.
ROUTERS = [health.router]


def create_app(settings: Settings, clients: AwsClients) -> FastAPI:
    app = FastAPI(
        title="Dr.Gero API",
        version=settings.api.version,
        description="Find the best LLM for your task, then serve it. Contract v1.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clients = clients
    for router in ROUTERS:
        app.include_router(router)
    _install_error_handlers(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(request_id_of(request)), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"), "error": err.get("msg")}
            for err in exc.errors()
        ]
        body = error_body("invalid_request", "The request is not valid.", request_id_of(request), details)
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        message = "No such route." if exc.status_code == 404 else str(exc.detail)
        return JSONResponse(error_body(code, message, request_id_of(request)), status_code=exc.status_code)
