"""API Gateway (REST) -> the profile lookup API. The handler only adapts; the logic is in profile_lookup/."""

from __future__ import annotations

import gc

# Nothing the imports create is garbage: collecting while they run only lengthens the cold start (~15%).
gc.disable()
from profile_lookup.entry import lambda_handler, logger, metrics  # noqa: E402 - after gc.disable()

gc.enable()
gc.freeze()  # what was imported lives as long as the container: keep it out of the collector's scans

__all__ = ["lambda_handler", "logger", "metrics"]
