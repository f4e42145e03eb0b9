"""Where Settings come from (drgero.core.settings._sources): values given, over DRGERO_*
environment variables, over the TOML file of DRGERO_CONFIG; read without pydantic-settings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from drgero.core.settings import Settings


def test_environment_variables_nest_on_double_underscores_in_any_case(monkeypatch):
    monkeypatch.setenv("DRGERO_AWS__TABLE_NAME", "from-env")
    monkeypatch.setenv("drgero_auth__token_cache_seconds", "3")
    monkeypatch.setenv("DRGERO_API__CORS_ALLOWED_ORIGINS", '["http://localhost:*"]')
    monkeypatch.setenv("DRGERO_ENVIRONMENT", "test")
    monkeypatch.setenv("DRGERO_NOT_A_SETTING", "ignored")
    settings = Settings()
    assert settings.aws.table_name == "from-env"
    assert settings.auth.token_cache_seconds == 3
    assert settings.api.cors_allowed_origins == ["http://localhost:*"]
    assert settings.environment == "test"


def test_a_whole_group_as_json(monkeypatch):
    monkeypatch.setenv("DRGERO_AUTH", '{"token_cache_seconds": 7}')
    monkeypatch.setenv("DRGERO_AUTH__JWKS_CACHE_SECONDS", "9")
    settings = Settings()
    assert (settings.auth.token_cache_seconds, settings.auth.jwks_cache_seconds) == (7, 9)


def test_given_values_win_over_the_environment_which_wins_over_the_file(monkeypatch, tmp_path):
    config = tmp_path / "cfg.toml"
    config.write_text('[aws]\ntable_name = "from-file"\nbucket_name = "file-bucket"\nregion = "eu-west-1"\n')
    monkeypatch.setenv("DRGERO_CONFIG", str(config))
    monkeypatch.setenv("DRGERO_AWS__TABLE_NAME", "from-env")
    monkeypatch.setenv("DRGERO_AWS__BUCKET_NAME", "env-bucket")
    settings = Settings(aws={"bucket_name": "given"})
    assert (settings.aws.table_name, settings.aws.bucket_name, settings.aws.region) == (
        "from-env",
        "given",
        "eu-west-1",
    )


def test_a_bad_value_is_refused_with_its_name(monkeypatch):
    monkeypatch.setenv("DRGERO_AUTH__TOKEN_CACHE_SECONDS", "soon")
    with pytest.raises(ValueError, match="token_cache_seconds"):
        Settings()


def test_loading_settings_does_not_import_pydantic_settings():
    code = (
        "import sys\nfrom drgero.core.settings import load_settings\nload_settings()\n"
        "print('pydantic_settings' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)  # noqa: S603
    assert result.stdout.strip() == "False"
