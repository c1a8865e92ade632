"""The template's AWS resources on moto's server, created as CloudFormation would from their properties:
queues (with their redrive policy), buckets (versioning, notifications to a queue), tables (keys, indexes,
TTL), secrets (value, tags), the KMS key and alias, topics. Created on first reference, so that a queue's
dead-letter queue exists before the queue that names it, and a bucket's notification queue before the
bucket. Other types (roles, policies, log groups, alarms, the layer, the API, the functions) are not
created: a reference to one gets the name or ARN CloudFormation would give it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from stack.template import ACCOUNT, REGION, Template, TemplateError

QUEUE = "AWS::SQS::Queue"
BUCKET = "AWS::S3::Bucket"
TABLE = "AWS::DynamoDB::Table"
SECRET = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type
KEY = "AWS::KMS::Key"
ALIAS = "AWS::KMS::Alias"
TOPIC = "AWS::SNS::Topic"
#: The types created on moto, in the order the summary lists them.
CREATED_TYPES = (KEY, ALIAS, SECRET, TABLE, QUEUE, BUCKET, TOPIC)
#: What a table's shape is made of; encryption and recovery are the deployment's, not emulated.
_TABLE_SHAPE = (
    "BillingMode",
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "ProvisionedThroughput",
)


@dataclass(frozen=True)
class Created:
    """A resource made on moto: its type, its name (or id) and what ``Ref`` / ``Fn::GetAtt`` give."""

    type: str
    name: str
    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)


def queue_url(name: str) -> str:
    """A queue's URL as a deployed function's variable holds it."""
    return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"


class Resources:
    """Creates the template's resources on the endpoint boto3 is configured for (moto's server)."""

    def __init__(self, stack_name: str) -> None:
        self.stack_name = stack_name
        self.created: dict[str, Created] = {}
        self._creating: set[str] = set()
        self.template: Template | None = None

    # The callback Template calls for Ref / Fn::GetAtt of a resource.
    def physical(self, logical_id: str, attribute: str | None) -> Any:
        assert self.template is not None
        kind = self.template.resources[logical_id]["Type"]
        if kind in CREATED_TYPES:
            made = self.create(logical_id)
            if attribute is None:
                return made.ref
            if attribute not in made.attributes:
                raise TemplateError(f"GetAtt {logical_id}.{attribute}: not known locally")
            return made.attributes[attribute]
        return self._not_created(logical_id, kind, attribute)

    def _not_created(self, logical_id: str, kind: str, attribute: str | None) -> str:
        name = f"{self.stack_name}-{logical_id}"
        arns = {
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}",
        }
        arn = arns.get(kind, f"arn:aws:local:{REGION}:{ACCOUNT}:{logical_id}")
        if attribute not in (None, "Arn"):
            # e.g. a custom resource's Data: only its provider, run by CloudFormation, could say it
            raise TemplateError(f"GetAtt {logical_id}.{attribute}: {kind} is not emulated locally")
        return arn if attribute == "Arn" else name

    def create_all(self, template: Template) -> list[str]:
        """Every resource of a created type whose condition holds. Returns the logical ids, in order."""
        self.template = template
        for logical_id, spec in template.resources.items():
            if spec.get("Type") in CREATED_TYPES and template.exists(logical_id):
                self.create(logical_id)
        return list(self.created)

    def create(self, logical_id: str) -> Created:
        assert self.template is not None
        if logical_id in self.created:
            return self.created[logical_id]
        if logical_id in self._creating:
            raise TemplateError(f"{logical_id} refers to itself through its properties")
        self._creating.add(logical_id)
        spec = self.template.resources[logical_id]
        properties: dict[str, Any] = self.template.resolve(spec.get("Properties", {}))
        makers: dict[str, Callable[[str, dict[str, Any]], Created]] = {
            QUEUE: self._queue,
            BUCKET: self._bucket,
            TABLE: self._table,
            SECRET: self._secret,
            KEY: self._key,
            ALIAS: self._alias,
            TOPIC: self._topic,
        }
        made = makers[spec["Type"]](logical_id, properties)
        self.created[logical_id] = made
        self._creating.discard(logical_id)
        return made

    def _queue(self, logical_id: str, p: dict[str, Any]) -> Created:
        fifo = str(p.get("FifoQueue", "false")).lower() == "true"
        name = p.get("QueueName") or f"{self.stack_name}-{logical_id}" + (".fifo" if fifo else "")
        attributes: dict[str, str] = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize"):
            if key in p:
                attributes[key] = str(p[key])
        if fifo:
            attributes["FifoQueue"] = "true"
            if str(p.get("ContentBasedDeduplication", "false")).lower() == "true":
                attributes["ContentBasedDeduplication"] = "true"
        if "RedrivePolicy" in p:
            policy = p["RedrivePolicy"]
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": policy["deadLetterTargetArn"],
                    "maxReceiveCount": int(policy["maxReceiveCount"]),
                }
            )
        sqs: Any = boto3.client("sqs")
        sqs.create_queue(QueueName=name, Attributes=attributes)
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        return Created(
            QUEUE, name, queue_url(name), {"Arn": arn, "QueueName": name, "QueueUrl": queue_url(name)}
        )

    def _bucket(self, logical_id: str, p: dict[str, Any]) -> Created:
        name = str(p.get("BucketName") or f"{self.stack_name}-{logical_id}".lower())[:63]
        s3: Any = boto3.client("s3")
        s3.create_bucket(Bucket=name)
        versioning = p.get("VersioningConfiguration", {}).get("Status")
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
        queues = p.get("NotificationConfiguration", {}).get("QueueConfigurations", [])
        if queues:
            configurations = []
            for q in queues:
                configuration: dict[str, Any] = {"QueueArn": q["Queue"], "Events": [q["Event"]]}
                if "Filter" in q:
                    rules = q["Filter"]["S3Key"]["Rules"]
                    configuration["Filter"] = {"Key": {"FilterRules": rules}}
                configurations.append(configuration)
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"QueueConfigurations": configurations}
            )
        attributes = {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}
        return Created(BUCKET, name, name, attributes)

    def _table(self, logical_id: str, p: dict[str, Any]) -> Created:
        name = str(p.get("TableName") or f"{self.stack_name}-{logical_id}")
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(TableName=name, **{k: p[k] for k in _TABLE_SHAPE if k in p})
        ttl = p.get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled", "false")).lower() == "true":
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        return Created(TABLE, name, name, {"Arn": arn})

    def _secret(self, logical_id: str, p: dict[str, Any]) -> Created:
        name = str(p.get("Name") or f"{self.stack_name}/{logical_id}")
        arguments: dict[str, Any] = {"Name": name, "SecretString": p.get("SecretString", "{}")}
        if p.get("Description"):
            arguments["Description"] = p["Description"]
        if p.get("KmsKeyId"):
            arguments["KmsKeyId"] = p["KmsKeyId"]
        if p.get("Tags"):
            arguments["Tags"] = [{"Key": t["Key"], "Value": str(t["Value"])} for t in p["Tags"]]
        arn = str(boto3.client("secretsmanager").create_secret(**arguments)["ARN"])
        return Created(SECRET, name, arn, {"Id": arn, "Name": name})

    def _key(self, logical_id: str, p: dict[str, Any]) -> Created:
        metadata = boto3.client("kms").create_key(Description=str(p.get("Description", logical_id)))
        key = metadata["KeyMetadata"]
        return Created(KEY, key["KeyId"], key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]})

    def _alias(self, logical_id: str, p: dict[str, Any]) -> Created:
        boto3.client("kms").create_alias(AliasName=p["AliasName"], TargetKeyId=p["TargetKeyId"])
        return Created(ALIAS, p["AliasName"], p["AliasName"])

    def _topic(self, logical_id: str, p: dict[str, Any]) -> Created:
        name = str(p.get("TopicName") or f"{self.stack_name}-{logical_id}")
        arn = str(boto3.client("sns").create_topic(Name=name)["TopicArn"])
        return Created(TOPIC, name, arn, {"TopicArn": arn, "TopicName": name})
