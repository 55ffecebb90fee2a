"""The database: canonical portfolio tables, sync and score runs, and scored results.

SQLite by default, any SQLAlchemy URL (PostgreSQL for several replicas). The schema is owned
by Alembic migrations in ``expansion/migrations``; :func:`connect` brings a database up to date.

Portfolio tables are derived from :data:`expansion.contract.TABLES`, with two extra columns:
``id`` and ``source`` (which connector wrote the row). A sync replaces one source's rows in a
single transaction, so a failed sync leaves the previous data untouched.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from .contract import TABLES
from .errors import ConfigError, NoDataError, ResultsNotStorable, StorageError
from .frames import python_objects, sorted_by
from .redact import redact

DEFAULT_DB_URL = "sqlite:///expansion.db"

log = logging.getLogger(__name__)

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


def upsert(
    conn: sa.Connection, table: sa.Table, key: dict, values: dict, *, on_insert: dict | None = None
) -> None:
    """Update the row matching ``key`` with ``values``, or insert it (plus ``on_insert``)."""
    where = sa.and_(*(table.c[name] == value for name, value in key.items()))
    if conn.execute(sa.select(sa.literal(1)).select_from(table).where(where)).first():
        conn.execute(table.update().where(where).values(**values))
    else:
        conn.execute(table.insert().values(**{**(on_insert or {}), **key, **values}))


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
KEEP_SCORE_RUNS = 3
INSERT_BATCH = 100_000  # rows converted and sent per driver call
# Values bound per multi-row INSERT on SQLite (its limit is 32,766; a few hundred is fastest).
SQLITE_PARAMETERS_PER_STATEMENT = 320
# A SQLite table getting at least this many rows (and most of its rows) in one sync has its
# indexes dropped for the insert and rebuilt after: one sort instead of a B-tree update per row.
BULK_REINDEX_ROWS = 50_000


# --------------------------------------------------------------------------- engine


def database_url(url: str | None = None) -> str:
    """``url``, else ``$EXPANSION_DB_URL``, else ``sqlite:///expansion.db``."""
    return url or os.environ.get("EXPANSION_DB_URL") or DEFAULT_DB_URL


_TEAM_ID = re.compile(r"[A-Za-z0-9]{1,32}")


def team_partition(url: str, team_id: str) -> tuple[str, str | None]:
    """Where one Slack workspace's data lives when a database serves several: ``(url, schema)``.

    SQLite: a file beside the main one (``expansion.db`` -> ``expansion.t0123abcd.db``).
    PostgreSQL: the schema ``team_<id>`` (``<schema>_team_<id>`` when the URL already pins a
    schema) in the same database.

    Raises:
        ConfigError: the team id is not a Slack workspace id, or the database is in memory.
    """
    if not _TEAM_ID.fullmatch(team_id or ""):
        raise ConfigError(
            f"A workspace must be a Slack team id such as T0123ABCD, got {team_id!r}."
        )
    parsed = sa.engine.make_url(url)
    team = team_id.lower()
    if parsed.get_backend_name() == "sqlite":
        if (
            not parsed.database
            or parsed.database == ":memory:"
            or parsed.database.startswith("file:")
        ):
            raise ConfigError(
                "An in-memory SQLite database cannot hold several workspaces: use a file or "
                "PostgreSQL in EXPANSION_DB_URL."
            )
        path = Path(parsed.database)
        return parsed.set(
            database=str(path.with_name(f"{path.stem}.{team}{path.suffix}"))
        ).render_as_string(hide_password=False), None
    options = parsed.query.get("options", "")
    pinned = re.search(r"search_path=([A-Za-z0-9_]+)", str(options))
    return url, f"{pinned.group(1)}_team_{team}" if pinned else f"team_{team}"


def connect(
    url: str | None = None,
    *,
    upgrade: bool = True,
    schema: str | None = None,
    team: str | None = None,
) -> sa.Engine:
    """An engine for ``url`` with the schema migrated to the latest revision.

    ``schema`` (PostgreSQL) puts every table in that schema via the search path. ``team``
    (default ``$EXPANSION_TEAM``; ``""`` for the main database) connects to that Slack
    workspace's partition instead (see :func:`team_partition`), creating it on first use.
    """
    url = database_url(url)
    team = os.environ.get("EXPANSION_TEAM", "").strip() if team is None else team
    if team:
        url, schema = team_partition(url, team)
        if schema:
            admin = sa.create_engine(url)
            with admin.begin() as conn:
                # Two commands of a new workspace at once: the second waits for the first's
                # schema (and migrations) instead of failing on its CREATE SCHEMA.
                _migration_lock(conn, schema)
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            admin.dispose()
    kwargs: dict = {}
    if schema:
        kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    engine = sa.create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    if upgrade:
        upgrade_database(engine)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def upgrade_database(engine: sa.Engine, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision``.

    Several processes may start on a new (or older) database at once: the first to need a
    migration takes a lock (a file lock next to a SQLite file, an advisory lock on
    PostgreSQL) and the others wait for it, then find the database up to date. A database
    already at the latest revision is only read.
    """
    if revision == "head" and _at_head(engine):
        return  # the usual case, said without importing Alembic (0.1-0.3 s of every command)
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    if revision == "head":
        heads = set(ScriptDirectory.from_config(config).get_heads())
        with engine.connect() as connection:
            if set(MigrationContext.configure(connection).get_current_heads()) == heads:
                return
    with _sqlite_migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            _migration_lock(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


_REVISION_LINE = re.compile(r"""^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$""", re.M)


def _script_heads() -> set[str] | None:
    """The head revisions of expansion/migrations, read from the scripts' ``revision`` and
    ``down_revision`` lines; ``None`` when a script says more than a plain string or None
    there (a merge, a branch): then Alembic itself is asked."""
    revisions, parents = set(), set()
    for script in (Path(__file__).parent / "migrations" / "versions").glob("*.py"):
        found = dict(m.groups() for m in _REVISION_LINE.finditer(script.read_text("utf-8")))
        quoted = re.compile(r"""^["']([\w-]+)["']$""")
        revision = quoted.match(found.get("revision", ""))
        parent = found.get("down_revision", "")
        if revision is None or not (parent == "None" or quoted.match(parent)):
            return None
        revisions.add(revision.group(1))
        if parent != "None":
            parents.add(quoted.match(parent).group(1))
    return (revisions - parents) or None


def _at_head(engine: sa.Engine) -> bool:
    """The database is at the latest migration (its ``alembic_version`` holds the heads)."""
    heads = _script_heads()
    if heads is None:
        return False
    try:
        with engine.connect() as connection:
            current = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            return set(current.scalars()) == heads
    except sa.exc.DBAPIError:  # no such table yet: a new database
        return False


_MIGRATION_WAIT = (
    "Waiting for another process to finish upgrading the database %s (it started first)."
)


@contextmanager
def _sqlite_migration_lock(engine: sa.Engine) -> Iterator[None]:
    """An exclusive ``flock`` on ``<database>.migrations.lock`` while migrating a SQLite file
    (nothing for other databases, an in-memory one, or where locks or the file cannot be had:
    a read-only folder holds a database nobody migrates)."""
    url = engine.url
    database = url.database or ""
    on_disk = database not in ("", ":memory:") and not database.startswith("file:")
    if url.get_backend_name() != "sqlite" or not on_disk:
        yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: no flock
        yield
        return
    path = Path(database).expanduser()
    try:
        handle = open(path.with_name(path.name + ".migrations.lock"), "a+")  # noqa: SIM115
    except OSError:
        yield
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning(_MIGRATION_WAIT, path)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _migration_lock(conn: sa.Connection, schema: str | None = None) -> None:
    """PostgreSQL: hold the migration lock of this database and ``schema`` (default: the
    current one) until ``conn``'s transaction ends, waiting for another holder."""
    name = conn.execute(
        sa.text("SELECT current_database() || '.' || coalesce(:schema, current_schema())"),
        {"schema": schema},
    ).scalar_one()
    key = zlib.crc32(f"expansion-migrations:{name}".encode())
    if not conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}).scalar():
        log.warning(_MIGRATION_WAIT, name)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


