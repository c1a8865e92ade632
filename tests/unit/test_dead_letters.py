"""The dead-letter queue can always be written: SQS's limits per call and per message, and an S3 overflow
for bodies too large for SQS (moto for SQS and S3, behind a client that enforces SQS's real limits)."""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pytest

from stream_ingest.dead_letters import (
    POINTER_CLASS,
    SQS_MAX_BYTES,
    DeadLetter,
    DeadLetters,
    OverflowStore,
    sqs_size,
)
from tests.support.strict_sqs import StrictSqs
from tests.support.strict_sqs import sqs_size as reference_size

BUCKET = "stack-dead-letter-overflow"


@pytest.fixture
def sqs(aws) -> StrictSqs:
    return StrictSqs(boto3.client("sqs"))


@pytest.fixture
def queue(sqs) -> str:
    return str(sqs.create_queue(QueueName="dlq")["QueueUrl"])


@pytest.fixture
def stack_key(aws) -> str:
    return str(boto3.client("kms").create_key()["KeyMetadata"]["Arn"])


@pytest.fixture
def bucket(aws, stack_key) -> str:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": stack_key,
                    }
                }
            ]
        },
    )
    return BUCKET


class RecordingS3:
    def __init__(self, client: Any, fail: bool = False) -> None:
        self._client = client
        self.puts: list[dict[str, Any]] = []
        self.fail = fail

    def put_object(self, **kwargs: Any) -> Any:
        self.puts.append(kwargs)
        if self.fail:
            raise RuntimeError("S3 unavailable")
        return self._client.put_object(**kwargs)


def letter(n: int, body: str, reason: str = "bad record", **extra: Any) -> DeadLetter:
    values: dict[str, Any] = {
        "message_id": f"m-{n}",
        "body": body,
        "reason": reason,
        "field": None,
        "status": 400,
        "stage": "aep",
        **extra,
    }
    return DeadLetter(**values)


def received(queue: str) -> dict[str, dict[str, Any]]:
    sqs = boto3.client("sqs")
    found: dict[str, dict[str, Any]] = {}
    while True:
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        if not answer.get("Messages"):
            return found
        for message in answer["Messages"]:
            attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
            found[attrs["aep.source.messageId"]] = {**attrs, "body": message["Body"]}
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def test_sqs_size_counts_utf8_bytes_of_body_and_every_attribute_part():
    entry = {
        "MessageBody": "é" * 10,  # 20 bytes
        "MessageAttributes": {
            "a.b": {"DataType": "String", "StringValue": "ü"},  # 3 + 6 + 2
            "n": {"DataType": "Number", "StringValue": "400"},  # 1 + 6 + 3
        },
    }

    assert sqs_size(entry) == 20 + 11 + 10 == reference_size(entry)


def test_two_600_kb_rejects_both_reach_the_dlq_with_their_reasons(sqs, queue):
    letters = [letter(0, "a" * 600_000, "reason zero"), letter(1, "b" * 600_000, "reason one")]

    report = DeadLetters(queue, lambda: sqs).send(letters)

    assert report.undelivered == set()
    assert [len(batch) for batch in sqs.batches] == [1, 1]  # one call each: together they pass 1 MiB
    found = received(queue)
    assert found["m-0"]["aep.error.reason"] == "reason zero"
    assert found["m-1"]["aep.error.reason"] == "reason one"
    assert found["m-0"]["body"] == "a" * 600_000


def test_calls_hold_at_most_ten_entries(sqs, queue):
    report = DeadLetters(queue, lambda: sqs).send([letter(n, f'{{"n":{n}}}') for n in range(25)])

    assert report.undelivered == set()
    assert [len(batch) for batch in sqs.batches] == [10, 10, 5]
    assert [[entry["Id"] for entry in batch] for batch in sqs.batches] == [
        [str(i) for i in range(10)],
        [str(i) for i in range(10)],
        [str(i) for i in range(5)],
    ]
    assert len(received(queue)) == 25


