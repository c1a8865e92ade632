"""The shared Adobe Experience Platform client of the Lambda layer."""

from aep.client import AepClient, load_credentials, reset_shared_client, shared_client
from aep.config import AepCredentials, AepSettings
from aep.errors import (
    AepAuthError,
    AepConfigError,
    AepError,
    AepNotFoundError,
    AepPayloadTooLargeError,
    AepRedirectError,
    AepServerError,
    AepSourceError,
    AepThrottledError,
    AepTimeoutError,
    AepTransportError,
    AepValidationError,
)
from aep.retry import RetryPolicy
from aep.sources import BytesSource, FileSource, S3Source
from aep.timing import Clock, Deadline, SystemClock
from aep.token import AccessToken

__all__ = [
    "AccessToken",
    "AepAuthError",
    "AepClient",
    "AepConfigError",
    "AepCredentials",
    "AepError",
    "AepNotFoundError",
    "AepPayloadTooLargeError",
    "AepRedirectError",
    "AepServerError",
    "AepSettings",
    "AepSourceError",
    "AepThrottledError",
    "AepTimeoutError",
    "AepTransportError",
    "AepValidationError",
    "BytesSource",
    "Clock",
    "Deadline",
    "FileSource",
    "RetryPolicy",
    "S3Source",
    "SystemClock",
    "load_credentials",
    "reset_shared_client",
    "shared_client",
]
