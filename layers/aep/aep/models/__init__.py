"""Typed views of what AEP returns. Unknown fields are kept (``extra='allow'``): AEP adds fields often.

Each model's module is imported on first use of one of its names (PEP 562): a function that reads profiles
does not build the batch and streaming models at cold start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aep.models.batch import (
        Batch,
        BatchErrorEntry,
        BatchMetrics,
        BatchState,
        FailedRecord,
        InputFormat,
        RowError,
    )
    from aep.models.catalog import Dataset, SchemaRef
    from aep.models.identity import IdentityNamespace
    from aep.models.profile import ExperienceEvent, ExperienceEventPage, ProfileEntity
    from aep.models.streaming import (
        MessageResult,
        StreamBatchResponse,
        StreamResponseEntry,
        StreamSingleResponse,
    )

_EXPORTS = {
    "Batch": "aep.models.batch",
    "BatchErrorEntry": "aep.models.batch",
    "BatchMetrics": "aep.models.batch",
    "BatchState": "aep.models.batch",
    "FailedRecord": "aep.models.batch",
    "Dataset": "aep.models.catalog",
    "ExperienceEvent": "aep.models.profile",
    "ExperienceEventPage": "aep.models.profile",
    "IdentityNamespace": "aep.models.identity",
    "InputFormat": "aep.models.batch",
    "MessageResult": "aep.models.streaming",
    "ProfileEntity": "aep.models.profile",
    "RowError": "aep.models.batch",
    "SchemaRef": "aep.models.catalog",
    "StreamBatchResponse": "aep.models.streaming",
    "StreamResponseEntry": "aep.models.streaming",
    "StreamSingleResponse": "aep.models.streaming",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aep.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Batch",
    "BatchErrorEntry",
    "BatchMetrics",
    "BatchState",
    "Dataset",
    "ExperienceEvent",
    "ExperienceEventPage",
    "FailedRecord",
    "IdentityNamespace",
    "InputFormat",
    "MessageResult",
    "ProfileEntity",
    "RowError",
    "SchemaRef",
    "StreamBatchResponse",
    "StreamResponseEntry",
    "StreamSingleResponse",
]
