"""The Tier 1 digest's bookkeeping: claiming a run exactly once, its stored plan, what it saw,
and what changed since the channel's previous digest.

A run is claimed by inserting ``(team, channel, period)`` under a unique constraint before
anything is posted. Its messages are planned and stored in one transaction, then posted in
order, each ``ts`` recorded as soon as Slack accepts it, so a run that died halfway is resumed
without posting anything twice. This module knows nothing of Slack: the bot builds the message
payloads and posts them.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from . import charts, workflow
from .errors import LeaseLostError
from .redact import redact
from .store import DigestItem, DigestMessage, DigestRun, OpportunityEvent, utcnow

RUNS = DigestRun.__table__
MESSAGES = DigestMessage.__table__
ITEMS = DigestItem.__table__
EVENTS = OpportunityEvent.__table__

#: A holder that has not renewed its lease for this long is presumed dead; its run is taken
#: over (``EXPANSION_DIGEST_LEASE`` seconds, default 300: longer than one post can take with the
#: client's retries, Retry-After waits and timeouts).
LEASE = timedelta(seconds=float(os.environ.get("EXPANSION_DIGEST_LEASE") or 300))
#: An interrupted run is resumed until it is this old, then marked failed.
GIVE_UP = timedelta(hours=12)
#: Opportunities remembered per digest (to tell tier moves next time).
SNAPSHOT_MAX_TIER = 3
#: Lines per "what changed" group before "…and N more".
CHANGE_LINES = 5


def holder_id() -> str:
    """Who is posting: host, process and a random suffix (unique per process start)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def period_of(cadence: str, local_day: date) -> str:
    """The period a digest on ``local_day`` belongs to: ``2026-11-23``, ``2026-W48``, ``2026-11``."""
    if cadence == "daily":
        return local_day.isoformat()
    if cadence == "monthly":
        return f"{local_day:%Y-%m}"
    year, week, _ = local_day.isocalendar()
    return f"{year}-W{week:02d}"


def period_label(period: str) -> str:
    """The header's words for a period key: ``Mon 23 Nov 2026``, ``week of 23 Nov 2026``,
    ``November 2026`` (a forced run's suffix is ignored)."""
    key = period.split("+", 1)[0]
    if "-W" in key:
        year, week = key.split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
        return f"week of {monday.day} {monday:%b %Y}"
    if len(key) == 7:
        return f"{date.fromisoformat(key + '-01'):%B %Y}"
    day = date.fromisoformat(key)
    return f"{day:%a} {day.day} {day:%b %Y}"


# --------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Claim:
    """The outcome of trying to claim a run: ours to post (``run``), or whose it is already."""

    run: DigestRun | None
    existing: DigestRun | None = None
    resumed: bool = False

    @property
    def ours(self) -> bool:
        return self.run is not None


def _run(conn: sa.Connection, where) -> DigestRun | None:
    row = conn.execute(sa.select(RUNS).where(where)).mappings().first()
    return DigestRun(**row) if row else None


def get_run(engine: sa.Engine, run_id: int) -> DigestRun | None:
    with engine.connect() as conn:
        return _run(conn, RUNS.c.id == run_id)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


def claim(
    engine: sa.Engine,
    *,
    team_id: str,
    channel: str,
    period: str,
    scope: str,
    max_cards: int,
    holder: str,
    force: bool = False,
    now: datetime | None = None,
) -> Claim:
    """Claim the digest of ``channel`` for ``period``.

    Returns a claim holding the run when it is ours: newly inserted, or an interrupted run whose
    holder stopped renewing its lease (``resumed``). ``force`` claims a fresh run even when the
    period was already posted (its period key gets the time appended).
    """
    now = now or utcnow()
    holder = _unique(holder)
    if force:
        period = f"{period}+{now:%Y%m%dT%H%M%S%f}"
    values = {
        "team_id": team_id,
        "channel": channel,
        "period": period,
        "scope": scope,
        "max_cards": max_cards,
        "forced": force,
        "status": "running",
        "holder": holder,
        "attempts": 1,
        "claimed_at": now,
        "heartbeat_at": now,
        "messages": 0,
        "posted": 0,
    }
    key = (RUNS.c.team_id == team_id) & (RUNS.c.channel == channel) & (RUNS.c.period == period)
    try:
        with engine.begin() as conn:
            conn.execute(RUNS.insert().values(**values))
            return Claim(run=_run(conn, key))
    except sa.exc.IntegrityError:
        pass
    with engine.connect() as conn:
        existing = _run(conn, key)
    if existing is None:  # deleted in between: nothing to take over
        return Claim(run=None)
    return take_over(engine, existing, holder=holder, now=now)


