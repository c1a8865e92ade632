"""`make invoke FUNCTION=... EVENT=...` runs a sample event through one handler offline and prints its
answer: run its entry point (``python -m stack.invoke``) as the Makefile does."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from stack.invoke import invoke_sample
from stack.stack import LocalStack, Options
from stack.template import TEMPLATE
from tests.e2e.processes import run
from tests.support.events import load_event
from tests.support.template import ROOT

pytestmark = pytest.mark.integration

#: The trigger each function's sample event stands for, by the template's event type.
SAMPLES = {"SQS": "sqs-", "Schedule": "eventbridge-", "Api": "apigw-"}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """One local stack for the samples of this module, as ``make invoke`` stands it up."""
    with LocalStack(Options(triggers=False)) as running:
        yield running


def invoke(stack: LocalStack, function: str, sample: str) -> tuple[int, Any, list[str]]:
    said: list[str] = []
    status, answer = invoke_sample(stack, function, load_event(sample), f"events/{sample}", said.append)
    return status, answer, said


def admin(stack: LocalStack, what: str) -> Any:
    """The emulator's admin view ``/_admin/{what}``: what AEP received."""
    assert stack.emulator is not None
    with urllib.request.urlopen(f"{stack.emulator.url}/_admin/{what}") as answer:
        return json.loads(answer.read())


def test_the_xdm_sample_is_accepted_with_its_envelope_rewritten_to_the_local_setups(stack):
    dataset = stack.parameters["StreamDatasetId"]
    before = admin(stack, "streamed")["accepted"].get(dataset, 0)

    status, answer, said = invoke(stack, "stream_ingest", "sqs-xdm-message.json")

    assert (status, answer) == (0, {"batchItemFailures": []})
    rewrite = f"header.datasetId 65f0c0a1e4b0c1d2e3f40002 -> {dataset}"
    assert f"the sample names the deployed stack's resources: {rewrite} (the local stack's)" in said
    # accepted by the inlet, not dead-lettered by the function (which also leaves no batchItemFailures)
    streamed = admin(stack, "streamed")
    assert streamed["accepted"][dataset] == before + 1
    assert streamed["failed"] == []


def test_the_batch_sample_finds_its_object_and_a_batch_is_created(stack):
    status, answer, said = invoke(stack, "batch_ingest", "s3-notification-in-sqs.json")

    assert (status, answer) == (0, {"batchItemFailures": []})
    bucket = stack.output("BatchDropBucketName")
    put = f"put s3://{bucket}/calls/2025-01-15/call events.ndjson.gz"
    assert any(line.startswith(f"the sample's object is not in the local bucket: {put}") for line in said), (
        said
    )
    routes = json.loads(stack.parameters["BatchRoutes"])
    calls_dataset = next(route["dataset_id"] for route in routes if route["prefix"] == "calls/")
    batches = [b for b in admin(stack, "batches") if b["datasetId"] == calls_dataset]
    assert [b["status"] for b in batches] == ["success"]


def test_the_lookup_sample_finds_its_caller_streamed_first_and_answers_200_with_the_profile(stack):
    status, answer, said = invoke(stack, "profile_lookup", "apigw-profile-lookup.json")

    assert status == 0, answer
    assert answer["statusCode"] == 200, answer
    profile = json.loads(answer["body"])
    assert {"namespace": "Phone", "id": "+14155550100"} in profile["identities"]
    assert said[0].startswith("setup leaves no profile: one call of the sample's caller goes through")


def test_the_lookup_sample_event_goes_through_make_invoke_and_its_answer_is_printed():
    invoked = run("-m", "stack.invoke", "profile_lookup", "events/apigw-profile-lookup.json", timeout=90)
    answer = json.loads(invoked.stdout)

    assert invoked.returncode == 0, invoked.stderr
    assert answer["statusCode"] == 200
    assert "invoking ProfileLookupFunction with events/apigw-profile-lookup.json" in invoked.stderr


def test_an_unknown_function_is_refused_with_the_templates_list():
    invoked = run("-m", "stack.invoke", "nope", "events/eventbridge-schedule.json", timeout=90)

    assert invoked.returncode == 2
    assert "no function 'nope' in the template; it has StreamIngestFunction (stream_ingest)" in invoked.stderr
    assert invoked.stdout == ""


def test_every_trigger_of_the_template_has_a_sample_event():
    triggers = set(re.findall(r"^ +Type: (SQS|Schedule|Api)\b", TEMPLATE.read_text(), re.MULTILINE))
    events = [path.name for path in (ROOT / "events").glob("*.json")]

    assert triggers == set(SAMPLES)
    for kind in triggers:
        assert any(name.startswith(SAMPLES[kind]) for name in events), kind