# --------------------------------------------------------------------------- sync


def replace_source(
    engine: sa.Engine,
    source: str,
    tables: Mapping[str, pd.DataFrame] | Iterable[tuple[str, pd.DataFrame]],
    *,
    run: SyncRun,
    rejects: pd.DataFrame | Callable[[], pd.DataFrame],
    progress: Callable[[str, int], None] | None = None,
) -> SyncRun:
    """Replace every portfolio row of ``source`` with ``tables`` in one transaction.

    ``tables`` is either whole frames by table name or ``(table, rows)`` chunks in
    :data:`PORTFOLIO_TABLES` order, written as they come (a sync validates a large book a
    chunk at a time, so it never holds it: see :class:`expansion.ingest.Validation`); a
    chunk's producer may raise, and nothing is committed then. ``rejects`` may be a function
    called once every chunk is written, still inside the transaction: it returns the rejects
    to keep, or raises to commit nothing (a sync refusing to empty a table, ``--strict``).

    Tables absent from ``tables`` are emptied for this source: a source is a whole snapshot.

    Raises:
        StorageError: the database or its driver refused the write (a full disk...); nothing
            was committed.

    Syncs of different sources at once take turns on SQLite: the transaction takes the
    database's write lock before it reads anything (``BEGIN IMMEDIATE``), so what it finds
    (whether another source has rows in a table) still holds when it deletes.
    """
    chunks = tables.items() if isinstance(tables, Mapping) else tables
    with _write_errors(engine, "writing to the database failed"), engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        if conn.dialect.name == "postgresql":
            # Two syncs of one source at once (a replica's /expansion sync and the nightly job)
            # take turns, so the second deletes what the first inserted instead of doubling it.
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                {"key": f"expansion-sync:{source}"},
            )
        kept = {
            name: _delete_source_rows(conn, table, source)
            for name, table in PORTFOLIO_TABLES.items()
        }
        with ExitStack() as reindex:
            current = None
            for name, frame in chunks:
                if frame is None or frame.empty:
                    continue
                table = PORTFOLIO_TABLES[name]
                if name != current:  # a table's first rows: its indexes, bulk or not
                    reindex.close()
                    reindex.enter_context(
                        _indexes_rebuilt_after(conn, table, bulk=_is_bulk(len(frame), kept[name]))
                    )
                    current = name
                _insert_frame(conn, table, frame.assign(source=source))
                if progress:
                    progress(name, len(frame))
        keep = rejects() if callable(rejects) else rejects
        run.finished_at = utcnow()
        run.status = "succeeded"
        run_id = _insert_run(conn, run)
        if len(keep):
            _insert_frame(conn, SyncReject.__table__, _storable_rejects(keep, run_id))
    run.id = run_id
    return run


def _delete_source_rows(conn: sa.Connection, table: sa.Table, source: str) -> int | None:
    """Delete ``source``'s rows of ``table``; on SQLite, the number of other sources' rows kept.

    When no other source has rows in the table (one source, the usual case) SQLite empties it
    with an unqualified DELETE, which it does without visiting each row. That is only safe
    because the caller's transaction holds the write lock since before the check (see
    :func:`replace_source`): no other sync can commit rows in between.
    """
    if conn.dialect.name != "sqlite":
        conn.execute(table.delete().where(table.c.source == source))
        return None
    others = (table.c.source < source) | (table.c.source > source)  # index ranges, not a scan
    if conn.execute(sa.select(table.c.source).where(others).limit(1)).first() is None:
        conn.execute(table.delete())
        return 0
    conn.execute(table.delete().where(table.c.source == source))
    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _is_bulk(rows: int, kept: int | None) -> bool:
    return kept is not None and rows >= BULK_REINDEX_ROWS and rows >= kept


@contextmanager
def _indexes_rebuilt_after(conn: sa.Connection, table: sa.Table, *, bulk: bool) -> Iterator[None]:
    """Within the caller's transaction: drop ``table``'s indexes, run the block, rebuild them.

    For bulk loads on SQLite only, where the sync holds the database's one write lock anyway
    and readers keep seeing the previous data (and its indexes) until the commit; a failure
    rolls the drop back with everything else.
    """
    indexes = list(table.indexes) if bulk else []
    for index in indexes:
        index.drop(conn)
    yield
    for index in indexes:
        index.create(conn)


