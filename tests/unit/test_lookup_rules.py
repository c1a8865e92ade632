"""The lookup's input rules, settings, error mapping and who may read which tenant (no network)."""

from __future__ import annotations

from typing import Any

import pytest

from aep.errors import (
    AepAuthError,
    AepConfigError,
    AepNotFoundError,
    AepServerError,
    AepThrottledError,
    AepTimeoutError,
    AepTransportError,
    AepValidationError,
)
from aep.normalize import allowed_namespaces
from aep.tenants import Tenant, TenantRegistry
from aep.tenants.callers import Caller, CallerNotAllowedError, PrincipalKind
from aep.tenants.model import TenantStreaming
from aep.tenants.registry import TenantLookupError
from aep.timing import Deadline
from profile_lookup.errors import ApiError, from_aep
from profile_lookup.identities import Identity, InvalidIdentityError, from_path, parse_identity
from profile_lookup.rules import identity_rules
from profile_lookup.settings import LookupSettings
from profile_lookup.tenancy import DefaultTenantAccess
from tests.support.fakes import FakeClock

ALLOWED = allowed_namespaces(["Phone", "Email", "ECID"])
ROLE = "arn:aws:iam::123456789012:role/ivr"
SESSION = "arn:aws:sts::123456789012:assumed-role/ivr/s1"


def parse(namespace: str, value: str, region: str = "US") -> Identity:
    return parse_identity(namespace, value, ALLOWED, region)


# -- identities ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["(555) 123-4567", "555.123.4567", "+15551234567", " 555 123 4567 "])
def test_phone_numbers_normalise_as_ingestion_does(written):
    assert parse("Phone", written) == Identity("Phone", "+15551234567")


def test_a_national_number_follows_the_default_region():
    assert parse("Phone", "020 7946 0456", region="GB").id == "+442079460456"


def test_an_email_is_trimmed_and_lowercased():
    assert parse("email", "Ada@Example.com ") == Identity("email", "ada@example.com")
    assert parse("Email", "o'neil+ivr@example.co.uk").id == "o'neil+ivr@example.co.uk"


def test_an_ecid_keeps_its_case_and_the_key_lowercases_the_namespace_only():
    identity = parse("ECID", "AbC-123")

    assert identity.id == "AbC-123"
    assert identity.key == ("ecid", "AbC-123")


@pytest.mark.parametrize(
    ("namespace", "value", "reason"),
    [
        ("Phone", "../1", "not a phone number"),
        ("Phone", "555-CALL-NOW", "characters other than digits"),
        ("Phone", "1" * 257, "longer than 256"),
        ("Phone", "\u202e5551234567", "control character"),
        ("Email", 'a"b@example.com', "does not accept"),
        ("Email", "a%00@example.com", "does not accept"),
        ("Email", "a@example.com/x", "does not accept"),
        ("Email", "no-at-sign", "exactly one @"),
        ("ECID", "12 34", "letters, digits"),
        ("ECID", "a?b=1", "letters, digits"),
        ("ECID", "-leading", "letters, digits"),
        ("ECID", "   ", "empty"),
        ("CRMID", "x", "not on the allowed list"),
        ("Ph one", "1", "not on the allowed list"),
        ("", "1", "namespace"),
        ("N" * 65, "1", "namespace"),
    ],
)
def test_what_cannot_be_looked_up_is_refused_with_a_reason_and_never_the_value(namespace, value, reason):
    with pytest.raises(InvalidIdentityError, match=reason) as caught:
        parse(namespace, value)

    if len(value.strip()) > 2:
        assert value.strip() not in str(caught.value)


def test_a_refusal_names_the_field_it_is_about():
    with pytest.raises(InvalidIdentityError, match=r"^identities\[3\]\.id: "):
        parse_identity("Phone", "x", ALLOWED, "US", where="identities[3].id")
    with pytest.raises(InvalidIdentityError, match=r"^identities\[3\]\.namespace: "):
        parse_identity("CRMID", "x", ALLOWED, "US", where="identities[3].id")
    with pytest.raises(InvalidIdentityError, match=r"^namespace: "):
        parse_identity("CRMID", "x", ALLOWED, "US")


