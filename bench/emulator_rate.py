"""How many plain requests per second the emulator serves on this machine (keep-alive, 1-8 threads).

The emulator must not be the bottleneck of the other benchmarks: their request rates are compared with
this ceiling. Run with ``make bench``; results go to bench/results/emulator_rate.json.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import requests

from aep_emulator import running
from bench.report import publish

REQUESTS_PER_THREAD = 1000


def measure(url: str, headers: dict[str, str], threads: int, body: bytes | None) -> float:
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        session = requests.Session()
        barrier.wait()
        for _ in range(REQUESTS_PER_THREAD):
            if body is None:
                response = session.get(url, headers=headers, timeout=10)
            else:
                response = session.post(url, headers=headers, data=body, timeout=10)
            assert response.status_code < 300, response.status_code

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return threads * REQUESTS_PER_THREAD / (time.perf_counter() - started)


def main() -> int:
    with running() as emu:
        client = emu.config.clients[0]
        token = requests.post(
            f"{emu.url}/ims/token/v3",
            timeout=5,
            data={
                "grant_type": "client_credentials",
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "scope": "openid",
            },
        ).json()["access_token"]
        headers = {
            "Authorization": f"Bearer {token}",
            "x-api-key": client.client_id,
            "x-gw-ims-org-id": emu.config.org_id,
            "x-sandbox-name": "prod",
        }
        inlet = emu.config.inlets[0]
        dataset = emu.config.dataset(inlet.dataset_id)
        assert dataset is not None
        ref = {"id": dataset.schema_ref, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
        message = {
            "header": {"schemaRef": ref, "imsOrgId": emu.config.org_id, "datasetId": dataset.id},
            "body": {
                "xdmEntity": {
                    "_id": "bench",
                    "timestamp": "2026-01-01T00:00:00Z",
                    "identityMap": {"Phone": [{"id": "+14155550100", "primary": True}]},
                    "_acme": {"call": {"direction": "inbound"}},
                }
            },
        }
        stream_body = json.dumps({"messages": [message]}).encode()
        results = {}
        for threads in (1, 4, 8):
            results[f"namespaces_get_{threads}_threads_rps"] = round(
                measure(f"{emu.url}/data/core/idnamespace/identities", headers, threads, None)
            )
            results[f"stream_post_{threads}_threads_rps"] = round(
                measure(
                    f"{emu.url}/collection/batch/{inlet.id}",
                    {"Content-Type": "application/json", "x-sandbox-name": "prod"},
                    threads,
                    stream_body,
                )
            )
    publish("emulator_rate", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
