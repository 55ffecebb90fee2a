"""Writing: a source's rows replaced in one transaction (a sync), failed syncs recorded, and
the bulk insert every write goes through (COPY on PostgreSQL, multi-row INSERTs on SQLite).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..errors import StorageError
from ..frames import python_objects
from ..redact import redact
from .schema import PORTFOLIO_TABLES, SyncReject, SyncRun, utcnow

INSERT_BATCH = 100_000  # rows converted and sent per driver call
# Values bound per multi-row INSERT on SQLite (its limit is 32,766; a few hundred is fastest).
SQLITE_PARAMETERS_PER_STATEMENT = 320
# A SQLite table getting at least this many rows (and most of its rows) in one sync has its
# indexes dropped for the insert and rebuilt after: one sort instead of a B-tree update per row.
BULK_REINDEX_ROWS = 50_000


def upsert(
    conn: sa.Connection, table: sa.Table, key: dict, values: dict, *, on_insert: dict | None = None
) -> None:
    """Update the row matching ``key`` with ``values``, or insert it (plus ``on_insert``)."""
    where = sa.and_(*(table.c[name] == value for name, value in key.items()))
    if conn.execute(sa.select(sa.literal(1)).select_from(table).where(where)).first():
        conn.execute(table.update().where(where).values(**values))
    else:
        conn.execute(table.insert().values(**{**(on_insert or {}), **key, **values}))


def replace_source(
    engine: sa.Engine,
    source: str,
    tables: Mapping[str, pd.DataFrame] | Iterable[tuple[str, pd.DataFrame]],
    *,
    run: SyncRun,
    rejects: pd.DataFrame | Callable[[], pd.DataFrame],
    progress: Callable[[str, int], None] | None = None,
) -> SyncRun:
    """Replace every portfolio row of ``source`` with ``tables`` in one transaction.

    ``tables`` is either whole frames by table name or ``(table, rows)`` chunks in
    :data:`PORTFOLIO_TABLES` order, written as they come (a sync validates a large book a
    chunk at a time, so it never holds it: see :class:`expansion.ingest.Validation`); a
    chunk's producer may raise, and nothing is committed then. ``rejects`` may be a function
    called once every chunk is written, still inside the transaction: it returns the rejects
    to keep, or raises to commit nothing (a sync refusing to empty a table, ``--strict``).

    Tables absent from ``tables`` are emptied for this source: a source is a whole snapshot.

    Raises:
        StorageError: the database or its driver refused the write (a full disk...); nothing
            was committed.

    Syncs of different sources at once take turns on SQLite: the transaction takes the
    database's write lock before it reads anything (``BEGIN IMMEDIATE``), so what it finds
    (whether another source has rows in a table) still holds when it deletes.
    """
    chunks = tables.items() if isinstance(tables, Mapping) else tables
    with write_errors(engine, "writing to the database failed"), engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        if conn.dialect.name == "postgresql":
            # Two syncs of one source at once (a replica's /expansion sync and the nightly job)
            # take turns, so the second deletes what the first inserted instead of doubling it.
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                {"key": f"expansion-sync:{source}"},
            )
        kept = {
            name: _delete_source_rows(conn, table, source)
            for name, table in PORTFOLIO_TABLES.items()
        }
        with ExitStack() as reindex:
            current = None
            for name, frame in chunks:
                if frame is None or frame.empty:
                    continue
                table = PORTFOLIO_TABLES[name]
                if name != current:  # a table's first rows: its indexes, bulk or not
                    reindex.close()
                    reindex.enter_context(
                        _indexes_rebuilt_after(conn, table, bulk=_is_bulk(len(frame), kept[name]))
                    )
                    current = name
                insert_frame(conn, table, frame.assign(source=source))
                if progress:
                    progress(name, len(frame))
        keep = rejects() if callable(rejects) else rejects
        run.finished_at = utcnow()
        run.status = "succeeded"
        run_id = insert_run(conn, run)
        if len(keep):
            insert_frame(conn, SyncReject.__table__, _storable_rejects(keep, run_id))
    run.id = run_id
    return run


def _delete_source_rows(conn: sa.Connection, table: sa.Table, source: str) -> int | None:
    """Delete ``source``'s rows of ``table``; on SQLite, the number of other sources' rows kept.

    When no other source has rows in the table (one source, the usual case) SQLite empties it
    with an unqualified DELETE, which it does without visiting each row. That is only safe
    because the caller's transaction holds the write lock since before the check (see
    :func:`replace_source`): no other sync can commit rows in between.
    """
    if conn.dialect.name != "sqlite":
        conn.execute(table.delete().where(table.c.source == source))
        return None
    others = (table.c.source < source) | (table.c.source > source)  # index ranges, not a scan
    if conn.execute(sa.select(table.c.source).where(others).limit(1)).first() is None:
        conn.execute(table.delete())
        return 0
    conn.execute(table.delete().where(table.c.source == source))
    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _is_bulk(rows: int, kept: int | None) -> bool:
    return kept is not None and rows >= BULK_REINDEX_ROWS and rows >= kept


@contextmanager
def _indexes_rebuilt_after(conn: sa.Connection, table: sa.Table, *, bulk: bool) -> Iterator[None]:
    """Within the caller's transaction: drop ``table``'s indexes, run the block, rebuild them.

    For bulk loads on SQLite only, where the sync holds the database's one write lock anyway
    and readers keep seeing the previous data (and its indexes) until the commit; a failure
    rolls the drop back with everything else.
    """
    indexes = list(table.indexes) if bulk else []
    for index in indexes:
        index.drop(conn)
    yield
    for index in indexes:
        index.create(conn)


def record_failed_sync(
    engine: sa.Engine, run: SyncRun, error: str, rejects: pd.DataFrame | None = None
) -> SyncRun:
    """Record a sync that stopped before writing anything.

    Raises:
        StorageError: the database refused this write too.
    """
    run.finished_at = utcnow()
    run.status = "failed"
    run.error = redact(error)
    with write_errors(engine, "recording the failed sync failed"), engine.begin() as conn:
        run.id = insert_run(conn, run)
        if rejects is not None and len(rejects):
            insert_frame(conn, SyncReject.__table__, _storable_rejects(rejects, run.id))
    return run


@contextmanager
def write_errors(engine: sa.Engine, what: str) -> Iterator[None]:
    """Turn the database's and its driver's errors (the bulk paths talk to the driver
    directly: COPY, executemany) into :class:`StorageError` with a one-line cause."""
    dbapi = getattr(engine.dialect, "loaded_dbapi", None)
    driver = (dbapi.Error,) if dbapi is not None else ()
    try:
        yield
    except (sa.exc.DBAPIError, *driver) as exc:
        raise StorageError(f"{what}: {one_line_cause(exc)}") from exc


def one_line_cause(exc: BaseException) -> str:
    """A database error as one line: the driver's first line of message and its type, without
    the SQL statement, parameters or COPY context SQLAlchemy and drivers append (they may
    quote customer data)."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    lines = str(orig).strip().splitlines()
    text = (lines[0].strip() if lines else "") or "no message"
    kind = type(orig)
    return f"{text[:300]} ({kind.__module__.split('.')[0]}.{kind.__name__})"


