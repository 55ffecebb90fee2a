"""New-Tier-1 alerts: which opportunities became Tier 1 since the last look, who is told, and
the claims that make each alert go out exactly once.

After every sync and re-score the bot asks :func:`detect` for the open opportunities that are
Tier 1 now and were not in the scoring run the previous alert pass looked at (new, or moved up
from another tier: :func:`expansion.digest.tier_moves`, the digest's own comparison). Each
(recipient, opportunity, change) is claimed by inserting a row under a unique constraint
(:func:`claim`), in one transaction with the recipient's other alerts, before anything is
posted: two schedulers racing, a retried job or a restart post it once. This module knows
nothing of Slack: the bot resolves owners to users, builds the messages and posts them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from . import pipeline, store
from .config import DEFAULT_CONFIG, ScoringConfig, read_settings_file
from .digest import LEASE, tier_moves
from .errors import ConfigError
from .pipeline import FindResult
from .redact import redact
from .store import AlertDelivery, AlertPass, AlertPreference, AlertSubscription, utcnow

log = logging.getLogger(__name__)

DELIVERIES = AlertDelivery.__table__  # type: ignore[attr-defined]
PASSES = AlertPass.__table__  # type: ignore[attr-defined]
PREFERENCES = AlertPreference.__table__  # type: ignore[attr-defined]
SUBSCRIPTIONS = AlertSubscription.__table__  # type: ignore[attr-defined]

#: A user's choices: every change as it is found, one summary a day, or nothing.
MODES = ("on", "daily", "off")
MODE_LABELS = {"on": "on", "daily": "daily summary", "off": "off"}
_MODE_WORDS = {"on": "on", "daily": "daily", "daily summary": "daily", "summary": "daily"}
_MODE_WORDS["off"] = "off"


# --------------------------------------------------------------------------- configuration


def default_mode(path: str | Path | None = None) -> str:
    """The alerts of a user who chose nothing: ``[alerts] default`` in expansion.toml (``on``,
    ``daily`` / ``daily summary``, or ``off``; ``on`` when unset).

    Raises:
        ConfigError: an unknown key under ``[alerts]`` or an unknown mode.
    """
    found, data = read_settings_file(path)
    table = data.get("alerts", {}) if found is not None else {}
    if not isinstance(table, dict):
        raise ConfigError(f'{found}: [alerts] must be a table, e.g. [alerts] default = "on"')
    unknown = sorted(set(table) - {"default"})
    if unknown:
        raise ConfigError(f"{found}: unknown [alerts] setting {unknown}; known: ['default']")
    return parse_mode(table.get("default", "on"), origin=f"{found}: [alerts] default")


def parse_mode(value: object, *, origin: str = "alerts") -> str:
    """``on``, ``daily`` or ``off`` from what a person or a file says (``daily summary`` too).

    Raises:
        ConfigError: anything else.
    """
    mode = _MODE_WORDS.get(str(value).strip().lower())
    if mode is None:
        raise ConfigError(
            f"{origin} must be one of on, daily summary (daily), off; got {str(value)[:40]!r}"
        )
    return mode


# --------------------------------------------------------------------------- what changed


@dataclass(frozen=True)
class Change:
    """One opportunity that became Tier 1: ``was`` the tier it came from (``None``: it was no
    open opportunity), ``key`` what makes the change unique (``2>1@41``)."""

    opportunity_id: str
    account_id: str
    owner: str | None
    was: int | None
    key: str


@dataclass
class Detected:
    """What one alert pass found: the find answer of every open opportunity (to draw cards),
    the scoring run it is from and the one it was compared with, and the changes, best first."""

    result: FindResult | None
    run_id: int | None
    compared_with: int | None
    changes: list[Change] = field(default_factory=list)


def baseline(engine: sa.Engine, run_id: int, *, team_id: str = "") -> int | None:
    """The scoring run to compare run ``run_id`` with: the one the last alert pass looked at,
    when it is still kept (else the oldest run kept before ``run_id``: the nearest there is);
    with no pass yet, the run before ``run_id``. ``None``: no earlier run, nothing to compare
    (the first scoring of a book alerts nobody)."""
    kept = [r for r in store.score_run_ids(engine) if r < run_id]
    if not kept:
        return None
    with engine.connect() as conn:
        last = conn.execute(
            sa.select(sa.func.max(PASSES.c.score_run_id)).where(
                PASSES.c.team_id == team_id, PASSES.c.score_run_id < run_id
            )
        ).scalar()
    if last is None:
        return kept[-1]
    if int(last) in kept:
        return int(last)
    later = [r for r in kept if r > int(last)]
    return later[0] if later else kept[-1]


def detect(
    engine: sa.Engine,
    *,
    as_of: date,
    config: ScoringConfig = DEFAULT_CONFIG,
    team_id: str = "",
    record: bool = True,
) -> Detected:
    """The open opportunities that are Tier 1 in the latest scoring (scored now if the data
    changed) and were not in the run the previous pass looked at. ``record`` records this pass
    (the next compares with its run); without it, call :func:`record_pass` once the changes are
    claimed, so a pass that stopped before (Slack down) is done again from the same baseline.

    Raises:
        NoDataError: nothing has been synced yet.
    """
    run_id = pipeline.score(engine, as_of=as_of, config=config)
    result = pipeline.find(engine, "", as_of=as_of, config=config)
    previous = baseline(engine, run_id, team_id=team_id)
    if record:
        record_pass(engine, run_id, team_id=team_id)
    detected = Detected(result=result, run_id=run_id, compared_with=previous)
    if previous is None:
        return detected
    before = store.run_tiers(engine, previous)
    opps = result.opportunities
    cols = ["opportunity_id", "account_id", "owner", "tier", "score"]
    new_tier1, _, _ = tier_moves(opps[cols], before)
    for moved in new_tier1:
        was = moved.get("was")
        owner = moved.get("owner")
        detected.changes.append(
            Change(
                opportunity_id=str(moved["opportunity_id"]),
                account_id=str(moved["account_id"]),
                owner=str(owner) if isinstance(owner, str) and owner else None,
                was=was,
                key=f"{was if was is not None else 'new'}>1@{previous}",
            )
        )
    return detected


def record_pass(engine: sa.Engine, run_id: int, *, team_id: str = "") -> None:
    """Remember that a pass looked at scoring run ``run_id`` (the next pass compares with it)."""
    with engine.begin() as conn:
        conn.execute(PASSES.insert().values(team_id=team_id, score_run_id=run_id, at=utcnow()))


# --------------------------------------------------------------------------- claims


def _insert_ignoring_duplicates(conn: sa.Connection, values: dict) -> bool:
    """Insert one delivery row; ``False`` when its (team, recipient, opportunity, change) exists.

    PostgreSQL waits for a racing transaction that inserted the same key and then skips it;
    SQLite serialises writers, so the first transaction's rows are all visible to the second.
    """
    key = ["team_id", "recipient", "opportunity_id", "change"]
    name = conn.dialect.name
    if name in ("postgresql", "sqlite"):
        from sqlalchemy.dialects import postgresql, sqlite

        dialect = postgresql if name == "postgresql" else sqlite
        statement = (
            dialect.insert(DELIVERIES).values(**values).on_conflict_do_nothing(index_elements=key)
        )
        return bool(conn.execute(statement).rowcount)
    exists = conn.execute(
        sa.select(DELIVERIES.c.id).where(*(DELIVERIES.c[k] == values[k] for k in key))
    ).first()
    if exists:
        return False
    conn.execute(DELIVERIES.insert().values(**values))
    return True


def claim(
    engine: sa.Engine,
    *,
    team_id: str,
    recipient: str,
    kind: str,
    changes: Iterable[Change],
    holder: str,
    deliver: bool = True,
    now: datetime | None = None,
) -> list[AlertDelivery]:
    """Claim ``recipient``'s alerts of ``changes`` in one transaction.

    With ``deliver``, the rows returned are this holder's to post now, in one message: the
    changes no one claimed before, the recipient's ``pending`` alerts (held for a daily
    summary, or put back after Slack failed), and those whose holder stopped before finishing
    (claimed longer ago than the digest lease). Without it (a daily-summary user between
    summaries), the new changes are recorded ``pending`` and nothing is returned.
    """
    now = now or utcnow()
    status = "claimed" if deliver else "pending"
    with engine.begin() as conn:
        # Writes first: on SQLite a transaction that read before writing cannot wait its turn.
        for change in changes:
            _insert_ignoring_duplicates(
                conn,
                {
                    "team_id": team_id,
                    "recipient": recipient,
                    "kind": kind,
                    "opportunity_id": change.opportunity_id,
                    "account_id": change.account_id,
                    "change": change.key,
                    "status": status,
                    "holder": holder if deliver else "",
                    "claimed_at": now,
                },
            )
        if not deliver:
            return []
        mine = (DELIVERIES.c.team_id == team_id) & (DELIVERIES.c.recipient == recipient)
        conn.execute(
            DELIVERIES.update()
            .where(
                mine,
                (DELIVERIES.c.status == "pending")
                | ((DELIVERIES.c.status == "claimed") & (DELIVERIES.c.claimed_at <= now - LEASE)),
            )
            .values(status="claimed", holder=holder, claimed_at=now)
        )
        rows = conn.execute(
            sa.select(DELIVERIES)
            .where(mine, DELIVERIES.c.status == "claimed", DELIVERIES.c.holder == holder)
            .order_by(DELIVERIES.c.id)
        ).mappings()
        return [AlertDelivery(**row) for row in rows]


def _finish(engine: sa.Engine, rows: list[AlertDelivery], held_by: str, **values) -> None:
    if not rows:
        return
    with engine.begin() as conn:
        conn.execute(
            DELIVERIES.update()
            .where(
                DELIVERIES.c.id.in_([r.id for r in rows]),
                DELIVERIES.c.holder == held_by,
                DELIVERIES.c.status == "claimed",
            )
            .values(**values)
        )


def sent(engine: sa.Engine, rows: list[AlertDelivery], *, holder: str, ts: str) -> None:
    """The alerts of ``rows`` were posted as message ``ts``."""
    _finish(engine, rows, holder, status="sent", ts=ts, sent_at=utcnow(), error=None)


def failed(
    engine: sa.Engine, rows: list[AlertDelivery], *, holder: str, error: str, retry: bool
) -> None:
    """Posting ``rows`` failed: back to ``pending`` for the next pass (``retry``: Slack was
    busy or down), or ``failed`` for good (the channel is gone, the bot is not in it)."""
    values = {"status": "pending", "holder": ""} if retry else {"status": "failed"}
    _finish(engine, rows, holder, error=redact(error)[:2000], **values)


def expire(engine: sa.Engine, rows: list[AlertDelivery], *, holder: str) -> None:
    """Alerts whose opportunity is no longer an open Tier 1 when their turn came: not sent."""
    _finish(engine, rows, holder, status="expired")


def pending(engine: sa.Engine, *, team_id: str) -> pd.DataFrame:
    """Alerts waiting to go (``recipient``, ``kind``, ``opportunity_id``)."""
    with engine.connect() as conn:
        return pd.read_sql(
            sa.select(DELIVERIES.c.recipient, DELIVERIES.c.kind, DELIVERIES.c.opportunity_id).where(
                DELIVERIES.c.team_id == team_id, DELIVERIES.c.status == "pending"
            ),
            conn,
        )


def deliveries(engine: sa.Engine, *, team_id: str | None = None) -> list[AlertDelivery]:
    """Every alert recorded, oldest first."""
    query = sa.select(DELIVERIES).order_by(DELIVERIES.c.id)
    if team_id is not None:
        query = query.where(DELIVERIES.c.team_id == team_id)
    with engine.connect() as conn:
        return [AlertDelivery(**row) for row in conn.execute(query).mappings()]


# --------------------------------------------------------------------------- preferences


def preferences(engine: sa.Engine, *, team_id: str) -> dict[str, str]:
    """Each user's choice (users who chose nothing get the configured default)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(PREFERENCES.c.user_id, PREFERENCES.c.mode).where(
                PREFERENCES.c.team_id == team_id
            )
        )
        return {user: mode for user, mode in rows}


