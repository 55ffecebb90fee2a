"""Scoring a large portfolio a chunk of accounts at a time, exactly as it scores whole.

Holding a 1M-account book whole (54M rows in, 900k explained opportunities out) takes about
11 GB. An account's scoring depends on its own rows plus a few portfolio-wide figures (the
:class:`~expansion.engine.PortfolioContext`), so the portfolio can be scored in chunks of
whole accounts: one pass over the chunks finds the context, a second scores each chunk with it,
and :func:`expansion.store.save_chunk_results` puts the chunks' results together in the order a
whole-portfolio scoring gives them. Memory is then bounded by the chunk size, and the chunks
can be scored side by side in worker processes, one per core.

Chunks come from a callable that yields them anew on each call: each chunk a dict of canonical
tables holding whole accounts, chunks in account-id order, every table's rows in account-id
order (as the merged snapshot is, see :class:`expansion.store.Snapshot`); ``catalog`` in every
chunk.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import repeat

import pandas as pd

from . import store
from .config import DEFAULT_CONFIG, ScoringConfig
from .engine import (
    Analysis,
    PortfolioContext,
    _account_codes,
    _complete,
    analyze,
    segment_median_arr,
)
from .errors import ConfigError
from .profile import (
    BENCHMARK_DIMENSIONS,
    benchmarks,
    build_profiles,
    choose_volume_metric,
    recent_signals,
)

Chunks = Callable[[], Iterable[dict[str, pd.DataFrame]]]

#: Accounts per chunk at most: at about 12 KB per account at peak, a chunk of 100k stays near
#: 1.3 GB whatever the size of the book.
CHUNK_ACCOUNTS = 100_000
#: Below this many accounts a book is scored whole in one process: splitting costs more than
#: it saves.
PARALLEL_MIN_ACCOUNTS = 50_000
#: Worker processes at most (each holds a chunk in memory).
MAX_WORKERS = 4


@dataclass(frozen=True)
class Plan:
    """How a book is scored: ``accounts_per_chunk`` accounts at a time in ``workers``
    processes (1: in this process)."""

    accounts_per_chunk: int
    workers: int


def plan(accounts: int, *, chunk_accounts: int | None = None, workers: int | None = None) -> Plan:
    """Chunks of at most ``chunk_accounts`` (default ``EXPANSION_SCORE_CHUNK_ACCOUNTS``, else
    100k) in ``workers`` processes (default ``EXPANSION_SCORE_WORKERS``, else one per core up to
    4). With several workers, a book of 50k accounts or more is split so each has a share."""
    size = chunk_accounts or _setting("EXPANSION_SCORE_CHUNK_ACCOUNTS", CHUNK_ACCOUNTS)
    workers = workers or _setting("EXPANSION_SCORE_WORKERS", _cores())
    if multiprocessing.current_process().daemon:
        workers = 1  # a daemonic process (the bot's answer workers) may not start others
    if workers > 1 and accounts >= PARALLEL_MIN_ACCOUNTS:
        size = min(size, math.ceil(accounts / workers))
    return Plan(accounts_per_chunk=max(1, size), workers=max(1, workers))


def _cores() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return min(cores, MAX_WORKERS)


def _setting(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(
            f"{name}={value!r} is not a positive whole number; unset it for the default "
            f"({default:,})."
        )
    return number


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


# --------------------------------------------------------------------------- the context


@dataclass
class _Figures:
    """One chunk's share of the portfolio context."""

    profiles: pd.DataFrame  # the figures benchmarks are made of, per account
    latest: pd.DataFrame  # each account's latest value of each usage metric
    tables_with_rows: set[str]


