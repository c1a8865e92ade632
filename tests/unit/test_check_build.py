"""The built-layer check catches a layer built for the wrong Python or CPU."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("check_build", ROOT / "layers" / "aep" / "check_build.py")
assert spec is not None
assert spec.loader is not None
check_build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_build)


def layer(tmp_path: Path, core: str) -> Path:
    (tmp_path / "python" / "aep").mkdir(parents=True)
    (tmp_path / "python" / "aep" / "__init__.py").write_text("")
    (tmp_path / "python" / "pydantic_core").mkdir()
    (tmp_path / "python" / "pydantic_core" / core).write_bytes(b"\x7fELF")
    return tmp_path


def test_a_layer_for_python313_on_arm64_passes(tmp_path):
    assert check_build.problems(layer(tmp_path, "_pydantic_core.cpython-313-aarch64-linux-gnu.so")) == []


def test_a_layer_built_for_the_build_machine_fails(tmp_path):
    found = check_build.problems(layer(tmp_path, "_pydantic_core.cpython-311-x86_64-linux-gnu.so"))

    assert any("not built for cpython-313-aarch64-linux-gnu" in problem for problem in found)


def test_a_layer_without_the_package_or_the_extension_fails(tmp_path):
    (tmp_path / "python").mkdir()

    found = check_build.problems(tmp_path)

    assert any("aep is missing" in problem for problem in found)
    assert any("extension is missing" in problem for problem in found)
