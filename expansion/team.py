"""The team the Assign control suggests owners from, and who carries how much.

The ``users`` table (:class:`expansion.store.TeamMember`) holds the people an opportunity may go
to: e-mail (the key, as the CRM names account owners), Slack user id, name, role (``CSM``,
``AE`` or ``other``) and capacity (the most open assigned opportunities they should carry).
Admins fill it one person at a time (``/expansion team add``, ``expansion team add``) or from the
CRM's account owners (:func:`import_owners`: every owner e-mail in the synced data becomes a
``CSM`` with the default capacity, unless the table already has that e-mail, even removed).

:func:`suggest_owners` and :func:`workload` are pure: they read frames (the scored book with
each opportunity's assignee, the account profiles, the members) and compute everything at once
with pandas, so the same answer comes from the bot, the command line and the tests.

How suggestions rank (seed 001's handoff rule: above $50K of expansion ARR involve an AE):

1. the account owner, unless at capacity;
2. everyone else with room, by motion fit (an AE for a deal above :data:`AE_HANDOFF_ARR`, a
   CSM at or below it; then the other of the two; then other roles), then whether they own
   accounts in the deal's segment, then remaining capacity, then how many accounts of the
   segment they own, then the lightest expected value;
3. people at or over capacity last (the owner among them), each saying so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .errors import TeamError as TeamError  # re-exported
from .numbers import money
from .store import TeamMember, upsert, utcnow

ROLES = ("CSM", "AE", "other")
DEFAULT_CAPACITY = 10
MAX_CAPACITY = 1000
#: Seed 001: "Handoff trigger: If total opportunity >$50K, involve AE".
AE_HANDOFF_ARR = 50_000.0

MEMBER_COLUMNS = [
    "email",
    "slack_user_id",
    "name",
    "role",
    "capacity",
    "active",
    "origin",
    "updated_by",
    "updated_at",
]
SUGGESTION_COLUMNS = [
    "slack_user_id",
    "email",
    "name",
    "role",
    "is_owner",
    "open",
    "open_ev",
    "tier1",
    "capacity",
    "segment_accounts",
    "at_capacity",
    "fit",
    "reason",
]
WORKLOAD_COLUMNS = [
    "slack_user_id",
    "email",
    "name",
    "role",
    "open",
    "open_ev",
    "tier1",
    "capacity",
    "used",
    "in_team",
]

_USERS = TeamMember.__table__  # type: ignore[attr-defined]
_EMAIL = re.compile(r"[^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+")


# --------------------------------------------------------------------------- the users table


def role_of(text: str) -> str:
    """``csm`` / ``AE`` / ``Other`` -> the stored role.

    Raises:
        TeamError: not one of :data:`ROLES`.
    """
    for role in ROLES:
        if str(text).strip().lower() == role.lower():
            return role
    raise TeamError(f"Role must be one of {', '.join(ROLES)}, not {str(text)[:40]!r}.")


def capacity_of(text: object) -> int:
    """A capacity (open assigned opportunities), 0 to :data:`MAX_CAPACITY`.

    Raises:
        TeamError: not a whole number in that range.
    """
    try:
        value = int(str(text).strip())
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_CAPACITY:
        raise TeamError(
            f"Capacity is the most open opportunities a person should carry: a whole number "
            f"from 0 to {MAX_CAPACITY}, not {str(text)[:40]!r}."
        )
    return value


def email_of(text: str) -> str:
    """A normalised e-mail (lower case).

    Raises:
        TeamError: not an e-mail address.
    """
    value = str(text).strip().lower()
    if not _EMAIL.fullmatch(value) or len(value) > 255:
        raise TeamError(f"{str(text)[:80]!r} is not an e-mail address.")
    return value


def add_member(
    engine: sa.Engine,
    *,
    email: str,
    role: str,
    capacity: int | str = DEFAULT_CAPACITY,
    slack_user_id: str | None = None,
    name: str = "",
    actor: str = "",
    origin: str = "slack",
    at: datetime | None = None,
) -> bool:
    """Add (or update, and re-activate) one person; returns whether they were not an active
    member before (new, or removed)."""
    email = email_of(email)
    values = {
        "role": role_of(role),
        "capacity": capacity_of(capacity),
        "active": True,
        "updated_by": actor[:64],
        "updated_at": at or utcnow(),
    }
    if slack_user_id:
        values["slack_user_id"] = slack_user_id[:64]
    if name:
        values["name"] = name[:255]
    with engine.begin() as conn:
        active = conn.execute(
            sa.select(_USERS.c.email).where(_USERS.c.email == email, _USERS.c.active)
        ).first()
        new = active is None
        upsert(
            conn,
            _USERS,
            {"email": email},
            values,
            on_insert={"origin": origin[:16], "name": "", "slack_user_id": None},
        )
    return new


def remove_member(
    engine: sa.Engine,
    *,
    email: str | None = None,
    slack_user_id: str | None = None,
    actor: str = "",
) -> str | None:
    """Take one person out of suggestions (the row stays, inactive, so a later import from the
    CRM does not bring them back). Returns the e-mail, or ``None`` when nobody matched."""
    where = (
        _USERS.c.email == email_of(email)
        if email
        else _USERS.c.slack_user_id == (slack_user_id or "")
    )
    with engine.begin() as conn:
        found = conn.execute(sa.select(_USERS.c.email).where(where, _USERS.c.active)).first()
        if found is None:
            return None
        conn.execute(
            _USERS.update()
            .where(_USERS.c.email == found[0])
            .values(active=False, updated_by=actor[:64], updated_at=utcnow())
        )
    return str(found[0])


def members(engine: sa.Engine, *, include_inactive: bool = False) -> pd.DataFrame:
    """The team (active people unless ``include_inactive``), by role then name."""
    query = sa.select(_USERS)
    if not include_inactive:
        query = query.where(_USERS.c.active)
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    frame = frame.reindex(columns=MEMBER_COLUMNS)
    order = frame["role"].map({r: i for i, r in enumerate(ROLES)}).fillna(len(ROLES))
    return (
        frame.assign(_order=order, _name=frame["name"].fillna("").str.lower())
        .sort_values(["_order", "_name", "email"], kind="stable")
        .drop(columns=["_order", "_name"])
        .reset_index(drop=True)
    )


def remember_slack_ids(engine: sa.Engine, found: Mapping[str, str]) -> None:
    """Store the Slack ids found for members' e-mails (a CRM import knows only the e-mail)."""
    if not found:
        return
    with engine.begin() as conn:
        for email, user_id in found.items():
            conn.execute(
                _USERS.update()
                .where(_USERS.c.email == str(email).lower(), _USERS.c.slack_user_id.is_(None))
                .values(slack_user_id=user_id[:64])
            )


