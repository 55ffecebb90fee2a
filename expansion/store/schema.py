"""The tables: canonical portfolio tables, sync and score runs, the opportunity workflow,
digests and alerts (SQLModel), and each scoring run's results.

Portfolio tables are derived from :data:`expansion.contract.TABLES`, with two extra columns:
``id`` and ``source`` (which connector wrote the row). The schema itself is owned by the
Alembic migrations in ``expansion/migrations`` (see :mod:`expansion.store.connections`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from ..contract import TABLES

_SA_TYPES = {
    "id": sa.String(255),
    "text": sa.Text(),
    "money": sa.Float(),
    "number": sa.Float(),
    "percent": sa.Float(),
    "count": sa.Integer(),
    "bool": sa.Boolean(),
    "date": sa.Date(),
    "period": sa.Date(),
    "enum": sa.String(32),
}

metadata = SQLModel.metadata


def _portfolio_table(name: str) -> sa.Table:
    table = TABLES[name]
    columns = [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(100), nullable=False, index=True),
    ]
    columns += [sa.Column(c.name, _SA_TYPES[c.kind], nullable=True) for c in table.columns]
    return sa.Table(name, metadata, *columns)


PORTFOLIO_TABLES: dict[str, sa.Table] = {name: _portfolio_table(name) for name in TABLES}


def utcnow() -> datetime:
    return datetime.now(UTC)


class SyncRun(SQLModel, table=True):
    """One sync of one source: what was read, accepted, rejected, and how it ended."""

    __tablename__ = "sync_runs"
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(index=True, max_length=100)
    location: str = ""
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    status: str = Field(default="running", max_length=16)
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    error: str | None = None
    # Source type and merge role (crm / warehouse / files), and the cursor the next pull
    # starts from (the last good one is that of the source's latest succeeded run).
    kind: str = Field(default="files", max_length=32)
    role: str = Field(default="files", max_length=16)
    cursor: str | None = None
    incremental: bool = False


class SyncReject(SQLModel, table=True):
    """A rejected input row, kept with the sync run that saw it."""

    __tablename__ = "sync_rejects"
    id: int | None = Field(default=None, primary_key=True)
    sync_run_id: int = Field(foreign_key="sync_runs.id", index=True)
    table_name: str = Field(max_length=32)
    file: str = ""
    row: int = 0
    column: str = ""
    value: str = ""
    reason: str = ""


class ScoreRun(SQLModel, table=True):
    """One scoring of the stored portfolio at one as-of date with one configuration."""

    __tablename__ = "score_runs"
    id: int | None = Field(default=None, primary_key=True)
    as_of: date = Field(index=True)
    data_version: int = 0
    config_fingerprint: str = Field(default="", max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    status: str = Field(default="running", max_length=16)
    accounts: int = 0
    opportunities: int = 0
    volume_metric: str | None = None


class OpportunityState(SQLModel, table=True):
    """Where one opportunity stands: who owns it and how it ended. Survives re-scoring."""

    __tablename__ = "opportunity_states"
    opportunity_id: str = Field(primary_key=True, max_length=255)
    account_id: str = Field(index=True, max_length=255)
    assignee: str | None = Field(default=None, index=True, max_length=64)
    assigned_by: str | None = Field(default=None, max_length=64)
    assigned_at: datetime | None = None
    outcome: str = Field(default="open", max_length=16)
    outcome_by: str | None = Field(default=None, max_length=64)
    outcome_at: datetime | None = None
    snoozed_until: date | None = None
    # What the engine predicted when the outcome was recorded, to calibrate close probabilities.
    predicted_close_probability: float | None = None
    expansion_arr: float | None = None


class OpportunityEvent(SQLModel, table=True):
    """The audit trail: every assignment and outcome change, never updated or deleted."""

    __tablename__ = "opportunity_events"
    id: int | None = Field(default=None, primary_key=True)
    opportunity_id: str = Field(index=True, max_length=255)
    account_id: str = Field(max_length=255)
    action: str = Field(max_length=16)
    actor: str = Field(max_length=64)
    assignee: str | None = Field(default=None, max_length=64)
    detail: str = ""
    at: datetime = Field(default_factory=utcnow)


class CrmRecord(SQLModel, table=True):
    """The CRM record written for (or matched to) one opportunity: at most one per opportunity.

    The row is inserted (``status = "claimed"``) before the CRM is called, so two clicks, a
    retry and two replicas agree on who writes; ``crm_id`` and ``url`` are filled once the CRM
    answered (``status = "written"``). ``written_amount`` is the amount last written, to tell a
    person's edit in the CRM from the product's own. ``origin`` is ``created`` (written by the
    product) or ``matched`` (a deal the team made by hand, matched by account and type).
    """

    __tablename__ = "crm_records"
    opportunity_id: str = Field(primary_key=True, max_length=255)
    account_id: str = Field(index=True, max_length=255)
    source: str = Field(max_length=100)
    crm: str = Field(max_length=16)
    status: str = Field(default="claimed", max_length=16)
    origin: str = Field(default="created", max_length=16)
    claim: str = Field(default="", max_length=64)
    claimed_at: datetime = Field(default_factory=utcnow)
    crm_id: str | None = Field(default=None, max_length=64)
    url: str | None = None
    opportunity_type: str | None = Field(default=None, max_length=32)
    written_amount: float | None = None
    close_probability: float | None = None
    owner_email: str | None = Field(default=None, max_length=255)
    unowned: bool = False
    stage: str | None = Field(default=None, max_length=100)
    close_date: date | None = None
    error: str | None = None
    error_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class TeamMember(SQLModel, table=True):
    """A person the Assign control may suggest (``users``): filled by admins with
    ``/expansion team add`` or from the CRM's account owners (:mod:`expansion.team`).

    ``capacity`` is the most open assigned opportunities the person should carry; ``active``
    false keeps a removed person out of suggestions (and out of a later import from the CRM).
    """

    __tablename__ = "users"
    email: str = Field(primary_key=True, max_length=255)
    slack_user_id: str | None = Field(default=None, index=True, max_length=64)
    name: str = Field(default="", max_length=255)
    role: str = Field(default="CSM", max_length=16)
    capacity: int = 10
    active: bool = True
    origin: str = Field(default="slack", max_length=16)
    updated_by: str = Field(default="", max_length=64)
    updated_at: datetime = Field(default_factory=utcnow)


class ChatPost(SQLModel, table=True):
    """A message the bot posted, so a second click links to it instead of posting again.

    ``ts`` stays empty while the post is in flight: the row is the claim.
    """

    __tablename__ = "chat_posts"
    __table_args__ = (sa.UniqueConstraint("channel", "thread_ts", "kind", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=64)
    thread_ts: str = Field(max_length=32)
    kind: str = Field(max_length=32)
    key: str = Field(max_length=255)
    ts: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    # Who claimed it: a digest run (``digest:<run id>``) or a click (empty).
    owner: str = Field(default="", max_length=64)


class DigestSubscription(SQLModel, table=True):
    """A channel that gets the Tier 1 digest on a schedule (one subscription per channel)."""

    __tablename__ = "digest_subscriptions"
    __table_args__ = (sa.UniqueConstraint("team_id", "channel"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(default="", max_length=32)
    channel: str = Field(max_length=64)
    cadence: str = Field(max_length=16)
    weekday: int | None = None
    monthday: int | None = None
    at_time: str = Field(max_length=5)
    timezone: str = Field(max_length=64)
    scope: str = ""
    max_cards: int = 25
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class DigestRun(SQLModel, table=True):
    """One digest for one channel and period. The unique row is the claim: it is inserted
    before anything is posted, so a second scheduler or a retried job finds it and posts nothing.

    ``status`` is ``running`` (being posted, or interrupted and waiting to be resumed),
    ``posted`` or ``failed`` (``error`` says why). The holder keeps ``heartbeat_at`` fresh while
    it posts; a run whose heartbeat is older than the lease is taken over and resumed.
    """

    __tablename__ = "digest_runs"
    __table_args__ = (sa.UniqueConstraint("team_id", "channel", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(default="", max_length=32)
    channel: str = Field(max_length=64)
    period: str = Field(max_length=64)
    scope: str = ""
    max_cards: int = 25
    forced: bool = False
    status: str = Field(default="running", max_length=16, index=True)
    holder: str = Field(default="", max_length=128)
    attempts: int = 1
    as_of: date | None = None
    claimed_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    messages: int = 0
    posted: int = 0
    error: str | None = None


class DigestMessage(SQLModel, table=True):
    """One planned message of a digest run; ``ts`` is recorded the moment Slack accepts it.

    The plan is stored before the first post, so a resumed run posts exactly the messages that
    are missing, in order, even if the data was re-scored in between.
    """

    __tablename__ = "digest_messages"
    __table_args__ = (sa.UniqueConstraint("run_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="digest_runs.id", index=True)
    seq: int
    kind: str = Field(max_length=16)
    key: str = Field(default="", max_length=255)
    thread_seq: int | None = None
    payload: str = Field(sa_type=sa.Text)
    ts: str | None = Field(default=None, max_length=32)
    posted_at: datetime | None = None


class DigestItem(SQLModel, table=True):
    """What a digest saw (Tier 1-3 opportunities in its scope), to say what changed next time
    and to chart its Tier 1 pipeline (``expansion_arr`` of the ``active`` ones; both are empty
    for digests stored before they were kept)."""

    __tablename__ = "digest_items"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="digest_runs.id", index=True)
    opportunity_id: str = Field(max_length=255)
    account_id: str = Field(max_length=255)
    account_name: str = ""
    type_label: str = Field(default="", max_length=64)
    tier: int
    score: float
    expansion_arr: float | None = None
    active: bool | None = None


class ChannelSetting(SQLModel, table=True):
    """One channel's settings, per (workspace, channel). ``redact``: money as bands in what the
    bot posts there (``None``: never set, so the default holds: bands in a Slack Connect
    channel, figures elsewhere)."""

    __tablename__ = "channel_settings"
    team_id: str = Field(default="", primary_key=True, max_length=32)
    channel: str = Field(primary_key=True, max_length=64)
    redact: bool | None = None
    updated_by: str = Field(default="", max_length=64)
    updated_at: datetime = Field(default_factory=utcnow)


class ChannelSettingEvent(SQLModel, table=True):
    """The audit trail of channel settings: who changed which setting, when, from what to what
    (``""``: the default). Never updated or deleted."""

    __tablename__ = "channel_setting_events"
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(default="", max_length=32)
    channel: str = Field(index=True, max_length=64)
    setting: str = Field(max_length=32)
    old_value: str = Field(default="", max_length=32)
    new_value: str = Field(default="", max_length=32)
    actor: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow)


class AlertDelivery(SQLModel, table=True):
    """One new-Tier-1 alert for one recipient (a user's DM or a subscribed channel).

    The unique row is the claim: it is inserted before anything is posted, so two schedulers,
    a retried job or a restart alert each (recipient, opportunity, tier change) once.
    ``change`` names the change: the tier it came from (``new`` when it was no opportunity)
    and the scoring run it was compared with (``2>1@41``). ``status`` is ``pending`` (held for
    a daily summary, or to retry after Slack failed), ``claimed`` (being posted by ``holder``),
    ``sent`` (``ts`` of the message), ``failed`` (``error``) or ``expired`` (no longer an open
    Tier 1 when its turn came).
    """

    __tablename__ = "alert_deliveries"
    __table_args__ = (sa.UniqueConstraint("team_id", "recipient", "opportunity_id", "change"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(default="", max_length=32)
    recipient: str = Field(max_length=64)
    kind: str = Field(default="dm", max_length=16)
    opportunity_id: str = Field(max_length=255)
    account_id: str = Field(default="", max_length=255)
    change: str = Field(max_length=64)
    status: str = Field(default="claimed", max_length=16, index=True)
    holder: str = Field(default="", max_length=128)
    claimed_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    ts: str | None = Field(default=None, max_length=32)
    error: str | None = None


class AlertPass(SQLModel, table=True):
    """One look for new Tier 1s (after a sync and re-score): the scoring run it looked at, so
    the next pass compares with it even when other scorings came in between."""

    __tablename__ = "alert_passes"
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(default="", max_length=32)
    score_run_id: int
    at: datetime = Field(default_factory=utcnow)


class AlertPreference(SQLModel, table=True):
    """A user's choice of alerts: ``on``, ``daily`` (one summary a day) or ``off``."""

    __tablename__ = "alert_preferences"
    __table_args__ = (sa.UniqueConstraint("team_id", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(default="", max_length=32)
    user_id: str = Field(max_length=64)
    mode: str = Field(max_length=16)
    updated_at: datetime = Field(default_factory=utcnow)


class AlertSubscription(SQLModel, table=True):
    """A channel that gets the new-Tier-1 alerts of a scope after each sync."""

    __tablename__ = "alert_subscriptions"
    __table_args__ = (sa.UniqueConstraint("team_id", "channel"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(default="", max_length=32)
    channel: str = Field(max_length=64)
    scope: str = ""
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


def _result_table(name: str, *columns: sa.Column) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "score_run_id", sa.Integer, sa.ForeignKey("score_runs.id"), nullable=False, index=True
        ),
        *columns,
    )


def _str(name: str, length: int = 255, **kw) -> sa.Column:
    return sa.Column(name, sa.String(length), **kw)


def _float(name: str) -> sa.Column:
    return sa.Column(name, sa.Float)


OPPORTUNITIES = _result_table(
    "opportunities",
    _str("opportunity_id", index=True),
    _str("account_id", index=True),
    sa.Column("account_name", sa.Text),
    _str("segment", 32),
    _str("type", 32),
    _str("type_label", 64),
    _str("product_id"),
    sa.Column("product_name", sa.Text),
    sa.Column("key", sa.Text),
    sa.Column("department", sa.Text),
    sa.Column("tier", sa.Integer),
    _float("score"),
    _float("raw_score"),
    sa.Column("revenue_score", sa.Integer),
    sa.Column("effort_score", sa.Integer),
    sa.Column("likelihood_score", sa.Integer),
    sa.Column("propensity", sa.Integer),
    _float("close_probability"),
    _float("expansion_arr"),
    _float("expected_value"),
    _str("priority", 16),
    _float("arr"),
    sa.Column("owner", sa.Text),
    _str("status", 16),
    _str("channel", 16),
    _str("category", 32),
    sa.Column("categories", sa.Text),
    sa.Column("triggers", sa.Text),
    _float("quantity"),
    sa.Column("pricing", sa.Text),
    _str("confidence", 16),
    sa.Column("description", sa.Text),
    sa.Column("current_state", sa.Text),
    sa.Column("proposed_state", sa.Text),
    sa.Column("suggested_action", sa.Text),
    sa.Column("timing", sa.Text),
    _str("timing_bucket", 32),
    sa.Column("best_time", sa.Date),
    _str("urgency", 16),
    sa.Column("renewal_aligned", sa.Boolean),
    sa.Column("deadline", sa.Date),
    sa.Column("revenue_factors", sa.Text),
    sa.Column("effort_factors", sa.Text),
    sa.Column("likelihood_factors", sa.Text),
    sa.Column("explanation", sa.Text),
    sa.Column("tier1_path", sa.Text),
    _str("sales_motion", 32),
    _float("hours"),
    _str("price_basis", 16),
    _float("stated_budget"),
    sa.Column("caveat", sa.Text),
    sa.Column("options", sa.Text),
    sa.Column("account_propensity", sa.Integer),
)
EVIDENCE = _result_table(
    "opportunity_evidence",
    _str("opportunity_id", index=True),
    sa.Column("seq", sa.Integer),
    sa.Column("evidence", sa.Text),
)
PROFILES = _result_table(
    "account_profiles",
    _str("account_id", index=True),
    sa.Column("name", sa.Text),
    _str("segment", 32),
    _float("arr"),
    sa.Column("owner", sa.Text),
    _str("status", 16),
    _str("channel", 16),
    sa.Column("plan", sa.Text),
    sa.Column("renewal_date", sa.Date),
    _float("seat_utilization"),
    _float("health_score"),
    sa.Column("propensity", sa.Integer),
    _str("readiness", 32),
    _str("health_label", 32),
    sa.Column("opportunities", sa.Integer),
    _float("expansion_potential"),
    sa.Column("profile", sa.Text),
)
FINDINGS = _result_table(
    "findings",
    _str("list_name", 32, index=True),
    _str("account_id", index=True),
    sa.Column("account_name", sa.Text),
    sa.Column("payload", sa.Text),
)
BENCHMARKS = _result_table(
    "benchmarks",
    _str("segment", 32),
    _str("dimension", 64),
    _float("average"),
    _float("top_quartile"),
    sa.Column("peers", sa.Integer),
)
#: Each scoring run's result frames as Parquet, as the engine made them: what find reads (in
#: a fraction of a second where the rows above take seconds to read and decode at 100k
#: accounts). The row tables above hold only runs whose frames Parquet could not hold, and
#: runs scored before this table existed (see save_analysis). For SQL or BI, export a scope:
#: ``expansion find "" --format csv`` (or json).
SCORE_FRAMES = _result_table(
    "score_frames",
    _str("name", 64),
    sa.Column("data", sa.LargeBinary),
)
RESULT_TABLES = (OPPORTUNITIES, EVIDENCE, PROFILES, FINDINGS, BENCHMARKS, SCORE_FRAMES)

#: The merged portfolio of the current data version as Parquet, one row per table: what
#: scoring reads (see load_tables). Derived from the portfolio tables; safe to delete.
PORTFOLIO_FRAMES = sa.Table(
    "portfolio_frames",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("data_version", sa.Integer, nullable=False, index=True),
    _str("name", 64),
    sa.Column("data", sa.LargeBinary),
)
PROFILE_COLUMNS = [
    c.name for c in PROFILES.columns if c.name not in ("id", "score_run_id", "profile")
]
FINDING_LISTS = (
    "activation",
    "conversion_candidates",
    "stabilize_first",
    "data_gaps",
    "product_gaps",
)
