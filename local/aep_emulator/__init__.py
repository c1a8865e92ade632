"""An offline Adobe Experience Platform: IMS, Platform and Streaming APIs on one loopback port.

Behaviour follows Adobe's published API documentation and OpenAPI specs. It never imports the ``aep``
client package: the two are checked against each other, not derived from each other.
"""

from aep_emulator.config import SandboxConfig, load_config
from aep_emulator.server import Emulator, running

__all__ = ["Emulator", "SandboxConfig", "load_config", "running"]
