"""Scoring a book a chunk of accounts at a time stores exactly what scoring it whole stores:
every frame find reads, row for row and in the same order."""

from __future__ import annotations

import pandas as pd
import pytest

from expansion import chunks, pipeline, store
from expansion import generate as gen
from expansion.engine import DATA_GAPS, analyze, merge_data_gaps
from expansion.errors import ConfigError

WHOLE = 10**9  # more accounts per chunk than any book here: scored whole


def _stored(
    url: str, source, as_of, chunk_accounts: int, workers: int = 1
) -> tuple[dict, store.ScoreRun]:
    engine = store.connect(url)
    try:
        pipeline.sync_folder(engine, source, source="files")
        run_id = pipeline.score(engine, as_of=as_of, chunk_accounts=chunk_accounts, workers=workers)
        with engine.connect() as conn:
            run = conn.execute(
                store.ScoreRun.__table__.select().where(store.ScoreRun.__table__.c.id == run_id)
            ).one()
        return store.read_results(engine, run_id), run
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def whole_sample(tmp_path_factory) -> tuple[dict, store.ScoreRun]:
    """The sample scored whole, once for the tests that compare chunked scorings with it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('whole') / 'whole.db'}"
    return _stored(url, pipeline.SAMPLE_PORTFOLIO, pipeline.SAMPLE_AS_OF, WHOLE)


def _sample_tables() -> dict:
    from expansion.ingest import read_portfolio

    return read_portfolio(pipeline.SAMPLE_PORTFOLIO).tables


def _assert_same_results(whole: dict, chunked: dict) -> None:
    for name in ("opportunities", "evidence", "profiles", "benchmarks"):
        pd.testing.assert_frame_equal(chunked[name], whole[name], obj=name)
    for name in store.FINDING_LISTS:
        pd.testing.assert_frame_equal(chunked["lists"][name], whole["lists"][name], obj=name)


@pytest.mark.parametrize("chunk_accounts", [3, 9])
def test_sample_scored_in_chunks_stores_what_the_whole_does(tmp_path, chunk_accounts, whole_sample):
    source, as_of = pipeline.SAMPLE_PORTFOLIO, pipeline.SAMPLE_AS_OF
    whole, whole_run = whole_sample
    chunked, run = _stored(f"sqlite:///{tmp_path / 'chunks.db'}", source, as_of, chunk_accounts)
    _assert_same_results(whole, chunked)
    assert (run.accounts, run.opportunities, run.volume_metric) == (
        whole_run.accounts,
        whole_run.opportunities,
        whole_run.volume_metric,
    )
    # The lists have entries, so the comparison covers them (the sample asks for nothing the
    # catalog lacks: the generated book below has product gaps).
    assert all(len(whole["lists"][name]) for name in store.FINDING_LISTS if name != "product_gaps")


def test_generated_book_scored_in_chunks_stores_what_the_whole_does(tmp_path):
    report = gen.generate(1_200, seed=11, out=tmp_path / "book", formats="fast")
    whole, _ = _stored(f"sqlite:///{tmp_path / 'whole.db'}", report.out, report.as_of, WHOLE)
    # Five chunks, scored side by side in two worker processes.
    chunked, run = _stored(
        f"sqlite:///{tmp_path / 'chunks.db'}", report.out, report.as_of, 250, workers=2
    )
    _assert_same_results(whole, chunked)
    assert run.accounts == 1_200 and len(whole["opportunities"]) > 500
    assert run.volume_metric
    assert all(len(whole["lists"][name]) for name in store.FINDING_LISTS)


def test_a_chunk_without_some_table_still_scores_as_part_of_the_whole():
    """Usage, signals and features only for the first accounts: a later chunk has none of
    them, and must neither report "no usage data" for the portfolio nor pick another volume
    metric or benchmark than the whole."""
    tables = _sample_tables()
    ids = sorted(tables["accounts"]["account_id"])
    first = set(ids[: len(ids) // 3])
    for name in ("usage", "signals", "features"):
        tables[name] = tables[name][tables[name]["account_id"].isin(first)]
    as_of = pipeline.SAMPLE_AS_OF
    whole = analyze(tables, as_of=as_of)
    parts = list(chunks.analyze_chunks(chunks.split(tables, 5), as_of=as_of))
    assert len(parts) > 2
    context = chunks.portfolio_context(chunks.split(tables, 5), as_of=as_of)
    assert context.volume_metric == whole.volume_metric is not None
    pd.testing.assert_frame_equal(context.benchmarks, whole.benchmarks)
    gaps = merge_data_gaps([p.data_gaps for p in parts])
    assert not gaps["account_id"].isna().any()  # the portfolio has every table
    pd.testing.assert_frame_equal(
        gaps.sort_values(["gap", "account_id"], ignore_index=True),
        whole.data_gaps.sort_values(["gap", "account_id"], ignore_index=True),
        check_dtype=False,
    )
    assert set(gaps["gap"]) <= set(DATA_GAPS)
    opportunities = pd.concat([p.opportunities for p in parts], ignore_index=True)
    assert sorted(opportunities["opportunity_id"]) == sorted(whole.opportunities["opportunity_id"])


@pytest.mark.parametrize("name", ["EXPANSION_SCORE_CHUNK_ACCOUNTS", "EXPANSION_SCORE_WORKERS"])
def test_chunk_settings_from_the_environment_must_be_positive_numbers(monkeypatch, engine, name):
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    monkeypatch.setenv(name, "lots")
    with pytest.raises(ConfigError, match=f"{name}='lots' is not a positive whole number"):
        pipeline.score(engine, as_of=pipeline.SAMPLE_AS_OF)


def test_the_plan_bounds_chunks(monkeypatch):
    assert chunks.plan(workers=2) == chunks.Plan(100_000, 2)
    assert chunks.plan(chunk_accounts=3_000, workers=1) == chunks.Plan(3_000, 1)
    monkeypatch.setenv("EXPANSION_SCORE_CHUNK_ACCOUNTS", "50_000")
    monkeypatch.setenv("EXPANSION_SCORE_WORKERS", "3")
    assert chunks.plan() == chunks.Plan(50_000, 3)


def test_workers_that_prepare_chunks_again_store_the_same(tmp_path, monkeypatch, whole_sample):
    """Workers with many accounts read and prepare each chunk again for the second pass
    instead of keeping it: the results do not change."""
    monkeypatch.setattr(chunks, "KEEP_PREPARED_ACCOUNTS", 0)
    source, as_of = pipeline.SAMPLE_PORTFOLIO, pipeline.SAMPLE_AS_OF
    whole, _ = whole_sample
    chunked, _ = _stored(f"sqlite:///{tmp_path / 'c.db'}", source, as_of, 9, workers=2)
    _assert_same_results(whole, chunked)


def test_a_worker_that_fails_stops_the_scoring_with_its_error(sample_engine):
    snapshot = store.snapshot(sample_engine)
    broken = store.Snapshot({**snapshot.frames, "usage": b"not parquet"})
    with pytest.raises(chunks.ChunkScoringError, match=r"scoring chunk \d+ failed: .*Parquet"):
        list(chunks.score_snapshot(broken, chunks.Plan(10, 2), as_of=pipeline.SAMPLE_AS_OF))


def test_a_script_without_a_main_guard_scores_with_workers(tmp_path):
    """Workers are fresh interpreters, not multiprocessing children: they never re-run the
    caller's script, so a plain script (no ``__main__`` guard) can use them."""
    import subprocess
    import sys

    script = tmp_path / "score.py"
    script.write_text(
        "from expansion import pipeline, store\n"
        f"engine = store.connect('sqlite:///{tmp_path / 'x.db'}')\n"
        "pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source='sample')\n"
        "run = pipeline.score(engine, as_of=pipeline.SAMPLE_AS_OF, chunk_accounts=9, workers=2)\n"
        "print('scored', store.read_results(engine, run)['opportunities'].shape[0])\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("scored ") and int(done.stdout.split()[1]) > 0
    assert "worker processes failed" not in done.stderr


def test_workers_that_cannot_start_leave_the_scoring_to_this_process(
    tmp_path, monkeypatch, caplog, whole_sample
):
    source, as_of = pipeline.SAMPLE_PORTFOLIO, pipeline.SAMPLE_AS_OF
    whole, _ = whole_sample
    monkeypatch.setattr(chunks.sys, "executable", str(tmp_path / "no-such-python"))
    chunked, _ = _stored(f"sqlite:///{tmp_path / 'c.db'}", source, as_of, 9, workers=2)
    _assert_same_results(whole, chunked)
    assert "scoring in one process: worker processes failed" in caplog.text


def test_the_first_scoring_after_a_merge_goes_in_chunks_from_the_new_snapshot(tmp_path):
    """Without a snapshot (the first scoring after a sync of several sources), scoring merges
    the sources, keeps the snapshot and scores a large book from it in chunks, with the
    results of scoring the merged book whole."""
    stored = []
    for chunk_accounts in (WHOLE, 9):
        engine = store.connect(f"sqlite:///{tmp_path / f'merged-{chunk_accounts}.db'}")
        try:
            pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="files")
            with engine.begin() as conn:
                conn.execute(store.PORTFOLIO_FRAMES.delete())
            assert store.snapshot(engine) is None
            run_id = pipeline.score(
                engine, as_of=pipeline.SAMPLE_AS_OF, chunk_accounts=chunk_accounts, workers=1
            )
            assert store.snapshot(engine) is not None
            stored.append(store.read_results(engine, run_id))
        finally:
            engine.dispose()
    _assert_same_results(*stored)


