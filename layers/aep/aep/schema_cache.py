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

A field added in AEP (setup extends field groups additively) is not in a copy fetched before: before a record
is refused for a key the schema does not define (:class:`~aep.validation.UnknownFieldRefused`), the schema is
fetched again when the copy in use is older than ``AEP_SCHEMA_RECHECK_SECONDS`` (default 60), at most once
per dataset per that bound and by one thread at a time, and the record checked again. When that fetch fails,
the record is not refused: :class:`SchemaUnavailableError` (retryable: the message goes back to its queue,
the file is retried), as for a schema that cannot be had at all; a failed refresh is not tried again for
``AEP_SCHEMA_RECHECK_SECONDS`` (records with unknown keys meanwhile get the same answer at once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aep.config import parse_env
from aep.errors import AepError
from aep.validation import RecordValidator, UnknownFieldRefused, compile_schema
from aep.xdm_schema import SchemaRegistryApi

if TYPE_CHECKING:
    from aep.client import AepClient

logger = logging.getLogger(__name__)

Mode = Literal["required", "best_effort", "off"]
ENVIRONMENT = {
    "AEP_SCHEMA_VALIDATION": "mode",
    "AEP_SCHEMA_TTL_SECONDS": "ttl_seconds",
    "AEP_SCHEMA_RECHECK_SECONDS": "recheck_seconds",
}
#: Seconds before a failed fetch is tried again.
RETRY_SECONDS = 30.0


class ValidationSettings(BaseModel):
    """``AEP_SCHEMA_VALIDATION`` (``required`` | ``best_effort`` | ``off``), ``AEP_SCHEMA_TTL_SECONDS`` and
    ``AEP_SCHEMA_RECHECK_SECONDS`` (the age past which an unknown field makes the schema be fetched again)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = "required"
    ttl_seconds: float = Field(default=900.0, ge=0, le=86_400)
    recheck_seconds: float = Field(default=60.0, ge=0, le=86_400)

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
    check: SchemaCheck | None = None  # what the functions call: the validator, rechecked on unknown fields
    recheck_at: float = 0.0  # a failed recheck (unknown field) is not tried again before this


Key = tuple[str, str, str, str, str]


class SchemaCheck:
    """A dataset's validator as the functions call it on each record: raises RecordRefused, or
    SchemaUnavailableError when a record names a field the cached schema lacks and a newer copy cannot be
    fetched (see the module)."""

    def __init__(
        self, cache: SchemaValidators, client: AepClient, key: Key, entry: _Entry, dataset_id: str
    ) -> None:
        self._cache, self._client, self._key = cache, client, key
        self._entry, self._dataset = entry, dataset_id

    @property
    def schema_ref(self) -> str:
        validator = self._entry.validator
        return validator.schema_ref if validator is not None else ""

    def __call__(self, record: dict[str, Any]) -> None:
        validator = self._entry.validator
        if validator is None:  # cannot happen: a check is made for an entry with a validator
            return
        try:
            validator(record)
        except UnknownFieldRefused:
            if not self._cache._recheck(self._client, self._key, self._entry, validator, self._dataset):
                raise
            newer = self._entry.validator
            assert newer is not None  # a recheck only ever replaces a validator with another
            newer(record)


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
    ) -> SchemaCheck | None:
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
        if entry is not None and entry.check is not None and self._fresh(entry):
            return entry.check
        with self._key_lock(key):
            entry = self._entries.get(key)  # another thread may have fetched it meanwhile
            now = self._clock()
            if entry is not None and (self._fresh(entry) or now < entry.retry_at):
                return self._answer(entry, dataset_id)
            try:
                validator = self._fetch(client, dataset_id, schema_ref)
            except AepError as exc:
                return self._failed(key, entry, dataset_id, exc, now)
            entry = _Entry(validator, now, now)
            entry.check = SchemaCheck(self, client, key, entry, dataset_id)
            self._entries[key] = entry
            return entry.check

    def _recheck(
        self, client: AepClient, key: Key, entry: _Entry, refused_by: RecordValidator, dataset_id: str
    ) -> bool:
        """Before a refusal for an unknown field: True when ``entry`` now holds a newer validator than
        ``refused_by`` (check the record again), False when the one that refused is recent enough (the
        refusal stands). Raises SchemaUnavailableError when the newer copy cannot be had (see the module)."""
        with self._key_lock(key):
            if entry.validator is not refused_by:  # another thread fetched it meanwhile
                return True
            now = self._clock()
            if now - entry.fetched < self.settings.recheck_seconds:
                return False
            if now < entry.recheck_at:
                raise SchemaUnavailableError(
                    f"a field is not in the schema of dataset {dataset_id} fetched "
                    f"{now - entry.fetched:.0f} s ago, and a newer copy could not be fetched"
                )
            try:
                validator = self._fetch(client, dataset_id, key[4] or None)
            except AepError as exc:
                entry.recheck_at = now + self.settings.recheck_seconds
                logger.warning(
                    "schema refresh for an unknown field failed; such records go back to be retried",
                    extra={"dataset": dataset_id, "error": str(exc)},
                )
                age = now - entry.fetched
                raise SchemaUnavailableError(
                    f"a field is not in the schema of dataset {dataset_id} fetched {age:.0f} s ago, "
                    f"and a newer copy could not be fetched: {exc.message}",
                    status=exc.status,
                ) from exc
            entry.validator, entry.fetched, entry.retry_at = validator, now, now
            return True

    def _fresh(self, entry: _Entry) -> bool:
        return entry.validator is not None and self._clock() - entry.fetched < self.settings.ttl_seconds

    def _key_lock(self, key: Key) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())

    def _answer(self, entry: _Entry, dataset_id: str) -> SchemaCheck | None:
        if entry.check is not None or self.settings.mode == "best_effort":
            return entry.check
        raise SchemaUnavailableError(
            f"the schema of dataset {dataset_id} could not be fetched (tried every {RETRY_SECONDS:.0f} s)"
        )

    def _failed(
        self, key: Key, entry: _Entry | None, dataset_id: str, error: AepError, now: float
    ) -> SchemaCheck | None:
        extra = {"dataset": dataset_id, "error": str(error)}
        if entry is not None and entry.check is not None:
            logger.warning("schema refresh failed; the schema fetched before stays in use", extra=extra)
            entry.retry_at = now + RETRY_SECONDS
            return entry.check
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