def test_calls_are_packed_by_size_up_to_exactly_one_mebibyte(sqs, queue):
    dead = DeadLetters(queue, lambda: sqs)
    probe = dead.entry(letter(0, ""))
    overhead = sqs_size(probe)  # the attributes of one letter
    half = SQS_MAX_BYTES // 2 - overhead
    exact = [letter(0, "x" * half), letter(1, "y" * half)]  # exactly 1 MiB together

    assert dead.send(exact).undelivered == set()
    assert [len(b) for b in sqs.batches] == [2]
    assert sum(reference_size(e) for e in sqs.batches[0]) == SQS_MAX_BYTES

    sqs.batches.clear()
    over = [letter(2, "x" * half), letter(3, "y" * (half + 1))]  # one byte more: two calls
    assert dead.send(over).undelivered == set()
    assert [len(b) for b in sqs.batches] == [1, 1]


@pytest.mark.parametrize(("extra", "inline"), [(0, True), (1, False)])
def test_a_body_that_fits_exactly_is_sent_inline(sqs, queue, bucket, extra, inline):
    s3 = RecordingS3(boto3.client("s3"))
    dead = DeadLetters(queue, lambda: sqs, overflow=OverflowStore(bucket, lambda: s3))
    overhead = sqs_size(dead.entry(letter(0, "")))
    room = SQS_MAX_BYTES - overhead + extra
    body = "é" * (room // 2) + "x" * (room % 2)  # non-ASCII: bytes, not characters, are counted
    assert overhead + len(body.encode()) == SQS_MAX_BYTES + extra

    report = dead.send([letter(0, body)])

    assert (report.undelivered, report.overflowed) == (set(), 0 if inline else 1)
    assert len(s3.puts) == (0 if inline else 1)
    assert (received(queue)["m-0"]["body"] == body) is inline


def test_long_reasons_and_fields_are_cut_to_1000_characters(sqs, queue):
    dead = DeadLetters(queue, lambda: sqs)

    entry = dead.entry(letter(0, "{}", "r" * 1500, field="f" * 1001))

    assert entry["MessageAttributes"]["aep.error.reason"]["StringValue"] == "r" * 1000
    assert entry["MessageAttributes"]["aep.error.field"]["StringValue"] == "f" * 1000
    assert entry["MessageAttributes"]["aep.error.status"] == {"DataType": "Number", "StringValue": "400"}
    assert entry["MessageAttributes"]["aep.error.stage"] == {"DataType": "String", "StringValue": "aep"}
    assert "aep.error.field" not in dead.entry(letter(1, "{}"))["MessageAttributes"]
    assert "aep.error.status" not in dead.entry(letter(2, "{}", status=None))["MessageAttributes"]


def test_entries_sqs_refuses_one_by_one_are_retried():
    class PartlyFailing:
        def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
            return {
                "Successful": [{"Id": "0"}, {"Id": "2"}],
                "Failed": [{"Id": "1", "Code": "InternalError"}],
            }

    report = DeadLetters("https://sqs/dlq", PartlyFailing).send([letter(n, "{}") for n in range(3)])

    assert report.undelivered == {"m-1"}


def test_a_body_too_large_for_sqs_goes_to_s3_with_a_pointer_and_its_reason(sqs, queue, bucket, stack_key):
    s3 = RecordingS3(boto3.client("s3"))
    dead = DeadLetters(queue, lambda: sqs, overflow=OverflowStore(bucket, lambda: s3))
    body = json.dumps({"pad": "ü" * 600_000})  # 1.2 MB in UTF-8, fewer than 1 Mi characters
    small = letter(1, "{}", "small one")

    report = dead.send([letter(0, body, "record too large for AEP", status=413), small])

    assert (report.undelivered, report.overflowed, report.truncated) == (set(), 1, 0)
    (put,) = s3.puts
    assert put["Bucket"] == BUCKET
    assert put["Key"] == "dead-letters/m-0"
    assert "ServerSideEncryption" not in put  # the bucket's default: SSE-KMS with the stack key (see module)
    assert put["ContentType"] == "text/plain; charset=utf-8"
    stored = boto3.client("s3").get_object(Bucket=BUCKET, Key="dead-letters/m-0")
    assert stored["Body"].read() == body.encode()
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert stored["SSEKMSKeyId"] == stack_key
    found = received(queue)
    pointer = found["m-0"]
    assert pointer["aep.error.reason"] == "record too large for AEP"
    assert pointer["aep.error.status"] == "413"
    assert pointer["aep.body.location"] == f"s3://{BUCKET}/dead-letters/m-0"
    assert pointer["aep.body.bytes"] == str(len(body.encode()))
    assert pointer["ExtendedPayloadSize"] == str(len(body.encode()))
    assert json.loads(pointer["body"]) == [
        POINTER_CLASS,
        {"s3BucketName": BUCKET, "s3Key": "dead-letters/m-0"},
    ]
    assert found["m-1"]["body"] == "{}"


def test_an_explicit_kms_key_is_sent_with_aws_kms(sqs, queue, bucket, stack_key):
    s3 = RecordingS3(boto3.client("s3"))
    dead = DeadLetters(queue, lambda: sqs, overflow=OverflowStore(bucket, lambda: s3, kms_key_id=stack_key))

    dead.send([letter(0, "z" * SQS_MAX_BYTES)])

    (put,) = s3.puts
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", stack_key)


def test_the_s3_key_is_derived_from_the_message_id_and_safe():
    store = OverflowStore(BUCKET, lambda: None)

    message_id = "8f0c3b7e-1d2a-4b5c-9e8f-0a1b2c3d4e5f"
    assert store.key_for(message_id) == f"dead-letters/{message_id}"
    assert store.key_for("../a b/c~") == "dead-letters/..%2Fa%20b%2Fc~"
    assert OverflowStore(BUCKET, lambda: None, prefix="x/").key_for("m") == "x/m"


def test_an_s3_failure_sends_the_record_back_for_a_retry(sqs, queue, bucket):
    s3 = RecordingS3(boto3.client("s3"), fail=True)
    dead = DeadLetters(queue, lambda: sqs, overflow=OverflowStore(bucket, lambda: s3))

    report = dead.send([letter(0, "z" * SQS_MAX_BYTES), letter(1, "{}")])

    assert report.undelivered == {"m-0"}
    assert report.overflowed == 0
    assert set(received(queue)) == {"m-1"}


@pytest.mark.parametrize(("head", "cut"), [("", 0), ("x", 1), ("", None)])
def test_without_a_bucket_a_too_large_body_is_truncated_and_marked(sqs, queue, head, cut):
    body = head + ("a" * 1_200_000 if cut is None else "ü" * 600_000)  # 1.2 MB
    dead = DeadLetters(queue, lambda: sqs)
    marks = {"aep.body.truncated": {"DataType": "String", "StringValue": "true"}}
    marks["aep.body.bytes"] = {"DataType": "Number", "StringValue": str(len(body.encode()))}
    room = SQS_MAX_BYTES - sqs_size(dead.entry(letter(0, "", "too large"), body="", extra=marks))

    report = dead.send([letter(0, body, "too large")])

    assert (report.undelivered, report.overflowed, report.truncated) == (set(), 0, 1)
    (batch,) = sqs.batches
    partial = 0 if cut is None else (room - cut) % 2  # a character cut in two is dropped, not replaced
    assert reference_size(batch[0]) == SQS_MAX_BYTES - partial
    found = received(queue)["m-0"]
    assert found["aep.error.reason"] == "too large"
    assert found["aep.body.truncated"] == "true"
    assert found["aep.body.bytes"] == str(len(body.encode()))
    assert body.startswith(found["body"])
    assert "aep.body.location" not in found


def test_a_failed_call_returns_only_its_own_records(sqs, queue):
    class FailSecond(StrictSqs):
        calls = 0

        def send_message_batch(self, **kwargs: Any) -> Any:
            FailSecond.calls += 1
            if FailSecond.calls == 2:
                raise RuntimeError("throttled")
            return super().send_message_batch(**kwargs)

    flaky = FailSecond(boto3.client("sqs"))
    report = DeadLetters(queue, lambda: flaky).send([letter(n, "{}") for n in range(12)])

    assert report.undelivered == {"m-10", "m-11"}
    assert len(received(queue)) == 10


def test_fifo_entries_keep_group_and_deduplication(aws):
    client = boto3.client("sqs")
    url = client.create_queue(QueueName="dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dead = DeadLetters(url, lambda: client)

    entry = dead.entry(letter(0, "{}", group="Phone:1"))

    assert (entry["MessageGroupId"], entry["MessageDeduplicationId"]) == ("Phone:1", "m-0")
    assert dead.entry(letter(1, "{}"))["MessageGroupId"] == "dead-letters"


def test_the_queues_own_message_size_limit_is_read_once_and_respected(sqs, bucket):
    url = sqs.create_queue(QueueName="small-dlq", Attributes={"MaximumMessageSize": "262144"})["QueueUrl"]
    s3 = RecordingS3(boto3.client("s3"))
    reads: list[str] = []

    class Counting(StrictSqs):
        def get_queue_attributes(self, **kwargs: Any) -> Any:
            reads.append(kwargs["QueueUrl"])
            return self._client.get_queue_attributes(**kwargs)

    counting = Counting(boto3.client("sqs"))
    dead = DeadLetters(url, lambda: counting, overflow=OverflowStore(bucket, lambda: s3))
    fits = 262_144 - sqs_size(dead.entry(letter(0, "")))

    first = dead.send([letter(0, "a" * fits), letter(1, "b" * (fits + 1))])
    second = dead.send([letter(2, "c" * 300_000)])

    assert (first.undelivered, first.overflowed, second.overflowed) == (set(), 1, 1)
    assert [put["Key"] for put in s3.puts] == ["dead-letters/m-1", "dead-letters/m-2"]
    assert reads == [url]  # read once, by the StrictSqs check aside
    assert dead.max_message_bytes() == 262_144


def test_an_unreadable_queue_limit_means_sqs_maximum(queue):
    class NoAttributes:
        def get_queue_attributes(self, **kwargs: Any) -> Any:
            raise RuntimeError("AccessDenied")

    assert DeadLetters(queue, NoAttributes).max_message_bytes() == SQS_MAX_BYTES
    assert DeadLetters(queue, NoAttributes, max_message_bytes=2048).max_message_bytes() == 2048


def test_no_letters_no_call(queue):
    calls: list[str] = []

    class Untouchable:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            raise RuntimeError(name)

    report = DeadLetters(queue, Untouchable).send([])

    assert (report.undelivered, report.overflowed, report.truncated) == (set(), 0, 0)
    assert calls == []


def test_an_s3_failure_is_logged_without_the_body(queue, caplog):
    class Failing:
        def put_object(self, **kwargs: Any) -> Any:
            raise ConnectionError("S3 unavailable")

    dead = DeadLetters(queue, lambda: None, overflow=OverflowStore(BUCKET, Failing), max_message_bytes=1024)

    with caplog.at_level(logging.WARNING, logger="stream_ingest.dead_letters"):
        report = dead.send([letter(0, "secret" * 400)])

    assert report.undelivered == {"m-0"}
    (record,) = caplog.records
    assert record.getMessage() == "cannot store a dead letter's body in the overflow bucket"
    assert (record.error, record.message_id) == ("ConnectionError", "m-0")
    assert "secret" not in caplog.text


class RecordingSqs:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        self.entries.extend(Entries)
        return {}


def test_every_overflow_and_every_truncation_is_counted():
    puts: list[str] = []

    class Bucket:
        def put_object(self, **kwargs: Any) -> None:
            puts.append(kwargs["Key"])

    overflow = OverflowStore(BUCKET, Bucket)
    spilling = DeadLetters("https://sqs/dlq", RecordingSqs, overflow=overflow, max_message_bytes=2048)
    cutting = DeadLetters("https://sqs/dlq", RecordingSqs, max_message_bytes=2048)
    letters = [letter(n, "x" * 3000) for n in range(3)]

    assert (spilling.send(letters).overflowed, cutting.send(letters).truncated) == (3, 3)
    assert puts == ["dead-letters/m-0", "dead-letters/m-1", "dead-letters/m-2"]


def test_a_body_is_cut_to_nothing_when_the_attributes_fill_the_limit():
    sqs = RecordingSqs()
    dead = DeadLetters("https://sqs/dlq", lambda: sqs, max_message_bytes=1024)

    report = dead.send([letter(0, "body", "r" * 1000)])

    assert report.truncated == 1
    (entry,) = sqs.entries
    assert entry["MessageBody"] == ""
    assert entry["MessageAttributes"]["aep.body.bytes"]["StringValue"] == "4"


def test_a_call_counts_every_entry_and_the_next_call_starts_from_zero(sqs, queue):
    dead = DeadLetters(queue, lambda: sqs)
    overhead = sqs_size(dead.entry(letter(20, "")))  # ids of two characters after "m-"
    third = SQS_MAX_BYTES // 3 - overhead  # three of these fill 1 MiB but for a byte or two
    half = SQS_MAX_BYTES // 2 - overhead  # two of these fill exactly 1 MiB

    thirds = [letter(n, "t" * third) for n in range(30, 34)]
    tiny = [letter(n, "{}") for n in range(10, 20)]
    halves = [letter(20, "x" * half), letter(21, "y" * half)]

    assert dead.send(thirds).undelivered == set()
    assert dead.send([*tiny, *halves]).undelivered == set()
    assert [len(batch) for batch in sqs.batches] == [3, 1, 10, 2]
    assert sum(reference_size(e) for e in sqs.batches[-1]) == SQS_MAX_BYTES


def test_a_refused_call_is_logged_with_the_error_class(queue, caplog):
    class Refusing:
        def send_message_batch(self, **kwargs: Any) -> Any:
            raise TimeoutError("throttled")

    with caplog.at_level(logging.WARNING, logger="stream_ingest.dead_letters"):
        report = DeadLetters(queue, Refusing, max_message_bytes=SQS_MAX_BYTES).send([letter(0, "secret")])

    assert report.undelivered == {"m-0"}
    (record,) = caplog.records
    assert record.getMessage() == "cannot write to the dead-letter queue"
    assert record.error == "TimeoutError"
    assert "secret" not in caplog.text


def test_an_entry_without_attributes_is_its_body():
    assert sqs_size({"MessageBody": "é{}"}) == 4


def test_the_queue_limit_is_never_above_sqs_maximum_and_an_unreadable_one_is_logged(caplog):
    class Answering:
        def get_queue_attributes(self, **kwargs: Any) -> Any:
            assert kwargs == {"QueueUrl": "https://sqs/dlq", "AttributeNames": ["MaximumMessageSize"]}
            return {"Attributes": {"MaximumMessageSize": str(SQS_MAX_BYTES + 1)}}

    class Denying:
        def get_queue_attributes(self, **kwargs: Any) -> Any:
            raise PermissionError("AccessDenied")

    assert DeadLetters("https://sqs/dlq", Answering).max_message_bytes() == SQS_MAX_BYTES
    with caplog.at_level(logging.WARNING, logger="stream_ingest.dead_letters"):
        assert DeadLetters("https://sqs/dlq", Denying).max_message_bytes() == SQS_MAX_BYTES

    (record,) = caplog.records
    assert record.getMessage() == "cannot read the dead-letter queue's MaximumMessageSize; assuming 1 MiB"
    assert record.error == "PermissionError"


def test_a_dead_letter_carries_its_tenant_in_the_attribute_the_function_routes_by(sqs, queue, bucket):
    letters = DeadLetters(queue, lambda: sqs, overflow=OverflowStore(bucket, lambda: boto3.client("s3")))
    big = "x" * SQS_MAX_BYTES  # overflowed: its pointer message keeps the tenant too

    report = letters.send(
        [letter(1, "{}", tenant="brand-a"), letter(2, big, tenant="brand-b"), letter(3, "{}")]
    )

    assert report.undelivered == set()
    found = received(queue)
    assert found["m-1"]["tenant"] == "brand-a"
    assert found["m-2"]["tenant"] == "brand-b"
    assert "aep.body.location" in found["m-2"]
    assert "tenant" not in found["m-3"]
    assert found["m-1"]["aep.error.reason"] == "bad record"
