"""/api/integrations: the workspace's OpenRouter and Hugging Face keys (admin).

Stored KMS-encrypted, shown masked; validation asks the provider. Keys never appear in a
response, a log line or an error message.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from drgero.api.deps import CurrentClients, CurrentSettings, get_principal
from drgero.core.errors import ApiError
from drgero.core.validation import TextModel
from drgero.identity import integrations
from drgero.identity.access import require_admin
from drgero.identity.principal import Principal

router = APIRouter(tags=["integrations"])

Provider = Annotated[str, Path(min_length=1, max_length=40)]


def _admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    require_admin(principal)
    return principal


Admin = Annotated[Principal, Depends(_admin)]


KEY_PATTERN = r"^[\x21-\x7e]+$"


class KeyIn(TextModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"api_key": "sk-or-v1-example-key-0000"}]}
    )
    # Sent as an HTTP header to the provider: visible ASCII only (anything else cannot be a key).
    api_key: str = Field(min_length=1, max_length=integrations.MAX_KEY_CHARS, pattern=KEY_PATTERN)

    def __repr__(self) -> str:  # never print the key (tracebacks, debug logs)
        return "KeyIn(api_key=***)"


class ValidateIn(TextModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"provider": "openrouter"}]})
    provider: Literal["openrouter", "huggingface"]
    api_key: str | None = Field(default=None, min_length=1, max_length=integrations.MAX_KEY_CHARS, pattern=KEY_PATTERN)

    def __repr__(self) -> str:
        return f"ValidateIn(provider={self.provider!r}, api_key=***)"


@router.put("/api/integrations/{provider}", summary="Store a provider key (encrypted; shown masked)")
def put_integration(
    provider: Provider, body: KeyIn, principal: Admin, settings: CurrentSettings, clients: CurrentClients
):
    return integrations.put_integration(
        settings,
        clients,
        principal.workspace_id,
        provider,
        body.api_key,
        updated_by=principal.user_id or principal.token_id,
    )


@router.get("/api/integrations/{provider}", summary="Read a provider integration (masked)")
def get_integration(provider: Provider, principal: Admin, settings: CurrentSettings, clients: CurrentClients):
    return integrations.get_integration(settings, clients, principal.workspace_id, provider)


@router.delete("/api/integrations/{provider}", status_code=204, summary="Remove a provider key")
def delete_integration(provider: Provider, principal: Admin, settings: CurrentSettings, clients: CurrentClients):
    if not integrations.delete_integration(settings, clients, principal.workspace_id, provider):
        raise ApiError(404, "not_found", f"No {provider} integration is configured.")
    return Response(status_code=204)


@router.post("/api/integrations/validate", summary="Check a given key, or the stored one, against the provider")
async def validate(body: ValidateIn, principal: Admin, settings: CurrentSettings, clients: CurrentClients):
    key = body.api_key
    if key is None:
        key = await run_in_threadpool(
            integrations.get_integration_key, settings, clients, principal.workspace_id, body.provider
        )
        if key is None:
            raise ApiError(
                409,
                "integration_required",
                f"No {body.provider} key is stored; send api_key, "
                f"or store one with PUT /api/integrations/{body.provider}.",
                {"provider": body.provider},
            )
    result = await run_in_threadpool(integrations.validate_key, settings, body.provider, key)
    return {"provider": body.provider, **result}
