"""``python -m aep.tenants add|list|show|disable|enable`` (see :mod:`aep.tenants.cli`)."""

import sys

from aep.tenants.cli import main

if __name__ == "__main__":
    sys.exit(main())
