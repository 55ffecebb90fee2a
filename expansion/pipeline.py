"""The engine's public operations: sync a source, score the portfolio, find opportunities in a scope.

These are the functions the CLI and the Slack bot call; neither reaches into the modules below.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from queue import Full, Queue
from typing import TextIO

import numpy as np
import pandas as pd
import sqlalchemy as sa

from . import calibration, chunks, store, workflow
from .config import DEFAULT_CONFIG, ScoringConfig
from .connectors import SourceConfig, connector_for, in_sync_order
from .connectors.base import Progress
from .engine import analyze, best_first
from .errors import (
    ContractError,
    ExpansionError,
    NoDataError,
    RejectedRowsError,
    ResultsNotStorable,
    SourceError,
    StorageError,
    UnknownOpportunityError,
)
from .ingest import Portfolio, Validation, capped_rejects, validate, write_rejects
from .limits import IngestLimits, load_limits
from .portfolio import plain, summarize
from .samples import SAMPLE_AS_OF, SAMPLE_PORTFOLIO  # noqa: F401 - callers use pipeline.SAMPLE_*
from .scope import Scope, parse_scope, resolve_accounts
from .snapshot import SnapshotSpill

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    """What a sync read, kept and rejected."""

    run: store.SyncRun
    portfolio: Portfolio
    rejects_path: Path | None = None

    @property
    def rejected(self) -> int:
        return len(self.portfolio.rejects)


def sync_folder(
    engine: sa.Engine,
    folder: str | Path,
    *,
    source: str = "files",
    strict: bool = False,
    rejects_path: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    limits: IngestLimits | None = None,
) -> SyncReport:
    """Validate a folder of exports and replace ``source``'s rows with it, in one transaction.

    Raises:
        ContractError: a required file or column is missing, or a file is over the limits
            (nothing is written).
        RejectedRowsError: ``strict`` and some rows were rejected (nothing is written).
    """
    config = SourceConfig(name=source, type="files", options={"path": str(folder)}, role="files")
    return sync_source(
        engine,
        config,
        strict=strict,
        rejects_path=rejects_path,
        progress=progress,
        limits=limits,
    )


def sync_source(
    engine: sa.Engine,
    config: SourceConfig,
    *,
    env: Mapping[str, str] | None = None,
    strict: bool = False,
    rejects_path: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    full: bool = False,
    allow_empty: bool = False,
    limits: IngestLimits | None = None,
) -> SyncReport:
    """Pull one configured source, validate its rows exactly like files, and write them.

    ``limits`` (by default ``[ingest]`` of the configuration file, see
    :func:`expansion.limits.load_limits`) bound cells, files, rows and dates; at most
    ``limits.max_rejects_written`` reject lines are written to ``rejects_path`` and kept with
    the run (which counts them all).

    ``full`` ignores the cursor (a full pull also drops what the source deleted); a full pull
    that would empty a table the source had rows in is refused unless ``allow_empty``.

    A full pull replaces the source's rows; an incremental pull (rows of the accounts that
    changed since the last good cursor) replaces those accounts' rows in the tables it carries
    and keeps everything else. Rows, run record and new cursor are written in one transaction;
    a failure anywhere leaves the previous data untouched, is recorded as a failed run with its
    cause, and the next sync starts from the last good cursor again.

    Raises:
        SourceError: the source refused or failed (credentials, rate limit, outage...).
        ContractError: a required table or column is missing (nothing is written).
        RejectedRowsError: ``strict`` and some rows were rejected (nothing is written).
    """
    limits = load_limits() if limits is None else limits
    connector = connector_for(config, env)
    connector.limits = limits
    last = store.last_sync(engine, config.name)
    run = store.SyncRun(
        source=config.name,
        location=connector.location(),
        kind=config.type,
        role=config.role or connector.role,
    )
    try:
        pull = connector.pull(None if full or last is None else last.cursor, progress=progress)
    except Exception as exc:
        raise _failed(engine, run, config.name, exc) from exc
    try:
        if pull.incremental:
            return _sync_incremental(
                engine,
                config,
                run,
                pull,
                strict=strict,
                rejects_path=rejects_path,
                progress=progress,
                limits=limits,
            )
        return _sync_full(
            engine,
            config,
            run,
            pull,
            strict=strict,
            rejects_path=rejects_path,
            progress=progress,
            allow_empty=allow_empty,
            limits=limits,
        )
    finally:
        pull.close()


def _failed(engine: sa.Engine, run: store.SyncRun, source: str, exc: Exception) -> Exception:
    """Record a sync that failed before anything was written (or whose transaction was rolled
    back) and return the error to raise: a contract or source error as it is, a write error
    as "nothing was changed", anything else said plainly."""
    if isinstance(exc, RejectedRowsError):
        _record_failed(
            engine, run, f"--strict: {run.rows_rejected} rows rejected", getattr(exc, "kept", None)
        )
        return exc
    if isinstance(exc, (ContractError, SourceError)):
        _record_failed(engine, run, str(exc))
        return exc
    if isinstance(exc, (StorageError, sa.exc.SQLAlchemyError)):
        # A full disk, a value the database cannot store...: the transaction was rolled back.
        cause = str(exc) if isinstance(exc, StorageError) else store.one_line_cause(exc)
        run.id = None
        message = f"source '{source}': {cause}; nothing was changed."
        unrecorded = _record_failed(engine, run, cause)
        if unrecorded:
            message += f" The failed run could not be recorded either ({unrecorded})."
        return SourceError(message)
    # anything else: recorded, said plainly, data untouched
    _record_failed(engine, run, f"{type(exc).__name__}: {exc}")
    return SourceError(
        f"source '{source}' failed unexpectedly ({type(exc).__name__}: {exc}); "
        "its previous data is kept."
    )


def _rejects_kept(
    engine: sa.Engine,
    run: store.SyncRun,
    portfolio: Portfolio,
    *,
    strict: bool,
    rejects_path: str | Path | None,
    limits: IngestLimits,
) -> tuple[pd.DataFrame, Path | None]:
    """Count a validated pull into ``run``, write its rejects report, and return the rejects
    kept with the run and the report's path.

    Raises:
        RejectedRowsError: ``strict`` and some rows were rejected.
    """
    run.rows_read = sum(portfolio.rows_read.values())
    run.rows_accepted = sum(portfolio.accepted.values())
    run.rows_rejected = int(portfolio.rejects[["table", "row"]].drop_duplicates().shape[0])
    path = None
    if rejects_path is not None and len(portfolio.rejects):
        path = Path(rejects_path)
        write_rejects(portfolio.rejects, path, most=limits.max_rejects_written)
    kept_rejects, _ = capped_rejects(portfolio.rejects, limits.max_rejects_written)
    if strict and len(portfolio.rejects):
        error = RejectedRowsError(
            f"{run.rows_rejected} rows were rejected and --strict is set, so nothing was written."
            + (f" Details: {path}" if path else ""),
            rejects=portfolio.rejects,
        )
        error.kept = kept_rejects  # recorded with the failed run once nothing is written
        raise error
    return kept_rejects, path


def _sync_full(
    engine: sa.Engine,
    config: SourceConfig,
    run: store.SyncRun,
    pull,
    *,
    strict: bool,
    rejects_path: str | Path | None,
    progress: Callable[[str], None] | None,
    allow_empty: bool,
    limits: IngestLimits,
) -> SyncReport:
    """A full pull, validated and written a chunk at a time in one transaction (see
    :class:`expansion.ingest.Validation`): memory is set by ``limits.chunk_rows``, not by the
    book. Whatever fails, in any chunk, rolls everything back."""
    run.cursor = pull.cursor
    run.incremental = False
    done: dict = {}
    try:
        # Rows may name accounts other sources hold (a warehouse has usage, the CRM accounts).
        known = store.account_ids(engine, exclude_source=config.name)
        stored = {} if allow_empty else store.row_counts(engine, config.name)
        check = Validation(
            pull.tables,
            known_accounts=known,
            partial_accounts=run.role == "warehouse",  # a warehouse adds fields to CRM accounts
            consume=True,
            limits=limits,
        )
        sole = set(store.source_roles(engine)) <= {config.name}
        spill = SnapshotSpill(check) if sole else None

        def finish() -> pd.DataFrame:
            portfolio = done["portfolio"] = check.portfolio()
            if not allow_empty:
                _refuse_emptied(config.name, stored, portfolio)
            kept, done["path"] = _rejects_kept(
                engine, run, portfolio, strict=strict, rejects_path=rejects_path, limits=limits
            )
            return kept

        if progress:
            progress("checking and writing to the database")
        chunks = check.chunks() if spill is None else spill.keep(check.chunks())
        with spill or contextlib.nullcontext():
            store.replace_source(engine, config.name, _read_ahead(chunks), run=run, rejects=finish)
            if spill is not None:
                _keep_snapshot(engine, config.name, run, spill)
    except Exception as exc:
        raise _failed(engine, run, config.name, exc) from exc
    return SyncReport(run=run, portfolio=done["portfolio"], rejects_path=done.get("path"))


_END = object()


def _read_ahead(chunks: Iterator, depth: int = 1) -> Iterator:
    """``chunks``, made in a thread ``depth`` ahead of their consumer: the next chunk is read
    and validated while this one is written (SQLite's writing, pandas' parsing and Parquet's
    encoding leave the interpreter lock to one another part of the time: on two cores the
    two overlap). An error making a chunk is raised here, in order; when the consumer stops
    (a write failed), the thread stops before its next chunk."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put((True, chunk)):
                    return
            put((True, _END))
        except BaseException as exc:  # raised again by the consumer
            put((False, exc))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="expansion-sync-read", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = queue.get()
            if not ok:
                raise item
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _sync_incremental(
    engine: sa.Engine,
    config: SourceConfig,
    run: store.SyncRun,
    pull,
    *,
    strict: bool,
    rejects_path: str | Path | None,
    progress: Callable[[str], None] | None,
    limits: IngestLimits,
) -> SyncReport:
    """An incremental pull (rows of the accounts that changed), merged with the rows the source
    synced before and written in one transaction."""
    try:
        existing = store.load_source(engine, config.name)
        # Rows may name accounts other sources hold, and this source's accounts the pull did
        # not carry.
        known = store.account_ids(engine, exclude_source=config.name)
        known |= set(existing["accounts"]["account_id"])
        pulled = set(pull.tables)
        portfolio = validate(
            pull.tables,
            known_accounts=known,
            partial_accounts=run.role == "warehouse",
            consume=True,
            limits=limits,
        )
        run.cursor = pull.cursor
        run.incremental = True
        kept_rejects, path = _rejects_kept(
            engine, run, portfolio, strict=strict, rejects_path=rejects_path, limits=limits
        )
        tables = merge_incremental(existing, portfolio.tables, pulled=pulled)
        if progress:
            progress("writing to the database")
        store.replace_source(engine, config.name, tables, run=run, rejects=kept_rejects)
    except Exception as exc:
        raise _failed(engine, run, config.name, exc) from exc
    return SyncReport(run=run, portfolio=portfolio, rejects_path=path)


