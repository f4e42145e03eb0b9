"""Checks run when a model is attached: clear errors before any run.

- OpenRouter model: the id exists in the catalog (snapshot served from cache).
- Endpoints (custom, Hugging Face, Dr.Gero): the URL passes the SSRF guard, then a one-
  message probe answers. The probe goes through ``call_model`` like any real call.
(Integration keys are validated by ``drgero.identity.integrations.validate_key``.)
"""

from __future__ import annotations

from dataclasses import dataclass

from drgero.providers.call import call_model
from drgero.providers.catalog import CatalogModel, OpenRouterCatalog
from drgero.providers.client import ProviderClient
from drgero.providers.errors import BadRequest
from drgero.providers.ssrf import check_url
from drgero.providers.types import CallResult, CustomTarget, DrGeroTarget, HuggingFaceTarget, OpenRouterTarget

PROBE_MESSAGES = [{"role": "user", "content": "Reply with OK."}]


class UnknownModel(BadRequest):
    code = "unknown_model"


@dataclass
class Validated:
    """What validation learned: the catalog entry (OpenRouter) or the probe's answer."""

    catalog_model: CatalogModel | None = None
    probe: CallResult | None = None


async def validate_target(
    target: OpenRouterTarget | CustomTarget | HuggingFaceTarget | DrGeroTarget,
    *,
    client: ProviderClient,
    catalog: OpenRouterCatalog | None = None,
    api_key: str | None = None,
) -> Validated:
    if isinstance(target, OpenRouterTarget):
        if catalog is None:
            raise ValueError("validating an OpenRouter model needs the catalog")
        snapshot = await catalog.snapshot(api_key)
        entry = snapshot.get(target.model)
        if entry is None:
            raise UnknownModel(
                f"OpenRouter has no model {target.model!r}; check the id on openrouter.ai/models.",
                provider="openrouter",
            )
        return Validated(catalog_model=entry)
    await check_url(target.url, client.policy, client.resolver)
    probe = await call_model(target, PROBE_MESSAGES, client=client, max_tokens=8)
    return Validated(probe=probe)
