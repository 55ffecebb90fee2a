"""Connecting: the database URL, a Slack workspace's partition, and migrations to the latest
revision (Alembic, under a lock so that several processes starting at once migrate once).

SQLite by default, any SQLAlchemy URL (PostgreSQL for several replicas).
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from ..errors import ConfigError

log = logging.getLogger(__name__)

#: Alembic's scripts: expansion/migrations.
MIGRATIONS = Path(__file__).parents[1] / "migrations"

DEFAULT_DB_URL = "sqlite:///expansion.db"


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
    config.set_main_option("script_location", str(MIGRATIONS))
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
    for script in (MIGRATIONS / "versions").glob("*.py"):
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