@dataclass
class SourceOutcome:
    """How one source of :func:`sync_all` went: its report, or the error that stopped it."""

    source: SourceConfig
    report: SyncReport | None = None
    error: Exception | None = None

    @property
    def reason(self) -> str:
        """The error in words fit to show anyone: an engine error's message (written for the
        person who fixes the input, secrets redacted); anything else only by its type (the
        traceback is logged)."""
        if isinstance(self.error, ExpansionError):
            return str(self.error)
        return type(self.error).__name__


@dataclass
class SyncAllReport:
    """What :func:`sync_all` did: one outcome per source, in the order they were synced, and
    the scoring that followed (``run_id``; ``score_error`` when there was nothing to score)."""

    outcomes: list[SourceOutcome]
    run_id: int | None = None
    score_error: NoDataError | None = None

    @property
    def reports(self) -> list[SyncReport]:
        return [o.report for o in self.outcomes if o.report is not None]

    @property
    def failures(self) -> list[SourceOutcome]:
        return [o for o in self.outcomes if o.error is not None]


def sync_all(
    engine: sa.Engine,
    sources: Iterable[SourceConfig],
    *,
    as_of: date,
    config: ScoringConfig = DEFAULT_CONFIG,
    strict: bool = False,
    full: bool = False,
    allow_empty: bool = False,
    limits: IngestLimits | None = None,
    rejects_path: Callable[[SourceConfig], Path | None] | None = None,
    progress: Callable[[SourceConfig], AbstractContextManager[Progress]] | None = None,
) -> SyncAllReport:
    """Sync every source (CRM first, so usage rows find their accounts), then re-score if any
    of them synced: what ``expansion sync``, ``/expansion sync`` and the nightly job do.

    Each source is synced by :func:`sync_source` in its own transaction; one that fails keeps
    its previous data, is recorded with its error, and does not stop the others.
    ``rejects_path`` and ``progress`` give each source its rejects report and its progress
    callback (a context manager around its sync).

    Raises:
        ExpansionError: the re-scoring failed for another reason than an empty database.
    """
    limits = load_limits() if limits is None else limits
    outcomes = []
    for source in in_sync_order(list(sources)):
        outcome = SourceOutcome(source)
        try:
            with progress(source) if progress else contextlib.nullcontext(None) as step:
                outcome.report = sync_source(
                    engine,
                    source,
                    strict=strict,
                    rejects_path=rejects_path(source) if rejects_path else None,
                    progress=step,
                    full=full,
                    allow_empty=allow_empty,
                    limits=limits,
                )
        except Exception as exc:  # one source never stops the others
            if not isinstance(exc, ExpansionError):
                log.exception("sync of %s failed", source.name)
            outcome.error = exc
        outcomes.append(outcome)
    report = SyncAllReport(outcomes)
    if report.reports:
        try:
            report.run_id = score(engine, as_of=as_of, config=config)
        except NoDataError as exc:
            report.score_error = exc
    return report