def _nul_free(value):
    """Text with NUL bytes spelled out (PostgreSQL cannot store them; a reject's value or an
    error message may quote one)."""
    return value.replace("\x00", "\\x00") if isinstance(value, str) else value


def _storable_rejects(rejects: pd.DataFrame, run_id) -> pd.DataFrame:
    out = rejects.rename(columns={"table": "table_name"}).assign(sync_run_id=run_id)
    for column in ("table_name", "file", "column", "value", "reason"):
        if column in out:
            out[column] = out[column].map(_nul_free)
    return out


def insert_run(conn: sa.Connection, run: SyncRun) -> int:
    values = {k: _nul_free(v) for k, v in run.model_dump(exclude={"id"}).items()}
    return conn.execute(sa.insert(SyncRun.__table__).values(**values)).inserted_primary_key[0]


def _column_values(column: sa.Column, values: pd.Series, *, dates_as_text: bool) -> np.ndarray:
    """One column as the Python values a driver binds as they are (``None`` where missing),
    converted a whole column at a time."""
    if isinstance(column.type, sa.Date):
        days = pd.to_datetime(values).to_numpy(dtype="datetime64[D]")
        if not dates_as_text:
            return days.astype(object)  # datetime.date, NaT -> None
        # SQLAlchemy's own SQLite date format, not the driver's deprecated adapter.
        out = np.datetime_as_string(days).astype(object)
        out[np.isnat(days)] = None
        return out
    if isinstance(column.type, sa.Integer):
        number = pd.to_numeric(values).round().astype("Int64")
        return number.to_numpy(dtype=object, na_value=None)
    if isinstance(column.type, sa.Boolean):
        return values.astype("boolean").to_numpy(dtype=object, na_value=None)
    if isinstance(column.type, sa.Float):
        number = pd.to_numeric(values).to_numpy(dtype=float)
        out = number.astype(object)
        out[np.isnan(number)] = None
        return out
    return python_objects(values, text=not isinstance(column.type, sa.LargeBinary))