def record_failed_sync(
    engine: sa.Engine, run: SyncRun, error: str, rejects: pd.DataFrame | None = None
) -> SyncRun:
    """Record a sync that stopped before writing anything.

    Raises:
        StorageError: the database refused this write too.
    """
    run.finished_at = utcnow()
    run.status = "failed"
    run.error = redact(error)
    with _write_errors(engine, "recording the failed sync failed"), engine.begin() as conn:
        run.id = _insert_run(conn, run)
        if rejects is not None and len(rejects):
            _insert_frame(conn, SyncReject.__table__, _storable_rejects(rejects, run.id))
    return run


@contextmanager
def _write_errors(engine: sa.Engine, what: str) -> Iterator[None]:
    """Turn the database's and its driver's errors (the bulk paths talk to the driver
    directly: COPY, executemany) into :class:`StorageError` with a one-line cause."""
    dbapi = getattr(engine.dialect, "loaded_dbapi", None)
    driver = (dbapi.Error,) if dbapi is not None else ()
    try:
        yield
    except (sa.exc.DBAPIError, *driver) as exc:
        raise StorageError(f"{what}: {one_line_cause(exc)}") from exc


def one_line_cause(exc: BaseException) -> str:
    """A database error as one line: the driver's first line of message and its type, without
    the SQL statement, parameters or COPY context SQLAlchemy and drivers append (they may
    quote customer data)."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    lines = str(orig).strip().splitlines()
    text = (lines[0].strip() if lines else "") or "no message"
    kind = type(orig)
    return f"{text[:300]} ({kind.__module__.split('.')[0]}.{kind.__name__})"


def _nul_free(value):
    """Text with NUL bytes spelled out (PostgreSQL cannot store them; a reject's value or an
    error message may quote one)."""
    return value.replace("\x00", "\\x00") if isinstance(value, str) else value


def _storable_rejects(rejects: pd.DataFrame, run_id) -> pd.DataFrame:
    out = rejects.rename(columns={"table": "table_name"}).assign(sync_run_id=run_id)
    for column in ("table_name", "file", "column", "value", "reason"):
        if column in out:
            out[column] = out[column].map(_nul_free)
    return out


def _insert_run(conn: sa.Connection, run: SyncRun) -> int:
    values = {k: _nul_free(v) for k, v in run.model_dump(exclude={"id"}).items()}
    return conn.execute(sa.insert(SyncRun.__table__).values(**values)).inserted_primary_key[0]


def _column_values(column: sa.Column, values: pd.Series, *, dates_as_text: bool) -> np.ndarray:
    """One column as the Python values a driver binds as they are (``None`` where missing),
    converted a whole column at a time."""
    if isinstance(column.type, sa.Date):
        days = pd.to_datetime(values).to_numpy(dtype="datetime64[D]")
        if not dates_as_text:
            return days.astype(object)  # datetime.date, NaT -> None
        # SQLAlchemy's own SQLite date format, not the driver's deprecated adapter.
        out = np.datetime_as_string(days).astype(object)
        out[np.isnat(days)] = None
        return out
    if isinstance(column.type, sa.Integer):
        number = pd.to_numeric(values).round().astype("Int64")
        return number.to_numpy(dtype=object, na_value=None)
    if isinstance(column.type, sa.Boolean):
        return values.astype("boolean").to_numpy(dtype=object, na_value=None)
    if isinstance(column.type, sa.Float):
        number = pd.to_numeric(values).to_numpy(dtype=float)
        out = number.astype(object)
        out[np.isnan(number)] = None
        return out
    return python_objects(values, text=not isinstance(column.type, sa.LargeBinary))


def _insert_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Bulk-insert ``frame``'s columns of ``table`` inside the caller's transaction: COPY on
    PostgreSQL (psycopg), multi-row INSERTs through the driver's executemany on SQLite.

    Rows are converted to Python values 100k at a time, so a table of 30M usage rows never
    exists as Python objects all at once (that alone took gigabytes at 1M accounts).
    """
    columns = [c for c in table.columns if c.name in frame.columns and c.name != "id"]
    if frame.empty or not columns:
        return
    sqlite = conn.dialect.name == "sqlite"
    names = [c.name for c in columns]

    def batches() -> Iterator[list[tuple]]:
        for start in range(0, len(frame), INSERT_BATCH):
            part = frame.iloc[start : start + INSERT_BATCH]
            values = [_column_values(c, part[c.name], dates_as_text=sqlite) for c in columns]
            yield list(zip(*(v.tolist() for v in values), strict=True))

    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        from psycopg import sql

        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, names))
        )
        cursor = conn.connection.driver_connection.cursor()
        with cursor, cursor.copy(statement) as copy:
            for rows in batches():
                for row in rows:
                    copy.write_row(row)
        return
    if sqlite:
        _sqlite_insert(conn, table, columns, frame)
        return
    for rows in batches():
        conn.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in rows])


