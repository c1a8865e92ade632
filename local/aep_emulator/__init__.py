"""An offline Adobe Experience Platform: IMS, Platform and Streaming APIs on one loopback port.

Behaviour follows Adobe's published API documentation and OpenAPI specs, and is strict where AEP is, so
that a green test means AEP would agree: HTTP/1.1 framing as a strict front end reads it (``http11``),
strict JSON (``strictjson``: no NaN, Infinity or duplicate keys), the documented headers and status codes.
Faults (``faults``: status, drop, drop_after, latency; seeded, per path) are set through
``POST /_admin/faults`` or the sandbox file, on every request or on one org's. Several orgs can be served
side by side, each apart: its clients and tokens, sandboxes, datasets, inlets and data (``state``). It
never imports the ``aep`` client package: the two are checked against each other, not derived from each
other.
"""

from aep_emulator.config import EmulatorConfig, SandboxConfig, load_config, load_orgs
from aep_emulator.server import Emulator, running

__all__ = ["Emulator", "EmulatorConfig", "SandboxConfig", "load_config", "load_orgs", "running"]