def import_owners(
    engine: sa.Engine,
    owners: Iterable[object],
    *,
    actor: str = "",
    capacity: int = DEFAULT_CAPACITY,
) -> list[str]:
    """Add every account-owner e-mail not yet in the table (even as removed) as a ``CSM`` with
    ``capacity``; returns the e-mails added. Values that are not e-mails are skipped."""
    wanted = sorted(
        {
            str(o).strip().lower()
            for o in owners
            if isinstance(o, str) and _EMAIL.fullmatch(str(o).strip().lower())
        }
    )
    if not wanted:
        return []
    with engine.begin() as conn:
        known = {r for (r,) in conn.execute(sa.select(_USERS.c.email))}
        added = [e for e in wanted if e not in known and len(e) <= 255]
        now = utcnow()
        for email in added:
            conn.execute(
                _USERS.insert().values(
                    email=email,
                    name="",
                    role="CSM",
                    capacity=capacity_of(capacity),
                    active=True,
                    origin="crm",
                    updated_by=actor[:64],
                    updated_at=now,
                )
            )
    return added


# --------------------------------------------------------------------------- the pure part


def _load(book: pd.DataFrame) -> pd.DataFrame:
    """Open assigned pipeline per assignee: count, expected value, Tier 1 count."""
    open_ = book
    if "active" in book.columns:
        open_ = book[book["active"].fillna(True).astype(bool)]
    open_ = open_[open_["assignee"].notna() & (open_["assignee"].astype(str) != "")]
    if open_.empty:
        return pd.DataFrame(
            {"open": pd.Series(dtype=int), "open_ev": pd.Series(dtype=float)},
            index=pd.Index([], name="slack_user_id"),
        ).assign(tier1=pd.Series(dtype=int))
    return (
        open_.assign(
            _ev=pd.to_numeric(open_["expected_value"], errors="coerce").fillna(0.0),
            _t1=(pd.to_numeric(open_["tier"], errors="coerce") == 1).astype(int),
        )
        .groupby(open_["assignee"].astype(str).rename("slack_user_id"))
        .agg(open=("_ev", "size"), open_ev=("_ev", "sum"), tier1=("_t1", "sum"))
    )


