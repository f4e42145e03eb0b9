"""Provider credentials of a workspace (OpenRouter, Hugging Face).

Each key is sealed with KMS (:mod:`drgero.core.secrets`) under the encryption context
``{"workspace_id": ws, "provider": provider, "purpose": "integration"}``: a ciphertext copied
into another workspace's item does not decrypt. Only the ciphertext and a masked hint are
stored (``WS#{ws}`` / ``INTEGRATION#{provider}``); reads show the hint; the plaintext leaves
this module only through :func:`get_integration_key` to the code that calls the provider.

Validation calls the provider's own "who am I" endpoint through the configured base URLs
(``providers.openrouter_base_url`` + ``/key``, ``providers.huggingface_endpoint`` +
``/api/whoami-v2``) and reports ``valid`` / ``invalid`` / ``unreachable``.
"""

from __future__ import annotations

import time
from typing import Any

from drgero.core import secrets
from drgero.core.aws import AwsClients
from drgero.core.clock import iso_epoch
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.store.keys import integration_key

PROVIDERS = ("openrouter", "huggingface")
MIN_KEY_CHARS = 8
MAX_KEY_CHARS = 512


def secret_context(workspace_id: str, provider: str) -> dict[str, str]:
    """The KMS encryption context of a workspace's provider key."""
    return {"workspace_id": workspace_id, "provider": provider, "purpose": "integration"}


def check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise ApiError(404, "not_found", f"Unknown integration '{provider[:40]}'; use one of {', '.join(PROVIDERS)}.")


def check_api_key(api_key: str) -> str:
    key = api_key.strip()
    if not (MIN_KEY_CHARS <= len(key) <= MAX_KEY_CHARS) or any(c.isspace() or not c.isprintable() for c in key):
        raise ApiError(
            400,
            "invalid_request",
            f"The API key must be {MIN_KEY_CHARS}-{MAX_KEY_CHARS} printable characters without spaces.",
        )
    return key


def public_integration(item: dict) -> dict:
    return {
        "provider": item["provider"],
        "configured": True,
        "key_hint": item["key_hint"],
        "updated_at": iso_epoch(item.get("updated_at")),
        "updated_by": item.get("updated_by", ""),
    }


def put_integration(
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    provider: str,
    api_key: str,
    updated_by: str = "",
    now: float | None = None,
) -> dict:
    check_provider(provider)
    key = check_api_key(api_key)
    now = time.time() if now is None else now
    ciphertext = secrets.seal(settings, clients, key, secret_context(workspace_id, provider))
    pk, sk = integration_key(workspace_id, provider)
    item = {
        "pk": pk,
        "sk": sk,
        "provider": provider,
        "ciphertext": ciphertext,
        "key_hint": secrets.key_hint(key),
        "updated_at": now,
        "updated_by": updated_by,
    }
    clients.table.put(item)
    return public_integration(item)


def get_integration(settings: Settings, clients: AwsClients, workspace_id: str, provider: str) -> dict:
    """The masked view; 404 when none is stored."""
    check_provider(provider)
    item = clients.table.get(*integration_key(workspace_id, provider))
    if not item:
        raise ApiError(404, "not_found", f"No {provider} integration is configured.")
    return public_integration(item)


def delete_integration(settings: Settings, clients: AwsClients, workspace_id: str, provider: str) -> bool:
    check_provider(provider)
    table = clients.table
    existed = table.get(*integration_key(workspace_id, provider)) is not None
    table.delete(*integration_key(workspace_id, provider))
    return existed


def get_integration_key(settings: Settings, clients: AwsClients, workspace_id: str, provider: str) -> str | None:
    """The workspace's plaintext key for ``provider``, or None. For code that calls the
    provider; never log, return or store what it gives."""
    check_provider(provider)
    return integration_key_of(
        settings, clients, workspace_id, provider, clients.table.get(*integration_key(workspace_id, provider))
    )