def _unique(holder: str) -> str:
    # Each claim and takeover holds the run under its own name, so two threads of one process
    # (a cron job and the sweep) can never both believe they hold it.
    return f"{holder[:110]}/{uuid.uuid4().hex[:8]}"


def take_over(
    engine: sa.Engine, run: DigestRun, *, holder: str, now: datetime | None = None
) -> Claim:
    """Take an interrupted run over (compare-and-swap on its holder and heartbeat)."""
    now = now or utcnow()
    stale = _aware(run.heartbeat_at) <= now - LEASE
    if run.status != "running" or not stale:
        return Claim(run=None, existing=run)
    if now - _aware(run.claimed_at) > GIVE_UP:
        with engine.begin() as conn:
            conn.execute(
                RUNS.update()
                .where(RUNS.c.id == run.id, RUNS.c.holder == run.holder)
                .values(
                    status="failed",
                    finished_at=now,
                    error=f"gave up after {run.attempts} attempts in {GIVE_UP}: {run.error}"[:2000],
                )
            )
        workflow.release_claims(engine, claim_owner(run))
        return Claim(run=None, existing=get_run(engine, int(run.id)))
    holder = _unique(holder)
    with engine.begin() as conn:
        taken = conn.execute(
            RUNS.update()
            .where(
                RUNS.c.id == run.id,
                RUNS.c.holder == run.holder,
                RUNS.c.heartbeat_at == run.heartbeat_at,
                RUNS.c.status == "running",
            )
            .values(holder=holder, heartbeat_at=now, attempts=RUNS.c.attempts + 1)
        ).rowcount
        if not taken:
            return Claim(run=None, existing=_run(conn, RUNS.c.id == run.id))
        return Claim(run=_run(conn, RUNS.c.id == run.id), resumed=True)


def interrupted(engine: sa.Engine, *, now: datetime | None = None) -> list[DigestRun]:
    """Runs left ``running`` by a holder that stopped renewing its lease (to resume them)."""
    now = now or utcnow()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(RUNS)
            .where(RUNS.c.status == "running", RUNS.c.heartbeat_at <= now - LEASE)
            .order_by(RUNS.c.id)
        ).mappings()
        return [DigestRun(**row) for row in rows]


def claim_owner(run: DigestRun) -> str:
    """How a run signs the chat post claims (deep-dive threads) it makes."""
    return f"digest:{run.id}"


def _held(run: DigestRun) -> sa.ColumnElement[bool]:
    return sa.and_(RUNS.c.id == run.id, RUNS.c.holder == run.holder, RUNS.c.status == "running")


def release(engine: sa.Engine, run: DigestRun, *, error: str) -> None:
    """Give an interrupted run back (a transient failure): the next sweep resumes it."""
    with engine.begin() as conn:
        conn.execute(
            RUNS.update()
            .where(_held(run))
            .values(heartbeat_at=utcnow() - LEASE, error=redact(error)[:2000])
        )


def renew(engine: sa.Engine, run: DigestRun) -> None:
    """Renew the lease before a post.

    Raises:
        LeaseLostError: another holder took the run over meanwhile.
    """
    with engine.begin() as conn:
        if not conn.execute(RUNS.update().where(_held(run)).values(heartbeat_at=utcnow())).rowcount:
            raise LeaseLostError(f"digest run {run.id} was taken over by another holder")


