"""Write the API's OpenAPI document (``functions/profile_lookup/openapi.json``) from the routes.

Run after changing a route or a shape:
``PYTHONPATH=layers/aep:functions/profile_lookup .venv/bin/python -m profile_lookup.openapi``;
``tests/unit/test_lookup_openapi.py`` fails while the committed copy differs from the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from profile_lookup.api import openapi_document

DOCUMENT = Path(__file__).resolve().parents[1] / "openapi.json"


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    DOCUMENT.write_text(render())
    sys.stdout.write(f"wrote {DOCUMENT}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
