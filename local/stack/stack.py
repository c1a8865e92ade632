"""The whole product on one machine: moto's server for AWS, the AEP emulator for Adobe (an empty sandbox),
setup applied to it, the template's resources and functions, and the triggers that invoke them.

:class:`LocalStack` starts, in this order, and stops in the reverse order (also after a failure midway):

1. moto's server and the emulator, each on a free 127.0.0.1 port;
2. ``aep.setup apply`` of the setup file on the emulator's empty sandbox (as a partner does before
   deploying), its outputs turned into the template's parameters (:mod:`stack.deployment`);
3. the template's resources on moto (:mod:`stack.resources`), the AEP credential put in the credentials
   secret (as docs/deploy.md says to after the first deploy);
4. one container per function with the environment the template gives it (:mod:`stack.lambdas`);
5. a poller per SQS event source, a timer per schedule, the API on its port (:mod:`stack.dispatch`,
   :mod:`stack.api`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import boto3
from moto.server import ThreadedMotoServer

from aep.setup import apply, load
from aep.setup.__main__ import setup_api
from aep_emulator import Emulator, load_orgs
from stack.api import ApiServer, Endpoint, compile_path
from stack.deployment import IVR_SESSION, callcenter_parameters
from stack.dispatch import Scheduler, SqsPoller
from stack.functions import FunctionSpec, function_specs
from stack.lambdas import Container, lambda_environment
from stack.resources import CREATED_TYPES, Resources
from stack.template import REGION, ROOT, TEMPLATE, Template
from stack.template import load as load_template

EMPTY_SANDBOX = ROOT / "local" / "aep_emulator" / "sandbox.empty.json"
SETUP_FILE = ROOT / "setup" / "callcenter.yaml"
STACK_NAME = "aep-connector-local"


#: AWS settings of the shell the stack removes from its environment (and so from its containers').
SHELL_AWS = frozenset(
    {
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CA_BUNDLE",
        "AWS_USE_FIPS_ENDPOINT",
        "AWS_USE_DUALSTACK_ENDPOINT",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    }
)


def drop_shell_aws(environ: Any) -> list[str]:
    """Remove the shell's AWS settings that would override the stack's endpoint or credentials: a profile,
    its files, a session token, and every service's own endpoint (``AWS_ENDPOINT_URL_S3`` ...). Returns
    their names."""
    names = sorted(n for n in environ if n in SHELL_AWS or n.startswith("AWS_ENDPOINT_URL_"))
    for name in names:
        del environ[name]
    return names


@dataclass
class Options:
    """How the stack runs. ``parameters`` override the template's (after setup's); ``schedule_seconds``
    replaces every schedule's rate (None: the template's); ``function_logs`` receives the containers'
    stdout and stderr (None: this process's); a port 0 is a free one."""

    template: Path = TEMPLATE
    stack_name: str = STACK_NAME
    sandbox_files: tuple[Path, ...] = (EMPTY_SANDBOX,)
    setup_file: Path = SETUP_FILE
    parameters: Mapping[str, str] = field(default_factory=dict)
    api_port: int = 0
    aws_port: int = 0
    aep_port: int = 0
    triggers: bool = True  # pollers, schedules and the API (make invoke runs without them)
    schedule_seconds: float | None = None
    function_logs: IO[Any] | None = None
    caller_arn: str = IVR_SESSION
    metrics: bool = False  # Powertools' metrics (EMF lines in the logs); off by default locally


def say_nothing(_: str) -> None:
    return None


class LocalStack:
    """Use as a context manager: ``with LocalStack(options, say=print) as stack: ...``."""

    def __init__(self, options: Options | None = None, say: Callable[[str], None] = say_nothing) -> None:
        self.options = options or Options()
        self.say = say
        self.moto: ThreadedMotoServer | None = None
        self.aws_endpoint = ""
        self.emulator: Emulator | None = None
        self.setup_outputs: dict[str, Any] = {}
        self.parameters: dict[str, str] = {}
        self.template: Template | None = None
        self.resources = Resources(self.options.stack_name)
        self.functions: list[FunctionSpec] = []
        self.containers: dict[str, Container] = {}
        self.pollers: list[SqsPoller] = []
        self.schedulers: list[Scheduler] = []
        self.api: ApiServer | None = None
        self.stopping = threading.Event()
        self._exit = contextlib.ExitStack()
        self.timings: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stops everything started, in the reverse order; safe to call twice."""
        self.stopping.set()
        self._exit.close()

    def _timed(self, name: str, started: float) -> None:
        self.timings[name] = time.perf_counter() - started

    def start(self) -> None:
        started = time.perf_counter()
        self._start_servers()
        self._timed("servers", started)
        mark = time.perf_counter()
        self._apply_setup()
        self._timed("setup", mark)
        mark = time.perf_counter()
        self._create_resources()
        self._timed("resources", mark)
        mark = time.perf_counter()
        self._start_containers()
        self._timed("containers", mark)
        if self.options.triggers:
            self._start_triggers()
        self._timed("start", started)

    def _start_servers(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.options.aws_port, verbose=False)
        moto.start()
        self._exit.callback(moto.stop)
        self.moto = moto
        host, port = moto.get_host_and_port()
        self.aws_endpoint = f"http://{host}:{port}"
        # boto3 in this process (resources, pollers) and in every container talks to moto's server, and to
        # nothing else: a profile or a service's own endpoint (AWS_ENDPOINT_URL_S3 ...) set in the shell
        # would win over AWS_ENDPOINT_URL and could send requests off the machine.
        drop_shell_aws(os.environ)
        os.environ.update(self.aws_environment())
        emulator = Emulator(load_orgs(*self.options.sandbox_files), port=self.options.aep_port).start()
        self._exit.callback(emulator.stop)
        self.emulator = emulator
        self.say(f"   AWS: moto's server on {self.aws_endpoint}")
        files = ", ".join(p.name for p in self.options.sandbox_files)
        self.say(f"   AEP: the emulator on {emulator.url} ({files}: no schema, dataset or inlet yet)")

    def aws_environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        }

    def credentials(self) -> dict[str, str]:
        """The default org's OAuth server-to-server credential (the emulator's sample client)."""
        assert self.emulator is not None
        org = self.emulator.config
        client = org.clients[0]
        return {"client_id": client.client_id, "client_secret": client.client_secret, "org_id": org.org_id}

    def _apply_setup(self) -> None:
        assert self.emulator is not None
        credentials = self.credentials()
        env = {
            "AEP_IMS_URL": self.emulator.url,
            "AEP_PLATFORM_URL": self.emulator.url,
            "AEP_CLIENT_ID": credentials["client_id"],
            "AEP_CLIENT_SECRET": credentials["client_secret"],
            "AEP_ORG_ID": credentials["org_id"],
        }
        path = self.options.setup_file
        setup = load(path)
        self.say(f"   setup: python -m aep.setup apply {path.relative_to(ROOT)}")
        report = apply(setup_api(env), setup)
        for line in report.text().splitlines():
            self.say(f"      {line}")
        if report.drift:
            raise RuntimeError(f"setup left {len(report.drift)} drift(s): {report.drift[0].line()}")
        self.setup_outputs = report.outputs
        self.parameters = {
            "SandboxName": "prod",
            "ImsUrl": self.emulator.url,
            "PlatformUrl": self.emulator.url,
            "StreamingUrl": self.emulator.url,
            **callcenter_parameters(setup, report.outputs),
            **self.options.parameters,
        }

    def _create_resources(self) -> None:
        body = load_template(self.options.template)
        self.template = Template(
            body, self.parameters, stack_name=self.options.stack_name, physical=self.resources.physical
        )
        created = self.resources.create_all(self.template)
        by_type: dict[str, list[str]] = {}
        for logical_id in created:
            made = self.resources.created[logical_id]
            by_type.setdefault(made.type, []).append(made.name)
        self.say(f"   AWS resources from {self.options.template.name}: {len(created)} on moto")
        for kind in CREATED_TYPES:
            if kind in by_type:
                self.say(f"      {kind.split('::', 1)[1]}: {', '.join(by_type[kind])}")
        secret = self.template.body.get("Globals", {}).get("Function", {}).get("Environment", {})
        credentials_ref = secret.get("Variables", {}).get("AEP_CREDENTIALS_SECRET_ID", {})
        if isinstance(credentials_ref, dict) and "Ref" in credentials_ref:
            arn = self.template.ref(credentials_ref["Ref"])
            boto3.client("secretsmanager").put_secret_value(
                SecretId=arn, SecretString=json.dumps(self.credentials())
            )
            self.say(f"      the AEP credential put in {credentials_ref['Ref']} (as after a first deploy)")

    def container_name(self, spec: FunctionSpec) -> str:
        return f"{self.options.stack_name}-{spec.logical_id}"

    def _start_containers(self) -> None:
        assert self.template is not None
        self.functions = function_specs(self.template)
        aws = self.aws_environment()
        if not self.options.metrics:
            aws["POWERTOOLS_METRICS_DISABLED"] = "true"
        for spec in self.functions:
            name = self.container_name(spec)
            environment = lambda_environment(spec, name, aws)
            container = Container(spec, name, environment, self.options.function_logs)
            container.start()
            self._exit.callback(container.stop)
            self.containers[spec.logical_id] = container
        for spec in self.functions:  # started together: their imports (cold starts) overlap
            init = self.containers[spec.logical_id].wait_ready()
            self.say(
                f"   function {spec.logical_id} ({spec.code_dir}{spec.handler}): ready, init {init:.0f} ms"
            )

    def _start_triggers(self) -> None:
        endpoints: list[Endpoint] = []
        for spec in self.functions:
            container = self.containers[spec.logical_id]
            for source in spec.sqs:
                poller = SqsPoller(source, container, self.stopping)
                self.pollers.append(poller)
                queue = source.queue_arn.rsplit(":", 1)[-1]
                self.say(
                    f"      SQS {queue} -> {spec.logical_id}: batches of up to {source.batch_size}, "
                    f"window {source.window_seconds:g} s"
                )
            for every in spec.schedules:
                period = self.options.schedule_seconds or every
                self.schedulers.append(Scheduler(container, period, self.stopping))
                told = "" if period == every else f" (the template's rate is {every:g} s)"
                self.say(f"      schedule -> {spec.logical_id}: every {period:g} s{told}")
            endpoints += [Endpoint(r, compile_path(r.path), container) for r in spec.routes]
        for thread in [*self.pollers, *self.schedulers]:
            thread.start()
            self._exit.callback(thread.join, 5)
        self._exit.callback(self.stopping.set)  # runs first: pollers and timers end, then are joined
        if endpoints:
            self.api = ApiServer(self.options.api_port, endpoints, self.options.caller_arn)
            self.api.start()
            self._exit.callback(self.api.stop)
            routes = sorted({f"{e.route.method} /{e.route.stage}{e.route.path}" for e in endpoints})
            self.say(f"      API on {self.api.url}: {len(routes)} routes ({', '.join(routes[:2])}, ...)")

    # -- for the story and the tests -------------------------------------------------------------------
    def output(self, name: str) -> Any:
        """A template Output's value (``StreamQueueUrl``, ``BatchDropBucketName``...)."""
        assert self.template is not None
        spec = self.template.body.get("Outputs", {})[name]
        return self.template.resolve(spec["Value"])

    def physical(self, logical_id: str) -> str:
        """The name (or URL) ``Ref`` gives for a resource of the stack."""
        assert self.template is not None
        return str(self.template.ref(logical_id))

    def container(self, name: str) -> Container:
        """A function's container by logical id (``StreamIngestFunction``) or folder (``stream_ingest``)."""
        for spec in self.functions:
            if name in (spec.logical_id, spec.folder):
                return self.containers[spec.logical_id]
        known = ", ".join(f"{s.logical_id} ({s.folder})" for s in self.functions)
        raise KeyError(f"no function {name!r} in the template; it has {known}")

    def pollers_of(self, logical_id: str) -> list[SqsPoller]:
        return [p for p in self.pollers if p.container.spec.logical_id == logical_id]

    def schedulers_of(self, logical_id: str) -> list[Scheduler]:
        return [s for s in self.schedulers if s.container.spec.logical_id == logical_id]

    def idle(self) -> bool:
        """No poller is gathering or handling a batch right now."""
        return not any(p.busy.is_set() for p in self.pollers)