def finish(engine: sa.Engine, run: DigestRun, status: str, *, error: str | None = None) -> None:
    """Mark the run ``posted`` or ``failed`` (with the reason), if it is still ours."""
    with engine.begin() as conn:
        conn.execute(
            RUNS.update()
            .where(_held(run))
            .values(
                status=status,
                finished_at=utcnow(),
                error=redact(error)[:2000] if error else None,
            )
        )


# --------------------------------------------------------------------------- plan


@dataclass
class PlannedMessage:
    """One message to post: its payload (``text``/``blocks``), and the message it replies to.

    ``chart`` (the parent's) is what its pictures show (``charts.ChartData.to_dict()`` under
    ``data``) and how far their upload got (the bot's bookkeeping: uploaded file ids, refused,
    or to be shared in the thread); it is stored with the payload, not sent as part of it.
    """

    kind: str
    payload: dict
    key: str = ""
    thread_seq: int | None = None
    seq: int = 0
    ts: str | None = None
    chart: dict | None = None


_CHART = "_chart"  # where a message's chart is kept in its stored payload


def _stored(message: PlannedMessage) -> str:
    payload = (
        message.payload if message.chart is None else {**message.payload, _CHART: message.chart}
    )
    return json.dumps(payload)


def save_plan(
    engine: sa.Engine,
    run: DigestRun,
    messages: list[PlannedMessage],
    *,
    as_of: date,
    snapshot: pd.DataFrame,
) -> list[PlannedMessage]:
    """Store the run's messages and what it saw, once (a resumed run keeps its first plan)."""
    with engine.begin() as conn:
        have = conn.execute(
            sa.select(sa.func.count()).select_from(MESSAGES).where(MESSAGES.c.run_id == run.id)
        ).scalar_one()
        if not have:
            conn.execute(
                MESSAGES.insert(),
                [
                    {
                        "run_id": run.id,
                        "seq": seq,
                        "kind": m.kind,
                        "key": m.key,
                        "thread_seq": m.thread_seq,
                        "payload": _stored(m),
                    }
                    for seq, m in enumerate(messages)
                ],
            )
            items = snapshot[snapshot["tier"] <= SNAPSHOT_MAX_TIER]
            if len(items):
                cols = ["opportunity_id", "account_id", "account_name", "type_label", "tier"]
                frame = items[[*cols, "score"]].assign(run_id=run.id)
                frame["expansion_arr"] = (
                    pd.to_numeric(items["expansion_arr"], errors="coerce")
                    if "expansion_arr" in items
                    else None
                )
                frame["active"] = items["active"].astype(bool) if "active" in items else True
                frame = frame.astype(object).where(frame.notna(), None)
                frame["account_name"] = frame["account_name"].fillna("").astype(str)
                frame["type_label"] = frame["type_label"].fillna("").astype(str).str[:64]
                conn.execute(ITEMS.insert(), frame.to_dict(orient="records"))
            conn.execute(
                RUNS.update().where(RUNS.c.id == run.id).values(messages=len(messages), as_of=as_of)
            )
    return plan_of(engine, run)