@pytest.mark.parametrize(
    ("segment", "value"),
    [("%2B15551234567", "+15551234567"), ("plain", "plain"), ("%252F", "%2F"), ("%ZZ", "%ZZ")],
)
def test_a_path_segment_is_decoded_once(segment, value):
    assert from_path(segment) == value


# -- settings -------------------------------------------------------------------------------------------


def test_settings_have_documented_defaults():
    settings = LookupSettings.from_env({})

    assert settings.deadline_seconds == 1.5
    assert settings.cache_ttl_seconds == 60.0
    assert settings.negative_ttl_seconds == 5.0
    assert settings.default_fields == ()
    assert settings.namespaces == {"phone", "email", "ecid"}
    assert settings.aep_batch_size == 50
    assert settings.default_tenant_principals == ()


def test_settings_read_their_variables():
    settings = LookupSettings.from_env(
        {
            "LOOKUP_DEADLINE_SECONDS": "0.8",
            "LOOKUP_DEFAULT_FIELDS": "person.name, _acme.tier",
            "LOOKUP_ALLOWED_NAMESPACES": "Phone,CRMID",
            "LOOKUP_DEFAULT_TENANT_PRINCIPALS": f"{ROLE},*",
            "LOOKUP_AEP_BATCH_SIZE": "20",
        }
    )

    assert settings.deadline_seconds == 0.8
    assert settings.default_fields == ("person.name", "_acme.tier")
    assert settings.namespaces == {"phone", "crmid"}
    assert settings.default_tenant_principals == (ROLE, "*")
    assert settings.aep_batch_size == 20


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOOKUP_DEADLINE_SECONDS", "0"),
        ("LOOKUP_DEADLINE_SECONDS", "31"),
        ("LOOKUP_DEFAULT_FIELDS", "person name"),
        ("LOOKUP_ALLOWED_NAMESPACES", "Phone,not a code"),
        ("LOOKUP_AEP_BATCH_SIZE", "51"),
        ("LOOKUP_CACHE_SIZE", "-1"),
    ],
)
def test_bad_settings_name_the_variable(variable, value):
    with pytest.raises(AepConfigError, match=variable):
        LookupSettings.from_env({variable: value})


# -- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (AepThrottledError("slow down", status=429, retry_after=2.5), 429, "throttled"),
        (AepServerError("boom", status=500), 502, "aep-failure"),
        (AepServerError("unavailable", status=503), 502, "aep-failure"),
        (AepTransportError("garbled", retryable=True), 502, "aep-failure"),
        (AepAuthError("token refused", status=401), 502, "aep-auth"),
        (AepAuthError("invalid_client", status=400), 502, "aep-auth"),
        (
            AepAuthError("backing off after: IMS unavailable", status=503, retry_after=20),
            502,
            "ims-unavailable",
        ),
        (AepAuthError("IMS throttled", status=429), 502, "ims-unavailable"),
        (AepAuthError("IMS did not answer"), 502, "ims-unavailable"),
        (AepValidationError("too many", status=422), 422, "identity-graph-too-large"),
        (AepValidationError("bad request", status=400), 502, "aep-failure"),
        (AepNotFoundError("none", status=404), 404, "not-found"),
        (AepTimeoutError("no answer"), 504, "deadline"),
        (AepConfigError("secret unreadable"), 500, "configuration"),
        (TenantLookupError("table down"), 503, "registry-unavailable"),
        (CallerNotAllowedError("brand-b", "not-a-principal"), 403, "forbidden"),
    ],
)
def test_every_aep_failure_maps_to_one_answer(error, status, code):
    mapped = from_aep(error, Deadline.after(1.0, FakeClock()))

    assert (mapped.status, mapped.code) == (status, code)


def test_a_429_carries_retry_after_in_whole_seconds():
    assert from_aep(AepThrottledError("x", retry_after=2.1)).retry_after_header == "3"
    assert from_aep(AepThrottledError("x", retry_after=0.2)).retry_after_header == "1"
    assert from_aep(AepThrottledError("x")).retry_after_header == "1"
    assert ApiError(502, "aep-failure", "x").retry_after_header is None


