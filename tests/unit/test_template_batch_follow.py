"""The batch follow-up in the template: its schedule, its settings, a role that holds what it does."""

from __future__ import annotations

from typing import Any

import pytest

from aep.config import ENVIRONMENT as AEP_ENVIRONMENT
from batch_follow.settings import ENVIRONMENT, FollowSettings
from tests.support.template import cached_template, cached_translation


@pytest.fixture(scope="module")
def template():
    return cached_template()


@pytest.fixture(scope="module")
def translated():
    return cached_translation()


def statements(translated: dict[str, Any]) -> dict[str, dict[str, Any]]:
    role = translated["Resources"]["BatchFollowRole"]
    return {s["Sid"]: s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]}


def test_it_runs_on_a_schedule_every_five_minutes_unless_told_otherwise(template):
    function = template["Resources"]["BatchFollowFunction"]["Properties"]

    assert function["Events"]["Schedule"] == {
        "Type": "Schedule",
        "Properties": {"Schedule": {"Ref": "BatchFollowSchedule"}},
    }
    assert template["Parameters"]["BatchFollowSchedule"]["Default"] == "rate(5 minutes)"
    assert function["ReservedConcurrentExecutions"] == 1  # runs never race for a batch


def test_its_variables_are_the_settings_it_reads_and_they_parse(template):
    variables = template["Resources"]["BatchFollowFunction"]["Properties"]["Environment"]["Variables"]
    own = {k: v for k, v in variables.items() if k != "POWERTOOLS_SERVICE_NAME"}

    assert set(own) <= set(ENVIRONMENT)
    plain = {k: (v if isinstance(v, str) else "resolved-at-deploy") for k, v in own.items()}
    settings = FollowSettings.from_env(plain)
    assert (settings.reports_prefix, settings.on_success, settings.stuck_after_minutes) == (
        "_reports/",
        "tag",
        120.0,
    )
    assert variables["BATCH_LEDGER_TABLE"] == {"Ref": "BatchLedgerTable"}
    assert variables["BATCH_DROP_BUCKET"] == {"Ref": "BatchDropBucket"}
    assert variables["STREAM_DATASET_ID"] == {
        "Fn::If": ["UseAepSetup", {"Fn::GetAtt": ["AepSetup", "DatasetId"]}, {"Ref": "StreamDatasetId"}]
    }
    assert not set(own) & set(AEP_ENVIRONMENT)  # the AEP_* ones come from Globals, as for every function


def test_its_role_reads_and_marks_the_ledger_and_writes_reports_only_under_the_prefix(translated):
    found = statements(translated)

    assert found["FollowLedger"]["Action"] == [
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
    ]
    assert found["FollowLedger"]["Resource"] == [
        {"Fn::GetAtt": ["BatchLedgerTable", "Arn"]},
        {"Fn::Sub": "${BatchLedgerTable.Arn}/index/pending-index"},
    ]
    assert found["WriteReports"] == {
        "Sid": "WriteReports",
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": {"Fn::Sub": "${BatchDropBucket.Arn}/_reports/*"},
    }
    assert found["MoveIngestedFiles"]["Resource"] == {"Fn::Sub": "${BatchDropBucket.Arn}/_ingested/*"}
    assert found["ReadTenants"]["Action"] == ["dynamodb:BatchGetItem", "dynamodb:Scan"]
    assert found["ReadTenants"]["Resource"] == {"Fn::GetAtt": ["TenantsTable", "Arn"]}
    every_action = {
        a for s in found.values() for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    for never in (
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "s3:DeleteBucket",
        "sqs:SendMessage",
    ):
        assert never not in every_action
