"""A sync reads, checks and writes a large book a chunk at a time (``chunk_rows``), so its memory
is set by the chunk, not by the book: the result must be exactly that of one chunk per table
(rows, ids, rejects, the run's counts, the scoring snapshot and the answer), and a failure in
any chunk, the last one too, must change nothing."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import sqlalchemy as sa
from builders import stored_rows

from expansion import generate, pipeline, snapshot, store
from expansion.connectors import SourceConfig, SourceError
from expansion.errors import ContractError, RejectedRowsError
from expansion.limits import limits_from_mapping

AS_OF = "2026-11-16"
WHOLE = limits_from_mapping({})
CHUNKS = limits_from_mapping({"chunk_rows": 30})  # 3 chunks of accounts, 60 of usage
LATE = limits_from_mapping({"chunk_rows": 300})  # the failures: fewer chunks, a quicker test


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """A generated book as CSV (every table chunked), with what a sync must reject spread over
    its chunks: a repeat of a usage key hundreds of rows after its first, a row with a field too
    many, an unknown account, an account rejected (its rows too), a bad cell."""
    folder = tmp_path_factory.mktemp("book") / "data"
    generate.generate(60, seed=3, out=folder, as_of=AS_OF, formats="fast")
    usage = (folder / "usage.csv").read_text().splitlines()
    usage.insert(len(usage) - 3, usage[5])  # a duplicate key, far from its first row
    usage.insert(40, usage[40] + ",extra")  # more fields than the header
    usage.insert(90, usage[90].replace(usage[90].split(",")[0], "ACC-NOPE", 1))  # unknown account
    (folder / "usage.csv").write_text("\n".join(usage) + "\n")
    accounts = (folder / "accounts.csv").read_text().splitlines()
    cells = accounts[30].split(",")
    header = accounts[0].split(",")
    cells[header.index("ARR")] = "lots"  # account rejected: its usage and features rows too
    accounts[30] = ",".join(cells)
    accounts.append(accounts[12])  # a repeated account, in the last chunk
    (folder / "accounts.csv").write_text("\n".join(accounts) + "\n")
    return folder


def _database(engine) -> dict[str, pd.DataFrame]:
    """Every stored portfolio row in stored order (ids too), the rejects and the run's counts."""
    out = {}
    with engine.connect() as conn:
        for name, table in store.PORTFOLIO_TABLES.items():
            out[name] = pd.read_sql(sa.select(table).order_by(table.c.id), conn)
        rejects = store.SyncReject.__table__
        out["rejects"] = pd.read_sql(sa.select(rejects).order_by(rejects.c.id), conn).drop(
            columns=["id", "sync_run_id"]
        )
    runs = store.sync_runs(engine)
    out["runs"] = runs[["status", "rows_read", "rows_accepted", "rows_rejected"]]
    return out


def _sync(tmp_path, name: str, folder, limits, monkeypatch, per_range: int):
    monkeypatch.setattr(snapshot, "ACCOUNTS_PER_RANGE", per_range)
    engine = store.connect(f"sqlite:///{tmp_path / name}.db")
    report = pipeline.sync_folder(engine, folder, limits=limits)
    return engine, report


def test_a_chunked_sync_gives_exactly_the_whole_sync(tmp_path, book, monkeypatch):
    whole, whole_report = _sync(tmp_path, "whole", book, WHOLE, monkeypatch, per_range=100_000)
    # chunks of 30 rows; the snapshot merged 7 accounts at a time (9 ranges)
    chunked, report = _sync(tmp_path, "chunked", book, CHUNKS, monkeypatch, per_range=7)
    expected, got = _database(whole), _database(chunked)
    reasons = " ".join(expected["rejects"]["reason"])
    for what in ("duplicate", "fields but the header", "unknown account_id", "was rejected in"):
        assert what in reasons  # the book does test each cross-chunk check
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, obj=name)
    pd.testing.assert_frame_equal(report.portfolio.rejects, whole_report.portfolio.rejects)
    assert report.portfolio.summary().equals(whole_report.portfolio.summary())

    expected_snapshot, got_snapshot = store.snapshot(whole), store.snapshot(chunked)
    assert got_snapshot is not None
    for name, frame in expected_snapshot.tables().items():
        pd.testing.assert_frame_equal(got_snapshot.tables()[name], frame, obj=name)
    lows = [low for low, _ in got_snapshot.bounds(20)]
    for low, high in zip(lows, [*lows[1:], None], strict=True):
        for name, frame in expected_snapshot.chunk(low, high).items():
            pd.testing.assert_frame_equal(got_snapshot.chunk(low, high)[name], frame, obj=name)

    as_of = pd.Timestamp(AS_OF).date()
    answer = pipeline.find(chunked, "", as_of=as_of)
    assert (
        answer.opportunity_records() == pipeline.find(whole, "", as_of=as_of).opportunity_records()
    )
    whole.dispose()
    chunked.dispose()


