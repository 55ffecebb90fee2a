"""The database: canonical portfolio tables, sync and score runs, and scored results.

SQLite by default, any SQLAlchemy URL (PostgreSQL for several replicas). The schema is owned
by Alembic migrations in ``expansion/migrations``; :func:`connect` brings a database up to date.

Portfolio tables are derived from :data:`expansion.contract.TABLES`, with two extra columns:
``id`` and ``source`` (which connector wrote the row). A sync replaces one source's rows in a
single transaction, so a failed sync leaves the previous data untouched.

One module per concern, each importing only those above it in this list:

- :mod:`~expansion.store.schema`: the tables (SQLModel rows, portfolio and result tables).
- :mod:`~expansion.store.parquet`: frames kept as Parquet blobs and read back.
- :mod:`~expansion.store.connections`: the URL, a workspace's partition, migrations and
  their locks.
- :mod:`~expansion.store.writes`: a sync's rows replaced in one transaction; the bulk insert.
- :mod:`~expansion.store.reads`: sync runs, a source's rows; the bulk read.
- :mod:`~expansion.store.merged`: the merged portfolio and its Parquet snapshot.
- :mod:`~expansion.store.results`: scoring runs and their result frames.

Callers use the names below (``from expansion import store``; ``store.connect(...)``).
"""

from __future__ import annotations

from ..errors import StorageError as StorageError  # re-exported: what the writes raise
from .connections import (
    DEFAULT_DB_URL,
    connect,
    database_url,
    team_partition,
    upgrade_database,
)
from .merged import (
    Snapshot,
    conflicts,
    load_tables,
    merged_tables,
    portfolio_parquet,
    save_portfolio_frames,
    save_portfolio_parquet,
    snapshot,
)
from .reads import (
    account_ids,
    data_version,
    last_sync,
    latest_syncs,
    load_source,
    read_frame,
    row_counts,
    source_roles,
    sync_runs,
)
from .results import (
    KEEP_SCORE_RUNS,
    find_score_run,
    findings_frame,
    profiles_frame,
    read_results,
    result_frames,
    run_tiers,
    save_analysis,
    save_run,
    score_run_ids,
)
from .schema import (
    BENCHMARKS,
    EVIDENCE,
    FINDING_LISTS,
    FINDINGS,
    OPPORTUNITIES,
    PORTFOLIO_FRAMES,
    PORTFOLIO_TABLES,
    PROFILE_COLUMNS,
    PROFILES,
    RESULT_TABLES,
    SCORE_FRAMES,
    AlertDelivery,
    AlertPass,
    AlertPreference,
    AlertSubscription,
    ChannelSetting,
    ChannelSettingEvent,
    ChatPost,
    CrmRecord,
    DigestItem,
    DigestMessage,
    DigestRun,
    DigestSubscription,
    OpportunityEvent,
    OpportunityState,
    ScoreRun,
    SyncReject,
    SyncRun,
    TeamMember,
    metadata,
    utcnow,
)
from .writes import one_line_cause, record_failed_sync, replace_source, upsert

__all__ = [
    "BENCHMARKS",
    "DEFAULT_DB_URL",
    "EVIDENCE",
    "FINDINGS",
    "FINDING_LISTS",
    "KEEP_SCORE_RUNS",
    "OPPORTUNITIES",
    "PORTFOLIO_FRAMES",
    "PORTFOLIO_TABLES",
    "PROFILES",
    "PROFILE_COLUMNS",
    "RESULT_TABLES",
    "SCORE_FRAMES",
    "AlertDelivery",
    "AlertPass",
    "AlertPreference",
    "AlertSubscription",
    "ChannelSetting",
    "ChannelSettingEvent",
    "ChatPost",
    "CrmRecord",
    "DigestItem",
    "DigestMessage",
    "DigestRun",
    "DigestSubscription",
    "OpportunityEvent",
    "OpportunityState",
    "ScoreRun",
    "Snapshot",
    "StorageError",
    "SyncReject",
    "SyncRun",
    "TeamMember",
    "account_ids",
    "conflicts",
    "connect",
    "data_version",
    "database_url",
    "find_score_run",
    "findings_frame",
    "last_sync",
    "latest_syncs",
    "load_source",
    "load_tables",
    "merged_tables",
    "metadata",
    "one_line_cause",
    "portfolio_parquet",
    "profiles_frame",
    "read_frame",
    "read_results",
    "record_failed_sync",
    "replace_source",
    "result_frames",
    "row_counts",
    "run_tiers",
    "save_analysis",
    "save_portfolio_frames",
    "save_portfolio_parquet",
    "save_run",
    "score_run_ids",
    "snapshot",
    "source_roles",
    "sync_runs",
    "team_partition",
    "upgrade_database",
    "upsert",
    "utcnow",
]
