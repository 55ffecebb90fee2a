"""Scoring a large portfolio a chunk of accounts at a time, exactly as it scores whole.

Holding a 1M-account book whole (54M rows in, 900k explained opportunities out) takes about
11 GB. An account's scoring depends on its own rows plus a few portfolio-wide figures (the
:class:`~expansion.engine.PortfolioContext`), so the portfolio can be scored in chunks of
whole accounts: one pass over the chunks finds the context, a second scores each chunk with it,
and :func:`save_chunk_results` puts the chunks' results together in the order a
whole-portfolio scoring gives them. Memory is then bounded by the chunk size, and the chunks
can be scored side by side in worker processes, one per core.

Chunks come from a callable that yields them anew on each call: each chunk a dict of canonical
tables holding whole accounts, chunks in account-id order, every table's rows in account-id
order (as the merged snapshot is, see :class:`expansion.store.Snapshot`); ``catalog`` in every
chunk.
"""

from __future__ import annotations

import functools
import io
import itertools
import logging
import math
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from multiprocessing.connection import Connection, wait

import pandas as pd
import sqlalchemy as sa

from . import store
from .config import DEFAULT_CONFIG, ScoringConfig
from .engine import (
    RESULT_ORDER,
    Analysis,
    PortfolioContext,
    Prepared,
    analyze,
    analyze_prepared,
    merge_data_gaps,
    prepare,
    segment_median_arr,
)
from .errors import ChunkScoringError, ConfigError, NoDataError, ResultsNotStorable, WorkerLost
from .profile import BENCHMARK_DIMENSIONS, benchmarks, choose_volume_metric, set_usage_volume
from .store.parquet import joined_parquet, parquet_bytes, parquet_frames

Chunks = Callable[[], Iterable[dict[str, pd.DataFrame]]]

log = logging.getLogger(__name__)

#: Accounts per chunk at most: at about 14 KB per account at peak, a worker scoring chunks of
#: 100k stays near 1.4 GB whatever the size of the book.
CHUNK_ACCOUNTS = 100_000
#: Worker processes at most (each holds a chunk in memory).
MAX_WORKERS = 4


@dataclass(frozen=True)
class Plan:
    """How a book is scored: ``accounts_per_chunk`` accounts at a time in ``workers``
    processes (1: in this process)."""

    accounts_per_chunk: int
    workers: int


def plan(*, chunk_accounts: int | None = None, workers: int | None = None) -> Plan:
    """Chunks of at most ``chunk_accounts`` (default ``EXPANSION_SCORE_CHUNK_ACCOUNTS``, else
    100k) in ``workers`` processes (default ``EXPANSION_SCORE_WORKERS``, else one per core up to
    4). A book that fits one chunk is scored whole, in this process: on two cores, splitting a
    100k-account book between two workers was no faster than scoring it whole (the figures
    are in docs/performance.md)."""
    size = chunk_accounts or _setting("EXPANSION_SCORE_CHUNK_ACCOUNTS", CHUNK_ACCOUNTS)
    workers = workers or _setting("EXPANSION_SCORE_WORKERS", _cores())
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
        for low, high in itertools.pairwise([*bounds, None]):
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


def _figures(prepared: Prepared) -> _Figures:
    p, metrics = prepared.profiles, prepared.metrics
    columns = list(dict.fromkeys(["status", "segment", "arr", *BENCHMARK_DIMENSIONS]))
    return _Figures(
        profiles=p[columns],
        latest=metrics[["account_id", "metric", "value"]],
        tables_with_rows=set(prepared.tables_with_rows),
    )


