"""The shared Adobe Experience Platform client of the Lambda layer.

The names below are imported on first use (PEP 562): ``import aep.logs`` or ``from aep.errors import ...``
does not import the whole client (requests, every API, every model), which a function's cold start pays for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Each public name and the module it comes from.
_EXPORTS = {
    "AccessToken": "aep.token",
    "AepAuthError": "aep.errors",
    "AepClient": "aep.client",
    "AepConfigError": "aep.errors",
    "AepCredentials": "aep.config",
    "AepError": "aep.errors",
    "AepNotFoundError": "aep.errors",
    "AepPayloadTooLargeError": "aep.errors",
    "AepRedirectError": "aep.errors",
    "AepServerError": "aep.errors",
    "AepSettings": "aep.config",
    "AepSourceError": "aep.errors",
    "AepThrottledError": "aep.errors",
    "AepTimeoutError": "aep.errors",
    "AepTransportError": "aep.errors",
    "AepValidationError": "aep.errors",
    "BytesSource": "aep.sources",
    "Clock": "aep.timing",
    "Deadline": "aep.timing",
    "FileSource": "aep.sources",
    "RetryPolicy": "aep.retry",
    "S3Source": "aep.sources",
    "SystemClock": "aep.timing",
    "load_credentials": "aep.client",
    "reset_shared_client": "aep.client",
    "shared_client": "aep.client",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aep' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
