"""The header and ``xdmMeta`` of a complete streaming message: field types, and the one schema they name.

AEP requires ``body.xdmMeta.schemaRef`` to match ``header.schemaRef`` and the dataset's schema. A message
that names two schemas, or another dataset's schema, is refused here with its reason instead of being sent
(or silently rewritten); a message that names none gets the configured one.
"""

from __future__ import annotations

from typing import Any

CONTENT_TYPE = "application/vnd.adobe.xed-full+json;version=1"

Problem = tuple[str, str]  # (field, reason)

#: Fields of the header we read or AEP reads, and the JSON type each must have when present.
_HEADER_FIELDS: tuple[tuple[str, type], ...] = (
    ("schemaRef", dict),
    ("imsOrgId", str),
    ("datasetId", str),
    ("flowId", str),
    ("source", dict),
)


def _typed(node: dict[str, Any], key: str, kind: type, path: str) -> Problem | None:
    if key in node and not isinstance(node[key], kind):
        what = "an object" if kind is dict else "a string"
        return f"{path}.{key}", f"{path}.{key} must be {what}"
    return None


def _ref_types(ref: dict[str, Any], path: str) -> Problem | None:
    return _typed(ref, "id", str, path) or _typed(ref, "contentType", str, path)


def check_types(header: dict[str, Any], body: dict[str, Any]) -> Problem | None:
    """The first header or xdmMeta field of the wrong JSON type, as (field, reason); None when all fit."""
    for key, kind in _HEADER_FIELDS:
        problem = _typed(header, key, kind, "header")
        if problem:
            return problem
    if "schemaRef" in header and (problem := _ref_types(header["schemaRef"], "header.schemaRef")):
        return problem
    if "source" in header and (problem := _typed(header["source"], "name", str, "header.source")):
        return problem
    if problem := _typed(body, "xdmMeta", dict, "body"):
        return problem
    meta = body.get("xdmMeta", {})
    if problem := _typed(meta, "schemaRef", dict, "body.xdmMeta"):
        return problem
    if "schemaRef" in meta:
        return _ref_types(meta["schemaRef"], "body.xdmMeta.schemaRef")
    return None


def schema_ref(
    header: dict[str, Any], body: dict[str, Any], schema: str, dataset_id: str
) -> dict[str, str] | Problem:
    """The one schemaRef of a message whose types passed :func:`check_types`, or (field, reason).

    Empty values count as absent. Both ids given must be equal, both content types too; the id must be
    ``schema`` (the dataset's). Missing parts come from the other side, then from configuration.
    """
    head = header.get("schemaRef") or {}
    meta = (body.get("xdmMeta") or {}).get("schemaRef") or {}
    head_id, meta_id = head.get("id") or None, meta.get("id") or None
    if head_id and meta_id and head_id != meta_id:
        return "body.xdmMeta.schemaRef.id", "header.schemaRef.id and body.xdmMeta.schemaRef.id differ"
    head_type, meta_type = head.get("contentType") or None, meta.get("contentType") or None
    if head_type and meta_type and head_type != meta_type:
        return (
            "body.xdmMeta.schemaRef.contentType",
            "header.schemaRef.contentType and body.xdmMeta.schemaRef.contentType differ",
        )
    given = head_id or meta_id
    if given is not None and given != schema:
        where = "header.schemaRef.id" if head_id else "body.xdmMeta.schemaRef.id"
        return where, f"{where} is not the schema of dataset {dataset_id} ({schema})"
    return {"id": schema, "contentType": head_type or meta_type or CONTENT_TYPE}
