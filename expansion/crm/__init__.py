"""Write-back to the CRM, and outcomes read back from it.

An opportunity is written to the CRM source its account comes from (the ``[[sources]]`` entry of
type ``hubspot`` or ``salesforce``), as a HubSpot deal or a Salesforce Opportunity holding the
opportunity id, so the write is idempotent; the outcome (won, lost, reopened) is read back on each
sync of that source and recorded like a Slack click (the CRM's word wins). Settings come from
``[crm]`` in ``expansion.toml``::

    [crm]
    source = "crm"                 # the [[sources]] entry to write to (default: the CRM source)
    create_on_assign = false       # create the CRM record when an opportunity is assigned
    pipeline = "default"           # HubSpot pipeline (id or label)
    portal_id = "1234567"          # HubSpot account id, for "Open in HubSpot" links
    [crm.stages]
    open = "appointmentscheduled"  # stage a new record is created in (id or label)
    won = ["closedwon"]            # stages that mean won ...
    lost = ["closedlost"]          # ... and lost; anything else is open

Public API (what the Slack button and the ``/expansion crm`` view call):

- :func:`load_settings` -> :class:`CrmSettings` (``ConfigError`` naming the key to fix);
- :func:`write_opportunity` (engine, an opportunity record from
  :func:`expansion.pipeline.opportunity`, the assignee's email) -> :class:`WriteResult`: creates
  the record or returns the one already written; raises a :class:`CrmError` subclass whose
  message is one line naming the fix;
- :func:`update_amounts` (after a re-scoring): the CRM amount follows the new expansion ARR
  while no person edited the record;
- :func:`read_back` (after a sync of the CRM source): outcomes of the records written, and of
  deals the team created by hand for the same account and type;
- :func:`records` / :func:`record`: what was written (ids, URLs, last errors) for the admin view;
- :func:`setup`: create the HubSpot property (or say which Salesforce field to create).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from .. import workflow
from ..connectors import SourceConfig, load_sources
from ..errors import (
    ConfigError,
    CrmBusyError,
    CrmConfigError,
    CrmError,
    CrmScopeError,
    CrmUnavailableError,
    ExpansionError,
)
from ..store import CrmRecord, utcnow

__all__ = [
    "CrmBusyError",
    "CrmConfigError",
    "CrmError",
    "CrmScopeError",
    "CrmSettings",
    "CrmUnavailableError",
    "ReadBackReport",
    "WriteResult",
    "crm_source",
    "display_name",
    "load_settings",
    "read_back",
    "record",
    "records",
    "setup",
    "update_amounts",
    "write_opportunity",
]

_RECORDS = CrmRecord.__table__
#: A claim older than this is taken over (its process died between claiming and writing).
CLAIM_LEASE = timedelta(minutes=2)
#: An open CRM record this long past its close date is reported as stale, not counted.
STALE_AFTER = timedelta(days=90)
CRM_KINDS = ("hubspot", "salesforce")


# --------------------------------------------------------------------------- errors


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class CrmSettings:
    """``[crm]`` of ``expansion.toml`` (see the module docstring)."""

    source: str = ""
    create_on_assign: bool = False
    pipeline: str = "default"
    portal_id: str = ""
    stages: dict[str, Any] = field(
        default_factory=lambda: {
            "open": "appointmentscheduled",
            "won": ["closedwon"],
            "lost": ["closedlost"],
        }
    )
    #: HubSpot deal property / Salesforce Opportunity field holding the opportunity id.
    id_property: str = "expansion_opportunity_id"
    salesforce_id_field: str = "Expansion_Opportunity_Id__c"
    #: Deal property (HubSpot) or Opportunity field (Salesforce) holding the opportunity type;
    #: written on create, and matched against deals made by hand ("" = match the name only).
    type_property: str = ""
    salesforce_type: str = "Existing Customer - Upgrade"
    #: StageName of a new Salesforce Opportunity (won / lost are Salesforce's IsWon / IsClosed).
    salesforce_stage: str = "Prospecting"
    loss_reason_property: str = "closed_lost_reason"

    @property
    def open_stage(self) -> str:
        return str(self.stages["open"])

    @property
    def won_stages(self) -> list[str]:
        return list(self.stages["won"])

    @property
    def lost_stages(self) -> list[str]:
        return list(self.stages["lost"])


def settings_from_mapping(
    data: Mapping[str, Any], *, origin: str = "expansion.toml"
) -> CrmSettings:
    """``[crm]`` as :class:`CrmSettings`; unknown keys and bad values are a ``ConfigError``."""
    known = {f.name: f for f in fields(CrmSettings)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"{origin}: unknown [crm] setting(s) {', '.join(unknown)}. "
            f"Known: {', '.join(sorted(known))}."
        )
    defaults = CrmSettings()
    values: dict[str, Any] = {}
    for key, value in data.items():
        default = getattr(defaults, key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{origin}: [crm] {key} must be true or false, got {value!r}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"{origin}: [crm] {key} must be a whole number >= 1, got {value!r}"
                )
        elif isinstance(default, str):
            if isinstance(value, int) and not isinstance(value, bool) and key == "portal_id":
                value = str(value)
            if not isinstance(value, str):
                raise ConfigError(f'{origin}: [crm] {key} must be a string, e.g. {key} = "..."')
            value = value.strip()
        elif key == "stages":
            value = _stages(value, default, origin)
        values[key] = value
    return CrmSettings(**values)


def _stages(value: Any, default: dict[str, Any], origin: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(
            f'{origin}: [crm.stages] must be a table: open = "...", won = [...], lost = [...]'
        )
    unknown = sorted(set(value) - {"open", "won", "lost"})
    if unknown:
        raise ConfigError(
            f"{origin}: [crm.stages] has unknown key(s) {', '.join(unknown)}; known: open, won, lost"
        )
    merged = {**default, **value}
    if not isinstance(merged["open"], str) or not merged["open"].strip():
        raise ConfigError(
            f'{origin}: [crm.stages] open must name one stage, e.g. open = "qualifiedtobuy"'
        )
    for key in ("won", "lost"):
        stages = merged[key]
        if isinstance(stages, str):
            stages = [stages]
        if (
            not isinstance(stages, list)
            or not stages
            or not all(isinstance(s, str) and s.strip() for s in stages)
        ):
            raise ConfigError(
                f'{origin}: [crm.stages] {key} must be a list of stages, e.g. {key} = ["closed{key}"]'
            )
        merged[key] = [s.strip() for s in stages]
    overlap = set(merged["won"]) & set(merged["lost"])
    if overlap:
        raise ConfigError(
            f"{origin}: [crm.stages] stage(s) {', '.join(sorted(overlap))} cannot be both won and lost"
        )
    if merged["open"] in merged["won"] + merged["lost"]:
        raise ConfigError(
            f"{origin}: [crm.stages] open stage {merged['open']} is also a closed stage"
        )
    return merged


def load_settings(path: str | Path | None = None) -> CrmSettings:
    """``[crm]`` of the settings file in force (defaults when there is none)."""
    from ..config import read_settings_file

    found, data = read_settings_file(path)
    table = data.get("crm", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{found}: [crm] must be a table")
    return settings_from_mapping(table, origin=str(found or "expansion.toml"))


def display_name(kind: str) -> str:
    """How a CRM is named to people: ``HubSpot``, ``Salesforce``."""
    return {"hubspot": "HubSpot", "salesforce": "Salesforce"}.get(kind, kind.title())


def crm_source(
    settings: CrmSettings, sources: list[SourceConfig] | None = None, path=None
) -> SourceConfig:
    """The ``[[sources]]`` entry opportunities are written to: ``[crm] source``, else the only
    source of type hubspot or salesforce."""
    sources = load_sources(path) if sources is None else sources
    crm = [s for s in sources if s.type in CRM_KINDS]
    if settings.source:
        named = [s for s in sources if s.name == settings.source]
        if not named:
            raise ConfigError(
                f"[crm] source = '{settings.source}' names no [[sources]] entry; "
                f"sources: {', '.join(s.name for s in sources) or 'none'}"
            )
        if named[0].type not in CRM_KINDS:
            raise ConfigError(
                f"[crm] source '{settings.source}' is of type {named[0].type}; "
                "write-back needs a hubspot or salesforce source"
            )
        return named[0]
    if len(crm) != 1:
        raise ConfigError(
            "no HubSpot or Salesforce source to write to: add one under [[sources]]"
            if not crm
            else 'several CRM sources: say which one to write to with [crm] source = "..."'
        )
    return crm[0]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class WriteResult:
    """What :func:`write_opportunity` did. ``created`` is False when the record existed already
    (a second click, a retry); ``unowned`` when no CRM user has the assignee's email."""

    opportunity_id: str
    crm: str
    crm_id: str
    url: str | None
    created: bool
    unowned: bool = False
    message: str = ""


