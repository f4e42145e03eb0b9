"""template.yaml is the single source of truth: these tests lint it, run the SAM transform
offline (aws-sam-translator, as CloudFormation would) and assert the product's operational
rules on the result, so a template edit that breaks one fails here, not in a deploy.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from drgero.core.settings import Settings
from localcloud.functions import handler_entry
from localcloud.template import REPO_ROOT, TEMPLATE_PATH, load_template

# The SAM transform reads the region from the environment (conftest also sets it).
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

MIN_MAX_RECEIVE_COUNT = 5
VISIBILITY_FACTOR = 6  # AWS: queue visibility >= 6 x the consumer's timeout (+ batching window)
PUBLIC_ROUTES = {("/v1/health", "get"), ("/openapi.json", "get"), ("/", "get"), ("/ui/{proxy+}", "get")}
PUBLIC_ROUTES |= {("/api/auth/config", "get")}  # the dashboard's sign-in methods
# No gateway authorizer, but not public: the inference function checks the credential itself
# with the authorizer's code (docs/performance.md, "authorizer hop"; tests/gateway/test_inference_auth.py).
SELF_AUTHORIZED_ROUTES = {("/v1/leaderboard/{id}/inference", "post"), ("/v1/chat/completions", "post")}


# ---------------------------------------------------------------- the transform


class _AnyManagedPolicy(dict):
    """Managed policy name -> ARN, for any name asked (the real loader calls IAM)."""

    def __missing__(self, name: str) -> str:
        return f"arn:aws:iam::aws:policy/{name}"


class _OfflinePolicyLoader:
    def load(self) -> dict[str, str]:
        return _AnyManagedPolicy()


def _as_packaged(template: dict[str, Any]) -> dict[str, Any]:
    """The template as `sam package` leaves it: local CodeUri/ContentUri become S3 URIs."""
    packaged = copy.deepcopy(template)
    for resource in packaged["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://drgero-artifacts/{props[key].strip('/')}.zip"
    return packaged


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    """The SAM template as written (short-form intrinsics in long form)."""
    return load_template()


@pytest.fixture(scope="module")
def cfn(sam: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation template the SAM transform produces, computed offline."""
    from samtranslator.translator.transform import transform

    return transform(_as_packaged(sam), {}, _OfflinePolicyLoader())


def _of_type(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == kind}


def _getatt_target(value: Any) -> tuple[str, str] | None:
    """(logical id, attribute) of a {"Fn::GetAtt": [...]} value, else None."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical, attr = value["Fn::GetAtt"]
        return logical, attr
    return None


def _ref_target(value: Any) -> str | None:
    return value["Ref"] if isinstance(value, dict) and "Ref" in value else None


def _mappings(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _of_type(cfn, "AWS::Lambda::EventSourceMapping")


def _source_queue(mapping: dict[str, Any]) -> str:
    target = _getatt_target(mapping["Properties"]["EventSourceArn"])
    assert target and target[1] == "Arn", f"event source must be !GetAtt <Queue>.Arn, got {target}"
    return target[0]


def _dlqs(cfn: dict[str, Any]) -> dict[str, str]:
    """DLQ logical id -> its source queue's logical id."""
    out = {}
    for logical, queue in _of_type(cfn, "AWS::SQS::Queue").items():
        redrive = queue["Properties"].get("RedrivePolicy")
        if redrive:
            target = _getatt_target(redrive["deadLetterTargetArn"])
            assert target, f"{logical}: deadLetterTargetArn must be !GetAtt <DLQ>.Arn"
            out[target[0]] = logical
    return out


# ---------------------------------------------------------------- lint


