"""The emulator's identity namespaces against identity-service.yaml: list (flat array), create a custom
namespace (200 with the namespace), code conflicts (409 NAMESPACE_CODE_CONFLICT, case-insensitive) and
invalid requests (400 INVALID_REQUEST_PARAMS)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from aep_emulator import running
from tests.contract import models as cm

PATH = "/data/core/idnamespace/identities"


@pytest.fixture(scope="module")
def emu():
    with running() as emulator:
        yield emulator


def create(emu, auth, body: Any, content_type: str = "application/json") -> requests.Response:
    return requests.post(emu.url + PATH, headers={**auth, "Content-Type": content_type}, json=body, timeout=5)


def namespaces(emu, auth, sandbox: str = "prod") -> list[dict[str, Any]]:
    answer = requests.get(emu.url + PATH, headers={**auth, "x-sandbox-name": sandbox}, timeout=5)
    assert answer.status_code == 200
    return list(answer.json())


def test_create_a_custom_namespace_then_find_it_in_every_sandbox_of_the_org(emu, auth):
    body = {
        "name": "Partner Member ID",
        "code": "PartnerID",
        "idType": "Cross_device",
        "description": "members",
    }

    created = create(emu, auth, body)

    assert created.status_code == 200
    namespace = cm.Namespace.model_validate(created.json())
    assert (namespace.code, namespace.custom, namespace.status, namespace.idType) == (
        "PartnerID",
        True,
        "ACTIVE",
        "CROSS_DEVICE",
    )
    assert created.json()["description"] == "members"
    for sandbox in ("prod", "dev"):
        listed = {ns["code"]: cm.Namespace.model_validate(ns) for ns in namespaces(emu, auth, sandbox)}
        assert listed["PartnerID"].id == namespace.id
        assert listed["Phone"].custom is False


@pytest.mark.parametrize("code", ["Email", "EMAIL", "crmid"])
def test_a_code_that_exists_in_any_case_is_409(emu, auth, code):
    answer = create(emu, auth, {"name": "Again", "code": code, "idType": "Email"})

    assert answer.status_code == 409
    body = answer.json()
    assert (body["status"], body["title"], body["report"]["code"]) == (
        409,
        "NAMESPACE_CODE_CONFLICT",
        "INTEGRATION_CODE_EXISTS",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"name": "No type", "code": "NoType1"},
        {"name": "Bad type", "code": "BadType1", "idType": "Person"},
        {"name": "Bad code", "code": "has space", "idType": "Phone"},
        {"code": "NoName1", "idType": "Phone"},
        ["not", "an", "object"],
    ],
)
def test_invalid_requests_are_400_invalid_request_params(emu, auth, body):
    answer = create(emu, auth, body)

    assert answer.status_code == 400
    assert answer.json()["report"]["code"] == "INVALID_REQUEST_PARAMS"
    assert answer.json()["status"] == 400


def test_a_body_without_json_content_type_is_400(emu, auth):
    answer = create(emu, auth, {"name": "x", "code": "Plain1", "idType": "Phone"}, content_type="text/plain")

    assert answer.status_code == 400
    assert "Plain1" not in [ns["code"] for ns in namespaces(emu, auth)]
