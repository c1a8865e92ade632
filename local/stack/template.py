"""``template.yaml`` as CloudFormation reads it, enough to stand the stack up on one machine: parameters
(defaults, then overrides), conditions, and the intrinsic functions the template uses (``Ref``,
``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::If``, ``Fn::Equals``,
``Fn::Not``, ``Fn::And``, ``Fn::Or``). A resource's physical id and attributes come from a callback, so that
resolving a reference can create the resource it names first (:mod:`stack.resources`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ACCOUNT = "123456789012"
REGION = "us-east-1"
NO_VALUE = object()  # AWS::NoValue: the property is left out


class TemplateError(ValueError):
    """The template cannot be read or resolved here; the message says what and where."""


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms: ``!Ref X`` -> ``{"Ref": X}``, ``!GetAtt A.B`` ->
    ``{"Fn::GetAtt": [A, B]}``, ``!Sub s`` -> ``{"Fn::Sub": s}`` (any other ``!Name`` likewise)."""


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        logical, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [logical, attribute]}
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _short_form)


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as a dict, short forms turned into their long form. Raises TemplateError."""
    try:
        with path.open() as handle:
            loaded = yaml.load(handle, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read {path}: {exc}") from exc
    if not isinstance(loaded, dict) or not isinstance(loaded.get("Resources"), dict):
        raise TemplateError(f"{path} has no Resources")
    return loaded


#: physical(logical_id, attribute) -> the value of ``Ref`` (attribute None) or ``Fn::GetAtt``.
Physical = Callable[[str, str | None], Any]


class Template:
    """One template with its parameter values; :meth:`resolve` evaluates a value of it."""

    def __init__(
        self,
        body: Mapping[str, Any],
        parameters: Mapping[str, str],
        *,
        stack_name: str,
        physical: Physical,
    ) -> None:
        self.body = body
        self.stack_name = stack_name
        self.stack_id = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/local-{stack_name}"
        self._physical = physical
        declared: dict[str, Any] = body.get("Parameters", {})
        unknown = sorted(set(parameters) - set(declared))
        if unknown:
            raise TemplateError(f"no such parameter in the template: {', '.join(unknown)}")
        self.parameters: dict[str, str] = {}
        for name, spec in declared.items():
            if name in parameters:
                self.parameters[name] = str(parameters[name])
            elif "Default" in spec:
                self.parameters[name] = str(spec["Default"])
        missing = sorted(set(declared) - set(self.parameters))
        if missing:
            raise TemplateError(f"parameters without a value: {', '.join(missing)}")
        self._conditions: dict[str, bool] = {}

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.body["Resources"]
        return resources

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = self.body.get("Conditions", {}).get(name)
            if spec is None:
                raise TemplateError(f"no such condition: {name}")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    def exists(self, logical_id: str) -> bool:
        """The resource is in the template and its Condition (if any) holds."""
        spec = self.resources.get(logical_id)
        return spec is not None and ("Condition" not in spec or self.condition(spec["Condition"]))

    def pseudo(self, name: str) -> Any:
        values = {
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            value = self.parameters[name]
            kind = self.body["Parameters"][name].get("Type", "String")
            return value.split(",") if kind.startswith("List<") or kind == "CommaDelimitedList" else value
        if not self.exists(name):
            raise TemplateError(f"Ref to {name}, which is not a resource or parameter of this stack")
        return self._physical(name, None)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if not self.exists(logical_id):
            raise TemplateError(f"GetAtt {logical_id}.{attribute}: no such resource in this stack")
        return self._physical(logical_id, attribute)

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function evaluated; AWS::NoValue entries left out."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(logical, attribute)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:
        if name == "If":
            condition, then, otherwise = arg
            return self.resolve(then if self.condition(condition) else otherwise)
        if name == "Sub":
            return self._sub(arg)
        args = self.resolve(arg)
        if name == "Join":
            separator, items = args
            return separator.join(str(item) for item in items)
        if name == "Select":
            index, items = args
            return items[int(index)]
        if name == "Split":
            separator, text = args
            return str(text).split(separator)
        if name == "Equals":
            left, right = args
            return str(left) == str(right)
        if name == "Not":
            return not args[0]
        if name == "And":
            return all(args)
        if name == "Or":
            return any(args)
        raise TemplateError(f"Fn::{name} is not supported by the local stack")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return str(self.get_att(logical, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)


def rate_seconds(expression: str) -> float:
    """``rate(5 minutes)`` -> 300.0. Raises TemplateError for other expressions (cron is not run here)."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        raise TemplateError(f"schedule {expression!r}: only rate(...) expressions run locally")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return float(int(match.group(1)) * unit)
