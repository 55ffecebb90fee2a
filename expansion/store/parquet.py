"""Frames as Parquet: how the scoring snapshot and each scoring run's result frames are kept
(one Parquet blob per frame, ``name``/``data`` rows of ``portfolio_frames`` and
``score_frames``), and read back.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa


def to_parquet(frames: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """``name``/``data`` rows, one Parquet blob per frame; ``None`` when a frame cannot be
    held by Parquet (a column mixing numbers and text): the caller then keeps no copy."""
    encoded = parquet_frames(frames)
    if any(d is None for d in encoded.values()):
        return None
    return pd.DataFrame({"name": list(encoded), "data": list(encoded.values())})


def parquet_frames(frames: dict[str, pd.DataFrame]) -> dict[str, bytes | None]:
    """Each frame as Parquet (:func:`parquet_bytes`), by name.

    The frames are encoded side by side in threads (Arrow encodes without the interpreter
    lock), which is faster than one after the other on two cores."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(len(frames), os.cpu_count() or 1, 4) or 1) as pool:
        return dict(zip(frames, pool.map(parquet_bytes, frames.values()), strict=True))


def parquet_bytes(frame: pd.DataFrame) -> bytes | None:
    """``frame`` as Parquet bytes; ``None`` when Parquet cannot hold it."""
    buffer = io.BytesIO()
    try:
        frame.reset_index(drop=True).to_parquet(buffer, index=False)
    except (ValueError, TypeError, pa.ArrowException):
        return None
    return buffer.getvalue()


def read_parquet(data: bytes, rows: Callable[[pa.Table], pa.Array] | None = None) -> pd.DataFrame:
    """One Parquet frame read back as a DataFrame whose text columns hold Python ``str``
    objects (``None`` where missing); only the rows where ``rows(table)`` is true, when given
    (filtered in Arrow, before any row becomes a pandas or Python value).

    Text is read as Parquet's dictionary pages (each distinct value once, plus an integer per
    row) and each distinct value becomes a Python string once: about twice as fast as Arrow
    strings converted afterwards (what ``find`` wants: see
    :func:`expansion.store.results._python_strings`).
    """
    import pyarrow.parquet as pq

    table = pq.read_table(
        pa.BufferReader(data),
        read_dictionary=[
            f.name
            for f in pq.read_schema(pa.BufferReader(data))
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        ],
    )
    if rows is not None:
        table = table.filter(rows(table))
    text = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
    frame = table.drop_columns(text).to_pandas()  # pandas' own dtypes (Int64, boolean...) kept
    for name in text:
        frame[name] = pd.Series(_dictionary_objects(table[name]), index=frame.index, dtype=object)
    return frame[table.column_names]


def _dictionary_objects(column: pa.ChunkedArray) -> np.ndarray:
    """A dictionary-encoded text column as Python strings, each distinct value made once."""
    parts = [np.empty(0, dtype=object)]
    for chunk in column.chunks:
        vocabulary = np.empty(len(chunk.dictionary) + 1, dtype=object)
        vocabulary[:-1] = chunk.dictionary.to_numpy(zero_copy_only=False)
        vocabulary[-1] = None  # index -1: missing
        parts.append(vocabulary.take(chunk.indices.fill_null(-1).to_numpy()))
    return np.concatenate(parts)


def joined_parquet(blobs: list[bytes], order: tuple[list[str], tuple[str, ...]] | None) -> bytes:
    """Parquet frames of one frame's chunks as one, rows in ``order``
    (:data:`expansion.engine.RESULT_ORDER`; missing values last, ties in chunk order).

    Built a column at a time (read from every chunk, put in order), so only the result and
    one column are ever in memory: 900k opportunities with their text are a gigabyte in Arrow.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = [pq.ParquetFile(pa.BufferReader(d)) for d in blobs]
    # A chunk with no rows of a frame says nothing about its columns' types.
    files = [f for f in files if f.metadata.num_rows] or files[:1]
    schema = pa.unify_schemas([f.schema_arrow for f in files], promote_options="permissive")

    def column(name: str) -> pa.ChunkedArray:
        kind = schema.field(name).type
        parts = [f.read(columns=[name]).column(0).cast(kind) for f in files]
        return pa.chunked_array([c for part in parts for c in part.chunks], type=kind)

    rows = None
    if order is not None and sum(f.metadata.num_rows for f in files) > 1:
        columns, descending = order
        keys = [(c, "descending" if c in descending else "ascending") for c in columns]
        # Arrow's sort is stable with missing values last (pandas' NaN is Parquet's null).
        rows = pc.sort_indices(pa.table({c: column(c) for c in columns}), sort_keys=keys)
    joined = [column(name) if rows is None else column(name).take(rows) for name in schema.names]
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_arrays(joined, schema=schema), sink)
    return sink.getvalue().to_pybytes()
