from __future__ import annotations

import subprocess

import pytest

from tests.support.template import ROOT, TEMPLATE, cached_template, cached_translation


@pytest.fixture(scope="module")
def template():
    return cached_template()


@pytest.fixture(scope="module")
def translated():
    return cached_translation()


def test_cfn_lint_reports_no_error_or_warning():
    from cfnlint.api import lint_all

    matches = lint_all(TEMPLATE.read_text())

    assert [str(m) for m in matches if m.rule.id[0] in "EW"] == []


def test_layer_is_built_for_python313_arm64_with_makefile(template):
    layer = template["Resources"]["AepLayer"]

    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert template["Globals"]["Function"]["Runtime"] == "python3.13"
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]


def test_secrets_are_encrypted_with_the_stack_key(translated):
    resources = translated["Resources"]
    secrets = {name: r for name, r in resources.items() if r["Type"] == "AWS::SecretsManager::Secret"}

    assert set(secrets) == {"AepCredentialsSecret", "AepTokenSecret"}
    for secret in secrets.values():
        assert secret["Properties"]["KmsKeyId"] == {"Ref": "AepKey"}
    assert resources["AepKey"]["Properties"]["EnableKeyRotation"] is True


def test_every_aep_variable_reaches_the_functions(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]

    for name in (
        "AEP_CREDENTIALS_SECRET_ID",
        "AEP_TOKEN_SECRET_ID",
        "AEP_SANDBOX_NAME",
        "AEP_IMS_URL",
        "AEP_PLATFORM_URL",
        "AEP_STREAMING_URL",
        "AEP_TENANTS_TABLE",
    ):
        assert name in variables


def test_template_transforms_to_cloudformation(translated):
    types = {r["Type"] for r in translated["Resources"].values()}

    assert "AWS::Lambda::LayerVersion" in types
    assert "Transform" not in translated


def test_stream_queue_is_encrypted_with_a_redrive_and_a_long_enough_visibility(template):
    resources = template["Resources"]
    queue = resources["StreamQueue"]["Properties"]
    function_timeout = resources["StreamIngestFunction"]["Properties"]["Timeout"]

    assert queue["KmsMasterKeyId"] == {"Ref": "AepKey"}
    assert resources["StreamDeadLetterQueue"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AepKey"}
    assert queue["VisibilityTimeout"] >= 6 * function_timeout
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["StreamDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "StreamMaxReceiveCount"},
    }


def test_stream_event_source_reports_partial_failures_and_caps_concurrency(translated):
    mapping = translated["Resources"]["StreamIngestFunctionRecords"]

    assert mapping["Type"] == "AWS::Lambda::EventSourceMapping"
    assert "Condition" not in mapping
    assert mapping["Properties"] == {
        "BatchSize": {"Ref": "StreamBatchSize"},
        "EventSourceArn": {"Fn::GetAtt": ["StreamQueue", "Arn"]},
        "FunctionName": {"Ref": "StreamIngestFunction"},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "MaximumBatchingWindowInSeconds": {"Ref": "StreamBatchingWindowSeconds"},
        "ScalingConfig": {"MaximumConcurrency": {"Ref": "StreamMaxConcurrency"}},
    }


def test_alarms_watch_the_dlq_errors_and_backlog(template):
    alarms = {
        name: r["Properties"]
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }

    watched = {
        name: (a["MetricName"], a["Dimensions"][0]["Value"], template["Resources"][name].get("Condition"))
        for name, a in alarms.items()
    }

    assert watched == {
        "StreamDeadLetterAlarm": (
            "ApproximateNumberOfMessagesVisible",
            {"Fn::GetAtt": ["StreamDeadLetterQueue", "QueueName"]},
            None,
        ),
        "StreamErrorsAlarm": ("Errors", {"Ref": "StreamIngestFunction"}, None),
        "StreamQueueAgeAlarm": (
            "ApproximateAgeOfOldestMessage",
            {"Fn::GetAtt": ["StreamQueue", "QueueName"]},
            None,
        ),
        "StreamFifoDeadLetterAlarm": (
            "ApproximateNumberOfMessagesVisible",
            {"Fn::GetAtt": ["StreamFifoDeadLetterQueue", "QueueName"]},
            "UseFifo",
        ),
        "StreamFifoErrorsAlarm": ("Errors", {"Ref": "StreamFifoIngestFunction"}, "UseFifo"),
        "StreamFifoQueueAgeAlarm": (
            "ApproximateAgeOfOldestMessage",
            {"Fn::GetAtt": ["StreamFifoQueue", "QueueName"]},
            "UseFifo",
        ),
        "StreamTenantConfigAlarm": ("TenantConfigErrors", "stream-ingest", None),
        "StreamLaneFailuresAlarm": ("LaneFailures", "stream-ingest", None),
        "StreamFifoTenantConfigAlarm": ("TenantConfigErrors", "stream-fifo-ingest", "UseFifo"),
        "StreamFifoLaneFailuresAlarm": ("LaneFailures", "stream-fifo-ingest", "UseFifo"),
        "BatchDeadLetterAlarm": (
            "ApproximateNumberOfMessagesVisible",
            {"Fn::GetAtt": ["BatchDeadLetterQueue", "QueueName"]},
            None,
        ),
        "BatchErrorsAlarm": ("Errors", {"Ref": "BatchIngestFunction"}, None),
        "BatchFilesRefusedAlarm": ("FilesRefused", "batch-ingest", None),
        "BatchFollowErrorsAlarm": ("Errors", {"Ref": "BatchFollowFunction"}, None),
        "BatchFailedAlarm": ("BatchFailed", "batch-follow", None),
        "BatchPartialAlarm": ("BatchPartial", "batch-follow", None),
        "BatchStuckAlarm": ("BatchStuck", "batch-follow", None),
        "StreamRecordsFailedInAepAlarm": ("StreamRecordsFailedInAep", "batch-follow", None),
        "BatchFollowStepErrorsAlarm": ("FollowErrors", "batch-follow", None),
        "LookupApi5xxAlarm": ("5XXError", {"Fn::Sub": "${AWS::StackName}-lookup"}, None),
        "LookupApiLatencyAlarm": ("Latency", {"Fn::Sub": "${AWS::StackName}-lookup"}, None),
    }
    functions = template["Resources"]
    services = {
        functions[f]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for f in (
            "StreamIngestFunction",
            "StreamFifoIngestFunction",
            "BatchIngestFunction",
            "BatchFollowFunction",
        )
    }
    # the custom metrics' service dimension
    assert services == {"stream-ingest", "stream-fifo-ingest", "batch-ingest", "batch-follow"}
    custom = [a for a in alarms.values() if a["Namespace"] == "AepConnector"]
    assert len(custom) == 10
    assert all(a["Dimensions"][0]["Name"] == "service" for a in custom)
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())


