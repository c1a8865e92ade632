"""``python -m aep.setup plan|apply FILE``: converge an AEP sandbox to a setup file.

Where AEP is: ``AEP_IMS_URL``, ``AEP_PLATFORM_URL``, ``AEP_SANDBOX_NAME`` (default prod). The
credential: ``AEP_CLIENT_ID``, ``AEP_CLIENT_SECRET``, ``AEP_ORG_ID`` (local use), or else the secret
named by ``AEP_CREDENTIALS_SECRET_ID``. The token is held in memory for the run. The report goes to
stderr, the outputs (schema refs, dataset ids, inlet, flow id) as JSON to stdout. Exit 0: done (plan:
nothing to do), 1: failed, 2: plan found changes or drift (apply: drift left).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Mapping, Sequence

from aep.auth import PlatformAuthenticator
from aep.config import AepCredentials
from aep.errors import AepError
from aep.http import Transport
from aep.ims import ImsTokenFetcher
from aep.retry import RetryPolicy
from aep.setup.api import SetupApi
from aep.setup.apply import apply, plan
from aep.setup.model import load
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


def setup_api(environ: Mapping[str, str], policy: RetryPolicy | None = None) -> SetupApi:
    """A SetupApi from the environment (see the module's doc)."""
    credentials = credentials_from(environ)
    transport = Transport(policy=policy or RetryPolicy())
    tokens = MemoryTokens(ImsTokenFetcher(transport, environ["AEP_IMS_URL"], credentials))
    transport.authenticator = PlatformAuthenticator(
        tokens,
        api_key=credentials.client_id,
        org_id=credentials.org_id,
        sandbox_name=environ.get("AEP_SANDBOX_NAME", "prod"),
    )
    return SetupApi(transport, environ["AEP_PLATFORM_URL"])


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aep.setup", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("plan", "apply"))
    parser.add_argument("file", help="the setup file (.json; .yaml/.yml when PyYAML is installed)")
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    try:
        setup = load(args.file)
        missing = [v for v in ("AEP_IMS_URL", "AEP_PLATFORM_URL") if not env.get(v)]
        if missing:
            print(f"setup: set {', '.join(missing)}", file=sys.stderr)
            return 1
        api = setup_api(env)
        report = (apply if args.command == "apply" else plan)(api, setup)
    except (AepError, ValueError) as exc:
        print(f"setup {args.command} failed: {exc}", file=sys.stderr)
        return 1
    print(report.text(), file=sys.stderr)
    print(json.dumps(report.outputs, indent=2, sort_keys=True))
    if report.drift or (args.command == "plan" and report.changes):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
