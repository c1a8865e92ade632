"""What the outside trial of the lookup API found (issue 10, review 10), each as the behaviour it must have:
the handler with API Gateway REST events, against the emulator after real ingestion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aep import AepConfigError, RetryPolicy, SystemClock
from aep.tenants import Tenant, TenantRegistry, default_tenant
from aep.tenants.model import TenantStreaming
from profile_lookup import entry
from profile_lookup import runtime as lookup_runtime
from profile_lookup.service import LookupService
from profile_lookup.settings import LookupSettings
from tests.integration.conftest import Admin, emulator_client
from tests.support.apigw import IVR_SESSION, lookup_event, profile_event
from tests.support.fakes import FakeClock, FakeLambdaContext
from tests.support.lambdas import load_app
from tests.support.lookup import ENV, LookupFunction, caller_profile, ingest_by_batch, lookup_runtime_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+14155550100"
OTHER_CALLER = "arn:aws:sts::123456789012:assumed-role/other-tenant-ivr/s"


def aep_lookups(admin: Admin) -> list[dict[str, Any]]:
    return [e for e in admin.requests() if e["path"].startswith("/data/core/ups")]


@pytest.fixture
def client(emulator, aws):
    return emulator_client(
        emulator, SystemClock(), RetryPolicy(max_attempts=3, base=0.01, max_wait=0.05, jitter=lambda c: c)
    )


@pytest.fixture
def ingested(client):
    assert (
        ingest_by_batch(
            client,
            [
                caller_profile(PHONE, "caller 1"),
                {
                    "_id": "crm-1",
                    "identityMap": {"CRMID": [{"id": "C-77", "primary": True}]},
                    "person": {"name": {"firstName": "crm caller"}},
                },
            ],
        )
        == "success"
    )
    return client


@pytest.fixture
def make(ingested, clock):
    def build(**env: str) -> LookupFunction:
        return LookupFunction(lookup_runtime_for(ingested, clock, env))

    return build


@pytest.fixture
def lookup(make):
    return make()


@pytest.fixture
def seen(monkeypatch):
    """The request log lines and metrics the handler writes (the real logger's and metrics' calls)."""
    record: dict[str, list[Any]] = {"info": [], "error": [], "metrics": []}

    def info(message: str, *args: Any, **kwargs: Any) -> None:
        record["info"].append((message, kwargs.get("extra", {})))

    def error(message: str, *args: Any, **kwargs: Any) -> None:
        record["error"].append((message, kwargs.get("extra", {})))

    def add_metric(name: str, unit: Any, value: float, **_: Any) -> None:
        record["metrics"].append((name, value))

    monkeypatch.setattr(entry.logger, "info", info)
    monkeypatch.setattr(entry.logger, "error", error)
    monkeypatch.setattr(entry.metrics, "add_metric", add_metric)
    return record


def metric(seen: dict[str, list[Any]], name: str) -> float:
    return float(sum(value for found, value in seen["metrics"] if found == name))


def request_line(seen: dict[str, list[Any]]) -> dict[str, Any]:
    lines = [extra for message, extra in seen["info"] if message == "lookup"]
    assert len(lines) == 1
    return dict(lines[0])


# -- finding 1: a deeply nested body ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '{"fields": ' + "[" * 1000 + "]" * 1000 + "}",
        '{"identities": ' + "[" * 5000 + "]" * 5000 + "}",
        "[" * 100_000,
    ],
)
def test_finding_1_a_deeply_nested_body_is_a_400_in_our_shape(lookup, admin, seen, body):
    response = lookup.raw(lookup_event(body))

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "invalid-request"
    assert request_line(seen)["status"] == 400
    assert aep_lookups(admin) == []


def test_finding_1_an_unexpected_error_is_our_500_logged_by_type_and_place(lookup, seen, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError(PHONE)  # an exception whose text holds an identity

    monkeypatch.setattr(LookupService, "profile", broken)

    response = lookup.raw(profile_event("Phone", PHONE))

    assert response["statusCode"] == 500
    error = json.loads(response["body"])["error"]
    assert (error["code"], error["requestId"]) == ("internal", "req-0001")
    assert PHONE not in response["body"]
    [(_, extra)] = [line for line in seen["error"] if line[0] == "lookup failed unexpectedly"]
    assert extra["error_type"] == "KeyError"
    assert extra["where"].startswith("test_lookup_findings.py:")
    assert PHONE not in json.dumps(seen["error"] + seen["info"])
    assert request_line(seen)["status"] == 500
    assert metric(seen, "UnexpectedErrors") == 1


# -- finding 6: duplicate keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '{"identities": [{"namespace": "Phone", "id": "+14155550100"}], '
        '"identities": [{"namespace": "Phone", "id": "+14155550101"}]}',
        '{"identities": [{"namespace": "Email", "namespace": "Phone", "id": "+14155550100"}]}',
        '{"identities": [{"namespace": "Phone", "id": "+14155550100"}], "fields": NaN}',
    ],
)
def test_finding_6_duplicate_keys_and_non_json_constants_are_a_400(lookup, admin, body):
    status, answer = lookup(lookup_event(body))

    assert status == 400
    assert answer["error"]["code"] == "invalid-request"
    assert "+1415555" not in answer["error"]["message"]
    assert aep_lookups(admin) == []


# -- finding 3: the default allow-list is ingestion's --------------------------------------------------------


def test_finding_3_the_stream_s_identity_namespace_is_allowed_by_default(make):
    lookup = make(LOOKUP_IDENTITY_NAMESPACE="CRMID")

    status, body = lookup(profile_event("CRMID", "C-77"))

    assert status == 200
    assert body["attributes"]["person"]["name"]["firstName"] == "crm caller"


def test_finding_3_without_it_crmid_stays_off_the_default_list(lookup, admin):
    status, body = lookup(profile_event("CRMID", "C-77"))

    assert status == 400
    assert body["error"]["code"] == "invalid-identity"
    assert aep_lookups(admin) == []


def test_finding_3_an_allow_list_without_the_stream_s_namespace_is_a_configuration_error(monkeypatch):
    for name, value in {
        **ENV,
        "LOOKUP_IDENTITY_NAMESPACE": "CRMID",
        "LOOKUP_ALLOWED_NAMESPACES": "Phone",
    }.items():
        monkeypatch.setenv(name, value)
    lookup_runtime.set_runtime(None)  # built from the environment, as in a new container

    response = load_app("profile_lookup").lambda_handler(profile_event("Phone", PHONE), FakeLambdaContext())

    body = json.loads(response["body"])
    assert (response["statusCode"], body["error"]["code"]) == (500, "configuration")
    with pytest.raises(
        AepConfigError, match="LOOKUP_ALLOWED_NAMESPACES the allowed namespaces must include CRMID"
    ):
        LookupSettings.from_env({"LOOKUP_IDENTITY_NAMESPACE": "CRMID", "LOOKUP_ALLOWED_NAMESPACES": "Phone"})


def test_finding_2_a_tenant_list_without_the_stream_s_namespace_fails_whole_requests(ingested, clock):
    env = {**ENV, "LOOKUP_IDENTITY_NAMESPACE": "CRMID"}
    tenant = the_default().model_copy(update={"streaming": TenantStreaming(allowed_namespaces=("Phone",))})
    lookup = LookupFunction(lookup_runtime_for(ingested, clock, env, registry=TenantRegistry(None, tenant)))

    one = lookup(profile_event("Phone", PHONE))
    many = lookup(lookup_event({"identities": [{"namespace": "Phone", "id": PHONE}]}))

    assert (one[0], one[1]["error"]["code"]) == (500, "configuration")
    assert (many[0], many[1]["error"]["code"]) == (500, "configuration")


# -- finding 4: the registry read counts inside the deadline -------------------------------------------------


class SlowRegistry(TenantRegistry):
    """A registry whose read takes ``seconds`` on the fake clock."""

    def __init__(self, default: Tenant, clock: FakeClock, seconds: float) -> None:
        super().__init__(None, default)
        self.clock = clock
        self.seconds = seconds

    def get(self, tenant_id: str | None) -> Tenant:
        self.clock.advance(self.seconds)
        return super().get(tenant_id)


def the_default() -> Tenant:
    tenant = default_tenant(ENV)
    assert tenant is not None
    return tenant


def test_finding_4_a_slow_registry_read_leaves_no_time_for_aep(ingested, clock, admin):
    registry = SlowRegistry(the_default(), clock, 2.0)
    lookup = LookupFunction(lookup_runtime_for(ingested, clock, registry=registry))

    status, body = lookup(profile_event("Phone", PHONE))

    assert status == 504
    assert body["error"]["code"] == "deadline"
    assert aep_lookups(admin) == []


def test_finding_4_a_quick_registry_read_leaves_the_rest(ingested, clock):
    registry = SlowRegistry(the_default(), clock, 1.0)
    lookup = LookupFunction(lookup_runtime_for(ingested, clock, registry=registry))

    assert lookup(profile_event("Phone", PHONE))[0] == 200


# -- finding 5: a mixed request answers per identity --------------------------------------------------------


def test_finding_5_a_mixed_request_answers_each_identity_in_request_order(lookup, admin):
    body = {
        "identities": [
            {"namespace": "Phone", "id": "(415) 555-0100"},
            {"namespace": "Phone", "id": "../x"},
            {"namespace": "CRMID", "id": "1"},
            {"namespace": "Email", "id": "Ada@Example.com "},
        ]
    }

    status, answer = lookup(lookup_event(body))

    assert status == 200
    results = answer["results"]
    assert [r["status"] for r in results] == ["found", "error", "error", "not_found"]
    assert results[0]["id"] == PHONE
    assert results[1]["error"]["code"] == "invalid-identity"
    assert results[1]["error"]["message"].startswith("identities[1].id:")
    assert results[2]["error"]["message"].startswith("identities[2].namespace:")
    assert (results[1]["namespace"], results[1]["id"]) == (None, None)  # never echoed
    assert results[3]["id"] == "ada@example.com"
    assert len(aep_lookups(admin)) == 1


def test_finding_5_only_invalid_identities_make_no_aep_call(lookup, admin):
    body = {"identities": [{"namespace": "Phone", "id": "%00"}, {"namespace": "Phone", "id": "'"}]}

    status, answer = lookup(lookup_event(body))

    assert status == 200
    assert [r["error"]["status"] for r in answer["results"]] == [400, 400]
    assert aep_lookups(admin) == []


# -- finding 7: an empty fields list is the default set ------------------------------------------------------


@pytest.mark.parametrize("fields", ["", ",", " , "])
def test_finding_7_an_empty_fields_query_is_the_default_set(make, fields):
    lookup = make(LOOKUP_DEFAULT_FIELDS="_acme.tier")

    status, body = lookup(profile_event("Phone", PHONE, query={"fields": fields}))

    assert status == 200
    assert body["attributes"] == {"_acme": {"tier": "gold"}}


def test_finding_7_an_empty_fields_list_in_a_post_is_the_default_set(make):
    lookup = make(LOOKUP_DEFAULT_FIELDS="_acme.tier")

    status, body = lookup(lookup_event({"identities": [{"namespace": "Phone", "id": PHONE}], "fields": []}))

    assert status == 200
    assert body["results"][0]["profile"]["attributes"] == {"_acme": {"tier": "gold"}}


# -- finding 8: the POST merge policy id ---------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["x&entityId=y", "", "-a", "a" * 65, "a b"])
def test_finding_8_a_bad_merge_policy_id_in_a_post_is_a_400(lookup, admin, policy):
    body = {"identities": [{"namespace": "Phone", "id": PHONE}], "mergePolicyId": policy}

    status, answer = lookup(lookup_event(body))

    assert status == 400
    assert answer["error"]["message"].startswith("mergePolicyId")
    assert aep_lookups(admin) == []


# -- finding 11: every AEP attempt in the log line and the metrics -------------------------------------------


def test_finding_11_every_attempt_is_logged_and_counted(lookup, admin, seen):
    admin.faults({"path": "^/data/core/ups", "status": 429, "retry_after_ms": 10})

    assert lookup(profile_event("Phone", PHONE))[0] == 429

    line = request_line(seen)
    assert (line["aep_calls"], line["aep_attempts"], line["aep_statuses"]) == (1, 3, [429, 429, 429])
    assert metric(seen, "AepCalls") == 3
    assert metric(seen, "AepErrors") == 3


def test_finding_11_a_deadline_after_503s_counts_the_503s(ingested, admin, seen):
    lookup = LookupFunction(lookup_runtime_for(ingested, SystemClock(), {"LOOKUP_DEADLINE_SECONDS": "0.4"}))
    admin.faults({"path": "^/data/core/ups", "status": 503, "latency_ms": 150})

    status, _ = lookup(profile_event("Phone", PHONE))

    line = request_line(seen)
    answered = [s for s in line["aep_statuses"] if s is not None]
    assert status == 504
    assert answered[:2] == [503, 503]
    assert line["aep_attempts"] == len(aep_lookups(admin)) + line["aep_statuses"].count(None)
    assert metric(seen, "AepErrors") == line["aep_attempts"] >= 2


def test_finding_11_a_found_profile_counts_one_good_attempt(lookup, seen):
    assert lookup(profile_event("Phone", PHONE))[0] == 200

    line = request_line(seen)
    assert (line["aep_attempts"], line["aep_statuses"]) == (1, [200])
    assert (metric(seen, "AepCalls"), metric(seen, "AepErrors")) == (1, 0)


def test_finding_11_a_multi_lookup_counts_the_attempts_of_each_chunk(lookup, seen):
    phones = [f"+1415555{n:04d}" for n in range(300, 420)]

    assert lookup(lookup_event({"identities": [{"namespace": "Phone", "id": p} for p in phones]}))[0] == 200

    line = request_line(seen)
    assert (line["aep_calls"], line["aep_attempts"], line["aep_statuses"]) == (3, 3, [200, 200, 200])


# -- finding 12: authorize before validating -----------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        profile_event("CRMID", "x", principal=OTHER_CALLER),
        profile_event("Phone", "../x", principal=OTHER_CALLER),
        profile_event("Phone", PHONE, principal=OTHER_CALLER, query={"mergePolicyId": "x&y", "z": "1"}),
        profile_event("CRMID", "x", tenant="brand-z", principal=IVR_SESSION),
        profile_event("Phone", PHONE, tenant="Not_A_Tenant", principal=IVR_SESSION),
        profile_event("Phone", PHONE, events=True, principal=OTHER_CALLER, query={"limit": "0"}),
        lookup_event('{"identities": ' + "[" * 5000 + "]" * 5000 + "}", principal=OTHER_CALLER),
        lookup_event({"identities": [{"namespace": "CRMID", "id": "x"}]}, tenant="brand-z"),
    ],
)
def test_finding_12_a_caller_of_another_or_unknown_tenant_gets_403_before_any_400(lookup, admin, event):
    status, body = lookup(event)

    assert status == 403
    assert body["error"]["code"] == "forbidden"
    assert aep_lookups(admin) == []


# -- finding 13: event logging would log identities ----------------------------------------------------------


@pytest.mark.parametrize(
    "variable", ["POWERTOOLS_LOGGER_LOG_EVENT", "POWERTOOLS_DEV", "POWERTOOLS_EVENT_HANDLER_DEBUG"]
)
def test_finding_13_the_function_refuses_to_start_when_events_would_be_logged(variable):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")},
        "PYTHONPATH": f"{ROOT / 'functions/profile_lookup'}{os.pathsep}{ROOT / 'layers/aep'}",
        variable: "true",
    }

    found = subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=ROOT / "functions/profile_lookup",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert found.returncode != 0
    assert f"{variable} must be off" in found.stderr


def test_finding_13_the_function_starts_with_them_off():
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")},
        "PYTHONPATH": f"{ROOT / 'functions/profile_lookup'}{os.pathsep}{ROOT / 'layers/aep'}",
        "POWERTOOLS_LOGGER_LOG_EVENT": "false",
        "POWERTOOLS_DEV": "0",
    }

    found = subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=ROOT / "functions/profile_lookup",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert found.returncode == 0, found.stderr
