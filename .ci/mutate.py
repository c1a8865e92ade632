"""`make mutate`: mutation testing (mutmut) of the core modules, with a score per module.

mutmut names a mutant after the module path it reads, and the tests import the code as ``aep.*`` and
``stream_ingest.*`` (the Lambda layout: /opt/python and /var/task). So the run happens in a staging copy,
``build/mutate``, where those packages live under ``src/`` (a layout mutmut understands); the functions'
``app.py`` files, the tests, the emulator and the template are copied beside them.

    python .ci/mutate.py                      # every core module
    python .ci/mutate.py aep.retry aep.errors # some of them

Prints killed/total per module and the surviving mutants (``mutmut show NAME`` in build/mutate shows one).
Slow (minutes per module on 2 cores), so it is not part of `make test` or CI.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / "build" / "mutate"
PACKAGES = {
    "aep": ROOT / "layers" / "aep" / "aep",
    "stream_ingest": ROOT / "functions" / "stream_ingest" / "stream_ingest",
    "batch_ingest": ROOT / "functions" / "batch_ingest" / "batch_ingest",
    "batch_follow": ROOT / "functions" / "batch_follow" / "batch_follow",
    "profile_lookup": ROOT / "functions" / "profile_lookup" / "profile_lookup",
    "aep_setup": ROOT / "functions" / "aep_setup" / "aep_setup",
}
CORE = [
    "aep.retry",
    "aep.errors",
    "aep.normalize",
    "aep.streaming",
    "aep.token_cache",
    "aep.http",
    "aep.auth",
    "aep.ims",
    "aep.token",
    "aep.client",
    "aep.config",
    "aep.sources",
    "aep.batch",
    "aep.layout",
    "aep.wallclock",
    "aep.catalog",
    "stream_ingest.records",
    "stream_ingest.envelope",
    "aep.strict_json",
    "aep.record_rules",
    "stream_ingest.settings",
    "stream_ingest.ingest",
    "stream_ingest.dead_letters",
    "stream_ingest.service",
]
# Besides the code and its tests, the files the tests read about the project itself (the Makefile and its
# check script, the README, the requirement files): mutmut's first run needs the whole suite green.
COPY = [
    "tests",
    "local",
    "events",
    "bench",
    "template.yaml",
    "samconfig.toml",
    "layers",
    "functions",
    ".ci",
    "Makefile",
    "README.md",
    "docs",
    "setup",
    "requirements-dev.txt",
]
KILLED = {"killed", "timeout", "segfault", "suspicious"}  # a mutant the tests noticed, one way or another


def stage() -> None:
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    package_dirs = {path.resolve() for path in PACKAGES.values()}
    ignore_caches = shutil.ignore_patterns("__pycache__", "*.pyc", ".aws-sam")
    for name in COPY:
        source = ROOT / name
        if source.is_file():
            shutil.copy2(source, STAGE / name)
            continue

        def ignore(directory: str, names: list[str]) -> set[str]:
            skipped = set(ignore_caches(directory, names))
            return skipped | {n for n in names if (Path(directory) / n).resolve() in package_dirs}

        shutil.copytree(source, STAGE / name, ignore=ignore)
    for package, source in PACKAGES.items():
        shutil.copytree(source, STAGE / "src" / package, ignore=ignore_caches)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pytest_options = config["tool"]["pytest"]["ini_options"]
    # The packages come from mutants/src (mutmut puts it first on sys.path); everything else as usual.
    pythonpath = [p for p in pytest_options["pythonpath"] if not p.startswith(("layers", "functions"))]
    markers = ",\n    ".join(f'"{m}"' for m in pytest_options.get("markers", []))
    (STAGE / "pyproject.toml").write_text(
        f"""[tool.pytest.ini_options]
pythonpath = {pythonpath!r}
testpaths = ["tests"]
addopts = "-q -p no:cacheprovider -p no:xdist"
markers = [
    {markers}
]

