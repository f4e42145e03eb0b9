"""The provider layer: one way to call any candidate model (OpenRouter, custom endpoints,
Hugging Face endpoints, Dr.Gero models), with retries, adaptive concurrency, an SSRF guard
and cost accounting. See docs/providers.md.

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