def _record_failed(
    engine: sa.Engine, run: store.SyncRun, error: str, rejects: pd.DataFrame | None = None
) -> StorageError | None:
    """Record a failed sync; when the database refuses that too (a full disk), log it and
    return the error, so the caller's own error is still the one raised."""
    try:
        store.record_failed_sync(engine, run, error, rejects)
    except StorageError as exc:
        log.error("source '%s': %s (the sync failed: %s)", run.source, exc, error)
        return exc
    return None


def _keep_snapshot(engine: sa.Engine, source: str, run: store.SyncRun, spill) -> None:
    """Keep the scoring snapshot built from what the sync wrote, if ``source`` is still the
    only source (a sync of another source may have landed meanwhile: the first score then
    merges them). Derived data: a snapshot that cannot be built is logged, never a failure."""
    try:
        parquet = spill.portfolio_parquet(source, run.role)
    except Exception:  # derived data: the first score merges the rows from the database
        log.exception("source '%s': the scoring snapshot could not be built", source)
        return
    if store.source_roles(engine) != {source: run.role}:
        return
    try:
        store.save_portfolio_parquet(engine, int(run.id), parquet)
    except StorageError as exc:  # the sync is committed; the first score merges instead
        log.warning("source '%s': %s", source, exc)


def _refuse_emptied(source: str, stored: dict[str, int], portfolio: Portfolio) -> None:
    """A full pull that comes back with no rows for a table the source had rows in (an ETL
    reload caught halfway, a renamed property rejecting every row) must not wipe it."""
    emptied = [
        name
        for name, count in stored.items()
        if count and name in portfolio.rows_read and not portfolio.accepted.get(name)
    ]
    if emptied:
        raise SourceError(
            f"source '{source}' gave no usable rows for {', '.join(emptied)} (it had "
            + ", ".join(f"{stored[n]} {n}" for n in emptied)
            + "). Nothing was changed. If the source really is empty now, sync with --allow-empty."
        )


