"""The provider layer: one way to call any candidate model (OpenRouter, custom endpoints,
Hugging Face endpoints, Dr.Gero models), with retries, adaptive concurrency, an SSRF guard
and cost accounting. See docs/providers.md. Modules, one job each:

- ``types``: what a call targets (per platform) and what it returns.
- ``call``: ``call_model``, the one entry point; ``formats``: each platform's wire format.
- ``client``: pooled HTTP clients, retries (``retry``), adaptive concurrency (``limiter``), size caps.
- ``errors``: typed provider errors and the API error each surfaces; ``redact``: secrets scrubbed.
- ``ssrf``: the guard every user-supplied URL passes.
- ``validation``: the probe run when a model is attached.
- ``catalog`` / ``autoselect`` / ``observed``: the OpenRouter catalog, picking candidates under
  constraints, and our own observed latencies.

    from drgero.providers import ProviderClient, call_model, OpenRouterTarget
    client = ProviderClient.shared(settings.providers)
    result = await call_model(OpenRouterTarget(model="openai/gpt-4o"), messages, client=client, api_key=key)
"""

from drgero.providers.call import call_model
from drgero.providers.client import ProviderClient
from drgero.providers.errors import (
    AuthError,
    BadRequest,
    InsufficientCredits,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    UnsafeUrl,
    UpstreamError,
)
from drgero.providers.types import (
    CallResult,
    CustomTarget,
    DrGeroTarget,
    EndpointAuth,
    HuggingFaceTarget,
    ModelTarget,
    OpenRouterTarget,
    Pricing,
    Usage,
)

__all__ = [
    "AuthError",
    "BadRequest",
    "CallResult",
    "CustomTarget",
    "DrGeroTarget",
    "EndpointAuth",
    "HuggingFaceTarget",
    "InsufficientCredits",
    "ModelTarget",
    "OpenRouterTarget",
    "Pricing",
    "ProviderClient",
    "ProviderError",
    "ProviderTimeout",
    "RateLimited",
    "UnsafeUrl",
    "UpstreamError",
    "Usage",
    "call_model",
]
