"""Setup's outputs into a tenant's registry item: onboarding a brand is one ``apply`` for its org.

The item must exist (``python -m aep.tenants add`` creates it and secures its secrets). Setup owns only
its ``setup`` attribute and five streaming targets: ``inlet_id``, ``dataset_id``, ``schema_ref``,
``flow_id`` and ``inlet_authenticated``, taken from one streaming connection of the setup file. Every
other attribute (org, sandbox, secrets, queues, principals, API keys, rate ceiling, the other streaming
settings) is left as it is. The write is conditional on the version read, bumps it (containers rebuild
the tenant's client), and is validated with the model the functions read the item with before it is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aep.errors import AepError
from aep.setup.model import SetupFile
from aep.tenants.model import DEFAULT_TENANT, TENANT_ID_PATTERN, Tenant, TenantSetup, plain

#: The streaming targets setup sets in the item (every other streaming key stays as it is).
OWNED_TARGETS = ("inlet_id", "dataset_id", "schema_ref", "flow_id", "inlet_authenticated")
#: Conditional writes tried before giving up when someone else keeps changing the item meanwhile.
WRITE_ATTEMPTS = 3


class SetupRegistryError(AepError):
    """The tenant's item cannot be read or written, or does not fit this setup; the message names the
    tenant, the table and the AWS error code, never a value of the item."""


def chosen_stream(setup: SetupFile, stream: str | None) -> str | None:
    """The streaming connection whose targets go into the item: ``stream``, or the file's only one
    (None when the file has none). Raises SetupRegistryError when that is ambiguous or unknown."""
    names = [s.name for s in setup.streaming]
    if stream is not None:
        if stream not in names:
            raise SetupRegistryError(f"--stream {stream!r} is not a streaming connection of the setup file")
        return stream
    if len(names) > 1:
        raise SetupRegistryError(
            f"the setup file has {len(names)} streaming connections: name the tenant's with --stream"
        )
    return names[0] if names else None


def tenant_setup(setup: SetupFile, outputs: Mapping[str, Any], stream: str | None) -> TenantSetup:
    """The ``setup`` attribute from an apply's outputs (entries a drift left without ids are left out)."""
    schemas = {
        title: {"id": s["id"], "alt_id": s["altId"]}
        for title, s in (outputs.get("schemas") or {}).items()
        if s
    }
    streams = {
        name: {
            "dataset_id": s["datasetId"],
            "inlet_id": s["inletId"],
            "inlet_url": s["inletUrl"],
            "flow_id": s["flowId"],
        }
        for name, s in (outputs.get("streaming") or {}).items()
        if s and all(s.get(k) for k in ("datasetId", "inletId", "inletUrl", "flowId"))
    }
    return TenantSetup.model_validate(
        {
            "aep_tenant": outputs.get("tenantId") or None,
            "schemas": schemas,
            "datasets": {name: i for name, i in (outputs.get("datasets") or {}).items() if i},
            "streaming": streams,
            "stream": stream,
        }
    )


def streaming_targets(setup: SetupFile, done: TenantSetup) -> dict[str, Any]:
    """The tenant's streaming targets from the chosen connection (empty when there is none).

    Raises SetupRegistryError when the chosen connection has no ids (a drift left it unconnected)."""
    if done.stream is None:
        return {}
    made = done.streaming.get(done.stream)
    spec = next(s for s in setup.streaming if s.name == done.stream)
    dataset = next(d for d in setup.datasets if d.name == spec.dataset)
    schema = done.schemas.get(dataset.schema_)
    if made is None or schema is None:
        raise SetupRegistryError(f"streaming connection {done.stream!r} was not completed: nothing to write")
    return {
        "inlet_id": made.inlet_id,
        "dataset_id": made.dataset_id,
        "schema_ref": schema.id,
        "flow_id": made.flow_id,
        "inlet_authenticated": spec.authenticated,
    }


