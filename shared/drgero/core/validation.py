"""Request bodies: the strict base models, and pydantic errors as the contract's 400.

Every body the API accepts is a pydantic model that refuses unknown fields
(:class:`StrictModel`; :class:`FrozenModel` when the value is also immutable, e.g. a provider
target passed around as a value). A body that does not validate becomes ONE kind of error:
``ApiError(400, code, message, details)`` with one ``{"field", "error"}`` entry per problem
(:func:`invalid`, or :func:`parse` which also refuses a body that is not a JSON object).

Each surface keeps its own ``code`` and ``message`` ("The leaderboard is not valid.",
``invalid_schedule``...): the contract and the tests name them, so they are parameters here.

Details carry pydantic's location and message only, never its ``input``: the input can be a
secret (an endpoint token, an API key). For the same reason the ApiError is raised ``from
None``: pydantic's own error text, which quotes the input, is not chained into tracebacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from drgero.core.errors import ApiError

NOT_AN_OBJECT = "The request body must be a JSON object."


class StrictModel(BaseModel):
    """A request model: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class FrozenModel(StrictModel):
    """A strict model whose instances are immutable (and hashable) values."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def field_errors(errors: Iterable[Mapping[str, Any]], *, prefix: tuple[str, ...] = (), empty: str = "") -> list[dict]:
    """``[{"field": "a.b.0", "error": msg}]`` from pydantic's (or FastAPI's) error list.

    ``prefix``: where the validated value sits in the request (``("schedule",)``);
    ``empty``: the field name when the error is about the whole value (no location)."""
    return [
        {"field": ".".join(str(part) for part in (*prefix, *error["loc"])) or empty, "error": error["msg"]}
        for error in errors
    ]


def invalid(
    exc: ValidationError,
    message: str,
    *,
    code: str = "invalid_request",
    prefix: tuple[str, ...] = (),
    empty: str = "",
) -> ApiError:
    """The 400 for a body that failed validation (see :func:`field_errors`)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    return ApiError(400, code, message, field_errors(errors, prefix=prefix, empty=empty))


def parse(
    schema: type[BaseModel] | TypeAdapter[Any],
    body: Any,
    message: str,
    *,
    code: str = "invalid_request",
    not_an_object: str = NOT_AN_OBJECT,
    empty: str = "",
) -> Any:
    """``body`` validated into ``schema`` (a model or a TypeAdapter, e.g. a discriminated
    union); 400 ``code`` when it is not a JSON object or does not validate."""
    if not isinstance(body, dict):
        raise ApiError(400, code, not_an_object)
    try:
        if isinstance(schema, TypeAdapter):
            return schema.validate_python(body)
        return schema.model_validate(body)
    except ValidationError as exc:
        raise invalid(exc, message, code=code, empty=empty) from None