def test_workers_share_the_snapshot_as_files_removed_afterwards(
    tmp_path, monkeypatch, whole_sample
):
    """Worker processes read the snapshot from files (each its chunks' row groups) instead of
    each holding a copy of it; the files go when the scoring ends."""
    import pickle
    import tempfile

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    spilled = []
    on_disk = store.Snapshot.on_disk

    def recording(self, folder):
        copy = on_disk(self, folder)
        spilled.append((self, copy))
        return copy

    monkeypatch.setattr(store.Snapshot, "on_disk", recording)
    source, as_of = pipeline.SAMPLE_PORTFOLIO, pipeline.SAMPLE_AS_OF
    whole, _ = whole_sample
    chunked, _ = _stored(f"sqlite:///{tmp_path / 'c.db'}", source, as_of, 9, workers=2)
    _assert_same_results(whole, chunked)

    [(memory, files)] = spilled
    assert all(isinstance(d, bytes) for d in memory.frames.values())
    assert not any(isinstance(d, bytes) for d in files.frames.values())
    assert len(pickle.dumps(files)) < 2_000  # what each worker is sent: paths, not Parquet bytes
    assert list(temporary.iterdir()) == []  # removed with the scoring
    (tmp_path / "again").mkdir()
    files = on_disk(memory, tmp_path / "again")
    low, high = memory.bounds(9)[1]
    for name, frame in memory.chunk(low, high).items():
        pd.testing.assert_frame_equal(files.chunk(low, high)[name], frame, obj=name)


