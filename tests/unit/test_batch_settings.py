"""BATCH_* settings and routes: parsed once, every bad value named, never echoed."""

from __future__ import annotations

import json

import pytest

from aep import AepConfigError
from batch_ingest.settings import BatchSettings

DATASET = "65f0c0a1e4b0c1d2e3f40002"
BASE = {
    "BATCH_LEDGER_TABLE": "ledger",
    "BATCH_IDEMPOTENCY_TABLE": "idempotency",
    "BATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/batch",
}


def settings(routes: object, **env: str) -> BatchSettings:
    return BatchSettings.from_env({**BASE, "BATCH_ROUTES": json.dumps(routes), **env})


def test_routes_from_json_with_defaults():
    parsed = settings(
        [
            {"prefix": "calls/", "dataset_id": DATASET},
            {"prefix": "b/", "tenant": "brand-b", "dataset_id": DATASET, "record_class": "profile"},
        ]
    )

    first, second = parsed.routes
    assert (first.tenant, first.record_class, first.mapping) == ("default", "experienceevent", None)
    assert (second.tenant, second.rules.record_class) == ("brand-b", "profile")
    assert parsed.reports_prefix == "_reports/"
    assert parsed.single_put_max_bytes == 256 * 1024 * 1024
    assert parsed.chunk_bytes <= 512_000_000


def test_no_route_is_a_valid_deployment_that_refuses_every_file():
    assert settings([]).routes == ()


@pytest.mark.parametrize(
    ("routes", "env", "named"),
    [
        ("not json", {}, "BATCH_ROUTES"),
        ([{"prefix": "calls/"}], {}, "routes.0.dataset_id"),
        ([{"prefix": "calls/", "dataset_id": "short"}], {}, "routes.0.dataset_id"),
        ([{"prefix": "../x/", "dataset_id": DATASET}], {}, "routes.0.prefix"),
        ([{"prefix": "/x/", "dataset_id": DATASET}], {}, "routes.0.prefix"),
        (
            [{"prefix": "a/", "dataset_id": DATASET}, {"prefix": "a/", "dataset_id": DATASET}],
            {},
            "BATCH_ROUTES",
        ),
        ([{"prefix": "_reports/x/", "dataset_id": DATASET}], {}, "BATCH_ROUTES"),
        ([{"prefix": "a/", "dataset_id": DATASET, "identity_field": "x.y"}], {}, "identity_namespace"),
        ([{"prefix": "a/", "dataset_id": DATASET, "tenant": "Brand B"}], {}, "routes.0.tenant"),
        ([{"prefix": "a/", "dataset_id": DATASET, "mapping": {"columns": 3}}], {}, "BATCH_ROUTES"),
        ([], {"BATCH_CHUNK_BYTES": "512000001"}, "BATCH_CHUNK_BYTES"),
        ([], {"BATCH_SINGLE_PUT_MAX_BYTES": "300000000"}, "BATCH_SINGLE_PUT_MAX_BYTES"),
        ([], {"BATCH_REPORTS_PREFIX": "reports"}, "BATCH_REPORTS_PREFIX"),
        ([], {"BATCH_QUEUE_URL": "http://x"}, "BATCH_QUEUE_URL"),
    ],
)
def test_bad_configuration_names_the_variable(routes, env, named):
    with pytest.raises(AepConfigError) as caught:
        settings(routes, **env) if not isinstance(routes, str) else BatchSettings.from_env(
            {**BASE, "BATCH_ROUTES": routes, **env}
        )

    assert named in str(caught.value)


def test_required_variables():
    with pytest.raises(AepConfigError) as caught:
        BatchSettings.from_env({})

    message = str(caught.value)
    for name in ("BATCH_ROUTES", "BATCH_LEDGER_TABLE", "BATCH_IDEMPOTENCY_TABLE", "BATCH_QUEUE_URL"):
        assert f"{name} is required" in message
