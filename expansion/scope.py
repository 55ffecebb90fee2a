"""The scope grammar shared by ``expansion find`` and ``/find-expansion-opportunities``.

Examples: ``enterprise``, ``mid-market 60``, ``all accounts``, ``accounts at 80% seat usage``,
``enterprise renewing in 90 days``, ``renewing in Q4``, ``renewing this quarter``,
``owner maya@example.com``, ``healthy smb``, ``Acme Corp`` (an account name). A trailing number
is the minimum propensity (seed 000's ``[segment] [min-propensity]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta

import pandas as pd

from .errors import ScopeError

ACCEPTED_FORMS = [
    "a segment: enterprise, mid-market, smb",
    "all (or: all accounts)",
    "at 80% seat usage",
    "renewing in 90 days / renewing in Q4 / renewing this quarter / renewing next quarter",
    "owner <email or Slack user ID>",
    "healthy (health 70+)",
    "an account name",
    "a trailing number: minimum propensity 0-100 (e.g. enterprise 60)",
]

_SEGMENTS = {
    "enterprise": "enterprise",
    "ent": "enterprise",
    "mid-market": "mid-market",
    "mid market": "mid-market",
    "midmarket": "mid-market",
    "mm": "mid-market",
    "smb": "smb",
    "small business": "smb",
}
_FILLER = {
    "accounts",
    "account",
    "customers",
    "customer",
    "with",
    "and",
    "the",
    "in",
    "segment",
    "opportunities",
    "for",
    "of",
    "propensity",
    "min",
    "minimum",
    "show",
    "me",
    "list",
    "find",
}
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30}


@dataclass(frozen=True)
class Scope:
    """A parsed scope. Empty fields do not filter."""

    text: str = ""
    segments: tuple[str, ...] = ()
    everything: bool = False
    min_seat_usage: float | None = None
    renewal_start: date | None = None
    renewal_end: date | None = None
    renewal_label: str | None = None
    owner: str | None = None
    healthy: bool = False
    account_query: str | None = None
    account_ids: tuple[str, ...] = ()
    min_propensity: int | None = None

    def describe(self) -> str:
        """A short human label: ``Enterprise, renewing in 90 days, propensity 60+``."""
        parts = []
        if self.account_query:
            parts.append(f"account {self.account_query}")
        if self.segments:
            parts.append(" + ".join(s.capitalize() if s != "smb" else "SMB" for s in self.segments))
        if self.healthy:
            parts.append("healthy")
        if self.min_seat_usage is not None:
            parts.append(f"at {self.min_seat_usage:g}%+ seat usage")
        if self.renewal_label:
            parts.append(f"renewing {self.renewal_label}")
        if self.owner:
            parts.append(f"owner {self.owner}")
        if self.min_propensity is not None:
            parts.append(f"propensity {self.min_propensity}+")
        return ", ".join(parts) if parts else "All accounts"

    def mask(self, profiles: pd.DataFrame) -> pd.Series:
        """Which rows of an account-profile frame are in scope."""
        keep = pd.Series(True, index=profiles.index)
        if self.account_ids:
            keep &= profiles["account_id"].isin(self.account_ids)
        if self.segments:
            keep &= profiles["segment"].isin(self.segments)
        if self.healthy:
            keep &= profiles["health_label"] == "Healthy"
        if self.min_seat_usage is not None:
            keep &= profiles["seat_utilization"] * 100 >= self.min_seat_usage - 1e-9
        if self.renewal_start is not None:
            renewal = pd.to_datetime(profiles["renewal_date"])
            keep &= (renewal >= pd.Timestamp(self.renewal_start)) & (
                renewal <= pd.Timestamp(self.renewal_end)
            )
        if self.owner:
            keep &= profiles["owner"].fillna("").str.lower() == self.owner.lower()
        return keep


def _quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + (quarter == 4), (3 * quarter) % 12 + 1, 1) - timedelta(days=1)
    return start, end


def parse_scope(text: str, *, as_of: date) -> Scope:
    """Parse scope text. Raises :class:`ScopeError` listing the accepted forms."""
    original = " ".join((text or "").split())
    rest = f" {original.lower()} "
    found: dict = {}

    def take(pattern: str) -> re.Match | None:
        nonlocal rest
        match = re.search(pattern, rest)
        if match:
            rest = rest[: match.start()] + " " + rest[match.end() :]
        return match

    if m := take(r"\bowner[:=\s]+(<@?[\w.|-]+>|\S+)"):
        # Taken first, so offsets still match the original text (which keeps ID case).
        owner = original[m.start(1) - 1 : m.end(1) - 1]
        found["owner"] = owner.strip("<>@").split("|")[0]
    if m := take(
        r"\b(?:at|above|over|>=?)?\s*(\d{1,3}(?:\.\d+)?)\s*%\s*(?:\+\s*)?(?:of\s+)?seats?\s*(?:usage|utili[sz]ation|used)?"
    ):
        found["min_seat_usage"] = float(m.group(1))
    if m := take(r"\brenew\w*\s+(?:in|within)\s+(?:the\s+next\s+)?(\d+)\s*(day|week|month)s?\b"):
        days = int(m.group(1)) * _UNIT_DAYS[m.group(2)]
        found.update(
            renewal_start=as_of,
            renewal_end=as_of + timedelta(days=days),
            renewal_label=f"in {m.group(1)} {m.group(2)}s",
        )
    elif m := take(r"\brenew\w*\s+(?:in\s+)?q([1-4])(?:\s*(?:fy)?\s*(\d{4}))?\b"):
        quarter = int(m.group(1))
        year = int(m.group(2)) if m.group(2) else as_of.year
        start, end = _quarter_bounds(year, quarter)
        if not m.group(2) and end < as_of:
            start, end = _quarter_bounds(year + 1, quarter)
        found.update(
            renewal_start=max(start, as_of) if start <= as_of <= end else start,
            renewal_end=end,
            renewal_label=f"in Q{quarter} {start.year}",
        )
    elif m := take(r"\brenew\w*\s+(this|next)\s+quarter\b"):
        quarter = (as_of.month - 1) // 3 + 1
        year = as_of.year
        if m.group(1) == "next":
            quarter, year = (1, year + 1) if quarter == 4 else (quarter + 1, year)
        start, end = _quarter_bounds(year, quarter)
        found.update(
            renewal_start=max(start, as_of),
            renewal_end=end,
            renewal_label=f"{m.group(1)} quarter (Q{quarter} {year})",
        )
    segments = []
    for word in sorted(_SEGMENTS, key=len, reverse=True):
        if take(rf"(?<![\w-]){re.escape(word)}(?![\w-])"):
            segments.append(_SEGMENTS[word])
    if take(r"\bhealthy\b(?:[\s-]+customers)?"):
        found["healthy"] = True
    everything = bool(take(r"\ball\b(?:\s+accounts)?"))
    if m := take(
        r"(?:>=?\s*|\bpropensity\s*(?:of|>=?|:)?\s*)?(\d{1,3})\s*\+?\s*(?:propensity)?\s*$"
    ):
        value = int(m.group(1))
        if value > 100:
            raise ScopeError(
                f"Minimum propensity must be 0-100, got {value}.\nAccepted: "
                + "; ".join(ACCEPTED_FORMS)
            )
        found["min_propensity"] = value
    words = [w for w in re.split(r"[\s,]+", rest) if w and w not in _FILLER]
    leftover = " ".join(words)
    if re.search(r"\brenew", leftover):
        raise ScopeError(
            f"Could not understand '{original}': write renewing in 90 days, renewing in Q4 or renewing this quarter.",
        )
    if leftover:
        # What is left may be an account name: keep the user's original spelling.
        found["account_query"] = _original_span(original, words)
    return Scope(
        text=original, segments=tuple(dict.fromkeys(segments)), everything=everything, **found
    )


def _original_span(original: str, words: list[str]) -> str:
    pattern = r"\s+".join(re.escape(w) for w in words)
    match = re.search(pattern, original, flags=re.IGNORECASE)
    return match.group(0) if match else " ".join(words)


def resolve_accounts(scope: Scope, profiles: pd.DataFrame) -> Scope:
    """Turn ``account_query`` into account ids: exact name or id first, then a unique substring."""
    if not scope.account_query:
        return scope
    query = scope.account_query.lower().strip()
    names = profiles["name"].fillna("").str.lower()
    ids = profiles["account_id"].astype(str).str.lower()
    exact = profiles[(names == query) | (ids == query)]
    if len(exact):
        return replace(scope, account_ids=tuple(exact["account_id"]))
    partial = profiles[names.str.contains(query, regex=False)]
    if len(partial) == 1:
        return replace(scope, account_ids=tuple(partial["account_id"]))
    if len(partial) > 1:
        options = sorted(partial["name"].tolist())
        raise ScopeError(
            f"'{scope.account_query}' matches {len(partial)} accounts: {', '.join(options[:10])}"
            + (" ..." if len(options) > 10 else "")
            + ". Type more of the name.",
            candidates=options,
        )
    raise ScopeError(
        f"Could not understand '{scope.text}': '{scope.account_query}' is neither a scope nor an account name.\n"
        "Accepted forms (combine freely): " + "; ".join(ACCEPTED_FORMS) + ".",
    )
