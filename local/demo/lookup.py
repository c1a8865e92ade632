"""Step 3: the IVR asks the lookup API for the caller's unified profile, the function's handler invoked
with the REST event API Gateway sends (an IAM-signed caller in its request context), as Lambda would."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import quote

from demo.cast import CALLERS_IN_STORY, HOME_REGION, Caller, dialled, say
from demo.lambdas import DemoContext, environment

IVR_ROLE = "arn:aws:iam::123456789012:role/aep-connector-demo-ivr-backend"
IVR_SESSION = "arn:aws:sts::123456789012:assumed-role/aep-connector-demo-ivr-backend/call-1"
FIELDS = "person.name.firstName,_acme.tier"
STAGE = "v1"


@dataclass(frozen=True)
class Answer:
    """What the handler answered, and how long it took (milliseconds, the handler's own time)."""

    status: int
    body: dict[str, Any]
    latency_ms: float


def lookup_environment() -> dict[str, str]:
    """The lookup function's variables, as the template sets them from its parameters' defaults; the
    IVR's role may read the default tenant (LookupDefaultTenantPrincipals)."""
    return {
        "POWERTOOLS_SERVICE_NAME": "profile-lookup",
        "LOOKUP_DEADLINE_SECONDS": "1.5",
        "LOOKUP_CACHE_TTL_SECONDS": "60",
        "LOOKUP_DEFAULT_FIELDS": "",
        "LOOKUP_ALLOWED_NAMESPACES": "Phone,Email,ECID,CRMID",
        "LOOKUP_DEFAULT_PHONE_REGION": HOME_REGION,
        "LOOKUP_DEFAULT_TENANT_PRINCIPALS": IVR_ROLE,
    }


def profile_request(namespace: str, value: str, query: dict[str, str], n: int) -> dict[str, Any]:
    """``GET /profiles/{namespace}/{id}`` as API Gateway (REST, proxy integration) hands it to the
    function: the id percent-encoded by the caller, the signed caller's ARN in the request context."""
    path = f"/profiles/{namespace}/{quote(value, safe='')}"
    resource = "/profiles/{namespace}/{id}"
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "Accept": "application/json"}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "pathParameters": {"namespace": namespace, "id": value},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "GET",
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "requestId": f"demo-lookup-{n:04d}",
            "accountId": "123456789012",
            "apiId": "abc123",
            "identity": {"userArn": IVR_SESSION, "caller": None, "apiKeyId": None, "sourceIp": "192.0.2.10"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def request_line(event: dict[str, Any]) -> str:
    query = "&".join(f"{k}={v}" for k, v in (event["queryStringParameters"] or {}).items())
    return f"GET /{STAGE}{event['path']}" + (f"?{query}" if query else "")


def invoke(function: ModuleType, event: dict[str, Any]) -> Answer:
    started = time.perf_counter()
    response = function.lambda_handler(event, DemoContext("profile-lookup", timeout_seconds=28))
    latency_ms = (time.perf_counter() - started) * 1000
    return Answer(int(response["statusCode"]), json.loads(response["body"]), latency_ms)


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


def look_up(function: ModuleType, problems: list[str]) -> list[Answer]:
    """Each caller as the IVR dialled it, then the first again (from the function's cache). Returns the
    answers, in that order."""
    answers: list[Answer] = []
    asked: list[tuple[Caller, bool]] = [(c, False) for c in CALLERS_IN_STORY] + [(CALLERS_IN_STORY[0], True)]
    with environment(lookup_environment()):
        for n, (caller, again) in enumerate(asked):
            event = profile_request("Phone", dialled(caller.phone, HOME_REGION), {"fields": FIELDS}, n)
            answer = invoke(function, event)
            answers.append(answer)
            if again:
                say("   the same caller rings again moments later:")
            say(f"   {request_line(event)}")
            say(f"      {described(answer)}")
            problem = answer_problem(caller, answer, cached=again)
            if problem:
                problems.append(problem)
    return answers
