"""Keep secrets and identity values out of logs, including third-party libraries' debug output.

At DEBUG, botocore logs whole Secrets Manager responses (the shared token) and urllib3 logs request URLs
(a profile lookup carries the caller's phone number in its query). :func:`protect_logs` caps those
loggers at WARNING whatever level the function runs at; every function calls it at start-up.
"""

from __future__ import annotations

import logging

NOISY_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


def protect_logs() -> None:
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
