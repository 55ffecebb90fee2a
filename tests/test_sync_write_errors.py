"""What the database refuses: a NUL byte in a cell is a reject of its row; a full disk or any
other driver error while writing is a failed sync run with a one-line cause, and the CLI says
it in one line."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest
import sqlalchemy as sa
from test_cli import cli

from expansion import generate, pipeline, store
from expansion.connectors import SourceError
from expansion.ingest import read_portfolio

AS_OF = "2026-11-16"


def _with_nul_bytes(folder):
    """The sample portfolio with a NUL byte in account 16's name and account 20's ARR."""
    shutil.copytree(pipeline.SAMPLE_PORTFOLIO, folder)
    accounts = folder / "accounts.csv"
    lines = accounts.read_text().splitlines()
    lines[16] = lines[16].replace("Corvid Robotics", "Corvid\x00Robotics")
    cells = lines[20].split(",")
    cells[2] = "12\x0034"
    lines[20] = ",".join(cells)
    accounts.write_text("\n".join(lines) + "\n")


def test_a_nul_byte_in_a_cell_rejects_its_row(tmp_path):
    _with_nul_bytes(tmp_path / "data")
    portfolio = read_portfolio(tmp_path / "data")
    rejects = portfolio.rejects
    nul = rejects[rejects["reason"].str.contains("NUL")]
    assert list(zip(nul["row"], nul["column"], nul["reason"], strict=True)) == [
        (17, "name", "cell contains a NUL byte: column name"),
        (21, "arr", "cell contains a NUL byte: column arr"),
    ]
    assert list(nul["value"]) == ["Corvid\\x00Robotics", "12\\x0034"]
    assert len(portfolio.tables["accounts"]) == 42


def test_a_nul_byte_on_postgres_is_a_reject_and_the_rest_is_synced(pg_url, tmp_path):
    _with_nul_bytes(tmp_path / "data")
    done = cli("sync", "--source", str(tmp_path / "data"), "--db", pg_url, "--as-of", AS_OF,
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "accounts.csv row 17: cell contains a NUL byte: column name" in done.stdout
    engine = store.connect(pg_url)
    try:
        (run,) = store.sync_runs(engine).itertuples()
        assert run.status == "succeeded"  # the two rows and their accounts' rows rejected
        assert store.row_counts(engine, "files")["accounts"] == 42
        with engine.connect() as conn:
            values = conn.execute(sa.text("SELECT value FROM sync_rejects ORDER BY row, id"))
            assert "Corvid\\x00Robotics" in set(values.scalars())
    finally:
        engine.dispose()


FULL_DISK = """
import sys

import sqlalchemy as sa
from sqlalchemy.pool import Pool

pages = int(sys.argv[1])


@sa.event.listens_for(Pool, "connect")
def small_disk(dbapi_connection, record):
    dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")


sys.argv = ["expansion", *sys.argv[2:]]
from bot.cli import main

main()
"""


def test_a_full_disk_on_sqlite_is_a_failed_run_and_one_line(tmp_path):
    path = tmp_path / "x.db"
    db = f"sqlite:///{path}"
    engine = store.connect(db)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="crm")
    before = store.row_counts(engine, "crm")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    generate.generate(300, seed=1, out=tmp_path / "book", formats="fast")
    # The disk has room for a few pages more: not for 300 accounts' rows.
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(pages + 8), "sync", "--source",
         str(tmp_path / "book"), "--db", db, "--as-of", AS_OF],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: source 'files': writing to the database failed: database or disk is full "
        "(sqlite3.OperationalError); nothing was changed."
    )
    last = store.sync_runs(engine).iloc[0]
    assert (last["source"], last["status"]) == ("files", "failed")
    assert last["error"] == (
        "writing to the database failed: database or disk is full (sqlite3.OperationalError)"
    )
    assert store.row_counts(engine, "crm") == before
    assert not any(store.row_counts(engine, "files").values())
    engine.dispose()


def test_a_driver_error_while_copying_to_postgres_is_a_failed_run(pg_url, monkeypatch):
    """The bulk path writes through psycopg's COPY, below SQLAlchemy: a full disk there."""
    import psycopg

    engine = store.connect(pg_url)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="crm")
    before = store.row_counts(engine, "crm")
    write_row = psycopg.Copy.write_row
    written = []

    def disk_fills_up(self, row):
        written.append(row)
        if len(written) > 100:
            raise psycopg.errors.DiskFull(
                'could not extend file "base/16384/24601": No space left on device\n'
                "HINT:  Check free disk space.\nCONTEXT:  COPY usage, line 58: ACC-1001 ..."
            )
        write_row(self, row)

    monkeypatch.setattr(psycopg.Copy, "write_row", disk_fills_up)
    with pytest.raises(SourceError) as caught:
        pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="files")
    monkeypatch.undo()
    cause = (
        'writing to the database failed: could not extend file "base/16384/24601": '
        "No space left on device (psycopg.DiskFull)"
    )
    assert str(caught.value) == f"source 'files': {cause}; nothing was changed."
    runs = store.sync_runs(engine)
    assert list(runs[["source", "status"]].itertuples(index=False, name=None)) == [
        ("files", "failed"),
        ("crm", "succeeded"),
    ]
    assert runs["error"].iloc[0] == cause
    assert store.row_counts(engine, "crm") == before
    assert not any(store.row_counts(engine, "files").values())
    assert pd.notna(runs["finished_at"].iloc[0])
    engine.dispose()
