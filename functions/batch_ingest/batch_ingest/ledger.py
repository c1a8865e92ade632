"""The ledger (BATCH-DESIGN.md): one DynamoDB item per object version (``file#...``) and per AEP batch
(``batch#...``). The batch function writes them; the follow-up function reads and finishes them."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

#: A file item in ``reading`` whose checkpoint was claimed longer ago than this is taken over (the
#: invocation that claimed it died): the function's timeout plus a margin.
CLAIM_LEASE_SECONDS = 1_000


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class Ledger:
    def __init__(self, table_name: str, dynamodb: Callable[[], Any], clock: Callable[[], float]) -> None:
        self._name = table_name
        self._factory = dynamodb
        self._table: Any = None
        self._clock = clock

    @property
    def table(self) -> Any:
        if self._table is None:
            self._table = self._factory().Table(self._name)
        return self._table

    def now(self) -> int:
        return int(self._clock())

    def get(self, pk: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": pk}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def claim_file(self, item: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        """Write a new file item (state ``reading``) unless this version is known already.

        Returns ``(True, previous)``: claimed; ``previous`` is the item of an earlier attempt that died
        while reading (no checkpoint), taken over. ``(False, existing)``: a duplicate (the version was
        ingested, refused, or is continuing from a checkpoint).
        """
        new = {**item, "state": "reading", "updated_at": self.now()}
        try:
            answer = self.table.put_item(
                Item=new,
                ConditionExpression=(
                    "attribute_not_exists(pk) OR (#s = :reading AND attribute_not_exists(#c))"
                ),
                ExpressionAttributeNames={"#s": "state", "#c": "checkpoint"},
                ExpressionAttributeValues={":reading": "reading"},
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            return False, self.get(item["pk"])
        previous = answer.get("Attributes")
        return True, _plain(previous) if previous else None

    def update(self, pk: str, remove: tuple[str, ...] = (), **values: Any) -> None:
        values["updated_at"] = self.now()
        names = {f"#n{i}": name for i, name in enumerate(values)}
        sets = ", ".join(f"#n{i} = :v{i}" for i in range(len(values)))
        expression = f"SET {sets}"
        for j, name in enumerate(remove):
            names[f"#r{j}"] = name
        if remove:
            expression += " REMOVE " + ", ".join(f"#r{j}" for j in range(len(remove)))
        self.table.update_item(
            Key={"pk": pk},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":v{i}": v for i, v in enumerate(values.values())},
        )

    def claim_checkpoint(self, pk: str, step: int, owner: str) -> dict[str, Any] | None:
        """Take the file's checkpoint ``step`` for this invocation; None when another holds it, or it is
        not (or no longer) at that step (a duplicate continuation message)."""
        now = self.now()
        try:
            answer = self.table.update_item(
                Key={"pk": pk},
                UpdateExpression="SET #c.#o = :owner, #c.#t = :now",
                ConditionExpression=(
                    "#s = :reading AND #c.#step = :step AND (attribute_not_exists(#c.#o) OR #c.#t < :stale)"
                ),
                ExpressionAttributeNames={
                    "#s": "state",
                    "#c": "checkpoint",
                    "#o": "owner",
                    "#t": "claimed_at",
                    "#step": "step",
                },
                ExpressionAttributeValues={
                    ":owner": owner,
                    ":now": now,
                    ":reading": "reading",
                    ":step": step,
                    ":stale": now - CLAIM_LEASE_SECONDS,
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            return None
        return dict(_plain(answer["Attributes"]))

    def release_checkpoint(self, pk: str) -> None:
        """Give the checkpoint back (this invocation failed on it): the message's next delivery takes it.
        A checkpoint already gone (the file finished before the failure) is nothing to give back."""
        try:
            self.table.update_item(
                Key={"pk": pk},
                UpdateExpression="REMOVE #c.#o, #c.#t",
                ConditionExpression="attribute_exists(#c)",
                ExpressionAttributeNames={"#c": "checkpoint", "#o": "owner", "#t": "claimed_at"},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise

    def open_batch(self, batch_id: str, tenant: str, dataset_id: str, *, shared: bool = True) -> None:
        self.table.put_item(
            Item={
                "pk": f"batch#{batch_id}",
                "tenant": tenant,
                "dataset_id": dataset_id,
                "files": [],
                "state": "open",
                "shared": shared,
                "updated_at": self.now(),
            }
        )

    def bind_file(self, batch_id: str, file_pk: str) -> None:
        """The file is about to upload into the batch: from now on its fate is the batch's. It waits in
        the batch's ``waiting`` set until it is uploaded (:meth:`add_file`): no COMPLETE before. The batch
        enters the follow-up's index (``pending``, since the first file bound: ``completed_at``), so a batch
        held open by a file that never finishes (its message in the DLQ) is reported stuck."""
        self.table.update_item(
            Key={"pk": f"batch#{batch_id}"},
            UpdateExpression=(
                "ADD #w :one SET updated_at = :now, pending = :pending, "
                "completed_at = if_not_exists(completed_at, :now)"
            ),
            ExpressionAttributeNames={"#w": "waiting"},
            ExpressionAttributeValues={":one": {file_pk}, ":now": self.now(), ":pending": "1"},
        )

    def unbind_file(self, batch_id: str, file_pk: str) -> None:
        """The file left the batch before any of its bytes reached AEP (AEP refused its first PUT)."""
        self.table.update_item(
            Key={"pk": f"batch#{batch_id}"},
            UpdateExpression="DELETE #w :one SET updated_at = :now",
            ExpressionAttributeNames={"#w": "waiting"},
            ExpressionAttributeValues={":one": {file_pk}, ":now": self.now()},
        )

    def add_file(self, batch_id: str, file_pk: str) -> None:
        """Append the uploaded file to the batch's ``files`` (once: a resumed file is not listed twice),
        then take it out of ``waiting``."""
        try:
            self.table.update_item(
                Key={"pk": f"batch#{batch_id}"},
                UpdateExpression="SET #f = list_append(#f, :one), updated_at = :now",
                ConditionExpression="NOT contains(#f, :pk)",
                ExpressionAttributeNames={"#f": "files"},
                ExpressionAttributeValues={":one": [file_pk], ":pk": file_pk, ":now": self.now()},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise
        self.unbind_file(batch_id, file_pk)

    def close_batch(self, batch_id: str) -> None:
        """The group that opened the batch is done: no file joins it any more (a waiting file may still
        finish its upload on a retry)."""
        self.table.update_item(
            Key={"pk": f"batch#{batch_id}"},
            UpdateExpression="SET closed_at = :now, updated_at = :now",
            ExpressionAttributeValues={":now": self.now()},
        )

    def mark_completing(self, batch_id: str) -> bool:
        """Record that the batch is ready for COMPLETE (closed, at least one file, none waiting), before
        COMPLETE is signalled: ``pending`` puts it in the follow-up's index, which signals COMPLETE again
        when this invocation cannot. True when the batch is (now or already) ``completing``."""
        now = self.now()
        try:
            self.table.update_item(
                Key={"pk": f"batch#{batch_id}"},
                UpdateExpression=(
                    "SET #s = :completing, completed_at = :now, pending = :one, updated_at = :now "
                    "REMOVE stuck_reported_at"  # a stuck report of the open batch: pending in AEP is news
                ),
                ConditionExpression=(
                    "(#s = :open AND attribute_exists(closed_at) AND attribute_not_exists(#w) "
                    "AND size(#f) > :zero) OR #s = :completing"
                ),
                ExpressionAttributeNames={"#s": "state", "#w": "waiting", "#f": "files"},
                ExpressionAttributeValues={
                    ":completing": "completing",
                    ":open": "open",
                    ":now": now,
                    ":one": "1",
                    ":zero": 0,
                },
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            return False
        return True

    def complete_batch(self, batch_id: str) -> None:
        """COMPLETE was signalled: the follow-up takes over (already in the sparse index since
        ``completing``). Never moves a batch the follow-up made final back."""
        try:
            self.table.update_item(
                Key={"pk": f"batch#{batch_id}"},
                UpdateExpression="SET #s = :completed, updated_at = :now",
                ConditionExpression="#s = :completing",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={
                    ":completed": "completed",
                    ":completing": "completing",
                    ":now": self.now(),
                },
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise

    def abort_batch(self, batch_id: str, reason: str) -> None:
        self.update(f"batch#{batch_id}", ("pending",), state="final", aep_status="aborted", reason=reason)