def _context(figures: list[_Figures]) -> PortfolioContext:
    """The portfolio context from every chunk's figures (in chunk order). The usage volume is
    the portfolio's most common metric, known only once every chunk is counted."""
    if not figures:
        raise ValueError("no chunks: the portfolio holds no accounts")
    volume = choose_volume_metric(
        pd.concat([f.latest["metric"] for f in figures], ignore_index=True).value_counts()
    )
    for f in figures:
        set_usage_volume(f.profiles, f.latest, volume)
    every = pd.concat([f.profiles for f in figures])
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
    return _context([_figures(prepare(chunk, as_of=as_of, config=config)) for chunk in chunks()])


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
) -> Iterator[ChunkResults]:
    """Each chunk's results, in chunk order, scored as ``how`` says.

    With several workers, worker ``k`` of ``n`` takes chunks ``k``, ``k + n``... of the
    snapshot it is given once: it prepares each (:func:`expansion.engine.prepare`) and sends
    back the figures the context is made of, then, with the context, analyzes each
    (:func:`expansion.engine.analyze_prepared`) and sends back its compressed results. A worker with few accounts keeps its prepared chunks between
    the two passes instead of reading and preparing them again.
    """
    as_of = pd.Timestamp(as_of).normalize()
    bounds = snapshot.bounds(how.accounts_per_chunk)
    workers = min(how.workers, len(bounds))
    team: list = []
    folder = None
    try:
        if workers > 1:
            try:
                # The workers share the snapshot as files, each reading its chunks' row groups,
                # instead of each holding a copy of every table.
                folder = tempfile.TemporaryDirectory(prefix="expansion-snapshot-")
                snapshot = snapshot.on_disk(folder.name)
                team = _start(snapshot, bounds, workers, how, as_of, config)
                figures = _gather(team, "figures", len(bounds))
            except (OSError, WorkerLost) as exc:
                # Workers are a speed-up, not a requirement: a process that cannot start them
                # or a worker lost before any chunk was scored leaves the work to this process.
                log.warning("scoring in one process: worker processes failed (%s)", exc)
                _stop(team)
                team, workers = [], 1
        if workers <= 1:
            chunks = functools.partial(_read, snapshot, bounds)
            for analysis in analyze_chunks(chunks, as_of=as_of, config=config):
                yield chunk_results(analysis)
            return
        del snapshot  # the workers read it: this process needs it no more
        whole = _context([figures[i] for i in range(len(bounds))])
        del figures
        for _, conn in team:
            conn.send(whole)
        results: dict[int, ChunkResults] = {}
        for i in range(len(bounds)):
            while i not in results:
                results.update(_gather(team, "results", 1))
            yield results.pop(i)
    finally:
        _stop(team)
        if folder is not None:
            folder.cleanup()


def _read(snapshot: store.Snapshot, bounds: list) -> Iterator[dict[str, pd.DataFrame]]:
    return (snapshot.chunk(low, high) for low, high in bounds)


# --------------------------------------------------------------------------- results


@dataclass
class ChunkResults:
    """One chunk's scoring results as its result frames in Parquet."""

    frames: dict[str, bytes]
    accounts: int
    opportunities: int
    as_of: date
    config_fingerprint: str
    volume_metric: str | None


def chunk_results(analysis) -> ChunkResults:
    """A chunk's :class:`~expansion.engine.Analysis` as :class:`ChunkResults`.

    Raises:
        ResultsNotStorable: a frame Parquet cannot hold.
    """
    p = analysis.profiles.reset_index(drop=True)
    frames = parquet_frames(store.result_frames(analysis, p))
    for name, data in frames.items():
        if data is None:
            raise ResultsNotStorable(f"the {name} results cannot be stored as Parquet")
    return ChunkResults(
        frames=frames,
        accounts=len(p),
        opportunities=len(analysis.opportunities),
        as_of=analysis.as_of.date(),
        config_fingerprint=analysis.config.fingerprint,
        volume_metric=analysis.volume_metric,
    )


def save_chunk_results(
    engine: sa.Engine, chunks: Iterable[ChunkResults], *, data_version: int
) -> int:
    """Persist one scoring run made of the results of consecutive chunks of the portfolio
    (:func:`score_snapshot`); returns its id. The stored frames are those a whole-portfolio
    analysis gives, in its order: each frame's chunks are joined and ordered in Arrow.

    Raises:
        ResultsNotStorable: a frame Parquet cannot hold (score the portfolio whole instead).
    """
    parts: dict[str, list[bytes]] = {}
    first = None
    accounts = opportunities = 0
    for chunk in chunks:
        first = first or chunk
        accounts += chunk.accounts
        opportunities += chunk.opportunities
        for name, blob in chunk.frames.items():
            parts.setdefault(name, []).append(blob)
    if first is None:
        raise NoDataError("The database holds no accounts yet.")
    run = store.ScoreRun(
        as_of=first.as_of,
        data_version=data_version,
        config_fingerprint=first.config_fingerprint,
        accounts=accounts,
        opportunities=opportunities,
        volume_metric=first.volume_metric,
        status="succeeded",
    )
    names, data = [], []
    for name in list(parts):
        blobs = parts.pop(name)
        names.append(name)
        if name == "benchmarks":  # the portfolio's, the same in every chunk
            data.append(blobs[0])
        elif name == "list:data_gaps":
            gaps = [pd.read_parquet(io.BytesIO(b)) for b in blobs]
            data.append(parquet_bytes(merge_data_gaps([g for g in gaps if len(g)] or gaps[:1])))
        else:
            data.append(joined_parquet(blobs, RESULT_ORDER.get(name.removeprefix("list:"))))
    frames = pd.DataFrame({"name": names, "data": data})
    return store.save_run(engine, run, frames, rows=None)


