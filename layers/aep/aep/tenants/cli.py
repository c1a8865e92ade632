"""``python -m aep.tenants``: add, list, show, disable and enable the tenants of a stack's registry.

Exit codes: 0 done; 1 the registry or AWS said no (the tenant exists or is unknown, someone else changed it
meanwhile, access denied, table missing); 2 the command is wrong (an invalid tenant or tenant id, the id
``default``, a missing or foreign secret, a missing ``--table``/``--stack``/``--reader-role-arn``). Every
argument is checked before AWS is called. Messages name fields, ids and error codes, never a value read
from a secret (the CLI never reads one), and never an invalid id or secret id (it may be anything).

Every change is a conditional write: ``add`` only creates (``attribute_not_exists``) unless ``--replace``;
``--replace``, ``disable`` and ``enable`` write only if the item still has the version they read, and bump
it. Two administrators editing the same tenant cannot silently overwrite each other: the second is told
that the tenant changed and shows it again.

``add --replace`` with flags changes only the fields given (a list given replaces that list; ``--clear
FIELD`` resets one to its default) on top of the item as read, written on the version read.
``add --item file.json --replace`` writes the file as the whole item (a field it leaves out takes its
default) and takes the file's ``version`` as the version read (``show`` prints it), so an edit of a stale
copy is refused too.

``add`` also secures the tenant's two secrets: tags ``aep:stack``, ``aep:tenant`` and ``aep:secret-kind``
(``credentials`` / ``token``; the stack's function roles may read secrets tagged with their stack and write
only token secrets), and a resource policy denying ``secretsmanager:GetSecretValue`` (and
``PutSecretValue`` on the token secret) to every principal but the stack's function roles. The item is
validated and built first; the secrets are secured next and the item written last. Should that write
fail, the error says which secrets were already secured (``add`` again completes it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from pydantic import ValidationError

from aep.tenants.model import DEFAULT_TENANT, TENANT_ID_PATTERN, Tenant, plain, validation_problems
from aep.tenants.registry import TABLE_VARIABLE

STACK_VARIABLE = "AEP_STACK_NAME"
STACK_TAG = "aep:stack"
TENANT_TAG = "aep:tenant"
KIND_TAG = "aep:secret-kind"

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_TENANT_FLAGS = (
    "tenant_id",
    "org_id",
    "sandbox",
    "credentials_secret",
    "token_secret",
    "inlet_id",
    "dataset_id",
    "schema_ref",
    "flow_id",
    "inlet_authenticated",
    "allowed_namespaces",
    "default_phone_region",
    "source_queue",
    "principal",
    "api_key_id",
    "rate_ceiling",
)
# What ``add --replace --clear NAME`` may reset to its default, and where it lives in the item.
_CLEARABLE = {
    "source_queues": ("source_queues",),
    "principals": ("principals",),
    "api_key_ids": ("api_key_ids",),
    "rate_ceiling": ("rate_ceiling",),
    "inlet_id": ("streaming", "inlet_id"),
    "dataset_id": ("streaming", "dataset_id"),
    "schema_ref": ("streaming", "schema_ref"),
    "flow_id": ("streaming", "flow_id"),
    "inlet_authenticated": ("streaming", "inlet_authenticated"),
    "allowed_namespaces": ("streaming", "allowed_namespaces"),
    "default_phone_region": ("streaming", "default_phone_region"),
}


class CliError(Exception):
    """What to print on stderr, and the exit code."""

    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _boto3_client(service: str) -> Any:
    import boto3  # noqa: PLC0415 - only the commands that talk to AWS pay for it

    if service == "dynamodb":
        return boto3.client("dynamodb")
    return boto3.client("secretsmanager")


@dataclass(frozen=True)
class SecretGuard:
    """Who may read (and, for the token, write) a tenant's secrets: the stack's function roles."""

    stack: str
    reader_roles: tuple[str, ...]

    def policy(self, kind: str) -> dict[str, Any]:
        actions = ["secretsmanager:GetSecretValue"]
        if kind == "token":
            actions.append("secretsmanager:PutSecretValue")
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlyTheStackFunctions",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": actions,
                    "Resource": "*",
                    "Condition": {"ArnNotEquals": {"aws:PrincipalArn": list(self.reader_roles)}},
                }
            ],
        }

    def tags(self, tenant_id: str, kind: str) -> list[dict[str, str]]:
        return [
            {"Key": STACK_TAG, "Value": self.stack},
            {"Key": TENANT_TAG, "Value": tenant_id},
            {"Key": KIND_TAG, "Value": kind},
        ]


class TenantAdmin:
    """The registry's reads and conditional writes, and the securing of a tenant's secrets."""

    def __init__(self, table: str, dynamodb: Any, secrets: Any = None) -> None:
        self.table = table
        self._dynamodb = dynamodb
        self._secrets = secrets

    # -- reads -------------------------------------------------------------------------------------------

    def item(self, tenant_id: str) -> dict[str, Any] | None:
        """The stored item as plain JSON types (read consistently), or None."""
        answer = self._table_call(
            f"read tenant {tenant_id!r}", self._dynamodb.get_item, Key=_key(tenant_id), ConsistentRead=True
        )
        stored = answer.get("Item")
        return None if stored is None else _from_dynamodb(stored)

    def items(self) -> list[dict[str, Any]]:
        """Every item (read consistently), sorted by tenant id."""
        pages = self._dynamodb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True)
        try:
            found = [_from_dynamodb(stored) for page in pages for stored in page.get("Items", [])]
        except Exception as exc:
            raise self._refusal("list the tenants", exc) from None
        return sorted(found, key=lambda item: str(item.get("tenant_id", "")))

    # -- writes ------------------------------------------------------------------------------------------

    def add(
        self,
        tenant: Tenant,
        guard: SecretGuard,
        *,
        replace: bool = False,
        expected_version: int | None = None,
    ) -> Tenant:
        """Create the tenant at version 1, or replace its whole item at its version + 1 (``--item``)."""
        current = self.item(tenant.tenant_id)
        if current is not None and not replace:
            raise CliError(f"tenant {tenant.tenant_id!r} exists: pass --replace to overwrite it")
        if current is None and replace:
            raise CliError(f"tenant {tenant.tenant_id!r} does not exist: add it without --replace")
        if current is None:
            return self._store(
                tenant.model_copy(update={"version": 1}),
                guard,
                {"ConditionExpression": "attribute_not_exists(tenant_id)"},
            )
        read = _version_of(current)
        _check_expected(tenant.tenant_id, read, expected_version)
        return self._store(tenant.model_copy(update={"version": read + 1}), guard, _same_version(read))

    def amend(
        self,
        tenant_id: str,
        changes: Mapping[str, Any],
        guard: SecretGuard,
        *,
        clear: Sequence[str] = (),
        expected_version: int | None = None,
    ) -> Tenant:
        """Change only the fields in ``changes`` (and reset those in ``clear``) on top of the item as read,
        written only if the item is still at the version read (``add --replace`` with flags)."""
        current = self.item(tenant_id)
        if current is None:
            raise CliError(f"tenant {tenant_id!r} does not exist: add it without --replace")
        read = _version_of(current)
        _check_expected(tenant_id, read, expected_version)
        tenant = _validated(_merged(current, changes, clear))
        _two_secrets(tenant)
        return self._store(tenant.model_copy(update={"version": read + 1}), guard, _same_version(read))

    def _store(self, stored: Tenant, guard: SecretGuard, condition: Mapping[str, Any]) -> Tenant:
        """Build the item, secure both secrets, then write the item under ``condition``.

        The item is built before any secret is touched: a tenant that cannot be stored changes nothing.
        If the write then fails, the error says which secrets were already secured for this tenant."""
        try:
            item = _to_dynamodb(stored.to_item())
        except Exception as exc:
            raise CliError(
                f"tenant {stored.tenant_id!r} cannot be stored: {_code(exc)}", EXIT_USAGE
            ) from None
        secured = self._secure(stored, guard)
        try:
            self._table_call(
                f"write tenant {stored.tenant_id!r}", self._dynamodb.put_item, Item=item, **condition
            )
        except CliError as error:
            raise CliError(
                f"{error.message}. The item was not written, but its secrets were already secured for "
                f"tenant {stored.tenant_id!r} of stack {guard.stack!r} (tagged, readable only by the "
                f"--reader-role-arn roles): {_listed(secured)}",
                error.code,
            ) from None
        return stored

    def set_enabled(self, tenant_id: str, enabled: bool, expected_version: int | None = None) -> int | None:
        """Enable or disable the tenant (its item stays): the new version, or None if it already was."""
        current = self.item(tenant_id)
        if current is None:
            raise CliError(f"unknown tenant {tenant_id!r}")
        read = _version_of(current)
        _check_expected(tenant_id, read, expected_version)
        if current.get("enabled", True) is enabled:
            return None
        condition = _same_version(read)
        self._table_call(
            f"{'enable' if enabled else 'disable'} tenant {tenant_id!r}",
            self._dynamodb.update_item,
            Key=_key(tenant_id),
            UpdateExpression="SET #e = :e, #v = :next",
            ConditionExpression=condition["ConditionExpression"],
            ExpressionAttributeNames={**condition["ExpressionAttributeNames"], "#e": "enabled"},
            ExpressionAttributeValues={
                **condition["ExpressionAttributeValues"],
                ":e": {"BOOL": enabled},
                ":next": {"N": str(read + 1)},
            },
        )
        return read + 1

    def _secure(self, tenant: Tenant, guard: SecretGuard) -> list[str]:
        """Check both secrets (they exist, no other tenant, stack or kind owns them), then secure both.

        Returns the secrets secured (``the <kind> secret '<id>'``); if securing the second fails, the
        error says that the first one already was."""
        secrets = (("credentials", tenant.credentials_secret_id), ("token", tenant.token_secret_id))
        for kind, secret_id in secrets:
            tags = self._secret_tags(kind, secret_id)
            for key, mine in ((TENANT_TAG, tenant.tenant_id), (STACK_TAG, guard.stack), (KIND_TAG, kind)):
                theirs = tags.get(key)
                if theirs is not None and theirs != mine:
                    raise CliError(
                        f"the {kind} secret {secret_id!r} is tagged {key}={theirs}, not {mine}: "
                        "each tenant needs two secrets of its own",
                        EXIT_USAGE,
                    )
        secured: list[str] = []
        for kind, secret_id in secrets:
            try:
                self._secrets.tag_resource(SecretId=secret_id, Tags=guard.tags(tenant.tenant_id, kind))
                self._secrets.put_resource_policy(
                    SecretId=secret_id,
                    ResourcePolicy=json.dumps(guard.policy(kind)),
                    BlockPublicPolicy=True,
                )
            except Exception as exc:
                already = f"; already secured for it: {_listed(secured)}" if secured else ""
                raise CliError(
                    f"cannot secure the {kind} secret {secret_id!r}: {_code(exc)} (it may be tagged already)"
                    f"{already}; the item was not written"
                ) from None
            secured.append(f"the {kind} secret {secret_id!r}")
        return secured

    def _secret_tags(self, kind: str, secret_id: str) -> dict[str, str]:
        try:
            described = self._secrets.describe_secret(SecretId=secret_id)
        except Exception as exc:
            if _code(exc) == "ResourceNotFoundException":
                raise CliError(
                    f"the {kind} secret {secret_id!r} does not exist: create it first", EXIT_USAGE
                ) from None
            raise CliError(f"cannot read the {kind} secret {secret_id!r}: {_code(exc)}") from None
        return {tag["Key"]: tag["Value"] for tag in described.get("Tags", [])}

    def _table_call(self, what: str, operation: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return operation(TableName=self.table, **kwargs)
        except Exception as exc:
            raise self._refusal(what, exc) from None

    def _refusal(self, what: str, exc: Exception) -> CliError:
        code = _code(exc)
        if code == "ConditionalCheckFailedException":
            return CliError(
                f"cannot {what}: it was changed by someone else meanwhile; show it again and repeat"
            )
        if code == "ResourceNotFoundException":
            return CliError(f"cannot {what}: table {self.table!r} not found")
        return CliError(f"cannot {what}: {code}")


def _from_dynamodb(stored: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415 - with boto3, lazily

    deserialize = TypeDeserializer().deserialize
    item: dict[str, Any] = plain({key: deserialize(value) for key, value in stored.items()})
    return item


def _to_dynamodb(item: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415 - with boto3, lazily

    serialize = TypeSerializer().serialize
    return {key: serialize(value) for key, value in item.items()}


# -- command line ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--table", help=f"the registry's DynamoDB table (default: ${TABLE_VARIABLE})")

    parser = argparse.ArgumentParser(
        prog="python -m aep.tenants", description="The tenant registry of an AEP connector stack."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add = commands.add_parser("add", parents=[common], help="add (or --replace) a tenant")
    source = add.add_argument_group("the tenant: --item, or the flags below")
    source.add_argument("--item", metavar="FILE", help="the item as JSON (as `show` prints it; - for stdin)")
    source.add_argument("--tenant-id")
    source.add_argument("--org-id", help="the brand's IMS org (...@AdobeOrg)")
    source.add_argument("--sandbox", help="sandbox name (default prod)")
    source.add_argument("--credentials-secret", help="id or ARN of the brand's OAuth credential secret")
    source.add_argument("--token-secret", help="id or ARN of the brand's token cache secret")
    source.add_argument("--inlet-id")
    source.add_argument("--dataset-id")
    source.add_argument("--schema-ref")
    source.add_argument("--flow-id")
    source.add_argument("--inlet-authenticated", choices=["true", "false"])
    source.add_argument("--allowed-namespaces", metavar="CODES", help="comma-separated namespace codes")
    source.add_argument("--default-phone-region", metavar="CC")
    source.add_argument("--source-queue", action="append", metavar="ARN", help="repeat for several")
    source.add_argument("--principal", action="append", metavar="ARN", help="repeat for several")
    source.add_argument("--api-key-id", action="append", metavar="ID", help="repeat for several")
    source.add_argument("--rate-ceiling", metavar="PER_SECOND")
    add.add_argument(
        "--replace",
        action="store_true",
        help="change an existing tenant (bumps its version): with flags only the fields given, on top of "
        "the item as read; with --item the whole item",
    )
    add.add_argument(
        "--clear",
        action="append",
        choices=sorted(_CLEARABLE),
        metavar="FIELD",
        help=f"with --replace and flags: reset FIELD to its default ({', '.join(_CLEARABLE)}); repeatable",
    )
    add.add_argument("--expect-version", type=int, help="with --replace: refuse unless this is the version")
    add.add_argument(
        "--stack", help=f"the stack whose functions read the secrets (default: ${STACK_VARIABLE})"
    )
    add.add_argument(
        "--reader-role-arn",
        action="append",
        metavar="ARN",
        help="a function role of the stack (outputs StreamIngestRoleArn, ...); repeat for each",
    )

    commands.add_parser("list", parents=[common], help="id, org, sandbox, enabled, version of every tenant")
    for name, text in (
        ("show", "print the tenant's item as JSON"),
        ("disable", "disable the tenant (its item stays)"),
        ("enable", "enable a disabled tenant"),
    ):
        command = commands.add_parser(name, parents=[common], help=text)
        command.add_argument("tenant_id")
        if name != "show":
            command.add_argument("--expect-version", type=int, help="refuse unless this is the version")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    clients: Callable[[str], Any] = _boto3_client,
    stdin: TextIO | None = None,
) -> int:
    """Run one command; the exit code (0 done, 1 refused, 2 wrong command)."""
    env = os.environ if environ is None else environ
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage and the reason
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return _run(args, env, clients, stdin or sys.stdin)
    except CliError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.code


def _run(
    args: argparse.Namespace, env: Mapping[str, str], clients: Callable[[str], Any], stdin: TextIO
) -> int:
    table = args.table or env.get(TABLE_VARIABLE, "").strip()
    if not table:
        raise CliError(f"no table: pass --table or set {TABLE_VARIABLE}", EXIT_USAGE)
    if args.command == "add":
        return _add(args, env, table, clients, stdin)
    tenant_id = None if args.command == "list" else _named(args.tenant_id)  # checked before AWS is called
    admin = TenantAdmin(table, clients("dynamodb"))
    if tenant_id is None:
        rows = [
            (
                str(item.get("tenant_id", "?")),
                str(item.get("org_id", "-")),
                str(item.get("sandbox_name", "prod")),
                "true" if item.get("enabled", True) else "false",
                str(item.get("version", 1)),
            )
            for item in admin.items()
        ]
        _print_table(("tenant_id", "org_id", "sandbox", "enabled", "version"), rows)
        return EXIT_OK
    if args.command == "show":
        item = admin.item(tenant_id)
        if item is None:
            raise CliError(f"unknown tenant {tenant_id!r}")
        print(json.dumps(item, indent=2, sort_keys=True))
        return EXIT_OK
    enabled = args.command == "enable"
    version = admin.set_enabled(tenant_id, enabled, args.expect_version)
    state = "enabled" if enabled else "disabled"
    if version is None:
        print(f"tenant {tenant_id!r} is already {state}")
    else:
        print(f"tenant {tenant_id!r} {state} (version {version})")
    return EXIT_OK


def _add(
    args: argparse.Namespace, env: Mapping[str, str], table: str, clients: Callable[[str], Any], stdin: TextIO
) -> int:
    """Everything is checked, and the item built, before AWS is called: a wrong command changes nothing."""
    flags = [name for name in _TENANT_FLAGS if getattr(args, name) is not None]
    clear = tuple(dict.fromkeys(args.clear or ()))
    if args.item is not None and flags:
        raise CliError("give the tenant either as --item or as flags, not both", EXIT_USAGE)
    if args.expect_version is not None and not args.replace:
        raise CliError("--expect-version only applies with --replace", EXIT_USAGE)
    if clear and (args.item is not None or not args.replace):
        raise CliError(
            "--clear only applies with --replace and flags (--item replaces the whole item)", EXIT_USAGE
        )
    data = _item_file(args.item, stdin) if args.item is not None else _from_flags(args)
    both = [name for name in clear if _given(data, _CLEARABLE[name])]
    if both:
        raise CliError(f"--clear {both[0]} and a value for it: give one or the other", EXIT_USAGE)
    expected = args.expect_version
    if expected is None and args.replace and isinstance(data.get("version"), int):
        expected = data["version"]  # the version the file was shown at: a stale copy is refused
    if data.get("tenant_id") == DEFAULT_TENANT:
        raise CliError(
            f"{DEFAULT_TENANT!r} is the implicit tenant of the stack's AEP_* variables: choose another id",
            EXIT_USAGE,
        )
    amend = args.replace and args.item is None
    if amend:
        tenant_id = _checked_id(data.get("tenant_id"))
        _validated_changes(data)
    else:
        tenant = _validated(data)
        _two_secrets(tenant)
    guard = _guard(args, env)
    admin = TenantAdmin(table, clients("dynamodb"), clients("secretsmanager"))
    if amend:
        stored = admin.amend(tenant_id, data, guard, clear=clear, expected_version=expected)
    else:
        stored = admin.add(tenant, guard, replace=args.replace, expected_version=expected)
    verb = "replaced" if args.replace else "added"
    print(
        f"{verb} tenant {stored.tenant_id!r} (version {stored.version}); its secrets are readable only by "
        f"{len(guard.reader_roles)} role(s) of stack {guard.stack!r}"
    )
    return EXIT_OK


def _from_flags(args: argparse.Namespace) -> dict[str, Any]:
    streaming: dict[str, Any] = {
        "inlet_id": args.inlet_id,
        "dataset_id": args.dataset_id,
        "schema_ref": args.schema_ref,
        "flow_id": args.flow_id,
        "default_phone_region": args.default_phone_region,
    }
    if args.inlet_authenticated is not None:
        streaming["inlet_authenticated"] = args.inlet_authenticated == "true"
    if args.allowed_namespaces is not None:
        streaming["allowed_namespaces"] = [c.strip() for c in args.allowed_namespaces.split(",") if c.strip()]
    data: dict[str, Any] = {
        "tenant_id": args.tenant_id,
        "org_id": args.org_id,
        "sandbox_name": args.sandbox,
        "credentials_secret_id": args.credentials_secret,
        "token_secret_id": args.token_secret,
        "streaming": {k: v for k, v in streaming.items() if v is not None},
        "source_queues": args.source_queue,
        "principals": args.principal,
        "api_key_ids": args.api_key_id,
        "rate_ceiling": args.rate_ceiling,
    }
    return {key: value for key, value in data.items() if value is not None}


def _item_file(path: str, stdin: TextIO) -> dict[str, Any]:
    try:
        if path == "-":
            text = stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        # The position only: the message of a JSON error can quote the text around it.
        where = f"line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "somewhere"
        raise CliError(f"{path} is not JSON ({where})", EXIT_USAGE) from None
    if not isinstance(data, dict):
        raise CliError(f"{path} must hold one JSON object (the tenant's item)", EXIT_USAGE)
    return data


def _validated(data: Mapping[str, Any]) -> Tenant:
    name = data.get("tenant_id")
    valid_id = isinstance(name, str) and re.fullmatch(TENANT_ID_PATTERN, name) is not None
    label = f"tenant {name!r}" if valid_id else "the tenant"  # an invalid id is not echoed either
    try:
        return Tenant.model_validate(dict(data))
    except ValidationError as exc:
        raise CliError(f"{label} is invalid: {validation_problems(exc)}", EXIT_USAGE) from None


def _validated_changes(changes: Mapping[str, Any]) -> None:
    """The fields given to ``add --replace`` as flags, checked before anything is read: each is checked
    on top of a placeholder tenant, and only the problems of the fields given are reported."""
    placeholder = {
        "tenant_id": changes.get("tenant_id"),
        "org_id": "A0@AdobeOrg",
        "credentials_secret_id": "placeholder-credentials",
        "token_secret_id": "placeholder-token",
    }
    try:
        Tenant.model_validate({**placeholder, **changes})
    except ValidationError as exc:
        raise CliError(
            f"tenant {changes.get('tenant_id')!r} is invalid: {validation_problems(exc)}", EXIT_USAGE
        ) from None


def _two_secrets(tenant: Tenant) -> None:
    if tenant.credentials_secret_id == tenant.token_secret_id:
        raise CliError(
            "the credentials secret and the token secret must be two different secrets", EXIT_USAGE
        )


def _merged(current: Mapping[str, Any], changes: Mapping[str, Any], clear: Sequence[str]) -> dict[str, Any]:
    """The item as read, with the fields given replaced (streaming targets one by one) and those in
    ``clear`` removed (their defaults apply)."""
    merged = {key: value for key, value in current.items() if key != "version"}
    stored = merged.get("streaming", {})
    streaming = dict(stored) if isinstance(stored, Mapping) else None  # None: left for the model to refuse
    for key, value in changes.items():
        if key != "streaming":
            merged[key] = value
        elif streaming is not None:
            streaming.update(value)
    for name in clear:
        path = _CLEARABLE[name]
        holder = merged if len(path) == 1 else streaming
        if holder is not None:
            holder.pop(path[-1], None)
    if streaming is not None:
        merged["streaming"] = streaming
    return merged


def _given(data: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    holder = data.get("streaming", {}) if len(path) == 2 else data
    return isinstance(holder, Mapping) and path[-1] in holder


def _listed(secrets: Sequence[str]) -> str:
    return " and ".join(secrets) if secrets else "none"


def _guard(args: argparse.Namespace, env: Mapping[str, str]) -> SecretGuard:
    stack = args.stack or env.get(STACK_VARIABLE, "").strip()
    if not stack:
        raise CliError(
            f"no stack: pass --stack or set {STACK_VARIABLE} (the tag its functions read by)", EXIT_USAGE
        )
    if not _STACK_NAME.fullmatch(stack):
        raise CliError("--stack is not a CloudFormation stack name", EXIT_USAGE)
    roles = tuple(dict.fromkeys(args.reader_role_arn or ()))
    if not roles:
        raise CliError(
            "no --reader-role-arn: give each function role of the stack (its outputs *RoleArn)", EXIT_USAGE
        )
    bad = [n for n, role in enumerate(roles, 1) if not _ROLE_ARN.fullmatch(role)]
    if bad:
        raise CliError(f"--reader-role-arn number {bad[0]} is not an IAM role ARN", EXIT_USAGE)
    return SecretGuard(stack, roles)


def _named(tenant_id: str) -> str:
    if tenant_id == DEFAULT_TENANT:
        raise CliError(
            f"{DEFAULT_TENANT!r} is the implicit tenant of the stack's AEP_* variables, not in the registry",
            EXIT_USAGE,
        )
    return _checked_id(tenant_id)


def _checked_id(tenant_id: Any) -> str:
    """A valid tenant id, or a usage error that does not echo what was given (it may be anything)."""
    if not isinstance(tenant_id, str) or re.fullmatch(TENANT_ID_PATTERN, tenant_id) is None:
        raise CliError(
            "the tenant id is missing or invalid: 1 to 63 lowercase letters, digits and hyphens, "
            "starting with a letter or a digit",
            EXIT_USAGE,
        )
    return tenant_id


def _version_of(item: Mapping[str, Any]) -> int:
    version = item.get("version", 1)
    return version if isinstance(version, int) else 1


def _check_expected(tenant_id: str, read: int, expected: int | None) -> None:
    if expected is not None and expected != read:
        raise CliError(
            f"tenant {tenant_id!r} is at version {read}, not {expected}: someone changed it; show it again"
        )


def _same_version(read: int) -> dict[str, Any]:
    """Write only if the item is still at the version read (an item without one counts as version 1)."""
    expression = "#v = :v" if read != 1 else "(#v = :v OR attribute_not_exists(#v))"
    return {
        "ConditionExpression": f"attribute_exists(tenant_id) AND {expression}",
        "ExpressionAttributeNames": {"#v": "version"},
        "ExpressionAttributeValues": {":v": {"N": str(read)}},
    }


def _key(tenant_id: str) -> dict[str, Any]:
    return {"tenant_id": {"S": tenant_id}}


def _code(exc: Exception) -> str:
    """The AWS error code (or the exception's class): never the message, which may quote ARNs or values."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return type(exc).__name__


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