def _sqlite_insert(
    conn: sa.Connection, table: sa.Table, columns: list[sa.Column], frame: pd.DataFrame
) -> None:
    """Rows to SQLite through the driver's executemany, many rows per statement.

    ``INSERT ... VALUES (?, ...), (?, ...), ...`` with SQLITE_ROWS_PER_STATEMENT rows binds the
    same values as one row per statement but steps the statement that many times less (the
    usage table of 100k accounts, 3M rows: 10.6 s -> 6.2 s). The last rows of each batch that
    do not fill a statement go one per statement.
    """
    names = [c.name for c in columns]
    single = str(table.insert().compile(dialect=conn.dialect, column_keys=names))
    group = "(" + ", ".join(["?"] * len(names)) + ")"
    assert single.endswith(group), single
    per = max(1, SQLITE_PARAMETERS_PER_STATEMENT // len(names))
    multi = single + f", {group}" * (per - 1)
    cursor = conn.connection.driver_connection.cursor()
    try:
        for start in range(0, len(frame), INSERT_BATCH):
            part = frame.iloc[start : start + INSERT_BATCH]
            values = [_column_values(c, part[c.name], dates_as_text=True) for c in columns]
            cells = np.column_stack(values) if len(values) > 1 else values[0][:, None]
            full = len(part) // per * per
            if full:
                cursor.executemany(multi, cells[:full].reshape(-1, per * len(names)).tolist())
            if full < len(part):
                cursor.executemany(single, cells[full:].tolist())
    finally:
        cursor.close()


def data_version(engine: sa.Engine) -> int:
    """Id of the latest successful sync: results scored before it are stale."""
    with engine.connect() as conn:
        value = conn.execute(
            sa.select(sa.func.max(SyncRun.__table__.c.id)).where(
                SyncRun.__table__.c.status == "succeeded"
            )
        ).scalar()
    return int(value or 0)


def sync_runs(engine: sa.Engine, limit: int = 20) -> pd.DataFrame:
    """The most recent sync runs, newest first."""
    t = SyncRun.__table__
    with engine.connect() as conn:
        return pd.read_sql(sa.select(t).order_by(t.c.id.desc()).limit(limit), conn)


def latest_syncs(engine: sa.Engine, names: list[str]) -> list[tuple[str, pd.Series | None]]:
    """Each of ``names`` (the configured sources), then every other source that ever synced,
    with its latest sync run (``None``: never synced)."""
    runs = sync_runs(engine, limit=500)
    configured = set(names)
    names = list(names) + [s for s in runs["source"].drop_duplicates() if s not in configured]
    latest = runs.drop_duplicates("source").set_index("source")
    return [(name, latest.loc[name] if name in latest.index else None) for name in names]


def last_sync(engine: sa.Engine, source: str) -> SyncRun | None:
    """The latest succeeded sync of ``source`` (its cursor is where the next pull starts)."""
    t = SyncRun.__table__
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(t)
                .where(t.c.source == source, t.c.status == "succeeded")
                .order_by(t.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return SyncRun(**row) if row else None


def source_roles(engine: sa.Engine) -> dict[str, str]:
    """The merge role of every source that holds rows, from its latest succeeded sync."""
    t = SyncRun.__table__
    latest = (
        sa.select(sa.func.max(t.c.id)).where(t.c.status == "succeeded").group_by(t.c.source)
    ).scalar_subquery()
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.source, t.c.role).where(t.c.id.in_(latest)))
        return {source: role for source, role in rows}


def account_ids(engine: sa.Engine, *, exclude_source: str | None = None) -> set[str]:
    """Every account id the sources hold (all but ``exclude_source``)."""
    table = PORTFOLIO_TABLES["accounts"]
    query = sa.select(table.c.account_id).distinct()
    if exclude_source is not None:
        query = query.where(table.c.source != exclude_source)
    with engine.connect() as conn:
        return {a for (a,) in conn.execute(query) if a}


def row_counts(engine: sa.Engine, source: str) -> dict[str, int]:
    """Rows ``source`` holds per table."""
    with engine.connect() as conn:
        return {
            name: int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(table.c.source == source)
                ).scalar_one()
            )
            for name, table in PORTFOLIO_TABLES.items()
        }


def read_frame(conn: sa.Connection, query: sa.Select) -> pd.DataFrame:
    """A query's rows as a DataFrame, in ``conn``'s transaction where it has one.

    Bulk reads skip SQLAlchemy's per-value result processing, several times faster than
    ``pd.read_sql`` on large tables: on SQLite the driver's own rows are turned into columns
    (measured: 3M usage rows in 6 s instead of 11 s), on PostgreSQL ADBC streams the result
    as Arrow (COPY BINARY). Other databases, or a result ADBC cannot type, take read_sql.
    """
    backend = conn.engine.url.get_backend_name()
    frame = None
    if backend == "sqlite":
        frame = _sqlite_read(conn, query)
    elif backend == "postgresql":
        frame = _adbc_read(conn, query)
    if frame is None:
        return pd.read_sql(query, conn)
    for column in query.selected_columns:
        if column.name not in frame:
            continue
        values = frame[column.name]
        if isinstance(column.type, sa.Date):
            frame[column.name] = pd.to_datetime(values, errors="coerce").dt.date
        elif isinstance(column.type, sa.Boolean):
            frame[column.name] = values.astype("boolean")
    return frame


def _literal_sql(conn: sa.Connection, query: sa.Select) -> str:
    return str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def _sqlite_read(conn: sa.Connection, query: sa.Select) -> pd.DataFrame:
    # The same driver connection (and transaction) SQLAlchemy holds: a second SQLite library
    # in the process (ADBC's) would not see this connection's WAL and can break its locks.
    cursor = conn.connection.driver_connection.execute(_literal_sql(conn, query))
    names = [d[0] for d in cursor.description]
    return pd.DataFrame.from_records(cursor.fetchall(), columns=names, coerce_float=True)


def _adbc_read(conn: sa.Connection, query: sa.Select) -> pd.DataFrame | None:
    try:
        import adbc_driver_postgresql.dbapi as adbc
    except ImportError:
        return None
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
    url = conn.engine.url.set(drivername="postgresql")
    try:
        connection = adbc.connect(url.render_as_string(hide_password=False))
        with connection, connection.cursor() as cursor:
            if schema:
                cursor.execute(f'SET search_path TO "{schema}"')
            cursor.execute(_literal_sql(conn, query))
            return cursor.fetch_arrow_table().to_pandas()
    except Exception:  # a type ADBC cannot map, an old server...: read_sql is always right
        return None


def load_source(engine: sa.Engine, source: str) -> dict[str, pd.DataFrame]:
    """One source's stored rows per table (to merge an incremental pull into)."""
    out = {}
    with engine.connect() as conn:
        for name, table in PORTFOLIO_TABLES.items():
            columns = [c for c in table.columns if c.name not in ("id", "source")]
            out[name] = read_frame(
                conn, sa.select(*columns).where(table.c.source == source).order_by(table.c.id)
            )
    return out


def load_tables(engine: sa.Engine) -> dict[str, pd.DataFrame]:
    """Every portfolio table, all sources merged (see :mod:`expansion.merge`), as canonical frames.

    Raises:
        NoDataError: no source has synced any account yet.
    """
    version = data_version(engine)
    stored = _portfolio_documents(engine, version)
    if stored is not None:
        return Snapshot(stored).tables()
    tables = merged_tables(engine, conflicts=False)[0]
    save_portfolio_frames(engine, version, tables)
    return tables


