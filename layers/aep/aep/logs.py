"""Logging of the functions: every line structured, and no secret or identity value in any of them.

At DEBUG, botocore logs whole Secrets Manager responses (the shared token) and urllib3 logs request URLs
(a profile lookup carries the caller's phone number in its query). :func:`protect_logs` caps those
loggers at WARNING whatever level the function runs at; every function calls it at start-up.

The layer's modules and the functions' packages log with plain ``logging.getLogger(__name__)``; only a
function's Powertools ``Logger`` writes JSON with the Lambda context (request id, function name, cold
start). :func:`structured_logs` gives those package loggers the Powertools logger's handler, so a line such
as ``file failed, retried later`` comes out as JSON with its ``extra`` fields and the context.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

NOISY_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")

#: The layer's top-level logger: every ``aep.*`` module logs below it.
LAYER_LOGGER = "aep"


def protect_logs() -> None:
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


def structured_logs(logger: Logger, *packages: str) -> tuple[str, ...]:
    """Route the layer's loggers and those of ``packages`` (top-level names, e.g. ``"batch_ingest"``) to
    ``logger``'s handler, at its level, without propagating to the root logger (whose Lambda handler would
    print them a second time, as text). Call it once per container, after the imports. Returns the names
    of the loggers it configured."""
    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers  # noqa: PLC0415

    names = (LAYER_LOGGER, *packages)
    for name in names:
        logging.getLogger(name)  # registered even when no module below it has logged yet
    copy_config_to_registered_loggers(source_logger=logger, include=set(names))
    return names
