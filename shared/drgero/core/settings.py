"""Every setting of Dr.Gero, in one pydantic model.

In Lambda the values come from environment variables set by template.yaml
(``DRGERO_<GROUP>__<NAME>``, e.g. ``DRGERO_AWS__TABLE_NAME``). Locally they also come from the
TOML file named by ``DRGERO_CONFIG`` (see samplecfg.toml, which documents every field).
Values given to ``Settings(...)`` win over environment variables, which win over the file.

Read by :func:`_sources` here rather than by pydantic-settings (the same rules: the
``DRGERO_`` prefix in any case, ``__`` between nesting levels, JSON text for a whole group):
importing pydantic-settings cost every function 50-100 ms of its cold start (issue 18).

Handlers build one Settings at cold start (``load_settings()``) and pass it down.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drgero.core.loopback import loopback_endpoints


class AwsSettings(BaseModel):
    region: str = "us-east-1"
    # None in AWS. Locally the embedded cloud's URL; boto3 also honours AWS_ENDPOINT_URL.
    endpoint_url: str | None = None
    table_name: str = "drgero-metadata"
    idempotency_table_name: str = "drgero-idempotency"
    bucket_name: str = "drgero-data"
    consolidate_queue_url: str = ""
    runs_queue_url: str = ""
    evaluate_queue_url: str = ""
    judge_queue_url: str = ""
    traces_queue_url: str = ""
    export_queue_url: str = ""
    # The run pipeline's dead-letter queues, read by the sweeper's run sweep (drgero.runs.sweep);
    # empty: that queue is not read.
    runs_dlq_url: str = ""
    evaluate_dlq_url: str = ""
    judge_dlq_url: str = ""
    schedule_group_name: str = "drgero"
    scheduler_role_arn: str = ""
    runs_queue_arn: str = ""
    kms_key_id: str = ""


class ApiSettings(BaseModel):
    version: str = "0.1.0"
    # Public base URL of the API (used to build links such as traces_url). Empty: derived
    # from the request.
    public_base_url: str = ""
    max_body_bytes: int = 6 * 1024 * 1024
    # Browser origins allowed to call the API (CORS): exact origins ("https://app.example.com")
    # or a port wildcard ("http://localhost:*"). Empty: no cross-origin browser access. The
    # local cloud allows http://localhost:* and http://127.0.0.1:*.
    cors_allowed_origins: list[str] = []
    # How long a browser may cache a preflight answer, in seconds.
    cors_max_age_seconds: int = 600
    # Deepest nesting of arrays/objects a JSON request body may have, on every JSON surface
    # (400 json_too_deep above it, checked before parsing). OpenAI tools/json_schema payloads
    # nest about a dozen levels.
    max_json_depth: int = Field(64, ge=8, le=512)

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _origins_from_text(cls, value: object) -> object:
        """Text (an environment variable) holds a JSON list."""
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value


class AuthSettings(BaseModel):
    # How long the authorizer may reuse a token lookup in memory. This is the documented
    # upper bound on revocation latency (API Gateway's own cache is off).
    token_cache_seconds: int = 10
    jwt_issuer: str = ""
    jwt_audience: str = "authenticated"
    jwt_jwks_url: str = ""
    # HS256 shared secret (Supabase projects sign sessions with one). Empty: HS256 refused.
    jwt_hs256_secret: str = ""
    # In AWS: the name of the Secrets Manager secret holding the HS256 secret (its whole
    # SecretString; template parameter JwtHs256SecretName). The authorizer reads it at the first
    # HS256 session and caches it (Powertools Parameters): never in the function's environment.
    jwt_hs256_secret_name: str = ""
    # Clock skew tolerated on exp/nbf/iat of session JWTs.
    jwt_leeway_seconds: int = 30
    # How long fetched JWKS keys are reused, and how long a JWKS fetch may take.
    jwks_cache_seconds: int = 300
    jwks_timeout_seconds: float = 3.0
    # last_used_at of a token is written at most once per this many seconds.
    last_used_granularity_seconds: int = 60
    # Rotation: how long the old secret keeps working by default, and at most.
    rotation_grace_seconds: int = 86400
    max_rotation_grace_seconds: int = 30 * 86400
    # How long an invitation code can be accepted.
    invitation_ttl_seconds: int = 7 * 86400
    max_workspaces_per_user: int = 20
    max_tokens_per_workspace: int = 200
    # Largest budget one API token may carry, in USD.
    max_token_budget_usd: float = 1_000_000.0
    # Budgets: what is reserved when a call's cost cannot be estimated (never zero), and how
    # long a reservation may stay open before the sweeper charges it at the reserved amount.
    budget_unestimated_reserve_usd: float = 1.0
    budget_reservation_ttl_seconds: int = 1800
    # The dashboard's OIDC sign-in (authorization code + PKCE, public client; docs/dashboard.md).
    # Off while oidc_client_id is empty. The issuer is jwt_issuer; empty endpoints come from its
    # discovery document.
    oidc_client_id: str = ""
    oidc_name: str = ""
    oidc_authorization_endpoint: str = ""
    oidc_token_endpoint: str = ""
    oidc_logout_endpoint: str = ""
    oidc_scopes: str = "openid email profile"
    oidc_redirect_path: str = ""
    oidc_session_token: str = "id_token"  # noqa: S105 - which token to keep, not a secret
    oidc_discovery_cache_seconds: int = 3600
    oidc_retry_seconds: int = 60


class LimitsSettings(BaseModel):
    push_max_body_bytes: int = 5 * 1024 * 1024
    push_max_row_bytes: int = 64 * 1024
    push_max_rows_per_request: int = 5000
    min_rows_before_models: int = 100
    # Candidate models one leaderboard may have (409 above it).
    max_models_per_leaderboard: int = 25
    # Dr.Gero models (/api/models) per workspace, versions kept per model, and the largest
    # body of the model routes (attach, auto-select, /api/models), in bytes (413 above it).
    max_drgero_models: int = 100
    max_model_versions: int = 100
    models_max_body_bytes: int = 64 * 1024
    # Datasets (docs/datasets.md).
    dataset_max_rows: int = 1_000_000
    push_idempotency_seconds: int = 86_400
    consolidate_lease_seconds: int = 960
    consolidate_inline_max_rows: int = 20_000
    consolidate_default_every_hours: float = 24.0
    consolidate_max_batches_per_run: int = 20_000
    hf_max_file_bytes: int = 2 * 1024 * 1024 * 1024
    hf_timeout_seconds: float = 30.0
    # Traces (docs/traces.md). Retention matches the template's TraceRetentionDays (S3 lifecycle).
    traces_retention_days: int = 90
    trace_max_manual_bytes: int = 64 * 1024
    trace_max_message_bytes: int = 256 * 1024
    traces_page_default: int = 50
    traces_page_max: int = 200


class ProvidersSettings(BaseModel):
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    huggingface_endpoint: str = "https://huggingface.co"
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 60.0
    # Test harness only (refused in local mode): lets provider calls reach every loopback port.
    allow_loopback: bool = False
    # The loopback origins provider calls may reach, exactly by host and port: the local cloud
    # sets this to its own provider servers (the sandbox, the local hub). Never the embedded
    # AWS, the gateway or any other local service.
    loopback_origins: list[str] = []
    # Loopback origins an operator adds in local mode, e.g. ["http://127.0.0.1:8080"] for a
    # model server on this machine (scheme, host and port; localhost means 127.0.0.1 and ::1).
    extra_loopback_origins: list[str] = []
    # User-supplied endpoints must be https unless this is on (or allow_loopback is).
    allow_plain_http: bool = False
    # Retries after the first attempt, on 5xx, 429, timeouts and connection errors.
    max_retries: int = 3
    # Full-jitter backoff: sleep uniform(0, min(cap, base * 2**attempt)) seconds.
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 8.0
    # Longest Retry-After we wait in-process; longer ones surface as RateLimited(retry_after).
    retry_after_cap_seconds: float = 30.0
    # Adaptive concurrency per (provider, key): start, floor, ceiling, additive step, and
    # the successes needed (per current limit) before each additive increase.
    aimd_initial: int = 8
    aimd_min: int = 1
    aimd_max: int = 64
    aimd_increase_step: float = 1.0
    aimd_success_window: int = 8
    # Calls in flight against one provider key across every evaluate container (runs): a
    # DynamoDB lease counter per (workspace, provider key) whose slots a shard acquires in one
    # batch and releases with its count (docs/performance.md). 0 turns it off.
    key_concurrency_limit: int = Field(256, ge=0)
    # Slots a crashed container never released come back after this many seconds: keep it
    # above the evaluate function's timeout (900 s), the longest a shard can hold them.
    key_lease_seconds: int = Field(960, ge=10)
    # A shard that finds every slot taken looks again after this many seconds (doubling, at
    # most 8 times this).
    key_lease_poll_seconds: float = Field(0.25, gt=0.0, le=30.0)
    # Connection pool of each provider client.
    pool_max_connections: int = 100
    pool_max_keepalive: int = 20
    # Largest provider response body read, in bytes (bigger: upstream error).
    max_response_bytes: int = 8 * 1024 * 1024
    # OpenRouter catalog cache: lifetime and S3 key of the cached /models listing.
    catalog_ttl_seconds: int = 3600
    catalog_s3_key: str = "catalog/openrouter.json"
    # Auto-select's observed latency (docs/providers.md): inference traces of the last
    # window_hours, at most max_traces of them, and min_samples traces per model for a p95.
    observed_latency_window_hours: int = 168
    observed_latency_max_traces: int = 5000
    observed_latency_min_samples: int = 20

    @field_validator("loopback_origins", "extra_loopback_origins", mode="before")
    @classmethod
    def _origins_from_text(cls, value: object) -> object:
        """Text (an environment variable) holds a JSON list."""
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    @field_validator("loopback_origins", "extra_loopback_origins")
    @classmethod
    def _exact_loopback_origins(cls, value: list[str]) -> list[str]:
        loopback_endpoints(value)  # ValueError names the bad origin
        return value


class PlansSettings(BaseModel):
    default_plan: str = "free"
    free_max_leaderboards: int = 3
    # Leaderboards a pro workspace may have (0: no limit).
    pro_max_leaderboards: int = 0
    # Whether free workspaces may delete leaderboards (the free plan locks deletion).
    free_can_delete_leaderboards: bool = False
    # Who to ask for another plan (an email or a page), named in plan-limit errors and the
    # billing view; empty: they say to ask the deployment's operator (`drgero plan set`).
    upgrade_contact: str = ""


class LocalSettings(BaseModel):
    host: str = "127.0.0.1"
    api_port: int = 3000
    aws_port: int = 4566
    sandbox_port: int = 4010
    # The local Hugging Face hub: its port, and the folder it serves ("": {state_dir}/hub).
    hub_port: int = 4020
    hub_dir: str = ""
    state_dir: str = ".drgero"
    # Seconds before a failed SQS record is redelivered locally (AWS waits out the queue's
    # visibility timeout, 30-90 minutes in the template).
    redelivery_delay_seconds: int = 5
    # Seconds each local SQS poller long-polls its queue (also bounds how long stopping takes).
    poll_wait_seconds: int = 1
    # Plan of the workspace the local cloud seeds (free caps it at 3 undeletable leaderboards).
    seed_plan: Literal["free", "pro"] = "pro"
    # Seconds between the local cloud's fine-tune polls (the template polls every 2 minutes;
    # the sandbox backend needs three polls to finish a job).
    fine_tune_poll_seconds: int = Field(5, ge=1, le=3600)


class EvaluationSettings(BaseModel):
    # Statistics and ranking (docs/evaluation.md).
    confidence_level: float = Field(0.95, gt=0.0, lt=1.0)
    significance_alpha: float = Field(0.05, gt=0.0, lt=1.0)
    near_tie_epsilon: float = Field(0.02, ge=0.0, le=1.0)
    bootstrap_resamples: int = Field(1000, ge=100, le=100_000)
    permutation_resamples: int = Field(2000, ge=100, le=100_000)
    call_errors_count_as_failures: bool = True
    # Run planning.
    shard_size: int = Field(25, ge=1, le=1000)
    default_latency_ms: float = Field(2000.0, gt=0.0)
    # Shard work items the pipeline runs at once (0: all, as Lambda scales the evaluate queue
    # in AWS; the local cloud delivers one at a time and sets 1), a shard's fixed cost (S3,
    # DynamoDB, scoring) and the run's (fan-out, queues, aggregation): estimated_seconds.
    estimate_workers: int = Field(0, ge=0)
    estimate_shard_overhead_seconds: float = Field(0.3, ge=0.0)
    estimate_overhead_seconds: float = Field(5.0, ge=0.0)
    # Scoring guards.
    regex_max_pattern_chars: int = Field(500, ge=1, le=10_000)
    regex_timeout_seconds: float = Field(0.1, gt=0.0, le=10.0)
    judge_max_section_chars: int = Field(20_000, ge=100)
    # The judge a judge evaluation without judge_model gets (an OpenRouter model id; the local
    # cloud sets its sandbox judge). Filled in when the leaderboard is written, so it is shown.
    default_judge_model: str = Field("openai/gpt-4o-mini", min_length=1, max_length=200)
    # Per-row results (docs/runs.md): a graded score at or above this is a "pass".
    graded_pass_threshold: float = Field(0.5, ge=0.0, le=1.0)


class RunsSettings(BaseModel):
    # Runs pipeline (docs/runs.md).
    # How often a worker re-reads the run status between rows (seconds): bounds how many new
    # calls start after a cancel.
    cancel_check_seconds: float = Field(0.5, gt=0.0, le=60.0)
    # Fan-out writes (row files, shard items) in flight at once: each is one request, and a
    # large run has thousands.
    fanout_write_concurrency: int = Field(16, ge=1, le=64)
    # A crashed aggregation is retaken by a redelivered message after this many seconds.
    aggregation_lease_seconds: int = Field(900, ge=10)
    # Candidate outputs longer than this are cut (with a note) in run outputs and reviews.
    max_output_chars: int = Field(20_000, ge=100)
    # max_tokens sent with each candidate call (None: the provider's default).
    candidate_max_tokens: int | None = Field(None, ge=1)
    # Rows per page of GET /api/runs/{id}/reviews (one page = one shard of rows, at most this).
    review_page_rows: int = Field(25, ge=1, le=500)
    # Runs listed per page of GET /api/leaderboards/{id}/runs.
    history_page_default: int = Field(20, ge=1, le=200)
    # A run that has not moved (no shard counted, no status change) for this many seconds is
    # failed by the sweeper's run sweep, naming the step it was stuck in. Keep it well above
    # the slowest shard (the evaluate function's timeout) and aggregation_lease_seconds.
    stall_seconds: int = Field(3600, ge=60)
    # Shortest interval between two firings a run or fine-tune schedule may have, in minutes
    # (400 schedule_too_frequent below it): every firing is a paid run.
    schedule_min_interval_minutes: int = Field(60, ge=1)
    # Output tokens per call assumed for a run's worst-case budget reservation when
    # candidate_max_tokens is unset (docs/runs.md, "Money").
    budget_output_tokens: int = Field(2048, ge=1)
    # GET /api/runs/{id}/results: rows per page by default, and the most rows one page looks
    # at while filtering (a page with a rare filter returns early with a next_cursor).
    results_page_default: int = Field(50, ge=1, le=500)
    results_scan_rows: int = Field(2000, ge=10, le=100_000)
    # GET /api/runs/{id}/results/export: S3 multipart part size (MiB, S3's minimum is 5) and
    # how long the presigned download URL stays valid.
    export_part_mib: int = Field(8, ge=5, le=512)
    export_url_seconds: int = Field(300, ge=30, le=3600)
    # The export job (drgero.runs.export_jobs): attempts before it is reported failed (below
    # the export queue's maxReceiveCount of 5, so a job ends failed before its message is
    # dead-lettered); how long an attempt holds the job (at least the export function's
    # timeout: a crashed attempt is retaken after it); how long a poll waits before sending a
    # stalled job's message again; the Retry-After of a 202; how long a job and its file are
    # kept (the bucket expires exports/ after 7 days).
    export_max_attempts: int = Field(3, ge=1, le=4)
    export_lease_seconds: int = Field(960, ge=10, le=7200)
    export_requeue_seconds: int = Field(120, ge=1, le=7200)
    export_retry_after_seconds: int = Field(2, ge=1, le=60)
    export_keep_days: int = Field(5, ge=1, le=6)


class InferenceSettings(BaseModel):
    # Production inference (docs/inference.md).
    # Largest request body of the two inference routes, in bytes (413 above it).
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # Most chat messages in one request (413 above it).
    max_messages: int = Field(500, ge=1)
    # Largest max_tokens a request may ask for (400 above it).
    max_tokens_limit: int = Field(65_536, ge=1)
    # max_tokens sent when the request gives none; it also makes the worst-case cost
    # estimable for the budget. None: the provider's default, and the budget reserves
    # auth.budget_unestimated_reserve_usd for the call.
    default_max_tokens: int | None = Field(None, ge=1)
    # Seconds a function instance reuses a leaderboard's resolved production target
    # (leaderboard config + selected model config): the upper bound on how long a selection,
    # prompt or model change takes to reach inference.
    target_cache_seconds: float = Field(5.0, ge=0.0, le=300.0)
    # Provider retries on the hot path (replaces providers.max_retries there) and the read
    # timeout of one attempt: kept under API Gateway's 29 s integration limit.
    max_retries: int = Field(1, ge=0, le=5)
    read_timeout_seconds: float = Field(20.0, gt=0.0, le=28.0)


class FineTuneSettings(BaseModel):
    # Fine-tuning (docs/fine-tuning.md). The backend is one OpenAI-style fine-tuning API
    # (OpenAI, Together, Fireworks; the sandbox locally), run by the operator: its key is a
    # deployment secret, not a workspace integration, and its cost is recorded per job.
    base_url: str = "https://api.openai.com/v1"
    # The key given directly (the local cloud's sandbox key), or, in AWS, the name of the
    # Secrets Manager secret holding it (template parameter FineTuneBackendKeySecretName), read
    # at the first backend call and cached (drgero.own_models.finetune.backend.with_backend_key).
    # A secret name wins over api_key.
    api_key: str = ""
    api_key_secret_name: str = ""
    # Name recorded on jobs and traces (which backend trained the model).
    provider_name: str = "openai"
    # Chat-completions URL tuned models answer on (a new model version's endpoint).
    # Empty: ``{base_url}/chat/completions``.
    inference_url: str = ""
    # USD per million trained tokens, used when the backend reports no cost of its own.
    price_per_m_trained_tokens_usd: float = Field(8.0, ge=0.0)
    # Rows exported per job (rows without an expected output are skipped) and the minimum.
    max_training_rows: int = Field(50_000, ge=1)
    min_training_rows: int = Field(10, ge=1)
    # Largest exported training file, in bytes (409 above it: the backend would refuse it).
    max_training_bytes: int = Field(512 * 1024 * 1024, ge=1024)
    # Backend HTTP calls: timeout of one attempt and retries on 429/5xx/timeouts.
    timeout_seconds: float = Field(30.0, gt=0.0)
    max_retries: int = Field(2, ge=0, le=10)
    # The poller (sweeper job fine_tune_poll): jobs looked at per sweep, and how old a job
    # stuck before its backend job exists must be before the poller resumes its start.
    poll_max_jobs: int = Field(200, ge=1)
    resume_after_seconds: int = Field(300, ge=0)
    # ARN the fine-tune schedules invoke (the sweeper function; template.yaml sets it).
    schedule_target_arn: str = ""
    # How long an Idempotency-Key of POST /api/models/{id}/fine-tunes replays its first job.
    idempotency_seconds: int = Field(86_400, ge=60)


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    def __init__(self, **values: Any) -> None:
        super().__init__(**_sources(values, os.environ))

    environment: str = Field(default="aws", description="aws | local | test")
    aws: AwsSettings = AwsSettings()
    api: ApiSettings = ApiSettings()
    auth: AuthSettings = AuthSettings()
    limits: LimitsSettings = LimitsSettings()
    providers: ProvidersSettings = ProvidersSettings()
    plans: PlansSettings = PlansSettings()
    local: LocalSettings = LocalSettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    runs: RunsSettings = RunsSettings()
    inference: InferenceSettings = InferenceSettings()
    fine_tune: FineTuneSettings = FineTuneSettings()

    @model_validator(mode="after")
    def _local_loopback_is_exact(self) -> Settings:
        # Local mode admits only listed loopback origins: a model URL at the embedded AWS
        # (its reset endpoint) or the gateway must stay unreachable.
        if self.environment == "local" and self.providers.allow_loopback:
            raise ValueError(
                "providers.allow_loopback is for the test harness; in local mode list origins in "
                "providers.extra_loopback_origins"
            )
        return self


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process-wide settings, read once (at cold start in Lambda)."""
    return Settings()