def test_function_environment_and_logs_are_encrypted_with_the_stack_key(template):
    resources = template["Resources"]

    for function, log_group in (
        ("StreamIngestFunction", "StreamIngestLogGroup"),
        ("StreamFifoIngestFunction", "StreamFifoIngestLogGroup"),
        ("BatchIngestFunction", "BatchIngestLogGroup"),
        ("BatchFollowFunction", "BatchFollowLogGroup"),
        ("ProfileLookupFunction", "ProfileLookupLogGroup"),
    ):
        assert resources[function]["Properties"]["KmsKeyArn"] == {"Fn::GetAtt": ["AepKey", "Arn"]}
        assert resources[log_group]["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["AepKey", "Arn"]}
    sids = {s["Sid"] for s in resources["AepKey"]["Properties"]["KeyPolicy"]["Statement"]}
    assert "EncryptedLogGroups" in sids


def test_every_resource_built_by_makefile_has_its_build_target(template):
    built = {
        name: r["Properties"].get("CodeUri") or r["Properties"]["ContentUri"]
        for name, r in template["Resources"].items()
        if r.get("Metadata", {}).get("BuildMethod") == "makefile"
    }

    assert set(built) == {
        "AepLayer",
        "StreamIngestFunction",
        "StreamFifoIngestFunction",
        "BatchIngestFunction",
        "BatchFollowFunction",
        "AepSetupFunction",
        "ProfileLookupFunction",
    }
    for name, uri in built.items():
        planned = subprocess.run(  # noqa: S603 - make, on the repository's own Makefiles
            ["make", "-n", "-C", str(ROOT / uri), f"build-{name}", "ARTIFACTS_DIR=/nonexistent"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        assert planned.returncode == 0, (name, planned.stderr)


def test_every_function_that_sends_records_checks_them_against_the_schema_the_deployment_chose(translated):
    functions = {
        name: r["Properties"]
        for name, r in translated["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Handler"] == "app.lambda_handler"
        and (
            "STREAM_INLET_ID" in r["Properties"]["Environment"]["Variables"]
            or "BATCH_ROUTES" in r["Properties"]["Environment"]["Variables"]
        )
    }

    assert {"StreamIngestFunction", "BatchIngestFunction"} <= set(functions)
    for name, properties in functions.items():
        assert properties["Environment"]["Variables"]["AEP_SCHEMA_VALIDATION"] == {
            "Ref": "SchemaValidation"
        }, name
    assert translated["Parameters"]["SchemaValidation"]["Default"] == "required"