def _join(parts: list[pd.Series]) -> pd.Series:
    """Row-wise ``"; "``-join of the non-empty strings of ``parts``."""
    out = parts[0]
    for part in parts[1:]:
        sep = np.where((out != "") & (part != ""), "; ", "")
        out = out + sep + part
    return out


def workload(book: pd.DataFrame, team: pd.DataFrame) -> pd.DataFrame:
    """Each person's open expansion pipeline: the team's active members (with a Slack id), and
    anyone else with open assignments, most loaded first.

    ``book``: the scored opportunities with ``assignee``, ``active``, ``tier`` and
    ``expected_value``. ``team``: :func:`members` (``slack_user_id`` resolved where known).
    ``used`` is open / capacity (``NaN`` without a capacity).
    """
    load = _load(book)
    people = team[team["slack_user_id"].notna()].drop_duplicates("slack_user_id")
    people = people.set_index(people["slack_user_id"].astype(str).rename("slack_user_id"))
    people = people[["email", "name", "role", "capacity"]].assign(in_team=True)
    out = people.join(load, how="outer")
    out["in_team"] = out["in_team"].fillna(False).astype(bool)
    out["open"] = out["open"].fillna(0).astype(int)
    out["tier1"] = out["tier1"].fillna(0).astype(int)
    out["open_ev"] = out["open_ev"].fillna(0.0).astype(float)
    capacity = pd.to_numeric(out["capacity"], errors="coerce")
    out["used"] = (out["open"] / capacity.where(capacity > 0)).where(capacity > 0)
    out.loc[(capacity == 0) & (out["open"] > 0), "used"] = np.inf
    out = out.reset_index().sort_values(
        ["open_ev", "open", "slack_user_id"], ascending=[False, False, True], kind="stable"
    )
    return out.reindex(columns=WORKLOAD_COLUMNS).reset_index(drop=True)


