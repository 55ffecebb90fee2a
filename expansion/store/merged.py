"""The merged portfolio scoring reads: every source's rows merged by the merge rule
(:mod:`expansion.merge`), and kept per data version as a Parquet snapshot
(``portfolio_frames``, one Parquet frame per table) that scoring reads whole or a chunk of
accounts at a time.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from ..merge import merge_frames
from .parquet import to_parquet
from .reads import data_version, read_frame, source_roles
from .schema import PORTFOLIO_FRAMES, PORTFOLIO_TABLES
from .writes import insert_frame, write_errors


def load_tables(engine: sa.Engine) -> dict[str, pd.DataFrame]:
    """Every portfolio table, all sources merged (see :mod:`expansion.merge`), as canonical frames.

    Raises:
        NoDataError: no source has synced any account yet.
    """
    version = data_version(engine)
    stored = _stored_portfolio(engine, version)
    if stored is not None:
        return Snapshot(stored).tables()
    tables = merged_tables(engine, conflicts=False)[0]
    save_portfolio_frames(engine, version, tables)
    return tables


def conflicts(engine: sa.Engine) -> pd.DataFrame:
    """Where sources disagree (see :mod:`expansion.merge`); nothing is read for one source."""
    if len(source_roles(engine)) < 2:
        return pd.DataFrame()
    return merged_tables(engine)[1]


def merged_tables(
    engine: sa.Engine, *, conflicts: bool = True
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """All sources merged by the merge rule, and the conflicts between them."""
    frames = {}
    with engine.connect() as conn:
        for name, table in PORTFOLIO_TABLES.items():
            columns = [c for c in table.columns if c.name != "id"]
            frames[name] = read_frame(conn, sa.select(*columns).order_by(table.c.id))
    return merge_frames(frames, source_roles(engine), conflicts=conflicts)


def save_portfolio_frames(engine: sa.Engine, version: int, tables: dict[str, pd.DataFrame]) -> None:
    """Keep the merged portfolio of data version ``version`` as Parquet, so scoring reads it
    in a fraction of a second instead of reading and merging every row (a re-score at another
    date or configuration, the nightly job, a digest after a restart). Older versions go.
    A table Parquet cannot hold leaves no snapshot: scoring then reads the rows."""
    save_portfolio_parquet(engine, version, portfolio_parquet(tables))


def portfolio_parquet(tables: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """The merged portfolio's tables as Parquet frames (``name``/``data`` rows), or ``None``
    when a table Parquet cannot hold (see :func:`to_parquet`)."""
    return to_parquet({name: tables[name] for name in PORTFOLIO_TABLES})


def save_portfolio_parquet(engine: sa.Engine, version: int, frames: pd.DataFrame | None) -> None:
    """Keep :func:`portfolio_parquet` as data version ``version``'s snapshot (``None``: none)."""
    if frames is None:
        return
    with write_errors(engine, "keeping the scoring snapshot failed"), engine.begin() as conn:
        conn.execute(PORTFOLIO_FRAMES.delete())
        insert_frame(conn, PORTFOLIO_FRAMES, frames.assign(data_version=version))


def _stored_portfolio(engine: sa.Engine, version: int) -> dict[str, bytes] | None:
    t = PORTFOLIO_FRAMES
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.name, t.c.data).where(t.c.data_version == version).order_by(t.c.id)
        ).all()
    stored = dict(rows)  # the latest copy of each table
    return stored if set(stored) == set(PORTFOLIO_TABLES) else None


class Snapshot:
    """The merged portfolio of one data version as its Parquet frames (one per table, each
    table's rows in account-id order: see :func:`merge_frames`), read a chunk of accounts at a
    time (:mod:`expansion.chunks`). Each frame is held in memory (``bytes``, a few megabytes
    per 100k accounts) or is a file (:meth:`on_disk`, which worker processes share); picklable.
    """

    def __init__(self, frames: Mapping[str, bytes | Path]):
        self.frames = dict(frames)
        self._ids: list[str] | None = None

    def _source(self, name: str):
        frame = self.frames[name]
        return io.BytesIO(frame) if isinstance(frame, bytes) else str(frame)

    def on_disk(self, folder: str | Path) -> Snapshot:
        """The same snapshot with each frame written to a file in ``folder``: worker
        processes read those (only the row groups of their chunks) instead of each holding a
        copy of the whole portfolio in memory (220 MB at 1M accounts)."""
        files = {}
        for name, frame in self.frames.items():
            if isinstance(frame, bytes):
                path = Path(folder) / f"{name}.parquet"
                path.write_bytes(frame)
                frame = path
            files[name] = frame
        copy = Snapshot(files)
        copy._ids = self._ids
        return copy

    @property
    def account_ids(self) -> list[str]:
        """Every account id, sorted."""
        if self._ids is None:
            import pyarrow.compute as pc
            import pyarrow.parquet as pq

            column = pq.read_table(self._source("accounts"), columns=["account_id"])["account_id"]
            ids = pc.unique(column.drop_null())
            self._ids = ids.take(pc.sort_indices(ids)).to_pylist()
        return self._ids

    def bounds(self, accounts_per_chunk: int) -> list[tuple[str, str | None]]:
        """``(first id, first id of the next chunk or None)`` of each chunk."""
        starts = self.account_ids[::accounts_per_chunk]
        return list(itertools.pairwise([*starts, None]))

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table, whole."""
        return {name: pd.read_parquet(self._source(name)) for name in self.frames}

    def chunk(self, low: str, high: str | None) -> dict[str, pd.DataFrame]:
        """The tables' rows of accounts ``low <= id < high``: only the Parquet row groups that
        can hold them are read and decoded."""
        within = [("account_id", ">=", low)] + ([("account_id", "<", high)] if high else [])
        return {
            name: pd.read_parquet(self._source(name), filters=None if name == "catalog" else within)
            for name in self.frames
        }

    def __getstate__(self) -> dict:
        return {"frames": self.frames, "_ids": None}  # workers need no id list


def snapshot(engine: sa.Engine) -> Snapshot | None:
    """The current data's :class:`Snapshot`, if one was kept (a sync of the only source, or
    the first scoring after a sync, keeps it)."""
    stored = _stored_portfolio(engine, data_version(engine))
    return None if stored is None else Snapshot(stored)
