"""Shared fixtures: a migrated SQLite database per test and the bundled sample portfolio."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from expansion import pipeline, store

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_AS_OF = pipeline.SAMPLE_AS_OF


def pytest_sessionfinish(session, exitstatus):
    # "No tests collected" (exit code 5) is not a failure for CI.
    if exitstatus == 5:
        session.exitstatus = 0


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'expansion.db'}"


@pytest.fixture
def engine(db_url: str):
    engine = store.connect(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sample_engine(tmp_path_factory):
    """The bundled sample portfolio, synced and scored once per session."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sample') / 'sample.db'}"
    engine = store.connect(url)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    pipeline.score(engine, as_of=SAMPLE_AS_OF)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sample_result(sample_engine):
    return pipeline.find(sample_engine, "", as_of=SAMPLE_AS_OF)


def as_of() -> date:
    return SAMPLE_AS_OF
