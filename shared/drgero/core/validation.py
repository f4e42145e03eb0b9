"""Request bodies: the strict base models, and pydantic errors as the contract's 400.

Every body the API accepts is a pydantic model that refuses unknown fields
(:class:`StrictModel`; :class:`FrozenModel` when the value is also immutable, e.g. a provider
target passed around as a value). A body that does not validate becomes ONE kind of error:
``ApiError(400, code, message, details)`` with one ``{"field", "error"}`` entry per problem
(:func:`invalid`, or :func:`parse` which also refuses a body that is not a JSON object).

Each surface keeps its own ``code`` and ``message`` ("The leaderboard is not valid.",
``invalid_schedule``...): the contract and the tests name them, so they are parameters here.

Text: ONE rule for control characters in every text field of every request (:data:`Text` for
a single field, :class:`TextModel` - the base of every request model, StrictModel included - for
every field of a model, nested strings of lists and objects too; pushed rows use
:func:`control_character` directly). C0 control characters (NUL included) and DEL are refused,
tab, newline and carriage return kept: the others are almost always corruption (binary pasted
into a text field) and break tokenizers, terminals and CSV exports, so a field holding one is a
400 naming the code point rather than silently stripped. Lone UTF-16 surrogates (JSON
``"\ud800"``) cannot be stored as UTF-8 and are refused the same way.

Details carry pydantic's location and message only, never its ``input``: the input can be a
secret (an endpoint token, an API key). For the same reason the ApiError is raised ``from
None``: pydantic's own error text, which quotes the input, is not chained into tracebacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, TypeAdapter, ValidationError, field_validator

from drgero.core.errors import ApiError

NOT_AN_OBJECT = "The request body must be a JSON object."


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def control_character(text: str) -> str | None:
    """The first refused character of ``text`` as ``U+XXXX``, or None when it is clean."""
    bad = _CONTROL.search(text)
    return f"U+{ord(bad.group()):04X}" if bad else None


def check_text(value: str) -> str:
    """``value`` unchanged, or ValueError naming its first control character."""
    bad = control_character(value)
    if bad:
        raise ValueError(f"contains the control character {bad} (only tab, newline and carriage return are allowed)")
    return value


def check_texts(value: Any) -> Any:
    """:func:`check_text` on every string inside ``value`` (lists, objects and their keys, models)."""
    if isinstance(value, str):
        return check_text(value)
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_texts(key)
            check_texts(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            check_texts(item)
    elif isinstance(value, BaseModel):
        check_texts(dict(value))
    return value


# A text field under the rule (for a field of a model that is not a TextModel, or a TypeAdapter).
Text = Annotated[str, AfterValidator(check_text)]


class TextModel(BaseModel):
    """The base of every request model: the control-character rule on every field, whatever
    its type (free JSON such as ``metadata`` included). No configuration of its own."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        return check_texts(value)


class StrictModel(TextModel):
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
