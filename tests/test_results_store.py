"""Scoring results read back the same from their Parquet frames and from their rows (runs
scored before score_frames existed, or whose frames Parquet could not hold, have only rows)."""

from __future__ import annotations

import sqlalchemy as sa

from expansion import pipeline, store
from expansion.playbook import render_playbook
from expansion.snapshot import SnapshotSpill

AS_OF = pipeline.SAMPLE_AS_OF


def _answer(url: str) -> tuple:
    engine = store.connect(url)  # a new engine: nothing cached from before
    try:
        result = pipeline.find(engine, "", as_of=AS_OF)
        return (
            result.opportunity_records(),
            result.summary,
            {name: len(getattr(result, name)) for name in store.FINDING_LISTS},
            render_playbook(result, portfolio_name="Sample"),
        )
    finally:
        engine.dispose()


def test_frames_and_rows_give_the_same_answer(tmp_path, monkeypatch):
    def names_stored(engine, run_id):
        with engine.connect() as conn:
            return set(
                conn.execute(
                    sa.select(store.SCORE_FRAMES.c.name).where(
                        store.SCORE_FRAMES.c.score_run_id == run_id
                    )
                ).scalars()
            )

    answers = []
    for parquet_can_hold_them in (True, False):
        url = f"sqlite:///{tmp_path / f'{parquet_can_hold_them}.db'}"
        engine = store.connect(url)
        pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
        with monkeypatch.context() as patch:
            if not parquet_can_hold_them:  # a column mixing numbers and text, say
                patch.setattr(store.results, "to_parquet", lambda *_: None)
            run_id = pipeline.score(engine, as_of=AS_OF)
        with engine.connect() as conn:

            def rows(table: sa.Table) -> int:
                return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()

            counts = [rows(t) for t in (store.OPPORTUNITIES, store.EVIDENCE, store.FINDINGS)]
            profile_json = conn.execute(
                sa.select(sa.func.count(store.PROFILES.c.profile))
            ).scalar_one()
            profiles = rows(store.PROFILES)
        stored = names_stored(engine, run_id)
        engine.dispose()
        if parquet_can_hold_them:  # one copy, the frames
            assert {"opportunities", "profiles", "evidence", "list:activation"} <= stored
            assert counts == [0, 0, 0] and profiles == 0
        else:  # one copy, the rows
            assert not stored
            assert all(counts) and profile_json == profiles > 0
        answers.append(_answer(url))
    from_frames, from_rows = answers
    assert from_frames[0] == from_rows[0]
    assert from_frames[1] == from_rows[1]
    assert from_frames[2] == from_rows[2]
    assert from_frames[3] == from_rows[3]


def test_the_sync_snapshot_scores_exactly_like_the_rows(tmp_path):
    from datetime import date

    from expansion import generate

    url = f"sqlite:///{tmp_path / 'snap.db'}"
    book = tmp_path / "book"
    generate.generate(300, seed=11, out=book, as_of=date(2026, 11, 16))
    for folder, as_of in ((pipeline.SAMPLE_PORTFOLIO, AS_OF), (book, date(2026, 11, 16))):
        for path in tmp_path.glob("snap.db*"):
            path.unlink()
        engine = store.connect(url)
        pipeline.sync_folder(engine, folder, source="files")
        with engine.connect() as conn:
            stored = conn.execute(
                sa.select(sa.func.count()).select_from(store.PORTFOLIO_FRAMES)
            ).scalar()
        assert stored == len(store.PORTFOLIO_TABLES)
        from_snapshot = pipeline.find(engine, "", as_of=as_of).opportunity_records()
        with engine.begin() as conn:
            conn.execute(store.PORTFOLIO_FRAMES.delete())
        pipeline.score(engine, as_of=as_of, force=True)  # merges the rows, keeps a new snapshot
        engine.dispose()
        engine = store.connect(url)
        from_rows = pipeline.find(engine, "", as_of=as_of).opportunity_records()
        engine.dispose()
        assert from_snapshot and from_snapshot == from_rows


def _snapshots(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(store.PORTFOLIO_FRAMES)).scalar()


def test_a_snapshot_that_cannot_be_built_leaves_the_sync_standing(engine, monkeypatch, caplog):
    """The snapshot is built from the rows as they are written; it is derived data, so its
    failure is logged and the first scoring merges the rows instead."""

    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(SnapshotSpill, "portfolio_parquet", broken)
    report = pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="files")
    assert report.run.status == "succeeded" and _snapshots(engine) == 0
    assert "the scoring snapshot could not be built" in caplog.text and "disk full" in caplog.text
    run_id = pipeline.score(engine, as_of=AS_OF)
    assert len(store.read_results(engine, run_id)["opportunities"]) > 0
    assert _snapshots(engine) == len(store.PORTFOLIO_TABLES)  # kept by the scoring


def test_a_snapshot_is_kept_only_while_its_source_is_the_only_one(engine, monkeypatch):
    """A sync of another source landing while the first one's snapshot is built: the snapshot
    would be of one source's rows only, so it is not kept."""
    built = SnapshotSpill.portfolio_parquet

    def meanwhile(self, source, role):
        parquet = built(self, source, role)
        with engine.begin() as conn:
            store.writes.insert_run(
                conn, store.SyncRun(source="crm", role="crm", status="succeeded")
            )
        return parquet

    monkeypatch.setattr(SnapshotSpill, "portfolio_parquet", meanwhile)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="files")
    assert _snapshots(engine) == 0
    monkeypatch.setattr(SnapshotSpill, "portfolio_parquet", built)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="files")
    assert _snapshots(engine) == 0  # two sources now: the first scoring merges them


def test_parquet_text_reads_back_as_python_strings_exactly():
    """Results are read through Parquet's dictionary pages: every value, missing text, several
    row groups (each with its own dictionary) and pandas' own dtypes come back as written."""
    import io

    import numpy as np
    import pandas as pd

    n = 2_500
    frame = pd.DataFrame(
        {
            "id": [f"ACC-{i:05d}" for i in range(n)],
            "segment": pd.Series(["Enterprise", None, "SMB", "Mid-Market"] * (n // 4), dtype="str"),
            "note": [None if i % 7 == 0 else f"note {i % 13}" for i in range(n)],
            "score": np.linspace(0, 10, n),
            "tier": pd.array([None if i % 5 == 0 else i % 5 for i in range(n)], dtype="Int64"),
            "flag": pd.array([None if i % 3 == 0 else i % 2 == 0 for i in range(n)], "boolean"),
            "when": pd.to_datetime("2026-11-16") + pd.to_timedelta(np.arange(n) % 30, "D"),
        }
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, row_group_size=1_000)  # three row groups
    back = store.parquet.read_parquet(buffer.getvalue())

    assert list(back.columns) == list(frame.columns)
    for column in ("id", "segment", "note"):
        assert back[column].dtype == object
        expected = [None if pd.isna(v) else v for v in frame[column]]
        assert back[column].tolist() == expected
        assert all(v is None or type(v) is str for v in back[column])
    for column in ("score", "tier", "flag", "when"):
        pd.testing.assert_series_equal(back[column], frame[column], check_dtype=False)
    assert back["tier"].dtype == "Int64" and back["flag"].dtype == "boolean"

    empty = io.BytesIO()
    frame.iloc[:0].to_parquet(empty, index=False)
    assert store.parquet.read_parquet(empty.getvalue()).empty
