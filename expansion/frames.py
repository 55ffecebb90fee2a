"""Small vectorised helpers the engine shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa


def python_objects(values: pd.Series, *, text: bool = False) -> np.ndarray:
    """A column as Python objects with ``None`` where missing (``text``: every value a ``str``).

    What the engine keys on (object columns hash faster than Arrow strings in ``isin``, ``map``
    and ``groupby``, and Arrow strings' ``isin`` converts values one by one under the GIL) and
    what a database driver binds as it is.
    """
    if isinstance(values.dtype, pd.StringDtype):
        # Each distinct string converted once (and held once), not once per row: millions of
        # rows with a few (metric) or 100k (account) distinct values convert several times
        # faster, in a fraction of the memory.
        codes, uniques = pd.factorize(values)
        vocabulary = np.empty(len(uniques) + 1, dtype=object)
        vocabulary[:-1] = np.asarray(uniques, dtype=object)
        vocabulary[-1] = None  # code -1: missing
        return vocabulary.take(codes)
    out = values.to_numpy(dtype=object, na_value=None, copy=True)
    if values.dtype == object:
        out[values.isna().to_numpy()] = None
    if text and pd.api.types.infer_dtype(out, skipna=True) not in ("string", "empty"):
        odd = np.fromiter((v is not None and type(v) is not str for v in out), bool, len(out))
        out[odd] = [str(v) for v in out[odd]]
    return out


def lex_order(keys: list[np.ndarray]) -> np.ndarray | None:
    """The stable permutation that orders rows by integer ``keys`` (first key first), or
    ``None`` when the rows already are in that order (one pass, no sort)."""
    if len(keys[0]) < 2:
        return None
    ordered = np.ones(len(keys[0]) - 1, dtype=bool)  # rows i, i+1 in order on keys so far
    tied = np.ones(len(keys[0]) - 1, dtype=bool)  # rows i, i+1 equal on keys so far
    for key in keys:
        step = np.diff(key)
        ordered &= ~tied | (step >= 0)
        tied &= step == 0
    return None if ordered.all() else np.lexsort(keys[::-1])


def sorted_by(
    frame: pd.DataFrame, keys: list[str], *, descending: tuple[str, ...] = ()
) -> pd.DataFrame:
    """``frame.sort_values(keys, ascending=[k not in descending ...], kind="stable")``
    (missing values last), computed on integer codes in each key's sort order, and not at all
    when the rows already are in that order (a merged snapshot of 30M usage rows usually is:
    sorting it on its text keys took seconds)."""
    if len(frame) < 2:
        return frame
    codes = []
    for key in keys:
        code, _ = pd.factorize(frame[key], sort=True)
        if key in descending:
            code = np.where(code >= 0, code.max() - code, code)
        codes.append(np.where(code < 0, code.max() + 1, code))  # missing last
    order = lex_order(codes)
    return frame if order is None else frame.iloc[order]


def per_distinct(values: pd.Series, transform, *, dtype=None) -> pd.Series:
    """``transform(values)`` for an element-wise ``transform``, computed once per distinct
    value (missing values included): a column of 100k rows often holds a few thousand
    distinct texts or a hundred distinct scores. The result has ``dtype`` (default: that of
    ``values``)."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    done = np.asarray(transform(pd.Series(distinct)), dtype=object)
    return pd.Series(done.take(codes), index=values.index, dtype=dtype or values.dtype)


def join_groups(
    values: pd.Series,
    keys: pd.Series | list[pd.Series],
    *,
    sep: str,
    unique: bool = False,
    ordered: bool = False,
    limit: int | None = None,
) -> pd.Series:
    """Each group's ``values`` joined into one string, like ``groupby(keys).agg(sep.join)``
    but without a Python call per group (a portfolio has hundreds of thousands of groups).

    Values keep their row order, or are sorted (``ordered``); ``unique`` keeps the first
    occurrence of each value; ``limit`` keeps the first ``limit`` values. Rows with a missing
    key are left out; the result is indexed by the sorted group keys, as ``groupby`` is.
    """
    keys = [keys] if isinstance(keys, pd.Series) else list(keys)
    names = [f"_k{i}" for i in range(len(keys))]
    frame = pd.DataFrame(
        {**{n: k.to_numpy() for n, k in zip(names, keys, strict=True)}, "_v": values.to_numpy()}
    )
    frame = frame.dropna(subset=names)
    if ordered:
        frame = frame.sort_values([*names, "_v"], kind="stable")
    if unique:
        frame = frame.drop_duplicates([*names, "_v"])
    groups = frame.groupby(names, sort=True)
    index = groups.size().index
    if len(keys) == 1:
        index = index.rename(keys[0].name)
    else:
        index = index.set_names([k.name for k in keys])
    rank = groups.cumcount().to_numpy()
    code = groups.ngroup().to_numpy()
    text = frame["_v"].astype(str).to_numpy(dtype=object)
    if limit is not None:
        keep = rank < limit
        rank, code, text = rank[keep], code[keep], text[keep]
    out = np.empty(len(index), dtype=object)
    first = rank == 0
    out[code[first]] = text[first]
    for k in range(1, int(rank.max()) + 1 if len(rank) else 1):
        more = rank == k
        out[code[more]] = out[code[more]] + sep + text[more]
    return pd.Series(out, index=index, dtype="str")


def nul_cells(text: pd.Series) -> pd.Series:
    """Which cells of a text column hold a NUL byte (which PostgreSQL cannot store in text).

    A column without any (nearly every column) is told by one pass over its Arrow bytes, a
    fraction of the time looking into each cell takes; only a column with a NUL somewhere is
    looked into cell by cell.
    """
    try:
        data = pa.chunked_array(pa.array(text, from_pandas=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text
        data = None
    if data is not None and (pa.types.is_string(data.type) or pa.types.is_large_string(data.type)):
        buffers = [chunk.buffers()[2] for chunk in data.chunks]
        if all(b is None or np.frombuffer(b, dtype=np.uint8).all() for b in buffers):
            return pd.Series(False, index=text.index)
    return text.astype(str).str.contains("\x00", regex=False).fillna(False).astype(bool)
