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


@pytest.fixture(scope="module")
def slack():
    """A local Slack Web API emulator (see slack_emulator.py), one per test module."""
    from slack_emulator import SlackEmulator

    with SlackEmulator() as emulator:
        emulator.add_user("UADMIN", email="admin@example.com", name="admin")
        emulator.add_user("UMAYA", email="maya.chen@example.com", name="maya")
        emulator.add_user("U1", email="someone@example.com", name="someone")
        emulator.add_user("U2", email="rep@example.com", name="rep")
        yield emulator


@pytest.fixture(scope="module")
def bot(slack, tmp_path_factory):
    """``expansion serve`` over HTTP on the sample portfolio, against the emulator."""
    from bot_harness import BotServer

    workdir = tmp_path_factory.mktemp("bot")
    url = f"sqlite:///{workdir / 'bot.db'}"
    engine = store.connect(url)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    pipeline.score(engine, as_of=SAMPLE_AS_OF)
    engine.dispose()
    server = BotServer(slack, url, workdir).start()
    yield server
    server.stop()


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL schema of its own, as a URL any process can use (search_path in the
    connection options). Skips when EXPANSION_TEST_POSTGRES_URL is not set."""
    import os
    import uuid

    import sqlalchemy as sa

    base = os.environ.get("EXPANSION_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("EXPANSION_TEST_POSTGRES_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:  # and the workspace partitions made beside it
        names = conn.execute(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :prefix"),
            {"prefix": f"{schema}%"},
        ).scalars()
        for name in list(names):
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    admin.dispose()