def merge_incremental(
    existing: dict[str, pd.DataFrame], changed: dict[str, pd.DataFrame], *, pulled: set[str]
) -> dict[str, pd.DataFrame]:
    """A source's stored rows with an incremental pull applied: the pulled tables' rows of the
    accounts in the pull (products, for the catalog) are replaced, everything else is kept."""
    touched = set(changed.get("accounts", pd.DataFrame(columns=["account_id"]))["account_id"])
    out = {}
    for name, old in existing.items():
        new = changed.get(name)
        if name not in pulled or new is None:
            out[name] = old
            continue
        key, replaced = (
            ("product_id", set(new["product_id"]))
            if name == "catalog"
            else (
                "account_id",
                touched | set(new["account_id"]),
            )
        )
        kept = old[~old[key].isin(replaced)]
        out[name] = pd.concat([kept, new], ignore_index=True) if len(kept) else new
    return out


def score(
    engine: sa.Engine,
    *,
    as_of: date,
    config: ScoringConfig = DEFAULT_CONFIG,
    force: bool = False,
    chunk_accounts: int | None = None,
    workers: int | None = None,
) -> int:
    """Score the stored portfolio at ``as_of`` (unless an up-to-date scoring exists); returns its run id.

    A large book is scored in chunks of at most ``chunk_accounts`` accounts, in ``workers``
    processes side by side, with exactly the results of scoring it whole (see
    :func:`expansion.chunks.plan` for the defaults and their environment variables).

    Close probability is calibrated from the outcomes decided before the latest sync
    (:func:`expansion.calibration.calibrated_config`).
    """
    config = calibration.calibrated_config(engine, config, as_of=as_of)
    version = store.data_version(engine)
    if not force:
        existing = store.find_score_run(
            engine, as_of=as_of, data_version=version, fingerprint=config.fingerprint
        )
        if existing is not None:
            return int(existing.id)
    how = chunks.plan(chunk_accounts=chunk_accounts, workers=workers)
    tables = None
    snapshot = store.snapshot(engine)
    if snapshot is None:
        # The first scoring since a sync of several sources merges them (every source's
        # rows at once) and keeps the merged snapshot; a large book is then scored from it.
        tables = store.load_tables(engine)
        if len(tables["accounts"]) > how.accounts_per_chunk:
            snapshot = store.snapshot(engine)
    if snapshot is not None and len(snapshot.account_ids) > how.accounts_per_chunk:
        # A large book: in chunks of accounts, side by side (expansion.chunks).
        tables = None
        results = chunks.score_snapshot(snapshot, how, as_of=as_of, config=config)
        del snapshot  # the scoring holds it only as long as it needs it
        try:
            return chunks.save_chunk_results(engine, results, data_version=version)
        except ResultsNotStorable:
            snapshot = None  # results Parquet cannot hold are stored as rows: scored whole
    if tables is None:  # from the snapshot read above (read again only after a failed chunking)
        tables = snapshot.tables() if snapshot is not None else store.load_tables(engine)
    snapshot = None
    result = analyze(tables, as_of=pd.Timestamp(as_of), config=config)
    del tables
    return store.save_analysis(engine, result, data_version=version)


