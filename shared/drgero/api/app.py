"""Builds the FastAPI app: routers, and errors mapped to the contract's error shape."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from drgero.api.dashboard import document_dashboard_routes
from drgero.api.deps import request_id_of
from drgero.api.lazy_routers import LazyRouters, LazyRoutersMiddleware
from drgero.api.openapi_errors import document_errors
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError, error_body
from drgero.core.settings import Settings
from drgero.core.validation import field_errors

logger = logging.getLogger(__name__)

# Each area of the API is one router module, listed with the paths it serves in
# drgero.api.lazy_routers.ROUTERS (add new ones there): imported when first used.


def _document_push_route(schema: dict) -> None:
    from drgero.api.routers.datasets import document_push_route  # with its router, not at import

    document_push_route(schema)


def _document_inference_routes(schema: dict) -> None:
    # Its models (the inference request's among them) load with the document, not at import.
    from drgero.api.inference_openapi import document_inference_routes

    document_inference_routes(schema)


# Routes served by dedicated functions (push_ingest, inference) never reach this app; each
# entry here adds its paths to the OpenAPI document: fn(schema) -> None, mutating it.
OPENAPI_EXTENSIONS = [_document_push_route]
OPENAPI_EXTENSIONS += [_document_inference_routes]  # inference function's two routes
OPENAPI_EXTENSIONS += [document_dashboard_routes]  # answered by the api function before FastAPI
OPENAPI_EXTENSIONS += [document_errors]  # last: every operation's real error answers


def create_app(settings: Settings, clients: AwsClients, *, lazy: bool = False) -> FastAPI:
    """The app. ``lazy``: routers are imported when a request first needs them (the api
    function's cold start, drgero.api.lazy_routers); otherwise all of them now."""
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
    routers = LazyRouters(app)
    app.state.routers = routers
    if not lazy:
        routers.load_all()
    _install_error_handlers(app)
    _install_openapi_extensions(app, routers)
    # Inside InternalErrorMiddleware (added later, so outside): a router that fails to load is
    # a 500 in the error shape too.
    app.add_middleware(LazyRoutersMiddleware, routers=routers)
    app.add_middleware(InternalErrorMiddleware)
    return app


class InternalErrorMiddleware:
    """An unexpected exception answers 500 ``internal_error`` in the one error shape, with the
    request id to quote; the traceback goes to the log, never to the caller. (Starlette's own
    last-resort handler answers plain text "Internal Server Error".) Pure ASGI, so it costs
    nothing on requests that succeed."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:  # noqa: BLE001 - the last resort: every unexpected failure becomes a 500 body
            request_id = request_id_of(Request(scope))
            logger.exception("unhandled error", extra={"request_id": request_id, "path": scope.get("path")})
            if started:
                raise  # the status line is gone: nothing valid can be sent any more
            body = json.dumps(
                error_body("internal_error", "The service failed to answer; retry later.", request_id, status=500)
            ).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})


def _install_openapi_extensions(app: FastAPI, routers: LazyRouters) -> None:
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            routers.load_all()  # the document describes every route
            schema = build()
            for extend in OPENAPI_EXTENSIONS:
                extend(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(request_id_of(request)), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's locations start with where the value was ("body"); the contract's do not.
        errors = (
            {"loc": [p for p in err.get("loc", ()) if p != "body"], "msg": err.get("msg")} for err in exc.errors()
        )
        details = field_errors(errors)
        body = error_body("invalid_request", "The request is not valid.", request_id_of(request), details, status=400)
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        message = "No such route." if exc.status_code == 404 else str(exc.detail)
        body = error_body(code, message, request_id_of(request), status=exc.status_code)
        return JSONResponse(body, status_code=exc.status_code)