def plan_of(engine: sa.Engine, run: DigestRun) -> list[PlannedMessage]:
    """The stored plan, in order, with the ts of what was already posted."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(MESSAGES).where(MESSAGES.c.run_id == run.id).order_by(MESSAGES.c.seq)
        ).mappings()
        out = []
        for r in rows:
            payload = json.loads(r["payload"])
            chart = payload.pop(_CHART, None)
            out.append(
                PlannedMessage(
                    kind=r["kind"],
                    payload=payload,
                    key=r["key"],
                    thread_seq=r["thread_seq"],
                    seq=r["seq"],
                    ts=r["ts"],
                    chart=chart,
                )
            )
        return out


def record_chart(engine: sa.Engine, run: DigestRun, message: PlannedMessage) -> None:
    """Store how far ``message``'s chart got (uploaded file ids, refused, shared in the thread),
    so a resumed run neither uploads nor shares it a second time."""
    with engine.begin() as conn:
        conn.execute(
            MESSAGES.update()
            .where(MESSAGES.c.run_id == run.id, MESSAGES.c.seq == message.seq)
            .values(payload=_stored(message))
        )


def record_message(
    engine: sa.Engine, run: DigestRun, seq: int, ts: str, *, post: dict | None = None
) -> None:
    """Remember that message ``seq`` was posted as ``ts`` (and, in the same transaction, the ts
    of the chat post claim ``post`` it fulfils), renewing the lease.

    The ts is kept even when the run was taken over meanwhile, so the new holder does not post
    the message again.

    Raises:
        LeaseLostError: another holder took the run over meanwhile (after recording the ts).
    """
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            MESSAGES.update()
            .where(MESSAGES.c.run_id == run.id, MESSAGES.c.seq == seq, MESSAGES.c.ts.is_(None))
            .values(ts=ts, posted_at=now)
        )
        if post is not None:
            workflow.record_post(conn, **post, ts=ts)
        renewed = conn.execute(
            RUNS.update().where(_held(run)).values(heartbeat_at=now, posted=RUNS.c.posted + 1)
        ).rowcount
    if not renewed:
        raise LeaseLostError(f"digest run {run.id} was taken over by another holder")


# --------------------------------------------------------------------------- history


def runs(
    engine: sa.Engine, *, team_id: str | None = None, channel: str | None = None, limit: int = 50
) -> list[DigestRun]:
    """Recent runs, newest first."""
    query = sa.select(RUNS).order_by(RUNS.c.id.desc()).limit(limit)
    if team_id is not None:
        query = query.where(RUNS.c.team_id == team_id)
    if channel is not None:
        query = query.where(RUNS.c.channel == channel)
    with engine.connect() as conn:
        return [DigestRun(**row) for row in conn.execute(query).mappings()]


def last_runs(engine: sa.Engine, *, team_id: str) -> dict[str, DigestRun]:
    """The latest run of each channel of a workspace."""
    latest = (
        sa.select(sa.func.max(RUNS.c.id))
        .where(RUNS.c.team_id == team_id)
        .group_by(RUNS.c.channel)
        .scalar_subquery()
    )
    with engine.connect() as conn:
        rows = conn.execute(sa.select(RUNS).where(RUNS.c.id.in_(latest))).mappings()
        return {r["channel"]: DigestRun(**r) for r in rows}


def has_run(engine: sa.Engine, *, team_id: str, channel: str, period: str) -> bool:
    with engine.connect() as conn:
        return (
            _run(
                conn,
                (RUNS.c.team_id == team_id)
                & (RUNS.c.channel == channel)
                & (RUNS.c.period == period),
            )
            is not None
        )


def previous_run(engine: sa.Engine, run: DigestRun) -> DigestRun | None:
    """The channel's last posted digest of the same scope before ``run`` (any, when ``run`` is
    not stored yet): what a digest says changed is relative to what that channel last saw."""
    query = _posted_like(run, RUNS).limit(1)
    if run.id is not None:
        query = query.where(RUNS.c.id < run.id)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return DigestRun(**row) if row else None


def _posted_like(run: DigestRun, *columns) -> sa.Select:
    """The posted digests of ``run``'s channel and scope, newest first (``columns`` of them)."""
    return (
        sa.select(*columns)
        .where(
            RUNS.c.team_id == run.team_id,
            RUNS.c.channel == run.channel,
            RUNS.c.scope == run.scope,
            RUNS.c.status == "posted",
        )
        .order_by(RUNS.c.id.desc())
    )


