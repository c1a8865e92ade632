"""Create batch: a lost answer never leaves an orphan batch; the JSON layout is read from the bytes.

A fake AEP on a raw loopback socket (tests/support/wire.py) creates batches and keeps them in a
Catalog; its faults process the create and then close the connection unanswered ("drop after"), close
it before processing ("drop before"), or answer 503 after processing.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from aep import AepSourceError, AepThrottledError, AepTimeoutError, AepValidationError, BytesSource
from aep.batch import EXTERNAL_ID_PREFIX, BatchApi
from aep.http import Transport
from aep.models import BatchState
from tests.conftest import exact_policy
from tests.support.fakes import FakeClock
from tests.support.wire import WireReply, WireRequest, WireServer, wire_server

DATASET = "5da9452f7de80400007jc52a"
CREATE = "/data/foundation/import/batches"
LIST = "/data/foundation/catalog/batches"


class FakeAep:
    """Creates batches and lists them; ``faults`` say what happens to each create, in order."""

    def __init__(self, *faults: str, filters: bool = True) -> None:
        self.faults = list(faults)
        self.filters = filters  # False: the list ignores its query (the client must check the answer)
        self.batches: dict[str, dict[str, Any]] = {}
        self.lookups: list[dict[str, list[str]]] = []
        self.aborted: list[str] = []

    def seed(
        self,
        batch_id: str,
        external_id: str,
        status: str = "loading",
        dataset: str | None = DATASET,
        created: int | None = None,
    ) -> None:
        self.batches[batch_id] = {
            "status": status,
            "externalId": external_id,
            "relatedObjects": [{"type": "dataSet", "id": dataset}] if dataset else [],
            "created": created or len(self.batches) + 1,
        }

    def __call__(self, request: WireRequest) -> WireReply:
        query = parse_qs(urlsplit(request.target).query)
        if request.method == "POST" and request.path == CREATE:
            fault = self.faults.pop(0) if self.faults else "ok"
            if fault == "drop-before":
                return WireReply(drop=True)
            if fault == "429":
                return WireReply(429, b'{"title": "Too many requests", "status": 429}')
            if fault == "400":
                return WireReply(400, b'{"title": "Bad request", "status": 400}')
            body = json.loads(request.body)
            batch_id = f"batch-{len(self.batches) + 1}"
            self.seed(batch_id, body["externalId"], dataset=body["datasetId"])
            if fault == "drop-after":
                return WireReply(drop=True)
            if fault in ("500-after", "503-after"):
                status = int(fault[:3])
                return WireReply(status, b'{"title": "unavailable", "status": %d}' % status)
            view = {
                "id": batch_id,
                "status": "loading",
                "relatedObjects": self.batches[batch_id]["relatedObjects"],
            }
            return WireReply(201, json.dumps(view).encode())
        if request.method == "GET" and request.path == LIST:
            self.lookups.append(query)
            found = {
                key: view
                for key, view in self.batches.items()
                if not self.filters or view["externalId"] == query["externalId"][0]
            }
            return WireReply(200, json.dumps(found).encode())
        if request.method == "PUT" and "/files/" in request.path:
            return WireReply(200)
        if request.method == "POST" and request.path.startswith(CREATE + "/"):
            batch_id = request.path.rsplit("/", 1)[1]
            if query == {"action": ["ABORT"]}:
                self.aborted.append(batch_id)
                self.batches[batch_id]["status"] = "aborted"
            return WireReply(200)
        return WireReply(404, b'{"title": "no route"}')


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def run(aep: FakeAep, clock: FakeClock, attempts: int = 5) -> Iterator[tuple[BatchApi, WireServer]]:
    with wire_server(aep) as server:
        yield BatchApi(Transport(policy=exact_policy(attempts), clock=clock), server.url), server


def creates(server: WireServer) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in server.requests if r.method == "POST" and r.path == CREATE]


# --- item 7: a lost create answer ---------------------------------------------------------------


def test_a_lost_create_answer_reuses_the_batch_that_attempt_created(clock):
    aep = FakeAep("drop-after")
    for batches, server in run(aep, clock):
        batch = batches.create(DATASET, "json")

        (sent,) = creates(server)
    assert batch.id == "batch-1"
    assert batch.state is BatchState.LOADING
    assert list(aep.batches) == ["batch-1"]
    external_id = sent["externalId"]
    assert external_id.startswith(EXTERNAL_ID_PREFIX)
    assert len(external_id) == len(EXTERNAL_ID_PREFIX) + 32
    assert aep.lookups == [{"externalId": [external_id], "dataSet": [DATASET], "limit": ["10"]}]
    assert clock.sleeps == pytest.approx([0.2])


@pytest.mark.parametrize("fault", ["500-after", "503-after"])
def test_a_5xx_after_processing_is_looked_up_too(clock, fault):
    aep = FakeAep(fault)
    for batches, server in run(aep, clock):
        batch = batches.create(DATASET, "json")

        assert len(creates(server)) == 1
    assert batch.id == "batch-1"
    assert len(aep.lookups) == 1


def test_a_create_lost_before_processing_is_sent_again_with_the_same_external_id(clock):
    aep = FakeAep("drop-before")
    for batches, server in run(aep, clock):
        batch = batches.create(DATASET, "json", external_id="calls-2026-11-30")

        sent = creates(server)
    assert batch.id == "batch-1"
    assert [body["externalId"] for body in sent] == ["calls-2026-11-30", "calls-2026-11-30"]
    assert aep.lookups == [{"externalId": ["calls-2026-11-30"], "dataSet": [DATASET], "limit": ["10"]}]


def test_a_throttled_create_was_not_processed_and_is_not_looked_up(clock):
    aep = FakeAep("429")
    for batches, server in run(aep, clock):
        batch = batches.create(DATASET, "json")

        assert len(creates(server)) == 2
    assert batch.id == "batch-1"
    assert aep.lookups == []


def test_a_throttled_create_out_of_attempts_raises_without_a_lookup(clock):
    aep = FakeAep("429")
    for batches, _server in run(aep, clock, attempts=1):
        with pytest.raises(AepThrottledError):
            batches.create(DATASET, "json")
    assert aep.lookups == []


def test_the_last_attempt_lost_is_looked_up_before_giving_up(clock):
    aep = FakeAep("drop-after")
    for batches, _server in run(aep, clock, attempts=1):
        batch = batches.create(DATASET, "json")
    assert batch.id == "batch-1"
    assert len(aep.lookups) == 1
    assert clock.sleeps == []


def test_nothing_created_and_no_attempt_left_raises_the_transport_error(clock):
    aep = FakeAep("drop-before")
    for batches, _server in run(aep, clock, attempts=1):
        with pytest.raises(AepTimeoutError):
            batches.create(DATASET, "json")
    assert len(aep.lookups) == 1
    assert aep.batches == {}


def test_only_a_loading_batch_with_our_external_id_and_dataset_is_reused(clock):
    aep = FakeAep("drop-before", filters=False)
    aep.seed("other-id", "someone-else")
    aep.seed("other-dataset", "mine", dataset="another")
    aep.seed("already-done", "mine", status="success")
    for batches, server in run(aep, clock):
        batch = batches.create(DATASET, "json", external_id="mine")

        assert len(creates(server)) == 2
    assert batch.id == "batch-4"
    assert aep.aborted == []


def test_two_batches_from_lost_attempts_keep_the_oldest_and_abort_the_other(clock):
    aep = FakeAep("drop-before")
    aep.seed("newer", "mine", created=20)
    aep.seed("older", "mine", created=10)
    for batches, server in run(aep, clock):
        batch = batches.create(DATASET, "json", external_id="mine")

        assert len(creates(server)) == 1
    assert batch.id == "older"
    assert aep.aborted == ["newer"]


def test_a_refused_create_is_not_looked_up(clock):
    aep = FakeAep("400")
    for batches, server in run(aep, clock):
        with pytest.raises(AepValidationError):
            batches.create(DATASET, "json")

        assert len(creates(server)) == 1
    assert aep.lookups == []


def test_a_batch_catalog_lists_without_a_dataset_is_still_ours(clock):
    aep = FakeAep("drop-before")
    aep.seed("no-related-objects", "mine", dataset=None)
    for batches, server in run(aep, clock):
        batch = batches.create(DATASET, "json", external_id="mine")

        assert len(creates(server)) == 1
    assert batch.id == "no-related-objects"


def test_a_failed_lookup_lets_the_next_attempt_go(clock):
    aep = FakeAep("drop-before")
    real = aep.__call__
    failures = iter([True])

    def flaky(request: WireRequest) -> WireReply:
        if request.path == LIST and next(failures, False):
            return WireReply(400, b'{"title": "bad"}')
        return real(request)

    with wire_server(flaky) as server:
        batch = BatchApi(Transport(policy=exact_policy(), clock=clock), server.url).create(DATASET, "json")

        assert len(creates(server)) == 2
    assert batch.id == "batch-1"


# --- item 8: JSON layout from the bytes ---------------------------------------------------------

ARRAY = b'[{"a": 1}, {"a": 2}]'
NDJSON = b'{"a": 1}\n{"a": 2}\n'


@pytest.mark.parametrize(
    ("data", "multi"),
    [
        (ARRAY, True),
        (b'[\n  {"a": 1},\n  {"a": 2}\n]\n', True),
        (b'{\n  "a": 1\n}\n', True),
        (b'{"a":\r\n1}', True),
        (b'{"a": {"b": [1,\n2]}}', True),
        (b" \t\r\n" + ARRAY, True),
        (b"\xef\xbb\xbf" + ARRAY, True),
        (NDJSON, False),
        (b'{"a": 1}', False),
        (b'{"a": {"b": [1, 2]}}\n{"c": 3}', False),
        (b'\n\n{"a": "}\\"{[", "b": 2}\n{"c": "\\\\"}\n', False),
        (b'{"a": "\\\\"}\n', False),
        (b'{"a": {"b": [1, 2]}, "x":\n1}', True),
        (b'{"a": [1]}\n{"b": 2}', False),
        (b"", False),
        (b"  \n ", False),
        (b"not json\n", False),
        (b'{"a": 1', False),
    ],
)
def test_json_layout_is_read_from_the_first_record(data, multi):
    from aep.layout import is_multi_line_json

    assert is_multi_line_json(BytesSource(data)) is multi
    assert is_multi_line_json(BytesSource(gzip.compress(data))) is multi


def test_layout_sniffing_reads_only_the_first_record():
    from aep.layout import is_multi_line_json
    from tests.unit.test_upload_wire import ReadSpy

    spy = ReadSpy(NDJSON + b'{"pad": "' + b"x" * 1_000_000 + b'"}\n')

    assert is_multi_line_json(spy) is False
    assert sum(size for size in spy.reads if size > 0) <= 2 + 64 * 1024


def test_layout_sniffing_stops_at_its_limit():
    from aep.layout import is_multi_line_json

    data = b'{"a": "' + b"x" * 100 + b'",\n"b": 1}'

    assert is_multi_line_json(BytesSource(data), limit=200) is True
    assert is_multi_line_json(BytesSource(data), limit=100) is False


def layout_sent(server: WireServer) -> dict[str, Any]:
    (sent,) = creates(server)
    return dict(sent["inputFormat"])


@pytest.mark.parametrize(
    ("data", "multi"),
    [(ARRAY, True), (gzip.compress(ARRAY), True), (NDJSON, False)],
    ids=["array", "gz", "nd"],
)
def test_ingest_creates_the_batch_with_the_layout_of_its_file(clock, data, multi):
    aep = FakeAep()
    for batches, server in run(aep, clock):
        batch = batches.ingest(DATASET, "in/f.json", BytesSource(data))

        assert layout_sent(server) == {"format": "json", "isMultiLineJson": multi}
        (put,) = [r for r in server.requests if r.method == "PUT"]
        assert put.body == data
        assert server.requests[-1].target == f"{CREATE}/{batch.id}?action=COMPLETE"


def test_create_reads_the_layout_from_a_sample_and_an_explicit_flag_wins(clock):
    for batches, server in run(FakeAep(), clock):
        batches.create(DATASET, "json", sample=BytesSource(ARRAY))
        batches.create(DATASET, "json", sample=BytesSource(ARRAY), multi_line_json=False)
        batches.create(DATASET, "json", sample=BytesSource(NDJSON), multi_line_json=True)
        batches.create(DATASET, "json")
        batches.create(DATASET, "parquet", sample=BytesSource(ARRAY))

        layouts = [body["inputFormat"] for body in creates(server)]
    assert layouts == [
        {"format": "json", "isMultiLineJson": True},
        {"format": "json", "isMultiLineJson": False},
        {"format": "json", "isMultiLineJson": True},
        {"format": "json", "isMultiLineJson": False},
        {"format": "parquet"},
    ]


def test_a_failed_lookup_after_the_last_attempt_raises_that_attempts_error(clock):
    aep = FakeAep("drop-after")
    real = aep.__call__

    def no_catalog(request: WireRequest) -> WireReply:
        if request.path == LIST:
            return WireReply(400, b'{"title": "bad"}')
        return real(request)

    with wire_server(no_catalog) as server:
        with pytest.raises(AepTimeoutError) as caught:
            BatchApi(Transport(policy=exact_policy(1), clock=clock), server.url).create(DATASET, "json")

        assert [r.path for r in server.requests] == [CREATE, LIST]
    assert caught.value.message == "create batch: no answer (ConnectionError)"


def test_an_abort_that_fails_still_reuses_the_oldest(clock):
    aep = FakeAep("drop-before")
    aep.seed("older", "mine")
    aep.seed("newer", "mine")
    real = aep.__call__

    def no_abort(request: WireRequest) -> WireReply:
        if "action=ABORT" in request.target:
            return WireReply(400, b'{"title": "cannot abort"}')
        return real(request)

    with wire_server(no_abort) as server:
        batch = BatchApi(Transport(policy=exact_policy(), clock=clock), server.url).create(
            DATASET, "json", external_id="mine"
        )

        assert [r.target.split("/")[-1] for r in server.requests if "action=" in r.target] == [
            "newer?action=ABORT"
        ]
    assert batch.id == "older"


def test_an_unreadable_gzip_is_a_typed_error():
    from aep import AepSourceError
    from aep.layout import is_multi_line_json

    with pytest.raises(AepSourceError) as caught:
        is_multi_line_json(BytesSource(b"\x1f\x8b" + b"\x00" * 20))

    assert caught.value.retryable is False
    assert caught.value.message == "not a readable gzip file (BadGzipFile)"

    with pytest.raises(AepSourceError) as truncated:
        is_multi_line_json(BytesSource(gzip.compress(ARRAY)[:12]))
    assert truncated.value.message == "not a readable gzip file (EOFError)"


def test_a_failing_source_while_sniffing_is_a_typed_error():
    from aep import AepSourceError
    from aep.layout import is_multi_line_json

    class Broken:
        size = 10

        def open(self, offset: int = 0) -> Any:
            raise OSError("s3://bucket/key unreachable")

    with pytest.raises(AepSourceError) as caught:
        is_multi_line_json(Broken())

    assert caught.value.retryable is True
    assert caught.value.message == "reading the source failed (OSError)"


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": "}",\n"b": 1}',  # a closing brace inside a string does not end the record
        b'{"a": "\\"",\n"b": 1}',  # an escaped quote does not end the string
        b'{"a": "\\\\",\n"b": 1}',  # an escaped backslash does not escape the closing quote
    ],
)
def test_strings_hide_their_braces_and_escapes_from_the_layout(data):
    from aep.layout import is_multi_line_json

    assert is_multi_line_json(BytesSource(data)) is True


def test_the_layout_limit_counts_the_last_byte_after_a_full_block():
    from aep.layout import is_multi_line_json
    from aep.sources import READ_BLOCK

    head = b'{"a": "'
    data = head + b"x" * (READ_BLOCK - len(head) - 2) + b'",\n"b": 1}'  # the line break: byte READ_BLOCK + 1
    assert data.index(b"\n") == READ_BLOCK

    assert is_multi_line_json(BytesSource(data), limit=READ_BLOCK + 1) is True
    assert is_multi_line_json(BytesSource(data), limit=READ_BLOCK) is False


def test_a_refused_read_is_permanent_and_a_failing_store_transient():
    from botocore.exceptions import ClientError

    from aep.layout import is_multi_line_json

    class Refusing:
        def __init__(self, status: int) -> None:
            self.status = status

        def open(self, offset: int) -> Any:
            error = {"Error": {"Code": "X"}, "ResponseMetadata": {"HTTPStatusCode": self.status}}
            raise ClientError(error, "GetObject")  # type: ignore[arg-type]

    with pytest.raises(AepSourceError, match=r"reading the source failed \(ClientError\)") as denied:
        is_multi_line_json(Refusing(403))  # type: ignore[arg-type]
    with pytest.raises(AepSourceError) as failing:
        is_multi_line_json(Refusing(503))  # type: ignore[arg-type]
    assert (denied.value.retryable, failing.value.retryable) == (False, True)