def _start(snapshot, bounds, workers: int, how: Plan, as_of, config) -> list:
    """``workers`` processes, worker ``k`` with chunks ``k``, ``k + workers``...

    Workers are fresh interpreters (:func:`worker_main`) talking over a socket,
    not multiprocessing's children: those re-run the caller's main script (anything it does
    outside an ``if __name__ == "__main__":`` guard) and forking copies a threaded process.
    """
    keep = math.ceil(len(bounds) / workers) * how.accounts_per_chunk <= KEEP_PREPARED_ACCOUNTS
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    team = []
    try:
        for k in range(workers):
            ours, theirs = socket.socketpair()
            process = subprocess.Popen(
                [sys.executable, "-c", _WORKER, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=env,
                stdin=subprocess.DEVNULL,
            )
            process.name = f"expansion-score-{k}"
            theirs.close()
            conn = Connection(ours.detach())
            team.append((process, conn))
            mine = {i: bounds[i] for i in range(k, len(bounds), workers)}
            conn.send((snapshot, mine, as_of, config, keep))
    except BaseException:
        _stop(team)
        raise
    return team


_WORKER = "import sys; from expansion.chunks import worker_main; worker_main(int(sys.argv[1]))"


def _stop(team: list) -> None:
    for process, conn in team:
        conn.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


#: A worker keeps its prepared chunks between the two passes when it has at most this many
#: accounts (about 6 KB each prepared): a 100k-account book in two workers does, a 1M one not.
KEEP_PREPARED_ACCOUNTS = 100_000


def _gather(team, kind: str, count: int) -> dict:
    """``count`` messages of ``kind`` from the workers, by chunk index; a worker's error is
    raised here, and so is a worker that died (out of memory, killed)."""
    got: dict = {}
    while len(got) < count:
        open_ = {conn: process for process, conn in team if not conn.closed}
        if not open_:
            raise WorkerLost("the scoring worker processes ended before finishing")
        for ready in wait(list(open_)):
            try:
                what, index, value = ready.recv()
            except EOFError:  # its process has ended: whatever it sent has been read
                ready.close()
                process = open_[ready]
                code = process.wait()
                if code == 0:
                    continue  # done with its chunks
                raise WorkerLost(
                    f"a scoring worker process ({process.name}) ended with exit code {code} "
                    "before finishing (out of memory? lower EXPANSION_SCORE_WORKERS or "
                    "EXPANSION_SCORE_CHUNK_ACCOUNTS)"
                ) from None
            if what == "error":
                raise ChunkScoringError(f"scoring chunk {index + 1} failed: {value}")
            assert what == kind, (what, kind)
            got[index] = value
    return got


def _work(conn: Connection) -> None:
    """A worker process: see :func:`score_snapshot`."""
    import traceback

    index = -1
    try:
        snapshot, chunks, as_of, config, keep = conn.recv()
        kept: dict[int, Prepared] = {}
        for index, bounds in chunks.items():
            prepared = prepare(snapshot.chunk(*bounds), as_of=as_of, config=config)
            conn.send(("figures", index, _figures(prepared)))
            if keep:
                kept[index] = prepared
            del prepared
        context = conn.recv()
        for index, bounds in chunks.items():
            prepared = kept.pop(index, None)
            if prepared is None:
                prepared = prepare(snapshot.chunk(*bounds), as_of=as_of, config=config)
            conn.send(("results", index, chunk_results(analyze_prepared(prepared, context))))
            del prepared
    except (EOFError, BrokenPipeError):
        return  # the parent is gone
    except Exception as exc:  # the parent raises it
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        conn.send(("error", index, detail))
    finally:
        conn.close()


def worker_main(fd: int) -> None:
    """A worker process's entry point: its end of the socket to the scoring process."""
    _work(Connection(fd))
