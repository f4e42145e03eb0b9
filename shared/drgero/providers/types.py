"""What a provider call targets, and what it returns.

A ``ModelTarget`` is the per-platform configuration of one candidate model (pydantic, so it
is validated at every boundary; discriminated by ``platform``). Secrets live in ``SecretStr``
fields: their repr/str/model_dump(mode="json") never show the value; the call layer reads
them with ``get_secret_value()`` only when it builds headers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from drgero.core.validation import FrozenModel

Platform = Literal["openrouter", "custom", "huggingface", "drgero"]
CostSource = Literal["provider", "pricing", "unknown"]

# author/slug, optionally ":variant" (e.g. ":free"); the same charset OpenRouter ids use.
OPENROUTER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]*/[A-Za-z0-9][A-Za-z0-9._\-]*(:[A-Za-z0-9._\-]+)?$"
# A dotted path into a JSON answer: "output", "data.text", "choices[0].message.content".
JSON_PATH_PATTERN = (
    r"^\$?\.?[A-Za-z0-9_\-]+(\[\d+\])*(\.[A-Za-z0-9_\-]+(\[\d+\])*)*$|^\$?(\[\d+\])+(\.[A-Za-z0-9_\-]+(\[\d+\])*)*$"
)
HEADER_NAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~\-]{1,100}$"
MAX_URL_LENGTH = 2048


class Pricing(FrozenModel):
    """USD per million tokens, used when the provider does not report the cost itself."""

    input_per_m_usd: float = Field(ge=0, le=10_000)
    output_per_m_usd: float = Field(ge=0, le=10_000)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_m_usd + completion_tokens * self.output_per_m_usd) / 1_000_000


class EndpointAuth(FrozenModel):
    """How a user endpoint authenticates: nothing, ``Authorization: Bearer``, or a named header."""

    kind: Literal["none", "bearer", "header"] = "none"
    header_name: str | None = Field(default=None, pattern=HEADER_NAME_PATTERN)
    secret: SecretStr | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def _consistent(self) -> EndpointAuth:
        if self.kind == "none" and self.secret is not None:
            raise ValueError("auth kind 'none' takes no secret")
        if self.kind in ("bearer", "header") and not (self.secret and self.secret.get_secret_value()):
            raise ValueError(f"auth kind {self.kind!r} needs a secret")
        if self.kind == "header" and not self.header_name:
            raise ValueError("auth kind 'header' needs header_name")
        if self.kind != "header" and self.header_name:
            raise ValueError("header_name is only used with auth kind 'header'")
        if self.header_name and self.header_name.lower() in {"host", "content-length", "content-type"}:
            raise ValueError(f"header_name {self.header_name!r} is reserved")
        return self

    def headers(self) -> dict[str, str]:
        if self.kind == "bearer" and self.secret:
            return {"Authorization": f"Bearer {self.secret.get_secret_value()}"}
        if self.kind == "header" and self.secret and self.header_name:
            return {self.header_name: self.secret.get_secret_value()}
        return {}

    def secrets(self) -> list[str]:
        return [self.secret.get_secret_value()] if self.secret else []


class _UrlTarget(FrozenModel):
    url: str = Field(min_length=8, max_length=MAX_URL_LENGTH)
    # The OpenAI chat parameters the endpoint honours, declared at attach
    # (drgero.providers.capabilities); unknown names are refused.
    supported_parameters: list[str] | None = Field(default=None, max_length=20)

    @field_validator("supported_parameters")
    @classmethod
    def _known_parameters(cls, value: list[str] | None) -> list[str] | None:
        from drgero.providers.capabilities import KNOWN_PARAMETERS

        if value is None:
            return None
        unknown = sorted(set(value) - KNOWN_PARAMETERS)
        if unknown:
            raise ValueError(f"unknown supported_parameters {unknown}; known: {sorted(KNOWN_PARAMETERS)}")
        return sorted(set(value))

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        # Syntax only here; the SSRF guard vets the address when the URL is used.
        if not value.lower().startswith(("https://", "http://")):
            raise ValueError("url must start with https:// (or http:// where allowed)")
        return value


class OpenRouterTarget(FrozenModel):
    platform: Literal["openrouter"] = "openrouter"
    model: str = Field(min_length=3, max_length=200, pattern=OPENROUTER_ID_PATTERN)

    @property
    def display_name(self) -> str:
        return self.model


class CustomTarget(_UrlTarget):
    """Any endpoint taking a POST.

    request_format "openai" sends a chat-completions body (model, messages, max_tokens,
    temperature); "input" sends ``{"input": <last user message>, "messages": [...]}``.
    response_format "openai" reads ``choices[0].message.content``; "json" reads ``json_path``;
    "text" takes the whole body.
    """

    platform: Literal["custom"] = "custom"
    auth: EndpointAuth = EndpointAuth()
    request_format: Literal["openai", "input"] | None = None
    response_format: Literal["openai", "json", "text"] = "openai"
    json_path: str | None = Field(default=None, max_length=200, pattern=JSON_PATH_PATTERN)
    model: str | None = Field(default=None, max_length=200)
    pricing: Pricing | None = None

    @model_validator(mode="after")
    def _path_with_json(self) -> CustomTarget:
        if self.response_format == "json" and not self.json_path:
            raise ValueError("response_format 'json' needs json_path (e.g. 'output' or 'data.text')")
        if self.response_format != "json" and self.json_path:
            raise ValueError("json_path is only used with response_format 'json'")
        return self

    @property
    def effective_request_format(self) -> str:
        return self.request_format or ("openai" if self.response_format == "openai" else "input")

    @property
    def display_name(self) -> str:
        return self.model or self.url


class HuggingFaceTarget(_UrlTarget):
    """A Hugging Face inference endpoint.

    api "openai": a TGI endpoint's ``/v1/chat/completions`` (appended to ``url`` unless already
    there). api "classic": POST ``{"inputs": …}`` to ``url``, answer ``[{"generated_text": …}]``.
    """

    platform: Literal["huggingface"] = "huggingface"
    api: Literal["openai", "classic"] = "openai"
    token: SecretStr | None = Field(default=None, max_length=4096)
    model: str | None = Field(default=None, max_length=200)
    pricing: Pricing | None = None

    @property
    def request_url(self) -> str:
        if self.api == "classic" or self.url.rstrip("/").endswith("/v1/chat/completions"):
            return self.url
        return self.url.rstrip("/") + "/v1/chat/completions"

    @property
    def display_name(self) -> str:
        return self.model or self.url


class DrGeroTarget(_UrlTarget):
    """A workspace's Dr.Gero model (``/api/models``): an OpenAI-compatible endpoint we call."""

    platform: Literal["drgero"] = "drgero"
    model_id: str = Field(min_length=1, max_length=100)
    model: str | None = Field(default=None, max_length=200)
    auth: EndpointAuth = EndpointAuth()
    pricing: Pricing | None = None

    @property
    def display_name(self) -> str:
        return self.model or self.model_id


ModelTarget = Annotated[
    OpenRouterTarget | CustomTarget | HuggingFaceTarget | DrGeroTarget,
    Field(discriminator="platform"),
]


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class CallResult(BaseModel):
    """One successful model call. ``raw`` is the provider's answer with every secret redacted."""

    output: str
    raw: Any = None
    usage: Usage = Usage()
    cost_usd: float | None = None
    cost_source: CostSource = "unknown"
    latency_ms: float
    request_id: str | None = None
    model: str | None = None
    platform: Platform
    attempts: int = 1


ChatMessage = dict[str, Any]