def _figures(chunk: dict[str, pd.DataFrame], as_of: pd.Timestamp, config: ScoringConfig):
    t, _ = _account_codes(_complete(chunk))
    signals = recent_signals(t["signals"], as_of, config)
    signals = signals[signals["account_id"].isin(t["accounts"]["account_id"])]
    p, metrics = build_profiles(t, signals, as_of, config, volume_metric=None)
    columns = list(dict.fromkeys(["status", "segment", "arr", *BENCHMARK_DIMENSIONS]))
    return _Figures(
        profiles=p[columns],
        latest=metrics[["account_id", "metric", "value"]],
        tables_with_rows={name for name, frame in t.items() if len(frame)},
    )


def _context(figures: list[_Figures]) -> PortfolioContext:
    """The portfolio context from every chunk's figures (in chunk order). The usage volume is
    the portfolio's most common metric, known only once every chunk is counted."""
    if not figures:
        raise ValueError("no chunks: the portfolio holds no accounts")
    volume = choose_volume_metric(
        pd.concat([f.latest["metric"] for f in figures], ignore_index=True).value_counts()
    )
    profiles = []
    for f in figures:
        value = f.latest[f.latest["metric"] == volume].set_index("account_id")["value"]
        profiles.append(f.profiles.assign(usage_volume=value.reindex(f.profiles.index)))
    every = pd.concat(profiles)
    return PortfolioContext(
        benchmarks=benchmarks(every),
        segment_median_arr=segment_median_arr(every),
        volume_metric=volume,
        tables_with_rows=frozenset(set().union(*(f.tables_with_rows for f in figures))),
    )


def portfolio_context(
    chunks: Chunks, *, as_of: pd.Timestamp | str, config: ScoringConfig = DEFAULT_CONFIG
) -> PortfolioContext:
    """The whole portfolio's :class:`PortfolioContext`, from one pass over its chunks."""
    as_of = pd.Timestamp(as_of).normalize()
    return _context([_figures(chunk, as_of, config) for chunk in chunks()])


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


# --------------------------------------------------------------------------- a snapshot


def score_snapshot(
    snapshot: store.Snapshot,
    how: Plan,
    *,
    as_of: pd.Timestamp | str,
    config: ScoringConfig = DEFAULT_CONFIG,
) -> Iterator[store.ChunkResults]:
    """Each chunk's results, in chunk order, scored as ``how`` says.

    With several workers, each worker process gets the snapshot once and reads its chunks
    from it; chunks go out two passes (figures, then scoring) and only small frames and
    compressed results come back.
    """
    as_of = pd.Timestamp(as_of).normalize()
    bounds = snapshot.bounds(how.accounts_per_chunk)
    if how.workers <= 1 or len(bounds) <= 1:

        def chunks() -> Iterator[dict[str, pd.DataFrame]]:
            return (snapshot.chunk(low, high) for low, high in bounds)

        for analysis in analyze_chunks(chunks, as_of=as_of, config=config):
            yield store.chunk_results(analysis)
        return
    context = multiprocessing.get_context("forkserver")  # never fork a threaded process
    context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(
        min(how.workers, len(bounds)),
        mp_context=context,
        initializer=_hold,
        initargs=(snapshot,),
    ) as pool:
        n = len(bounds)
        figures = list(pool.map(_chunk_figures, bounds, repeat(as_of, n), repeat(config, n)))
        whole = _context(figures)
        del figures
        yield from pool.map(
            _chunk_scored, bounds, repeat(as_of, n), repeat(config, n), repeat(whole, n)
        )


_SNAPSHOT: store.Snapshot | None = None  # a worker process's copy


def _hold(snapshot: store.Snapshot) -> None:
    global _SNAPSHOT
    _SNAPSHOT = snapshot


def _chunk_figures(bounds, as_of, config) -> _Figures:
    assert _SNAPSHOT is not None
    return _figures(_SNAPSHOT.chunk(*bounds), as_of, config)


def _chunk_scored(bounds, as_of, config, context) -> store.ChunkResults:
    assert _SNAPSHOT is not None
    analysis = analyze(_SNAPSHOT.chunk(*bounds), as_of=as_of, config=config, context=context)
    return store.chunk_results(analysis)