ENV_PREFIX = "drgero_"
NESTING = "__"


def _sources(values: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The values Settings validates: ``values``, over the ``DRGERO_*`` environment, over the
    TOML file named by ``DRGERO_CONFIG`` (merged group by group, as pydantic-settings did)."""
    merged: dict[str, Any] = {}
    config_file = environ.get("DRGERO_CONFIG")
    if config_file:
        import tomllib  # only where a file is used (locally)

        with Path(config_file).open("rb") as fh:
            _deep_update(merged, tomllib.load(fh))
    _deep_update(merged, _from_environment(environ))
    _deep_update(merged, dict(values))
    return merged


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """``DRGERO_AWS__TABLE_NAME=t`` -> ``{"aws": {"table_name": "t"}}`` (names in any case);
    ``DRGERO_AWS='{"table_name": "t"}'`` (a whole group as JSON) -> the same."""
    found: dict[str, Any] = {}
    for name, value in environ.items():
        lowered = name.lower()
        if not lowered.startswith(ENV_PREFIX):
            continue
        path = lowered.removeprefix(ENV_PREFIX).split(NESTING)
        field = Settings.model_fields.get(path[0])
        if field is None or not all(path):
            continue  # not a setting (DRGERO_CONFIG, a tool's own variable)
        parsed: Any = value
        if len(path) == 1 and isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            parsed = json.loads(value) if value.strip() else {}
        node = found
        for part in path[:-1]:
            child = node.get(part)
            node = node.setdefault(part, {}) if not isinstance(child, dict) else child
        if isinstance(parsed, dict) and isinstance(node.get(path[-1]), dict):
            _deep_update(node[path[-1]], parsed)
        else:
            node[path[-1]] = parsed
    return found


def _deep_update(target: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = dict(value) if isinstance(value, Mapping) else value
