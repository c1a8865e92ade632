"""The container's compiled schemas: each dataset's validator, fetched once and refreshed after a TTL.

:meth:`SchemaValidators.validator` answers from the cache while the entry is younger than
``AEP_SCHEMA_TTL_SECONDS`` (default 900: AEP's own streaming validation picks a schema change up within 15
minutes), so a container fetches a dataset's schema once (the dataset's ``schemaRef`` from Catalog when the
function has no schema setting, then the Schema Registry's ``xed-full`` lookup), and again after the TTL.
Entries are per AEP org, sandbox and dataset: tenants with their own datasets get their own.

When the schema cannot be fetched (after the client's retries):

- a schema fetched before stays in use (logged at WARNING; the refresh is tried again 30 s later);
- else, with ``AEP_SCHEMA_VALIDATION=required`` (the default), :class:`SchemaUnavailableError`, retryable:
  the records go back to their queue, the file is retried, nothing is sent unchecked;
- with ``best_effort``, None: records are sent unchecked (logged at WARNING);
- ``off`` never fetches and never checks.

A failed first fetch is not repeated for 30 s (each record of those 30 s gets the same answer at once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from aep.config import parse_env
from aep.errors import AepError
from aep.validation import RecordValidator, compile_schema
from aep.xdm_schema import SchemaRegistryApi

if TYPE_CHECKING:
    from aep.client import AepClient

logger = logging.getLogger(__name__)

Mode = Literal["required", "best_effort", "off"]
ENVIRONMENT = {"AEP_SCHEMA_VALIDATION": "mode", "AEP_SCHEMA_TTL_SECONDS": "ttl_seconds"}
#: Seconds before a failed fetch is tried again.
RETRY_SECONDS = 30.0


class ValidationSettings(BaseModel):
    """``AEP_SCHEMA_VALIDATION`` (``required`` | ``best_effort`` | ``off``) and ``AEP_SCHEMA_TTL_SECONDS``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = "required"
    ttl_seconds: float = Field(default=900.0, ge=0, le=86_400)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ValidationSettings:
        """Raises AepConfigError naming a bad variable."""
        return parse_env(cls, ENVIRONMENT, environ)


class SchemaUnavailableError(AepError):
    """The dataset's schema could not be fetched and records may not be sent unchecked: retry later."""

    @property
    def retryable(self) -> bool:
        return True


@dataclass
class _Entry:
    validator: RecordValidator | None  # None: the first fetch failed
    fetched: float
    retry_at: float  # a failed fetch is not tried again before this


Key = tuple[str, str, str, str, str]


class SchemaValidators:
    """Per container: the validators of the datasets its functions send to (thread-safe)."""

    def __init__(
        self, settings: ValidationSettings | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings or ValidationSettings()
        self._clock = clock
        self._entries: dict[Key, _Entry] = {}
        self._locks: dict[Key, threading.Lock] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SchemaValidators:
        return cls(ValidationSettings.from_env(environ))

    def validator(
        self, client: AepClient, dataset_id: str, schema_ref: str | None = None
    ) -> RecordValidator | None:
        """The dataset's validator (its schema ``schema_ref``, else the one Catalog names); None when
        records go unchecked (``off``, or ``best_effort`` without a schema). Raises SchemaUnavailableError
        (see the module)."""
        if self.settings.mode == "off":
            return None
        key: Key = (
            client.settings.platform_url,
            client.credentials.org_id,
            client.settings.sandbox_name,
            dataset_id,
            schema_ref or "",
        )
        entry = self._entries.get(key)
        if entry is not None and entry.validator is not None and self._fresh(entry):
            return entry.validator
        with self._key_lock(key):
            entry = self._entries.get(key)  # another thread may have fetched it meanwhile
            now = self._clock()
            if entry is not None and (self._fresh(entry) or now < entry.retry_at):
                return self._answer(entry, dataset_id)
            try:
                validator = self._fetch(client, dataset_id, schema_ref)
            except AepError as exc:
                return self._failed(key, entry, dataset_id, exc, now)
            self._entries[key] = _Entry(validator, now, now)
            return validator

    def _fresh(self, entry: _Entry) -> bool:
        return entry.validator is not None and self._clock() - entry.fetched < self.settings.ttl_seconds

    def _key_lock(self, key: Key) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())

    def _answer(self, entry: _Entry, dataset_id: str) -> RecordValidator | None:
        if entry.validator is not None or self.settings.mode == "best_effort":
            return entry.validator
        raise SchemaUnavailableError(
            f"the schema of dataset {dataset_id} could not be fetched (tried every {RETRY_SECONDS:.0f} s)"
        )

    def _failed(
        self, key: Key, entry: _Entry | None, dataset_id: str, error: AepError, now: float
    ) -> RecordValidator | None:
        extra = {"dataset": dataset_id, "error": str(error)}
        if entry is not None and entry.validator is not None:
            logger.warning("schema refresh failed; the schema fetched before stays in use", extra=extra)
            entry.retry_at = now + RETRY_SECONDS
            return entry.validator
        self._entries[key] = _Entry(None, now, now + RETRY_SECONDS)
        if self.settings.mode == "best_effort":
            logger.warning("schema unavailable; records are sent unchecked (best_effort)", extra=extra)
            return None
        logger.warning("schema unavailable; records go back to be retried", extra=extra)
        raise SchemaUnavailableError(
            f"the schema of dataset {dataset_id} could not be fetched: {error.message}", status=error.status
        ) from error

    @staticmethod
    def _fetch(client: AepClient, dataset_id: str, schema_ref: str | None) -> RecordValidator:
        ref = schema_ref
        if not ref:
            dataset = client.catalog.dataset(dataset_id)
            if dataset.schema_ref is None:
                raise AepError(f"dataset {dataset_id} has no schemaRef")
            ref = dataset.schema_ref.id
        schema = SchemaRegistryApi(client.transport, client.settings.platform_url).full_schema(ref)
        try:
            return compile_schema(schema, ref)
        except Exception as exc:  # a pattern Python cannot compile, a malformed keyword
            raise AepError(f"schema {ref} cannot be compiled ({type(exc).__name__})") from exc
