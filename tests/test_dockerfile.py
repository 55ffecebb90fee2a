"""The Dockerfile runs the bot the way the README says: slim base pinned by digest, locked and
hash-checked dependencies, non-root, health-checked. CI installs from the same locks."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

DOCKERFILE = (Path(__file__).resolve().parents[1] / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    return [
        line.split(None, 1)[1]
        for line in DOCKERFILE.replace("\\\n", " ").splitlines()
        if line.upper().startswith(name + " ")
    ]


def test_slim_base_non_root_healthcheck_and_serve():
    assert _instructions("FROM")[0].startswith("python:3.11-slim")
    users = _instructions("USER")
    assert users and users[-1] not in ("root", "0")
    [health] = _instructions("HEALTHCHECK")
    assert "/healthz" in health
    assert _instructions("CMD") == ['["expansion", "serve"]']
    assert any("pip install" in r for r in _instructions("RUN"))


# --------------------------------------------------------------------------- supply chain

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Libraries whose next major would break us: pyproject caps them below it.
CAPPED = ("slack-bolt", "slack-sdk", "pandas", "sqlalchemy", "apscheduler", "numpy", "sqlmodel")


def _locked(name: str) -> dict[str, tuple[str, list[str]]]:
    """A lock file's requirements: normalised name -> (version, hashes)."""
    text = (ROOT / name).read_text().replace("\\\n", " ")
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split()
        assert "==" in requirement, f"{name}: {requirement} is not pinned"
        package, version = requirement.split("==")
        hashes = [o.removeprefix("--hash=") for o in options if o.startswith("--hash=")]
        out[canonicalize_name(package)] = (version, hashes)
    return out


def _required(extras: tuple[str, ...]) -> list[Requirement]:
    project = PYPROJECT["project"]
    names = [*project["dependencies"]]
    for extra in extras:
        names += project["optional-dependencies"][extra]
    return [Requirement(r) for r in names]


def test_the_base_image_is_pinned_by_digest():
    [base] = _instructions("FROM")
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", base), base


def test_the_image_installs_the_lock_with_hashes_and_nothing_else():
    runs = _instructions("RUN")
    assert "pip install --require-hashes -r requirements.lock" in runs
    project = [r for r in runs if "pip install" in r and "requirements.lock" not in r]
    assert project and all("--no-deps" in r for r in project)
    assert "requirements.lock" in " ".join(_instructions("COPY"))


def test_the_locks_pin_every_dependency_within_pyproject_bounds_with_hashes():
    runtime, dev = _locked("requirements.lock"), _locked("requirements-dev.lock")
    for lock, extras in ((runtime, ("postgres",)), (dev, ("dev",))):
        for requirement in _required(extras):
            name = canonicalize_name(requirement.name)
            assert name in lock, f"{name} is not locked"
            assert requirement.specifier.contains(lock[name][0], prereleases=True), requirement
        assert all(hashes for _, hashes in lock.values())
        assert {"setuptools", "wheel"} <= set(lock)  # the build runs without isolation
    # The image runs what CI tested: every runtime package has the same version in both.
    assert {n: v for n, (v, _) in runtime.items()} == {n: dev[n][0] for n in runtime}


def test_major_versions_that_break_us_are_capped():
    for requirement in _required(("postgres", "dev")):
        if canonicalize_name(requirement.name) in CAPPED:
            assert any(s.operator == "<" for s in requirement.specifier), requirement


def test_ci_runs_the_readme_test_command_from_the_lock():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    [command] = [line for line in ci.splitlines() if line.startswith("python3 -m venv")]
    assert f"\n{command}\n" in readme
    assert "-r requirements-dev.lock" in command and "--no-deps" in command