def score_and_load(
    engine: sa.Engine, *, as_of: date, config: ScoringConfig = DEFAULT_CONFIG
) -> int:
    """Score if the data changed, and decode the run into this process's memory, so the next
    ``find`` answers without reading it (the bot at start-up and after the nightly job: the
    first command after a re-score would otherwise wait for the decoding)."""
    run_id = score(engine, as_of=as_of, config=config)
    _scored(engine, run_id)
    return run_id


#: The JSON document's lists of records besides the opportunities, in the document's order.
RECORD_LISTS = (
    "activation",
    "conversion_candidates",
    "stabilize_first",
    "data_gaps",
    "product_gaps",
)
#: Records encoded at a time by :meth:`FindResult.write_json`.
JSON_CHUNK_ROWS = 10_000


@dataclass
class FindResult:
    """Opportunities and the separate lists for one scope, with the portfolio summary."""

    scope: Scope
    as_of: date
    summary: dict
    opportunities: pd.DataFrame
    evidence: pd.DataFrame
    activation: pd.DataFrame
    conversion_candidates: pd.DataFrame
    stabilize_first: pd.DataFrame
    data_gaps: pd.DataFrame
    product_gaps: pd.DataFrame
    profiles: pd.DataFrame
    benchmarks: pd.DataFrame
    sources: list[str] = field(default_factory=list)

    def evidence_lists(self, opportunity_ids: pd.Series | None = None) -> pd.Series:
        """Evidence lines per opportunity id (of ``opportunity_ids`` only, when given)."""
        evidence = self.evidence
        if opportunity_ids is not None:
            evidence = evidence[evidence["opportunity_id"].isin(opportunity_ids)]
        if evidence.empty:
            return pd.Series(dtype=object)
        # groupby(...).agg(list) calls Python per group (0.2-0.5 s for 13k opportunities): cut
        # the sorted texts where the id changes instead.
        ordered = evidence.sort_values(["opportunity_id", "seq"])
        ids = ordered["opportunity_id"].to_numpy(dtype=object)
        texts = ordered["evidence"].to_numpy(dtype=object)
        starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
        return pd.Series(
            [part.tolist() for part in np.split(texts, starts[1:])],
            index=pd.Index(ids[starts], name="opportunity_id"),
            name="evidence",
            dtype=object,
        )

    def opportunity_records(self, opportunity_ids: Iterable[str] | None = None) -> list[dict]:
        """Opportunities as plain dicts (the JSON contract), evidence as a list; only those of
        ``opportunity_ids`` when given (in the result's order), so a few cards out of a large
        scope do not convert the whole of it."""
        frame = self.opportunities
        if opportunity_ids is not None:
            frame = frame[frame["opportunity_id"].isin(list(opportunity_ids))]
        if frame.empty:
            return []
        frame = frame.copy()
        evidence = self.evidence_lists(frame["opportunity_id"])
        frame["evidence"] = (
            frame["opportunity_id"].map(evidence).map(lambda v: v if isinstance(v, list) else [])
        )
        return _frame_records(frame)

    def opportunity_fields(self) -> list[str]:
        """The fields of each opportunity in the JSON document (``--fields`` picks among them)."""
        columns = [str(c) for c in self.opportunities.columns]
        return columns if "evidence" in columns else [*columns, "evidence"]

    def write_json(
        self, out: TextIO, *, fields: list[str] | None = None, chunk_rows: int = JSON_CHUNK_ROWS
    ) -> None:
        """Write the ``--format json`` document to ``out`` as it is encoded: the same document as
        :meth:`to_dict` value for value (``fields``: only those fields of each opportunity, in
        that order), with each record of a list on one line. The record lists are encoded
        ``chunk_rows`` records at a time by pandas' JSON writer, so the whole document is never
        one string in memory (45 MB for a 100k-account book's ``find all``)."""
        parts: list[tuple[str, object]] = [
            ("scope", self.scope.describe()),
            ("scope_text", self.scope.text),
            ("as_of", self.as_of.isoformat()),
            ("summary", self.summary),
            ("opportunities", self._opportunity_chunks(fields, chunk_rows)),
            *((name, _record_chunks(getattr(self, name), chunk_rows)) for name in RECORD_LISTS),
            ("sources", self.sources),
        ]
        out.write("{")
        for index, (key, value) in enumerate(parts):
            out.write(("," if index else "") + "\n  " + json.dumps(key) + ": ")
            if not isinstance(value, Iterator):  # as json.dumps(doc, indent=2) writes it
                out.write(json.dumps(value, indent=2, default=str).replace("\n", "\n  "))
                continue
            opened = False
            for records in value:
                out.write(",\n    " if opened else "[\n    ")
                out.write(records)
                opened = True
            out.write("\n  ]" if opened else "[]")
        out.write("\n}\n")

    def _opportunity_chunks(self, fields: list[str] | None, chunk_rows: int) -> Iterator[str]:
        frame = self.opportunities
        wanted = list(fields or self.opportunity_fields())
        evidence = None
        if "evidence" in wanted and "evidence" not in frame.columns and len(frame):
            evidence = self.evidence_lists(frame["opportunity_id"])
        for start in range(0, len(frame), chunk_rows):
            rows = frame.iloc[start : start + chunk_rows]
            chunk = rows[[c for c in wanted if c in rows.columns]].copy()
            if evidence is not None:
                lists = rows["opportunity_id"].map(evidence)
                chunk["evidence"] = [v if isinstance(v, list) else [] for v in lists]
                chunk = chunk[wanted]
            yield _records_text(chunk)

    def to_dict(self) -> dict:
        """The ``--format json`` document (:meth:`write_json` writes it without building it)."""
        return {
            "scope": self.scope.describe(),
            "scope_text": self.scope.text,
            "as_of": self.as_of.isoformat(),
            "summary": self.summary,
            "opportunities": self.opportunity_records(),
            "activation": _frame_records(self.activation),
            "conversion_candidates": _frame_records(self.conversion_candidates),
            "stabilize_first": _frame_records(self.stabilize_first),
            "data_gaps": _frame_records(self.data_gaps),
            "product_gaps": _frame_records(self.product_gaps),
            "sources": self.sources,
        }


