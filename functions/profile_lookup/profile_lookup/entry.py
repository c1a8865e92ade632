"""The Lambda handler: Powertools' logger and metrics around the request (see :mod:`profile_lookup.api`)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from aep.logs import protect_logs, structured_logs
from profile_lookup.settings import refuse_event_logging

# Before anything logs: a switch that would print whole events (identity values) stops the start.
refuse_event_logging(os.environ)

from profile_lookup.api import handle  # noqa: E402 - after the check
from profile_lookup.telemetry import observe  # noqa: E402

protect_logs()
# name: the module that logged, kept by every invocation's clear_state (aep.logs.structured_logs)
logger = Logger(service="profile-lookup", name="%(name)s")
#: Every logger of the layer and of profile_lookup/ writes through ``logger``: JSON, extra fields, context.
STRUCTURED = structured_logs(logger, "profile_lookup")
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True, log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return observe(handle, event, context, logger, metrics)
