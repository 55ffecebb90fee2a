"""Scoring a large portfolio a chunk of accounts at a time, exactly as it scores whole.

Holding a 1M-account book whole (54M rows in, 900k explained opportunities out) takes about
11 GB. An account's scoring depends on its own rows plus a few portfolio-wide figures (the
:class:`~expansion.engine.PortfolioContext`), so the portfolio can be scored in chunks of
whole accounts: one pass over the chunks finds the context, a second scores each chunk with it,
and :func:`expansion.store.save_analysis_chunks` puts the chunks' results together in the
order a whole-portfolio scoring gives them. Memory is then bounded by the chunk size.

Chunks come from a callable that yields them anew on each call (it is called twice): each
chunk a dict of canonical tables holding whole accounts, chunks in account-id order, every
table's rows in account-id order (as the merged snapshot is, see
:func:`expansion.store.snapshot_chunks`); ``catalog`` in every chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import pandas as pd

from .config import DEFAULT_CONFIG, ScoringConfig
from .engine import (
    Analysis,
    PortfolioContext,
    _account_codes,
    _complete,
    analyze,
    segment_median_arr,
)
from .profile import (
    BENCHMARK_DIMENSIONS,
    benchmarks,
    build_profiles,
    choose_volume_metric,
    recent_signals,
)

Chunks = Callable[[], Iterable[dict[str, pd.DataFrame]]]

#: Accounts per chunk when the scoring is split: at about 12 KB per account at peak, a chunk
#: of 100k stays near 1.3 GB whatever the size of the book.
CHUNK_ACCOUNTS = 100_000


def split(tables: dict[str, pd.DataFrame], accounts_per_chunk: int) -> Chunks:
    """In-memory tables as chunks of ``accounts_per_chunk`` accounts (by account id)."""
    ids = pd.Series(tables["accounts"]["account_id"].dropna().unique()).astype(str)
    ids = ids.sort_values(ignore_index=True)
    bounds = ids.iloc[::accounts_per_chunk].tolist()

    def chunks() -> Iterator[dict[str, pd.DataFrame]]:
        for i, low in enumerate(bounds):
            high = bounds[i + 1] if i + 1 < len(bounds) else None
            part = {}
            for name, frame in tables.items():
                if "account_id" not in frame:
                    part[name] = frame
                    continue
                key = frame["account_id"].astype("str")
                keep = key >= low
                if high is not None:
                    keep &= key < high
                part[name] = frame[keep.fillna(False).to_numpy(bool)].reset_index(drop=True)
            yield part

    return chunks


def portfolio_context(
    chunks: Chunks, *, as_of: pd.Timestamp | str, config: ScoringConfig = DEFAULT_CONFIG
) -> PortfolioContext:
    """The whole portfolio's :class:`PortfolioContext`, from one pass over its chunks.

    Each chunk's profile figures that benchmarks are made of are kept (a few columns per
    account), with each account's latest value of every non-seat usage metric: the usage
    volume is the portfolio's most common metric, known only once every chunk is counted.
    """
    as_of = pd.Timestamp(as_of).normalize()
    figures, latest = [], []
    with_rows: set[str] = set()
    for chunk in chunks():
        t, _ = _account_codes(_complete(chunk))
        with_rows |= {name for name, frame in t.items() if len(frame)}
        signals = recent_signals(t["signals"], as_of, config)
        signals = signals[signals["account_id"].isin(t["accounts"]["account_id"])]
        p, metrics = build_profiles(t, signals, as_of, config, volume_metric=None)
        figures.append(p[list(dict.fromkeys(["status", "segment", "arr", *BENCHMARK_DIMENSIONS]))])
        latest.append(metrics[["account_id", "metric", "value"]])
    if not figures:
        raise ValueError("no chunks: the portfolio holds no accounts")
    volume = choose_volume_metric(
        pd.concat([m["metric"] for m in latest], ignore_index=True).value_counts()
    )
    for p, metrics in zip(figures, latest, strict=True):
        value = metrics[metrics["metric"] == volume].set_index("account_id")["value"]
        p["usage_volume"] = value.reindex(p.index)
    every = pd.concat(figures)
    return PortfolioContext(
        benchmarks=benchmarks(every),
        segment_median_arr=segment_median_arr(every),
        volume_metric=volume,
        tables_with_rows=frozenset(with_rows),
    )


def analyze_chunks(
    chunks: Chunks,
    *,
    as_of: pd.Timestamp | str,
    config: ScoringConfig = DEFAULT_CONFIG,
    context: PortfolioContext | None = None,
) -> Iterator[Analysis]:
    """Each chunk's :class:`Analysis` with the whole portfolio's context."""
    if context is None:
        context = portfolio_context(chunks, as_of=as_of, config=config)
    for chunk in chunks():
        yield analyze(chunk, as_of=as_of, config=config, context=context)
