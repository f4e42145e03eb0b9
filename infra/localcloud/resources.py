"""Creates the template's tables, bucket, queues (with redrive), KMS key and schedule groups
on an AWS endpoint (the embedded moto server, or moto's in-process mock in unit tests), and
resolves the intrinsic functions in function environments against what it created.

Nothing here declares a resource: everything comes from template.yaml. Creating is
idempotent: a resource that already exists (the local cloud restored its saved state) is
kept and only named, so a restart neither fails nor duplicates anything.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from localcloud.template import Template

ACCOUNT_ID = "123456789012"
STACK_NAME = "drgero-local"


@dataclass
class CreatedResources:
    """What was created, by logical id: its Ref value and attributes (Arn, QueueName, ...)."""

    region: str
    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, dict[str, str]] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        """Resolves Ref / Fn::GetAtt / Fn::Sub / Fn::Join in ``value`` (recursively)."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            return self._ref(value["Ref"])
        if "Fn::GetAtt" in value:
            logical, attr = value["Fn::GetAtt"]
            return self.attrs[logical][attr]
        if "Fn::Sub" in value:
            spec = value["Fn::Sub"]
            text, extra = (spec, {}) if isinstance(spec, str) else (spec[0], spec[1])
            return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub_var(m.group(1), extra), text)
        if "Fn::Join" in value:
            sep, items = value["Fn::Join"]
            return sep.join(str(self.resolve(i)) for i in items)
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return str(self.parameters[name])
        return self.refs[name]

    def _sub_var(self, name: str, extra: dict[str, Any]) -> str:
        if name in extra:
            return str(self.resolve(extra[name]))
        if "." in name:
            logical, attr = name.split(".", 1)
            return self.attrs[logical][attr]
        return self._ref(name)


def _local_name(logical_id: str) -> str:
    """A readable, valid physical name for a resource (lowercase, dashes)."""
    return f"{STACK_NAME}-{re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '-', logical_id).lower()}"


def create_resources(
    session: Any, template: Template, endpoint_url: str | None, region: str, parameters: dict[str, Any] | None = None
) -> CreatedResources:
    """Creates every stateful resource of the template and returns what was created."""
    params = template.parameter_defaults()
    params.update(parameters or {})
    created = CreatedResources(region=region, parameters=params)

    def client(service: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=endpoint_url)

    _create_tables(client("dynamodb"), template, created)
    _create_buckets(client("s3"), template, created)
    _create_queues(client("sqs"), template, created)
    _create_kms_keys(client("kms"), template, created)
    _create_schedule_groups(client("scheduler"), template, created)
    _name_other_resources(template, created)
    return created


def _exists(call: Any, **kwargs: Any) -> bool:
    """Whether a describe-style call finds its resource (any not-found error code: False)."""
    try:
        call(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"ResourceNotFoundException", "NoSuchBucket", "404", "NotFoundException"} or code.endswith(
            "NonExistentQueue"
        ):
            return False
        raise
    return True


def _create_tables(ddb: Any, template: Template, created: CreatedResources) -> None:
    for logical, res in template.of_type("AWS::DynamoDB::Table").items():
        props = res["Properties"]
        name = props.get("TableName") or _local_name(logical)
        created.refs[logical] = name
        created.attrs[logical] = {"Arn": f"arn:aws:dynamodb:{created.region}:{ACCOUNT_ID}:table/{name}"}
        if _exists(ddb.describe_table, TableName=name):
            continue
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        ddb.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )


