"""Every setting of Dr.Gero, in one pydantic-settings class.

In Lambda the values come from environment variables set by template.yaml
(``DRGERO_<GROUP>__<NAME>``, e.g. ``DRGERO_AWS__TABLE_NAME``). Locally they also come from the
TOML file named by ``DRGERO_CONFIG`` (see samplecfg.toml, which documents every field).
Environment variables win over the file.

Handlers build one Settings at cold start (``load_settings()``) and pass it down.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


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


class AuthSettings(BaseModel):
    # How long the authorizer may reuse a token lookup in memory. This is the documented
    # upper bound on revocation latency (API Gateway's own cache is off).
    token_cache_seconds: int = 10
    jwt_issuer: str = ""
    jwt_audience: str = "authenticated"
    jwt_jwks_url: str = ""
    # HS256 shared secret (Supabase projects sign sessions with one). Empty: HS256 refused.
    jwt_hs256_secret: str = ""


class LimitsSettings(BaseModel):
    push_max_body_bytes: int = 5 * 1024 * 1024
    push_max_row_bytes: int = 64 * 1024
    push_max_rows_per_request: int = 5000
    min_rows_before_models: int = 100


class ProvidersSettings(BaseModel):
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    huggingface_endpoint: str = "https://huggingface.co"
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 60.0
    # Only the local cloud sets this: lets provider calls reach 127.0.0.1 (the sandbox).
    allow_loopback: bool = False


class PlansSettings(BaseModel):
    default_plan: str = "free"
    free_max_leaderboards: int = 3


class LocalSettings(BaseModel):
    host: str = "127.0.0.1"
    api_port: int = 3000
    aws_port: int = 4566
    sandbox_port: int = 4010
    state_dir: str = ".drgero"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DRGERO_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    environment: str = Field(default="aws", description="aws | local | test")
    aws: AwsSettings = AwsSettings()
    api: ApiSettings = ApiSettings()
    auth: AuthSettings = AuthSettings()
    limits: LimitsSettings = LimitsSettings()
    providers: ProvidersSettings = ProvidersSettings()
    plans: PlansSettings = PlansSettings()
    local: LocalSettings = LocalSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("DRGERO_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process-wide settings, read once (at cold start in Lambda)."""
    return Settings()
