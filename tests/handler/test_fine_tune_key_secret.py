"""The fine-tuning backend key reaches the functions in AWS through Secrets Manager: the
template passes the secret's NAME (parameter FineTuneBackendKeySecretName) and grants reading
it; the code reads the value at the first backend call, cached (Powertools Parameters)."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import httpx
import pytest

from drgero.core.aws import AwsClients
from drgero.own_models.finetune.backend import FineTuneBackend, with_backend_key
from localcloud.template import load_template

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

PARAMETER = "FineTuneBackendKeySecretName"
VARIABLE = "DRGERO_FINE_TUNE__API_KEY_SECRET_NAME"
BACKEND_CALLERS = {"ApiFunction", "SweeperFunction"}  # create/cancel (api), poll and schedules (sweeper)


class _AnyManagedPolicy(dict):
    def __missing__(self, name: str) -> str:
        return f"arn:aws:iam::aws:policy/{name}"


class _OfflinePolicyLoader:
    def load(self) -> dict[str, str]:
        return _AnyManagedPolicy()


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def cfn(sam: dict[str, Any]) -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    packaged = copy.deepcopy(sam)
    for resource in packaged["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://drgero-artifacts/{props[key].strip('/')}.zip"
    return transform(packaged, {}, _OfflinePolicyLoader())


def _functions(sam: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def test_the_parameter_names_a_secret_and_defaults_to_not_configured(sam):
    parameter = sam["Parameters"][PARAMETER]
    assert parameter["Type"] == "String" and parameter["Default"] == ""
    assert "NoEcho" not in parameter  # a name, not a secret


def test_only_the_backend_callers_get_the_secret_name_never_a_key(sam):
    for logical, res in _functions(sam).items():
        env = res["Properties"].get("Environment", {}).get("Variables", {})
        if logical in BACKEND_CALLERS:
            assert env.get(VARIABLE) == {"Ref": PARAMETER}, logical
        else:
            assert VARIABLE not in env, logical
        assert "DRGERO_FINE_TUNE__API_KEY" not in env, logical
    assert "DRGERO_FINE_TUNE__API_KEY" not in sam["Globals"]["Function"]["Environment"]["Variables"]


def _secret_statements(role: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    """(condition or None, statement) of every statement granting secretsmanager actions."""
    found = []
    for policy in role["Properties"].get("Policies", []):
        condition = None
        if "Fn::If" in policy:
            condition, policy, otherwise = policy["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(a.startswith("secretsmanager:") for a in actions):
                found.append((condition, statement))
    return found


def test_the_backend_callers_may_read_that_one_secret_when_it_is_configured(cfn):
    assert cfn["Conditions"]["HasFineTuneBackendKeySecret"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": PARAMETER}, ""]}]}
    roles = {k: v for k, v in cfn["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    for logical, role in roles.items():
        # The authorizer's one secret is the HS256 session secret (test_template.py checks it).
        statements = [(c, st) for c, st in _secret_statements(role) if c != "HasJwtHs256Secret"]
        if logical.removesuffix("Role") not in BACKEND_CALLERS:
            assert not statements, logical
            continue
        [(condition, statement)] = statements
        assert condition == "HasFineTuneBackendKeySecret"
        assert statement["Effect"] == "Allow" and statement["Action"] == ["secretsmanager:GetSecretValue"]
        resource = json.dumps(statement["Resource"])
        assert ":secretsmanager:" in resource and ":secret:${FineTuneBackendKeySecretName}-??????" in resource


def _clients(aws, **fine_tune: str) -> tuple[Any, AwsClients]:
    settings = aws.settings.model_copy(update={"fine_tune": aws.settings.fine_tune.model_copy(update=fine_tune)})
    return settings, AwsClients(settings)


def test_without_a_secret_name_the_configured_key_is_used(aws):
    settings, clients = _clients(aws, api_key="sk-direct", api_key_secret_name="")
    assert with_backend_key(settings, clients) is settings


def test_the_key_is_read_from_the_secret_once_and_sent_to_the_backend(aws):
    secret = "sk-from-secrets-manager-0123"
    aws.clients._client("secretsmanager").create_secret(Name="drgero/fine-tune-key", SecretString=secret)
    settings, clients = _clients(aws, api_key="", api_key_secret_name="drgero/fine-tune-key")

    resolved = with_backend_key(settings, clients)
    assert resolved.fine_tune.api_key == secret
    assert settings.fine_tune.api_key == ""  # the settings passed in are not changed

    # Cached: a second use does not read Secrets Manager again.
    aws.clients._client("secretsmanager").put_secret_value(SecretId="drgero/fine-tune-key", SecretString="sk-rotated")
    assert with_backend_key(settings, clients).fine_tune.api_key == secret

    seen: list[str] = []

    def backend(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(200, json={"id": "ftjob-1", "status": "running"})

    client = FineTuneBackend(resolved.fine_tune, transport=httpx.MockTransport(backend))
    try:
        assert client.get_job("ftjob-1").status == "running"
    finally:
        client.close()
    assert seen == [f"Bearer {secret}"]
