"""Inference on the embedded AWS: a workspace with real API tokens, a leaderboard with
sandbox models attached (OpenRouter toys via the workspace key, or a priced custom endpoint),
a selection, an optional completed ranking, and requests through the emulated API Gateway
(the real authorizer, then the real inference function)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from drgero.core import clock
from drgero.core.ids import new_id
from drgero.identity.credentials import issue_api_token, issue_dataset_token
from drgero.identity.integrations import put_integration
from drgero.runs import records
from drgero.store.keys import history_index_pk

from .aws import queued_traces, table_of
from .gateway import Api, Response
from .identity import new_workspace, use_local_identity
from .leaderboards import attach_candidate
from .sandbox import SANDBOX_KEY
from .settings import relaxed_settings

OWNER: Any = object()  # "use the owner token" (None means: send no credential)
PRICE = {"input_per_m_usd": 1.0, "output_per_m_usd": 2.0}


def inference_env(sandbox: str, **extra: str) -> dict[str, str]:
    return {
        "DRGERO_PROVIDERS__OPENROUTER_BASE_URL": f"{sandbox}/api/v1",
        "DRGERO_PROVIDERS__BACKOFF_BASE_SECONDS": "0.001",
        "DRGERO_PROVIDERS__BACKOFF_CAP_SECONDS": "0.002",
        # Each test changes selections and models: no cross-request cache in these tests
        # (the cache has its own unit tests).
        "DRGERO_INFERENCE__TARGET_CACHE_SECONDS": "0",
        "DRGERO_LIMITS__MIN_ROWS_BEFORE_MODELS": "1",
        **extra,
    }


@dataclass
class World:
    aws: Any
    sandbox: str
    api: Api
    workspace_id: str
    token: str  # owner API token, every scope
    token_id: str
    leaderboard_id: str = ""
    models: dict[str, str] = field(default_factory=dict)  # label -> model id

    @property
    def table(self):
        return table_of(self.aws)

    def settings(self):
        return relaxed_settings(self.aws.settings)

    # -- setup --------------------------------------------------------------------------------
    def leaderboard(self, prompt: str = "Answer briefly.\n\n{input}", **fields: Any) -> str:
        body = {
            "name": "support",
            "prompt": prompt,
            "dataset": {"mode": "PUSH", "max_samples": 1000},
            "evaluation": {"type": "exact"},
            **fields,
        }
        created = self.api.post("/api/leaderboards", self.token, body)
        assert created.status == 201, created.json
        self.leaderboard_id = created.json["id"]
        return self.leaderboard_id

    def attach(self, label: str, body: dict[str, Any], leaderboard_id: str | None = None) -> str:
        self.models[label] = attach_candidate(self.aws, self.workspace_id, leaderboard_id or self.leaderboard_id, body)
        return self.models[label]

    def attach_toy(self, toy: str, label: str | None = None) -> str:
        return self.attach(label or toy, {"platform": "openrouter", "model": toy})

    def attach_custom(
        self, label: str = "custom", pricing: dict | None = PRICE, supported_parameters: list[str] | None = None
    ) -> str:
        body: dict[str, Any] = {"platform": "custom", "url": f"{self.sandbox}/custom/openai", "name": "custom echo"}
        if pricing:
            body["pricing"] = pricing
        if supported_parameters is not None:
            body["supported_parameters"] = supported_parameters
        return self.attach(label, body)

    def select(self, label: str) -> None:
        answer = self.api.put(
            f"/api/leaderboards/{self.leaderboard_id}/selection",
            self.token,
            {"strategy": "manual", "model_id": self.models[label]},
        )
        assert answer.status == 200, answer.json

    def rank(self, labels: list[str], select_winner: bool = True) -> str:
        """A completed run whose ranking is ``labels`` in order, then ``ranking_winner``."""
        run_id = new_id("run")
        started = clock.iso_millis()
        rows = [
            {"model_id": self.models[label], "rank": i + 1, "score": 1.0 - i * 0.1, "n": 10}
            for i, label in enumerate(labels)
        ]
        self.table.put(
            {
                "pk": f"RUN#{run_id}",
                "sk": "META",
                "gsi1pk": history_index_pk(self.leaderboard_id),
                "gsi1sk": f"{started}#{run_id}",
                "id": run_id,
                "workspace_id": self.workspace_id,
                "leaderboard_id": self.leaderboard_id,
                "status": records.COMPLETED,
                "source": "manual",
                "started_at": started,
                "ranking_json": json.dumps({"rows": rows, "winner_model_id": rows[0]["model_id"]}),
            }
        )
        if select_winner:
            answer = self.api.put(
                f"/api/leaderboards/{self.leaderboard_id}/selection", self.token, {"strategy": "ranking_winner"}
            )
            assert answer.status == 200, answer.json
        return run_id

    def token_with(self, scopes: list[str], budget_usd: float | None = None) -> tuple[str, str]:
        secret, record = issue_api_token(self.table, self.workspace_id, "test", scopes, budget_usd=budget_usd)
        return secret, record["id"]

    def dataset_token(self) -> str:
        secret, _ = issue_dataset_token(self.table, self.workspace_id, self.leaderboard_id)
        return secret

    # -- calls --------------------------------------------------------------------------------
    def infer(self, body: Any, token: Any = OWNER, headers: dict | None = None, **kw: Any) -> Response:
        return self.api.post(
            f"/v1/leaderboard/{kw.pop('leaderboard_id', self.leaderboard_id)}/inference",
            self.token if token is OWNER else token,
            body,
            headers=headers,
            **kw,
        )

    def chat(self, body: Any, token: Any = OWNER, **kw: Any) -> Response:
        return self.api.post("/v1/chat/completions", self.token if token is OWNER else token, body, **kw)

    def queued_traces(self) -> list[dict[str, Any]]:
        """Traces waiting on the traces queue (what the inference function emitted)."""
        return queued_traces(self.aws)


def make_world(aws, sandbox: str, **env: str) -> World:
    use_local_identity(aws, **inference_env(sandbox, **env))
    seeded = new_workspace(aws)
    world = World(aws, sandbox, Api(aws), seeded["workspace_id"], seeded["token"], seeded["token_id"])
    put_integration(world.settings(), aws.clients, world.workspace_id, "openrouter", SANDBOX_KEY)
    return world


def budgeted_service(aws, sandbox: str, dynamodb_wrapper: Any, budget_usd: float = 1.0) -> tuple[World, Any, Any, str]:
    """A leaderboard serving the fixed-price ``priced`` custom model, an API token with
    ``budget_usd``, and an in-process ``InferenceService`` whose DynamoDB client is wrapped by
    ``dynamodb_wrapper(client)`` (a fault injector). Returns (world, service, principal, token id)."""
    from drgero.identity.principal import ALL_SCOPES, Principal, PrincipalKind
    from drgero.inference.service import InferenceService

    world = make_world(aws, sandbox)
    world.leaderboard()
    world.attach_custom("priced")
    world.select("priced")
    _secret, token_id = world.token_with(["inference"], budget_usd=budget_usd)
    aws.clients.__dict__["dynamodb"] = dynamodb_wrapper(aws.clients.dynamodb)
    service = InferenceService(aws.settings, aws.clients)
    principal = Principal(
        kind=PrincipalKind.API_TOKEN, workspace_id=world.workspace_id, scopes=ALL_SCOPES, token_id=token_id
    )
    return world, service, principal, token_id


def echo_world(aws, sandbox: str) -> World:
    """A leaderboard serving the sandbox's ``echo`` toy (picked by hand)."""
    world = make_world(aws, sandbox)
    world.leaderboard()
    world.attach_toy("sandbox/echo", "echo")
    world.select("echo")
    return world


def openai_sdk(world: World, api_key: str | None = None) -> Any:
    """The real OpenAI SDK with only ``base_url`` and ``api_key`` changed, its HTTP going
    through the emulated API Gateway (no sockets; streamed answers arrive piece by piece)."""
    import httpx  # the SDK's own HTTP stack, loaded by the tests that use it
    import openai

    from .gateway import SdkTransport

    return openai.OpenAI(
        base_url="http://127.0.0.1:3000/v1",
        api_key=api_key or world.token,
        max_retries=0,
        http_client=httpx.Client(transport=SdkTransport(world.api).sync()),
    )
