"""The lookup API in the template: IAM on every route (in the translated template), the function's own
role, throttling, access logs without identity values, the gateway's errors in our shape, alarms, output."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from profile_lookup.openapi import DOCUMENT
from tests.support.template import cached_template, cached_translation

ROUTES = {
    ("/profiles/{namespace}/{id}", "get"),
    ("/profiles/{namespace}/{id}/events", "get"),
    ("/profiles/lookup", "post"),
    ("/tenants/{tenant}/profiles/{namespace}/{id}", "get"),
    ("/tenants/{tenant}/profiles/{namespace}/{id}/events", "get"),
    ("/tenants/{tenant}/profiles/lookup", "post"),
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cached_template()


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return cached_translation()


def rest_api(translated: dict[str, Any]) -> dict[str, Any]:
    return dict(translated["Resources"]["LookupApi"]["Properties"]["Body"])


def test_every_route_of_the_translated_api_requires_iam(translated):
    body = rest_api(translated)
    routes = {(path, method) for path, methods in body["paths"].items() for method in methods}

    assert routes == ROUTES
    for path, method in ROUTES:
        operation = body["paths"][path][method]
        assert operation["security"] == [{"AWS_IAM": []}], (path, method)
        # API Gateway invokes the function with its own permission, not with the caller's credentials.
        assert "credentials" not in operation["x-amazon-apigateway-integration"], (path, method)
    scheme = body["components"]["securitySchemes"]["AWS_IAM"]
    assert scheme["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_the_template_routes_are_the_routes_of_the_openapi_document(translated):
    documented = json.loads(DOCUMENT.read_text())["paths"]

    assert {(p, m) for p, methods in documented.items() for m in methods} == ROUTES


def test_the_gateway_may_invoke_the_function_from_this_api_only(translated):
    permissions = [
        r["Properties"]
        for r in translated["Resources"].values()
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"]["FunctionName"] == {"Ref": "ProfileLookupFunction"}
    ]

    assert len(permissions) == len(ROUTES)
    for permission in permissions:
        assert permission["Principal"] == "apigateway.amazonaws.com"
        arn, names = permission["SourceArn"]["Fn::Sub"]
        assert arn.startswith("arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}/")
        assert names["__ApiId__"] == {"Ref": "LookupApi"}


def test_the_stage_is_throttled_traced_and_logs_access_without_identity_values(translated):
    stage = next(
        r["Properties"]
        for r in translated["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::Stage" and r["Properties"]["RestApiId"] == {"Ref": "LookupApi"}
    )

    assert stage["StageName"] == "v1"
    assert stage["TracingEnabled"] is True
    [setting] = stage["MethodSettings"]
    assert setting["ThrottlingRateLimit"] == {"Ref": "LookupThrottleRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "LookupThrottleBurstLimit"}
    assert setting["DataTraceEnabled"] is False  # would log request bodies: identities
    log = stage["AccessLogSetting"]
    assert log["DestinationArn"] == {"Fn::GetAtt": ["LookupAccessLogGroup", "Arn"]}
    fields = json.loads(log["Format"])
    assert {"requestId", "resourcePath", "status", "responseLatency"} <= set(fields)
    used = set(re.findall(r"\$context\.([\w.]+)", log["Format"]))
    for leaking in ("path", "resourceId", "identity.sourceIp", "requestOverride", "error.message"):
        assert leaking not in used


def test_the_gateway_s_own_errors_come_in_our_error_shape(template):
    responses = template["Resources"]["LookupApi"]["Properties"]["GatewayResponses"]

    assert {"UNAUTHORIZED", "ACCESS_DENIED", "MISSING_AUTHENTICATION_TOKEN", "THROTTLED"} <= set(responses)
    for name, response in responses.items():
        body = response["ResponseTemplates"]["application/json"]
        filled = body.replace("$context.error.messageString", '"text"').replace("$context.", "")
        error = json.loads(filled)["error"]
        assert set(error) == {"status", "code", "message", "requestId"}, name
        if name == "DEFAULT_4XX":
            assert error["status"] is None
        else:
            assert str(error["status"]) == response["StatusCode"], name


#: Every 4xx response type of API Gateway (REST) and the status it answers by default.
GATEWAY_4XX = {
    "ACCESS_DENIED": "403",
    "BAD_REQUEST_BODY": "400",
    "BAD_REQUEST_PARAMETERS": "400",
    "EXPIRED_TOKEN": "403",
    "INVALID_API_KEY": "403",
    "INVALID_SIGNATURE": "403",
    "MISSING_AUTHENTICATION_TOKEN": "403",
    "QUOTA_EXCEEDED": "429",
    "REQUEST_TOO_LARGE": "413",
    "RESOURCE_NOT_FOUND": "404",
    "THROTTLED": "429",
    "UNAUTHORIZED": "401",
    "UNSUPPORTED_MEDIA_TYPE": "415",
    "WAF_FILTERED": "403",
}


def test_finding_10_each_gateway_4xx_keeps_its_own_status(template):
    responses = template["Resources"]["LookupApi"]["Properties"]["GatewayResponses"]

    assert "StatusCode" not in responses["DEFAULT_4XX"]
    assert {name: responses[name]["StatusCode"] for name in GATEWAY_4XX} == GATEWAY_4XX


def test_finding_9_the_gateway_s_throttling_says_when_to_retry(translated):
    responses = rest_api(translated)["x-amazon-apigateway-gateway-responses"]

    assert responses["THROTTLED"]["responseParameters"] == {"gatewayresponse.header.Retry-After": "'1'"}
    assert responses["THROTTLED"]["statusCode"] == "429"


def test_finding_3_the_lookup_allows_what_ingestion_allows(template):
    lookup = template["Resources"]["ProfileLookupFunction"]["Properties"]["Environment"]["Variables"]
    stream = template["Resources"]["StreamIngestFunction"]["Properties"]["Environment"]["Variables"]

    assert lookup["LOOKUP_IDENTITY_NAMESPACE"] == stream["STREAM_IDENTITY_NAMESPACE"]
    assert lookup["LOOKUP_ALLOWED_NAMESPACES"] == stream["STREAM_ALLOWED_NAMESPACES"]
    assert lookup["LOOKUP_DEFAULT_PHONE_REGION"] == stream["STREAM_DEFAULT_PHONE_REGION"]


def test_the_function_uses_the_layer_the_api_events_and_its_configuration(template):
    function = template["Resources"]["ProfileLookupFunction"]
    variables = function["Properties"]["Environment"]["Variables"]

    assert function["Metadata"]["BuildMethod"] == "makefile"
    assert function["Properties"]["CodeUri"] == "functions/profile_lookup/"
    assert template["Globals"]["Function"]["Layers"] == [{"Ref": "AepLayer"}]
    assert variables["LOOKUP_ALLOWED_NAMESPACES"] == {"Ref": "AllowedNamespaces"}  # ingestion's list
    assert variables["LOOKUP_DEFAULT_PHONE_REGION"] == {"Ref": "DefaultPhoneRegion"}
    assert variables["LOOKUP_DEADLINE_SECONDS"] == {"Ref": "LookupDeadlineSeconds"}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "profile-lookup"
    events = function["Properties"]["Events"].values()
    assert {(e["Properties"]["Path"], e["Properties"]["Method"]) for e in events} == ROUTES
    assert all(e["Properties"]["RestApiId"] == {"Ref": "LookupApi"} for e in events)


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("1.5", True), ("0.3", True), ("25.5", True), ("29", False), ("0", False), ("abc", False)],
)
def test_the_deadline_parameter_stays_under_the_api_timeout(template, value, accepted):
    pattern = template["Parameters"]["LookupDeadlineSeconds"]["AllowedPattern"]

    assert bool(re.fullmatch(pattern, value)) is accepted


def test_the_lookup_role_reads_secrets_and_the_registry_and_nothing_else(translated):
    role = translated["Resources"]["ProfileLookupRole"]
    statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]

    assert [s["Sid"] for s in statements] == [
        "ReadCredentials",
        "ShareToken",
        "ReadTenants",
        "ReadTenantSecrets",
        "ShareTenantTokens",
        "UseConnectorKey",
        "WriteLogs",
        "Tracing",
    ]
    actions = {
        a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert not any(a.startswith(("sqs:", "s3:")) for a in actions)
    assert "dynamodb:BatchGetItem" in actions
    write_logs = next(s for s in statements if s["Sid"] == "WriteLogs")
    assert write_logs["Resource"] == {"Fn::GetAtt": ["ProfileLookupLogGroup", "Arn"]}


def test_alarms_watch_the_api_s_5xx_and_p99_latency(template):
    resources = template["Resources"]
    errors = resources["LookupApi5xxAlarm"]["Properties"]
    latency = resources["LookupApiLatencyAlarm"]["Properties"]

    for alarm in (errors, latency):
        assert alarm["Namespace"] == "AWS/ApiGateway"
        assert alarm["Dimensions"] == [
            {"Name": "ApiName", "Value": resources["LookupApi"]["Properties"]["Name"]},
            {"Name": "Stage", "Value": resources["LookupApi"]["Properties"]["StageName"]},
        ]
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert errors["MetricName"] == "5XXError"
    assert latency["MetricName"] == "Latency"
    assert latency["ExtendedStatistic"] == "p99"
    assert latency["Threshold"] == {"Ref": "LookupLatencyAlarmMilliseconds"}


def test_deploy_prints_the_endpoint_last(template):
    outputs = list(template["Outputs"].items())
    names = [name for name, _ in outputs]

    assert names[-3:] == ["LookupApiUrl", "ProfileLookupRoleArn", "ProfileLookupFunctionName"]
    url = template["Outputs"]["LookupApiUrl"]["Value"]["Fn::Sub"]
    assert url == "https://${LookupApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1"


def test_the_lookup_block_sits_right_before_the_outputs():
    text = (DOCUMENT.parents[2] / "template.yaml").read_text()
    resources = text.index("\nResources:\n")
    block = text.index("  # --- profile lookup ---\n", resources)
    names = re.findall(r"^  (\w+):$", text[block : text.index("\nOutputs:\n")], flags=re.MULTILINE)

    assert names == [
        "LookupAccessLogGroup",
        "LookupApi",
        "ProfileLookupRole",
        "ProfileLookupLogGroup",
        "ProfileLookupFunction",
        "LookupApi5xxAlarm",
        "LookupApiLatencyAlarm",
    ]