def _record_chunks(frame: pd.DataFrame | None, chunk_rows: int) -> Iterator[str]:
    if frame is None:
        return
    for start in range(0, len(frame), chunk_rows):
        yield _records_text(frame.iloc[start : start + chunk_rows])


def _records_text(frame: pd.DataFrame) -> str:
    """``frame``'s records as JSON, one a line, joined for a list of the indented document:
    what :func:`_frame_records` gives, encoded, with no Python value made per cell."""
    text = _json_ready(frame).to_json(orient="records", date_format="iso", date_unit="s")
    # One record a line. pandas' lines=True rescans the whole text (0.2 s at 13k records); a
    # record boundary is '},{"<first column>":', which nothing inside a record can hold: a '"'
    # in a text is written '\"', and a text's closing quote is never followed by a key and
    # ':'. (A first column whose name held ':' would only leave the chunk on one line.)
    first = text[1 : text.find(":", 2) + 1] if len(text) > 2 else ""
    return text[1:-1].replace("}," + first, "},\n    " + first)


def _json_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with :func:`_frame_records`' one change made column by column: a date and time
    at midnight, or a text that looks like one (19 characters ending ``T00:00:00``), is written
    as its date."""
    frame = frame.copy()
    for column in frame.columns:
        values = frame[column]
        if column == "evidence":  # lists of text: left as they are, as _frame_records does
            continue
        if isinstance(values.dtype, np.dtype) and values.dtype.kind == "M":
            stamps = values.to_numpy().astype("datetime64[s]")
            text = pd.Series(np.datetime_as_string(stamps, unit="s"), index=frame.index)
            midnight = stamps == stamps.astype("datetime64[D]")
            text = text.where(~midnight, text.str[:10]).astype(object)
            frame[column] = text.where(~values.isna(), None)
            continue
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind in ("string", "empty"):
            frame[column] = _dated_text(values)
        elif kind not in ("integer", "floating", "mixed-integer-float", "boolean", "decimal"):
            # Anything else (timestamps among text, tz-aware times...): the value-by-value way.
            encoded = values.to_json(orient="values", date_format="iso", date_unit="s")
            plain = [
                v[:10] if isinstance(v, str) and len(v) == 19 and v.endswith("T00:00:00") else v
                for v in json.loads(encoded)
            ]
            frame[column] = pd.Series(plain, index=frame.index, dtype=object)
    return frame


def _dated_text(values: pd.Series) -> pd.Series:
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    hit = pc.and_(pc.equal(pc.utf8_length(text), 19), pc.ends_with(text, "T00:00:00"))
    if not pc.any(hit).as_py():  # the usual case, found in Arrow without a Python call per cell
        return values
    mask = hit.fill_null(False).to_numpy(zero_copy_only=False)
    return values.where(~mask, values.str[:10])


def _frame_records(frame: pd.DataFrame) -> list[dict]:
    if frame is None or frame.empty:
        return []
    text = frame.to_json(orient="records", date_format="iso", date_unit="s")
    records = json.loads(text)
    for record in records:
        for key, value in record.items():
            if isinstance(value, str) and len(value) == 19 and value.endswith("T00:00:00"):
                record[key] = value[:10]
    return [{k: plain(v) for k, v in r.items()} for r in records]


def find(
    engine: sa.Engine,
    scope: str | Scope = "",
    *,
    as_of: date,
    config: ScoringConfig = DEFAULT_CONFIG,
    min_propensity: int | None = None,
    target: float | None = None,
    opportunity_ids: list[str] | None = None,
    include_closed: bool = False,
    keep: bool = True,
) -> FindResult:
    """Opportunities in ``scope`` (scope grammar of :mod:`expansion.scope`), scoring first if needed.

    Each opportunity carries where it stands (assignee, outcome; see :mod:`expansion.workflow`).
    Snoozed, dismissed, won and lost opportunities are left out unless ``include_closed``.
    ``opportunity_ids`` keeps only those opportunities.

    ``keep`` (the bot) decodes the whole scoring run once and keeps it, with the answer, for
    the next questions; a one-shot command passes ``keep=False``: only the scope's rows are
    decoded and nothing is kept.

    Raises:
        ScopeError: the scope cannot be understood or names no known account.
        NoDataError: nothing has been synced yet.
    """
    parsed = scope if isinstance(scope, Scope) else parse_scope(scope, as_of=as_of)
    config = calibration.calibrated_config(engine, config, as_of=as_of)
    run_id = score(engine, as_of=as_of, config=config)
    if not keep:
        return _find(
            engine,
            parsed,
            run_id,
            as_of=as_of,
            config=config,
            min_propensity=min_propensity,
            target=target,
            opportunity_ids=opportunity_ids,
            include_closed=include_closed,
            keep=False,
        )
    key = (
        run_id,
        workflow.version(engine),
        parsed,
        as_of,
        min_propensity,
        target,
        None if opportunity_ids is None else tuple(opportunity_ids),
        include_closed,
    )
    return _shared(
        engine,
        key,
        lambda: _find(
            engine,
            parsed,
            run_id,
            as_of=as_of,
            config=config,
            min_propensity=min_propensity,
            target=target,
            opportunity_ids=opportunity_ids,
            include_closed=include_closed,
        ),
    )


def _find(
    engine: sa.Engine,
    parsed: Scope,
    run_id: int,
    *,
    as_of: date,
    config: ScoringConfig,
    min_propensity: int | None,
    target: float | None,
    opportunity_ids: list[str] | None,
    include_closed: bool,
    keep: bool = True,
) -> FindResult:
    asked = parsed

    def in_scope_of(profiles: pd.DataFrame) -> tuple[Scope, pd.DataFrame]:
        resolved = resolve_accounts(asked, profiles)
        return resolved, profiles[resolved.mask(profiles)]

    if keep:
        results = _scored(engine, run_id)
    else:
        results = store.read_results(
            engine, run_id, accounts=lambda profiles: in_scope_of(profiles)[1]["account_id"]
        )
    parsed, in_scope = in_scope_of(results["profiles"])
    ids = set(in_scope["account_id"])
    opps = results["opportunities"]
    opps = opps[opps["account_id"].isin(ids)]
    if opportunity_ids is not None:
        opps = opps[opps["opportunity_id"].isin(opportunity_ids)]
    opps = workflow.annotate(opps, workflow.states(engine), today=as_of)
    if not include_closed:
        opps = opps[opps["active"]]
    floor = min_propensity if min_propensity is not None else parsed.min_propensity
    if floor is not None:
        opps = opps[opps["propensity"] >= floor]
    for column in ("best_time", "deadline"):
        opps[column] = pd.to_datetime(opps[column])
    opps = best_first(opps)
    lists = {}
    for name, frame in results["lists"].items():
        if len(frame) and "account_id" in frame:
            portfolio_level = frame["account_id"].isna()
            frame = frame[frame["account_id"].isin(ids) | portfolio_level]
        lists[name] = frame.reset_index(drop=True)
    evidence = results["evidence"]
    evidence = evidence[evidence["opportunity_id"].isin(opps["opportunity_id"])]
    summary = summarize(
        in_scope,
        opps,
        lists["stabilize_first"],
        lists["activation"],
        lists["conversion_candidates"],
        config,
        target=target,
        as_of=as_of,
    )
    summary["data_gaps"] = _gap_summary(lists["data_gaps"])
    sources = store.sync_runs(engine, limit=50)
    sources = sources[sources["status"] == "succeeded"].drop_duplicates("source")
    return FindResult(
        scope=parsed,
        as_of=as_of,
        summary=summary,
        opportunities=opps.reset_index(drop=True),
        evidence=evidence.reset_index(drop=True),
        activation=lists["activation"],
        conversion_candidates=lists["conversion_candidates"],
        stabilize_first=lists["stabilize_first"],
        data_gaps=lists["data_gaps"],
        product_gaps=lists["product_gaps"],
        profiles=in_scope.reset_index(drop=True),
        benchmarks=results["benchmarks"],
        sources=[f"{r.source} ({r.location})" for r in sources.itertuples()],
    )


#: find's latest answers per engine, by everything an answer depends on: the scoring run
#: (a new sync or configuration scores a new one), the workflow's version (an assignment or
#: outcome changes what is open), the scope and the options. Twenty slash commands asking the
#: same at once wait for one answer instead of computing twenty under one GIL, and a page
#: turn or an export of the list just shown reuses it. Answers are shared: read, never change.
_ANSWERS: weakref.WeakKeyDictionary[sa.Engine, OrderedDict] = weakref.WeakKeyDictionary()
_ANSWERS_LOCK = threading.Lock()
KEEP_ANSWERS = 2  # a whole 100k-account book's answer holds a few hundred MB


def _shared(engine: sa.Engine, key: tuple, compute: Callable[[], FindResult]) -> FindResult:
    """``compute()``'s answer, computed once per ``key`` however many threads ask at once."""
    with _ANSWERS_LOCK:
        answers = _ANSWERS.setdefault(engine, OrderedDict())
        asked: Future[FindResult] | None = answers.get(key)
        if asked is not None:
            answers.move_to_end(key)
        else:
            future: Future[FindResult] = Future()
            answers[key] = future
            while len(answers) > KEEP_ANSWERS:
                answers.popitem(last=False)
    if asked is not None:
        return asked.result()
    try:
        future.set_result(compute())
    except BaseException as exc:
        with _ANSWERS_LOCK:  # a failure is not kept: the next ask tries again
            if answers.get(key) is future:
                del answers[key]
        future.set_exception(exc)
    return future.result()