def insert_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Bulk-insert ``frame``'s columns of ``table`` inside the caller's transaction: COPY on
    PostgreSQL (psycopg), multi-row INSERTs through the driver's executemany on SQLite.

    Rows are converted to Python values 100k at a time, so a table of 30M usage rows never
    exists as Python objects all at once (that alone took gigabytes at 1M accounts).
    """
    columns = [c for c in table.columns if c.name in frame.columns and c.name != "id"]
    if frame.empty or not columns:
        return
    sqlite = conn.dialect.name == "sqlite"
    names = [c.name for c in columns]

    def batches() -> Iterator[list[tuple]]:
        for start in range(0, len(frame), INSERT_BATCH):
            part = frame.iloc[start : start + INSERT_BATCH]
            values = [_column_values(c, part[c.name], dates_as_text=sqlite) for c in columns]
            yield list(zip(*(v.tolist() for v in values), strict=True))

    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        from psycopg import sql

        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, names))
        )
        cursor = conn.connection.driver_connection.cursor()
        with cursor, cursor.copy(statement) as copy:
            for rows in batches():
                for row in rows:
                    copy.write_row(row)
        return
    if sqlite:
        _sqlite_insert(conn, table, columns, frame)
        return
    for rows in batches():
        conn.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in rows])


def _sqlite_insert(
    conn: sa.Connection, table: sa.Table, columns: list[sa.Column], frame: pd.DataFrame
) -> None:
    """Rows to SQLite through the driver's executemany, many rows per statement.

    ``INSERT ... VALUES (?, ...), (?, ...), ...`` with SQLITE_ROWS_PER_STATEMENT rows binds the
    same values as one row per statement but steps the statement that many times less (the
    usage table of 100k accounts, 3M rows: 10.6 s -> 6.2 s). The last rows of each batch that
    do not fill a statement go one per statement.
    """
    names = [c.name for c in columns]
    single = str(table.insert().compile(dialect=conn.dialect, column_keys=names))
    group = "(" + ", ".join(["?"] * len(names)) + ")"
    assert single.endswith(group), single
    per = max(1, SQLITE_PARAMETERS_PER_STATEMENT // len(names))
    multi = single + f", {group}" * (per - 1)
    cursor = conn.connection.driver_connection.cursor()
    try:
        for start in range(0, len(frame), INSERT_BATCH):
            part = frame.iloc[start : start + INSERT_BATCH]
            values = [_column_values(c, part[c.name], dates_as_text=True) for c in columns]
            cells = np.column_stack(values) if len(values) > 1 else values[0][:, None]
            full = len(part) // per * per
            if full:
                cursor.executemany(multi, cells[:full].reshape(-1, per * len(names)).tolist())
            if full < len(part):
                cursor.executemany(single, cells[full:].tolist())
    finally:
        cursor.close()
