"""Starting the emulator wrong (busy port, bad sandbox file, invalid fault rule): one line, exit code 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aep_emulator import load_config
from aep_emulator.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def busy_port() -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


def sandbox(tmp_path: Path, **changes: object) -> Path:
    data = json.loads(load_config().model_dump_json(by_alias=True, exclude_none=True))
    data.update(changes)
    path = tmp_path / "sandbox.json"
    path.write_text(json.dumps(data))
    return path


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.endswith("\n")
    return captured.err.rstrip("\n")


def test_a_busy_port_is_one_line_and_exit_2(busy_port, capsys):
    code = main(["--port", str(busy_port)])

    assert code == 2
    assert one_line(capsys) == f"aep_emulator: cannot listen on 127.0.0.1:{busy_port}: Address already in use"


def test_a_missing_sandbox_file_is_one_line_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "nope.json"

    code = main(["--port", "0", "--config", str(missing)])

    assert code == 2
    assert one_line(capsys) == f"aep_emulator: cannot read sandbox file {missing}: No such file or directory"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "Expecting value: line 1 column 1 (char 0)"),
        ('{"org_id": "a", "org_id": "b"}', "duplicate key 'org_id'"),
        ('{"token_lifetime_seconds": NaN}', "NaN is not allowed"),
    ],
)
def test_a_sandbox_file_that_is_not_json_is_one_line_and_exit_2(tmp_path, capsys, text, reason):
    path = tmp_path / "bad.json"
    path.write_text(text)

    code = main(["--port", "0", "--config", str(path)])

    assert code == 2
    assert one_line(capsys) == f"aep_emulator: sandbox file {path} is not valid JSON: {reason}"


def test_a_sandbox_file_of_the_wrong_shape_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "shape.json"
    path.write_text('{"org_id": "o@AdobeOrg", "tenant": 5, "clients": []}')

    code = main(["--port", "0", "--config", str(path)])

    assert code == 2
    assert one_line(capsys) == (
        f"aep_emulator: sandbox file {path} is invalid: tenant: Input should be a valid string; "
        "namespaces: Field required; datasets: Field required"
    )


def test_an_invalid_fault_rule_in_the_sandbox_file_is_one_line_and_exit_2(tmp_path, capsys):
    path = sandbox(tmp_path, faults={"seed": 1, "rules": [{"path": "^/ims", "kind": "explode"}]})

    code = main(["--port", "0", "--config", str(path)])

    assert code == 2
    assert one_line(capsys) == (
        f"aep_emulator: sandbox file {path} is invalid: faults.rules[0].kind: "
        "Input should be 'status', 'drop', 'drop_after' or 'latency'"
    )


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "local")}
    return subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "aep_emulator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=ROOT,
    )


def test_python_dash_m_prints_no_traceback(tmp_path, busy_port):
    bad = tmp_path / "bad.json"
    bad.write_text("{")

    config = run_module("--port", "0", "--config", str(bad))
    port = run_module("--port", str(busy_port))

    assert (config.returncode, config.stdout) == (2, "")
    assert config.stderr == (
        f"aep_emulator: sandbox file {bad} is not valid JSON: "
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)\n"
    )
    assert (port.returncode, port.stdout) == (2, "")
    assert port.stderr == f"aep_emulator: cannot listen on 127.0.0.1:{busy_port}: Address already in use\n"
