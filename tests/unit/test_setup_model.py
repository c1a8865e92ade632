"""The setup file: validation names the path of each problem; fields render as the registry stores them;
the field diff is additive and reports what an add cannot fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aep.setup import SetupFileError, load, parse
from aep.setup.__main__ import main
from aep.setup.plan import field_diff

EXAMPLE = Path(__file__).resolve().parents[2] / "setup" / "callcenter.yaml"


def minimal(**extra: Any) -> dict[str, Any]:
    return {
        "fieldGroups": [{"title": "G", "extends": ["profile"], "fields": {"phone": {"type": "string"}}}],
        "schemas": [
            {
                "title": "S",
                "class": "profile",
                "fieldGroups": ["G"],
                "primaryIdentity": {"field": "/_tenant/phone", "namespace": "Phone"},
                "profile": True,
            }
        ],
        "datasets": [{"name": "D", "schema": "S", "profile": True}],
        **extra,
    }


def test_the_example_loads_with_the_call_and_caller_fields() -> None:
    setup = load(EXAMPLE)
    call = next(g for g in setup.field_groups if g.title == "Call Center Setup Call").fields["call"]
    assert set(call.properties or {}) == {"direction", "durationSeconds", "queue", "intent", "outcome"}
    assert [s.class_id for s in setup.schemas] == [
        "https://ns.adobe.com/xdm/context/profile",
        "https://ns.adobe.com/xdm/context/experienceevent",
    ]
    assert all(s.profile and s.primary_identity for s in setup.schemas)
    assert setup.streaming[0].authenticated


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["schemas"][0].pop("class"), "schemas[0].class: Field required"),
        (
            lambda d: d["fieldGroups"][0]["fields"].update(x={"type": "date"}),
            "fieldGroups[0].fields.x.type: Input should be",
        ),
        (
            lambda d: d["schemas"][0]["primaryIdentity"].update(field="phone"),
            "schemas[0].primaryIdentity.field",
        ),
        (lambda d: d["datasets"][0].update(schema="Nope"), "dataset 'D': schema 'Nope' is not in the file"),
        (lambda d: d["schemas"][0].update(fieldGroups=["Other"]), "field group 'Other' is neither"),
        (lambda d: d["schemas"][0].pop("primaryIdentity"), "schema 'S': Profile needs a primaryIdentity"),
        (lambda d: d.update(extra=1), "extra: Extra inputs are not permitted"),
        (
            lambda d: d["fieldGroups"][0]["fields"].update(_x={"type": "string"}),
            "field name '_x' must start with a letter",
        ),
        (lambda d: d["fieldGroups"][0].update(title="S"), "titles must be unique"),
        (lambda d: d["schemas"][0].update(**{"class": "experienceevent"}), "field group 'G' does not extend"),
    ],
)
def test_a_bad_file_is_refused_with_the_path(change: Any, message: str) -> None:
    data = minimal()
    change(data)
    with pytest.raises(SetupFileError) as caught:
        parse(data, "f.yaml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("f.yaml: ")


def test_fields_render_as_xdm_with_their_keywords() -> None:
    setup = parse(minimal())
    group = load(EXAMPLE).field_groups[1]
    call = group.fields["call"].xdm("call")
    assert call["type"] == "object"
    assert call["title"] == "Call"
    assert call["properties"]["durationSeconds"] == {
        "title": "Duration in seconds",
        "type": "integer",
        "minimum": 0.0,
    }
    assert call["properties"]["direction"]["enum"] == ["inbound", "outbound"]
    assert setup.schemas[0].primary_identity is not None
    assert setup.schemas[0].primary_identity.source_property("acme") == "/_acme/phone"


def test_field_diff_adds_what_is_missing_and_reports_what_it_cannot_fix() -> None:
    desired = {
        "a": {"type": "string"},
        "o": {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "string"}}},
        "t": {"type": "string", "format": "date-time"},
    }
    actual = {
        "o": {"type": "object", "properties": {"x": {"type": "string"}}},
        "t": {"type": "string"},
        "kept": {"type": "boolean"},
    }
    operations, drift = field_diff(desired, actual, "/p")
    assert operations == [
        {"op": "add", "path": "/p/a", "value": {"type": "string"}},
        {"op": "add", "path": "/p/o/properties/y", "value": {"type": "string"}},
    ]
    assert drift == [
        "field o.x is string in AEP, integer in the file",
        "field t has format None in AEP, date-time in the file",
    ]


def test_the_cli_refuses_a_bad_file_and_a_missing_platform(tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"datasets": [{"name": "D"}]}')
    assert main(["plan", str(bad)], {}) == 1
    assert "datasets[0].schema: Field required" in capsys.readouterr().err
    good = tmp_path / "good.json"
    good.write_text('{"namespaces": []}')
    assert main(["plan", str(good)], {}) == 1
    assert "set AEP_IMS_URL, AEP_PLATFORM_URL" in capsys.readouterr().err