def short_label(period: str) -> str:
    """A period key as a chart's axis says it: ``23 Nov`` (a day, or a week's Monday), ``Nov 2026``."""
    key = period.split("+", 1)[0]
    if "-W" in key:
        year, week = key.split("-W")
        day = date.fromisocalendar(int(year), int(week), 1)
    elif len(key) == 7:
        return f"{date.fromisoformat(key + '-01'):%b %Y}"
    else:
        day = date.fromisoformat(key)
    return f"{day.day} {day:%b}"


def tier1_trend(
    engine: sa.Engine, run: DigestRun, current: float, *, points: int = charts.TREND_POINTS
) -> list[charts.Point]:
    """The Tier 1 pipeline of the channel's last ``points`` digests of ``run``'s scope, oldest
    first, ending with ``run`` itself at ``current`` (what it sees now).

    Read from ``digest_items``: the open Tier 1 items' ARR of each earlier posted run. A run
    stored before items kept their ARR is left out (its figure is unknown, not zero).
    """
    query = _posted_like(run, RUNS.c.id, RUNS.c.period).limit(points - 1)
    if run.id is not None:
        query = query.where(RUNS.c.id < run.id)
    with engine.connect() as conn:
        earlier = conn.execute(query).all()
        ids = [r.id for r in earlier]
        totals = {}
        if ids:
            arr = ITEMS.c.expansion_arr
            open_tier1 = (ITEMS.c.tier == 1) & ITEMS.c.active.isnot(False)
            rows = conn.execute(
                sa.select(
                    ITEMS.c.run_id,
                    sa.func.count(arr).label("known"),
                    sa.func.sum(sa.case((open_tier1, arr), else_=0.0)).label("tier1"),
                )
                .where(ITEMS.c.run_id.in_(ids))
                .group_by(ITEMS.c.run_id)
            ).all()
            totals = {r.run_id: (r.known, float(r.tier1 or 0.0)) for r in rows}
    trend = []
    for row in reversed(earlier):
        known, total = totals.get(row.id, (None, 0.0))
        if known == 0:  # items without ARR: stored before the chart existed
            continue
        trend.append(charts.Point(short_label(row.period), total))
    trend.append(charts.Point(short_label(run.period), float(current)))
    return trend


# --------------------------------------------------------------------------- what changed


@dataclass
class Changes:
    """What changed in a channel's scope since its previous digest."""

    since: datetime | None = None
    new_tier1: list[dict] = field(default_factory=list)
    moved_up: list[dict] = field(default_factory=list)
    moved_down: list[dict] = field(default_factory=list)
    assigned: list[dict] = field(default_factory=list)
    won: list[dict] = field(default_factory=list)
    lost: list[dict] = field(default_factory=list)
    snoozed: list[dict] = field(default_factory=list)
    dismissed: list[dict] = field(default_factory=list)

    @property
    def first(self) -> bool:
        """No earlier digest in this channel: there is nothing to compare with."""
        return self.since is None

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.new_tier1,
                self.moved_up,
                self.moved_down,
                self.assigned,
                self.won,
                self.lost,
                self.snoozed,
                self.dismissed,
            )
        )


_OUTCOME_GROUPS = {"won": "won", "lost": "lost", "snoozed": "snoozed", "not_a_fit": "dismissed"}


