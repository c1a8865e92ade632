"""A Catalog or Flow Service create whose answer is lost after the emulator made it (a ``drop_after``
fault: the connection closes unanswered) is looked up by its keys before the retry, adopted, and never
made twice; a create that failed before it was carried out is simply sent again."""

from __future__ import annotations

from typing import Any

import pytest

from aep.setup import SetupApi, SetupFile, apply, load
from aep.setup.__main__ import setup_api
from aep_emulator import Emulator
from tests.integration.conftest import Admin
from tests.integration.test_setup_converge import EXAMPLE, FAST, env_of

INLET = "Call Center Setup Events Inlet"
EVENTS = "Call Center Setup Call Events"
HTTP_API = "connectionSpec.id==bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"


def posts_to(admin: Admin, path: str) -> int:
    return sum(1 for e in admin.requests() if e["method"] == "POST" and e["path"].endswith(path))


def counts(api: SetupApi) -> dict[str, int]:
    """How many of each resource the example's inlet is made of, and of its dataset."""
    bases = api.flow_items("connections", HTTP_API, f"name=={INLET}")
    (base,) = bases
    sources = api.flow_items("sourceConnections", f"baseConnectionId=={base['id']}")
    dataset_ids = list(api.datasets_named(EVENTS))
    targets = api.flow_items("targetConnections", f"params.dataSetId=={dataset_ids[0]}")
    flows = api.flow_items("flows", f"sourceConnectionIds[]=={sources[0]['id']}")
    return {
        "dataSets": len(dataset_ids),
        "connections": len(bases),
        "sourceConnections": len(sources),
        "targetConnections": len(targets),
        "flows": len(flows),
    }


@pytest.fixture
def example() -> SetupFile:
    return load(EXAMPLE)


@pytest.fixture
def api(emulator: Emulator) -> SetupApi:
    return setup_api(env_of(emulator), FAST)


@pytest.mark.parametrize(
    ("path", "kind", "first"),
    [
        ("/catalog/dataSets", "dataset", 0),  # the callers' dataset, the first of the two
        ("/catalog/dataSets", "dataset", 1),  # the call events' dataset, which the inlet writes to
        ("/flowservice/connections", "connections", 0),
        ("/flowservice/sourceConnections", "sourceConnections", 0),
        ("/flowservice/targetConnections", "targetConnections", 0),
        ("/flowservice/flows", "flows", 0),
    ],
)
def test_a_create_made_but_unanswered_is_adopted_and_not_sent_again(
    admin: Admin, api: SetupApi, example: SetupFile, path: str, kind: str, first: int
) -> None:
    # Given the emulator makes the resource, then closes the connection without answering
    admin.faults({"path": f"{path}$", "method": "POST", "kind": "drop_after", "skip": first, "first": 1})
    # When the example is applied (the transport would retry the POST)
    report = apply(api, example)
    # Then the resource was found before the retry, adopted, and the POST never sent again
    assert report.drift == []
    assert len(api.adopted) == 1
    assert api.adopted[0].startswith(f"{kind} ")
    posts = 2 if path == "/catalog/dataSets" else 1
    assert posts_to(admin, path) == posts
    # and nothing exists twice; the outputs name the adopted resource
    assert counts(api) == dict.fromkeys(counts(api), 1)
    assert len(api.datasets_named("Call Center Setup Callers")) == 1
    stream = report.outputs["streaming"][INLET]
    adopted_id = api.adopted[0].split(" ", 1)[1]
    if kind == "flows":
        assert stream["flowId"] == adopted_id
    if kind == "dataset" and first == 1:
        assert stream["datasetId"] == adopted_id == report.outputs["datasets"][EVENTS]
    # and a second apply finds everything
    assert apply(api, example).writes == 0


def test_a_create_refused_before_it_was_made_is_sent_again(
    admin: Admin, api: SetupApi, example: SetupFile
) -> None:
    # Given the first dataset POST is answered 503 without being carried out
    admin.faults({"path": "/catalog/dataSets$", "method": "POST", "status": 503, "first": 1})
    # When applied, Then the lookup finds nothing and the retried POST makes it, once
    report = apply(api, example)
    assert report.drift == []
    assert api.adopted == []
    assert posts_to(admin, "/catalog/dataSets") == 3
    assert len(api.datasets_named("Call Center Setup Callers")) == 1


def test_without_a_finder_the_retried_post_makes_a_duplicate(
    admin: Admin, api: SetupApi, example: SetupFile
) -> None:
    # The gap the finders close: the same lost answer, a create given no way to look first
    apply(api, example)
    schema = api.find_titled("schemas", EVENTS)
    assert schema is not None
    ref = {"id": schema["$id"], "contentType": "application/vnd.adobe.xed-full+json;version=1"}
    body: dict[str, Any] = {"name": "Duplicated", "schemaRef": ref}
    admin.faults({"path": "/catalog/dataSets$", "method": "POST", "kind": "drop_after", "first": 1})
    api.create_dataset(body)
    assert len(api.datasets_named("Duplicated")) == 2
