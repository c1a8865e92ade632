"""Step 3: the IVR asks the lookup API, over HTTP, for the caller's unified profile: the stack serves the
template's API routes on a local port in API Gateway's REST event format (an IAM caller the function
admits), the caller's number dialled in national format."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from demo.cast import CALLERS_IN_STORY, CALLS_EACH, HISTORY_EACH, Caller, dialled, say

FIELDS = "person.name.firstName,_acme.tier,_acme.phone"


@dataclass(frozen=True)
class Answer:
    """What the API answered, and how long the HTTP request took (milliseconds, the client's view)."""

    status: int
    body: dict[str, Any]
    latency_ms: float


def get(api_url: str, path: str) -> Answer:
    """One GET over a fresh connection, as an IVR backend's request would be."""
    where = urlsplit(api_url)
    connection = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=30)
    try:
        started = time.perf_counter()
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        raw = response.read()
        latency_ms = (time.perf_counter() - started) * 1000
    finally:
        connection.close()
    return Answer(response.status, json.loads(raw) if raw else {}, latency_ms)


def profile_path(caller: Caller, stage: str, *, events: bool = False) -> str:
    written = quote(dialled(caller.phone), safe="")
    if events:
        return f"/{stage}/profiles/Phone/{written}/events?limit=20"
    return f"/{stage}/profiles/Phone/{written}?fields={FIELDS}"


def described(answer: Answer) -> str:
    """The answer as the IVR reads it: who to greet, the tier, whether it came from the cache."""
    if answer.status != 200:
        return f"{answer.status} {answer.body.get('error', {}).get('code')} in {answer.latency_ms:.1f} ms"
    attributes = answer.body["attributes"]
    label = attributes.get("person", {}).get("name", {}).get("firstName")
    tier = attributes.get("_acme", {}).get("tier")
    return (
        f"200 in {answer.latency_ms:.1f} ms: profile {answer.body['profileId']}, greet {label!r} ({tier}), "
        f"cached: {str(answer.body['cached']).lower()}"
    )


def answer_problem(caller: Caller, answer: Answer, *, cached: bool) -> str | None:
    """Why the answer is not the caller's profile (its label and tier, from the cache or not), or None."""
    if answer.status != 200:
        return f"the lookup API answered {caller.label} with {described(answer)}"
    attributes = answer.body["attributes"]
    got = (
        attributes.get("person", {}).get("name", {}).get("firstName"),
        attributes.get("_acme", {}).get("tier"),
        answer.body.get("cached"),
    )
    if got != (caller.label, caller.tier, cached):
        return f"the lookup API answered {caller.label} with (name, tier, cached) {got}"
    return None


def look_up(api_url: str, stage: str, problems: list[str]) -> list[Answer]:
    """Each caller as the IVR dialled it, the first one's unified profile and past calls printed, then
    the first again (from the function's cache). Returns the profile answers, in that order."""
    answers: list[Answer] = []
    asked: list[tuple[Caller, bool]] = [(c, False) for c in CALLERS_IN_STORY] + [(CALLERS_IN_STORY[0], True)]
    for n, (caller, again) in enumerate(asked):
        path = profile_path(caller, stage)
        answer = get(api_url, path)
        answers.append(answer)
        if again:
            say("   the same caller rings again moments later:")
        say(f"   GET {path}")
        say(f"      {described(answer)}")
        problem = answer_problem(caller, answer, cached=again)
        if problem:
            problems.append(problem)
        if n == 0 and answer.status == 200:
            say(
                "      the unified profile: "
                + json.dumps({k: answer.body[k] for k in ("identities", "attributes")}, sort_keys=True)
            )
            events = get(api_url, profile_path(caller, stage, events=True))
            calls = len(events.body.get("events", [])) if events.status == 200 else None
            say(f"   GET {profile_path(caller, stage, events=True)}")
            say(f"      {events.status} in {events.latency_ms:.1f} ms: {calls} past calls")
            if calls != HISTORY_EACH + CALLS_EACH:
                problems.append(
                    f"{caller.label} has {calls} past calls, expected {HISTORY_EACH + CALLS_EACH}"
                )
    return answers
