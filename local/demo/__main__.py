"""``python -m demo`` (``make demo``): the offline demo."""

from __future__ import annotations

import sys

from demo.story import main

if __name__ == "__main__":
    sys.exit(main())
