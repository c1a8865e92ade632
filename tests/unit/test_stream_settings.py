"""The streaming function's settings: the required flow id (item 17), the namespace allow-list (item 11)."""

from __future__ import annotations

import pytest

from aep import AepConfigError
from stream_ingest.settings import StreamSettings

BASE = {
    "STREAM_INLET_ID": "inlet",
    "STREAM_DATASET_ID": "dataset",
    "STREAM_FLOW_ID": "flow-1",
    "STREAM_DLQ_URL": "https://sqs/dlq",
}


QUEUE = "arn:aws:sqs:us-east-1:123456789012:aep-connector-stream"
FIFO_QUEUE = "arn:aws:sqs:us-east-1:123456789012:aep-connector-stream.fifo"


def without(name: str) -> dict[str, str]:
    return {key: value for key, value in BASE.items() if key != name}


@pytest.mark.parametrize("environ", [without("STREAM_FLOW_ID"), {**BASE, "STREAM_FLOW_ID": "  "}])
def test_the_flow_id_is_required_and_named(environ):
    with pytest.raises(AepConfigError) as caught:
        StreamSettings.from_env(environ)

    assert str(caught.value) == "invalid configuration: STREAM_FLOW_ID is required"


def test_the_flow_id_is_read():
    assert StreamSettings.from_env(BASE).flow_id == "flow-1"


def test_default_namespaces_are_phone_email_ecid():
    settings = StreamSettings.from_env(BASE)

    assert settings.allowed_namespaces is None
    assert settings.namespaces == frozenset({"phone", "email", "ecid"})


def test_default_namespaces_include_the_identity_field_namespace():
    settings = StreamSettings.from_env(
        {**BASE, "STREAM_IDENTITY_FIELD": "_acme.crm", "STREAM_IDENTITY_NAMESPACE": "CRMID"}
    )

    assert settings.namespaces == frozenset({"phone", "email", "ecid", "crmid"})


def test_configured_namespaces_replace_the_default():
    settings = StreamSettings.from_env({**BASE, "STREAM_ALLOWED_NAMESPACES": " CRMID ,, Phone_E.164,"})

    assert settings.allowed_namespaces == ("CRMID", "Phone_E.164")
    assert settings.namespaces == frozenset({"crmid", "phone_e.164"})


def test_configured_namespaces_must_include_the_identity_field_namespace():
    with pytest.raises(AepConfigError) as caught:
        StreamSettings.from_env(
            {
                **BASE,
                "STREAM_ALLOWED_NAMESPACES": "Phone",
                "STREAM_IDENTITY_FIELD": "_acme.crm",
                "STREAM_IDENTITY_NAMESPACE": "CRMID",
            }
        )

    assert str(caught.value) == (
        "invalid configuration: STREAM_ALLOWED_NAMESPACES must include STREAM_IDENTITY_NAMESPACE (CRMID)"
    )


def test_the_identity_field_namespace_matches_the_list_case_insensitively():
    settings = StreamSettings.from_env(
        {
            **BASE,
            "STREAM_ALLOWED_NAMESPACES": "crmid",
            "STREAM_IDENTITY_FIELD": "_acme.crm",
            "STREAM_IDENTITY_NAMESPACE": "CRMID",
        }
    )

    assert settings.namespaces == frozenset({"crmid"})


@pytest.mark.parametrize("value", [",", " , ,"])
def test_an_allow_list_without_codes_is_refused(value):
    with pytest.raises(AepConfigError) as caught:
        StreamSettings.from_env({**BASE, "STREAM_ALLOWED_NAMESPACES": value})

    assert str(caught.value) == (
        "invalid configuration: STREAM_ALLOWED_NAMESPACES must name at least one namespace"
    )


@pytest.mark.parametrize("value", ["Phone,e mail", "Phone,jane@example.com", "Phone,1234"])
def test_an_allow_list_entry_that_is_no_code_is_refused(value):
    with pytest.raises(AepConfigError) as caught:
        StreamSettings.from_env({**BASE, "STREAM_ALLOWED_NAMESPACES": value})

    assert str(caught.value) == (
        "invalid configuration: STREAM_ALLOWED_NAMESPACES must be namespace codes separated by commas"
    )


def test_the_function_refuses_to_start_without_a_flow_id():
    from stream_ingest import service

    with pytest.raises(AepConfigError, match=r"^invalid configuration: STREAM_FLOW_ID is required$"):
        service.build_runtime(without("STREAM_FLOW_ID"), client=None)


def test_every_variable_is_read_into_its_field():
    settings = StreamSettings.from_env(
        {
            **BASE,
            "STREAM_SCHEMA_REF": "https://ns.adobe.com/acme/schemas/s",
            "STREAM_INLET_AUTHENTICATED": "true",
            "STREAM_RECORD_CLASS": "profile",
            "STREAM_IDENTITY_FIELD": "_acme.email",
            "STREAM_IDENTITY_NAMESPACE": "Email",
            "STREAM_ALLOWED_NAMESPACES": "Email,ECID",
            "STREAM_DEFAULT_PHONE_REGION": "GB",
            "STREAM_CONCURRENCY": "3",
            "STREAM_MAX_MESSAGES_PER_REQUEST": "50",
            "STREAM_DEADLINE_SAFETY_SECONDS": "1.5",
            "STREAM_MAX_CLOCK_SKEW_SECONDS": "5",
            "STREAM_DLQ_OVERFLOW_BUCKET": "overflow-bucket",
            "STREAM_DEFAULT_TENANT_QUEUES": QUEUE,
        }
    )

    assert settings.model_dump() == {
        "inlet_id": "inlet",
        "dataset_id": "dataset",
        "schema_ref": "https://ns.adobe.com/acme/schemas/s",
        "flow_id": "flow-1",
        "inlet_authenticated": True,
        "record_class": "profile",
        "identity_field": "_acme.email",
        "identity_namespace": "Email",
        "allowed_namespaces": ("Email", "ECID"),
        "default_phone_region": "GB",
        "dlq_url": "https://sqs/dlq",
        "dlq_overflow_bucket": "overflow-bucket",
        "concurrency": 3,
        "max_messages_per_request": 50,
        "deadline_safety_seconds": 1.5,
        "max_clock_skew_seconds": 5.0,
        "default_tenant_queues": (QUEUE,),
    }