def test_cfn_lint_is_clean():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(  # noqa: S603 - our own venv's cfn-lint on our own template
        [str(cfn_lint), str(TEMPLATE_PATH)], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    assert result.returncode == 0, f"cfn-lint findings:\n{result.stdout}\n{result.stderr}"


def test_sam_transform_produces_every_function(sam, cfn):
    sam_functions = {k for k, v in sam["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert sam_functions, "template.yaml declares no functions"
    assert set(_of_type(cfn, "AWS::Lambda::Function")) == sam_functions
    for logical, fn in _of_type(cfn, "AWS::Lambda::Function").items():
        assert fn["Properties"]["Runtime"] == "python3.12", logical
        assert fn["Properties"].get("TracingConfig", {}).get("Mode") == "Active", f"{logical}: X-Ray tracing off"


# ---------------------------------------------------------------- queues


def test_every_queue_except_dlqs_has_a_redrive_policy(cfn):
    dlqs = _dlqs(cfn)
    for logical, queue in _of_type(cfn, "AWS::SQS::Queue").items():
        if logical in dlqs:
            assert "RedrivePolicy" not in queue["Properties"], f"{logical}: a DLQ must not redrive further"
            continue
        redrive = queue["Properties"].get("RedrivePolicy")
        assert redrive, f"{logical} has no DLQ (RedrivePolicy)"
        assert int(redrive["maxReceiveCount"]) >= MIN_MAX_RECEIVE_COUNT, logical


def test_every_consumer_source_queue_has_dlq_and_enough_receives(cfn):
    queues = _of_type(cfn, "AWS::SQS::Queue")
    mappings = _mappings(cfn)
    assert mappings, "no SQS event source mappings"
    for name, mapping in mappings.items():
        source = _source_queue(mapping)
        redrive = queues[source]["Properties"].get("RedrivePolicy")
        assert redrive, f"{source} (consumed by {name}) has no RedrivePolicy"
        dlq = _getatt_target(redrive["deadLetterTargetArn"])
        assert dlq and dlq[0] in queues and dlq[0] != source
        assert int(redrive["maxReceiveCount"]) >= MIN_MAX_RECEIVE_COUNT, f"{source}: maxReceiveCount < 5"


def test_dlq_retention_outlives_source_retention(cfn):
    queues = _of_type(cfn, "AWS::SQS::Queue")
    default_retention = 345600  # SQS default: 4 days
    for dlq, source in _dlqs(cfn).items():
        dlq_keep = int(queues[dlq]["Properties"].get("MessageRetentionPeriod", default_retention))
        src_keep = int(queues[source]["Properties"].get("MessageRetentionPeriod", default_retention))
        # A message that spent its life failing in the source must still be in the DLQ when looked at.
        assert dlq_keep > src_keep, f"{dlq} keeps {dlq_keep}s, not longer than {source} ({src_keep}s)"


def test_every_event_source_mapping_reports_batch_item_failures(cfn):
    for name, mapping in _mappings(cfn).items():
        # Without it one bad record makes the whole batch retry (and be processed twice).
        assert mapping["Properties"].get("FunctionResponseTypes") == ["ReportBatchItemFailures"], name


def test_queue_visibility_covers_six_times_consumer_timeout(cfn):
    queues = _of_type(cfn, "AWS::SQS::Queue")
    functions = _of_type(cfn, "AWS::Lambda::Function")
    for name, mapping in _mappings(cfn).items():
        props = mapping["Properties"]
        fn = functions[_ref_target(props["FunctionName"])]
        timeout = int(fn["Properties"].get("Timeout", 3))
        window = int(props.get("MaximumBatchingWindowInSeconds", 0))
        source = _source_queue(mapping)
        visibility = int(queues[source]["Properties"].get("VisibilityTimeout", 30))
        # AWS's rule for Lambda consumers: >= 6x the function timeout, plus the batching window
        # (a record waits in the window before the invocation's clock starts).
        needed = VISIBILITY_FACTOR * timeout + window
        assert visibility >= needed, f"{source}: VisibilityTimeout {visibility}s < {needed}s ({name})"


# ---------------------------------------------------------------- handlers and environment


def _function_ids(sam_template: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in sam_template["Resources"].items() if v["Type"] == "AWS::Serverless::Function")


@pytest.mark.parametrize("logical_id", _function_ids(load_template()))
def test_handler_path_resolves_to_a_callable(aws, logical_id):
    props = aws.functions.properties(logical_id)
    if props["Handler"].endswith(".sh"):  # behind the Lambda Web Adapter: the script must exist
        script = REPO_ROOT / props["CodeUri"] / props["Handler"]
        assert script.is_file() and os.access(script, os.X_OK), f"{logical_id}: {script} missing or not executable"
    module_name, func_name = handler_entry(props["Handler"])
    source = REPO_ROOT / props["CodeUri"] / f"{module_name.replace('.', '/')}.py"
    assert source.is_file(), f"{logical_id}: Handler {props['Handler']} -> missing {source}"
    # Imported with the function's template environment, as at a Lambda cold start.
    handler = aws.functions.handler(logical_id)
    assert callable(handler), f"{logical_id}: {props['Handler']} is not callable"


def _env_of(sam: dict[str, Any], logical_id: str) -> set[str]:
    env = set(sam.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    own = sam["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    return env | set(own)


def _global_env(sam: dict[str, Any]) -> dict[str, Any]:
    return sam.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})


def _is_resource_setting(name: str, default: Any) -> bool:
    """An AWS setting that names a resource of the stack (or the stack's region): its
    default only fits the local cloud, so in AWS the template must set it."""
    if name == "endpoint_url":  # None in AWS by design; only the local cloud points it elsewhere
        return False
    return default == "" or name == "region" or name.endswith(("_name", "_url", "_arn", "_id"))


def test_every_aws_resource_setting_is_set_by_template_globals(sam):
    env = _global_env(sam)
    aws_fields = Settings.model_fields["aws"].annotation.model_fields
    missing = [
        f"DRGERO_AWS__{name.upper()}"
        for name, field in aws_fields.items()
        if _is_resource_setting(name, field.default) and f"DRGERO_AWS__{name.upper()}" not in env
    ]
    assert not missing, f"settings the functions need in AWS but the template does not set: {missing}"


def test_every_drgero_variable_in_template_is_a_real_setting(sam):
    """A typo in a variable name would silently leave the default in place."""
    names = set(_global_env(sam))
    for logical in _function_ids(sam):
        names |= _env_of(sam, logical)
    for name in sorted(n for n in names if n.startswith("DRGERO_")):
        path = name.removeprefix("DRGERO_").lower().split("__")
        model: type[BaseModel] = Settings
        for part in path[:-1]:
            assert part in model.model_fields, f"{name}: no settings group '{part}'"
            model = model.model_fields[part].annotation
        assert path[-1] in model.model_fields, f"{name}: no setting '{path[-1]}' in {model.__name__}"


_ENV_READ = re.compile(
    r"""(?:os\.environ\.get|os\.getenv|os\.environ\.setdefault|os\.environ)\s*[\(\[]\s*["']([A-Z0-9_]+)["']"""
)

# Variables code may read that the template must NOT set, and why:
ENV_NOT_FROM_TEMPLATE = {
    # Local-only: names the TOML file of `make local`; in AWS every setting is an env var.
    "DRGERO_CONFIG",
}
# Set by the Lambda runtime itself for every function.
LAMBDA_RUNTIME_ENV = {
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_EXECUTION_ENV",
    "LAMBDA_TASK_ROOT",
    "_X_AMZN_TRACE_ID",
    "_HANDLER",
}


def _env_reads(folder: Path) -> dict[str, list[str]]:
    """Environment variable name -> files under ``folder`` that read it literally."""
    reads: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for name in _ENV_READ.findall(path.read_text(encoding="utf-8")):
            reads.setdefault(name, []).append(str(path.relative_to(REPO_ROOT)))
    return reads


def test_env_reader_regex_finds_reads():
    """Guards the scanner below: it must see the forms code uses."""
    sample = 'os.environ.get("A_1")\nos.getenv("B")\nos.environ["C"]\nos.environ.setdefault("D", "x")'
    assert _ENV_READ.findall(sample) == ["A_1", "B", "C", "D"]


def test_every_env_var_the_code_reads_is_set_by_the_template(sam):
    problems = []
    exempt = ENV_NOT_FROM_TEMPLATE | LAMBDA_RUNTIME_ENV
    # shared/ runs in every function: its variables must be set for all of them (Globals).
    for name, files in _env_reads(REPO_ROOT / "shared").items():
        if name not in exempt and name not in _global_env(sam):
            problems.append(f"{name} (read in {files}) is not in Globals.Function.Environment")
    for logical in _function_ids(sam):
        code_dir = REPO_ROOT / sam["Resources"][logical]["Properties"]["CodeUri"]
        for name, files in _env_reads(code_dir).items():
            if name not in exempt and name not in _env_of(sam, logical):
                problems.append(f"{name} (read in {files}) is not set for {logical}")
    assert not problems, "\n".join(problems)


def test_template_does_not_set_local_only_variables(sam):
    names = set(_global_env(sam))
    for logical in _function_ids(sam):
        names |= _env_of(sam, logical)
    assert not names & ENV_NOT_FROM_TEMPLATE


def test_schedules_are_named_per_stack(cfn):
    """Schedule (group) names are unique per account and region: a fixed name would make a
    second stack (staging next to prod) fail to deploy."""
    named = {**_of_type(cfn, "AWS::Scheduler::Schedule"), **_of_type(cfn, "AWS::Scheduler::ScheduleGroup")}
    assert named
    for logical, res in named.items():
        name = res["Properties"].get("Name")
        assert isinstance(name, dict) and "${AWS::StackName}" in str(name.get("Fn::Sub")), f"{logical}: {name}"


# ---------------------------------------------------------------- IAM


def _policy_documents(cfn: dict[str, Any]):
    """(where, statement) for every statement of every policy document in the stack."""
    for logical, res in cfn["Resources"].items():
        props = res.get("Properties", {})
        docs: list[tuple[str, Any]] = []
        if res["Type"] == "AWS::IAM::Role":
            # A conditional policy ({"Fn::If": [condition, policy, NoValue]}) is checked as if granted.
            policies = [p["Fn::If"][1] if "Fn::If" in p else p for p in props.get("Policies", [])]
            docs += [(f"{logical}/{p['PolicyName']}", p["PolicyDocument"]) for p in policies]
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs.append((logical, props["PolicyDocument"]))
        elif res["Type"] in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            docs.append((logical, props["PolicyDocument"]))
        elif res["Type"] == "AWS::KMS::Key":
            docs.append((logical, props["KeyPolicy"]))
        for where, doc in docs:
            statements = doc["Statement"]
            for statement in statements if isinstance(statements, list) else [statements]:
                yield where, res["Type"], statement


def _resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement.get("Resource", [])
    return resource if isinstance(resource, list) else [resource]


def test_no_wildcard_resource_where_a_resource_is_known(cfn):
    offenders = []
    seen = 0
    for where, kind, statement in _policy_documents(cfn):
        seen += 1
        if statement.get("Effect") != "Allow" or "*" not in _resources_of(statement):
            continue
        # Exception: in a KMS *key policy* "Resource": "*" means "this key" - a key policy can
        # name nothing else, and AWS documents "*" as the required form there.
        if kind == "AWS::KMS::Key":
            continue
        offenders.append(f"{where}: {statement.get('Action')}")
    assert seen > 10, "the scan found suspiciously few policy statements"
    assert not offenders, "Allow statements on Resource '*':\n" + "\n".join(offenders)


def test_every_function_role_is_scoped_by_policy_templates_not_admin(cfn):
    for logical, role in _of_type(cfn, "AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            assert "AdministratorAccess" not in str(arn) and "FullAccess" not in str(arn), f"{logical}: {arn}"


# ---------------------------------------------------------------- alarms


def _alarms(cfn: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["Properties"] for a in _of_type(cfn, "AWS::CloudWatch::Alarm").values()]


def _dimension(alarm: dict[str, Any], name: str) -> Any:
    for dim in alarm.get("Dimensions", []):
        if dim["Name"] == name:
            return dim["Value"]
    return None


def test_every_dlq_has_a_depth_alarm(cfn):
    for dlq in _dlqs(cfn):
        matching = [
            a
            for a in _alarms(cfn)
            if a.get("Namespace") == "AWS/SQS"
            and a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and _getatt_target(_dimension(a, "QueueName")) == (dlq, "QueueName")
        ]
        assert matching, f"no depth alarm on {dlq}"
        for alarm in matching:
            assert alarm.get("AlarmActions"), f"{dlq} alarm notifies nobody"
            assert float(alarm["Threshold"]) == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_every_function_has_an_errors_alarm(cfn):
    for logical in _of_type(cfn, "AWS::Lambda::Function"):
        matching = [
            a
            for a in _alarms(cfn)
            if a.get("Namespace") == "AWS/Lambda"
            and a.get("MetricName") == "Errors"
            and _ref_target(_dimension(a, "FunctionName")) == logical
        ]
        assert matching, f"no Errors alarm on {logical}"
        assert all(a.get("AlarmActions") for a in matching), f"{logical} alarm notifies nobody"


# ---------------------------------------------------------------- API and authorizer


@pytest.fixture(scope="module")
def api_body(cfn) -> dict[str, Any]:
    apis = _of_type(cfn, "AWS::ApiGateway::RestApi")
    assert len(apis) == 1, f"expected one REST API, found {sorted(apis)}"
    return next(iter(apis.values()))["Properties"]["Body"]


def test_api_uses_a_request_authorizer_without_gateway_caching(api_body):
    definitions = api_body["securityDefinitions"]
    assert len(definitions) == 1
    authorizer = next(iter(definitions.values()))["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request"
    # Caching off: a cached policy would outlive a revoked token and would be keyed on one header.
    assert authorizer["authorizerResultTtlInSeconds"] == 0
    # No identity source: credentials come in one of three headers, and API Gateway answers
    # 401 by itself when a listed source is missing.
    assert not authorizer.get("identitySource"), authorizer.get("identitySource")
    assert _getatt_target(authorizer["authorizerUri"]["Fn::Sub"][1]["__FunctionArn__"]) == (
        "AuthorizerFunction",
        "Arn",
    )


def test_only_health_openapi_the_dashboard_and_preflights_are_public(api_body):
    authorizer_name = next(iter(api_body["securityDefinitions"]))
    routes = {(path, method) for path, ops in api_body["paths"].items() for method in ops}
    assert PUBLIC_ROUTES <= routes and SELF_AUTHORIZED_ROUTES <= routes
    for path, ops in api_body["paths"].items():
        for method, op in ops.items():
            security = [name for entry in op.get("security", []) for name in entry]
            if (path, method) in PUBLIC_ROUTES | SELF_AUTHORIZED_ROUTES or method == "options":
                assert security == ["NONE"], f"{method.upper()} {path} must need no auth, has {security}"
            else:
                assert security == [authorizer_name], f"{method.upper()} {path} is not behind the authorizer"


def test_every_api_path_has_its_own_unauthenticated_preflight(api_body):
    # A path without OPTIONS would send a browser's preflight to ANY /api/{proxy+} (and its
    # authorizer), or to API Gateway's "no route" answer: every path declares its own.
    for path, ops in api_body["paths"].items():
        assert "options" in ops, f"{path} has no OPTIONS method for CORS preflights"
        assert [name for entry in ops["options"].get("security", []) for name in entry] == ["NONE"], path


def test_gateway_responses_echo_the_origin_and_use_the_one_error_shape(api_body):
    for kind, response in api_body["x-amazon-apigateway-gateway-responses"].items():
        params = response.get("responseParameters") or {}
        assert params.get("gatewayresponse.header.Access-Control-Allow-Origin") == "method.request.header.Origin", kind
        body = json.loads(
            response["responseTemplates"]["application/json"].replace("$context.authorizer.error_code", "x")
        )
        assert set(body["error"]) == {"code", "message", "type", "param", "details", "request_id"}, kind
    missing = api_body["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]
    assert int(missing["statusCode"]) == 404


def test_gateway_responses_use_the_contract_error_shape(api_body):
    responses = api_body["x-amazon-apigateway-gateway-responses"]
    denied = responses["ACCESS_DENIED"]
    # A Deny from the authorizer is a bad credential: 401 with the authorizer's own code/message.
    assert int(denied["statusCode"]) == 401
    template = denied["responseTemplates"]["application/json"]
    assert "$context.authorizer.error_code" in template and "$context.authorizer.error_message" in template
    assert int(responses["UNAUTHORIZED"]["statusCode"]) == 401
    assert int(responses["THROTTLED"]["statusCode"]) == 429
    for name, response in responses.items():
        body = response["responseTemplates"]["application/json"]
        assert '"error"' in body and "$context.requestId" in body, name


# ---------------------------------------------------------------- storage


def test_bucket_is_encrypted_private_versioned_and_expiring(cfn):
    buckets = _of_type(cfn, "AWS::S3::Bucket")
    assert buckets
    for logical, bucket in buckets.items():
        props = bucket["Properties"]
        rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules and all(r["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules), logical
        block = props["PublicAccessBlockConfiguration"]
        assert all(
            block.get(k) is True
            for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        ), logical
        if logical == "AccessLogsBucket":
            continue  # write-once logs, expiring: test_data_bucket_reads_are_logged_to_an_expiring_private_bucket
        assert props["VersioningConfiguration"]["Status"] == "Enabled", logical
        lifecycle = {r.get("Prefix"): r for r in props["LifecycleConfiguration"]["Rules"]}
        # Pending push batches and old dataset versions must not pile up forever.
        for prefix in ("pending/", "datasets/"):
            assert prefix in lifecycle, f"{logical}: no lifecycle rule for {prefix}"
            assert lifecycle[prefix]["Status"] == "Enabled"
            assert "NoncurrentVersionExpiration" in lifecycle[prefix] or "ExpirationInDays" in lifecycle[prefix]


def test_bucket_refuses_plain_http(cfn):
    policies = _of_type(cfn, "AWS::S3::BucketPolicy").values()
    denies = [
        s
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in (False, "false")
    ]
    assert denies, "no TLS-only bucket policy"


def test_tables_have_point_in_time_recovery_and_ttl(cfn):
    tables = _of_type(cfn, "AWS::DynamoDB::Table")
    assert len(tables) >= 2, "expected the metadata table and the idempotency table"
    for logical, table in tables.items():
        props = table["Properties"]
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, logical
        ttl = props["TimeToLiveSpecification"]
        assert ttl["Enabled"] is True and ttl["AttributeName"], logical
        assert props.get("SSESpecification", {}).get("SSEEnabled") is True, logical


# ---------------------------------------------------------------- hardening (issue 16)


def _stage(cfn: dict[str, Any]) -> dict[str, Any]:
    stages = _of_type(cfn, "AWS::ApiGateway::Stage")
    assert len(stages) == 1, sorted(stages)
    return next(iter(stages.values()))["Properties"]


def test_api_access_logs_go_to_a_log_group_with_retention(cfn):
    setting = _stage(cfn)["AccessLogSetting"]
    assert _getatt_target(setting["DestinationArn"]) == ("ApiAccessLogGroup", "Arn")
    line = setting["Format"]
    for field in ("$context.authorizer.token_id", "$context.authorizer.kind", "$context.authorizer.workspace_id"):
        assert field in line, field  # who: the credential id, never the secret
    for field in ("$context.httpMethod", "$context.resourcePath", "$context.status", "$context.responseLatency"):
        assert field in line, field
    group = cfn["Resources"]["ApiAccessLogGroup"]
    assert group["Type"] == "AWS::Logs::LogGroup" and group["Properties"]["RetentionInDays"]
    # API Gateway writes access logs through the account's CloudWatch role.
    account = _of_type(cfn, "AWS::ApiGateway::Account")
    assert len(account) == 1


def test_the_authorizer_reads_the_jwt_secret_from_secrets_manager(sam, cfn):
    assert "JwtHs256Secret" not in sam["Parameters"]  # no secret as a (plaintext) parameter
    for logical, function in _of_type(cfn, "AWS::Lambda::Function").items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        assert "DRGERO_AUTH__JWT_HS256_SECRET" not in variables, logical
    # The inference function authorizes its own routes (no authorizer hop): it verifies
    # HS256 sessions too.
    checkers = ("AuthorizerFunction", "InferenceFunction")
    for function in checkers:
        variables = cfn["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert _ref_target(variables["DRGERO_AUTH__JWT_HS256_SECRET_NAME"]) == "JwtHs256SecretName"
        policies = json.dumps(cfn["Resources"][f"{function}Role"]["Properties"]["Policies"])
        assert "secretsmanager:GetSecretValue" in policies and "HasJwtHs256Secret" in policies
    for logical in _of_type(cfn, "AWS::IAM::Role"):
        if logical not in {f"{function}Role" for function in checkers}:
            assert "JwtHs256SecretName" not in json.dumps(cfn["Resources"][logical]), logical


@pytest.mark.parametrize("function", ["Authorizer", "Api", "Inference", "PushIngest"])
def test_reserved_concurrency_is_a_parameter_off_by_default(sam, cfn, function):
    parameter = sam["Parameters"][f"{function}ReservedConcurrency"]
    assert parameter["Default"] == 0
    reserved = cfn["Resources"][f"{function}Function"]["Properties"]["ReservedConcurrentExecutions"]
    condition, value, otherwise = reserved["Fn::If"]
    assert condition == f"Has{function}ReservedConcurrency"
    assert _ref_target(value) == f"{function}ReservedConcurrency" and _ref_target(otherwise) == "AWS::NoValue"
    assert sam["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": f"{function}ReservedConcurrency"}, 0]}]}


def test_each_credential_has_its_own_rate_limit_in_waf(cfn):
    acl = cfn["Resources"]["TenantRateLimitAcl"]
    assert acl["Condition"] == "HasTenantRateLimit" and acl["Properties"]["Scope"] == "REGIONAL"
    keyed = set()
    for rule in acl["Properties"]["Rules"]:
        rate = rule["Statement"]["RateBasedStatement"]
        assert _ref_target(rate["Limit"]) == "TenantRateLimitPer5Minutes"
        assert rule["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
        keyed.update(key["Header"]["Name"] for key in rate["CustomKeys"])
    assert keyed == {"authorization", "x-api-key", "x-dr.gero-api-key"}  # the three credential headers
    body = json.loads(acl["Properties"]["CustomResponseBodies"]["rate_limited"]["Content"])
    assert body["error"]["code"] == "rate_limited"
    association = cfn["Resources"]["TenantRateLimitAclAssociation"]["Properties"]
    assert _getatt_target(association["WebACLArn"]) == ("TenantRateLimitAcl", "Arn")
    assert "/stages/" in json.dumps(association["ResourceArn"])


def test_every_queue_declares_its_server_side_encryption(cfn):
    for logical, queue in _of_type(cfn, "AWS::SQS::Queue").items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId"), logical


def test_data_bucket_reads_are_logged_to_an_expiring_private_bucket(cfn):
    logging = cfn["Resources"]["DataBucket"]["Properties"]["LoggingConfiguration"]
    assert _ref_target(logging["DestinationBucketName"]) == "AccessLogsBucket"
    logs = cfn["Resources"]["AccessLogsBucket"]["Properties"]
    assert logs["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert logs["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert any(rule.get("ExpirationInDays") for rule in logs["LifecycleConfiguration"]["Rules"])
    policy = json.dumps(cfn["Resources"]["AccessLogsBucketPolicy"]["Properties"]["PolicyDocument"])
    assert "logging.s3.amazonaws.com" in policy and "aws:SecureTransport" in policy


def test_checkov_runs_in_make_lint_with_every_skip_justified():
    makefile = (REPO_ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "checkov --config-file .checkov.yaml" in lint and "template.yaml" in lint
    lines = (REPO_ROOT / ".checkov.yaml").read_text().splitlines()
    skips = [i for i, line in enumerate(lines) if re.match(r"^\s+- CKV_", line)]
    assert skips, "no skip listed"
    for index in skips:
        # Each skip sits under a comment block (shared by adjacent skips) saying why.
        above = index - 1
        while above >= 0 and re.match(r"^\s+- CKV_", lines[above]):
            above -= 1
        assert lines[above].strip().startswith("#"), f"{lines[index].strip()} is not justified"


def test_the_operations_dashboard_shows_what_operators_need(cfn):
    dashboard = cfn["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]
    body = dashboard["Fn::Sub"]
    # The body is JSON once the placeholders are substituted.
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    titles = " ".join(w["properties"]["title"] for w in widgets).lower()
    for what in ("queue depth", "dead-letter", "errors", "throttles", "run duration", "inference latency"):
        assert what in titles, what
    assert "spend per hour" in titles and "consolidation lag" in titles
    for queue in _of_type(cfn, "AWS::SQS::Queue"):
        assert f"${{{queue}.QueueName}}" in body, queue
    for function in _of_type(cfn, "AWS::Lambda::Function"):
        assert body.count(f"${{{function}}}") >= 2, function  # errors and throttles
    for metric in ("RunDurationSeconds", "InferenceLatencyMs", "SpendUsd", "ApproximateAgeOfOldestMessage"):
        assert metric in body, metric
    assert "p99" in body and "p50" in body
