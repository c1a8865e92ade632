"""A dataset's XDM schema from the Schema Registry, and what "closed" means for it.

:class:`SchemaRegistryApi` reads a schema resolved into plain ``properties``
(``Accept: application/vnd.adobe.xed-full+json; version=1``, aep-api.md section 10.2): the class's, the
field groups' and the tenant object's fields merged, which is what records are checked against.

XDM objects are closed. AEP's streaming validation refuses a key the schema does not define, at the record's
root as below it (``"keyword": "additionalProperties"``, ``"extraneous key [workEmail] is not permitted"``,
Adobe's streaming-validation guide), and that holds for the fields of standard field groups as for the
tenant's own: a standard object (``person.name``) accepts its defined fields only. A *map* is the one open
object: ``meta:xdmType: map`` with an ``additionalProperties`` schema (``identityMap``), whose keys are free
and whose values are checked against that schema. An object that declares neither ``properties`` nor
``additionalProperties`` says nothing of its content and is not checked below itself.

:func:`to_json_schema` writes that reading as standard JSON Schema (draft 6, the registry's
``$schema``): ``additionalProperties: false`` on every object with ``properties``, the ``meta:*`` and text
keywords dropped. The benchmark's library candidates compile it; :mod:`aep.validation` reads the same rules.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aep.errors import AepError
from aep.http import Transport, json_of

REGISTRY_PATH = "/data/foundation/schemaregistry"
#: The lookup format with every inherited field resolved; ``version`` (the major) is required.
XED_FULL = "application/vnd.adobe.xed-full+json; version=1"
#: Keywords kept when a schema is written as JSON Schema (the rest: ``meta:*``, titles, defaults...).
_KEPT = frozenset(
    {
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "format",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minItems",
        "maxItems",
    }
)


class SchemaRegistryApi:
    """The Schema Registry's lookup of one tenant schema, resolved (``xed-full``)."""

    def __init__(self, transport: Transport, platform_url: str) -> None:
        self._t = transport
        self._base = platform_url.rstrip("/") + REGISTRY_PATH

    def full_schema(self, schema_ref: str) -> dict[str, Any]:
        """``GET /tenant/schemas/{$id, URL-encoded}`` in ``xed-full`` v1. Raises the AepError of the call
        (AepNotFoundError for an unknown schema), or AepError when the answer is not a schema object."""
        response = self._t.request(
            "GET",
            f"{self._base}/tenant/schemas/{quote(schema_ref, safe='')}",
            headers={"Accept": XED_FULL},
            context="schema lookup",
        )
        body = json_of(response, "schema lookup")
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise AepError(f"schema lookup: {schema_ref} came back without properties", status=200)
        return body


def is_map(spec: dict[str, Any]) -> bool:
    """An XDM map: free keys, each value checked against ``additionalProperties``."""
    return isinstance(spec.get("additionalProperties"), dict)


def to_json_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` (an ``xed-full`` schema or one of its fields) as closed JSON Schema (see the module)."""
    out: dict[str, Any] = {key: value for key, value in spec.items() if key in _KEPT}
    properties = spec.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {
            name: to_json_schema(field) for name, field in properties.items() if isinstance(field, dict)
        }
        if not is_map(spec):
            out["additionalProperties"] = False
    if is_map(spec):
        out["additionalProperties"] = to_json_schema(spec["additionalProperties"])
    items = spec.get("items")
    if isinstance(items, dict):
        out["items"] = to_json_schema(items)
    return out
