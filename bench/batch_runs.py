"""One measured run of the batch benchmark, in a fresh process: ``python -m bench.batch_runs SCENARIO``.

Scenarios (the input object is in S3, served by moto in its own process; AEP is the batch sink):

* ``raw``: the raw copy. One streamed S3 GET, PUT to the sink as it is read (the large-file protocol above
  256 MiB, in 32 MiB parts, as the function's defaults), no parsing: the ceiling for moving the bytes.
* ``function``: the batch function's handler invoked as Lambda would (an SQS event carrying the S3
  notification), with its real AEP client, ledger and idempotency tables (DynamoDB in moto). For an NDJSON
  key that is read, validate, encode, spool, upload; for a ``.parquet`` key the pass-through.

The run's parameters come as JSON in ``BENCH_BATCH_RUN``; the AWS clients find moto via
``AWS_ENDPOINT_URL``. Setup (imports, clients, tables, a warm-up invocation on a tiny file) happens before
the measurement. Printed, as the last line: one JSON object with the wall time, the CPU time
(``ru_utime + ru_stime`` of this process) and the peak RSS (``ru_maxrss`` of this process, before and
after the measured part). With ``profile`` set, the measured part runs under cProfile and its stats are
dumped to that path.
"""

from __future__ import annotations

import cProfile
import gc
import json
import os
import resource
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import boto3
import requests

from demo.resources import create_table, template_resources

SINGLE_PUT_MAX = 256 * 1024 * 1024
CHUNK = 32 * 1024 * 1024
BLOCK = 64 * 1024
DATASET = "5c8c3c555033b814b69f947f"
IMPORT = "/data/foundation/import/batches"


def rusage() -> tuple[float, float]:
    """(CPU seconds so far, peak RSS in MiB) of this process (``ru_maxrss`` is in KiB on Linux)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def measure(run: Callable[[], dict[str, Any]], profile: str | None) -> dict[str, Any]:
    gc.collect()
    cpu0, base_rss = rusage()
    started = time.perf_counter()
    if profile:
        profiler = cProfile.Profile()
        extra = profiler.runcall(run)
        profiler.dump_stats(profile)
    else:
        extra = run()
    wall = time.perf_counter() - started
    cpu1, peak_rss = rusage()
    return {
        "wall_s": wall,
        "cpu_s": cpu1 - cpu0,
        "base_rss_mib": base_rss,
        "peak_rss_mib": peak_rss,
        **extra,
    }


# -- raw copy -----------------------------------------------------------------------------------------


class Slice:
    """The next ``length`` bytes of a stream as a request body: a known length, read in 64 KiB blocks."""

    def __init__(self, stream: Any, length: int) -> None:
        self._stream = stream
        self._left = length

    def __len__(self) -> int:
        return self._left

    def read(self, size: int = -1) -> bytes:
        want = self._left if size is None or size < 0 else min(size, self._left, BLOCK)
        if want <= 0:
            return b""
        piece: bytes = self._stream.read(want)
        if not piece:
            raise OSError("the S3 body ended early")
        self._left -= len(piece)
        return piece

    def __iter__(self) -> Iterator[bytes]:
        while piece := self.read(BLOCK):
            yield piece


def raw_copy(params: dict[str, Any]) -> dict[str, Any]:
    s3 = boto3.client("s3")
    sink = params["sink"]
    http = requests.Session()
    http.headers["Authorization"] = (
        "Bearer " + http.post(f"{sink}/ims/token/v3", timeout=10).json()["access_token"]
    )
    s3.head_object(Bucket=params["bucket"], Key=params["key"])  # a warm connection to S3, as the function has

    def run() -> dict[str, Any]:
        batch = http.post(
            f"{sink}{IMPORT}", json={"datasetId": DATASET, "inputFormat": {"format": "json"}}, timeout=30
        )
        batch.raise_for_status()
        batch_id = batch.json()["id"]
        url = f"{sink}{IMPORT}/{batch_id}/datasets/{DATASET}/files/raw-copy.json"
        obj = s3.get_object(Bucket=params["bucket"], Key=params["key"])
        size = int(obj["ContentLength"])
        body = obj["Body"]
        octets = {"Content-Type": "application/octet-stream"}
        if size <= SINGLE_PUT_MAX:
            http.put(url, data=Slice(body, size), headers=octets, timeout=600).raise_for_status()
        else:
            http.post(url, params={"action": "INITIALIZE"}, timeout=30).raise_for_status()
            for offset in range(0, size, CHUNK):
                end = min(offset + CHUNK, size) - 1
                headers = {**octets, "Content-Range": f"bytes {offset}-{end}/{size}"}
                http.patch(
                    url, data=Slice(body, end - offset + 1), headers=headers, timeout=600
                ).raise_for_status()
            http.post(url, params={"action": "COMPLETE"}, timeout=30).raise_for_status()
        body.close()
        http.post(f"{sink}{IMPORT}/{batch_id}", params={"action": "COMPLETE"}, timeout=30).raise_for_status()
        return {"bytes_in": size}

    return measure(run, params.get("profile"))


# -- the batch function -------------------------------------------------------------------------------


@dataclass
class LambdaContext:
    function_name: str = "bench-batch-ingest"
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench-batch-ingest"
    aws_request_id: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class NoMetrics:
    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        pass


def sqs_event(bucket: str, key: str, size: int, etag: str, version_id: str | None) -> dict[str, Any]:
    """An SQS event of one message carrying S3's ObjectCreated notification for the object."""
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag, "sequencer": "01"}
    if version_id:
        obj["versionId"] = version_id
    s3_record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-01-01T00:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
    }
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "handle",
                "body": json.dumps({"Records": [s3_record]}),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench-batch",
                "awsRegion": "us-east-1",
            }
        ]
    }