def test_results_parquet_cannot_hold_are_scored_whole_and_stored_as_rows(
    tmp_path, monkeypatch, whole_sample
):
    """A chunk whose results Parquet cannot hold (a column mixing numbers and text) stops the
    chunked scoring: the book is scored whole and its run stored as rows, with the same
    opportunities."""
    import sqlalchemy as sa

    encode = store.parquet.parquet_bytes
    refused = []

    def no_opportunities(frame):
        if {"opportunity_id", "tier1_path"} <= set(frame.columns):
            refused.append(len(frame))
            return None
        return encode(frame)

    monkeypatch.setattr(store.parquet, "parquet_bytes", no_opportunities)
    whole, _ = whole_sample
    with pytest.raises(chunks.ResultsNotStorable, match="the opportunities results"):
        chunks.chunk_results(
            analyze(next(chunks.split(_sample_tables(), 9)()), as_of=pipeline.SAMPLE_AS_OF)
        )
    url = f"sqlite:///{tmp_path / 'c.db'}"
    chunked, run = _stored(url, pipeline.SAMPLE_PORTFOLIO, pipeline.SAMPLE_AS_OF, 9)
    assert refused  # the chunks' results were refused, then the whole book's
    engine = store.connect(url)
    try:
        with engine.connect() as conn:
            frames = conn.execute(
                sa.select(sa.func.count()).select_from(store.SCORE_FRAMES)
            ).scalar()
    finally:
        engine.dispose()
    assert frames == 0  # stored as rows
    assert run.accounts == len(whole["profiles"])
    assert sorted(chunked["opportunities"]["opportunity_id"]) == sorted(
        whole["opportunities"]["opportunity_id"]
    )