def preference(engine: sa.Engine, *, team_id: str, user_id: str, default: str) -> str:
    return preferences(engine, team_id=team_id).get(user_id, default)


def set_preference(engine: sa.Engine, *, team_id: str, user_id: str, mode: str) -> str:
    """Store ``user_id``'s choice; returns it (``daily summary`` is stored as ``daily``).

    Raises:
        ConfigError: not one of the modes.
    """
    mode = parse_mode(mode, origin="the alerts choice")
    with engine.begin() as conn:
        store.upsert(
            conn,
            PREFERENCES,
            {"team_id": team_id, "user_id": user_id},
            {"mode": mode, "updated_at": utcnow()},
        )
    return mode


# --------------------------------------------------------------------------- channels


def subscribe(
    engine: sa.Engine, *, team_id: str, channel: str, scope: str, created_by: str
) -> AlertSubscription:
    """Subscribe ``channel`` to the new Tier 1s of ``scope`` (replacing its previous scope)."""
    with engine.begin() as conn:
        store.upsert(
            conn,
            SUBSCRIPTIONS,
            {"team_id": team_id, "channel": channel},
            {"scope": scope, "created_by": created_by, "created_at": utcnow()},
        )
        row = (
            conn.execute(
                sa.select(SUBSCRIPTIONS).where(
                    SUBSCRIPTIONS.c.team_id == team_id, SUBSCRIPTIONS.c.channel == channel
                )
            )
            .mappings()
            .one()
        )
    return AlertSubscription(**row)


def unsubscribe(engine: sa.Engine, *, team_id: str, channel: str) -> bool:
    with engine.begin() as conn:
        return bool(
            conn.execute(
                SUBSCRIPTIONS.delete().where(
                    SUBSCRIPTIONS.c.team_id == team_id, SUBSCRIPTIONS.c.channel == channel
                )
            ).rowcount
        )


def subscriptions(engine: sa.Engine, *, team_id: str | None = None) -> list[AlertSubscription]:
    query = sa.select(SUBSCRIPTIONS).order_by(SUBSCRIPTIONS.c.id)
    if team_id is not None:
        query = query.where(SUBSCRIPTIONS.c.team_id == team_id)
    with engine.connect() as conn:
        return [AlertSubscription(**row) for row in conn.execute(query).mappings()]
