"""The functions' settings from setup's outputs (one function for the custom resource and the local
stack): the stream's identity from its dataset's schema, the batch routes from the file's batch section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aep.errors import AepConfigError
from aep.setup import SetupFileError, load, parse
from aep.setup.settings import function_settings
from stack.deployment import HOME_REGION, callcenter_parameters
from tests.unit.test_stack_deployment import OUTPUTS

EXAMPLE = Path(__file__).resolve().parents[2] / "setup" / "callcenter.yaml"
INLET = "Call Center Setup Events Inlet"


def example_data() -> dict[str, Any]:
    return load(EXAMPLE).model_dump(mode="json", by_alias=True, exclude_none=True)


def test_the_identity_is_the_streamed_datasets_primary_identity_as_a_record_path() -> None:
    settings = function_settings(load(EXAMPLE), OUTPUTS, INLET)
    assert (settings.identity_field, settings.identity_namespace) == ("_acme.phone", "Phone")


def test_the_batch_routes_are_the_batch_section_with_ids_classes_identities_and_the_tenant() -> None:
    routes = function_settings(load(EXAMPLE), OUTPUTS, INLET, default_phone_region="FR").batch_routes
    assert routes == [
        {
            "prefix": "callers/",
            "dataset_id": "c" * 24,
            "record_class": "profile",
            "identity_field": "_acme.phone",
            "identity_namespace": "Phone",
            "default_phone_region": "FR",
            "mapping": {
                "record_class": "profile",
                "columns": {
                    "phone": "_acme.phone",
                    "first_name": "person.name.firstName",
                    "tier": "_acme.tier",
                },
            },
        },
        {
            "prefix": "calls/",
            "dataset_id": "e" * 24,
            "record_class": "experienceevent",
            "identity_field": "_acme.phone",
            "identity_namespace": "Phone",
            "default_phone_region": "FR",
        },
    ]


def test_the_local_stack_uses_the_same_settings_as_the_custom_resource() -> None:
    setup = load(EXAMPLE)
    parameters = callcenter_parameters(setup, OUTPUTS)
    settings = function_settings(setup, OUTPUTS, INLET, default_phone_region=HOME_REGION)
    assert json.loads(parameters["BatchRoutes"]) == settings.batch_routes
    assert (parameters["StreamIdentityField"], parameters["StreamIdentityNamespace"]) == (
        settings.identity_field,
        settings.identity_namespace,
    )


def test_a_file_without_batch_or_identity_gives_empty_settings() -> None:
    data = example_data()
    del data["batch"]
    events = data["schemas"][1]
    del events["primaryIdentity"]
    events["profile"] = False
    data["datasets"][1]["profile"] = False
    settings = function_settings(parse(data), OUTPUTS, INLET)
    assert (settings.identity_field, settings.identity_namespace, settings.batch_routes) == ("", "", [])


def test_a_batch_route_whose_dataset_has_no_id_is_refused() -> None:
    outputs = {**OUTPUTS, "datasets": {"Call Center Setup Call Events": "e" * 24}}
    with pytest.raises(
        AepConfigError, match="batch route 'callers/': dataset 'Call Center Setup Callers' has no id"
    ):
        function_settings(load(EXAMPLE), outputs, INLET)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda b: b[1].update(dataset="Nope"), "batch 'calls/': dataset 'Nope' is not in the file"),
        (lambda b: b[1].update(prefix="callers/"), "batch prefixes must be unique: ['callers/']"),
        (
            lambda b: b[1].update(recordClass="profile"),
            "batch 'calls/': recordClass profile is not the class of dataset 'Call Center Setup Call Events'",
        ),
    ],
)
def test_a_bad_batch_section_is_refused_at_load(change: Any, problem: str) -> None:
    data = example_data()
    change(data["batch"])
    with pytest.raises(SetupFileError) as refused:
        parse(data)
    assert problem in str(refused.value)
