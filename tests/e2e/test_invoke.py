"""`make invoke FUNCTION=... EVENT=...` runs a sample event through one handler offline and prints its
answer: run its entry point (``python -m stack.invoke``) as the Makefile does."""

from __future__ import annotations

import json
import re

import pytest

from stack.template import TEMPLATE
from tests.e2e.processes import run
from tests.support.template import ROOT

pytestmark = pytest.mark.integration

#: The trigger each function's sample event stands for, by the template's event type.
SAMPLES = {"SQS": "sqs-", "Schedule": "eventbridge-", "Api": "apigw-"}


def test_the_lookup_sample_event_goes_through_the_handler_and_its_answer_is_printed():
    invoked = run("-m", "stack.invoke", "profile_lookup", "events/apigw-profile-lookup.json", timeout=90)
    answer = json.loads(invoked.stdout)

    assert invoked.returncode == 0, invoked.stderr
    # the sandbox has the setup's datasets but no profile yet: the function's own 404, through the handler
    assert answer["statusCode"] == 404
    assert json.loads(answer["body"])["error"]["code"] == "not-found"
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