def test_defaults():
    assert StreamSettings.from_env(BASE).model_dump() == {
        "inlet_id": "inlet",
        "dataset_id": "dataset",
        "schema_ref": None,
        "flow_id": "flow-1",
        "inlet_authenticated": False,
        "record_class": "experienceevent",
        "identity_field": None,
        "identity_namespace": None,
        "allowed_namespaces": None,
        "default_phone_region": "US",
        "dlq_url": "https://sqs/dlq",
        "dlq_overflow_bucket": None,
        "concurrency": 8,
        "max_messages_per_request": 2000,
        "deadline_safety_seconds": 3.0,
        "max_clock_skew_seconds": 60.0,
        "default_tenant_queues": None,
    }


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("STREAM_CONCURRENCY", ["1", "64"], ["0", "65"]),
        ("STREAM_MAX_MESSAGES_PER_REQUEST", ["1", "10000"], ["0", "10001"]),
        ("STREAM_DEADLINE_SAFETY_SECONDS", ["0"], ["-0.1"]),
        ("STREAM_MAX_CLOCK_SKEW_SECONDS", ["0"], ["-1"]),
        ("STREAM_DEFAULT_PHONE_REGION", ["FR"], ["fr", "FRA", "F"]),
        ("STREAM_RECORD_CLASS", ["profile", "experienceevent"], ["event"]),
    ],
)
def test_bounds(name, good, bad):
    for value in good:
        StreamSettings.from_env({**BASE, name: value})
    for value in bad:
        with pytest.raises(AepConfigError, match=f"^invalid configuration: {name} "):
            StreamSettings.from_env({**BASE, name: value})


@pytest.mark.parametrize(
    "extra", [{"STREAM_IDENTITY_NAMESPACE": "Email"}, {"STREAM_IDENTITY_FIELD": "_acme.email"}]
)
def test_the_identity_settings_go_together_exactly(extra):
    with pytest.raises(AepConfigError) as caught:
        StreamSettings.from_env({**BASE, **extra})

    assert str(caught.value) == (
        "invalid configuration: STREAM_IDENTITY_NAMESPACE and STREAM_IDENTITY_FIELD go together"
        " (set both or neither)"
    )


def test_ids_of_one_character_are_ids_and_empty_ones_are_not():
    one = StreamSettings(
        inlet_id="i", dataset_id="d", flow_id="f", dlq_url="q", allowed_namespaces=("Phone",)
    )

    assert (one.inlet_id, one.dataset_id, one.flow_id, one.dlq_url) == ("i", "d", "f", "q")
    assert one.namespaces == frozenset({"phone"})
    for field in ("inlet_id", "dataset_id", "flow_id", "dlq_url"):
        values = {"inlet_id": "i", "dataset_id": "d", "flow_id": "f", "dlq_url": "q", field: ""}
        with pytest.raises(ValueError, match="at least 1 character"):
            StreamSettings(**values)


def test_the_default_tenants_queues_are_a_comma_separated_list_of_queue_arns():
    settings = StreamSettings.from_env({**BASE, "STREAM_DEFAULT_TENANT_QUEUES": f" {QUEUE} ,{FIFO_QUEUE},"})

    assert settings.default_tenant_queues == (QUEUE, FIFO_QUEUE)
    assert (
        StreamSettings.from_env({**BASE, "STREAM_DEFAULT_TENANT_QUEUES": " "}).default_tenant_queues is None
    )
    gov = "arn:aws-us-gov:sqs:us-gov-west-1:123456789012:q_1-x"
    assert StreamSettings.from_env({**BASE, "STREAM_DEFAULT_TENANT_QUEUES": gov}).default_tenant_queues == (
        gov,
    )


@pytest.mark.parametrize(
    "value",
    [
        ",",
        "aep-connector-stream",  # a name, not an ARN
        "https://sqs.us-east-1.amazonaws.com/123456789012/aep-connector-stream",  # a URL
        "arn:aws:sns:us-east-1:123456789012:topic",
        "arn:aws:sqs:us-east-1:123456789012:",  # no queue name
        "arn:aws:sqs:us-east-1:12345:aep-connector-stream",  # not an account id
        f"{QUEUE} {FIFO_QUEUE}",
    ],
)
def test_the_default_tenants_queues_must_be_queue_arns(value):
    with pytest.raises(AepConfigError) as caught:
        StreamSettings.from_env({**BASE, "STREAM_DEFAULT_TENANT_QUEUES": value})

    assert str(caught.value).startswith("invalid configuration: STREAM_DEFAULT_TENANT_QUEUES must be")
    assert "aep-connector-stream" not in str(caught.value)
