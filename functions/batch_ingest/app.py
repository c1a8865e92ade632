"""S3 drops (via SQS) -> AEP batches. The handler only adapts the event; see batch_ingest/ for the logic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from aep.logs import protect_logs, structured_logs
from batch_ingest.service import handle, logger

protect_logs()
#: Every logger of the layer and of batch_ingest/ logs JSON via the Powertools logger
STRUCTURED = structured_logs(logger, "batch_ingest")
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context, metrics)
