"""The digest scheduler: cron triggers across time zones and DST, catching up a missed digest,
re-reading subscriptions, and one leader among several schedulers (in-process on SQLite, and
``expansion scheduler`` processes on PostgreSQL with a takeover when the leader dies)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger
from bot_harness import EXPANSION, TEAM, TOKEN

from bot.app import web_client
from bot.runtime import Runtime
from bot.scheduler import DigestScheduler, FileLockLeader, leader_for
from bot.settings import Settings
from expansion import digest, pipeline, schedule, store
from expansion.schedule import parse_schedule

AS_OF = pipeline.SAMPLE_AS_OF


def plan(text: str):
    return parse_schedule(text, default_timezone="UTC", as_of=date(2026, 1, 1))


def fires(text: str, start: datetime, n: int = 3) -> list[datetime]:
    trigger = CronTrigger(**plan(text).cron_fields())
    out, previous, now = [], None, start
    while len(out) < n:
        nxt = trigger.get_next_fire_time(previous, now)
        out.append(nxt)
        previous, now = nxt, nxt + timedelta(seconds=1)
    return [f.astimezone(UTC) for f in out]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --------------------------------------------------------------------------- cron and DST


def test_weekly_new_york_keeps_local_time_across_the_dst_change():
    got = fires("weekly mon 09:00 America/New_York", utc(2026, 10, 20), n=3)
    # EDT (UTC-4) until 1 Nov 2026, then EST (UTC-5): 09:00 local both sides.
    assert got == [utc(2026, 10, 26, 13), utc(2026, 11, 2, 14), utc(2026, 11, 9, 14)]
    assert plan("weekly mon 09:00 America/New_York").previous_fire(utc(2026, 11, 5)) == utc(
        2026, 11, 2, 14
    )


def test_spring_forward_gap_fires_once_after_the_gap():
    sched = plan("daily 02:30 Europe/Berlin")
    got = fires("daily 02:30 Europe/Berlin", utc(2026, 3, 28, 12), n=2)
    # 02:30 does not exist on 29 March 2026 in Berlin: it fires at 03:30 CEST (01:30 UTC).
    assert got == [utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    assert sched.previous_fire(utc(2026, 3, 29, 6)) == utc(2026, 3, 29, 1, 30)
    assert digest.period_of("daily", sched.local_day(got[0])) == "2026-03-29"


def test_fall_back_fires_twice_but_posts_once(engine):
    sched = plan("daily 02:30 Europe/Berlin")
    got = fires("daily 02:30 Europe/Berlin", utc(2026, 10, 24, 12), n=2)
    # 02:30 happens twice on 25 October 2026 (CEST, then CET); APScheduler fires at both...
    assert got == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)]
    # ...and both fall in the same period, so the second finds the first one's claim.
    periods = {digest.period_of("daily", sched.local_day(f)) for f in got}
    assert periods == {"2026-10-25"}

    def claim(at: datetime) -> digest.Claim:
        period = digest.period_of("daily", sched.local_day(at))
        return digest.claim(
            engine,
            team_id=TEAM,
            channel="C1",
            period=period,
            scope="",
            max_cards=25,
            holder="h",
            now=at,
        )

    first = claim(got[0])
    assert first.ours
    digest.finish(engine, first.run, "posted")
    second = claim(got[1])
    assert not second.ours and second.existing.id == first.run.id
    assert sched.previous_fire(utc(2026, 10, 25, 3)) == got[0]


def test_a_monday_in_auckland_is_a_sunday_in_utc():
    sched = plan("weekly mon 08:00 Pacific/Auckland")
    (first,) = fires("weekly mon 08:00 Pacific/Auckland", utc(2026, 11, 20), n=1)
    assert first == utc(2026, 11, 22, 19)  # Sunday 19:00 UTC = Monday 08:00 NZDT
    assert sched.local_day(first) == date(2026, 11, 23)
    assert digest.period_of("weekly", sched.local_day(first)) == "2026-W48"
    assert digest.period_label("2026-W48") == "week of 23 Nov 2026"


def test_monthly_and_previous_fire():
    assert fires("monthly 28 18:00 UTC", utc(2026, 1, 29), n=2) == [
        utc(2026, 2, 28, 18),
        utc(2026, 3, 28, 18),
    ]
    sched = plan("monthly 28 18:00 UTC")
    assert sched.previous_fire(utc(2026, 3, 1)) == utc(2026, 2, 28, 18)
    assert digest.period_of("monthly", date(2026, 2, 28)) == "2026-02"
    assert digest.period_label("2026-02") == "February 2026"


# --------------------------------------------------------------------------- in-process


@pytest.fixture
def sample_db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'sched.db'}"
    engine = store.connect(url)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    pipeline.score(engine, as_of=AS_OF)
    engine.dispose()
    return url


def subscribe_due(engine: sa.Engine, channel: str, *, minutes_ago: int = 30) -> None:
    """A daily subscription whose time passed ``minutes_ago`` minutes ago, made an hour ago."""
    now = datetime.now(UTC)
    at = (now - timedelta(minutes=minutes_ago)).strftime("%H:%M")
    sched = parse_schedule(f"daily {at} UTC max 3", default_timezone="UTC", as_of=AS_OF)
    schedule.subscribe(engine, team_id=TEAM, channel=channel, schedule=sched, created_by="UADMIN")
    subs = schedule._SUBS
    with engine.begin() as conn:
        conn.execute(
            subs.update()
            .where(subs.c.channel == channel)
            .values(created_at=now - timedelta(hours=1))
        )


def parents(slack, channel: str) -> list[dict]:
    with slack._lock:
        return [
            m for (c, _), m in slack.messages.items() if c == channel and not m.get("thread_ts")
        ]


@pytest.fixture
def runtime_for(slack):
    made = []

    def make(url: str) -> Runtime:
        settings = Settings(
            bot_token=TOKEN,
            signing_secret="s",
            api_url=slack.api_url,
            fixed_as_of=AS_OF,
            digest_pace=0,
        )
        runtime = Runtime(engine=store.connect(url), settings=settings)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.engine.dispose()


def test_catch_up_reload_and_one_leader(sample_db, slack, runtime_for):
    runtime = runtime_for(sample_db)
    subscribe_due(runtime.engine, "CSCHED1")
    client = web_client(TOKEN, slack.api_url)
    first = DigestScheduler(runtime, client).start()
    second = DigestScheduler(runtime_for(sample_db), client).start()
    try:
        slack.wait_for(
            lambda: (
                [r.status for r in digest.runs(runtime.engine, channel="CSCHED1")] == ["posted"]
            ),
            timeout=30,
        )
        assert first.leading and not second.leading
        (posted,) = digest.runs(runtime.engine, channel="CSCHED1")
        due = (datetime.now(UTC) - timedelta(minutes=30)).date()
        assert posted.period == due.isoformat()
        # The cron job is there for the next occurrence, tomorrow at the same time.
        nxt = first.next_run(TEAM, "CSCHED1")
        assert nxt is not None and timedelta(hours=23) < nxt - datetime.now(UTC) < timedelta(days=1)
        # A changed subscription is rescheduled on reload; a removed one loses its job.
        sched = parse_schedule("weekly fri 10:00 UTC", default_timezone="UTC", as_of=AS_OF)
        schedule.subscribe(
            runtime.engine, team_id=TEAM, channel="CSCHED1", schedule=sched, created_by="U"
        )
        first.reload()
        assert first.next_run(TEAM, "CSCHED1").weekday() == 4
        schedule.unsubscribe(runtime.engine, team_id=TEAM, channel="CSCHED1")
        first.reload()
        assert first.next_run(TEAM, "CSCHED1") is None
        # The leader stops: the other takes over at its next leadership check.
        first.shutdown()
        second.check_leadership()
        assert second.leading
    finally:
        first.shutdown()
        second.shutdown()
    assert len(parents(slack, "CSCHED1")) == 1


def test_a_sweep_does_not_post_a_digest_subscribed_after_its_time(sample_db, slack, runtime_for):
    runtime = runtime_for(sample_db)
    subscribe_due(runtime.engine, "CSCHED2")
    subs = schedule._SUBS
    with runtime.engine.begin() as conn:  # subscribed just now, after today's time
        conn.execute(subs.update().values(created_at=datetime.now(UTC)))
    scheduler = DigestScheduler(runtime, web_client(TOKEN, slack.api_url))
    scheduler.sweep()
    assert parents(slack, "CSCHED2") == []


def test_a_scheduled_digest_that_cannot_be_built_is_recorded_failed(sample_db, slack, runtime_for):
    runtime = runtime_for(sample_db)
    subscribe_due(runtime.engine, "CSCHED3")
    subs = schedule._SUBS
    with runtime.engine.begin() as conn:  # e.g. the account it named left the CRM
        conn.execute(subs.update().values(scope="Vanished Industries"))
    DigestScheduler(runtime, web_client(TOKEN, slack.api_url)).sweep()
    (run,) = digest.runs(runtime.engine, channel="CSCHED3")
    assert run.status == "failed" and "Vanished Industries" in run.error
    assert parents(slack, "CSCHED3") == []


def test_leader_for_each_database(tmp_path):
    engine = store.connect(f"sqlite:///{tmp_path / 'x.db'}")
    leader = leader_for(engine)
    assert isinstance(leader, FileLockLeader)
    assert leader.path == tmp_path / "x.db.scheduler.lock"
    other = FileLockLeader(leader.path)
    assert leader.acquire() and not other.acquire()
    leader.release()
    assert other.acquire()
    other.release()
    engine.dispose()


# --------------------------------------------------------------------------- processes


def _scheduler(url: str, slack, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": slack.api_url,
        "EXPANSION_DB_URL": url,
        "EXPANSION_AS_OF": AS_OF.isoformat(),
        "EXPANSION_DIGEST_PACE": "0.3",  # slow enough to die in the middle of a digest
        "EXPANSION_DIGEST_LEASE": "4",
    }
    return subprocess.Popen(
        [EXPANSION, "scheduler"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def channel_texts(slack, channel: str) -> list[str]:
    with slack._lock:
        items = [m for (c, _), m in slack.messages.items() if c == channel]
    return [m["text"] for m in sorted(items, key=lambda m: float(m["ts"]))]


def test_scheduler_processes_on_postgres_crash_takeover_and_resume(pg_url, slack, tmp_path):
    """Two ``expansion scheduler`` processes: one leads and starts the digest; it is killed
    halfway; the other takes the lock over, resumes the run and posts the rest exactly once."""
    engine = store.connect(pg_url)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    pipeline.score(engine, as_of=AS_OF)
    subscribe_due(engine, "CPGSCHED")
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [_scheduler(pg_url, slack, log) for log in logs]
    try:
        slack.wait_for(lambda: len(channel_texts(slack, "CPGSCHED")) >= 3, timeout=60)
        leading = [i for i, p in enumerate(logs) if "scheduler: leading" in p.read_text()]
        assert len(leading) == 1, [p.read_text() for p in logs]
        leader, follower = leading[0], 1 - leading[0]
        procs[leader].send_signal(signal.SIGKILL)  # dies mid-digest, releasing nothing itself
        procs[leader].wait(timeout=10)
        _wait(
            lambda: "scheduler: leading" in logs[follower].read_text(),
            30,
            "the other scheduler to take over",
        )
        _wait(
            lambda: [r.status for r in digest.runs(engine, channel="CPGSCHED")] == ["posted"],
            60,
            "the resumed digest to finish",
        )
        (run,) = digest.runs(engine, channel="CPGSCHED")
        assert run.attempts == 2
        planned = [m.payload["text"] for m in digest.plan_of(engine, run)]
        seen = channel_texts(slack, "CPGSCHED")
        # Nothing missing, in order; at most the one message in flight at the kill repeats.
        assert len(seen) - len(planned) in (0, 1)
        deduped = [t for i, t in enumerate(seen) if i == 0 or t != seen[i - 1]]
        assert deduped == planned
        assert "resuming digest run" in logs[follower].read_text()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
        engine.dispose()
    assert "Traceback" not in logs[follower].read_text()


def test_nightly_resyncs_the_configured_source_and_rescores(tmp_path, slack):
    url = f"sqlite:///{tmp_path / 'nightly.db'}"
    settings = Settings(
        bot_token=TOKEN,
        signing_secret="s",
        api_url=slack.api_url,
        fixed_as_of=AS_OF,
        source=pipeline.SAMPLE_PORTFOLIO,
        source_name="crm-export",
    )
    runtime = Runtime(engine=store.connect(url), settings=settings)
    DigestScheduler(runtime, web_client(TOKEN, slack.api_url)).nightly()
    runs = store.sync_runs(runtime.engine)
    assert runs["source"].tolist() == ["crm-export"] and runs["status"].tolist() == ["succeeded"]
    version = store.data_version(runtime.engine)
    assert store.find_score_run(
        runtime.engine, as_of=AS_OF, data_version=version, fingerprint=settings.scoring.fingerprint
    )
    runtime.engine.dispose()


def test_nightly_with_no_data_only_logs(tmp_path, slack):
    settings = Settings(bot_token=TOKEN, signing_secret="s", api_url=slack.api_url)
    runtime = Runtime(engine=store.connect(f"sqlite:///{tmp_path / 'e.db'}"), settings=settings)
    DigestScheduler(runtime, web_client(TOKEN, slack.api_url)).nightly()  # must not raise
    runtime.engine.dispose()


def test_a_released_advisory_lock_is_free_at_once(pg_url):
    from bot.scheduler import AdvisoryLockLeader

    first, second = (AdvisoryLockLeader(sa.create_engine(pg_url)) for _ in range(2))
    assert first.acquire() and not second.acquire()
    first.release()  # a pooled session must not keep holding it
    assert second.acquire()
    second.release()
    first.engine.dispose()
    second.engine.dispose()
