"""LocalCloud: the whole product on loopback, from template.yaml.

    with LocalCloud(api_port=0, aws_port=0) as cloud:
        httpx.get(cloud.api_url + "/v1/health")

Starts, in order: the embedded AWS (moto server, its own process), every resource of the
template, the sandbox provider (if ``localcloud.sandbox`` exists), the local Hugging Face hub
(``localcloud.hub``: the product's Hugging Face endpoint points at it), the function runtime (the
real handlers in-process, each with its template environment pointed at the embedded AWS),
the template's schedules, the seed (if ``localcloud.seed`` exists), the SQS pollers, the API
Gateway emulation and the scheduler. ``stop()`` undoes all of it; every LocalCloud has its own
moto process, so nothing leaks from one to the next.

Given a ``state_dir`` (``drgero local`` passes ``.drgero``), it keeps its state there and
restores it on the next start (``localcloud.state_dir``): the embedded AWS's tables, objects,
queues, KMS keys and schedules, the dev issuer's signing secret and the seeded workspace.
Creating the template's resources and schedules skips what the restored state already has.
``fresh=True`` forgets the saved state first. Without a ``state_dir`` nothing is kept.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from localcloud.apigateway import ApiServer, Gateway
from localcloud.clock import ManualClock, SystemClock
from localcloud.functions import FunctionRuntime
from localcloud.moto_server import MotoServer
from localcloud.resources import CreatedResources, create_resources
from localcloud.scheduler import Scheduler
from localcloud.sqs_poller import SqsPoller, SqsSource
from localcloud.state_dir import StateDir
from localcloud.template import Template

logger = logging.getLogger("localcloud")

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def _optional_module(name: str) -> Any | None:
    """Imports ``name`` if it exists; a module that exists but fails to import is a real error."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


def sqs_sources(template: Template, created: CreatedResources) -> list[SqsSource]:
    """The template's SQS event source mappings, resolved against the created queues."""
    sources = []
    for logical, res in template.functions.items():
        for event_name, event in res.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") != "SQS":
                continue
            props = event["Properties"]
            arn = created.resolve(props["Queue"])
            queue_logical = next(k for k, v in created.attrs.items() if v.get("Arn") == arn)
            sources.append(
                SqsSource(
                    function=logical,
                    event_name=event_name,
                    queue_url=created.refs[queue_logical],
                    queue_arn=arn,
                    batch_size=int(props.get("BatchSize", 10)),
                    report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                )
            )
    return sources