def test_a_failure_in_the_last_chunk_changes_nothing(tmp_path, book, monkeypatch):
    engine, _ = _sync(tmp_path, "db", book, LATE, monkeypatch, per_range=7)
    before = stored_rows(engine)
    version = store.data_version(engine)
    broken = tmp_path / "broken"
    shutil.copytree(book, broken)
    usage = (broken / "usage.csv").read_bytes()
    (broken / "usage.csv").write_bytes(usage[:-40] + b"\xff\xfe" + usage[-40:])  # not UTF-8
    with pytest.raises(ContractError, match="not UTF-8"):
        pipeline.sync_folder(engine, broken, limits=LATE)
    # and a table with more rows than allowed, found in its last chunk
    rows = (book / "usage.csv").read_text().count("\n") - 1
    too_many = limits_from_mapping({"chunk_rows": 300, "max_rows": rows - 2})
    with pytest.raises(ContractError, match="more than"):
        pipeline.sync_folder(engine, book, limits=too_many)
    runs = store.sync_runs(engine)
    assert list(runs["status"][:2]) == ["failed", "failed"]
    assert store.data_version(engine) == version
    after = stored_rows(engine)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame, obj=name)
    engine.dispose()


def test_strict_and_the_refusal_to_empty_a_table_hold_across_chunks(tmp_path, book, monkeypatch):
    engine, _ = _sync(tmp_path, "db", book, LATE, monkeypatch, per_range=7)
    before = stored_rows(engine)
    with pytest.raises(RejectedRowsError):
        pipeline.sync_folder(engine, book, strict=True, limits=LATE)
    emptied = tmp_path / "emptied"
    shutil.copytree(book, emptied)
    lines = (emptied / "usage.csv").read_text().splitlines()
    header = lines[0].split(",")
    column = header.index("period")
    bad = [",".join(c if i != column else "soon" for i, c in enumerate(line.split(",")))
           for line in lines[1:]]  # fmt: skip
    (emptied / "usage.csv").write_text("\n".join([lines[0], *bad]) + "\n")
    with pytest.raises(SourceError, match="gave no usable rows for usage"):
        pipeline.sync_folder(engine, emptied, limits=LATE)
    runs = store.sync_runs(engine)
    assert list(runs["status"][:2]) == ["failed", "failed"]
    assert "--strict" in runs["error"].iloc[1]
    after = stored_rows(engine)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame, obj=name)
    engine.dispose()


# --------------------------------------------------------------------------- SQL


def _warehouse(url: str, book) -> dict[str, str]:
    engine = sa.create_engine(url)
    usage = pd.read_csv(book / "usage.csv", dtype=str, on_bad_lines="skip")
    usage.insert(0, "n", range(1, len(usage) + 1))
    usage.to_sql("usage_rows", engine, index=False, if_exists="replace")
    engine.dispose()
    return {"usage": 'SELECT account_id, metric, period, value, "limit" FROM usage_rows ORDER BY n'}


def _sql_sync(engine, url, queries, limits):
    config = SourceConfig("warehouse", "sql", {"queries": queries}, role="warehouse")
    return pipeline.sync_source(engine, config, env={"WAREHOUSE_URL": url}, limits=limits)


def _crm(engine, book):
    crm = SourceConfig("crm", "files", {"path": str(book)}, role="crm")
    pipeline.sync_source(engine, crm)


@pytest.mark.parametrize("warehouse", ["sqlite", "postgresql"])
def test_a_query_read_in_chunks_gives_the_same_rows_and_a_late_failure_changes_nothing(
    tmp_path, book, warehouse, request
):
    if warehouse == "sqlite":
        url = f"sqlite:///{tmp_path / 'wh.db'}"
        fail_late = "abs(n - n - 9223372036854775807 - 1)"  # integer overflow, as the row is read
    else:
        url = request.getfixturevalue("pg_url")
        fail_late = "CAST(1 / (n - n) AS TEXT)"  # division by zero, as the row is read
    queries = _warehouse(url, book)
    results = {}
    for limits in (WHOLE, CHUNKS):
        engine = store.connect(f"sqlite:///{tmp_path / f'db-{limits.chunk_rows}'}.db")
        _crm(engine, book)
        report = _sql_sync(engine, url, queries, limits)
        results[limits.chunk_rows] = (_database(engine), report)
        engine.dispose()
    (expected, whole_report), (got, report) = results[WHOLE.chunk_rows], results[30]
    assert report.portfolio.accepted["usage"] > 50
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, obj=name)
    pd.testing.assert_frame_equal(report.portfolio.rejects, whole_report.portfolio.rejects)

    engine = store.connect(f"sqlite:///{tmp_path / 'db-30'}.db")
    before = stored_rows(engine)
    late = {
        "usage": f"SELECT account_id, metric, period, value, "
        f'CASE WHEN n > 1000 THEN {fail_late} ELSE "limit" END AS "limit" FROM usage_rows ORDER BY n'
    }
    with pytest.raises(SourceError, match="the query for usage failed"):
        _sql_sync(engine, url, late, CHUNKS)
    assert store.sync_runs(engine, limit=1).iloc[0]["status"] == "failed"
    after = stored_rows(engine)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame, obj=name)
    engine.dispose()
