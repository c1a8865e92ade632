"""What the custom resource does on Create and Update: read the setup file from its properties, converge
the stack's AEP sandbox to it with the stack's credential, and return the chosen streaming connection's
ids as the resource's attributes (``!GetAtt AepSetup.DatasetId``...), with the settings that follow from
them (:func:`aep.setup.settings.function_settings`): the stream's identity field and namespace (its
dataset's schema's primary identity) and the batch routes (the file's ``batch`` section, JSON).

Properties (CloudFormation hands every scalar as a string: the inline object's enum values and bounds are
coerced to their field's type where unambiguous, the model reads ``"true"``): ``Setup``, the setup file
inline (an object, or its JSON text), or ``SetupS3Uri``, ``s3://bucket/key`` of the setup file as JSON
with its own types (it wins when given); ``Stream``, the streaming connection whose ids are the
attributes (needed when the file has several); ``IdentityField``, ``IdentityNamespace`` and ``BatchRoutes``,
the hand-set parameters, returned where the file says nothing; ``DefaultPhoneRegion``, put in every
batch route; any other property (``Revision``, ``SandboxName``) only
makes CloudFormation send an Update, which runs setup again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from aep import strict_json
from aep.errors import AepConfigError
from aep.setup import SetupFile, apply, parse
from aep.setup.__main__ import setup_api
from aep.setup.model import SetupFileError
from aep.setup.registry import chosen_stream
from aep.setup.settings import function_settings
from aep.tenants.model import SetupStream

#: Every attribute the resource returns (all strings; empty while no credential is in the secret).
ATTRIBUTES = (
    "TenantId",
    "SchemaRef",
    "SchemaAltId",
    "DatasetId",
    "InletId",
    "InletUrl",
    "InletAuthenticated",
    "FlowId",
    "Stream",
    "IdentityField",
    "IdentityNamespace",
    "BatchRoutes",
    "Changes",
    "Drift",
    "Status",
)
PENDING = "pending: no credential in the credentials secret yet"
#: Not an attribute: the run's report lines (``+`` / ``~`` / ``!``), logged by the handler, never sent.
REPORT_KEY = "_report"


def _boto3_client(service: str) -> Any:
    import boto3  # noqa: PLC0415 - lazily: created in the invocation, never at import

    return boto3.client(service)  # type: ignore[call-overload]


def setup_of(properties: Mapping[str, Any], client: Callable[[str], Any] = _boto3_client) -> SetupFile:
    """The setup file the properties give. Raises SetupFileError naming the property and the problem."""
    uri = str(properties.get("SetupS3Uri") or "")
    if uri:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not uri.startswith("s3://") or not bucket or not key:
            raise SetupFileError("SetupS3Uri: not s3://bucket/key")
        try:
            text = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise SetupFileError(f"SetupS3Uri: cannot read {uri} ({code})") from None
        return parse(_json(text, uri), uri)
    inline = properties.get("Setup")
    if isinstance(inline, str):
        return parse(_json(inline, "Setup"), "Setup")
    if isinstance(inline, dict):
        return parse(inline, "Setup", from_cloudformation=True)  # every scalar a string
    raise SetupFileError("give the setup file as the Setup property (an object or JSON) or SetupS3Uri")


def _json(text: str | bytes, source: str) -> Any:
    try:
        return strict_json.loads(text)
    except ValueError as exc:
        raise SetupFileError(f"{source}: not valid JSON ({exc})") from None


def credential_pending(environ: Mapping[str, str], client: Callable[[str], Any] = _boto3_client) -> bool:
    """Whether the stack's credentials secret still holds the ``{}`` the stack created it with."""
    secret_id = environ.get("AEP_CREDENTIALS_SECRET_ID", "")
    try:
        text = client("secretsmanager").get_secret_value(SecretId=secret_id).get("SecretString")
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise AepConfigError(f"cannot read credentials secret {secret_id!r}: {code}") from None
    try:
        return bool(json.loads(text or "") == {})
    except ValueError:
        return False  # not JSON: loading it says so, without its content


def fallbacks(properties: Mapping[str, Any]) -> dict[str, str]:
    """The hand-set settings the template passes along (``IdentityField``, ``IdentityNamespace``,
    ``BatchRoutes``): the attributes where the setup file says nothing (and while no credential is in)."""
    return {
        "IdentityField": str(properties.get("IdentityField") or ""),
        "IdentityNamespace": str(properties.get("IdentityNamespace") or ""),
        "BatchRoutes": str(properties.get("BatchRoutes") or "[]"),
    }


def converge(
    properties: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    client: Callable[[str], Any] = _boto3_client,
) -> dict[str, str]:
    """Apply the setup file; the attributes. Raises the AepError of a failed call, SetupFileError for a
    bad file, AepConfigError when the chosen streaming connection was not completed (drift)."""
    env = os.environ if environ is None else environ
    setup = setup_of(properties, client)
    stream = chosen_stream(setup, str(properties.get("Stream") or "") or None)
    if stream is None:
        raise SetupFileError("the setup file has no streaming connection: the functions need one")
    if credential_pending(env, client):
        return {**dict.fromkeys(ATTRIBUTES, ""), **fallbacks(properties), "Stream": stream, "Status": PENDING}
    report = apply(setup_api(env), setup)
    outputs = report.outputs
    made = outputs["streaming"].get(stream) or {}
    spec = next(s for s in setup.streaming if s.name == stream)
    dataset = next(d for d in setup.datasets if d.name == spec.dataset)
    schema = outputs["schemas"].get(dataset.schema_) or {}
    try:
        ids = SetupStream.model_validate(
            {
                "dataset_id": made.get("datasetId"),
                "inlet_id": made.get("inletId"),
                "inlet_url": made.get("inletUrl"),
                "flow_id": made.get("flowId"),
            }
        )
    except ValueError:
        drift = "; ".join(d.line() for d in report.drift) or "no drift reported"
        raise AepConfigError(f"streaming connection {stream!r} was not completed: {drift}") from None
    region = str(properties.get("DefaultPhoneRegion") or "US")
    settings = function_settings(setup, outputs, stream, default_phone_region=region)
    given = fallbacks(properties)
    return {
        "TenantId": str(outputs.get("tenantId") or ""),
        "SchemaRef": str(schema.get("id") or ""),
        "SchemaAltId": str(schema.get("altId") or ""),
        "DatasetId": ids.dataset_id,
        "InletId": ids.inlet_id,
        "InletUrl": ids.inlet_url,
        "InletAuthenticated": "true" if spec.authenticated else "false",
        "FlowId": ids.flow_id,
        "Stream": stream,
        "IdentityField": settings.identity_field or given["IdentityField"],
        "IdentityNamespace": settings.identity_namespace
        if settings.identity_field
        else given["IdentityNamespace"],
        "BatchRoutes": json.dumps(settings.batch_routes) if setup.batch else given["BatchRoutes"],
        "Changes": str(len(report.changes)),
        "Drift": str(len(report.drift)),
        "Status": "converged" if not report.drift else f"converged with {len(report.drift)} drift(s)",
        REPORT_KEY: report.text(),
    }
