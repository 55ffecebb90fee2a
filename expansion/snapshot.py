"""The scoring snapshot of a sync's rows, built without holding the book.

A sync of the only source writes its rows a chunk at a time (:class:`expansion.ingest.
Validation`); the scoring snapshot (the merged portfolio as Parquet, one frame per table,
rows in account order: see :func:`expansion.merge.merge_frames`) is made from the same chunks.
:class:`SnapshotSpill` puts each accepted chunk's rows into temporary files by range of
accounts (by their place in the sorted order of the sync's accounts) as they are written,
then merges one range at a time: merging one source is per account and per row, and sorting
a range by the tables' keys, account first, puts the ranges in order one after the other. So
the snapshot is the one a whole merge gives, and memory is set by the range, not the book.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import NoDataError
from .merge import merge_frames
from .store import PORTFOLIO_TABLES, portfolio_parquet
from .store.parquet import read_parquet

#: Accounts per range the snapshot is merged in (the chunk of scoring, too, by default).
ACCOUNTS_PER_RANGE = 100_000


class SnapshotSpill:
    """Accepted chunks kept by account range; :meth:`portfolio_parquet` builds the snapshot.

    While the book has at most one range of accounts the chunks are kept in memory (that is
    what one range costs anyway); a larger book's go to temporary Parquet files, one per
    piece. Use as a context manager: the temporary files go when it ends.
    """

    def __init__(self, check, accounts_per_range: int | None = None) -> None:
        self.check = check
        self.per = accounts_per_range or ACCOUNTS_PER_RANGE
        self.folder: Path | None = None
        self.pieces: dict[tuple[str, int], list] = {}  # frames, or Parquet files
        self.on_disk = False
        self.count = 0
        self.ranges = 0

    def __enter__(self) -> SnapshotSpill:
        return self

    def __exit__(self, *exc) -> None:
        self.pieces.clear()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _put(self, name: str, part: int, frame: pd.DataFrame) -> None:
        piece: pd.DataFrame | Path = frame
        if self.on_disk:
            if self.folder is None:
                self.folder = Path(tempfile.mkdtemp(prefix="expansion-snapshot-"))
            self.count += 1
            piece = self.folder / f"{name}-{part}-{self.count}.parquet"
            frame.to_parquet(piece, index=False)
        self.pieces.setdefault((name, part), []).append(piece)

    def _take(self, name: str, part: int) -> list[pd.DataFrame]:
        out = []
        for piece in self.pieces.pop((name, part), []):
            if isinstance(piece, Path):
                frame = read_parquet(piece.read_bytes())
                piece.unlink()
                piece = frame
            out.append(piece)
        return out

    def keep(
        self, chunks: Iterator[tuple[str, pd.DataFrame]]
    ) -> Iterator[tuple[str, pd.DataFrame]]:
        """``chunks`` passed on as they are, each also kept by account range."""
        for name, frame in chunks:
            if name not in ("accounts", "catalog") and not self.ranges:
                self._ranges()
            if name in ("accounts", "catalog"):
                self.pieces.setdefault((name, -1), []).append(frame)  # split once all are read
            else:
                self._split(name, frame)
            yield name, frame
        if not self.ranges:
            self._ranges()

    def _ranges(self) -> None:
        """Every account read: the ranges are known, and the accounts go into theirs."""
        accounts = self.pieces.pop(("accounts", -1), [])
        self.ranges = max(1, -(-sum(len(f) for f in accounts) // self.per))
        self.on_disk = self.ranges > 1
        for frame in accounts:
            self._split("accounts", frame)

    def _split(self, name: str, frame: pd.DataFrame) -> None:
        if frame.empty:
            self._put(name, 0, frame)  # the table's columns and types, for an empty table
            return
        part = self.check.account_rank(frame["account_id"]).clip(min=0) // self.per
        order = np.argsort(part, kind="stable")
        part = part[order]
        starts = np.flatnonzero(np.r_[True, part[1:] != part[:-1]])
        for start, end in zip(starts, [*starts[1:], len(part)], strict=True):
            self._put(name, int(part[start]), frame.iloc[order[start:end]])

    def portfolio_parquet(self, source: str, role: str) -> pd.DataFrame | None:
        """The snapshot's Parquet frames (``name``/``data`` rows) as
        :func:`expansion.store.portfolio_parquet` makes them from the whole merged book;
        ``None`` when it holds no accounts or a table Parquet cannot hold."""
        catalog = self.pieces.pop(("catalog", -1), [])
        if self.ranges == 1:  # one range: merged and encoded whole, as always
            frames = {name: self._frame(name, table, 0, catalog, source)
                      for name, table in PORTFOLIO_TABLES.items()}  # fmt: skip
            try:
                merged, _ = merge_frames(frames, {source: role}, conflicts=False)
            except NoDataError:
                return None
            return portfolio_parquet(merged)
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="expansion-snapshot-"))
        written: dict[str, list[Path]] = {name: [] for name in PORTFOLIO_TABLES}
        for part in range(self.ranges):
            frames = {name: self._frame(name, table, part, catalog, source)
                      for name, table in PORTFOLIO_TABLES.items()}  # fmt: skip
            try:
                merged, _ = merge_frames(frames, {source: role}, conflicts=False)
            except NoDataError:
                continue
            del frames
            for name, frame in merged.items():
                if name == "catalog" and written[name]:
                    continue
                path = self.folder / f"merged-{name}-{part}.parquet"
                try:
                    frame.reset_index(drop=True).to_parquet(path, index=False)
                except (ValueError, TypeError, pa.ArrowException):
                    return None
                written[name].append(path)
            del merged
        if not written["accounts"]:
            return None
        frames = {}
        for name, paths in written.items():
            frames[name] = _joined(paths)
            if frames[name] is None:
                return None
        return pd.DataFrame({"name": list(frames), "data": list(frames.values())})

    def _frame(self, name, table, part: int, catalog, source: str) -> pd.DataFrame:
        columns = [c.name for c in table.columns if c.name not in ("id", "source")]
        pieces = catalog if name == "catalog" else self._take(name, part)
        if not pieces:
            frame = pd.DataFrame(columns=columns)
        elif len(pieces) == 1:
            frame = pieces[0]
        else:
            frame = pd.concat(pieces, ignore_index=True)
        return frame.reindex(columns=columns).assign(source=source)


def _joined(paths: list[Path]) -> bytes | None:
    """Parquet files of one table, one range each, as one Parquet frame: their row groups one
    after the other, under one schema (a column all missing in one range takes the type it
    has in the others)."""
    schemas = [pq.read_schema(path) for path in paths]
    try:
        schema = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowException, TypeError):
        return None
    # pandas' metadata (dtypes) from a range whose columns have the unified types
    best = next(
        (s for s in schemas if s.remove_metadata().equals(schema.remove_metadata())), schemas[0]
    )
    schema = schema.with_metadata(best.metadata)
    buffer = pa.BufferOutputStream()
    with pq.ParquetWriter(buffer, schema) as writer:
        for path in paths:
            writer.write_table(pq.read_table(path).cast(schema))
    return buffer.getvalue().to_pybytes()
