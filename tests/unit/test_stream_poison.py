"""One record's fate is its own: every poison body is that record's rejection with its own reason (item 12);
schemaRef agreement (item 14); the namespace allow-list (item 11); flowId always sent (item 17)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from aep.record_rules import MAX_DEPTH
from stream_ingest import records
from stream_ingest.records import Prepared, Rejected, Target, prepare
from stream_ingest.settings import StreamSettings
from tests.support.events import load_event

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SCHEMA = "https://ns.adobe.com/acme/schemas/ivr-call-event"
CONTENT = "application/vnd.adobe.xed-full+json;version=1"
TARGET = Target(
    inlet_id="inlet",
    dataset_id="65f0c0a1e4b0c1d2e3f40002",
    schema_ref=SCHEMA,
    flow_id="d8a6f005-0000-4000-8000-00000000c411",
    org_id="EMULATOR0000000000000000@AdobeOrg",
)
SETTINGS = StreamSettings(
    inlet_id="inlet", dataset_id=TARGET.dataset_id, flow_id=TARGET.flow_id, dlq_url="https://sqs/dlq"
)
TOO_DEEP_ENTITY = "the record is nested more than 100 levels deep"
GENERIC = "the message could not be prepared (an unexpected error; see the function's logs)"


def run(body: str, settings: StreamSettings = SETTINGS) -> Prepared | Rejected:
    return prepare("m1", body, group=None, settings=settings, target=TARGET, now=NOW)


def bare() -> dict[str, Any]:
    return dict(json.loads(load_event("sqs-bare-record.json")["Records"][0]["body"]))


def full() -> dict[str, Any]:
    return dict(json.loads(load_event("sqs-xdm-message.json")["Records"][0]["body"]))


def rejection(body: str, settings: StreamSettings = SETTINGS) -> tuple[str | None, str]:
    result = run(body, settings)
    assert isinstance(result, Rejected), result
    assert result.message_id == "m1"
    assert result.status is None
    return result.field, result.reason


def nest(levels: int) -> dict[str, Any]:
    """``levels`` objects, one inside the other, the innermost holding a value."""
    node: dict[str, Any] = {"v": 1}
    for _ in range(levels - 1):
        node = {"n": node}
    return node


# Item 12: poison records.


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": NaN}', "the JSON has NaN or Infinity, which are not JSON numbers"),
        ('{"a": Infinity}', "the JSON has NaN or Infinity, which are not JSON numbers"),
        ('{"a": -Infinity}', "the JSON has NaN or Infinity, which are not JSON numbers"),
        ('{"a": 1e999}', "the JSON has a number too large for a double (it would be infinity)"),
        ('{"a": -1e999}', "the JSON has a number too large for a double (it would be infinity)"),
        # the same rule as a file's rows (aep.strict_json): which of two values would the sender mean?
        ('{"a": 1, "a": 2}', "the JSON has an object with the same key twice"),
    ],
)
def test_non_json_numbers_are_refused_at_parsing(text, reason):
    assert rejection(text) == (None, reason)


def test_non_json_numbers_inside_the_record_are_refused():
    text = json.dumps(bare()).replace('"durationSeconds": 184', '"durationSeconds": NaN')
    assert "NaN" in text

    assert rejection(text) == (None, "the JSON has NaN or Infinity, which are not JSON numbers")


def test_non_json_numbers_inside_an_sns_notification_are_refused():
    inner = json.dumps(bare()).replace('"durationSeconds": 184', '"durationSeconds": 1e999')
    text = json.dumps({"Type": "Notification", "Message": inner})

    assert rejection(text) == (
        None,
        "the JSON has a number too large for a double (it would be infinity)",
    )


def test_ordinary_floats_still_parse():
    record = bare()
    record["_acme"]["call"]["score"] = 1.5e300

    result = run(json.dumps(record))

    assert isinstance(result, Prepared)
    assert result.message["body"]["xdmEntity"]["_acme"]["call"]["score"] == 1.5e300


def test_nesting_too_deep_for_the_parser_is_refused():
    text = '{"a":' * 100_000 + "1" + "}" * 100_000

    assert rejection(text) == (None, "message is nested too deeply")


def test_deep_nesting_outside_the_entity_is_refused():
    # The header is sent as given (not cleaned): the RecursionError comes from parsing or from encoding,
    # depending on the stack depth at the call; either way it is this record's rejection.
    message = full()
    message["header"]["source"] = {"name": "ivr", "extra": "DEEP"}
    text = json.dumps(message).replace('"DEEP"', '{"n":' * 990 + "1" + "}" * 990)

    assert rejection(text) == (None, "message is nested too deeply")


def test_the_entity_may_be_nested_max_depth_levels():
    record = bare()
    record["_acme"] = nest(MAX_DEPTH - 1)  # the entity itself is the first level

    result = run(json.dumps(record))

    assert MAX_DEPTH == 100
    assert isinstance(result, Prepared)


def test_an_entity_nested_deeper_is_refused():
    record = bare()
    record["_acme"] = nest(MAX_DEPTH)

    assert rejection(json.dumps(record)) == (
        None,
        TOO_DEEP_ENTITY,
    )


def test_lists_count_as_levels():
    def ending_in_a_list(levels: int) -> Any:
        node: Any = [1]
        for _ in range(levels - 1):
            node = {"n": node}
        return node

    record = bare()
    record["_acme"] = ending_in_a_list(MAX_DEPTH - 1)

    assert isinstance(run(json.dumps(record)), Prepared)
    record["_acme"] = ending_in_a_list(MAX_DEPTH)
    assert rejection(json.dumps(record)) == (None, TOO_DEEP_ENTITY)


SURROGATE = "message has a lone surrogate escape (\\ud800-\\udfff), which is not valid Unicode"


@pytest.mark.parametrize("where", ["entity value", "entity key", "entity with id", "header"])
def test_a_lone_surrogate_is_refused(where):
    record = bare()
    if where == "entity value":
        record["_acme"]["call"]["intent"] = "\ud800"
        text = json.dumps(record)
    elif where == "entity key":
        record["_acme"]["call"]["\udc00"] = "x"
        text = json.dumps(record)
    elif where == "entity with id":
        record["_id"] = "call-1"
        record["_acme"]["call"]["intent"] = "a\udfffb"
        text = json.dumps(record)
    else:
        message = full()
        message["header"]["source"] = {"name": "\ud83d"}
        text = json.dumps(message)
    assert "\\ud" in text  # escaped in JSON: parses in Python, cannot be encoded to UTF-8

    assert rejection(text) == (None, SURROGATE)


def test_a_lone_surrogate_in_an_identity_is_refused_by_its_field():
    record = bare()
    record["identityMap"] = {"Email": [{"id": "jane\ud800@example.com"}]}

    assert rejection(json.dumps(record)) == (
        "identityMap.Email.0.id",
        "identityMap.Email.0.id: Input should be a valid string, unable to parse raw data as a unicode"
        " string",
    )


def test_a_paired_surrogate_escape_is_an_ordinary_character():
    record = bare()
    record["_acme"]["call"]["intent"] = "\U0001f600"
    text = json.dumps(record)
    assert "\\ud83d\\ude00" in text

    result = run(text)

    assert isinstance(result, Prepared)
    assert "\U0001f600".encode() in result.encoded


def with_header(**fields: Any) -> str:
    message = full()
    message["header"].update(fields)
    return json.dumps(message)


def with_meta(meta: Any) -> str:
    message = full()
    message["body"]["xdmMeta"] = meta
    return json.dumps(message)


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (with_header(schemaRef=SCHEMA), "header.schemaRef", "header.schemaRef must be an object"),
        (with_header(schemaRef=[SCHEMA]), "header.schemaRef", "header.schemaRef must be an object"),
        (with_header(schemaRef={"id": 7}), "header.schemaRef.id", "header.schemaRef.id must be a string"),
        (
            with_header(schemaRef={"id": SCHEMA, "contentType": 1}),
            "header.schemaRef.contentType",
            "header.schemaRef.contentType must be a string",
        ),
        (with_header(imsOrgId=["ORG@AdobeOrg"]), "header.imsOrgId", "header.imsOrgId must be a string"),
        (with_header(datasetId=42), "header.datasetId", "header.datasetId must be a string"),
        (with_header(flowId={"id": "f"}), "header.flowId", "header.flowId must be a string"),
        (with_header(source="ivr"), "header.source", "header.source must be an object"),
        (with_header(source={"name": 3}), "header.source.name", "header.source.name must be a string"),
        (with_meta("meta"), "body.xdmMeta", "body.xdmMeta must be an object"),
        (
            with_meta({"schemaRef": SCHEMA}),
            "body.xdmMeta.schemaRef",
            "body.xdmMeta.schemaRef must be an object",
        ),
        (
            with_meta({"schemaRef": {"id": None}}),
            "body.xdmMeta.schemaRef.id",
            "body.xdmMeta.schemaRef.id must be a string",
        ),
        (
            with_meta({"schemaRef": {"id": SCHEMA, "contentType": True}}),
            "body.xdmMeta.schemaRef.contentType",
            "body.xdmMeta.schemaRef.contentType must be a string",
        ),
    ],
)
def test_header_fields_of_the_wrong_type_are_refused(body, field, reason):
    assert rejection(body) == (field, reason)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"header": [], "body": {"xdmEntity": {}}}),
        json.dumps({"header": {}, "body": "x"}),
        json.dumps({"header": {}, "body": {"xdmEntity": []}}),
        json.dumps({"body": {"xdmEntity": {"a": 1}}}),
    ],
)
def test_a_streaming_message_needs_header_and_entity_objects(body):
    assert rejection(body) == ("body", "a streaming message needs header and body.xdmEntity objects")


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "3", "null"])
def test_a_body_that_is_no_object_is_refused(body):
    assert rejection(body) == (None, "message body must be a JSON object")


def test_an_unexpected_error_is_that_records_rejection_logged_without_content(monkeypatch, caplog):
    def explode(*args: Any, **kwargs: Any) -> None:
        raise KeyError("jane@example.com")

    monkeypatch.setattr(records, "check_record", explode)

    with caplog.at_level(logging.ERROR, logger="stream_ingest.records"):
        result = run(json.dumps(bare()))

    assert result == Rejected("m1", GENERIC)
    [logged] = [r for r in caplog.records if r.name == "stream_ingest.records"]
    assert logged.getMessage() == "unexpected error while preparing a message"
    assert logged.__dict__["message_id"] == "m1"
    assert logged.__dict__["error_type"] == "KeyError"
    assert logged.__dict__["where"].startswith("test_stream_poison.py:")
    assert logged.exc_info is None
    assert "jane" not in f"{logged.getMessage()} {logged.__dict__}"


# Item 14: schemaRef.


def test_a_message_whose_header_and_body_schemas_differ_is_refused():
    message = full()
    message["body"]["xdmMeta"]["schemaRef"]["id"] = "https://ns.adobe.com/acme/schemas/other"

    assert rejection(json.dumps(message)) == (
        "body.xdmMeta.schemaRef.id",
        "header.schemaRef.id and body.xdmMeta.schemaRef.id differ",
    )


def test_a_message_whose_content_types_differ_is_refused():
    message = full()
    message["body"]["xdmMeta"]["schemaRef"]["contentType"] = "application/vnd.adobe.xed-full-notext+json"

    assert rejection(json.dumps(message)) == (
        "body.xdmMeta.schemaRef.contentType",
        "header.schemaRef.contentType and body.xdmMeta.schemaRef.contentType differ",
    )


OTHER = "https://ns.adobe.com/acme/schemas/other"
NOT_OURS = f"is not the schema of dataset 65f0c0a1e4b0c1d2e3f40002 ({SCHEMA})"


def test_a_message_for_another_schema_is_refused():
    message = full()
    message["header"]["schemaRef"]["id"] = OTHER
    message["body"]["xdmMeta"]["schemaRef"]["id"] = OTHER

    assert rejection(json.dumps(message)) == ("header.schemaRef.id", f"header.schemaRef.id {NOT_OURS}")


def test_a_body_schema_alone_must_be_the_datasets():
    message = full()
    del message["header"]["schemaRef"]
    message["body"]["xdmMeta"]["schemaRef"]["id"] = OTHER

    assert rejection(json.dumps(message)) == (
        "body.xdmMeta.schemaRef.id",
        f"body.xdmMeta.schemaRef.id {NOT_OURS}",
    )


def test_a_header_schema_alone_is_copied_to_the_body():
    message = full()
    del message["body"]["xdmMeta"]
    message["header"]["schemaRef"]["contentType"] = "application/vnd.adobe.xed-full+json;version=1.0"

    result = run(json.dumps(message))

    assert isinstance(result, Prepared)
    expected = {"id": SCHEMA, "contentType": "application/vnd.adobe.xed-full+json;version=1.0"}
    assert result.message["header"]["schemaRef"] == expected
    assert result.message["body"]["xdmMeta"] == {"schemaRef": expected}


def test_a_body_schema_alone_is_copied_to_the_header():
    message = full()
    del message["header"]["schemaRef"]
    message["body"]["xdmMeta"]["schemaRef"]["contentType"] = "application/vnd.adobe.xed-full+json;version=1.0"

    result = run(json.dumps(message))

    assert isinstance(result, Prepared)
    expected = {"id": SCHEMA, "contentType": "application/vnd.adobe.xed-full+json;version=1.0"}
    assert result.message["header"]["schemaRef"] == expected
    assert result.message["body"]["xdmMeta"] == {"schemaRef": expected}


@pytest.mark.parametrize("empty", [{}, {"id": ""}, {"id": "", "contentType": ""}])
def test_a_message_without_a_schema_gets_the_configured_one(empty):
    message = full()
    message["header"]["schemaRef"] = empty
    message["body"]["xdmMeta"] = {"schemaRef": empty}

    result = run(json.dumps(message))

    assert isinstance(result, Prepared)
    expected = {"id": SCHEMA, "contentType": CONTENT}
    assert result.message["header"]["schemaRef"] == expected
    assert result.message["body"]["xdmMeta"] == {"schemaRef": expected}


def test_agreeing_schemas_are_kept_and_other_header_fields_pass_through():
    message = full()
    message["header"]["source"] = {"name": "ivr"}
    message["body"]["extra"] = {"kept": True}

    result = run(json.dumps(message))

    assert isinstance(result, Prepared)
    assert result.message["header"] == {
        "schemaRef": {"id": SCHEMA, "contentType": CONTENT},
        "imsOrgId": TARGET.org_id,
        "datasetId": TARGET.dataset_id,
        "flowId": TARGET.flow_id,
        "source": {"name": "ivr"},
    }
    assert result.message["body"]["xdmMeta"] == {"schemaRef": {"id": SCHEMA, "contentType": CONTENT}}
    assert result.message["body"]["extra"] == {"kept": True}


# Item 17: flowId always in the header.


def test_a_message_without_flow_id_gets_the_configured_one():
    message = full()
    del message["header"]["flowId"]
    del message["header"]["imsOrgId"]

    result = run(json.dumps(message))

    assert isinstance(result, Prepared)
    assert result.message["header"]["flowId"] == TARGET.flow_id
    assert result.message["header"]["imsOrgId"] == TARGET.org_id
    assert json.loads(result.encoded) == result.message


# Item 11: the namespace allow-list.


def test_an_identity_namespace_off_the_list_is_refused_naming_it():
    record = bare()
    record["identityMap"]["CRMID"] = [{"id": "AbC-1"}]

    assert rejection(json.dumps(record)) == (
        "identityMap.CRMID",
        "identityMap.CRMID: namespace CRMID is not on the allowed list",
    )


def test_a_namespace_key_that_is_personal_data_is_not_echoed():
    record = bare()
    record["identityMap"] = {"jane@example.com": [{"id": "x"}]}

    field, reason = rejection(json.dumps(record))

    assert field == "identityMap"
    assert reason == "identityMap: namespace (a key that is not a namespace code) is not on the allowed list"


def test_an_invalid_entry_under_a_personal_key_does_not_echo_it():
    record = bare()
    record["identityMap"] = {"jane@example.com": [{"id": 5}]}

    field, reason = rejection(json.dumps(record))

    assert "jane" not in f"{field} {reason}"
    assert field == "identityMap.(a key that is not a namespace code).0.id"


def test_configured_namespaces_are_accepted_case_insensitively():
    settings = StreamSettings(
        inlet_id="i", dataset_id=TARGET.dataset_id, flow_id="f", dlq_url="q", allowed_namespaces="Phone,crmid"
    )
    record = bare()
    record["identityMap"]["CRMID"] = [{"id": " AbC-1 "}]

    result = run(json.dumps(record), settings)

    assert isinstance(result, Prepared)
    assert result.message["body"]["xdmEntity"]["identityMap"]["CRMID"] == [{"id": "AbC-1"}]


def test_the_identity_fields_namespace_is_allowed_by_default():
    settings = StreamSettings(
        inlet_id="i",
        dataset_id=TARGET.dataset_id,
        flow_id="f",
        dlq_url="q",
        identity_field="_acme.crm",
        identity_namespace="CRMID",
    )
    record = bare()
    record["identityMap"]["CRMID"] = [{"id": "AbC-1"}]

    assert isinstance(run(json.dumps(record), settings), Prepared)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_encoding_refuses_non_json_numbers(value):
    # Any caller of the layer's encode (not only this function): NaN in one message would make the
    # whole multi-message request invalid JSON.
    from aep.streaming import encode

    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        encode({"a": value})


def test_an_identity_map_of_the_wrong_type_is_refused_by_its_field():
    record = bare()
    record["identityMap"] = "Phone"

    assert rejection(json.dumps(record)) == ("identityMap", "identityMap: Input should be a valid dictionary")
