"""Key rules: a notification's key decoded once, unsafe keys refused, our reports ignored, routes chosen."""

from __future__ import annotations

import pytest

from aep.errors import AepConfigError
from batch_ingest.keys import decode_key, judge_key
from batch_ingest.routes import Route, route_for

DATASET = "65f0c0a1e4b0c1d2e3f40002"
OTHER = "65f0c0a1e4b0c1d2e3f40001"
ROUTES = (
    Route(prefix="calls/", dataset_id=DATASET),
    Route(prefix="calls/brand-b/", tenant="brand-b", dataset_id=OTHER),
)


def judge(raw: str):
    return judge_key(raw, ROUTES, ("_reports/", "_ingested/"))


def test_a_key_is_decoded_exactly_once_plus_as_space():
    decision = judge("calls/day+1/a%2520b%C3%A9.ndjson")

    assert decision.verdict == "accepted"
    assert decision.key == "calls/day 1/a%20bé.ndjson"  # %25 -> '%', and no second decoding


def test_the_decoded_key_is_not_unicode_normalised():
    # "e" + combining acute (NFD) stays NFD: S3 holds exactly these bytes.
    decision = judge("calls/cafe%CC%81.json")

    assert decision.key == "calls/cafe\u0301.json"
    assert decision.key != "calls/caf\u00e9.json"


def test_the_longest_prefix_wins():
    assert judge("calls/brand-b/x.csv").route == ROUTES[1]
    assert judge("calls/brand-c/x.csv").route == ROUTES[0]
    assert route_for(ROUTES, "calls") is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("calls/../secrets/x.json", "'.' or '..' segment"),
        ("calls/./x.json", "'.' or '..' segment"),
        ("calls/x/..", "'.' or '..' segment"),
        ("calls/%2E%2E/x.json", "'.' or '..' segment"),  # encoded dots, decoded once
        ("calls/%252E%252E%252Fx.json", "once decoded again"),  # literally "%2E%2E%2F"
        ("calls/a%252F..%252Fb.json", "once decoded again"),
        ("%2Fcalls/x.json", "empty segment"),
        ("calls/x%0A.json", "control character"),
        ("calls/x%7F.json", "control character"),
        ("calls/x%00.json", "control character"),
        ("calls/x%FF.json", "not URL-encoded UTF-8"),
        ("calls/%zz.ndjson", "invalid percent escape"),  # S3 never sends it: no object has that key
        ("calls/x%4.ndjson", "invalid percent escape"),
        ("calls/x%", "invalid percent escape"),
        ("elsewhere/x.json", "no route matches"),
    ],
)
def test_unsafe_or_unrouted_keys_are_refused_with_their_reason(raw, reason):
    decision = judge(raw)

    assert decision.verdict == "refused"
    assert reason in (decision.reason or "")
    assert decision.route is None


def test_dots_inside_a_segment_are_fine():
    assert judge("calls/..x/y..json").verdict == "accepted"
    assert judge("calls/100%25.json").verdict == "accepted"  # a literal % arrives as %25
    assert judge("calls/a.b.c.json.gz").verdict == "accepted"


@pytest.mark.parametrize("key", ["_reports/calls/x.json.report.json", "_ingested/calls/x.json"])
def test_keys_under_the_reports_or_ingested_prefix_are_ignored_not_refused(key):
    decision = judge(key)

    assert decision.verdict == "ignored"
    assert decision.route is None


def test_the_ingested_files_prefix_is_a_setting_routes_may_not_lie_under(monkeypatch):
    from batch_ingest.settings import BatchSettings

    base = {
        "BATCH_ROUTES": '[{"prefix": "moved/calls/", "dataset_id": "65f0c0a1e4b0c1d2e3f40002"}]',
        "BATCH_LEDGER_TABLE": "ledger",
        "BATCH_IDEMPOTENCY_TABLE": "idem",
        "BATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
    }
    assert BatchSettings.from_env(base).ignored_prefixes == ("_reports/", "_ingested/")
    with pytest.raises(AepConfigError, match="must not route keys under moved/"):
        BatchSettings.from_env({**base, "BATCH_SUCCESS_PREFIX": "moved/"})


def test_decode_key_refuses_invalid_utf8():
    with pytest.raises(UnicodeDecodeError):
        decode_key("x%C3")
