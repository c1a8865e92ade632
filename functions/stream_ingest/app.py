"""SQS -> AEP streaming ingestion. The handler only adapts the event; see stream_ingest/ for the logic."""

from __future__ import annotations

import gc
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from aep.logs import protect_logs, structured_logs
from stream_ingest.service import handle, logger

protect_logs()
#: Every logger of the layer and of stream_ingest/ logs JSON via the Powertools logger
STRUCTURED = structured_logs(logger, "stream_ingest")
metrics = Metrics()
# Everything imported so far lives as long as the container: keep it out of the cyclic GC's scans.
gc.freeze()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context, metrics)
