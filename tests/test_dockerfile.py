"""The Dockerfile runs the bot the way the README says: slim base, non-root, health-checked."""

from __future__ import annotations

from pathlib import Path

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
