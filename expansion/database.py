"""The database as the bot's processes share it: whether it answers, and which one process
leads among replicas (the digest scheduler's leadership).

SQL the bot would otherwise write itself lives here, beside the rest of the storage layer: the
bot's ``/healthz`` asks :func:`ping`, its scheduler holds the leadership of :func:`leader_for`.
On PostgreSQL the leader holds a session advisory lock (released by the server the moment the
holder's connection dies, so another replica takes over within one poll); on SQLite a lock
file next to the database; an in-memory database has only one process, always the leader.
"""

from __future__ import annotations

import fcntl
import logging
import zlib
from pathlib import Path
from typing import Protocol, TextIO

import sqlalchemy as sa

log = logging.getLogger(__name__)


def ping(engine: sa.Engine) -> None:
    """Ask the database a trivial question; raises whatever the driver raises when it cannot
    answer (the caller decides what unhealthy means)."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


class Leader(Protocol):
    """One of the ways to lead: :func:`leader_for` picks the one that fits the database."""

    @property
    def held(self) -> bool: ...

    def acquire(self) -> bool: ...

    def alive(self) -> bool: ...

    def release(self) -> None: ...


class AdvisoryLockLeader:
    """Leadership = a PostgreSQL session advisory lock held on a dedicated connection."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.conn: sa.Connection | None = None

    @property
    def held(self) -> bool:
        return self.conn is not None

    def _key(self, conn: sa.Connection) -> int:
        # One lock per database and schema, so deployments sharing a server do not collide.
        name = conn.execute(sa.text("SELECT current_database() || '.' || current_schema()"))
        return zlib.crc32(f"expansion-scheduler:{name.scalar_one()}".encode())

    def acquire(self) -> bool:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key(conn)}
            ).scalar_one()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self.conn = conn
        return True

    def alive(self) -> bool:
        if self.conn is None:
            return False
        try:
            self.conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            log.warning("lost the scheduler lock's database connection", exc_info=True)
            self.release()
            return False

    def release(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))
        except Exception:
            log.debug("could not unlock explicitly; dropping the session", exc_info=True)
        # Never hand a session that may still hold the lock back to the pool: end it.
        conn.invalidate()
        conn.close()


class FileLockLeader:
    """Leadership on one machine: an exclusive ``flock`` on ``<database>.scheduler.lock``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: TextIO | None = None

    @property
    def held(self) -> bool:
        return self.handle is not None

    def acquire(self) -> bool:
        handle = open(self.path, "a+")  # noqa: SIM115 - held for as long as we lead
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self.handle = handle
        return True

    def alive(self) -> bool:
        return self.held

    def release(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            handle.close()


class SoleLeader:
    """A database only one process can use (in-memory SQLite): always the leader."""

    held = False

    def acquire(self) -> bool:
        self.held = True
        return True

    def alive(self) -> bool:
        return self.held

    def release(self) -> None:
        self.held = False


def leader_for(engine: sa.Engine) -> Leader:
    """The leadership mechanism that fits the database."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return AdvisoryLockLeader(engine)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return FileLockLeader(
            Path(url.database).with_name(Path(url.database).name + ".scheduler.lock")
        )
    return SoleLeader()
