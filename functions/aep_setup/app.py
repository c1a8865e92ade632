"""The ``Custom::AepSetup`` resource: ``aep.setup apply`` on Create and Update, never a delete in AEP.
The handler only adapts the event; see aep_setup/ for the logic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aep.logs import protect_logs, structured_logs
from aep_setup.resource import handle, logger

protect_logs()
#: Every logger of the layer and of aep_setup/ logs JSON via the Powertools logger
STRUCTURED = structured_logs(logger, "aep_setup")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    handle(event, context)