def create_tables(suffix: str) -> tuple[str, str]:
    """A ledger table (with its pending index) and an idempotency table of this run, as the template has."""
    ledger, idempotency = f"bench-ledger-{suffix}", f"bench-idempotency-{suffix}"
    resources = template_resources()
    create_table(ledger, "BatchLedgerTable", resources)
    create_table(idempotency, "BatchIdempotencyTable", resources)
    return ledger, idempotency


def function_run(params: dict[str, Any]) -> dict[str, Any]:
    from aep import AepClient, AepCredentials, AepSettings  # noqa: PLC0415 - after the env is set
    from batch_ingest import service  # noqa: PLC0415

    s3 = boto3.client("s3")
    secrets = boto3.client("secretsmanager")
    sink, bucket = params["sink"], params["bucket"]
    ledger, idempotency = create_tables(uuid.uuid4().hex[:8])
    client = AepClient(
        AepSettings(
            credentials_secret_id="bench/aep-credentials",
            token_secret_id=params["token_secret"],
            ims_url=sink,
            platform_url=sink,
            streaming_url=sink,
        ),
        AepCredentials.model_validate(
            {"client_id": "bench", "client_secret": "bench", "org_id": "BENCH@AdobeOrg"}
        ),
        secrets_client=lambda: secrets,
    )
    environ = {
        "BATCH_ROUTES": json.dumps([{"prefix": params["prefix"], "dataset_id": DATASET}]),
        "BATCH_LEDGER_TABLE": ledger,
        "BATCH_IDEMPOTENCY_TABLE": idempotency,
        # used only for a continuation, which a run with 15 minutes left never needs
        "BATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-batch",
        "BATCH_SPOOL_DIR": params["spool"],
    }
    runtime = service.build_runtime(environ, client, s3=lambda: s3)

    def invoke(key: str) -> dict[str, Any]:
        head = s3.head_object(Bucket=bucket, Key=key)
        event = sqs_event(
            bucket, key, int(head["ContentLength"]), head["ETag"].strip('"'), head.get("VersionId")
        )
        context = LambdaContext(aws_request_id=str(uuid.uuid4()))
        answer = service.handle(event, context, NoMetrics(), runtime)  # type: ignore[arg-type]
        if answer["batchItemFailures"]:
            raise RuntimeError(f"the function asked for a redelivery of {key}")
        return {"bytes_in": int(head["ContentLength"])}

    invoke(params["warm_key"])  # imports below the handler, connections, the token: as a warm container
    # The sink counts from here: the warm-up file's records are not the measured file's.
    requests.post(f"{sink}/_sink/reset", timeout=10).raise_for_status()
    result = measure(lambda: invoke(params["key"]), params.get("profile"))
    items = boto3.resource("dynamodb").Table(ledger).scan()["Items"]
    files = [item for item in items if item.get("key") == params["key"]]
    if len(files) != 1:
        raise RuntimeError(f"the ledger holds {len(files)} items for {params['key']}")
    item = files[0]
    result.update(
        state=item.get("state"),
        records_read=int(item.get("records_read", 0)),
        records_sent=int(item.get("records_sent", 0)),
        records_refused=int(item.get("records_refused", 0)),
        aep_files=len(item.get("aep_files", [])),
    )
    return result


def main() -> int:
    scenario = sys.argv[1]
    params = json.loads(os.environ["BENCH_BATCH_RUN"])
    runs = {"raw": raw_copy, "function": function_run}
    result = runs[scenario](params)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
