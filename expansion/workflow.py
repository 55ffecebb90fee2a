"""Where each opportunity stands: its assigned owner, its outcome, and the audit trail.

Opportunity ids are stable across re-scoring (``<account>-<type>-<n>``), so an assignment or an
outcome recorded today still applies after tomorrow's sync. Every change writes the new state and
an audit event in one transaction. Outcomes other than ``open`` take an opportunity out of lists:
``snoozed`` until its date, ``not_a_fit``, ``won`` and ``lost`` for good (they are kept, with the
close probability predicted at the time, to calibrate close probabilities later).

Channel settings live here too (whether a channel sees money as bands), with their own audit
trail: every change is written with who made it, when, and the old and new value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from .errors import UnknownOpportunityError as UnknownOpportunityError  # re-exported
from .store import (
    ChannelSetting,
    ChannelSettingEvent,
    ChatPost,
    OpportunityEvent,
    OpportunityState,
    upsert,
    utcnow,
)

OUTCOMES = {
    "snoozed": "Snoozed",
    "not_a_fit": "Not a fit",
    "won": "Won",
    "lost": "Lost",
}
SNOOZE_DAYS = 30
STATE_COLUMNS = [
    "assignee",
    "assigned_by",
    "assigned_at",
    "outcome",
    "outcome_by",
    "outcome_at",
    "snoozed_until",
]

_STATES = OpportunityState.__table__
_EVENTS = OpportunityEvent.__table__
_POSTS = ChatPost.__table__
_CHANNELS = ChannelSetting.__table__
_CHANNEL_EVENTS = ChannelSettingEvent.__table__


@dataclass(frozen=True)
class Opportunity:
    """The identity and figures of an opportunity an action is recorded against."""

    opportunity_id: str
    account_id: str
    close_probability: float | None = None
    expansion_arr: float | None = None


def _upsert(conn: sa.Connection, opp: Opportunity, values: dict) -> None:
    upsert(
        conn,
        _STATES,
        {"opportunity_id": opp.opportunity_id},
        values,
        on_insert={"account_id": opp.account_id, "outcome": "open"},
    )


def _event(conn: sa.Connection, opp: Opportunity, action: str, actor: str, **values) -> None:
    conn.execute(
        _EVENTS.insert().values(
            opportunity_id=opp.opportunity_id,
            account_id=opp.account_id,
            action=action,
            actor=actor,
            at=values.pop("at"),
            **values,
        )
    )


def _current(conn: sa.Connection, opp: Opportunity) -> sa.RowMapping | None:
    """The stored state of ``opp`` (``None``: never assigned nor closed)."""
    query = sa.select(_STATES).where(_STATES.c.opportunity_id == opp.opportunity_id)
    return conn.execute(query).mappings().first()


def assign(
    engine: sa.Engine,
    opp: Opportunity,
    *,
    assignee: str | None,
    actor: str,
    at: datetime | None = None,
) -> bool:
    """Assign ``opp`` to ``assignee`` (``None`` un-assigns), with an audit event.

    Assigning it to whom it is assigned already changes nothing and records nothing (a repeated
    click); returns whether anything changed.
    """
    at = at or utcnow()
    with engine.begin() as conn:
        current = _current(conn, opp)
        if (None if current is None else current["assignee"]) == assignee:
            return False
        _upsert(
            conn,
            opp,
            {
                "assignee": assignee,
                "assigned_by": actor,
                "assigned_at": at,
            },
        )
        _event(
            conn,
            opp,
            "assign" if assignee else "unassign",
            actor,
            assignee=assignee,
            at=at,
        )
    return True


def set_outcome(
    engine: sa.Engine,
    opp: Opportunity,
    outcome: str,
    *,
    actor: str,
    today: date,
    at: datetime | None = None,
    detail: str = "",
) -> bool:
    """Record ``snoozed`` (for :data:`SNOOZE_DAYS`), ``not_a_fit``, ``won``, ``lost`` or ``open``.

    The outcome it has already (a snooze to the same day) changes nothing and records nothing:
    "Won" clicked twice is one event. Returns whether anything changed. ``detail`` goes to the
    audit event (the CRM's amount and close date when the CRM decided it).
    """
    if outcome not in OUTCOMES and outcome != "open":
        raise ValueError(f"unknown outcome {outcome!r}")
    at = at or utcnow()
    until = today + timedelta(days=SNOOZE_DAYS) if outcome == "snoozed" else None
    with engine.begin() as conn:
        current = _current(conn, opp)
        stored = "open" if current is None else current["outcome"]
        if stored == outcome and (current is None or current["snoozed_until"] == until):
            return False
        _upsert(
            conn,
            opp,
            {
                "outcome": outcome,
                "outcome_by": actor,
                "outcome_at": at,
                "snoozed_until": until,
                "predicted_close_probability": opp.close_probability,
                "expansion_arr": opp.expansion_arr,
            },
        )
        _event(
            conn,
            opp,
            outcome,
            actor,
            detail=f"until {until.isoformat()}" if until else detail,
            at=at,
        )
    return True


def version(engine: sa.Engine) -> int:
    """Changes whenever an opportunity's state does (every change is an event)."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(_EVENTS.c.id))).scalar() or 0)


def states(engine: sa.Engine, opportunity_ids: list[str] | None = None) -> pd.DataFrame:
    """Stored states, indexed by opportunity id (all of them, or those of ``opportunity_ids``)."""
    query = sa.select(_STATES)
    if opportunity_ids is not None:
        query = query.where(_STATES.c.opportunity_id.in_(list(opportunity_ids)))
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    return frame.set_index("opportunity_id")


def assigned_ids(engine: sa.Engine, assignee: str) -> list[str]:
    """Ids of the opportunities assigned to ``assignee``."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_STATES.c.opportunity_id).where(_STATES.c.assignee == assignee)
        )
        return [r for (r,) in rows]


def events(engine: sa.Engine, opportunity_id: str | None = None) -> pd.DataFrame:
    """The audit trail, oldest first."""
    query = sa.select(_EVENTS).order_by(_EVENTS.c.id)
    if opportunity_id is not None:
        query = query.where(_EVENTS.c.opportunity_id == opportunity_id)
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def annotate(opps: pd.DataFrame, state: pd.DataFrame, *, today: date) -> pd.DataFrame:
    """``opps`` with the state columns and ``active`` (open, or a snooze that has ended)."""
    out = opps.drop(columns=[c for c in STATE_COLUMNS if c in opps.columns]).join(
        state[STATE_COLUMNS], on="opportunity_id"
    )
    outcome = out["outcome"].fillna("open")
    until = pd.to_datetime(out["snoozed_until"])
    snooze_over = (outcome == "snoozed") & (until <= pd.Timestamp(today))
    out["outcome"] = outcome.where(~snooze_over, "open")
    out["active"] = out["outcome"] == "open"
    return out


# --------------------------------------------------------------------------- chat posts


def _post(channel: str, thread_ts: str, kind: str, key: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        _POSTS.c.channel == channel,
        _POSTS.c.thread_ts == thread_ts,
        _POSTS.c.kind == kind,
        _POSTS.c.key == key,
    )


def claim_post(
    engine: sa.Engine,
    *,
    channel: str,
    thread_ts: str,
    kind: str,
    key: str,
    owner: str = "",
) -> bool:
    """Claim the right to post ``kind``/``key`` in a thread; ``False`` if already claimed.

    ``owner`` tells who claimed it (a digest run claims the deep-dives it will post).
    """
    values = {
        "channel": channel,
        "thread_ts": thread_ts,
        "kind": kind,
        "key": key,
        "owner": owner,
        "created_at": utcnow(),
    }
    try:
        with engine.begin() as conn:
            conn.execute(_POSTS.insert().values(**values))
    except sa.exc.IntegrityError:
        return False
    return True


def record_post(
    engine: sa.Engine | sa.Connection, *, channel: str, thread_ts: str, kind: str, key: str, ts: str
) -> None:
    """Remember the ts of a claimed post (in ``engine``'s own transaction, or the caller's)."""
    update = _POSTS.update().where(_post(channel, thread_ts, kind, key)).values(ts=ts)
    if isinstance(engine, sa.Connection):
        engine.execute(update)
        return
    with engine.begin() as conn:
        conn.execute(update)


def release_post(engine: sa.Engine, *, channel: str, thread_ts: str, kind: str, key: str) -> None:
    """Give a claim back after the post failed, so the next click can try again."""
    with engine.begin() as conn:
        conn.execute(
            _POSTS.delete().where(_post(channel, thread_ts, kind, key), _POSTS.c.ts.is_(None))
        )


def release_claims(engine: sa.Engine, owner: str) -> None:
    """Give back every claim ``owner`` made and did not post (a digest that failed)."""
    with engine.begin() as conn:
        conn.execute(_POSTS.delete().where(_POSTS.c.owner == owner, _POSTS.c.ts.is_(None)))


def find_post(
    engine: sa.Engine, *, channel: str, thread_ts: str, kind: str, key: str
) -> ChatPost | None:
    """The recorded post, if any (``ts`` is ``None`` while it is still being posted)."""
    with engine.connect() as conn:
        row = (
            conn.execute(sa.select(_POSTS).where(_post(channel, thread_ts, kind, key)))
            .mappings()
            .first()
        )
    return ChatPost(**row) if row else None


def latest_post(engine: sa.Engine, *, kind: str, key: str) -> ChatPost | None:
    """The most recent finished post of ``kind``/``key`` anywhere."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(_POSTS)
                .where(_POSTS.c.kind == kind, _POSTS.c.key == key, _POSTS.c.ts.is_not(None))
                .order_by(_POSTS.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return ChatPost(**row) if row else None


# --------------------------------------------------------------------------- channel settings


def _setting_text(value: bool | None) -> str:
    return "" if value is None else ("on" if value else "off")


def channel_setting(engine: sa.Engine, *, team_id: str, channel: str) -> ChannelSetting | None:
    """The stored settings of one channel (``None``: never set)."""
    query = sa.select(_CHANNELS).where(
        _CHANNELS.c.team_id == team_id, _CHANNELS.c.channel == channel
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return ChannelSetting(**row) if row else None


def set_channel_redact(
    engine: sa.Engine, *, team_id: str, channel: str, redact: bool, actor: str
) -> tuple[bool | None, bool]:
    """Set whether money is banded in ``channel`` and audit it (who, when, old -> new) in one
    transaction. Returns (old, new); setting the value it has records nothing."""
    now = utcnow()
    with engine.begin() as conn:
        key = {"team_id": team_id, "channel": channel}
        row = conn.execute(
            sa.select(_CHANNELS.c.redact).where(
                _CHANNELS.c.team_id == team_id, _CHANNELS.c.channel == channel
            )
        ).first()
        old = row[0] if row else None
        if old is not None and bool(old) == redact:
            return bool(old), redact
        upsert(conn, _CHANNELS, key, {"redact": redact, "updated_by": actor, "updated_at": now})
        conn.execute(
            _CHANNEL_EVENTS.insert().values(
                **key,
                setting="redact",
                old_value=_setting_text(old),
                new_value=_setting_text(redact),
                actor=actor,
                at=now,
            )
        )
    return (None if old is None else bool(old)), redact


def channel_setting_events(
    engine: sa.Engine, *, team_id: str | None = None, channel: str | None = None
) -> list[ChannelSettingEvent]:
    """The audit trail of channel settings, oldest first (one channel's, or all)."""
    query = sa.select(_CHANNEL_EVENTS).order_by(_CHANNEL_EVENTS.c.id)
    if team_id is not None:
        query = query.where(_CHANNEL_EVENTS.c.team_id == team_id)
    if channel is not None:
        query = query.where(_CHANNEL_EVENTS.c.channel == channel)
    with engine.connect() as conn:
        return [ChannelSettingEvent(**row) for row in conn.execute(query).mappings()]