def record(engine: sa.Engine, opportunity_id: str) -> CrmRecord | None:
    """The CRM record of one opportunity (any status), or ``None``."""
    with engine.connect() as conn:
        row = (
            conn.execute(sa.select(_RECORDS).where(_RECORDS.c.opportunity_id == opportunity_id))
            .mappings()
            .first()
        )
    return CrmRecord(**row) if row else None


def records(
    engine: sa.Engine, *, source: str | None = None, opportunity_ids: list[str] | None = None
) -> pd.DataFrame:
    """Every CRM record (for the admin view: ids, URLs, stages, last errors), newest first;
    only those of ``opportunity_ids`` when given (the cards of one message)."""
    query = sa.select(_RECORDS).order_by(_RECORDS.c.updated_at.desc())
    if source is not None:
        query = query.where(_RECORDS.c.source == source)
    if opportunity_ids is not None:
        query = query.where(_RECORDS.c.opportunity_id.in_([str(i) for i in opportunity_ids]))
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def _claim(
    engine: sa.Engine, opp: Mapping[str, Any], source: SourceConfig
) -> tuple[str, CrmRecord | None]:
    """Claim the write of ``opp``: ``(token, None)`` when this caller writes, ``("", row)`` when
    it was written already. Raises CrmBusyError while another caller holds a fresh claim."""
    token = uuid.uuid4().hex
    now = utcnow()
    values = {
        "opportunity_id": str(opp["opportunity_id"]),
        "account_id": str(opp["account_id"]),
        "source": source.name,
        "crm": source.type,
        "status": "claimed",
        "origin": "created",
        "claim": token,
        "claimed_at": now,
        "updated_at": now,
        "unowned": False,
    }
    try:
        with engine.begin() as conn:
            conn.execute(_RECORDS.insert().values(**values))
        return token, None
    except sa.exc.IntegrityError:
        pass
    existing = record(engine, str(opp["opportunity_id"]))
    if existing is None:  # deleted in between: try once more
        return _claim(engine, opp, source)
    if existing.status == "written":
        return "", existing
    claimed_at = pd.Timestamp(existing.claimed_at)
    claimed_at = claimed_at.tz_localize("UTC") if claimed_at.tzinfo is None else claimed_at
    if existing.status == "claimed" and pd.Timestamp(now) - claimed_at < CLAIM_LEASE:
        raise CrmBusyError(
            f"{opp['opportunity_id']} is being written to the CRM by another click right now; "
            "try again in a minute."
        )
    # A failed write, or a claim whose process died: take it over, unless someone else just did.
    with engine.begin() as conn:
        taken = conn.execute(
            _RECORDS.update()
            .where(
                _RECORDS.c.opportunity_id == existing.opportunity_id,
                _RECORDS.c.claim == existing.claim,
            )
            .values(status="claimed", claim=token, claimed_at=now, updated_at=now)
        ).rowcount
    if not taken:
        raise CrmBusyError(
            f"{opp['opportunity_id']} is being written to the CRM by another click right now; "
            "try again in a minute."
        )
    return token, None