#: Each engine's latest decoded scoring run. A run is never changed once written, so the bot
#: decodes it once and every slash command, card click and digest after that filters in memory.
_SCORED: weakref.WeakKeyDictionary[sa.Engine, tuple[int, dict]] = weakref.WeakKeyDictionary()
_LOADING: weakref.WeakKeyDictionary[sa.Engine, threading.Lock] = weakref.WeakKeyDictionary()
_SCORED_LOCK = threading.Lock()


def _scored(engine: sa.Engine, run_id: int) -> dict:
    """The stored results of scoring run ``run_id``, decoded (profiles and lists as frames).

    Twenty slash commands arriving at once after a re-score wait for one decode, not twenty.
    """
    with _SCORED_LOCK:
        cached = _SCORED.get(engine)
        loading = _LOADING.setdefault(engine, threading.Lock())
    if cached is not None and cached[0] == run_id:
        return cached[1]
    with loading:
        with _SCORED_LOCK:
            cached = _SCORED.get(engine)
        if cached is not None and cached[0] == run_id:
            return cached[1]
        results = store.read_results(engine, run_id)
        with _SCORED_LOCK:
            _SCORED[engine] = (run_id, results)
    return results


def _gap_summary(gaps: pd.DataFrame) -> list[dict]:
    if gaps.empty:
        return []
    g = gaps.groupby(["gap", "impact"], sort=False).size().rename("accounts").reset_index()
    return [{k: plain(v) for k, v in r.items()} for r in g.to_dict(orient="records")]


