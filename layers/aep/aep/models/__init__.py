"""Typed views of what AEP returns. Unknown fields are kept (``extra='allow'``): AEP adds fields often."""

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
from aep.models.streaming import MessageResult, StreamBatchResponse, StreamResponseEntry, StreamSingleResponse

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
