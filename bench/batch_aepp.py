"""The peer's way, measured for the batch benchmark: runs with aepp's own Python (``.aepp-venv``).

As the peers load a file: the whole S3 object read into memory, its lines parsed into a list of records
(lines that are not JSON skipped, nothing else checked), then aepp 0.6.0's ``createBatch``,
``uploadSmallFile`` (which sends ``json.dumps`` of the list: one PUT of one JSON array) and
``uploadSmallFileFinish``. aepp's virtualenv has no boto3: the object is read with one plain HTTP GET
from moto's server (it takes unsigned requests), which is what ``get_object()["Body"].read()`` amounts to.

Input: ``BENCH_BATCH_RUN`` (JSON: sink, s3 endpoint, bucket, key). Prints, as the last line, one JSON
object like bench/batch_runs.py's: wall and CPU seconds, peak RSS (``ru_maxrss``) before and after.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
from typing import Any

import aepp
import requests
from aepp import ingestion

DATASET = "5c8c3c555033b814b69f947f"


def rusage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def failed(answer: Any) -> bool:
    return not isinstance(answer, dict) or any(k in answer for k in ("error", "errorMessage", "error_code"))


def main() -> int:
    params = json.loads(os.environ["BENCH_BATCH_RUN"])
    sink = params["sink"]
    aepp.configure(
        org_id="BENCH@AdobeOrg",
        client_id="bench",
        secret="bench",
        scopes="openid,AdobeID",
        sandbox="prod",
        environment="support",
        endpoint=sink,
    )
    aepp.config.config_object["imsEndpoint"] = sink
    aepp.config.config_object["oauthTokenEndpointV2"] = f"{sink}/ims/token/v3"
    ing = ingestion.DataIngestion()
    url = f"{params['s3']}/{params['bucket']}/{params['key']}"
    requests.head(url, timeout=30).raise_for_status()

    gc.collect()
    cpu0, base_rss = rusage()
    started = time.perf_counter()
    data = requests.get(url, timeout=600).content
    records: list[Any] = []
    skipped = 0
    for line in data.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            skipped += 1
    batch = ing.createBatch(datasetId=DATASET, multiline=True)
    if failed(batch):
        raise RuntimeError(f"createBatch failed: {str(batch)[:200]}")
    upload = ing.uploadSmallFile(batchId=batch["id"], datasetId=DATASET, filePath="aepp.json", data=records)
    finish = ing.uploadSmallFileFinish(batchId=batch["id"])
    wall = time.perf_counter() - started
    cpu1, peak_rss = rusage()
    problems = [name for name, answer in (("uploadSmallFile", upload), ("finish", finish)) if failed(answer)]
    result = {
        "wall_s": wall,
        "cpu_s": cpu1 - cpu0,
        "base_rss_mib": base_rss,
        "peak_rss_mib": peak_rss,
        "bytes_in": len(data),
        "records_read": len(records) + skipped,
        "records_sent": len(records),
        "records_refused": skipped,
        "aepp_errors": problems,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
