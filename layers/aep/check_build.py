"""Check a built layer: the aep package is there and the compiled wheels are for the Lambda runtime.

A layer built for the wrong Python or CPU imports fine on the build machine and breaks in Lambda
(``No module named 'pydantic_core._pydantic_core'``), so this looks at the compiled extension's file name.
Usage: python layers/aep/check_build.py .aws-sam/build/AepLayer
"""

from __future__ import annotations

import sys
from pathlib import Path

EXPECTED_TAG = "cpython-313-aarch64-linux-gnu"


def problems(layer_dir: Path) -> list[str]:
    found = []
    root = layer_dir / "python"
    if not (root / "aep" / "__init__.py").is_file():
        found.append(f"{root}/aep is missing")
    cores = sorted(root.glob("pydantic_core/_pydantic_core*.so"))
    if not cores:
        found.append("pydantic_core's compiled extension is missing")
    found.extend(
        f"{core.name} is not built for {EXPECTED_TAG}" for core in cores if EXPECTED_TAG not in core.name
    )
    for extension in root.rglob("*.so"):
        if "cpython-" in extension.name and EXPECTED_TAG not in extension.name:
            found.append(f"{extension.relative_to(root)} is built for another runtime")
    return found


def main(argv: list[str]) -> int:
    layer_dir = Path(argv[1] if len(argv) > 1 else ".aws-sam/build/AepLayer")
    found = problems(layer_dir)
    for problem in found:
        print(f"layer check: {problem}", file=sys.stderr)
    if not found:
        print(f"layer check: {layer_dir} holds aep and {EXPECTED_TAG} builds")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