def test_any_failure_after_the_deadline_is_a_504():
    clock = FakeClock()
    deadline = Deadline.after(1.0, clock)
    clock.advance(1.0)

    assert from_aep(AepThrottledError("x", status=429), deadline).status == 504
    assert from_aep(AepServerError("x", status=500), deadline).status == 504


# -- who may read ---------------------------------------------------------------------------------------


def registry() -> TenantRegistry:
    """No table: the default tenant only."""
    return TenantRegistry(None, Tenant(tenant_id="default", credentials_secret_id="c", token_secret_id="t"))


def test_the_default_tenant_admits_only_its_configured_principals():
    access = DefaultTenantAccess(registry(), (ROLE,))

    assert access.authorize(Caller(SESSION), None).tenant_id == "default"
    with pytest.raises(CallerNotAllowedError):
        access.authorize(Caller("arn:aws:sts::123456789012:assumed-role/other/s1"), None)


def test_without_principals_nobody_reads_the_default_tenant():
    with pytest.raises(CallerNotAllowedError) as caught:
        DefaultTenantAccess(registry(), ()).authorize(Caller(SESSION), "default")

    assert caught.value.reason == "not-a-principal"


def test_the_star_admits_iam_callers_only():
    access = DefaultTenantAccess(registry(), ("*",))

    assert access.authorize(Caller(SESSION), None).tenant_id == "default"
    for caller in (
        Caller(None),
        Caller(None, api_key_id="abc123"),
        Caller("ivr", kind=PrincipalKind.AUTHORIZER),
    ):
        with pytest.raises(CallerNotAllowedError):
            access.authorize(caller, None)


def test_the_star_never_opens_a_registry_tenant():
    access = DefaultTenantAccess(registry(), ("*",))

    with pytest.raises(CallerNotAllowedError) as caught:
        access.authorize(Caller(SESSION), "brand-b")

    assert caught.value.reason == "unknown-tenant"


def test_an_authorizer_principal_may_be_configured():
    access = DefaultTenantAccess(registry(), ("authorizer:ivr-prod",))

    assert access.authorize(Caller("ivr-prod", kind=PrincipalKind.AUTHORIZER), None).tenant_id == "default"
    with pytest.raises(CallerNotAllowedError):
        access.authorize(Caller("ivr-prod"), None)


def test_a_bad_principal_entry_is_a_configuration_error_that_does_not_echo_it():
    with pytest.raises(AepConfigError, match="LOOKUP_DEFAULT_TENANT_PRINCIPALS") as caught:
        DefaultTenantAccess(registry(), ("arn:aws:iam::1:role/x", "secret-looking value"))

    assert "secret-looking" not in str(caught.value)


# -- a tenant's rules (finding 2) ------------------------------------------------------------------------


def _tenant(**streaming: Any) -> Tenant:
    return Tenant(
        tenant_id="brand-b",
        org_id="B0B@AdobeOrg",
        credentials_secret_id="aep/brand-b/credentials",
        token_secret_id="aep/brand-b/token",
        streaming=TenantStreaming(**streaming),
    )


def test_finding_2_a_tenant_s_rules_replace_the_deployment_s():
    tenant = _tenant(allowed_namespaces=("Phone",), default_phone_region="GB")

    rules = identity_rules(LookupSettings(), tenant)

    assert (rules.namespaces, rules.default_phone_region) == (frozenset({"phone"}), "GB")


def test_finding_2_a_tenant_without_rules_takes_the_deployment_s_as_ingestion_does():
    settings = LookupSettings(identity_namespace="CRMID", default_phone_region="FR")

    rules = identity_rules(settings, _tenant())

    assert rules.namespaces == frozenset({"phone", "email", "ecid", "crmid"})
    assert rules.default_phone_region == "FR"


def test_finding_2_a_tenant_list_leaving_out_the_stream_s_namespace_is_a_configuration_error():
    with pytest.raises(AepConfigError, match=r"tenant 'brand-b' .* allowed_namespaces: .* include CRMID"):
        identity_rules(LookupSettings(identity_namespace="CRMID"), _tenant(allowed_namespaces=("Phone",)))
