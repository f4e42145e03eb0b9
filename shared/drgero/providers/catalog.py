"""The OpenRouter catalog: ``GET /models`` and per-model ``GET /models/{id}/endpoints``,
parsed, and cached with a TTL in an injected ``CatalogStore`` (S3 in AWS).

Prices: OpenRouter reports USD per token as strings; we keep USD per million tokens.
Negative prices (OpenRouter's "variable", e.g. ``openrouter/auto``) are "unknown".
Latency: ``latency_last_30m`` holds p50/p75/p90/p99 in milliseconds of time-to-first-token,
per endpoint (provider); it is null without an API key. A model's figure is the worst
(highest) value among its endpoints, because OpenRouter may route a call to any of them.

When a refresh fails and a cached copy exists, the stale copy is served (``stale=True``)
rather than failing auto-select or validation because OpenRouter blipped.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel

from drgero.providers.client import ProviderClient, RequestSpec, fingerprint
from drgero.providers.errors import ProviderError, UpstreamError
from drgero.providers.types import Pricing
from drgero.store.keys import catalog_endpoints_object


class CatalogStore(Protocol):
    """Where the cached catalog lives. Synchronous (boto3); called off the event loop."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, document: dict[str, Any]) -> None: ...


class InMemoryCatalogStore:
    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.documents.get(key)

    def put(self, key: str, document: dict[str, Any]) -> None:
        self.documents[key] = document


class S3CatalogStore:
    """The cache as JSON objects in the data bucket (``clients.s3``)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.NoSuchKey:
            return None
        try:
            document = json.loads(response["Body"].read())
        except ValueError:
            return None  # a corrupt cache is a cache miss, refreshed on this call
        return document if isinstance(document, dict) else None

    def put(self, key: str, document: dict[str, Any]) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(document, separators=(",", ":")).encode(),
            ContentType="application/json",
        )


class LatencyStats(BaseModel):
    """Milliseconds; None where OpenRouter had no figure."""

    p50: float | None = None
    p75: float | None = None
    p90: float | None = None
    p99: float | None = None


class CatalogModel(BaseModel):
    id: str
    name: str = ""
    created: int = 0
    context_length: int | None = None
    hugging_face_id: str | None = None
    input_per_m_usd: float | None = None
    output_per_m_usd: float | None = None
    text_output: bool = True
    # OpenRouter's supported_parameters (tools, response_format, ...): what inference may forward.
    supported_parameters: list[str] | None = None

    @property
    def open_source(self) -> bool:
        return bool(self.hugging_face_id)

    @property
    def author(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def pricing(self) -> Pricing | None:
        if self.input_per_m_usd is None or self.output_per_m_usd is None:
            return None
        return Pricing(input_per_m_usd=self.input_per_m_usd, output_per_m_usd=self.output_per_m_usd)


class CatalogSnapshot(BaseModel):
    fetched_at: float
    stale: bool = False
    models: list[CatalogModel]

    def get(self, model_id: str) -> CatalogModel | None:
        base = model_id.split(":", 1)[0]
        for model in self.models:
            if model.id == model_id:
                return model
        for model in self.models:
            if model.id == base:
                return model
        return None


def per_million(value: Any) -> float | None:
    try:
        per_token = float(value)
    except (TypeError, ValueError):
        return None
    if per_token < 0 or per_token != per_token:
        return None
    return round(per_token * 1_000_000, 9)


def parse_model(entry: dict[str, Any]) -> CatalogModel | None:
    model_id = entry.get("id")
    if not isinstance(model_id, str) or "/" not in model_id:
        return None
    pricing = entry.get("pricing") if isinstance(entry.get("pricing"), dict) else {}
    architecture = entry.get("architecture") if isinstance(entry.get("architecture"), dict) else {}
    outputs = architecture.get("output_modalities")
    modality = str(architecture.get("modality") or "")
    if isinstance(outputs, list):
        text_output = "text" in outputs
    else:
        text_output = not modality or modality.endswith("->text") or "->text" in modality
    hf_id = entry.get("hugging_face_id")
    return CatalogModel(
        id=model_id,
        name=str(entry.get("name") or model_id),
        created=int(entry.get("created") or 0),
        context_length=entry.get("context_length") if isinstance(entry.get("context_length"), int) else None,
        hugging_face_id=hf_id if isinstance(hf_id, str) and hf_id else None,
        input_per_m_usd=per_million(pricing.get("prompt")),
        output_per_m_usd=per_million(pricing.get("completion")),
        text_output=text_output,
        supported_parameters=_names(entry.get("supported_parameters")),
    )


def _names(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [item for item in value if isinstance(item, str)][:100]


def parse_latency(body: Any) -> LatencyStats | None:
    """The worst figure per percentile across a model's endpoints; None if none reported."""
    data = body.get("data") if isinstance(body, dict) else None
    endpoints = data.get("endpoints") if isinstance(data, dict) else None
    if not isinstance(endpoints, list):
        return None
    worst: dict[str, float] = {}
    for endpoint in endpoints:
        stats = endpoint.get("latency_last_30m") if isinstance(endpoint, dict) else None
        if not isinstance(stats, dict):
            continue
        for name in ("p50", "p75", "p90", "p99"):
            value = stats.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                worst[name] = max(worst.get(name, 0.0), float(value))
    return LatencyStats(**worst) if worst else None