def opportunity(
    engine: sa.Engine, opportunity_id: str, *, as_of: date, config: ScoringConfig = DEFAULT_CONFIG
) -> dict | None:
    """One opportunity of the latest scoring, whatever its outcome, as a record (or ``None``)."""
    records = find(
        engine,
        "",
        as_of=as_of,
        config=config,
        opportunity_ids=[opportunity_id],
        include_closed=True,
    ).opportunity_records()
    return records[0] if records else None


def _opportunity(engine: sa.Engine, opportunity_id: str, *, as_of: date, config: ScoringConfig):
    record = opportunity(engine, opportunity_id, as_of=as_of, config=config)
    if record is None:
        raise UnknownOpportunityError(
            f"Opportunity {opportunity_id} is not in the latest scoring: the data changed since "
            "this card was posted. Run the command again for fresh cards."
        )
    return workflow.Opportunity(
        opportunity_id=opportunity_id,
        account_id=str(record["account_id"]),
        close_probability=float(record["close_probability"]),
        expansion_arr=float(record["expansion_arr"]),
    )


def assign(
    engine: sa.Engine,
    opportunity_id: str,
    *,
    assignee: str | None,
    actor: str,
    as_of: date,
    config: ScoringConfig = DEFAULT_CONFIG,
) -> bool:
    """Assign an opportunity of the latest scoring to ``assignee`` (``None`` un-assigns);
    False when it was assigned so already (nothing recorded).

    Raises:
        UnknownOpportunityError: no such opportunity in the latest scoring.
    """
    opp = _opportunity(engine, opportunity_id, as_of=as_of, config=config)
    return workflow.assign(engine, opp, assignee=assignee, actor=actor)


def record_outcome(
    engine: sa.Engine,
    opportunity_id: str,
    outcome: str,
    *,
    actor: str,
    as_of: date,
    config: ScoringConfig = DEFAULT_CONFIG,
) -> bool:
    """Record ``snoozed``, ``not_a_fit``, ``won``, ``lost`` (or ``open`` again) for an opportunity;
    False when it had that outcome already (nothing recorded).

    Raises:
        UnknownOpportunityError: no such opportunity in the latest scoring.
    """
    opp = _opportunity(engine, opportunity_id, as_of=as_of, config=config)
    return workflow.set_outcome(engine, opp, outcome, actor=actor, today=as_of)
