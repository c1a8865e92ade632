"""Load template.yaml (with CloudFormation's short-form tags) and transform it offline."""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def documentation() -> str:
    """The README and every document under docs/, as one text."""
    return "\n".join(path.read_text() for path in [README, *sorted(DOCS.glob("*.md"))])


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Loader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
        return loaded


def transform(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation that SAM would deploy, translated offline (local code URIs -> s3 placeholders)."""
    from samtranslator.translator.transform import transform as sam_transform

    class _Loader:
        def load(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return {}

    doc = copy.deepcopy(template)
    for resource in doc["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://placeholder-bucket/{props[key].strip('/')}.zip"
    return dict(sam_transform(doc, {}, _Loader()))


@functools.cache
def cached_template() -> dict[str, Any]:
    """template.yaml as written, loaded once per test process (tests must not modify it)."""
    return load_template()


@functools.cache
def cached_translation() -> dict[str, Any]:
    """The translated template, once per test process (tests must not modify it)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(load_template())


def specialise(template: dict[str, Any], conditions: dict[str, bool], parameters: dict[str, Any]) -> Any:
    """The template's resources as CloudFormation would see them for these condition values: resources of
    a false condition left out, ``Fn::If`` resolved, ``AWS::NoValue`` dropped, the given parameters'
    ``Ref`` replaced by their values."""
    no_value = object()

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, when_true, when_false = node["Fn::If"]
                return resolve(when_true if conditions[name] else when_false)
            if set(node) == {"Ref"} and node["Ref"] == "AWS::NoValue":
                return no_value
            if set(node) == {"Ref"} and node["Ref"] in parameters:
                return parameters[node["Ref"]]
            resolved = {key: resolve(value) for key, value in node.items()}
            return {key: value for key, value in resolved.items() if value is not no_value}
        if isinstance(node, list):
            return [item for item in (resolve(value) for value in node) if item is not no_value]
        return node

    return {
        name: resolve(resource)
        for name, resource in template["Resources"].items()
        if conditions.get(resource.get("Condition", ""), True)
    }