[tool.mutmut]
source_paths = ["src"]
also_copy = {COPY!r}
# tests/e2e and the benchmark's function run (test_bench_function_run) run code in child processes, on the
# layer's own path: no mutant reaches it there.
# The fault suites (marker "fault": 10,000 records each) take minutes per mutant; the unit and integration
# tests pin the same behaviour in seconds.
# test_python_dash_m_runs_the_cli and the lookup's start-up checks (finding 13) run code in a child process
# from layers/ and functions/, which the stage does not hold (its packages are under src/); the lookup's
# OpenAPI and template-block tests read files beside the package (openapi.json, template.yaml).
pytest_add_cli_args = [
    "--ignore=tests/e2e",
    "--ignore=tests/integration/test_bench_function_run.py",
    "--deselect=tests/unit/test_tenant_cli.py::test_python_dash_m_runs_the_cli",
    "--deselect=tests/integration/test_lookup_findings.py::test_finding_13_the_function_starts_with_them_off",
    "--deselect=tests/integration/test_lookup_findings.py::test_finding_13_the_function_refuses_to_start_when_events_would_be_logged",
    "--ignore=tests/unit/test_lookup_openapi.py",
    "--deselect=tests/unit/test_template_lookup.py::test_the_template_routes_are_the_routes_of_the_openapi_document",
    "--deselect=tests/unit/test_template_lookup.py::test_the_lookup_block_sits_right_before_the_outputs",
    "-m",
    "not fault",
]
# Not "fork": it runs the stats and clean tests in the process every mutant is forked from, so caches
# filled there (normalize_phone's lru_cache, a Target's encoded envelope) answer for the mutated code.
process_isolation = "forkserver"
pytest_add_cli_args_test_selection = ["tests/unit", "tests/integration"]
"""
    )


def module_of(mutant: str) -> str:
    """``aep.retry.xǁRetryPolicyǁwait__mutmut_3`` -> ``aep.retry``."""
    parts = mutant.split(".")
    for index, part in enumerate(parts):
        if part.startswith(("x_", "xǁ")):
            return ".".join(parts[:index])
    return mutant.rsplit(".", 1)[0]


def main(argv: list[str]) -> int:
    # --resume: go on with an interrupted run in build/mutate (mutmut keeps each mutant's result there).
    resume = "--resume" in argv
    report_only = "--report" in argv  # the table of the last run in build/mutate, running nothing
    argv = [a for a in argv if a not in ("--resume", "--report")]
    modules = argv or CORE
    unknown = [m for m in modules if m.split(".", 1)[0] not in PACKAGES]
    if unknown:
        print(f"not a core package: {', '.join(unknown)} (expected one of: {', '.join(PACKAGES)})")
        return 2
    if report_only and not (STAGE / "mutants").is_dir():
        print("no mutation run in build/mutate to report on")
        return 2
    if not report_only and not (resume and (STAGE / "mutants").is_dir()):
        stage()
    mutmut = [sys.executable, "-m", "mutmut"]
    globs = [f"{m}.x*" for m in modules]
    log = STAGE / "mutmut-run.log"
    if not report_only:
        print(f"mutmut run {' '.join(modules)} (progress in {log.relative_to(ROOT)})", flush=True)
        with log.open("a" if resume else "w") as out:
            run = [*mutmut, "run", *globs]
            subprocess.run(run, cwd=STAGE, check=False, stdout=out, stderr=subprocess.STDOUT)
    listing = subprocess.run(
        [*mutmut, "results", "--all", "true"], cwd=STAGE, capture_output=True, text=True, check=False
    ).stdout
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: dict[str, list[str]] = defaultdict(list)
    for line in listing.splitlines():
        match = re.match(r"\s*(\S+__mutmut_\d+): (.+)$", line)
        if not match:
            continue
        name, status = match.group(1), match.group(2).strip()
        module = module_of(name)
        if module not in modules:
            continue
        by_module[module][status] += 1
        if status in {"survived", "no tests"}:
            survivors[module].append(name)
    # An interrupted run leaves mutants "not checked": the score is over the mutants checked, and the
    # table says how many were (RESUME=1 goes on with the rest).
    header = "module                          killed / checked  score   checked/total"
    print(f"\n{header}  (survived, no tests, other)")
    for module in modules:
        counts = by_module.get(module, Counter())
        total = sum(counts.values())
        unchecked = counts["not checked"]
        checked = total - unchecked
        killed = sum(counts[s] for s in KILLED)
        score = f"{100 * killed / checked:5.1f}%" if checked else "   - "
        other = checked - killed - counts["survived"] - counts["no tests"]
        print(
            f"{module:32}{killed:6} / {checked:<7} {score}   {checked:5}/{total:<6}   "
            f"({counts['survived']}, {counts['no tests']}, {other})"
        )
    for module, names in survivors.items():
        print(f"\nsurvivors in {module}:")
        for name in names:
            print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