class LocalCloud:
    """The embedded AWS plus the emulated API Gateway, SQS pollers and scheduler."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        api_port: int = 3000,
        aws_port: int = 4566,
        sandbox_port: int = 4010,
        # 0 (a free port) by default, unlike the ports above: callers that predate the hub
        # pass only those, and parallel test clouds must not fight over a fixed hub port.
        hub_port: int = 0,
        hub_dir: str | os.PathLike[str] | None = None,
        region: str = "us-east-1",
        env_overrides: dict[str, str] | None = None,
        function_overrides: dict[str, Callable[[dict, Any], Any]] | None = None,
        clock: SystemClock | ManualClock | None = None,
        redelivery_delay_seconds: int = 5,
        poll_wait_seconds: int = 1,
        api: bool = True,
        pollers: bool = True,
        scheduler: bool = True,
        seed: bool = True,
        sandbox: bool = True,
        hub: bool = True,
        preload_functions: bool = False,
        template: Template | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        fresh: bool = False,
        save_interval: float = 2.0,
        seed_plan: str = "pro",
        fine_tune_poll_seconds: int | None = 5,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the local cloud binds to loopback only, not {host!r}")
        self.host = host
        self.region = region
        self.template = template or Template.load()
        self.clock = clock or SystemClock()
        self.redelivery_delay_seconds = redelivery_delay_seconds
        self.poll_wait_seconds = poll_wait_seconds
        # The seeded workspace's plan ([local] seed_plan) and the fine-tune poll's period
        # ([local] fine_tune_poll_seconds; None keeps the template's rate).
        self.seed_plan = seed_plan
        self.fine_tune_poll_seconds = fine_tune_poll_seconds
        self._api_port = api_port
        self._sandbox_port = sandbox_port
        self._hub_port = hub_port
        self._env_overrides = dict(env_overrides or {})
        self._function_overrides = dict(function_overrides or {})
        self._want = {
            "api": api,
            "pollers": pollers,
            "scheduler": scheduler,
            "seed": seed,
            "sandbox": sandbox,
            "hub": hub,
        }
        self._preload = preload_functions
        self.state = StateDir(Path(state_dir)) if state_dir is not None else None
        self._fresh = fresh
        # The hub's folder: given, else beside the saved state (kept across restarts and by
        # --fresh: it holds the user's own files), else a temporary one removed by stop().
        self._hub_dir_given = Path(hub_dir) if hub_dir is not None else None
        self.hub_dir: Path | None = None
        self.hub: Any = None
        self._hub_tmp: Any = None
        # Public for tests: ``aws_server.save()`` and ``aws_server.kill()`` (a crash).
        self.aws_server = MotoServer(
            host,
            aws_port,
            state_file=self.state.aws_state if self.state is not None else None,
            save_interval=save_interval,
        )
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._api_server: ApiServer | None = None
        self._pollers: list[SqsPoller] = []
        self._sandbox_stop: Callable[[], None] | None = None
        self.created: CreatedResources | None = None
        self.functions: FunctionRuntime | None = None
        self.scheduler: Scheduler | None = None
        self.gateway: Gateway | None = None
        self.function_env: dict[str, str] = {}
        self.sandbox_url: str | None = None
        self.hub_url: str | None = None
        self.seed_info: dict[str, Any] = {}
        self.started_at: str | None = None
        self.start_id: str | None = None
        self._running = False

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> LocalCloud:
        # Fake credentials: nothing here may ever sign a request to real AWS with real ones.
        os.environ.update(FAKE_CREDENTIALS)
        os.environ.setdefault("AWS_DEFAULT_REGION", self.region)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        import boto3

        if self.state is not None and self._fresh:
            self.state.wipe()
        endpoint = self.aws_server.start()
        self.created = create_resources(boto3.session.Session(), self.template, endpoint, self.region)
        if self._want["sandbox"]:
            self._start_sandbox()
        if self._want["hub"]:
            self._start_hub()
        if self._want["api"]:
            self._bind_gateway()
        self.function_env = self._function_env(endpoint)
        self.functions = FunctionRuntime(
            self.template, self.created, extra_env=self.function_env, overrides=self._function_overrides
        )
        if self._preload:
            for logical in self.template.functions:
                if logical not in self.functions.overrides:
                    self.functions.module(logical)
        self._create_template_schedules()
        self.started_at = datetime.now(UTC).isoformat()
        # Tells this start's local.json from one a killed earlier start left behind.
        self.start_id = uuid.uuid4().hex
        self._running = True
        if self._want["seed"]:
            self._seed()
            self._offer_local_sign_in()
        if self._want["pollers"]:
            self._start_pollers()
        if self._api_server is not None:
            self._api_server.start()
        self.scheduler = Scheduler(
            self.client("scheduler"),
            self.client("sqs"),
            invoke_lambda=self.invoke,
            lambda_arn_to_function=self.functions.logical_id_for_arn,
            clock=self.clock,
        )
        if self._want["scheduler"]:
            self.scheduler.start()

    def _bind_gateway(self) -> None:
        # Bound now (served later, once functions exist): its URL is the API's public base
        # URL, so links such as a leaderboard's traces_url point at this gateway.
        stage = str(self.created.parameters.get("StageName") or "prod")
        self.gateway = Gateway(self.template, self.invoke, self.region, stage, invoke_stream=self.invoke_stream)
        self._api_server = ApiServer(self.gateway, self.host, self._api_port)

    def _offer_local_sign_in(self) -> None:
        """The dashboard's one-click sign-in as the seeded owner (local gateway only)."""
        if self.gateway is None or not self.seed_info.get("workspace_id"):
            return
        from localcloud.dashboard_session import local_session_for  # Loaded only with a gateway and a seed.

        self.gateway.local_routes.append(local_session_for(self))

    def stop(self) -> None:
        """Stops everything this cloud started; safe to call twice."""
        self._running = False
        if self.scheduler is not None:
            self.scheduler.stop()
        for poller in self._pollers:
            poller.stop()
        if self._api_server is not None:
            self._api_server.stop()
            self._api_server = None
        for poller in self._pollers:
            poller.join(self.poll_wait_seconds + 5)
        self._pollers = []
        if self._sandbox_stop is not None:
            stop_sandbox, self._sandbox_stop = self._sandbox_stop, None
            stop_sandbox()
        if self.hub is not None:
            hub, self.hub = self.hub, None
            hub.stop()
        if self._hub_tmp is not None:
            tmp, self._hub_tmp = self._hub_tmp, None
            tmp.cleanup()
        self.aws_server.stop()
        self._clients.clear()

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- pieces
    def _function_env(self, endpoint: str) -> dict[str, str]:
        env = {
            "DRGERO_ENVIRONMENT": "local",
            "DRGERO_AWS__ENDPOINT_URL": endpoint,
            "DRGERO_AWS__REGION": self.region,
            # Clients built at import from the environment (not from Settings) also land here.
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "POWERTOOLS_TRACE_DISABLED": "true",
            # Browser apps on this machine may call the local API (any port); AWS allows none by default.
            "DRGERO_API__CORS_ALLOWED_ORIGINS": '["http://localhost:*", "http://127.0.0.1:*"]',
        }
        if self._api_server is not None:
            env["DRGERO_API__PUBLIC_BASE_URL"] = self._api_server.url
        # The SSRF guard admits exactly these loopback origins (host and port): this cloud's
        # own provider servers, never the embedded AWS or the gateway (docs/providers.md).
        env["DRGERO_PROVIDERS__LOOPBACK_ORIGINS"] = json.dumps(self.provider_origins())
        self._refuse_reserved_origins(endpoint)
        if self.sandbox_url:
            env["DRGERO_PROVIDERS__OPENROUTER_BASE_URL"] = f"{self.sandbox_url.rstrip('/')}/api/v1"
            # Fine-tuning on the sandbox's emulated backend (docs/fine-tuning.md); any sk- key works there.
            env["DRGERO_FINE_TUNE__BASE_URL"] = f"{self.sandbox_url.rstrip('/')}/v1"
            env["DRGERO_FINE_TUNE__API_KEY"] = "sk-sandbox-fine-tune"  # noqa: S105 - a toy key of the local sandbox
            env["DRGERO_FINE_TUNE__PROVIDER_NAME"] = "sandbox"
            # A judge evaluation without a judge_model is graded by the sandbox's toy judge.
            env["DRGERO_EVALUATION__DEFAULT_JUDGE_MODEL"] = "sandbox/judge-toy"
        if self.hub_url:
            # GET-mode datasets read the local hub: the product's setting, and huggingface_hub's
            # own (HF_ENDPOINT) for any call that does not pass the endpoint explicitly.
            env["DRGERO_PROVIDERS__HUGGINGFACE_ENDPOINT"] = self.hub_url
            env["HF_ENDPOINT"] = self.hub_url
        # The local SQS pollers deliver one evaluate batch at a time (sqs_poller): estimates say so.
        env["DRGERO_EVALUATION__ESTIMATE_WORKERS"] = "1"
        # The local dev JWT issuer, so functions trust its sessions: a fresh secret per cloud,
        # kept in the state dir (if any) so sessions outlive a restart.
        identity = _optional_module("localcloud.identity")
        if identity is not None and hasattr(identity, "local_identity_env"):
            env.update(identity.local_identity_env(self._jwt_secret()))
        env.update(self._env_overrides)
        return env

    def provider_origins(self) -> list[str]:
        """Origins of the provider servers this cloud runs, which models may call: the sandbox
        (OpenRouter shapes and fine-tuning) and, when it runs, the local Hugging Face hub. A new
        local provider server adds its URL here."""
        urls = [self.sandbox_url, self.hub_url]
        return sorted({_origin(url) for url in urls if url})

    def _refuse_reserved_origins(self, endpoint: str) -> None:
        """An operator's extra loopback origin may not be the embedded AWS or the gateway: a
        model URL there could read or reset every workspace's data."""
        from drgero.core.loopback import loopback_endpoints
        from drgero.core.settings import Settings

        listed = Settings(environment="local").providers.extra_loopback_origins
        reserved = [endpoint] + ([self._api_server.url] if self._api_server is not None else [])
        clash = loopback_endpoints(listed) & loopback_endpoints(_origin(url) for url in reserved)
        if clash:
            raise ValueError(
                f"providers.extra_loopback_origins lists {sorted(clash)}: the local cloud's own AWS or API "
                "may never be a model endpoint"
            )

    def _jwt_secret(self) -> str | None:
        """The saved dev issuer secret, saving a new one if there is none (None: no state dir)."""
        if self.state is None:
            return None
        saved = self.state.identity()
        if not saved.get("jwt_secret"):
            import secrets

            saved["jwt_secret"] = secrets.token_urlsafe(32)
            self.state.save_identity(saved)
        return str(saved["jwt_secret"])

    def save_state(self) -> None:
        """Saves the embedded AWS's state to the state dir now (it also saves periodically and
        on a clean stop)."""
        self.aws_server.save()

    def _start_sandbox(self) -> None:
        module = _optional_module("localcloud.sandbox")
        if module is None or not hasattr(module, "start_sandbox"):
            logger.info("no sandbox provider (localcloud.sandbox) yet; skipping")
            return
        self.sandbox_url, self._sandbox_stop = module.start_sandbox(self.host, self._sandbox_port)

    def _start_hub(self) -> None:
        from localcloud.hub import start_hub

        if self._hub_dir_given is not None:
            self.hub_dir = self._hub_dir_given
        elif self.state is not None:
            self.hub_dir = self.state.root / "hub"
        else:
            import tempfile

            self._hub_tmp = tempfile.TemporaryDirectory(prefix="drgero-hub-")
            self.hub_dir = Path(self._hub_tmp.name)
        self.hub = start_hub(self.host, self._hub_port, self.hub_dir)
        self.hub_url = self.hub.url

    def _seed(self) -> None:
        module = _optional_module("localcloud.seed")
        if module is None or not hasattr(module, "seed_local"):
            logger.info("no seed (localcloud.seed) yet; skipping")
            return
        previous = None
        if self.state is not None and self.aws_server.restored:
            previous = self.state.identity().get("seed")
        self.seed_info = dict(module.seed_local(self, previous) or {})
        if self.state is not None:
            saved = self.state.identity()
            saved["seed"] = {k: v for k, v in self.seed_info.items() if k != "user_jwt"}
            self.state.save_identity(saved)

    def _local_expression(self, event_name: str, expression: str) -> str:
        """The template's expression, except the fine-tune poll's: AWS polls every 2 minutes,
        and the sandbox backend needs three polls to finish a job, so locally push ->
        fine-tune -> next run would take six minutes. ``rate(N seconds)`` is a local-only
        form (localcloud.expressions); AWS's minimum is one minute."""
        if event_name == "FineTunePoll" and self.fine_tune_poll_seconds:
            return f"rate({int(self.fine_tune_poll_seconds)} seconds)"
        return expression

    def _create_template_schedules(self) -> None:
        """The template's ScheduleV2 function events, created in moto's default group so they
        are listed like any schedule (and fired by the same scheduler). One a restored state
        already has is kept as it is."""
        assert self.created is not None
        client = self.client("scheduler")
        existing = {
            schedule["Name"]
            for page in client.get_paginator("list_schedules").paginate(GroupName="default")
            for schedule in page.get("Schedules", [])
        }
        role = self.created.attrs.get("SchedulerRole", {}).get("Arn", "arn:aws:iam::123456789012:role/local-scheduler")
        for logical, res in self.template.functions.items():
            for event_name, event in res.get("Properties", {}).get("Events", {}).items():
                if event.get("Type") != "ScheduleV2":
                    continue
                props = self.created.resolve(event.get("Properties", {}))
                target = {"Arn": self.created.attrs[logical]["Arn"], "RoleArn": role}
                if "Input" in props:
                    target["Input"] = props["Input"]
                kwargs: dict[str, Any] = {
                    "Name": props.get("Name") or f"{logical}-{event_name}"[:64],
                    "ScheduleExpression": self._local_expression(event_name, props["ScheduleExpression"]),
                    "FlexibleTimeWindow": props.get("FlexibleTimeWindow") or {"Mode": "OFF"},
                    "Target": target,
                    "State": props.get("State", "ENABLED"),
                }
                if kwargs["Name"] in existing:
                    if kwargs["ScheduleExpression"] != props["ScheduleExpression"]:
                        # A restored state may hold another local period: this start's setting wins.
                        client.update_schedule(**kwargs)
                    continue
                if props.get("ScheduleExpressionTimezone"):
                    kwargs["ScheduleExpressionTimezone"] = props["ScheduleExpressionTimezone"]
                client.create_schedule(**kwargs)

    def _start_pollers(self) -> None:
        assert self.created is not None
        for source in sqs_sources(self.template, self.created):
            poller = SqsPoller(
                source,
                self._new_client("sqs"),
                self.invoke,
                self.region,
                redelivery_delay=self.redelivery_delay_seconds,
                wait_seconds=self.poll_wait_seconds,
            )
            poller.start()
            self._pollers.append(poller)

    # ---------------------------------------------------------------- use
    @property
    def running(self) -> bool:
        return self._running

    @property
    def api_url(self) -> str:
        if self._api_server is None:
            raise RuntimeError("the API Gateway emulation is not running")
        return self._api_server.url

    @property
    def aws_endpoint_url(self) -> str:
        return self.aws_server.url

    def invoke(self, function: str, event: dict) -> Any:
        """Invokes a function (logical id or folder name) with one event, in-process."""
        assert self.functions is not None, "start() first"
        return self.functions.invoke(self.functions.resolve(function), event)

    def invoke_stream(self, function: str, event: dict) -> Any:
        """Like :meth:`invoke`, through the function's streaming entry (streamed API routes)."""
        assert self.functions is not None, "start() first"
        return self.functions.invoke(self.functions.resolve(function), event, streaming=True)

    @contextlib.contextmanager
    def override(self, function: str, handler: Callable[[dict, Any], Any]) -> Iterator[None]:
        """Replaces one function's handler (logical id or folder name) for the duration of a
        ``with`` block, for tests; API routes, pollers and schedules all see the double."""
        assert self.functions is not None, "start() first"
        logical = self.functions.resolve(function)
        previous = self.functions.overrides.get(logical)
        self.functions.overrides[logical] = handler
        try:
            yield
        finally:
            if previous is None:
                self.functions.overrides.pop(logical, None)
            else:
                self.functions.overrides[logical] = previous

    def _new_client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            service,
            region_name=self.region,
            endpoint_url=self.aws_endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )

    def client(self, service: str) -> Any:
        """A boto3 client for the embedded AWS (shared; boto3 clients are thread-safe)."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = self._new_client(service)
            return self._clients[service]

    def queue_url(self, logical_id: str) -> str:
        assert self.created is not None
        return self.created.refs[logical_id]

    def resources(self) -> dict[str, Any]:
        """Physical names of what was created, grouped for people and scripts."""
        assert self.created is not None
        groups: dict[str, dict[str, str]] = {"tables": {}, "buckets": {}, "queues": {}, "schedule_groups": {}}
        kinds = {
            "AWS::DynamoDB::Table": "tables",
            "AWS::S3::Bucket": "buckets",
            "AWS::SQS::Queue": "queues",
            "AWS::Scheduler::ScheduleGroup": "schedule_groups",
        }
        for logical, res in self.template.resources.items():
            group = kinds.get(res.get("Type", ""))
            if group:
                groups[group][logical] = self.created.refs[logical]
        return groups

    def info(self) -> dict[str, Any]:
        """What ``.drgero/local.json`` holds (the contract's "Local mode" fields and more)."""
        assert self.created is not None
        data: dict[str, Any] = {
            "status": "running" if self._running else "stopped",
            "api_url": self._api_server.url if self._api_server else None,
            "aws_endpoint_url": self.aws_endpoint_url,
            "region": self.region,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "start_id": self.start_id,
            "state_dir": str(self.state.root) if self.state is not None else None,
            "restored": self.aws_server.restored,
            "resources": self.resources(),
            # What `drgero invoke` needs to run a function against this cloud.
            "created": {"refs": self.created.refs, "attrs": self.created.attrs},
            "function_env": self.function_env,
        }
        if self.sandbox_url:
            data["sandbox_url"] = self.sandbox_url
        if self.hub_url:
            data["hub_url"] = self.hub_url
            data["hub_dir"] = str(Path(self.hub_dir).absolute())  # scripts may run from elsewhere
        data.update(self.seed_info)
        return data


def _origin(url: str) -> str:
    """``scheme://host:port`` of a URL (the port spelled out)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}"