def integration_key_of(
    settings: Settings, clients: AwsClients, workspace_id: str, provider: str, item: dict[str, Any] | None
) -> str | None:
    """:func:`get_integration_key` of an integration ``item`` the caller already read (or None)."""
    if not item:
        return None
    return secrets.unseal(settings, clients, item["ciphertext"], secret_context(workspace_id, provider))


def require_integration(settings: Settings, clients: AwsClients, workspace_id: str, provider: str) -> str:
    """The key, or 409 ``integration_required`` telling the user what to configure."""
    key = get_integration_key(settings, clients, workspace_id, provider)
    if key is None:
        names = {"openrouter": "OpenRouter", "huggingface": "Hugging Face"}
        raise ApiError(
            409,
            "integration_required",
            f"This needs a {names[provider]} API key: add one with PUT /api/integrations/{provider}.",
            {"provider": provider},
        )
    return key


def has_integration(table: Any, workspace_id: str, provider: str) -> bool:
    """Whether the workspace stored a key for ``provider`` (read without unsealing it)."""
    check_provider(provider)
    return table.get(*integration_key(workspace_id, provider)) is not None


def require_stored_integration(table: Any, workspace_id: str, provider: str, needed_for: str) -> None:
    """409 ``integration_required`` naming the integration, what needs it and where to set it,
    before anything is stored or paid for (the product docs: OpenRouter is required for
    leaderboard creation, auto-selection, judge evaluation and OpenRouter model calls)."""
    if has_integration(table, workspace_id, provider):
        return
    names = {"openrouter": "OpenRouter", "huggingface": "Hugging Face"}
    raise ApiError(
        409,
        "integration_required",
        f"{needed_for} needs the workspace's {names[provider]} integration, and none is set. An admin sets it in "
        f'Settings > Integrations, or with PUT /api/integrations/{provider} {{"api_key": "..."}}.',
        {"provider": provider, "needed_for": needed_for, "set_with": f"PUT /api/integrations/{provider}"},
    )


# ---------------------------------------------------------------------------- validation
def _probe(settings: Settings, provider: str) -> str:
    if provider == "openrouter":
        return settings.providers.openrouter_base_url.rstrip("/") + "/key"
    return settings.providers.huggingface_endpoint.rstrip("/") + "/api/whoami-v2"


def validate_key(settings: Settings, provider: str, api_key: str) -> dict[str, Any]:
    """Asks the provider whether ``api_key`` works: ``{"valid", "status", "detail"}`` with
    status ``valid``, ``invalid`` or ``unreachable``. Never echoes the key."""
    # Cold start: httpx loads only to check a key (api function); evaluate, judge and inference
    # import this module for get_integration_key alone.
    import httpx

    check_provider(provider)
    url = _probe(settings, provider)
    timeout = httpx.Timeout(settings.providers.read_timeout_seconds, connect=settings.providers.connect_timeout_seconds)
    try:
        with httpx.Client(timeout=min(timeout.read or 10.0, 15.0), follow_redirects=False) as client:
            response = client.get(url, headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"})
    except httpx.HTTPError as exc:
        return {
            "valid": False,
            "status": "unreachable",
            "detail": f"Could not reach {provider} ({type(exc).__name__}); try again later.",
        }
    if response.status_code == 200:
        return {"valid": True, "status": "valid", "detail": _who(provider, response)}
    if response.status_code in (401, 403):
        return {
            "valid": False,
            "status": "invalid",
            "detail": f"{provider} refused the key (HTTP {response.status_code}).",
        }
    return {
        "valid": False,
        "status": "unreachable",
        "detail": f"{provider} answered HTTP {response.status_code}; the key could not be checked.",
    }


def _who(provider: str, response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        return "The key works."
    if provider == "huggingface" and isinstance(data, dict) and isinstance(data.get("name"), str):
        return f"The key works (Hugging Face user '{data['name'][:100]}')."
    if provider == "openrouter" and isinstance(data, dict) and isinstance(data.get("data"), dict):
        limit = data["data"].get("limit_remaining")
        if isinstance(limit, int | float):
            return f"The key works (${limit:.2f} credit left on it)."
    return "The key works."
