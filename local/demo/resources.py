"""The AWS resources the batch functions need, created on moto's server: the drop bucket, the batch queue,
and the ledger and idempotency tables with the key schema and index ``template.yaml`` gives them (read from
the template, so the demo's tables cannot drift from the deployed ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
#: What a table's shape is made of; encryption, recovery and TTL are the deployment's, not the demo's.
_SHAPE = ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (``!Ref``, ``!GetAtt``...), kept as their raw value."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node, deep=True)


_TemplateLoader.add_multi_constructor("!", _any_tag)


def template_resources(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as handle:
        loaded = yaml.load(handle, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    resources: dict[str, Any] = loaded["Resources"]
    return resources


def create_table(name: str, logical_id: str, resources: dict[str, Any]) -> None:
    """The table ``logical_id`` of the template, named ``name``."""
    properties = resources[logical_id]["Properties"]
    shape = {key: properties[key] for key in _SHAPE if key in properties}
    boto3.client("dynamodb").create_table(TableName=name, **shape)


def create_drop_bucket(name: str) -> None:
    """Versioned, as the template's BatchDropBucket is: a file's identity is its version."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def create_queue(name: str) -> str:
    """The queue's URL as the function's variable holds it (``https://sqs.<region>...``, as deployed)."""
    sqs = boto3.client("sqs")
    url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    _, _, _, region, account, queue = arn.split(":")
    return f"https://sqs.{region}.amazonaws.com/{account}/{queue}"
