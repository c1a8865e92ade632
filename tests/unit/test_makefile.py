"""The Makefile's guards, run for real on a copy of the Makefile with fake interpreters (no pip, no network).

A fake python is a shell script: asked for its version (``-c``) it prints the one it pretends to be,
``-m venv DIR`` copies itself to DIR/bin/python, anything else succeeds; every call is logged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.template import ROOT

FAKE_PYTHON = """#!/bin/sh
echo "$(basename "$0") $*" >> {log}
case "$1" in
  -c) case "$2" in *"import pip"*) {pip} ;; esac; echo {version} ;;
  -m) if [ "$2" = venv ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi ;;
esac
exit 0
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """What the install recipe reads: the Makefile, its check script, the requirement files."""
    for name in ("Makefile", ".ci/python-ok", "requirements-dev.txt", "layers/aep/requirements.txt"):
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return tmp_path


def fake_python(path: Path, version: str, log: Path, *, has_pip: bool = True) -> Path:
    """A fake interpreter; without pip, code that imports pip fails as it would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FAKE_PYTHON.format(log=log, version=version, pip=":" if has_pip else "exit 1"))
    path.chmod(0o755)
    return path


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def make(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    return subprocess.run(  # noqa: S603 - make, on a copy of our own Makefile
        ["make", "--no-print-directory", *args],  # noqa: S607 - make from PATH, as a person types it
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def healthy_venv(project: Path, log: Path, version: str = "3.11.9", *, has_pip: bool = True) -> None:
    fake_python(project / ".venv" / "bin" / "python", version, log, has_pip=has_pip)
    (project / ".venv" / "bin" / ".installed").touch()


VERSION_PROBE = '-c import sys; print("%d.%d.%d" % tuple(sys.version_info[:3]))'


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("3.11.0", True),
        ("3.12.7", True),
        ("3.13.1", True),
        ("3.20.0", True),
        ("4.0.0", True),
        ("3.10.12", False),
        ("3.1.5", False),
        ("3.9.18", False),
        ("2.7.18", False),
        ("", False),
    ],
)
def test_python_check_accepts_311_and_newer_only(tmp_path, version, ok):
    log = tmp_path / "calls.log"
    python = fake_python(tmp_path / "python3", version, log)

    result = subprocess.run(  # noqa: S603 - our own check script
        ["sh", str(ROOT / ".ci" / "python-ok"), str(python)],  # noqa: S607 - the POSIX shell
        capture_output=True,
        text=True,
        check=False,
    )

    assert (result.returncode == 0) is ok
    if ok:
        assert result.stdout == ""
    else:
        found = f"is Python {version}" if version else "does not run"
        assert result.stdout == (
            f"needs Python 3.11+, but {python} {found}: run make with PYTHON=/path/to/python3.11 (or newer)\n"
        )
    assert calls(log) == [f"python3 {VERSION_PROBE}"]


def test_an_old_python_gets_one_line_and_nothing_is_installed(project):
    log = project / "calls.log"
    old = fake_python(project / "bin" / "python3.10", "3.10.12", log)

    result = make(project, "install", f"PYTHON={old}")

    assert result.returncode != 0
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) == 1
    assert f"needs Python 3.11+, but {old} is Python 3.10.12" in lines[0]
    assert not (project / ".venv").exists()
    assert all(call.startswith("python3.10 -c ") for call in calls(log))


def test_a_missing_python_gets_one_line(project):
    result = make(project, "install", "PYTHON=/nowhere/python3")

    lines = (result.stdout + result.stderr).splitlines()
    assert result.returncode != 0
    assert len(lines) == 1
    assert "needs Python 3.11+, but /nowhere/python3 does not run" in lines[0]
    assert not (project / ".venv").exists()


def test_a_venv_whose_python_is_gone_is_rebuilt(project):
    log = project / "calls.log"
    good = fake_python(project / "bin" / "python3.12", "3.12.7", log)
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").symlink_to("/nowhere/python3.9")
    (project / ".venv" / "bin" / ".installed").touch()
    (project / ".venv" / "leftover").touch()

    result = make(project, "install", f"PYTHON={good}")

    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        ".venv is broken or too old (its python does not run as 3.11+ with its own pip): rebuilding it"
    ) in result.stdout
    assert "python3.12 -m venv .venv" in calls(log)
    assert not (project / ".venv" / "leftover").exists()
    assert (project / ".venv" / "bin" / "python").read_text() == good.read_text()
    assert "python -m pip install -q -r requirements-dev.txt" in calls(log)
    assert (project / ".venv" / "bin" / ".installed").exists()


def test_a_venv_with_a_stale_old_interpreter_is_rebuilt(project):
    log = project / "calls.log"
    good = fake_python(project / "bin" / "python3.12", "3.12.7", log)
    healthy_venv(project, log, version="3.10.4")

    result = make(project, "install", f"PYTHON={good}")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "python3.12 -m venv .venv" in calls(log)
    assert "python -m pip install -q -r requirements-dev.txt" in calls(log)


def test_a_venv_that_cannot_import_its_pip_is_rebuilt(project):
    log = project / "calls.log"
    good = fake_python(project / "bin" / "python3.12", "3.12.7", log)
    healthy_venv(project, log, version="3.12.1", has_pip=False)

    result = make(project, "install", f"PYTHON={good}")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "python3.12 -m venv .venv" in calls(log)


@pytest.mark.parametrize(("has_pip", "ok"), [(True, True), (False, False)])
def test_python_check_of_a_venv_also_needs_its_pip(tmp_path, has_pip, ok):
    log = tmp_path / "calls.log"
    python = fake_python(tmp_path / "python", "3.11.9", log, has_pip=has_pip)

    as_venv = subprocess.run(  # noqa: S603 - our own check script
        ["sh", str(ROOT / ".ci" / "python-ok"), str(python), "venv"],  # noqa: S607 - the POSIX shell
        capture_output=True,
        text=True,
        check=False,
    )
    plain = subprocess.run(  # noqa: S603 - our own check script
        ["sh", str(ROOT / ".ci" / "python-ok"), str(python)],  # noqa: S607 - the POSIX shell
        capture_output=True,
        text=True,
        check=False,
    )

    assert (as_venv.returncode == 0) is ok
    assert plain.returncode == 0
    assert calls(log)[0] == f"python -c import pip; {VERSION_PROBE[3:]}"


def test_a_healthy_installed_venv_is_left_alone(project):
    log = project / "calls.log"
    healthy_venv(project, log)

    result = make(project, "install", "PYTHON=/nowhere/python3")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "make: Nothing to be done for 'install'.\n"
    assert [call for call in calls(log) if not call.startswith("python -c ")] == []


def test_a_healthy_venv_is_updated_when_requirements_change(project):
    log = project / "calls.log"
    healthy_venv(project, log)
    stamp = project / ".venv" / "bin" / ".installed"
    os.utime(stamp, (1, 1))

    result = make(project, "install", "PYTHON=/nowhere/python3")

    assert result.returncode == 0, result.stdout + result.stderr
    assert not any("-m venv" in call for call in calls(log))
    assert "python -m pip install -q -r requirements-dev.txt" in calls(log)


def test_clean_keeps_the_virtualenvs_and_distclean_removes_them(project):
    clean = make(project, "-n", "clean")
    distclean = make(project, "-n", "distclean")
    help_text = make(project, "help").stdout

    assert clean.stdout.splitlines() == ["rm -rf .aws-sam .mypy_cache .ruff_cache .pytest_cache build/mutate"]
    assert distclean.stdout.splitlines() == [
        "rm -rf .aws-sam .mypy_cache .ruff_cache .pytest_cache build/mutate",
        "rm -rf .venv .sam-venv .aepp-venv .scan-venv",
    ]
    assert "keeps the virtualenvs (.venv, .sam-venv, .aepp-venv, .scan-venv)" in help_text
    assert "make distclean" in help_text


def test_scan_runs_checkov_offline_without_downloads(project):
    for tool in ("bandit", "checkov"):
        path = project / ".scan-venv" / "bin" / tool
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    planned = make(project, "-n", "scan").stdout.splitlines()

    checkov = [line for line in planned if "/checkov " in line]
    assert checkov == [
        ".scan-venv/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download"
    ]
