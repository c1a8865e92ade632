"""The Lambda handler: Powertools' logger and metrics around the resolver (see :mod:`profile_lookup.api`)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from aep.logs import protect_logs
from profile_lookup.api import app
from profile_lookup.telemetry import observe

protect_logs()
logger = Logger(service="profile-lookup")
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return observe(app, event, context, logger, metrics)
