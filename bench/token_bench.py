"""IMS calls per token lifetime with 50 concurrent workers sharing one token secret.

Fifty containers (an ``AepClient`` each: its own token cache, its own HTTP session) run on threads. In
rounds, every container asks its token cache for a token at once (an invocation each: the worst case for
races), then the clock jumps 30 to 90 seconds to the next round. Within a round time is real (a token
fetch, the refresh lease and its polls take the time they take); between rounds it jumps, so
``LIFETIMES`` token lifetimes (86,399 s, as IMS gives) pass in seconds. The first round is a cold start
(no token anywhere). The token secret is in moto's Secrets Manager (one for all, as deployed); IMS is the
emulator's, in its own process, which counts the tokens it issues. Results: bench/results/token_bench.json.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from typing import Any

import boto3
import requests
from moto import mock_aws

from aep import AepClient, AepCredentials, AepSettings, RetryPolicy
from aep_emulator import load_config
from bench import streamkit
from bench.report import publish

WORKERS = int(os.environ.get("BENCH_TOKEN_WORKERS", "50"))
LIFETIMES = float(os.environ.get("BENCH_TOKEN_LIFETIMES", "3"))
LIFETIME = 86_399.0


class JumpingClock:
    """Real time plus an offset that jumps forward between rounds (the same for every thread)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def now(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


def main() -> int:
    config = load_config()
    port = streamkit.free_port()
    url = f"http://127.0.0.1:{port}"
    emulator = streamkit.start_emulator(port)
    try:
        clock = JumpingClock()
        with mock_aws():
            secrets = boto3.client("secretsmanager", region_name="us-east-1")
            secrets.create_secret(Name="aep/token", SecretString="{}")
            credentials = AepCredentials.model_validate(
                {
                    "client_id": config.clients[0].client_id,
                    "client_secret": config.clients[0].client_secret,
                    "org_id": config.org_id,
                }
            )
            settings = AepSettings(
                credentials_secret_id="c",
                token_secret_id="aep/token",
                ims_url=url,
                platform_url=url,
                streaming_url=url,
            )
            clients = [
                AepClient(
                    settings,
                    credentials,
                    secrets_client=lambda: secrets,
                    clock=clock,
                    policy=RetryPolicy(max_attempts=3, base=0.05),
                    rng=random.Random(n),
                )
                for n in range(WORKERS)
            ]
            end = clock.monotonic() + LIFETIMES * LIFETIME
            served: list[int] = [0] * WORKERS
            errors: list[str] = []
            go = threading.Barrier(WORKERS + 1)
            done = threading.Barrier(WORKERS + 1)
            running = True

            def work(index: int) -> None:
                while True:
                    go.wait()
                    if not running:
                        return
                    try:
                        clients[index].tokens.get()
                        served[index] += 1
                    except Exception as exc:  # counted, and the worker goes on as Lambda would
                        errors.append(type(exc).__name__)
                    done.wait()

            threads = [threading.Thread(target=work, args=(n,)) for n in range(WORKERS)]
            for thread in threads:
                thread.start()
            print(f"  {WORKERS} workers, {LIFETIMES:g} token lifetimes in rounds 30-90 s apart", flush=True)
            rng = random.Random(5)
            rounds = cold = 0
            while clock.monotonic() < end:
                go.wait()
                done.wait()
                rounds += 1
                if rounds == 1:
                    cold = requests.get(f"{url}/_admin/counters", timeout=5).json()["tokens_issued"]
                clock.offset += rng.uniform(30, 90)
            running = False
            go.wait()
            for thread in threads:
                thread.join()
        counters: dict[str, Any] = requests.get(f"{url}/_admin/counters", timeout=5).json()
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    issued = int(counters["tokens_issued"])
    publish(
        "token_bench",
        {
            "workers": WORKERS,
            "token_lifetime_s": LIFETIME,
            "lifetimes": LIFETIMES,
            "rounds": rounds,
            "token_requests_served": sum(served),
            "errors": len(errors),
            "ims_calls": issued,
            "ims_calls_at_cold_start": cold,
            "ims_calls_per_lifetime": round(issued / LIFETIMES, 2),
            "target_met": issued / LIFETIMES <= 2,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