def _finish(engine: sa.Engine, opportunity_id: str, token: str, values: dict) -> None:
    with engine.begin() as conn:
        conn.execute(
            _RECORDS.update()
            .where(_RECORDS.c.opportunity_id == opportunity_id, _RECORDS.c.claim == token)
            .values(status="written", error=None, error_at=None, updated_at=utcnow(), **values)
        )


def _fail(engine: sa.Engine, opportunity_id: str, token: str, message: str) -> None:
    """Give the claim back with the error (no CRM id is kept: nothing half-written)."""
    with engine.begin() as conn:
        conn.execute(
            _RECORDS.update()
            .where(_RECORDS.c.opportunity_id == opportunity_id, _RECORDS.c.claim == token)
            .values(status="failed", error=message, error_at=utcnow(), updated_at=utcnow())
        )


def _writer(source: SourceConfig, settings: CrmSettings, env: Mapping[str, str] | None):
    if source.type == "hubspot":
        from .hubspot import HubSpotWriter

        return HubSpotWriter(source, settings, env)
    if source.type == "salesforce":
        from .salesforce import SalesforceWriter

        return SalesforceWriter(source, settings, env)
    raise ConfigError(f"source '{source.name}' is of type {source.type}: no CRM to write to")


def write_opportunity(
    engine: sa.Engine,
    opportunity: Mapping[str, Any],
    *,
    assignee_email: str | None,
    settings: CrmSettings,
    source: SourceConfig,
    env: Mapping[str, str] | None = None,
) -> WriteResult:
    """Create ``opportunity`` (a record of :func:`expansion.pipeline.opportunity`: its id,
    account_id, account_name, type, type_label, expansion_arr, close_probability, pitch_by /
    close_by dates) in the CRM, owned by the CRM user with ``assignee_email``.

    Idempotent: a row claims the write before the CRM is called (one caller writes, the others
    get :class:`CrmBusyError` or the record written), and the CRM is searched for the
    opportunity id before creating (a retry after a timeout finds what the first try made).

    Raises:
        CrmScopeError, CrmConfigError, CrmUnavailableError, CrmBusyError: nothing was written
        locally; the message names the fix.
    """
    opportunity_id = str(opportunity["opportunity_id"])
    token, existing = _claim(engine, opportunity, source)
    if existing is not None:
        return WriteResult(
            opportunity_id,
            existing.crm,
            str(existing.crm_id),
            existing.url,
            created=False,
            unowned=bool(existing.unowned),
        )
    try:
        writer = _writer(source, settings, env)
        try:
            written = writer.create(opportunity, assignee_email)
        finally:
            writer.close()
    except ExpansionError as exc:
        _fail(engine, opportunity_id, token, str(exc))
        raise
    except BaseException as exc:
        _fail(engine, opportunity_id, token, f"{type(exc).__name__}: {exc}")
        raise
    _finish(
        engine,
        opportunity_id,
        token,
        {
            "crm_id": written.crm_id,
            "url": written.url,
            "opportunity_type": str(opportunity.get("type") or ""),
            "written_amount": float(opportunity["expansion_arr"]),
            "close_probability": _float(opportunity.get("close_probability")),
            "owner_email": assignee_email,
            "unowned": written.owner_id is None,
            "stage": written.stage,
            "close_date": written.close_date,
        },
    )
    message = ""
    if written.owner_id is None and assignee_email:
        message = (
            f"No {display_name(source.type)} user has the email {assignee_email}: the record was "
            "created without an owner. Add the user in the CRM (or give them that email) and "
            "assign the record there."
        )
    return WriteResult(
        opportunity_id,
        source.type,
        written.crm_id,
        written.url,
        created=True,
        unowned=written.owner_id is None,
        message=message,
    )


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def close_date(opp: Mapping[str, Any], *, today: date | None = None) -> date:
    """When the deal should close: its best time to pitch plus the close cycle of its effort
    (``close_cycle_days_by_effort``, seed 003's timing), else its deadline, else 90 days out."""
    from ..config import DEFAULT_CONFIG

    best = pd.to_datetime(opp.get("best_time"), errors="coerce")
    if pd.notna(best):
        effort = _float(opp.get("effort_score")) or 1.0
        days = next(
            (d for bound, d in DEFAULT_CONFIG.close_cycle_days_by_effort if effort >= bound),
            DEFAULT_CONFIG.close_cycle_days_by_effort[-1][1],
        )
        return (best + pd.Timedelta(days=days)).date()
    deadline = pd.to_datetime(opp.get("deadline"), errors="coerce")
    if pd.notna(deadline):
        return deadline.date()
    return (today or utcnow().date()) + timedelta(days=90)


