"""Running the repository's entry points as a person does (``make demo``, ``make local``, ``make invoke``):
this interpreter, the PYTHONPATH the Makefile sets, and none of the test suite's AWS, AEP or Powertools
variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.template import ROOT


def shell_environment() -> dict[str, str]:
    """What a shell that types the make command has: no test-suite Powertools, AEP, stream or AWS settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("POWERTOOLS_", "AEP_", "STREAM_", "AWS_", "LOOKUP_", "BATCH_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / part) for part in ("layers/aep", "local"))
    return env


def run(*arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """This interpreter with the given arguments, to the end; its output captured."""
    return subprocess.run(  # noqa: S603 - this interpreter, the repository's own code
        [sys.executable, *arguments],
        cwd=ROOT,
        env=shell_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