class OpenRouterCatalog:
    def __init__(
        self,
        client: ProviderClient,
        store: CatalogStore,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.store = store
        self.now = now
        settings = client.settings
        self.base_url = settings.openrouter_base_url.rstrip("/")
        self.ttl = settings.catalog_ttl_seconds
        self.models_key = settings.catalog_s3_key

    async def _get(self, path: str, api_key: str | None) -> Any:
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        answer = await self.client.request(
            RequestSpec(
                method="GET",
                url=f"{self.base_url}{path}",
                provider="openrouter",
                limiter_key=fingerprint(api_key),
                guarded=False,
                headers=headers,
                secrets=[api_key] if api_key else [],
            )
        )
        try:
            return answer.json()
        except ValueError as exc:
            raise UpstreamError("OpenRouter's catalog answer is not JSON.", provider="openrouter") from exc

    async def _cached(self, key: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(self.store.get, key)

    def _fresh(self, document: dict[str, Any] | None) -> bool:
        fetched_at = document.get("fetched_at") if document else None
        return isinstance(fetched_at, int | float) and self.now() - fetched_at < self.ttl

    async def snapshot(self, api_key: str | None = None, *, refresh: bool = False) -> CatalogSnapshot:
        """The model list, from cache when fresh, else fetched (stale cache if the fetch fails)."""
        cached = await self._cached(self.models_key)
        if cached and self._fresh(cached) and not refresh:
            return CatalogSnapshot.model_validate(cached)
        try:
            body = await self._get("/models", api_key)
        except ProviderError:
            if cached:
                stale = CatalogSnapshot.model_validate(cached)
                stale.stale = True
                return stale
            raise
        entries = body.get("data") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise UpstreamError("OpenRouter's catalog answer has no model list.", provider="openrouter")
        models = [m for m in (parse_model(e) for e in entries if isinstance(e, dict)) if m is not None]
        snapshot = CatalogSnapshot(fetched_at=self.now(), models=models)
        await asyncio.to_thread(self.store.put, self.models_key, snapshot.model_dump(mode="json"))
        return snapshot

    async def latency(self, model_id: str, api_key: str | None) -> LatencyStats | None:
        """OpenRouter's latency percentiles for a model (cached with the same TTL)."""
        base = model_id.split(":", 1)[0]
        key = catalog_endpoints_object(base)
        cached = await self._cached(key)
        if cached and self._fresh(cached):
            stats = cached.get("latency")
            return LatencyStats.model_validate(stats) if stats else None
        try:
            body = await self._get(f"/models/{base}/endpoints", api_key)
        except ProviderError:
            if cached and cached.get("latency"):
                return LatencyStats.model_validate(cached["latency"])
            raise
        stats = parse_latency(body)
        if stats is not None or api_key:
            # Without a key OpenRouter hides latency: do not cache that absence for keyed callers.
            document = {"fetched_at": self.now(), "latency": stats.model_dump() if stats else None}
            await asyncio.to_thread(self.store.put, key, document)
        return stats
