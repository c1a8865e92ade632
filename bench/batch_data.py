"""Seeded input files for the batch benchmark: call-center ExperienceEvents as NDJSON, and Parquet-shaped
bytes for the pass-through.

The events are what a nightly export of call records looks like: a caller pool whose phone numbers are
written in mixed national and international formats (``(415) 555-0123``, ``415.555.0123``, ``+1 415 555
0123``, ``0044 20 7946 0123``, ...), a queue, an intent, an outcome, durations, an IVR path. About one line in
a thousand is bad, each kind of record-level refusal in turn: not JSON, a timestamp without an offset, no
identity left once nulls are dropped, a phone number too short, ``NaN``. The same seed and size give the
same bytes; every phone number is fictional (555-01xx in North America, Ofcom's drama ranges in the UK).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

SEED = 9
#: One bad line in this many.
BAD_EVERY = 1000
CALLERS = 50_000
START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)

QUEUES = ("billing", "support", "sales", "retention", "outage")
INTENTS = ("billing", "plan-change", "roaming", "device", "cancel", "outage", "payment")
OUTCOMES = ("resolved", "resolved", "resolved", "transferred", "callback", "abandoned")
PATHS = ('["main","billing","agent"]', '["main","support"]', '["main","sales","agent"]', '["main"]')
AREAS = ("415", "212", "312", "617", "206", "303", "512", "702", "808", "917")


def _us(area: str, line: int, style: int) -> str:
    tail = f"01{line % 100:02d}"
    return (
        f"({area}) 555-{tail}",
        f"{area}-555-{tail}",
        f"{area}.555.{tail}",
        f"+1 {area} 555 {tail}",
        f"1{area}555{tail}",
        f"{area}555{tail}",
    )[style]


def _uk(line: int, style: int) -> str:
    tail = f"{line % 1000:03d}"
    return (f"+44 20 7946 0{tail}", f"0044 20 7946 0{tail}", f"+44 7700 900{tail}")[style % 3]


def callers(seed: int = SEED, count: int = CALLERS) -> list[str]:
    """The caller pool: each caller's number as the exporting system writes it (about 1 in 8 from the UK)."""
    rng = random.Random(seed)
    pool = []
    for n in range(count):
        style = rng.randrange(6)
        if rng.random() < 0.125:
            pool.append(_uk(n, style))
        else:
            pool.append(_us(AREAS[n % len(AREAS)], n, style))
    return pool


BAD_KINDS = ("not-json", "no-offset", "no-identity", "short-phone", "nan")


def _bad(kind: str, stamp: str, n: int) -> str:
    if kind == "not-json":
        return f'{{"timestamp":"{stamp}","eventType":"callCenter.call","identityMap":{{"Phone":[{{"id"'
    if kind == "no-offset":
        return (
            f'{{"timestamp":"{stamp[:-1]}","eventType":"callCenter.call",'
            f'"identityMap":{{"Phone":[{{"id":"(415) 555-0100","primary":true}}]}}}}'
        )
    if kind == "no-identity":
        return (
            f'{{"timestamp":"{stamp}","eventType":"callCenter.call","identityMap":{{"Phone":[{{"id":""}}]}}}}'
        )
    if kind == "short-phone":
        return (
            f'{{"timestamp":"{stamp}","eventType":"callCenter.call",'
            f'"identityMap":{{"Phone":[{{"id":"555-01{n % 10}","primary":true}}]}}}}'
        )
    return (
        f'{{"timestamp":"{stamp}","eventType":"callCenter.call",'
        f'"identityMap":{{"Phone":[{{"id":"(415) 555-0100","primary":true}}]}},'
        f'"_acme":{{"call":{{"sentiment":NaN}}}}}}'
    )


def lines(seed: int = SEED) -> Iterator[str]:
    """An endless, seeded sequence of NDJSON lines (without their line ends)."""
    rng = random.Random(seed)
    pool = callers(seed)
    n = 0
    while True:
        stamp = (START + timedelta(seconds=n * 3 + rng.randrange(3))).strftime("%Y-%m-%dT%H:%M:%SZ")
        if n % BAD_EVERY == BAD_EVERY - 1:
            yield _bad(BAD_KINDS[(n // BAD_EVERY) % len(BAD_KINDS)], stamp, n)
        else:
            caller = pool[int(rng.paretovariate(1.2) * 7) % len(pool)]
            duration = rng.randrange(20, 1800)
            yield (
                f'{{"timestamp":"{stamp}","eventType":"callCenter.call",'
                f'"identityMap":{{"Phone":[{{"id":"{caller}","primary":true}}]}},'
                f'"_acme":{{"call":{{"callId":"call-{seed}-{n:09d}","direction":"'
                f'{"inbound" if rng.random() < 0.85 else "outbound"}","queue":"{rng.choice(QUEUES)}",'
                f'"intent":"{rng.choice(INTENTS)}","outcome":"{rng.choice(OUTCOMES)}",'
                f'"durationSeconds":{duration},"holdSeconds":{rng.randrange(0, duration // 4 + 1)},'
                f'"agentId":"agent-{rng.randrange(400):03d}","transfers":{rng.randrange(3)},'
                f'"ivrPath":{rng.choice(PATHS)},"sentiment":{rng.random():.3f},'
                f'"recordingConsent":{"true" if rng.random() < 0.9 else "false"},'
                f'"notes":null,"wrapUpCode":""}}}}}}'
            )
        n += 1


def write_ndjson(out: BinaryIO, size: int, seed: int = SEED) -> int:
    """Write whole lines until at least ``size`` bytes are written; returns the number of lines."""
    written = pending = 0
    buffer: list[bytes] = []
    for count, line in enumerate(lines(seed), start=1):
        data = (line + "\n").encode()
        buffer.append(data)
        pending += len(data)
        written += len(data)
        if pending >= 1 << 20 or written >= size:
            out.write(b"".join(buffer))
            buffer, pending = [], 0
        if written >= size:
            return count
    raise AssertionError("unreachable: lines() is endless")


def write_parquet_shaped(out: BinaryIO, size: int, seed: int = SEED) -> None:
    """``size`` bytes with ``PAR1`` at both ends and seeded noise between: all the pass-through looks at."""
    rng = random.Random(seed)
    block = rng.randbytes(1 << 20)
    out.write(b"PAR1")
    left = size - 8
    while left > 0:
        piece = block[: min(left, len(block))]
        out.write(piece)
        left -= len(piece)
    out.write(b"PAR1")


def ndjson_file(path: Path, size: int, seed: int = SEED) -> int:
    with path.open("wb") as out:
        return write_ndjson(out, size, seed)


def parquet_file(path: Path, size: int, seed: int = SEED) -> None:
    with path.open("wb") as out:
        write_parquet_shaped(out, size, seed)
