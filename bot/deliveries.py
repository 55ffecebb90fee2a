"""Each Slack request's work runs once, however often it arrives.

Slack retries an event it thinks was not answered in time (``X-Slack-Retry-Num``; about at
once, after 1 and after 5 minutes) and anyone holding a captured signed request can send it
again within its 5 minutes. Before a listener's work runs (:func:`bot.errors.guarded`) the
request is claimed here: a row keyed by the event's ``event_id`` (retries of an event share it)
or, for commands and clicks, by the request's signature (a replay carries the same one). A
second delivery finds the row and its work is dropped; Slack already got its ack.

The rows live in the main database (table ``slack_deliveries``, migration 0009), so the
replicas behind a load balancer share them; rows older than :data:`KEEP` are pruned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

log = logging.getLogger("bot.deliveries")

#: How long a delivery is remembered: longer than Slack's retries (5 minutes) and a signed
#: request's validity (5 minutes).
KEEP = timedelta(hours=1)
#: How long a claim waits for another SQLite writer, and the busy timeout it restores after.
SQLITE_WAIT_MS = 2000
SQLITE_BUSY_MS = 30_000

DELIVERIES = sa.Table(
    "slack_deliveries",
    sa.MetaData(),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("received_at", sa.DateTime(), nullable=False, index=True),
)


def _header(headers: Mapping[str, Iterable[str] | str], name: str) -> str | None:
    value = headers.get(name)
    if isinstance(value, str):
        return value or None
    return next(iter(value or []), None)


def key_of(body: dict, headers: Mapping[str, Iterable[str] | str]) -> str | None:
    """What identifies this delivery: ``event:<event_id>``, else ``sig:<signature>``."""
    event_id = body.get("event_id") if body.get("type") == "event_callback" else None
    if isinstance(event_id, str) and event_id:
        return f"event:{event_id}"[:255]
    signature = _header(headers, "x-slack-signature")
    if signature:
        return f"sig:{signature}"[:255]
    return None  # Socket Mode: only events carry an id


def claim(engine: sa.Engine, key: str, *, now: datetime | None = None) -> bool:
    """True the first time ``key`` is claimed (within :data:`KEEP`), False for a repeat.

    On SQLite another writer (a long sync) may hold the database: the claim waits at most
    :data:`SQLITE_WAIT_MS`, then lets the request run rather than hold every answer up (a
    repeat of a click is still one event, see :mod:`expansion.workflow`).
    """
    now = (now or datetime.now(UTC)).replace(tzinfo=None)
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _busy_timeout(conn, SQLITE_WAIT_MS)
        try:
            with conn.begin():
                conn.execute(DELIVERIES.delete().where(DELIVERIES.c.received_at < now - KEEP))
                conn.execute(DELIVERIES.insert().values(key=key, received_at=now))
        except sa.exc.IntegrityError:
            return False
        except sa.exc.OperationalError as exc:
            if not sqlite or "locked" not in str(exc):
                raise
            log.warning("the database is busy: %s runs without its repeat check", key[:10])
        finally:
            if sqlite:
                _busy_timeout(conn, SQLITE_BUSY_MS)
    return True


def _busy_timeout(conn: sa.Connection, ms: int) -> None:
    conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(ms)}")
    conn.commit()  # the statement began a transaction; claims begin their own


def first_delivery(engine: sa.Engine, body: dict, headers: Mapping) -> bool:
    """Claim this request's delivery; False (and a log line) when it was handled already."""
    key = key_of(body, headers)
    if key is None or claim(engine, key):
        return True
    retry = _header(headers, "x-slack-retry-num")
    log.info(
        "dropped a repeated delivery (%s%s)",
        key.split(":", 1)[0] if key.startswith("sig:") else key,
        f", Slack retry {retry}" if retry else "",
    )
    return False