def what_changed(engine: sa.Engine, previous: DigestRun | None, current: pd.DataFrame) -> Changes:
    """Compare ``current`` (the open opportunities in scope) with what ``previous`` saw, and list
    the assignments and outcomes recorded since, for accounts in scope.

    Tier moves count when either side is Tier 1 or 2 (the digest is about Tier 1; a 4 -> 5 move
    is noise). An opportunity that became Tier 1 is listed once, under new Tier 1, with the tier
    it came from when known. Each list is ordered best first.
    """
    if previous is None:
        return Changes()
    with engine.connect() as conn:
        before = pd.read_sql(
            sa.select(
                ITEMS.c.opportunity_id,
                ITEMS.c.account_id,
                ITEMS.c.tier,
                ITEMS.c.account_name,
                ITEMS.c.type_label,
            ).where(ITEMS.c.run_id == previous.id),
            conn,
        )
        events = pd.read_sql(
            sa.select(EVENTS).where(EVENTS.c.at > previous.claimed_at).order_by(EVENTS.c.id),
            conn,
        )
    changes = Changes(since=_aware(previous.claimed_at))
    cols = ["opportunity_id", "account_id", "account_name", "type_label", "tier", "score"]
    now = current[cols]
    changes.new_tier1, changes.moved_up, changes.moved_down = tier_moves(now, before)
    events = events[
        events["account_id"].isin(set(current["account_id"]) | set(before["account_id"]))
    ]
    if events.empty:
        return changes
    # Names of opportunities that left the open list (won, lost...) come from the last digest.
    names = pd.concat(
        [
            now[["opportunity_id", "account_name", "type_label"]],
            before[["opportunity_id", "account_name", "type_label"]],
        ]
    ).drop_duplicates("opportunity_id")
    names = names.set_index("opportunity_id")
    # The latest event of each kind per opportunity says where it stands now.
    for row in events.drop_duplicates(["opportunity_id", "action"], keep="last").itertuples():
        group = "assigned" if row.action == "assign" else _OUTCOME_GROUPS.get(row.action)
        if group is None:
            continue
        getattr(changes, group).append(
            {
                "opportunity_id": row.opportunity_id,
                "account_id": row.account_id,
                "account_name": names["account_name"].get(row.opportunity_id, row.account_id),
                "type_label": names["type_label"].get(row.opportunity_id, ""),
                "actor": row.actor,
                "assignee": row.assignee,
            }
        )
    return changes


def tier_moves(
    now: pd.DataFrame, before: pd.DataFrame
) -> tuple[list[dict], list[dict], list[dict]]:
    """Tier moves between two looks at the opportunities: ``now`` (``opportunity_id``, ``tier``,
    ``score`` and whatever else each record should carry) and ``before`` (``opportunity_id``,
    ``tier``). Returns (new Tier 1, moved up, moved down), each best first, each record with
    ``was`` (the tier before; ``None`` when it was no opportunity then).

    An opportunity that became Tier 1 is under new Tier 1 only (with the tier it came from when
    known); other moves count when either side is Tier 1 or 2 (a 4 -> 5 move is noise). The
    digest's "what changed" and the new-Tier-1 alerts (:mod:`expansion.alerts`) both use it.
    """
    merged = now.merge(
        before[["opportunity_id", "tier"]].rename(columns={"tier": "was"}),
        on="opportunity_id",
        how="left",
    )
    became_tier1 = (merged["tier"] == 1) & (merged["was"] != 1)
    known = merged["was"].notna() & ((merged["tier"] <= 2) | (merged["was"] <= 2))
    up = known & (merged["tier"] < merged["was"]) & ~became_tier1
    down = known & (merged["tier"] > merged["was"])
    return (
        _records(merged[became_tier1].sort_values("score", ascending=False)),
        _records(merged[up].sort_values(["tier", "score"], ascending=[True, False])),
        _records(merged[down].sort_values(["was", "score"], ascending=[True, False])),
    )


def _records(frame: pd.DataFrame) -> list[dict]:
    out = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    for record in out:
        if record.get("was") is not None:
            record["was"] = int(record["was"])
        record["tier"] = int(record["tier"])
    return out


# --------------------------------------------------------------------------- selection


def tier1(opportunities: pd.DataFrame, max_cards: int) -> pd.DataFrame:
    """The Tier 1 cards of a digest: open Tier 1 opportunities, best first, at most ``max_cards``."""
    opps = opportunities
    if "active" in opps:
        opps = opps[opps["active"]]
    return opps[opps["tier"] == 1].head(max_cards)


def top_accounts(cards: pd.DataFrame, n: int = 5) -> list[str]:
    """The accounts of the first ``n`` distinct accounts among the cards (deep-dive candidates)."""
    return cards["account_id"].drop_duplicates().head(n).tolist()
