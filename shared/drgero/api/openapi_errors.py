"""The OpenAPI document tells the truth about errors.

FastAPI documents a 422 with its own ``HTTPValidationError`` on every operation that takes
input, which this API never sends (invalid input is a 400 in the contract's error shape), and
documents none of the errors the API does send. :func:`document_errors` runs last on the
generated document (an entry of ``OPENAPI_EXTENSIONS``) and:

- drops FastAPI's default 422 (a 422 an operation documents itself, like the push webhook's
  ``idempotency_key_reused``, stays) and its two schemas;
- gives every operation the error answers it can really get, each with the shared
  ``ErrorResponse`` schema (what it already documents is kept):

  ===== ==============================================================================
  400   every operation: bad body, parameter or header (``X-Workspace-Id`` included)
  401   every authenticated operation: no, bad, expired or revoked credential
  403   every authenticated operation: scope, role, plan, dataset-token confinement
  404   every authenticated operation: another workspace's resource, or its id
  409   every operation that changes something (POST, PUT, PATCH, DELETE)
  413   every operation with a body (API Gateway's payload limit at least)
  429   every authenticated operation: the stage's throttle (gateway response THROTTLED)
  500   every operation: ``internal_error`` (the body names the request id to quote)
  ===== ==============================================================================

  plus 402 and 502 where a provider is called or a budget charged (:data:`PROVIDER_CALLS`);
- moves JSON Schema ``$defs`` left inside operations (a pydantic schema pasted as
  ``openapi_extra``) into ``components/schemas`` so every ``$ref`` resolves.
"""

from __future__ import annotations

import re
from typing import Any

ERROR_SCHEMA = "ErrorResponse"
_METHODS = {"get", "put", "post", "delete", "patch"}
_CHANGES = {"put", "post", "delete", "patch"}
PUBLIC = {("get", "/v1/health"), ("get", "/openapi.json"), ("get", "/api/auth/config")}
# Operations that call a model provider or charge a budget: 402 (budget or provider credit)
# and 502 (the provider failed) are real answers there.
PROVIDER_CALLS = re.compile(
    r"^(post (/v1/leaderboard/\{id\}/inference|/v1/chat/completions|/api/leaderboards/\{id\}/runs"
    r"|/api/leaderboards/\{id\}/models(/auto-select)?|/api/models|/api/integrations/validate"
    r"|/api/models/\{id\}/fine-tunes)|patch /api/models/\{id\})$"
)

_DESCRIPTIONS = {
    "400": "Invalid request: the body, a parameter or a header (details per field).",
    "401": "Missing, invalid, expired or revoked credential.",
    "402": "Budget exhausted, or the provider account has no credit left.",
    "403": "The credential may not do this (scope, role, plan or dataset-token confinement).",
    "404": "No such resource in this workspace (another workspace's resources are 404 too).",
    "409": "Conflicts with the resource's current state.",
    "413": "The request body is larger than the documented limit.",
    "429": "Rate or quota limit reached (Retry-After when a retry can succeed).",
    "500": "Internal error; quote the request_id.",
    "502": "The model provider failed.",
}


def error_schema() -> dict[str, Any]:
    """The contract's one error body (docs/api.md, api-contract.md)."""
    nullable_string = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    return {
        "title": ERROR_SCHEMA,
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "snake_case error code (docs/api.md)"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": nullable_string,
                    "details": {"description": "extra facts about the error (per-field problems, limits, ...)"},
                    "request_id": nullable_string,
                },
            }
        },
    }


def document_errors(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _hoist_defs(schema, components)
    components[ERROR_SCHEMA] = error_schema()
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in _METHODS:
                _document_operation(method, path, operation)
    used = repr(schema.get("paths"))
    for name in ("HTTPValidationError", "ValidationError"):
        if f"/{name}'" not in used:
            components.pop(name, None)


def statuses_for(method: str, path: str, has_body: bool) -> list[str]:
    if (method, path) in PUBLIC:
        return ["500"]
    found = ["400", "401", "403", "404", "429", "500"]
    if method in _CHANGES:
        found.append("409")
    if has_body:
        found.append("413")
    if PROVIDER_CALLS.match(f"{method} {path}"):
        found += ["402", "502"]
    return sorted(found)


def _document_operation(method: str, path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    default_422 = responses.get("422", {})
    if "HTTPValidationError" in repr(default_422):
        del responses["422"]
    ref = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
    for status in statuses_for(method, path, "requestBody" in operation):
        if status not in responses:
            responses[status] = {"description": _DESCRIPTIONS[status], "content": {"application/json": {"schema": ref}}}
    for status, response in responses.items():
        # An error documented loosely ({"type": "object"}) gets the shared schema too.
        content = response.get("content", {}).get("application/json")
        if status[0] in "45" and content is not None and content.get("schema") in (None, {}, {"type": "object"}):
            content["schema"] = ref


def _hoist_defs(node: Any, components: dict[str, Any]) -> None:
    """``$defs`` anywhere under ``node`` -> components/schemas; their refs rewritten."""
    if isinstance(node, dict):
        defs = node.pop("$defs", None)
        if isinstance(defs, dict):
            for name, definition in defs.items():
                components.setdefault(name, definition)
                _hoist_defs(definition, components)
        for key, value in list(node.items()):
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                node[key] = "#/components/schemas/" + value.removeprefix("#/$defs/")
            else:
                _hoist_defs(value, components)
    elif isinstance(node, list):
        for value in node:
            _hoist_defs(value, components)