def _create_buckets(s3: Any, template: Template, created: CreatedResources) -> None:
    for logical, res in template.of_type("AWS::S3::Bucket").items():
        props = res.get("Properties", {})
        name = props.get("BucketName") or _local_name(logical)
        created.refs[logical] = name
        created.attrs[logical] = {"Arn": f"arn:aws:s3:::{name}"}
        if _exists(s3.head_bucket, Bucket=name):
            continue
        if created.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": created.region})
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def _create_queues(sqs: Any, template: Template, created: CreatedResources) -> None:
    queues = template.of_type("AWS::SQS::Queue")
    # DLQs first: a source queue's redrive policy names its DLQ's ARN.
    ordered = sorted(queues.items(), key=lambda kv: "RedrivePolicy" in kv[1].get("Properties", {}))
    for logical, res in ordered:
        props = res.get("Properties", {})
        name = props.get("QueueName") or _local_name(logical)
        attributes: dict[str, str] = {}
        for prop, attr in (
            ("VisibilityTimeout", "VisibilityTimeout"),
            ("MessageRetentionPeriod", "MessageRetentionPeriod"),
            ("DelaySeconds", "DelaySeconds"),
        ):
            if prop in props:
                attributes[attr] = str(created.resolve(props[prop]))
        if "RedrivePolicy" in props:
            policy = created.resolve(props["RedrivePolicy"])
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": policy["deadLetterTargetArn"],
                    "maxReceiveCount": int(policy["maxReceiveCount"]),
                }
            )
        # Same name and attributes: SQS answers the existing queue's URL (a restored state's).
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        created.refs[logical] = url
        created.attrs[logical] = {
            "Arn": f"arn:aws:sqs:{created.region}:{ACCOUNT_ID}:{name}",
            "QueueName": name,
            "QueueUrl": url,
        }


def _create_kms_keys(kms: Any, template: Template, created: CreatedResources) -> None:
    # Each key gets an alias from its logical id, how a restart finds the key that sealed what
    # the restored tables hold (a new key could not decrypt it).
    for logical, res in template.of_type("AWS::KMS::Key").items():
        alias = f"alias/{_local_name(logical)}"
        try:
            meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NotFoundException":
                raise
            meta = kms.create_key(Description=res.get("Properties", {}).get("Description", logical))["KeyMetadata"]
            kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
        created.refs[logical] = meta["KeyId"]
        created.attrs[logical] = {"Arn": meta["Arn"], "KeyId": meta["KeyId"]}


def _create_schedule_groups(scheduler: Any, template: Template, created: CreatedResources) -> None:
    for logical, res in template.of_type("AWS::Scheduler::ScheduleGroup").items():
        name = created.resolve(res.get("Properties", {}).get("Name")) or _local_name(logical)
        try:
            arn = scheduler.get_schedule_group(Name=name)["Arn"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            arn = scheduler.create_schedule_group(Name=name)["ScheduleGroupArn"]
        created.refs[logical] = name
        created.attrs[logical] = {"Arn": arn}


def _name_other_resources(template: Template, created: CreatedResources) -> None:
    """Stateless resources (functions, roles, topics) get names and ARNs so references to
    them resolve; the local cloud runs functions in-process and needs no IAM."""
    for logical, res in template.resources.items():
        if logical in created.refs:
            continue
        kind = res.get("Type", "")
        name = _local_name(logical)
        if kind == "AWS::Serverless::Function":
            arn = f"arn:aws:lambda:{created.region}:{ACCOUNT_ID}:function:{name}"
        elif kind == "AWS::IAM::Role":
            arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
        elif kind == "AWS::SNS::Topic":
            arn = f"arn:aws:sns:{created.region}:{ACCOUNT_ID}:{name}"
        else:
            arn = f"arn:aws:local:{created.region}:{ACCOUNT_ID}:{name}"
        created.refs[logical] = arn if kind == "AWS::SNS::Topic" else name
        created.attrs[logical] = {"Arn": arn}


def function_environment(template: Template, logical_id: str, created: CreatedResources) -> dict[str, str]:
    """The environment a function gets in AWS: Globals merged with its own variables,
    intrinsics resolved against the created resources."""
    env = dict(template.global_env)
    own = template.functions[logical_id].get("Properties", {}).get("Environment", {}).get("Variables", {})
    env.update(own)
    return {k: str(created.resolve(v)) for k, v in env.items()}