class TenantOutputs:
    """Reads a tenant's item and writes setup's outputs into it (a boto3 DynamoDB client, injected)."""

    def __init__(self, dynamodb: Any, table: str, tenant_id: str) -> None:
        if tenant_id == DEFAULT_TENANT or not _valid_id(tenant_id):
            raise SetupRegistryError(
                "--tenant-id must name a registry tenant (1 to 63 lowercase letters, digits and hyphens, "
                f"not {DEFAULT_TENANT!r}: the default tenant's targets are the stack's parameters)"
            )
        self._dynamodb = dynamodb
        self.table = table
        self.tenant_id = tenant_id

    def read(self) -> tuple[Tenant, dict[str, Any]]:
        """The tenant (validated) and its item as plain JSON types, read consistently.

        Raises SetupRegistryError when it is missing, invalid or cannot be read."""
        answer = self._call("read", self._dynamodb.get_item, Key=self._key(), ConsistentRead=True)
        stored = answer.get("Item")
        if stored is None:
            raise SetupRegistryError(
                f"tenant {self.tenant_id!r} is not in table {self.table!r}: "
                "register it first (python -m aep.tenants add)"
            )
        item = _plain_item(stored)
        try:
            return Tenant.from_item(item), item
        except AepError as exc:
            raise SetupRegistryError(exc.message) from None

    def write(self, setup: SetupFile, done: TenantSetup) -> Tenant:
        """Set the ``setup`` attribute and the owned streaming targets, on the version read, bumped;
        nothing is written when the item already holds them.

        Returns the tenant as written (or as read). Raises SetupRegistryError when the item cannot be
        written (after WRITE_ATTEMPTS reads and conditional writes, when someone else changed it each
        time)."""
        targets = streaming_targets(setup, done)
        for _ in range(WRITE_ATTEMPTS):
            current, item = self.read()
            read = item.get("version", 1) if isinstance(item.get("version", 1), int) else 1
            streaming = {**(item.get("streaming") or {}), **targets}
            if (
                current.setup == done
                and current.streaming.model_dump(mode="json", exclude_none=True) == streaming
            ):
                return current  # already holds these outputs: no write, no new version
            merged = {**item, "streaming": streaming, "setup": done.model_dump(), "version": read + 1}
            try:
                tenant = Tenant.model_validate(merged)
            except ValueError as exc:
                raise SetupRegistryError(
                    f"tenant {self.tenant_id!r}: the outputs do not fit its item ({type(exc).__name__})"
                ) from None
            stored = tenant.to_item()
            condition = "(#v = :v OR attribute_not_exists(#v))" if read == 1 else "#v = :v"
            try:
                self._dynamodb.update_item(
                    TableName=self.table,
                    Key=self._key(),
                    UpdateExpression="SET #s = :s, #setup = :setup, #v = :next",
                    ConditionExpression=f"attribute_exists(tenant_id) AND {condition}",
                    ExpressionAttributeNames={"#s": "streaming", "#setup": "setup", "#v": "version"},
                    ExpressionAttributeValues={
                        ":s": _serialized(stored["streaming"]),
                        ":setup": _serialized(stored["setup"]),
                        ":v": {"N": str(read)},
                        ":next": {"N": str(read + 1)},
                    },
                )
            except Exception as exc:
                if _code(exc) == "ConditionalCheckFailedException":
                    continue  # changed meanwhile: read it again and merge on the new version
                raise self._refusal("write", exc) from None
            return tenant
        raise SetupRegistryError(
            f"cannot write tenant {self.tenant_id!r}: it changed {WRITE_ATTEMPTS} times while being written"
        )

    def _key(self) -> dict[str, Any]:
        return {"tenant_id": {"S": self.tenant_id}}

    def _call(self, what: str, operation: Any, **kwargs: Any) -> Any:
        try:
            return operation(TableName=self.table, **kwargs)
        except Exception as exc:
            raise self._refusal(what, exc) from None

    def _refusal(self, what: str, exc: Exception) -> SetupRegistryError:
        return SetupRegistryError(
            f"cannot {what} tenant {self.tenant_id!r} in table {self.table!r}: {_code(exc)}"
        )


def _valid_id(tenant_id: str) -> bool:
    return re.fullmatch(TENANT_ID_PATTERN, tenant_id) is not None


def _plain_item(stored: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415 - with boto3, lazily

    deserialize = TypeDeserializer().deserialize
    item: dict[str, Any] = plain({key: deserialize(value) for key, value in stored.items()})
    return item


def _serialized(value: Any) -> Any:
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415 - with boto3, lazily

    return TypeSerializer().serialize(value)


def _code(exc: Exception) -> str:
    """The AWS error code (or the exception's class): never the message."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return type(exc).__name__
