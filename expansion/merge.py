"""One portfolio from several sources: which source wins each field, and where they disagree.

Sources overlap: a CRM (HubSpot, Salesforce) and a warehouse may both know an account's seats.
The rule, by the role of each source (``crm``, ``warehouse``, ``files``):

- **Contract fields** (name, ARR, plan, licensed seats, renewal, owner, subscriptions, catalog,
  everything not listed below): ``crm`` wins, then ``files``, then ``warehouse``.
- **Usage fields** (the ``usage`` and ``features`` tables, and an account's ``active_seats``,
  ``support_tickets_90d``, ``engagement``, a department's ``seats``): ``warehouse`` wins, then
  ``files``, then ``crm``.

Field by field: when the winning source has no value, the next one's is used. Sources of the
same role rank by name. Two sources giving different non-empty values for the same field of the
same row is a *conflict*: the winner's value is used and the conflict is reported (never hidden)
by :func:`merge` for ``expansion sources`` and sync reports.
"""

from __future__ import annotations

import pandas as pd

from .errors import NoDataError
from .frames import per_distinct, sorted_by
from .ingest import UNIQUE_KEYS, derive_account_defaults

KEYS = UNIQUE_KEYS  # rows of one account (or product) from several sources merge on these
USAGE_FIELDS = {
    "accounts": {"active_seats", "support_tickets_90d", "engagement"},
    "departments": {"seats"},
}
USAGE_TABLES = {"usage", "features"}
CONTRACT_ORDER = ("crm", "files", "warehouse")
USAGE_ORDER = ("warehouse", "files", "crm")
CONFLICT_COLUMNS = ["table", "key", "column", "winner", "value", "other_source", "other_value"]


def conflict_counts(conflicts: pd.DataFrame) -> str:
    """``accounts.arr: 3, usage.value: 12``: how many values disagree, per table and column."""
    counts = conflicts.groupby(["table", "column"]).size()
    return ", ".join(f"{table}.{column}: {n}" for (table, column), n in counts.items())


def _rank(sources: pd.Series, roles: dict[str, str], order: tuple[str, ...]) -> pd.Series:
    rank = {role: index for index, role in enumerate(order)}
    return per_distinct(  # a few sources over millions of rows
        sources,
        lambda distinct: distinct.map(lambda s: rank.get(roles.get(s, "files"), len(order))),
        dtype=int,
    )


def merge(
    frames: dict[str, pd.DataFrame], roles: dict[str, str], *, conflicts: bool = True
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Merge every table's rows from all sources (each frame has a ``source`` column).

    Returns the merged tables (without ``source``) and the conflicts found (none looked for
    unless ``conflicts``: scoring only needs the tables).
    """
    report_conflicts = conflicts
    out: dict[str, pd.DataFrame] = {}
    found_parts: list[pd.DataFrame] = []
    for name, frame in frames.items():
        sources = frame["source"].unique() if "source" in frame else []
        if len(sources) <= 1 or name not in KEYS:
            merged = frame.drop(columns="source", errors="ignore")
            if len(sources) > 1:  # signals: no key; the same fact from two sources counts once
                merged = merged.drop_duplicates(ignore_index=True)
            out[name] = merged.reset_index(drop=True)
            continue
        merged, found = _merge_table(name, frame, roles, report_conflicts)
        out[name] = merged
        if len(found):
            found_parts.append(found)
    report = (
        pd.concat(found_parts, ignore_index=True)
        if found_parts
        else pd.DataFrame(columns=CONFLICT_COLUMNS)
    )
    return out, report


def merge_frames(
    frames: dict[str, pd.DataFrame], roles: dict[str, str], *, conflicts: bool = True
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Sources' rows (``source`` column says whose) merged into the portfolio the engine scores:
    :func:`merge`, then accounts with no name or ARR from any source left out, account defaults
    derived and every table's rows in key order (what :mod:`expansion.store` keeps as the
    scoring snapshot).

    Raises:
        NoDataError: no accounts.
    """
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


def _merge_table(
    name: str, frame: pd.DataFrame, roles: dict[str, str], report_conflicts: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    keys = KEYS[name]
    values = [c for c in frame.columns if c not in (*keys, "source")]
    usage = set(values) if name in USAGE_TABLES else USAGE_FIELDS.get(name, set())
    parts = []
    conflicts: list[pd.DataFrame] = []
    for columns, order in (
        ([c for c in values if c not in usage], CONTRACT_ORDER),
        ([c for c in values if c in usage], USAGE_ORDER),
    ):
        ranked = frame.assign(
            _rank=_rank(frame["source"], roles, order), _source_name=frame["source"]
        ).sort_values(["_rank", "_source_name"], kind="stable")
        # First non-empty value per key in rank order: the winner, field by field.
        parts.append(
            ranked.groupby(keys, sort=False, dropna=False)[columns].first() if columns else None
        )
        if report_conflicts:
            conflicts.extend(_conflicts(name, ranked, keys, column) for column in columns)
    first_seen = frame[keys].drop_duplicates()
    merged = first_seen.set_index(keys)
    for part in parts:
        if part is not None:
            merged = merged.join(part)
    merged = merged.reset_index()[[c for c in frame.columns if c != "source"]]
    found = [c for c in conflicts if len(c)]
    return merged, (
        pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=CONFLICT_COLUMNS)
    )


def _key_text(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    text = frame[keys[0]].astype(str)
    for key in keys[1:]:
        text = text.str.cat(frame[key].astype(str), sep=" / ")
    return text


def _conflicts(name: str, ranked: pd.DataFrame, keys: list[str], column: str) -> pd.DataFrame:
    """Rows whose non-empty ``column`` differs from the winning source's value for that key."""
    present = ranked.loc[ranked[column].notna(), [*keys, column, "_source_name"]]
    present = present.assign(_text=present[column].astype(str))
    present = present[present["_text"] != ""]
    if present.empty:
        return pd.DataFrame(columns=CONFLICT_COLUMNS)
    winners = present.drop_duplicates(keys, keep="first")  # ranked: the first is the winner
    joined = present.merge(
        winners[[*keys, "_text", "_source_name"]], on=keys, suffixes=("", "_winner")
    )
    disagree = joined[joined["_text"] != joined["_text_winner"]]
    if disagree.empty:
        return pd.DataFrame(columns=CONFLICT_COLUMNS)
    return pd.DataFrame(
        {
            "table": name,
            "key": _key_text(disagree, keys).values,
            "column": column,
            "winner": disagree["_source_name_winner"].values,
            "value": disagree["_text_winner"].values,
            "other_source": disagree["_source_name"].values,
            "other_value": disagree["_text"].values,
        },
        columns=CONFLICT_COLUMNS,
    )
