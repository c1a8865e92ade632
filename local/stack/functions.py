"""The template's functions as the local stack runs them: code folder, handler, memory, timeout, the
environment Lambda would give each one (Globals merged with its own, every reference resolved), and its
triggers (SQS event sources with their batch size and window, schedules, API routes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stack.template import ROOT, Template, TemplateError, rate_seconds

FUNCTION = "AWS::Serverless::Function"


@dataclass(frozen=True)
class SqsSource:
    """An SQS event source mapping: the queue, how many records an invocation takes and how long the
    poller gathers them (MaximumBatchingWindowInSeconds), whether partial failures are reported."""

    queue_arn: str
    batch_size: int
    window_seconds: float
    report_failures: bool


@dataclass(frozen=True)
class Route:
    """An API event: ``method`` (upper case) and the resource path (``/profiles/{namespace}/{id}``)."""

    method: str
    path: str
    api: str  # the RestApiId's logical id
    stage: str


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: str
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str]
    sqs: list[SqsSource] = field(default_factory=list)
    schedules: list[float] = field(default_factory=list)  # seconds between runs
    routes: list[Route] = field(default_factory=list)

    @property
    def folder(self) -> str:
        """The code folder's name (``stream_ingest``), how ``make invoke`` may name the function too."""
        return self.code_dir.rstrip("/").rsplit("/", 1)[-1]


def _globals(template: Template) -> dict[str, Any]:
    function_globals: dict[str, Any] = template.body.get("Globals", {}).get("Function", {})
    return function_globals


def _stage(template: Template, api: str) -> str:
    spec = template.resources.get(api, {})
    return str(template.resolve(spec.get("Properties", {}).get("StageName", "Prod")))


def function_specs(template: Template) -> list[FunctionSpec]:
    """Every function of the template whose condition holds, in template order."""
    defaults = _globals(template)
    specs = []
    for logical_id, resource in template.resources.items():
        if resource.get("Type") != FUNCTION or not template.exists(logical_id):
            continue
        p = resource.get("Properties", {})
        code = p.get("CodeUri")
        if not isinstance(code, str) or not (ROOT / code).is_dir():
            raise TemplateError(f"{logical_id}: CodeUri {code!r} is not a folder of this repository")
        variables = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **p.get("Environment", {}).get("Variables", {}),
        }
        environment = {k: str(v) for k, v in template.resolve(variables).items()}
        spec = FunctionSpec(
            logical_id=logical_id,
            code_dir=code,
            handler=str(p.get("Handler", defaults.get("Handler", "app.lambda_handler"))),
            timeout=int(p.get("Timeout", defaults.get("Timeout", 3))),
            memory=int(p.get("MemorySize", defaults.get("MemorySize", 128))),
            environment=environment,
        )
        for event in p.get("Events", {}).values():
            _add_event(template, spec, event)
        specs.append(spec)
    return specs


def _add_event(template: Template, spec: FunctionSpec, event: dict[str, Any]) -> None:
    kind = event.get("Type")
    props = event.get("Properties", {})
    if kind == "SQS":
        resolved = template.resolve(props)
        spec.sqs.append(
            SqsSource(
                queue_arn=str(resolved["Queue"]),
                batch_size=int(resolved.get("BatchSize", 10)),
                window_seconds=float(resolved.get("MaximumBatchingWindowInSeconds", 0)),
                report_failures="ReportBatchItemFailures" in resolved.get("FunctionResponseTypes", []),
            )
        )
    elif kind == "Schedule":
        spec.schedules.append(rate_seconds(str(template.resolve(props["Schedule"]))))
    elif kind == "Api":
        api = props.get("RestApiId", {}).get("Ref", "ServerlessRestApi")
        spec.routes.append(
            Route(str(props["Method"]).upper(), str(props["Path"]), api, _stage(template, api))
        )
