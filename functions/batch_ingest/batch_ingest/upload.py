"""AEP files of a batch: spooled NDJSON parts (FileSource) and Parquet passed through from S3 (S3Source).

Up to ``single_put_max`` bytes a file is one streamed PUT; above it the large-file protocol, in parts of
``chunk_bytes``. A large upload that fails after the client's own retries is resumed from what AEP holds
(``HEAD``), up to :data:`RESUMES` times, before the failure is raised.
"""

from __future__ import annotations

import logging
from typing import Any

from aep.batch import BatchApi
from aep.errors import AepError
from aep.sources import ByteSource, S3Source
from batch_ingest.readers import check_parquet

logger = logging.getLogger(__name__)

RESUMES = 3
PARQUET_MAGIC_BYTES = 4


def upload_file(
    api: BatchApi,
    batch_id: str,
    dataset_id: str,
    name: str,
    source: ByteSource,
    *,
    single_put_max: int,
    chunk_bytes: int,
) -> int:
    """Upload one AEP file; returns how many times a large upload was resumed."""
    if source.size <= single_put_max:
        api.put_file(batch_id, dataset_id, name, source)
        return 0
    resumes = 0
    resume = False
    while True:
        try:
            api.upload_large(batch_id, dataset_id, name, source, chunk_size=chunk_bytes, resume=resume)
            return resumes
        except AepError as error:
            if not error.retryable or resumes >= RESUMES:
                raise
            resumes += 1
            resume = True
            logger.warning("resuming a large upload", extra={"file": name, "error": type(error).__name__})


def checked_parquet(s3: Any, bucket: str, key: str, size: int, version_id: str | None = None) -> S3Source:
    """The object (the notified version, when the bucket is versioned) as an upload source, once its first
    and last 4 bytes are ``PAR1`` (two ranged GETs; the upload then reads it pinned to that version and to
    the ETag it had).

    Raises ``FileRefused`` when they are not (the readers' :func:`check_parquet`).
    """
    head = tail = b""
    if size >= 2 * PARQUET_MAGIC_BYTES:
        version = {"VersionId": version_id} if version_id else {}
        head = s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-3", **version)["Body"].read()
        last = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{PARQUET_MAGIC_BYTES}", **version)
        tail = last["Body"].read()
    check_parquet(head, tail)
    return S3Source(s3, bucket, key, version_id)
