"""Continuation: a file that cannot finish in the time left stops at a record boundary, uploads what it
spooled as AEP files, saves a checkpoint on its ledger item and sends itself a message to go on.

The checkpoint holds the input position as the index of the next record: the follow-up invocation reads
the object again from its start and skips the records before it without judging them (the readers expose
record indexes and lines, not byte offsets, and gzip cannot be entered mid-stream anyway), the AEP files
already uploaded (their names: the next one continues the numbering) and the counts so far.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from batch_ingest.notifications import CONTINUATION


@dataclass(frozen=True)
class Checkpoint:
    step: int = 0
    next_index: int = 0
    read: int = 0
    sent: int = 0
    refused: int = 0
    aep_files: tuple[str, ...] = ()

    @property
    def aep_files_count(self) -> int:
        return len(self.aep_files)

    def to_item(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "next_index": self.next_index,
            "read": self.read,
            "sent": self.sent,
            "refused": self.refused,
            "aep_files": list(self.aep_files),
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Checkpoint:
        return cls(
            step=int(item["step"]),
            next_index=int(item["next_index"]),
            read=int(item["read"]),
            sent=int(item["sent"]),
            refused=int(item["refused"]),
            aep_files=tuple(item.get("aep_files", ())),
        )


def continuation_body(file_pk: str, step: int) -> str:
    return json.dumps({CONTINUATION: {"file": file_pk, "step": step}})


def continuation_of(message: dict[str, Any]) -> tuple[str, int] | None:
    """``(file pk, step)`` of a continuation message, or None when it is malformed."""
    pk, step = message.get("file"), message.get("step")
    if not isinstance(pk, str) or not pk.startswith("file#") or not isinstance(step, int) or step < 1:
        return None
    return pk, step
