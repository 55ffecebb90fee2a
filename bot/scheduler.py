"""The digest scheduler: APScheduler 3.x with one cron job per subscription, a sweep that
resumes interrupted runs and catches up missed ones, and a nightly re-sync and re-score.

It runs inside ``expansion serve`` (unless ``EXPANSION_SCHEDULER=off``) or alone as
``expansion scheduler``. Any number may run; one leads at a time: on PostgreSQL the holder of a
session advisory lock (released by the server the moment the holder's connection dies, so
another replica takes over within one poll), on SQLite the holder of a lock file next to the
database. Only the leader has jobs; the per-run claim in the database still guards every post,
so even two leaders could not post a digest twice.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk import WebClient

from expansion import digest, pipeline, schedule
from expansion.database import AdvisoryLockLeader as AdvisoryLockLeader  # re-exported
from expansion.database import FileLockLeader as FileLockLeader  # re-exported
from expansion.database import SoleLeader as SoleLeader  # re-exported
from expansion.database import leader_for
from expansion.errors import ExpansionError
from expansion.store import DigestSubscription

from . import alerts as bot_alerts
from . import digest_post, installations
from .runtime import Runtime

log = logging.getLogger(__name__)

LEADER_POLL = 5  # seconds between leadership checks
RELOAD_EVERY = 30  # seconds between re-reads of the subscriptions (other replicas' changes)
# Seconds between sweeps (resume interrupted runs, catch up missed ones): twice per lease at least.
SWEEP_EVERY = max(1.0, min(60.0, digest.LEASE.total_seconds() / 2))
CATCH_UP = timedelta(hours=12)  # a digest missed by less than this is still posted
MISFIRE_GRACE = int(CATCH_UP.total_seconds())


# --------------------------------------------------------------------------- the scheduler


def _job_id(sub: DigestSubscription) -> str:
    return f"digest:{sub.team_id}:{sub.channel}"


class DigestScheduler:
    """APScheduler jobs for every subscription, while this process leads."""

    def __init__(
        self, runtime: Runtime, client: WebClient, *, leader=None, holder: str | None = None
    ) -> None:
        self.runtime = runtime
        self.client = client
        self.leader = leader or leader_for(runtime.engine)
        self.holder = holder or digest.holder_id()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": MISFIRE_GRACE,
            },
        )
        self._lock = threading.RLock()
        self._fingerprint: tuple | None = None

    # -- lifecycle

    def start(self) -> DigestScheduler:
        self.scheduler.start()
        self.scheduler.add_job(
            self.check_leadership,
            IntervalTrigger(seconds=LEADER_POLL),
            id="leadership",
            next_run_time=datetime.now(UTC),
        )
        return self

    def shutdown(self) -> None:
        """Stop the jobs and give leadership up (safe to call twice)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.leader.release()

    @property
    def leading(self) -> bool:
        return self.leader.held

    def check_leadership(self) -> None:
        """Take charge when the lock is free; stand down when it is lost."""
        with self._lock:
            if self.leader.held:
                if not self.leader.alive():
                    log.warning("scheduler: lost leadership; standing down")
                    self._stand_down()
                return
            try:
                got = self.leader.acquire()
            except Exception:
                log.warning("scheduler: cannot reach the database for leadership", exc_info=True)
                return
            if got:
                log.info("scheduler: leading (holder %s)", self.holder)
                self._take_charge()

    def _take_charge(self) -> None:
        now = datetime.now(UTC)
        self._fingerprint = None
        self.scheduler.add_job(
            self.reload, IntervalTrigger(seconds=RELOAD_EVERY), id="reload", next_run_time=now
        )
        self.scheduler.add_job(
            self.sweep, IntervalTrigger(seconds=SWEEP_EVERY), id="sweep", next_run_time=now
        )
        hour, minute = (int(x) for x in self.runtime.settings.nightly_at.split(":"))
        self.scheduler.add_job(
            self.nightly, CronTrigger(hour=hour, minute=minute, timezone=UTC), id="nightly"
        )

    def _stand_down(self) -> None:
        for job in self.scheduler.get_jobs():
            if job.id != "leadership":
                job.remove()
        self._fingerprint = None

    # -- jobs

    def reload(self) -> None:
        """Make the cron jobs match the subscriptions (called on every change and periodically)."""
        with self._lock:
            if not self.leader.held:
                return
            subs = [s for _, runtime in self.workspaces() for s in self._subscriptions(runtime)]
            fingerprint = tuple(
                (s.team_id, s.channel, s.cadence, s.weekday, s.monthday, s.at_time, s.timezone)
                for s in subs
            )
            if fingerprint == self._fingerprint:
                return
            wanted = {_job_id(s): s for s in subs}
            for job in self.scheduler.get_jobs():
                if job.id.startswith("digest:") and job.id not in wanted:
                    job.remove()
            for job_id, sub in wanted.items():
                self.scheduler.add_job(
                    self.fire,
                    CronTrigger(**schedule.schedule_of(sub).cron_fields()),
                    id=job_id,
                    args=[sub.team_id, sub.channel],
                    replace_existing=True,
                )
            self._fingerprint = fingerprint
            log.info("scheduler: %d digest subscriptions scheduled", len(wanted))

    def workspaces(self) -> list[tuple[str | None, Runtime]]:
        """Each installed workspace with its runtime (one, unless multi-workspace)."""
        return [(team, self.runtime.for_team(team)) for team in installations.teams(self.runtime)]

    @staticmethod
    def _subscriptions(runtime: Runtime) -> list[DigestSubscription]:
        subs = schedule.subscriptions(runtime.engine)
        if runtime.team_id is not None:  # a workspace's partition holds only its own
            subs = [s for s in subs if s.team_id == runtime.team_id]
        return subs

    def _client(self, team_id: str | None) -> WebClient | None:
        if not self.runtime.settings.multi_workspace:
            return self.client
        return installations.client_for(self.runtime, team_id)

    def next_run(self, team_id: str, channel: str) -> datetime | None:
        job = self.scheduler.get_job(f"digest:{team_id}:{channel}")
        return job.next_run_time if job else None

    def fire(
        self, team_id: str, channel: str, due: datetime | None = None
    ) -> digest_post.Report | None:
        """Post one subscription's digest now (once per period, whoever else tries), for the
        period of ``due`` (default: the scheduled time that just passed)."""
        runtime = self.runtime.for_team(team_id)
        sub = schedule.subscription(runtime.engine, channel, team_id=team_id)
        client = self._client(team_id)
        if sub is None or client is None:  # unsubscribed, or the workspace uninstalled the app
            return None
        plan = schedule.schedule_of(sub)
        target = digest_post.Target(team_id, channel, plan)
        report = digest_post.run(
            runtime,
            client,
            target,
            at=due or plan.previous_fire(datetime.now(UTC)),
            holder=self.holder,
            pace=self.runtime.settings.digest_pace,
            record_failure=True,
        )
        log.info("digest %s %s: %s", team_id, channel, report.status)
        return report

    def sweep(self, now: datetime | None = None) -> None:
        """Resume interrupted runs, and post digests whose time passed while no one was leading."""
        now = now or datetime.now(UTC)
        for team, runtime in self.workspaces():
            client = self._client(team)
            if client is None:
                continue
            digest_post.resume_interrupted(
                runtime, client, holder=self.holder, pace=runtime.settings.digest_pace
            )
            for sub in self._subscriptions(runtime):
                self._catch_up(runtime, sub, now)

    def _catch_up(self, runtime: Runtime, sub: DigestSubscription, now: datetime) -> None:
        plan = schedule.schedule_of(sub)
        due = plan.previous_fire(now)
        created = sub.created_at if sub.created_at.tzinfo else sub.created_at.replace(tzinfo=UTC)
        if now - due > CATCH_UP or due < created:
            return
        period = digest.period_of(plan.cadence, plan.local_day(due))
        if not digest.has_run(
            runtime.engine, team_id=sub.team_id, channel=sub.channel, period=period
        ):
            log.info("scheduler: catching up the %s digest of %s", period, sub.channel)
            self.fire(sub.team_id, sub.channel, due)

    def nightly(self) -> None:
        """Re-sync every workspace's configured sources (``[[sources]]``; ``EXPANSION_SOURCE``
        for a single workspace), and re-score every workspace for today."""
        from .sources import sync, team_sources

        settings = self.runtime.settings
        # Sundays pull everything again: only a full pull sees what a source deleted.
        full = datetime.now(UTC).weekday() == 6
        for team, runtime in self.workspaces():
            configured = team_sources(runtime)
            if configured:
                log.info(
                    "nightly %s sync of %s: %s",
                    "full" if full else "incremental",
                    team or "the workspace",
                    sync(runtime, configured, full=full),
                )
        if settings.source is not None and not settings.multi_workspace:
            report = pipeline.sync_folder(
                self.runtime.engine, settings.source, source=settings.source_name
            )
            log.info(
                "nightly sync of %s: %d rows, %d rejected",
                settings.source,
                report.run.rows_accepted,
                report.rejected,
            )
        for team, runtime in self.workspaces():
            try:
                run_id = pipeline.score_and_load(  # scored and decoded before the morning digests
                    runtime.engine, as_of=settings.as_of(), config=settings.scoring
                )
                log.info("nightly scoring of %s: run %s", team or "the workspace", run_id)
            except ExpansionError as exc:  # e.g. a workspace with no data synced yet
                log.info("nightly scoring of %s skipped: %s", team or "the workspace", exc)
                continue
            self.alert(team, runtime)

    def alert(self, team: str | None, runtime: Runtime) -> bot_alerts.Report | None:
        """The nightly pass of new-Tier-1 alerts (with the daily summaries) of one workspace;
        a failure is logged and never stops the others or the digests."""
        try:
            return bot_alerts.after_sync(
                runtime, self._client(team), summary=True, holder=self.holder
            )
        except Exception:
            log.exception("nightly alerts of %s failed", team or "the workspace")
            return None


# --------------------------------------------------------------------------- processes


def start_for(runtime: Runtime) -> DigestScheduler:
    """A started scheduler for ``expansion serve`` (its own Web API client)."""
    from .app import web_client

    settings = runtime.settings
    scheduler = DigestScheduler(runtime, web_client(settings.bot_token, settings.api_url))
    runtime.subscriptions_changed = scheduler.reload
    return scheduler.start()
