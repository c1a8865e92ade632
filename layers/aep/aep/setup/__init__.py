"""AEP setup as code: a setup file (:mod:`aep.setup.model`), converged by ``plan`` / ``apply``
(:mod:`aep.setup.apply`) over the Schema Registry, Identity, Catalog and Flow Service calls of
:mod:`aep.setup.api`; the CLI is ``python -m aep.setup plan|apply FILE``."""

from aep.setup.api import SetupApi
from aep.setup.apply import Converger, apply, plan
from aep.setup.model import SetupFile, SetupFileError, load, parse
from aep.setup.plan import Change, Drift, Report

__all__ = [
    "Change",
    "Converger",
    "Drift",
    "Report",
    "SetupApi",
    "SetupFile",
    "SetupFileError",
    "apply",
    "load",
    "parse",
    "plan",
]
