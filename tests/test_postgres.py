"""The same sync -> score -> find on a real PostgreSQL server (set EXPANSION_TEST_POSTGRES_URL;
.ci/run does)."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from expansion import pipeline, store

URL = os.environ.get("EXPANSION_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="EXPANSION_TEST_POSTGRES_URL is not set")


@pytest.fixture
def pg_engine():
    """A schema of this test's own (a fixed name let two runs at once drop each other's)."""
    schema = f"expansion_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    engine = store.connect(URL, schema=schema)
    yield engine
    engine.dispose()
    cleanup = sa.create_engine(URL)
    with cleanup.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    cleanup.dispose()


def test_postgres_matches_sqlite(pg_engine, sample_result):
    pipeline.sync_folder(pg_engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    result = pipeline.find(pg_engine, "", as_of=pipeline.SAMPLE_AS_OF)
    assert result.opportunity_records() == sample_result.opportunity_records()
    assert result.summary == sample_result.summary


def test_workflow_on_postgres(pg_engine):
    from expansion import workflow

    pipeline.sync_folder(pg_engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    top = pipeline.find(pg_engine, "enterprise", as_of=pipeline.SAMPLE_AS_OF).opportunities.iloc[0]
    pipeline.assign(
        pg_engine, top.opportunity_id, assignee="U1", actor="UADMIN", as_of=pipeline.SAMPLE_AS_OF
    )
    pipeline.record_outcome(
        pg_engine, top.opportunity_id, "won", actor="UADMIN", as_of=pipeline.SAMPLE_AS_OF
    )
    after = pipeline.find(pg_engine, "enterprise", as_of=pipeline.SAMPLE_AS_OF)
    assert top.opportunity_id not in set(after.opportunities["opportunity_id"])
    assert workflow.events(pg_engine, top.opportunity_id)["action"].tolist() == ["assign", "won"]
    where = {"channel": "C1", "thread_ts": "1.0", "kind": "deep_dive", "key": "ACC-1"}
    assert workflow.claim_post(pg_engine, **where)
    assert not workflow.claim_post(pg_engine, **where)


def test_workspace_partitions_are_schemas(pg_url):
    """Multi-workspace: each team's data in its own schema, invisible to the others."""
    from expansion import schedule

    one = store.connect(pg_url, team="T1")
    two = store.connect(pg_url, team="T2")
    pipeline.sync_folder(one, pipeline.SAMPLE_PORTFOLIO, source="sample")
    assert len(pipeline.find(one, "enterprise", as_of=pipeline.SAMPLE_AS_OF).opportunities)
    with pytest.raises(Exception, match="expansion sync"):
        pipeline.find(two, "enterprise", as_of=pipeline.SAMPLE_AS_OF)
    with one.connect() as conn:
        assert conn.execute(sa.text("SELECT current_schema()")).scalar().endswith("_team_t1")
    plan = schedule.parse_schedule(
        "daily 08:00 UTC", default_timezone="UTC", as_of=pipeline.SAMPLE_AS_OF
    )
    schedule.subscribe(two, team_id="T2", channel="C2", schedule=plan, created_by="U")
    assert [s.channel for s in schedule.subscriptions(one)] == []
    assert [s.channel for s in schedule.subscriptions(two)] == ["C2"]
    one.dispose()
    two.dispose()


def test_a_book_scored_in_chunks_on_postgres_matches_sqlite(pg_engine, sample_result):
    """The snapshot, the chunk workers and the joined results work alike on PostgreSQL."""
    pipeline.sync_folder(pg_engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    pipeline.score(pg_engine, as_of=pipeline.SAMPLE_AS_OF, chunk_accounts=9, workers=2)
    result = pipeline.find(pg_engine, "", as_of=pipeline.SAMPLE_AS_OF)
    assert result.opportunity_records() == sample_result.opportunity_records()
    assert result.summary == sample_result.summary