def conflicts(engine: sa.Engine) -> pd.DataFrame:
    """Where sources disagree (see :mod:`expansion.merge`); nothing is read for one source."""
    if len(source_roles(engine)) < 2:
        return pd.DataFrame()
    return merged_tables(engine)[1]


def merged_tables(
    engine: sa.Engine, *, conflicts: bool = True
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """All sources merged by the merge rule, and the conflicts between them."""
    frames = {}
    with engine.connect() as conn:
        for name, table in PORTFOLIO_TABLES.items():
            columns = [c for c in table.columns if c.name != "id"]
            frames[name] = read_frame(conn, sa.select(*columns).order_by(table.c.id))
    return merge_frames(frames, source_roles(engine), conflicts=conflicts)


def merge_frames(
    frames: dict[str, pd.DataFrame], roles: dict[str, str], *, conflicts: bool = True
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Sources' rows (``source`` column says whose) merged into the portfolio the engine scores.

    Raises:
        NoDataError: no accounts.
    """
    from .ingest import derive_account_defaults
    from .merge import KEYS, merge

    if frames["accounts"].empty:
        raise NoDataError(
            "The database holds no accounts yet. Run `expansion sync --source DIR` (or `expansion demo`)."
        )
    tables, found = merge(frames, roles, conflicts=conflicts)
    accounts = tables["accounts"]
    # An account only a warehouse knows (no name or ARR from any source) is not a customer
    # record: it is left out, with the rows hanging off it.
    known = accounts["name"].notna() & accounts["arr"].notna()
    if not known.all():
        keep = set(accounts.loc[known, "account_id"])
        for name, frame in tables.items():
            if "account_id" in frame and name != "catalog":
                tables[name] = frame[frame["account_id"].isin(keep)].reset_index(drop=True)
    tables["accounts"] = derive_account_defaults(tables["accounts"])
    # Rows in key order, whatever order sources and incremental syncs stored them in, so the
    # same data always reads (and explains itself) the same way.
    for name, keys in KEYS.items():
        tables[name] = sorted_by(tables[name], keys).reset_index(drop=True)
    return tables, found


def save_portfolio_frames(engine: sa.Engine, version: int, tables: dict[str, pd.DataFrame]) -> None:
    """Keep the merged portfolio of data version ``version`` as Parquet, so scoring reads it
    in a fraction of a second instead of reading and merging every row (a re-score at another
    date or configuration, the nightly job, a digest after a restart). Older versions go.
    A table Parquet cannot hold leaves no snapshot: scoring then reads the rows."""
    save_portfolio_documents(engine, version, portfolio_documents(tables))


def portfolio_documents(tables: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """The merged portfolio's tables as Parquet documents (``name``/``data`` rows), or ``None``
    when a table Parquet cannot hold (see :func:`_to_parquet`)."""
    return _to_parquet({name: tables[name] for name in PORTFOLIO_TABLES})


def save_portfolio_documents(
    engine: sa.Engine, version: int, documents: pd.DataFrame | None
) -> None:
    """Keep :func:`portfolio_documents` as data version ``version``'s snapshot (``None``: none)."""
    if documents is None:
        return
    with _write_errors(engine, "keeping the scoring snapshot failed"), engine.begin() as conn:
        conn.execute(PORTFOLIO_FRAMES.delete())
        _insert_frame(conn, PORTFOLIO_FRAMES, documents.assign(data_version=version))


def _to_parquet(frames: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """``name``/``data`` rows, one Parquet document per frame; ``None`` when a frame cannot be
    held by Parquet (a column mixing numbers and text): the caller then keeps no copy."""
    documents = _parquet_documents(frames)
    if any(d is None for d in documents.values()):
        return None
    return pd.DataFrame({"name": list(documents), "data": list(documents.values())})


def _parquet_documents(frames: dict[str, pd.DataFrame]) -> dict[str, bytes | None]:
    """Each frame as one Parquet document (:func:`_parquet_bytes`), by name.

    The frames are encoded side by side in threads (Arrow encodes without the interpreter
    lock), which is faster than one after the other on two cores."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(len(frames), os.cpu_count() or 1, 4) or 1) as pool:
        return dict(zip(frames, pool.map(_parquet_bytes, frames.values()), strict=True))


def _parquet_bytes(frame: pd.DataFrame) -> bytes | None:
    """``frame`` as one Parquet document; ``None`` when Parquet cannot hold it."""
    buffer = io.BytesIO()
    try:
        frame.reset_index(drop=True).to_parquet(buffer, index=False)
    except (ValueError, TypeError, pa.ArrowException):
        return None
    return buffer.getvalue()


def _read_parquet(data: bytes, rows: Callable[[pa.Table], pa.Array] | None = None) -> pd.DataFrame:
    """One Parquet document as a frame whose text columns hold Python ``str`` objects (``None``
    where missing); only the rows where ``rows(table)`` is true, when given (filtered in Arrow,
    before any row becomes a pandas or Python value).

    Text is read as Parquet's dictionary pages (each distinct value once, plus an integer per
    row) and each distinct value becomes a Python string once: about twice as fast as Arrow
    strings converted afterwards (what ``find`` wants: see :func:`_python_strings`).
    """
    import pyarrow.parquet as pq

    table = pq.read_table(
        pa.BufferReader(data),
        read_dictionary=[
            f.name
            for f in pq.read_schema(pa.BufferReader(data))
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        ],
    )
    if rows is not None:
        table = table.filter(rows(table))
    text = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
    frame = table.drop_columns(text).to_pandas()  # pandas' own dtypes (Int64, boolean...) kept
    for name in text:
        frame[name] = pd.Series(_dictionary_objects(table[name]), index=frame.index, dtype=object)
    return frame[table.column_names]


def _dictionary_objects(column: pa.ChunkedArray) -> np.ndarray:
    """A dictionary-encoded text column as Python strings, each distinct value made once."""
    parts = [np.empty(0, dtype=object)]
    for chunk in column.chunks:
        vocabulary = np.empty(len(chunk.dictionary) + 1, dtype=object)
        vocabulary[:-1] = chunk.dictionary.to_numpy(zero_copy_only=False)
        vocabulary[-1] = None  # index -1: missing
        parts.append(vocabulary.take(chunk.indices.fill_null(-1).to_numpy()))
    return np.concatenate(parts)


def _portfolio_documents(engine: sa.Engine, version: int) -> dict[str, bytes] | None:
    t = PORTFOLIO_FRAMES
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.name, t.c.data).where(t.c.data_version == version).order_by(t.c.id)
        ).all()
    stored = dict(rows)  # the latest copy of each table
    return stored if set(stored) == set(PORTFOLIO_TABLES) else None


class Snapshot:
    """The merged portfolio of one data version as its Parquet documents (one per table, each
    table's rows in account-id order: see :func:`merge_frames`), read a chunk of accounts at a
    time (:mod:`expansion.chunks`). Each document is held in memory (``bytes``, a few megabytes
    per 100k accounts) or is a file (:meth:`on_disk`, which worker processes share); picklable.
    """

    def __init__(self, documents: Mapping[str, bytes | Path]):
        self.documents = dict(documents)
        self._ids: list[str] | None = None

    def _source(self, name: str):
        document = self.documents[name]
        return io.BytesIO(document) if isinstance(document, bytes) else str(document)

    def on_disk(self, folder: str | Path) -> Snapshot:
        """The same snapshot with each document written to a file in ``folder``: worker
        processes read those (only the row groups of their chunks) instead of each holding a
        copy of the whole portfolio in memory (220 MB at 1M accounts)."""
        files = {}
        for name, document in self.documents.items():
            if isinstance(document, bytes):
                path = Path(folder) / f"{name}.parquet"
                path.write_bytes(document)
                document = path
            files[name] = document
        copy = Snapshot(files)
        copy._ids = self._ids
        return copy

    @property
    def account_ids(self) -> list[str]:
        """Every account id, sorted."""
        if self._ids is None:
            import pyarrow.compute as pc
            import pyarrow.parquet as pq

            column = pq.read_table(self._source("accounts"), columns=["account_id"])["account_id"]
            ids = pc.unique(column.drop_null())
            self._ids = ids.take(pc.sort_indices(ids)).to_pylist()
        return self._ids

    def bounds(self, accounts_per_chunk: int) -> list[tuple[str, str | None]]:
        """``(first id, first id of the next chunk or None)`` of each chunk."""
        starts = self.account_ids[::accounts_per_chunk]
        return list(itertools.pairwise([*starts, None]))

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table, whole."""
        return {name: pd.read_parquet(self._source(name)) for name in self.documents}

    def chunk(self, low: str, high: str | None) -> dict[str, pd.DataFrame]:
        """The tables' rows of accounts ``low <= id < high``: only the Parquet row groups that
        can hold them are read and decoded."""
        within = [("account_id", ">=", low)] + ([("account_id", "<", high)] if high else [])
        return {
            name: pd.read_parquet(self._source(name), filters=None if name == "catalog" else within)
            for name in self.documents
        }

    def __getstate__(self) -> dict:
        return {"documents": self.documents, "_ids": None}  # workers need no id list


def snapshot(engine: sa.Engine) -> Snapshot | None:
    """The current data's :class:`Snapshot`, if one was kept (a sync of the only source, or
    the first scoring after a sync, keeps it)."""
    stored = _portfolio_documents(engine, data_version(engine))
    return None if stored is None else Snapshot(stored)


# --------------------------------------------------------------------------- results


def _json_lines(frame: pd.DataFrame) -> list[str]:
    """Each row as a JSON object (pandas' C encoder, dates as ISO strings)."""
    if frame.empty:
        return []
    return frame.to_json(
        orient="records", lines=True, date_format="iso", date_unit="s"
    ).splitlines()


def save_analysis(engine: sa.Engine, analysis, *, data_version: int) -> int:
    """Persist one scoring run; returns its id. Older runs beyond the last few are pruned.

    A run's result frames are kept once, as Parquet (``score_frames``), which is what find
    reads. Only a run whose frames Parquet cannot hold (a column mixing numbers and text)
    is written as rows instead (opportunities, evidence, profiles and lists with their
    details as JSON, benchmarks), the format runs scored before score_frames used. Writing
    both copies of a run, and pruning both, took half of its scoring time.
    """
    p = analysis.profiles.reset_index(drop=True)
    run = ScoreRun(
        as_of=analysis.as_of.date(),
        data_version=data_version,
        config_fingerprint=analysis.config.fingerprint,
        accounts=len(p),
        opportunities=len(analysis.opportunities),
        volume_metric=analysis.volume_metric,
        status="succeeded",
    )
    return _insert_run_results(
        engine,
        run,
        _to_parquet(_result_frames(analysis, p)),
        rows=lambda conn, run_id: _insert_result_rows(conn, analysis, p, run_id),
    )


@dataclass
class ChunkResults:
    """One chunk's scoring results as the Parquet documents of its result frames."""

    documents: dict[str, bytes]
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
    documents = _parquet_documents(_result_frames(analysis, p))
    for name, data in documents.items():
        if data is None:
            raise ResultsNotStorable(f"the {name} results cannot be stored as Parquet")
    return ChunkResults(
        documents=documents,
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
    (:mod:`expansion.chunks`); returns its id. The stored frames are those a whole-portfolio
    analysis gives, in its order: each frame's chunks are joined and ordered in Arrow.

    Raises:
        ResultsNotStorable: a frame Parquet cannot hold (score the portfolio whole instead).
    """
    from .engine import RESULT_ORDER, merge_data_gaps

    documents: dict[str, list[bytes]] = {}
    first = None
    accounts = opportunities = 0
    for chunk in chunks:
        first = first or chunk
        accounts += chunk.accounts
        opportunities += chunk.opportunities
        for name, data in chunk.documents.items():
            documents.setdefault(name, []).append(data)
    if first is None:
        raise NoDataError("The database holds no accounts yet.")
    run = ScoreRun(
        as_of=first.as_of,
        data_version=data_version,
        config_fingerprint=first.config_fingerprint,
        accounts=accounts,
        opportunities=opportunities,
        volume_metric=first.volume_metric,
        status="succeeded",
    )
    names, data = [], []
    for name in list(documents):
        docs = documents.pop(name)
        names.append(name)
        if name == "benchmarks":  # the portfolio's, the same in every chunk
            data.append(docs[0])
        elif name == "list:data_gaps":
            parts = [pd.read_parquet(io.BytesIO(d)) for d in docs]
            data.append(_parquet_bytes(merge_data_gaps([p for p in parts if len(p)] or parts[:1])))
        else:
            data.append(_joined_parquet(docs, RESULT_ORDER.get(name.removeprefix("list:"))))
    frames = pd.DataFrame({"name": names, "data": data})
    return _insert_run_results(engine, run, frames, rows=None)


def _joined_parquet(docs: list[bytes], order: tuple[list[str], tuple[str, ...]] | None) -> bytes:
    """Parquet documents of one frame's chunks as one document, rows in ``order``
    (:data:`expansion.engine.RESULT_ORDER`; missing values last, ties in chunk order).

    Built a column at a time (read from every chunk, put in order), so only the result and
    one column are ever in memory: 900k opportunities with their text are a gigabyte in Arrow.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = [pq.ParquetFile(pa.BufferReader(d)) for d in docs]
    # A chunk with no rows of a frame says nothing about its columns' types.
    files = [f for f in files if f.metadata.num_rows] or files[:1]
    schema = pa.unify_schemas([f.schema_arrow for f in files], promote_options="permissive")

    def column(name: str) -> pa.ChunkedArray:
        kind = schema.field(name).type
        parts = [f.read(columns=[name]).column(0).cast(kind) for f in files]
        return pa.chunked_array([c for part in parts for c in part.chunks], type=kind)

    rows = None
    if order is not None and sum(f.metadata.num_rows for f in files) > 1:
        columns, descending = order
        keys = [(c, "descending" if c in descending else "ascending") for c in columns]
        # Arrow's sort is stable with missing values last (pandas' NaN is Parquet's null).
        rows = pc.sort_indices(pa.table({c: column(c) for c in columns}), sort_keys=keys)
    joined = [column(name) if rows is None else column(name).take(rows) for name in schema.names]
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_arrays(joined, schema=schema), sink)
    return sink.getvalue().to_pybytes()


def _insert_run_results(
    engine: sa.Engine,
    run: ScoreRun,
    frames: pd.DataFrame | None,
    *,
    rows: Callable[[sa.Connection, int], None] | None,
) -> int:
    """The run record and its Parquet frames (or, when ``frames`` is None, its ``rows``) in one
    transaction; older runs pruned.

    Raises:
        StorageError: the database refused the write (a full disk...).
    """
    with _write_errors(engine, "writing the scoring results failed"), engine.begin() as conn:
        run_id = conn.execute(
            sa.insert(ScoreRun.__table__).values(**run.model_dump(exclude={"id"}))
        ).inserted_primary_key[0]
        if frames is not None:
            _insert_frame(conn, SCORE_FRAMES, frames.assign(score_run_id=run_id))
        else:
            assert rows is not None
            rows(conn, run_id)
        _prune(conn)
    return int(run_id)


def _insert_result_rows(conn: sa.Connection, analysis, profiles: pd.DataFrame, run_id) -> None:
    """One run's results as rows, each profile's and list entry's details as JSON."""
    extra = profiles.drop(
        columns=[c for c in PROFILE_COLUMNS if c != "account_id"], errors="ignore"
    )
    rows = profiles[[c for c in PROFILE_COLUMNS if c in profiles.columns]].assign(
        profile=_json_lines(extra)
    )
    findings = [
        pd.DataFrame(
            {
                "list_name": name,
                "account_id": frame.get("account_id"),
                "account_name": frame.get("account_name"),
                "payload": _json_lines(frame),
            }
        )
        for name in FINDING_LISTS
        if not (frame := getattr(analysis, name).reset_index(drop=True)).empty
    ]
    _insert_frame(conn, OPPORTUNITIES, analysis.opportunities.assign(score_run_id=run_id))
    _insert_frame(conn, EVIDENCE, analysis.evidence.assign(score_run_id=run_id))
    _insert_frame(conn, PROFILES, rows.assign(score_run_id=run_id))
    _insert_frame(conn, BENCHMARKS, analysis.benchmarks.assign(score_run_id=run_id))
    if findings:
        _insert_frame(
            conn, FINDINGS, pd.concat(findings, ignore_index=True).assign(score_run_id=run_id)
        )


def _result_frames(analysis, profiles: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The result frames find reads, by their name in score_frames."""
    return {
        "opportunities": analysis.opportunities,
        "evidence": analysis.evidence,
        "profiles": profiles,
        "benchmarks": analysis.benchmarks,
        **{f"list:{name}": getattr(analysis, name) for name in FINDING_LISTS},
    }


def _prune(conn: sa.Connection) -> None:
    runs = ScoreRun.__table__
    keep = sa.select(runs.c.id).order_by(runs.c.id.desc()).limit(KEEP_SCORE_RUNS).scalar_subquery()
    old = [r for (r,) in conn.execute(sa.select(runs.c.id).where(runs.c.id.not_in(keep)))]
    if not old:
        return
    for table in RESULT_TABLES:
        conn.execute(table.delete().where(table.c.score_run_id.in_(old)))
    conn.execute(runs.delete().where(runs.c.id.in_(old)))


def find_score_run(
    engine: sa.Engine, *, as_of: date, data_version: int, fingerprint: str
) -> ScoreRun | None:
    """The latest finished scoring of this data, date and configuration, if any."""
    runs = ScoreRun.__table__
    query = (
        sa.select(runs)
        .where(
            runs.c.as_of == as_of,
            runs.c.data_version == data_version,
            runs.c.config_fingerprint == fingerprint,
            runs.c.status == "succeeded",
        )
        .order_by(runs.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return ScoreRun(**row) if row else None


def read_results(
    engine: sa.Engine,
    run_id: int,
    *,
    accounts: Callable[[pd.DataFrame], Iterable[str]] | None = None,
) -> dict:
    """Stored results of one scoring run: opportunities, evidence, profiles (every profile
    figure as a column), benchmarks, and ``lists`` (activation, stabilize_first...) by name.

    ``accounts`` (given the profiles, the account ids wanted) decodes only those accounts'
    opportunities, evidence and list rows (and the lists' portfolio-level rows): a one-shot
    ``expansion find enterprise`` then turns a sixth of a 100k-account run into pandas and
    Python values instead of all of it. Profiles and benchmarks are always whole.
    """
    frames = SCORE_FRAMES
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(frames.c.name, frames.c.data).where(frames.c.score_run_id == run_id)
        ).all()
    if stored and accounts is not None:
        return _read_results_of(dict(stored), accounts)
    if stored:
        out = {name: _read_parquet(data) for name, data in stored}
        out["lists"] = {name: out.pop(f"list:{name}") for name in FINDING_LISTS}
        return out
    out = _read_result_rows(engine, run_id)
    out["profiles"] = _python_strings(profiles_frame(out["profiles"]))
    out["lists"] = {
        name: _python_strings(findings_frame(out["findings"], name)) for name in FINDING_LISTS
    }
    return out


def _read_results_of(
    documents: dict[str, bytes], accounts: Callable[[pd.DataFrame], Iterable[str]]
) -> dict:
    """:func:`read_results` of only some accounts' rows (see there)."""
    import pyarrow.compute as pc

    profiles = _read_parquet(documents["profiles"])
    wanted = pa.array(sorted(set(accounts(profiles))), type=pa.string())

    def of_accounts(table: pa.Table) -> pa.Array:
        if not table.num_rows:
            return pa.array([], type=pa.bool_())
        return pc.is_in(table["account_id"], value_set=wanted)

    def of_accounts_or_portfolio(table: pa.Table) -> pa.Array:
        if "account_id" not in table.column_names or not table.num_rows:
            return pa.array([True] * table.num_rows, type=pa.bool_())
        column = table["account_id"]
        return pc.or_kleene(pc.is_in(column, value_set=wanted), pc.is_null(column))

    opportunities = _read_parquet(documents["opportunities"], of_accounts)
    ids = pa.array(opportunities["opportunity_id"].tolist(), type=pa.string())
    out = {
        "profiles": profiles,
        "opportunities": opportunities,
        "evidence": _read_parquet(
            documents["evidence"],
            lambda table: (
                pc.is_in(table["opportunity_id"], value_set=ids)
                if table.num_rows
                else pa.array([], type=pa.bool_())
            ),
        ),
        "benchmarks": _read_parquet(documents["benchmarks"]),
        "lists": {
            name: _read_parquet(documents[f"list:{name}"], of_accounts_or_portfolio)
            for name in FINDING_LISTS
        },
    }
    return out


def _python_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as Python objects: Arrow-backed strings' ``isin`` converts its values one
    by one under the GIL, which serialises concurrent slash commands."""
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.StringDtype):
            frame[column] = pd.Series(
                python_objects(frame[column]), index=frame.index, dtype=object
            )
    return frame


def _read_result_rows(engine: sa.Engine, run_id: int) -> dict[str, pd.DataFrame]:
    """Results of a run scored before score_frames existed, from their rows."""
    out: dict[str, pd.DataFrame] = {}
    with engine.connect() as conn:
        for key, table in (
            ("opportunities", OPPORTUNITIES),
            ("profiles", PROFILES),
            ("findings", FINDINGS),
        ):
            query = sa.select(table).where(table.c.score_run_id == run_id)
            out[key] = read_frame(conn, query).drop(columns=["id", "score_run_id"])
        ev = EVIDENCE
        query = sa.select(ev.c.opportunity_id, ev.c.seq, ev.c.evidence).where(
            ev.c.score_run_id == run_id
        )
        out["evidence"] = read_frame(conn, query.order_by(ev.c.opportunity_id, ev.c.seq))
        bench = BENCHMARKS
        out["benchmarks"] = read_frame(
            conn,
            sa.select(
                bench.c.segment,
                bench.c.dimension,
                bench.c.average,
                bench.c.top_quartile,
                bench.c.peers,
            ).where(bench.c.score_run_id == run_id),
        )
    return out


def _json_frame(lines: pd.Series) -> pd.DataFrame:
    """JSON objects, one per element, as a DataFrame: pandas' C reader over all of them at
    once instead of one json.loads per row (100k account profiles in a fraction of the time)."""
    if lines.empty:
        return pd.DataFrame()
    # pandas 3 converts nothing with dtype=False; pandas 2 also needs dates left alone.
    older = {"convert_dates": False} if int(pd.__version__.split(".")[0]) < 3 else {}
    frame = pd.read_json(io.StringIO("\n".join(lines)), lines=True, dtype=False, **older)
    frame.index = lines.index
    return frame


def findings_frame(findings: pd.DataFrame, list_name: str) -> pd.DataFrame:
    """Decode one stored list (activation, stabilize_first...) back into a DataFrame."""
    rows = findings[findings["list_name"] == list_name]["payload"]
    return _json_frame(rows).reset_index(drop=True)


def profiles_frame(profiles: pd.DataFrame) -> pd.DataFrame:
    """Stored profiles with their JSON details expanded into columns."""
    if profiles.empty:
        return profiles
    extra = _json_frame(profiles["profile"])
    return pd.concat(
        [profiles.drop(columns="profile"), extra.drop(columns=["account_id"], errors="ignore")],
        axis=1,
    )


def score_run_ids(engine: sa.Engine) -> list[int]:
    """The ids of the kept, finished scoring runs, oldest first."""
    runs = ScoreRun.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(runs.c.id).where(runs.c.status == "succeeded").order_by(runs.c.id)
        )
        return [int(r) for (r,) in rows]


def run_tiers(engine: sa.Engine, run_id: int) -> pd.DataFrame:
    """Each opportunity of scoring run ``run_id`` with its tier (``opportunity_id``, ``tier``),
    read without decoding the rest of the run."""
    import pyarrow.parquet as pq

    frames = SCORE_FRAMES
    with engine.connect() as conn:
        data = conn.execute(
            sa.select(frames.c.data).where(
                frames.c.score_run_id == run_id, frames.c.name == "opportunities"
            )
        ).scalar()
        if data is None:  # a run stored as rows (see save_analysis)
            return read_frame(
                conn,
                sa.select(OPPORTUNITIES.c.opportunity_id, OPPORTUNITIES.c.tier).where(
                    OPPORTUNITIES.c.score_run_id == run_id
                ),
            )
    table = pq.read_table(pa.BufferReader(data), columns=["opportunity_id", "tier"])
    return table.to_pandas()
