"""``python -m aep.setup plan|apply FILE``: converge an AEP sandbox to a setup file.

Where AEP is: ``AEP_IMS_URL``, ``AEP_PLATFORM_URL``, ``AEP_SANDBOX_NAME`` (default prod). The
credential: ``AEP_CLIENT_ID``, ``AEP_CLIENT_SECRET``, ``AEP_ORG_ID`` (local use), or else the secret
named by ``AEP_CREDENTIALS_SECRET_ID``. The token is held in memory for the run. The report goes to
stderr, the outputs (schema refs, dataset ids, inlet, flow id) as JSON to stdout. Exit 0: done (plan:
nothing to do), 1: failed, 2: plan found changes or drift (apply: drift left).

``--tenant-id ID`` (with ``--tenant-table`` or ``AEP_TENANTS_TABLE``) names a registry tenant: setup
runs in its org and sandbox (with its credentials secret unless a credential is given as above, which
must then be of the tenant's org), and ``apply`` writes the outputs into its item
(:mod:`aep.setup.registry`), unless drift is left.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aep.auth import PlatformAuthenticator
from aep.config import AepCredentials
from aep.errors import AepError
from aep.http import Transport
from aep.ims import ImsTokenFetcher
from aep.retry import RetryPolicy
from aep.setup.api import SetupApi
from aep.setup.apply import apply, plan
from aep.setup.model import load
from aep.setup.registry import (
    SetupRegistryError,
    TenantOutputs,
    chosen_stream,
    streaming_targets,
    tenant_setup,
)
from aep.tenants.model import Tenant, TenantSetup
from aep.tenants.registry import TABLE_VARIABLE
from aep.token import AccessToken


class MemoryTokens:
    """One IMS token for the run, fetched on first use and again after Platform rejects it."""

    def __init__(self, fetch: ImsTokenFetcher) -> None:
        self._fetch = fetch
        self._token: AccessToken | None = None
        self._lock = threading.Lock()

    def get(self) -> AccessToken:
        with self._lock:
            if self._token is None:
                self._token = self._fetch()
            return self._token

    def invalidate(self, value: str) -> None:
        with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None


def credentials_from(environ: Mapping[str, str]) -> AepCredentials:
    """``AEP_CLIENT_ID`` / ``AEP_CLIENT_SECRET`` / ``AEP_ORG_ID``, or the ``AEP_CREDENTIALS_SECRET_ID``
    secret. Raises AepConfigError when neither is usable."""
    if environ.get("AEP_CLIENT_ID"):
        return AepCredentials.model_validate(
            {
                "client_id": environ["AEP_CLIENT_ID"],
                "client_secret": environ.get("AEP_CLIENT_SECRET", ""),
                "org_id": environ.get("AEP_ORG_ID", ""),
            }
        )
    import boto3  # noqa: PLC0415 - only when the credential is in Secrets Manager

    from aep.client import load_credentials  # noqa: PLC0415

    return load_credentials(boto3.client("secretsmanager"), environ.get("AEP_CREDENTIALS_SECRET_ID", ""))


def setup_api(
    environ: Mapping[str, str],
    policy: RetryPolicy | None = None,
    *,
    credentials: AepCredentials | None = None,
    sandbox_name: str | None = None,
) -> SetupApi:
    """A SetupApi from the environment (see the module's doc), or the credential and sandbox given."""
    credentials = credentials or credentials_from(environ)
    transport = Transport(policy=policy or RetryPolicy())
    tokens = MemoryTokens(ImsTokenFetcher(transport, environ["AEP_IMS_URL"], credentials))
    transport.authenticator = PlatformAuthenticator(
        tokens,
        api_key=credentials.client_id,
        org_id=credentials.org_id,
        sandbox_name=sandbox_name or environ.get("AEP_SANDBOX_NAME", "prod"),
    )
    return SetupApi(transport, environ["AEP_PLATFORM_URL"])


def tenant_access(tenant: Tenant, environ: Mapping[str, str]) -> tuple[AepCredentials, str]:
    """The credential and sandbox to converge ``tenant``'s org with: a credential of the environment
    (which must be of the tenant's org) or else the tenant's credentials secret, and its sandbox.

    Raises SetupRegistryError when the environment names another org or sandbox than the tenant's."""
    if environ.get("AEP_CLIENT_ID") or environ.get("AEP_CREDENTIALS_SECRET_ID"):
        credentials = credentials_from(environ)
    else:
        import boto3  # noqa: PLC0415 - only when the credential is in Secrets Manager

        from aep.client import load_credentials  # noqa: PLC0415

        credentials = load_credentials(boto3.client("secretsmanager"), tenant.credentials_secret_id)
    if credentials.org_id != tenant.org_id:
        raise SetupRegistryError(
            f"the credential is not of tenant {tenant.tenant_id!r}'s org: its outputs would not be its own"
        )
    sandbox = environ.get("AEP_SANDBOX_NAME") or tenant.sandbox_name
    if sandbox != tenant.sandbox_name:
        raise SetupRegistryError(f"AEP_SANDBOX_NAME is not tenant {tenant.tenant_id!r}'s sandbox")
    return credentials, sandbox


def _dynamodb_client() -> Any:
    import boto3  # noqa: PLC0415 - only with --tenant-id

    return boto3.client("dynamodb")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aep.setup", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("plan", "apply"))
    parser.add_argument("file", help="the setup file (.json; .yaml/.yml when PyYAML is installed)")
    parser.add_argument(
        "--tenant-id", help="a registry tenant: converge its org, and (apply) write the outputs into its item"
    )
    parser.add_argument("--tenant-table", help=f"the tenant registry table (default: ${TABLE_VARIABLE})")
    parser.add_argument(
        "--stream",
        help="the streaming connection whose targets become the tenant's (needed when the file has several)",
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    dynamodb: Callable[[], Any] = _dynamodb_client,
) -> int:
    args = build_parser().parse_args(argv)
    env = os.environ if environ is None else environ
    try:
        setup = load(args.file)
        missing = [v for v in ("AEP_IMS_URL", "AEP_PLATFORM_URL") if not env.get(v)]
        if missing:
            print(f"setup: set {', '.join(missing)}", file=sys.stderr)
            return 1
        registry: TenantOutputs | None = None
        stream: str | None = None
        credentials: AepCredentials | None = None
        sandbox: str | None = None
        if args.tenant_id is not None:
            table = args.tenant_table or env.get(TABLE_VARIABLE, "")
            if not table:
                print(f"setup: --tenant-id needs --tenant-table or {TABLE_VARIABLE}", file=sys.stderr)
                return 1
            stream = chosen_stream(setup, args.stream)
            registry = TenantOutputs(dynamodb(), table, args.tenant_id)
            tenant, _ = registry.read()
            credentials, sandbox = tenant_access(tenant, env)
        elif args.stream is not None or args.tenant_table is not None:
            print("setup: --stream and --tenant-table go with --tenant-id", file=sys.stderr)
            return 1
        api = setup_api(env, credentials=credentials, sandbox_name=sandbox)
        report = (apply if args.command == "apply" else plan)(api, setup)
    except (AepError, ValueError) as exc:
        print(f"setup {args.command} failed: {exc}", file=sys.stderr)
        return 1
    print(report.text(), file=sys.stderr)
    print(json.dumps(report.outputs, indent=2, sort_keys=True))
    if registry is not None and args.command == "apply":
        if report.drift:
            print(f"tenant {registry.tenant_id!r}: outputs not written (drift left)", file=sys.stderr)
        else:
            try:
                written = registry.write(setup, tenant_setup(setup, report.outputs, stream))
            except (AepError, ValueError) as exc:
                print(f"setup apply done, but: {exc}", file=sys.stderr)
                return 1
            targets = ", ".join(streaming_targets(setup, written.setup or TenantSetup())) or "none"
            print(
                f"tenant {registry.tenant_id!r}: outputs written (version {written.version}; "
                f"streaming targets: {targets})",
                file=sys.stderr,
            )
    if report.drift or (args.command == "plan" and report.changes):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