@dataclass(frozen=True)
class Written:
    """What a writer created: the CRM id, its URL, the owner it got (None: unowned)."""

    crm_id: str
    url: str | None
    owner_id: str | None
    stage: str | None
    close_date: date | None


def update_amounts(
    engine: sa.Engine,
    opportunities: pd.DataFrame,
    *,
    settings: CrmSettings,
    source: SourceConfig,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """After a re-scoring: set the CRM amount of each written record to the opportunity's new
    ``expansion_arr``, unless a person edited the record since the product wrote it (their
    edit wins). Returns opportunity id -> what happened (``updated``, ``kept: edited in the
    CRM``), for the records whose amount changed."""
    written = records(engine, source=source.name)
    written = written[(written["status"] == "written") & (written["origin"] == "created")]
    new = opportunities.set_index("opportunity_id")["expansion_arr"].astype(float)
    written = written[written["opportunity_id"].isin(new.index)]
    changed = written[(written["opportunity_id"].map(new) - written["written_amount"]).abs() >= 0.5]
    if changed.empty:
        return {}
    writer = _writer(source, settings, env)
    outcome: dict[str, str] = {}
    try:
        current = writer.read(changed["crm_id"].tolist())
        for row in changed.itertuples():
            state = current.get(str(row.crm_id))
            if state is None:
                outcome[row.opportunity_id] = "kept: the CRM record is gone"
                continue
            if state.edited_by_person or (
                state.amount is not None and abs(state.amount - float(row.written_amount)) >= 0.5
            ):
                outcome[row.opportunity_id] = "kept: edited in the CRM"
                continue
            amount = float(new[row.opportunity_id])
            writer.update_amount(str(row.crm_id), amount)
            with engine.begin() as conn:
                conn.execute(
                    _RECORDS.update()
                    .where(_RECORDS.c.opportunity_id == row.opportunity_id)
                    .values(written_amount=amount, updated_at=utcnow())
                )
            outcome[row.opportunity_id] = "updated"
    finally:
        writer.close()
    return outcome


# --------------------------------------------------------------------------- read back


@dataclass(frozen=True)
class CrmState:
    """One CRM record as read back."""

    crm_id: str
    stage: str | None
    amount: float | None
    close_date: date | None
    loss_reason: str | None = None
    edited_by_person: bool = False


@dataclass
class ReadBackReport:
    """What :func:`read_back` changed: outcomes recorded, hand-made deals matched, and open
    records long past their close date (reported, not counted as losses)."""

    won: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [
            f"{len(v)} {k}"
            for k, v in (
                ("won", self.won),
                ("lost", self.lost),
                ("reopened", self.reopened),
                ("hand-made matched", self.matched),
                ("stale (open 90 days past close date)", self.stale),
            )
            if v
        ]
        return "CRM outcomes: " + (", ".join(parts) if parts else "no change")


def _opened_at(engine: sa.Engine, ids: list[str]) -> dict[str, datetime]:
    """When each opportunity was first acted on (its first audit event), else first scored."""
    from ..store import OpportunityEvent, ScoreRun

    events = OpportunityEvent.__table__
    runs = ScoreRun.__table__
    with engine.connect() as conn:
        first = dict(
            conn.execute(
                sa.select(events.c.opportunity_id, sa.func.min(events.c.at))
                .where(events.c.opportunity_id.in_(ids))
                .group_by(events.c.opportunity_id)
            ).all()
        )
        scored = conn.execute(sa.select(sa.func.min(runs.c.created_at))).scalar()
    return {i: first.get(i) or scored for i in ids if first.get(i) or scored}


def read_back(
    engine: sa.Engine,
    opportunities: pd.DataFrame,
    *,
    settings: CrmSettings,
    source: SourceConfig,
    env: Mapping[str, str] | None = None,
    today: date,
) -> ReadBackReport:
    """Read the outcome of every CRM record of ``source`` (won, lost, reopened) and record it
    (actor ``crm:<source>``); match deals made by hand to the open ``opportunities`` (the latest
    scoring: opportunity_id, account_id, type, type_label, product_name, expansion_arr,
    close_probability) of the same account and type created after the opportunity."""
    report = ReadBackReport()
    writer = _writer(source, settings, env)
    try:
        _match_hand_made(engine, opportunities, writer, source, report)
        known = records(engine, source=source.name)
        known = known[known["status"] == "written"]
        if known.empty:
            return report
        current = writer.read(known["crm_id"].tolist())
        states = workflow.states(engine, known["opportunity_id"].tolist())
        for row in known.itertuples():
            state = current.get(str(row.crm_id))
            if state is None:
                continue
            _apply(engine, row, state, states, settings, source, today, report)
    finally:
        writer.close()
    return report


def _apply(engine, row, state: CrmState, states, settings, source, today, report) -> None:
    actor = f"crm:{source.name}"
    opp = workflow.Opportunity(
        opportunity_id=row.opportunity_id,
        account_id=row.account_id,
        close_probability=_float(row.close_probability),
        expansion_arr=state.amount if state.amount is not None else _float(row.written_amount),
    )
    stored = states["outcome"].get(row.opportunity_id, "open") if len(states) else "open"
    was_closed = row.stage in settings.won_stages + settings.lost_stages
    with engine.begin() as conn:
        conn.execute(
            _RECORDS.update()
            .where(_RECORDS.c.opportunity_id == row.opportunity_id)
            .values(stage=state.stage, close_date=state.close_date, updated_at=utcnow())
        )
    closed = state.close_date.isoformat() if state.close_date else "no close date"
    if state.stage in settings.won_stages:
        if workflow.set_outcome(
            engine,
            opp,
            "won",
            actor=actor,
            today=today,
            detail=f"won in {source.type}, {_money(state.amount)}, closed {closed}",
        ):
            report.won.append(row.opportunity_id)
    elif state.stage in settings.lost_stages:
        reason = f": {state.loss_reason}" if state.loss_reason else ""
        if workflow.set_outcome(
            engine,
            opp,
            "lost",
            actor=actor,
            today=today,
            detail=f"lost in {source.type}, closed {closed}{reason}",
        ):
            report.lost.append(row.opportunity_id)
    else:
        if (
            was_closed
            and stored in ("won", "lost")
            and workflow.set_outcome(
                engine, opp, "open", actor=actor, today=today, detail=f"reopened in {source.type}"
            )
        ):
            report.reopened.append(row.opportunity_id)
        if state.close_date is not None and today > state.close_date + STALE_AFTER:
            report.stale.append(row.opportunity_id)


def _money(amount: float | None) -> str:
    return "no amount" if amount is None else f"${amount:,.0f}"


def _match_hand_made(engine, opportunities: pd.DataFrame, writer, source, report) -> None:
    if opportunities.empty:
        return
    taken = records(engine)
    candidates = opportunities[~opportunities["opportunity_id"].isin(taken["opportunity_id"])]
    if candidates.empty:
        return
    opened = _opened_at(engine, candidates["opportunity_id"].tolist())
    deals = writer.hand_made(sorted(set(candidates["account_id"].astype(str))))
    used = set(taken["crm_id"].dropna().astype(str))
    for opp in candidates.itertuples():
        since = opened.get(opp.opportunity_id)
        if since is None:
            continue
        since = pd.Timestamp(since)
        since = since.tz_localize("UTC") if since.tzinfo is None else since
        since = since.floor("s")  # Salesforce stamps whole seconds
        names = [
            str(x).lower()
            for x in (getattr(opp, "type_label", None), getattr(opp, "product_name", None))
            if isinstance(x, str) and x
        ]
        for deal in deals.get(str(opp.account_id), []):
            if deal.crm_id in used or pd.Timestamp(deal.created_at) < since:
                continue
            if not (
                (deal.type and deal.type == opp.type) or any(n in deal.name.lower() for n in names)
            ):
                continue
            used.add(deal.crm_id)
            now = utcnow()
            with engine.begin() as conn:
                conn.execute(
                    _RECORDS.insert().values(
                        opportunity_id=opp.opportunity_id,
                        account_id=str(opp.account_id),
                        source=source.name,
                        crm=source.type,
                        status="written",
                        origin="matched",
                        claim="",
                        claimed_at=now,
                        updated_at=now,
                        crm_id=deal.crm_id,
                        url=deal.url,
                        opportunity_type=str(opp.type),
                        written_amount=deal.amount,
                        close_probability=_float(getattr(opp, "close_probability", None)),
                        unowned=False,
                    )
                )
            report.matched.append(opp.opportunity_id)
            break


@dataclass(frozen=True)
class HandMadeDeal:
    """A CRM deal not written by the product, on one account."""

    crm_id: str
    name: str
    type: str | None
    created_at: datetime
    amount: float | None
    url: str | None


# --------------------------------------------------------------------------- setup


def setup(
    *, settings: CrmSettings, source: SourceConfig, env: Mapping[str, str] | None = None
) -> list[str]:
    """Prepare the CRM for write-back; returns what was done or what to do, one line each."""
    writer = _writer(source, settings, env)
    try:
        return writer.setup()
    finally:
        writer.close()


# --------------------------------------------------------------------------- after a sync


def configured(path: str | Path | None = None) -> bool:
    """Whether the settings file has a ``[crm]`` table (write-back and read-back are on)."""
    from ..config import read_settings_file

    return "crm" in read_settings_file(path)[1]


def after_sync(
    engine: sa.Engine,
    synced: list[str],
    *,
    as_of: date,
    config=None,
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    sources: list[SourceConfig] | None = None,
) -> list[str]:
    """What a sync does for the CRM once it re-scored, when ``[crm]`` is configured and the CRM
    source is among the ``synced`` sources: amounts follow the new scoring (unless a person
    edited them), outcomes are read back. Returns lines to show; a CRM failure is one of them
    (the sync itself succeeded). ``sources``: the ``[[sources]]`` to pick the CRM source from
    (the bot passes a workspace's own), else those of the settings file."""
    from .. import pipeline
    from ..config import DEFAULT_CONFIG

    if not configured(path):
        return []
    settings = load_settings(path)
    source = crm_source(settings, sources, path=path)
    if source.name not in synced:
        return []
    opps = pipeline.find(
        engine, "all", as_of=as_of, config=config or DEFAULT_CONFIG, include_closed=True
    ).opportunities
    lines: list[str] = []
    try:
        amounts = update_amounts(engine, opps, settings=settings, source=source, env=env)
        if amounts:
            updated = sum(1 for v in amounts.values() if v == "updated")
            lines.append(
                f"CRM amounts: {updated} updated, {len(amounts) - updated} kept (edited in the CRM)"
            )
        report = read_back(
            engine,
            opps[opps["outcome"].fillna("open") == "open"] if "outcome" in opps else opps,
            settings=settings,
            source=source,
            env=env,
            today=as_of,
        )
        lines.append(report.summary())
    except ExpansionError as exc:
        lines.append(f"CRM read-back failed (the sync is kept): {exc}")
    return lines