def suggest_owners(
    opp: Mapping,
    book: pd.DataFrame,
    accounts: pd.DataFrame,
    team: pd.DataFrame,
    *,
    owner_user: str | None = None,
    ae_handoff: float = AE_HANDOFF_ARR,
) -> pd.DataFrame:
    """Who should take ``opp``, best first, each with a one-line reason.

    ``opp``: the opportunity (``account_id``, ``expansion_arr``, ``owner``, ``segment`` when
    known). ``book``: every scored opportunity with ``assignee``, ``active``, ``tier``,
    ``expected_value`` (open assigned pipeline is counted from it). ``accounts``: the account
    profiles (``account_id``, ``owner``, ``segment``), for segment familiarity. ``team``:
    :func:`members` with ``slack_user_id`` resolved where known (people without one cannot be
    assigned in Slack and are left out). ``owner_user``: the account owner's Slack id, so the
    owner is suggested even when not in the team.
    """
    people = team[team["slack_user_id"].notna() & team["active"].fillna(True).astype(bool)]
    people = people.drop_duplicates("slack_user_id").reindex(columns=MEMBER_COLUMNS)
    owner_email = str(opp.get("owner") or "").strip().lower()
    if owner_user and not (people["slack_user_id"] == owner_user).any():
        people = pd.concat(
            [
                people,
                pd.DataFrame(
                    [
                        {
                            "email": owner_email,
                            "slack_user_id": owner_user,
                            "name": "",
                            "role": "",
                            "capacity": np.nan,
                            "active": True,
                        }
                    ]
                ).reindex(columns=MEMBER_COLUMNS),
            ],
            ignore_index=True,
        )
    if people.empty:
        return pd.DataFrame(columns=SUGGESTION_COLUMNS)
    people = people.assign(
        slack_user_id=people["slack_user_id"].astype(str),
        email=people["email"].fillna("").astype(str).str.lower(),
    )
    out = people.join(_load(book), on="slack_user_id")
    for column in ("open", "tier1"):
        out[column] = out[column].fillna(0).astype(int)
    out["open_ev"] = out["open_ev"].fillna(0.0).astype(float)

    # Segment familiarity: accounts each e-mail owns in the deal's segment.
    segment = opp.get("segment")
    if not isinstance(segment, str) or not segment:
        match = accounts.loc[accounts["account_id"] == opp.get("account_id"), "segment"]
        segment = str(match.iloc[0]) if len(match) and isinstance(match.iloc[0], str) else ""
    owned = accounts[accounts["segment"] == segment] if segment else accounts.iloc[0:0]
    per_owner = owned["owner"].dropna().astype(str).str.strip().str.lower().value_counts()
    out["segment_accounts"] = out["email"].map(per_owner).fillna(0).astype(int)

    out["is_owner"] = (out["slack_user_id"] == (owner_user or "")) | (
        (out["email"] == owner_email) & (owner_email != "")
    )
    capacity = pd.to_numeric(out["capacity"], errors="coerce")
    out["at_capacity"] = (capacity.notna() & (out["open"] >= capacity)).astype(bool)
    remaining = (capacity - out["open"]).fillna(np.inf)

    deal = float(pd.to_numeric(pd.Series([opp.get("expansion_arr")]), errors="coerce").fillna(0)[0])
    big = deal > ae_handoff
    role = out["role"].fillna("")
    preferred, second = ("AE", "CSM") if big else ("CSM", "AE")
    out["fit"] = np.select([role == preferred, role == second], [2, 1], 0)

    # Order: owner first (with room), then fit, familiarity, room; at capacity last.
    owner_first = out["is_owner"] & ~out["at_capacity"]
    out = (
        out.assign(
            _first=~owner_first,
            _familiar=out["segment_accounts"] > 0,
            _remaining=remaining,
            _name=out["name"].fillna("").str.lower(),
        )
        .sort_values(
            [
                "at_capacity",
                "_first",
                "fit",
                "_familiar",
                "_remaining",
                "segment_accounts",
                "open_ev",
                "_name",
                "slack_user_id",
            ],
            ascending=[True, True, False, False, False, False, True, True, True],
            kind="stable",
        )
        .reset_index(drop=True)
    )

    # The reason, one line: load; familiarity; motion; capacity.
    empty = pd.Series("", index=out.index)
    owner_part = empty.mask(out["is_owner"], "account owner")
    t1 = np.where(out["tier1"] > 0, " (" + out["tier1"].astype(str) + " Tier 1)", "")
    load_part = pd.Series(
        np.where(
            out["open"] > 0,
            out["open"].astype(str) + " open" + t1 + ", " + out["open_ev"].map(money) + " EV",
            "nothing open",
        ),
        index=out.index,
    )
    seg_word = f" {segment}" if segment else ""
    seg_part = pd.Series(
        np.where(
            out["segment_accounts"] > 0,
            "owns "
            + out["segment_accounts"].astype(str)
            + seg_word
            + np.where(out["segment_accounts"] == 1, " account", " accounts"),
            "",
        ),
        index=out.index,
    )
    role = out["role"].fillna("")
    deal_text = money(deal)
    if big:
        motion = np.select(
            [role == "AE", role == "CSM"],
            [f"AE for a {deal_text} deal", f"involve an AE (>{money(ae_handoff)})"],
            "",
        )
    else:
        motion = np.where(role == "CSM", f"CSM-led {deal_text} deal", "")
    motion_part = pd.Series(motion, index=out.index)
    cap_num = pd.to_numeric(out["capacity"], errors="coerce")
    cap_part = pd.Series(
        np.where(
            out["at_capacity"],
            np.where(out["open"] > cap_num, "over capacity", "at capacity")
            + " ("
            + out["open"].astype(str)
            + " of "
            + cap_num.fillna(0).astype(int).astype(str)
            + ")",
            "",
        ),
        index=out.index,
    )
    out["reason"] = _join([owner_part, load_part, seg_part, motion_part, cap_part])
    return out.reindex(columns=SUGGESTION_COLUMNS)
