"""Syncs of different sources, and commands on a brand-new database, started at the same time.

Every process is real (``tests/sync_worker.py`` or the ``expansion`` console script). Where an
interleaving matters, the test does not hope for it: a worker stops at a named statement and
waits for the test to let it go.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from expansion import generate, pipeline, store

WORKER = Path(__file__).with_name("sync_worker.py")
EXPANSION = shutil.which("expansion", path=str(Path(sys.executable).parent)) or "expansion"


@pytest.fixture(scope="module")
def books(tmp_path_factory) -> dict[str, Path]:
    """Three small books under different source names (different sizes, overlapping ids)."""
    root = tmp_path_factory.mktemp("books")
    generate.generate(200, seed=1, out=root / "gen1", formats="fast")
    generate.generate(80, seed=2, out=root / "gen2", formats="fast")
    return {"crm": root / "gen2", "files": root / "gen1", "sample": pipeline.SAMPLE_PORTFOLIO}


def _worker(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _expect(proc: subprocess.Popen, line: str) -> None:
    got = proc.stdout.readline().strip()
    if got != line:
        proc.kill()
        raise AssertionError(f"worker said {got!r}, not {line!r}: {proc.communicate()[1]}")


def _finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _per_source(url: str, sources) -> dict[str, dict[str, int]]:
    engine = store.connect(url)
    try:
        return {s: {t: n for t, n in store.row_counts(engine, s).items() if n} for s in sources}
    finally:
        engine.dispose()


def _race(url: str, books: dict[str, Path], sources: list[str]) -> None:
    """Sync ``sources`` at once, each in its own process, and check every source kept exactly
    the rows its sync accepted."""
    store.connect(url).dispose()
    workers = {s: _worker("sync", url, str(books[s]), s, "--wait-go") for s in sources}
    for proc in workers.values():
        _expect(proc, "ready")
    for proc in workers.values():  # released together: validation and writes overlap
        proc.stdin.write("go\n")
        proc.stdin.flush()
    accepted = {s: _finish(proc) for s, proc in workers.items()}
    expected = {s: {t: n for t, n in rows.items() if n} for s, rows in accepted.items()}
    assert _per_source(url, sources) == expected


@pytest.mark.parametrize("sources", [["crm", "files"], ["crm", "files", "sample"]])
def test_syncs_of_different_sources_at_once_keep_every_sources_rows_sqlite(
    tmp_path, books, sources
):
    _race(f"sqlite:///{tmp_path / 'race.db'}", books, sources)


@pytest.mark.parametrize("sources", [["crm", "files"], ["crm", "files", "sample"]])
def test_syncs_of_different_sources_at_once_keep_every_sources_rows_postgres(
    pg_url, books, sources
):
    _race(pg_url, books, sources)


def test_no_sync_commits_between_another_syncs_check_and_its_delete(tmp_path, books):
    """The interleaving that lost crm's accounts, made to happen: the files sync has found no
    other source's rows in accounts and is about to empty the table; a crm sync comes now."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    store.connect(url).dispose()
    files = _worker("sync", url, str(books["files"]), "files", "--pause-before", "DELETE FROM")
    _expect(files, "paused")
    engine = store.connect(url)
    probe = sqlite3.connect(tmp_path / "race.db", timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.rollback()
        writable = True
    except sqlite3.OperationalError:  # "database is locked": the files sync holds it
        writable = False
    finally:
        probe.close()
    if writable:  # nothing stops another sync committing here: let one
        crm = pipeline.sync_folder(engine, books["crm"], source="crm")
        files.stdin.write("go\n")
        files.stdin.flush()
        accepted = _finish(files)
    else:  # the crm sync waits for the files sync's commit
        files.stdin.write("go\n")
        files.stdin.flush()
        accepted = _finish(files)
        crm = pipeline.sync_folder(engine, books["crm"], source="crm")
    engine.dispose()
    assert _per_source(url, ["crm", "files"]) == {
        "crm": {t: n for t, n in crm.portfolio.accepted.items() if n},
        "files": {t: n for t, n in accepted.items() if n},
    }


def _output_until(proc: subprocess.Popen, needle: str, timeout: float, seen: bytearray) -> bool:
    """Read ``proc``'s stderr into ``seen`` until it holds ``needle`` (True), ends or
    ``timeout`` passes (False). Unbuffered reads: nothing read can wait unseen in a buffer."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                return False
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                return False
            seen += chunk
            if needle.encode() in seen:
                return True
        return False
    finally:
        selector.close()


def _migration_race(url: str, first_table: str) -> None:
    """A second command on a brand-new database while the first is migrating it: it waits
    (and says so) instead of failing on a table the first created."""
    first = _worker("migrate", url, "--pause-after", f"CREATE TABLE {first_table}")
    _expect(first, "paused")
    second = subprocess.Popen(
        [EXPANSION, "db", "upgrade", "--db", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    # Wait until the second says it is waiting (or gave up, or is stuck behind the first).
    said = bytearray()
    waited = _output_until(second, "Waiting for another process", 60, said)
    first.stdin.write("go\n")
    first.stdin.flush()
    assert _finish(first) == {"migrated": True}
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, (said + err).decode()
    assert b"up to date" in out
    assert waited
    engine = store.connect(url, upgrade=False)
    try:
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert len(versions) == 1


def test_commands_on_a_new_sqlite_database_take_turns_migrating_it(tmp_path):
    _migration_race(f"sqlite:///{tmp_path / 'new.db'}", "accounts")


def test_commands_on_a_new_postgres_database_take_turns_migrating_it(pg_url):
    _migration_race(pg_url, "accounts")
