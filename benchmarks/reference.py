"""A row-by-row reference implementation of the expansion engine's rules: the benchmark baseline.

The engine (:func:`expansion.engine.analyze`) scores a whole portfolio with vectorised pandas.
This module applies the same rules the way a person would write them by hand: the input rows
are read into plain Python dicts once and grouped per account, then each account is handled on
its own, one after the other:

1. **Profile**: usage per metric (latest value and limit, utilisation, trend over the last
   ``trend_periods`` periods, least-squares monthly slope, months until the limit is reached),
   seat utilisation (seat usage fills missing CRM seat counts), months to renewal, days since
   the last renewal, feature adoption, products owned, signal counts in the look-back window,
   the account's propensity 0-100 (which needs the segment's median ARR, computed once for the
   portfolio), and when each ask, hire, new team or office happens (a date its text names,
   whether it is still in the future, whether the ask has a timeline).
2. **Triggers**: seed 002's seven categories as candidates, each for a *need* (its ``key``):
   seats and metered limits at or projected to reach the ceiling, and limits hit (resolved to a
   metric named in the text or a usage product's ``solves`` keywords, seats, a product not
   owned, else the next tier's plan limits): ``metric:<m>``, ``seats`` or a product; feature
   gaps: a product; people: the customer's ask with a head count, hiring into a team,
   new-department signals and a department's own empty row when a signal names the team
   (``dept:<team>``), new offices (``office:<text>``), company growth and hiring that names no
   team (``seats``), each unstated size from penetration (the team's seats per person, else the
   adopting departments', else the company's, else ``department_seat_share``); asks without a
   head count (the product they name, else a use case at the stated budget); initiatives,
   competitors, services and support.
3. **Merge**: one deal per need. The lead candidate (the customer's ask, then the best price
   basis, then not a department's own row, then the largest amount, then trigger strength) sets
   the amount, quantity and price basis; the strongest trigger (the ask first) the type; the
   need is stated, timed or budgeted when any of its signals is, a future event when all are
   (department rows aside) and the customer has not asked. The company's ``seats`` deal is
   then net of the seats its team deals (``dept:``/``office:`` seats or new departments) hold,
   never below what today's users need at the target utilisation (or ``seat_min_add``), at
   the same price per seat.
4. **Guards**: stabilize-first accounts, seat sales held for activation and trial/free accounts
   are removed (they go to the engine's other lists, which are not reproduced here).
5. **Scoring**, per deal: revenue; effort against the footprint (a stated budget +2, no size or
   procurement penalties and at most ``effort_budgeted_max``; self-serve sizes at least 9);
   likelihood from the evidence level, the relationship, corroboration, a sponsor and the
   renewal window, less a future event and limited visibility, at most
   ``likelihood_max_without_ask`` without an ask, a budget and a timeline; the deal's
   propensity (likelihood x 10); the composite and its caps (renewal hold, estimates at most
   Tier 2, self-serve sizes at most Tier 3); tier, close probability (by the deal's
   propensity), expected value, priority, confidence, the best time to pitch and the
   opportunity id.

Only plain Python (arithmetic, ``math``, ``datetime``, ``statistics``, dicts and lists) is used
for the rules. pandas is used at the edges only: to read the input frames into Python objects at
the start and to build the output frame at the end. Thresholds and tables come from
:class:`~expansion.config.ScoringConfig` and the engine's named constants; no function of the
engine that takes a DataFrame is called. The opportunity id's hash (pandas'
``hash_pandas_object`` of the key: SipHash-2-4 plus a 64-bit mixer) is re-implemented here too.

Portfolio-wide statistics the rules need are computed once: the segment median ARR
(propensity's budget factor), the latest usage period (the projection horizon of accounts without
a renewal date), the order in which metric names are matched in ``limit_hit`` texts, and the
catalog lookups. Segment benchmarks (average and top quartile) and whitespace do not feed any
opportunity column, so they are not reproduced.

Floating point: every operation is written in the engine's order, so rounded values agree
exactly and unrounded ones (``quantity``) to the last bit. One place depends on pandas itself:
the least-squares slope cancels ~9 digits (x is a month index near 24,300), so its sums are
added in the order pandas 3.1 adds them (:func:`_group_sum`); another pandas version summing
differently would move ``quantity`` at the 1e-10 level, not the rule. Department seats and
head counts (the adopting penetration) are added in row order, which agrees with pandas' sums
while they are whole numbers, as counts of people and seats are.

The date, timeline and "not open yet" patterns of signal texts are the engine's own regular
expressions (:mod:`expansion.triggers`), applied here with :mod:`re` one text at a time.

Out of scope: the text columns (evidence, pricing notes, description, timing text,
explanations, ``tier1_path``...) and the engine's other lists (activation, conversion
candidates, stabilize first, data gaps). :data:`COMPARE_COLUMNS` are the columns compared with
the engine.

Run ``python -m benchmarks.reference --accounts 2000 --seed 7`` to generate a book, score it
both ways, and print the timings, the speed-up and the differences.
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from numbers import Number
from pathlib import Path

import pandas as pd

from expansion.config import DEFAULT_CONFIG, ScoringConfig
from expansion.contract import NEGATIVE_SIGNALS, TABLES
from expansion.engine import TYPE_LABELS
from expansion.profile import DAYS_PER_MONTH, MAX_MONTHS_TO_LIMIT
from expansion.scoring import ENGAGEMENT_POINTS, GOOD_EVIDENCE, STRONG_EVIDENCE
from expansion.triggers import (
    _MONTHS,
    _SEASONS,
    _TIMELINE,
    _UPCOMING,
    _WHEN,
    BASIS_RANK,
    KIND_TO_TYPE,
    STRONG_TRIGGERS,
    TIMED_KINDS,
    TRIGGER_STRENGTH,
)

COMPARE_COLUMNS = [
    "opportunity_id",
    "account_id",
    "type",
    "product_id",
    "key",
    "department",
    "quantity",
    "tier",
    "score",
    "raw_score",
    "revenue_score",
    "effort_score",
    "likelihood_score",
    "propensity",
    "account_propensity",
    "close_probability",
    "expansion_arr",
    "expected_value",
    "priority",
    "triggers",
    "price_basis",
    "stated_budget",
    "confidence",
    "best_time",
]

#: What the reference returns: the compared columns and what a reader checking a difference
#: wants beside them.
OUTPUT_COLUMNS = [
    *COMPARE_COLUMNS,
    "account_name",
    "segment",
    "type_label",
    "category",
    "categories",
    "arr",
    "capped",
    "small_deal",
]

SEAT_LIKE = ("seat_expansion", "new_department")
AT_LIMIT = ("usage_ceiling", "seat_ceiling", "limit_hit")
#: Triggers that make a deal's moment "now" (an explicit request or a visible need).
EXPLICIT_TRIGGERS = (
    "usage_ceiling",
    "seat_ceiling",
    "limit_hit",
    "feature_request",
    "services_request",
    "initiative",
    "new_department_signal",
)
_KIND_SEPARATORS = re.compile(r"[\s-]+")
_DEPT_SEPARATORS = re.compile(r"[^a-z0-9]+")
_SEAT_WORD = re.compile(r"\bseat")
_WHEN_RE = re.compile(_WHEN)
_UPCOMING_RE = re.compile(_UPCOMING)
_TIMELINE_RE = re.compile(_TIMELINE)
_NUMERIC_KINDS = ("money", "number", "percent", "count")


# --------------------------------------------------------------------------- small helpers


def _missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and value != value


def _round_half_up(value: float, digits: int = 0) -> float:
    """Commercial rounding (7.45 -> 7.5), the engine's rule, with its 1e-9 nudge."""
    factor = 10.0**digits
    return math.floor(value * factor + 0.5 + 1e-9) / factor


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _band(value: float | None, bands: list[list[float]]) -> float:
    """Score from a ``[[lower_bound, score], ...]`` table sorted by descending bound."""
    if value is not None:
        for bound, score in bands:
            if value >= bound:
                return float(score)
    return float(bands[-1][1])


def _pairwise_sum(values: list[float]) -> float:
    """numpy's pairwise summation (8 accumulators per block of up to 128, halves above)."""
    n = len(values)
    if n < 8:
        total = -0.0
        for value in values:
            total += value
        return total
    if n <= 128:
        acc = list(values[:8])
        i = 8
        while i < n - n % 8:
            for j in range(8):
                acc[j] += values[i + j]
            i += 8
        total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
        for value in values[i:]:
            total += value
        return total
    half = n // 2
    half -= half % 8
    return _pairwise_sum(values[:half]) + _pairwise_sum(values[half:])


def _group_sum(values: list[float]) -> float:
    """A per-series sum in the order pandas adds it up.

    The least-squares slope subtracts two products of sums that agree to ~9 digits (x is a
    month index near 24,300), so the last bits of each sum show in the slope and hence in the
    proposed capacity. pandas 3.1 sums rows of sorted groups with ``np.add.reduceat``: the
    first value plus numpy's pairwise sum of the rest. This does the same, in plain Python.
    """
    return values[0] + _pairwise_sum(values[1:]) if len(values) > 1 else values[0]


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _mul(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a * b


def _first(*values):
    """The first value that is not missing (a chain of ``fillna``)."""
    for value in values:
        if value is not None:
            return value
    return None


# --------------------------------------------------------------------------- opportunity id

_MASK64 = (1 << 64) - 1
_HASH_KEY = b"0123456789123456"  # pandas' default hash key


def _rotl(x: int, bits: int) -> int:
    return ((x << bits) | (x >> (64 - bits))) & _MASK64


def _siphash24(data: bytes, key: bytes = _HASH_KEY) -> int:
    """SipHash-2-4 of ``data`` (what pandas hashes strings with)."""
    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:16], "little")
    v = [
        k0 ^ 0x736F6D6570736575,
        k1 ^ 0x646F72616E646F6D,
        k0 ^ 0x6C7967656E657261,
        k1 ^ 0x7465646279746573,
    ]

    def sipround() -> None:
        v[0] = (v[0] + v[1]) & _MASK64
        v[1] = _rotl(v[1], 13) ^ v[0]
        v[0] = _rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & _MASK64
        v[3] = _rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & _MASK64
        v[3] = _rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & _MASK64
        v[1] = _rotl(v[1], 17) ^ v[2]
        v[2] = _rotl(v[2], 32)

    whole = len(data) - len(data) % 8
    for i in range(0, whole, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v[3] ^= m
        sipround()
        sipround()
        v[0] ^= m
    b = ((len(data) & 0xFF) << 56) | int.from_bytes(data[whole:], "little")
    v[3] ^= b
    sipround()
    sipround()
    v[0] ^= b
    v[2] ^= 0xFF
    for _ in range(4):
        sipround()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


_ID_CACHE: dict[str, int] = {}


def _id_number(key: str) -> int:
    """``hash(key) % 97 + 1``: the engine's per-key opportunity number."""
    n = _ID_CACHE.get(key)
    if n is None:
        h = _siphash24(key.encode("utf8"))
        h ^= h >> 30
        h = (h * 0xBF58476D1CE4E5B9) & _MASK64
        h ^= h >> 27
        h = (h * 0x94D049BB133111EB) & _MASK64
        h ^= h >> 31
        n = _ID_CACHE[key] = h % 97 + 1
    return n


# --------------------------------------------------------------------------- reading the input


def _column_values(frame: pd.DataFrame, name: str, kind: str) -> list:
    """One column as Python values (None for missing), coerced to the contract's kind."""
    if name not in frame.columns:
        return [None] * len(frame)
    series = frame[name]
    if kind in _NUMERIC_KINDS:
        values = pd.to_numeric(series, errors="coerce").astype(float).tolist()
        return [None if v != v else v for v in values]
    if kind in ("date", "period"):
        cache: dict = {}
        out = []
        for v in pd.to_datetime(series, errors="coerce").tolist():
            if _missing(v):
                out.append(None)
                continue
            converted = cache.get(v)
            if converted is None:
                converted = cache[v] = v.to_pydatetime()
            out.append(converted)
        return out
    if kind == "bool":
        return [None if _missing(v) else bool(v) for v in series.tolist()]
    values = [None if _missing(v) else v for v in series.tolist()]
    if name in ("account_id", "product_id"):
        values = [None if v is None else str(v) for v in values]
    return values


def _read(tables: dict[str, pd.DataFrame]) -> dict[str, list[dict]]:
    """Every contract table as a list of row dicts (missing tables are empty)."""
    out = {}
    for name, table in TABLES.items():
        frame = tables.get(name)
        if frame is None or len(frame) == 0:
            out[name] = []
            continue
        names = table.column_names
        columns = [_column_values(frame, c.name, c.kind) for c in table.columns]
        out[name] = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    return out


def _as_of(value) -> datetime:
    return pd.Timestamp(value).normalize().to_pydatetime()


def _dept_key(name) -> str | None:
    """A department name as one key: case, spacing and punctuation do not split a team."""
    if _missing(name):
        return None
    return _DEPT_SEPARATORS.sub(" ", str(name).lower()).strip() or None


def _signal_timing(s: dict, as_of: datetime, cache: dict[str, tuple]) -> dict:
    """When a signal's event happens (asks, hires, new teams and offices): ``future`` (a named
    date more than 30 days out, or an office or team described as opening), ``event_date`` for
    a future event (the date the text names whenever it is after ``as_of``, ``Q2 2027`` ->
    2027-04-01, even when it is less than 30 days out; else 90 days out) and ``timeline`` (the
    text gives the ask a timeline, or names such a date)."""
    if s["kind"] not in TIMED_KINDS:
        return {"event_date": None, "future": False, "timeline": False}
    text = str(s["detail"] if s["detail"] is not None else "").lower()
    found = cache.get(text)
    if found is None:
        date = None
        m = _WHEN_RE.search(text)
        if m is not None:
            g = m.groupdict()
            year = g["qy"] or g["sy"] or g["my"] or g["y"] or g["py"]
            if g["q"]:
                month = (int(g["q"]) - 1) * 3 + 1
            elif g["season"]:
                month = _SEASONS[g["season"]]
            else:
                month = _MONTHS.get(g["month"], 1)
            date = datetime(int(year), month, 1)
        upcoming = _UPCOMING_RE.search(text) is not None
        found = cache[text] = (date, upcoming, _TIMELINE_RE.search(text) is not None)
    date, upcoming, timeline = found
    later = date is not None and date > as_of + timedelta(days=30)
    opening = (
        upcoming
        and s["kind"] in ("new_office", "new_department")
        and not (date is not None and date <= as_of)
    )
    future = later or opening
    named = date is not None and date > as_of
    event = (date if named else as_of + timedelta(days=90)) if future else None
    return {"event_date": event, "future": future, "timeline": timeline or later}


# --------------------------------------------------------------------------- the portfolio


class _Book:
    """The input grouped per account, and the few portfolio-wide lookups the rules need."""

    def __init__(self, data: dict[str, list[dict]], as_of: datetime, cfg: ScoringConfig):
        self.as_of = as_of
        self.cfg = cfg
        self.accounts = data["accounts"]
        known = {a["account_id"] for a in self.accounts}

        self.usage: dict[str, dict[str, list[dict]]] = {}
        for row in data["usage"]:
            if row["period"] is None or row["period"] > as_of or row["value"] is None:
                continue
            by_metric = self.usage.setdefault(row["account_id"], {})
            by_metric.setdefault(row["metric"], []).append(row)
        self.features = self._group(data["features"])
        self.departments = self._group(data["departments"])
        self.subscriptions = self._group(data["subscriptions"])
        self.signals: dict[str, list[dict]] = {}
        timing: dict[str, tuple] = {}  # what each distinct text says about when
        start = as_of - timedelta(days=cfg.signal_lookback_days)
        for row in data["signals"]:
            if row["account_id"] not in known:
                continue
            date = row["date"]
            if date is not None and not (start <= date <= as_of):
                continue
            kind = row["kind"]
            kind = (
                _KIND_SEPARATORS.sub("_", kind.strip().lower()) if isinstance(kind, str) else None
            )
            signal = {**row, "kind": kind, "dkey": _dept_key(row["department"])}
            signal.update(_signal_timing(signal, as_of, timing))
            self.signals.setdefault(row["account_id"], []).append(signal)

        # Metric names as limit_hit texts are matched against them: longest first, ties in the
        # order the names first appear among (account, metric) series.
        first_seen: dict[str, tuple] = {}
        for account_id, by_metric in self.usage.items():
            for metric in by_metric:
                if metric is None:
                    continue
                if metric not in first_seen or (account_id, metric) < first_seen[metric]:
                    first_seen[metric] = (account_id, metric)
        names = sorted(first_seen, key=lambda m: first_seen[m])
        self.metric_names = sorted(names, key=len, reverse=True)

        # Accounts without a renewal date project over 12 months from the latest usage period.
        latest = [
            row["period"]
            for account_id, by_metric in self.usage.items()
            if account_id in known
            for metric, rows in by_metric.items()
            if str(metric).lower() != "seats"
            for row in rows
        ]
        self.horizon_cap = (
            max(latest) + timedelta(days=cfg.projection_horizon_months * DAYS_PER_MONTH)
            if latest
            else None
        )

        # Segment median ARR (every account of the segment, paying or not).
        arr_by_segment: dict[str, list[float]] = {}
        for a in self.accounts:
            if a["segment"] is not None and a["arr"] is not None:
                arr_by_segment.setdefault(a["segment"], []).append(a["arr"])
        self.segment_median = {s: _median(v) for s, v in arr_by_segment.items()}

        self._catalog(data["catalog"])

    @staticmethod
    def _group(rows: list[dict]) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for row in rows:
            out.setdefault(row["account_id"], []).append(row)
        return out

    def _catalog(self, rows: list[dict]) -> None:
        self.products: dict[str, dict] = {}
        for row in rows:
            product = {**row, "kind": row["kind"] if row["kind"] is not None else "add_on"}
            self.products[str(product["product_id"])] = product
        products = [self.products[str(r["product_id"])] for r in rows]
        tiers = [p for p in products if p["kind"] == "tier" and p["tier_rank"] is not None]
        self.tiers = sorted(tiers, key=lambda p: p["tier_rank"])
        self.tier_rank = {p["product_id"]: p["tier_rank"] for p in self.tiers}
        self.tier_by_id = {p["product_id"].lower(): p["product_id"] for p in self.tiers}
        self.tier_by_name = {str(p["name"]).lower(): p["product_id"] for p in self.tiers}
        self.usage_by_unit = {
            str(p["unit"]).lower(): p["product_id"]
            for p in products
            if p["kind"] == "usage" and p["unit"] is not None
        }
        features = []
        for p in products:
            for feature in (p["features"] or "").split(";"):
                feature = feature.strip().lower()
                if feature:
                    features.append((p["product_id"], p["kind"], p["tier_rank"], feature))
        # A feature used without entitlement is unlocked by the first product offering it,
        # by kind then tier rank.
        self.unlock: dict[str, str] = {}
        for pid, _kind, _rank, feature in sorted(
            features, key=lambda f: (f[1], f[2] is None, f[2] if f[2] is not None else 0)
        ):
            self.unlock.setdefault(feature, pid)
        keywords: list[tuple[str, str]] = []
        for p in products:
            for keyword in (p["solves"] or "").split(";"):
                keyword = keyword.strip().lower()
                if keyword:
                    keywords.append((p["product_id"], keyword))
        keywords += [(pid, feature.replace("_", " ")) for pid, _, _, feature in features]
        keywords = list(dict.fromkeys(keywords))
        # Longer keywords first, so "data warehouse" wins over "data".
        self.keywords = sorted(keywords, key=lambda k: (-len(k[1]), k[0]))
        services = [p["product_id"] for p in products if p["kind"] == "services"]
        support = [p["product_id"] for p in products if p["kind"] == "support"]
        self.default_services = services[0] if services else None
        self.support_product = support[0] if support else None

    def match(self, text: str, kinds: tuple[str, ...] | None = None) -> str | None:
        lowered = text.lower()
        for pid, keyword in self.keywords:
            if kinds is not None and self.products[pid]["kind"] not in kinds:
                continue
            if keyword in lowered:
                return pid
        return None

    def price(self, product_id: str | None, seats: float | None) -> float | None:
        """Annual list price for ``seats`` seats (the flat price when there is no seat price)."""
        product = self.products.get(product_id) if product_id is not None else None
        if product is None:
            return None
        if product["price_per_seat"] is not None and seats is not None:
            return product["price_per_seat"] * seats
        return product["annual_price"]


# --------------------------------------------------------------------------- one account


def _series_figures(rows: list[dict], as_of: datetime, cfg: ScoringConfig) -> dict:
    """Latest value, limit, utilisation, trend, slope and months to the limit of one metric."""
    rows = sorted(rows, key=lambda r: r["period"])
    window = rows[-cfg.trend_periods :]
    n = len(window)
    xs = [float(r["period"].year * 12 + r["period"].month - 1) for r in window]
    ys = [r["value"] for r in window]
    sum_x = _group_sum(xs)
    sum_y = _group_sum(ys)
    sum_xy = _group_sum([x * y for x, y in zip(xs, ys, strict=True)])
    sum_xx = _group_sum([x**2 for x in xs])
    denominator = n * sum_xx - sum_x**2
    slope = (n * sum_xy - sum_x * sum_y) / denominator if denominator != 0 else 0.0
    last = rows[-1]
    value, raw_limit = last["value"], last["limit"]
    first = ys[0]
    trend = (value - first) / first * 100 if first > 0 else None
    limit = raw_limit if raw_limit is not None and raw_limit > 0 else None
    util = value / limit * 100 if limit is not None else None
    months = None
    if limit is not None:
        headroom = limit - value
        if headroom <= 0:
            months = 0.0
        elif slope > 0 and headroom / slope <= MAX_MONTHS_TO_LIMIT:
            months = headroom / slope
    projected = as_of + timedelta(days=months * DAYS_PER_MONTH) if months is not None else None
    return {
        "metric": last["metric"],
        "period": last["period"],
        "value": value,
        "limit": limit,
        "raw_limit": raw_limit,
        "util_pct": util,
        "trend_pct": trend,
        "slope": slope,
        "months_to_limit": months,
        "projected_date": projected,
    }


def _profile(a: dict, book: _Book) -> dict:
    """Everything about one account that its triggers, guards and scores read."""
    cfg, as_of = book.cfg, book.as_of
    account_id = a["account_id"]
    by_metric = book.usage.get(account_id, {})
    metrics = [_series_figures(by_metric[m], as_of, cfg) for m in sorted(by_metric)]
    # Seat figures come from the CRM, else from the latest seat usage (value of limit).
    licensed, active = a["licensed_seats"], a["active_seats"]
    seat_metric = next((m for m in metrics if str(m["metric"]).lower() == "seats"), None)
    if seat_metric is not None:
        licensed = _first(licensed, seat_metric["raw_limit"])
        active = _first(active, seat_metric["value"])
    utilization = None
    if active is not None and licensed is not None and licensed > 0:
        utilization = active / licensed

    renewal, last_renewal = a["renewal_date"], a["last_renewal_date"]
    months_to_renewal = (renewal - as_of).days / DAYS_PER_MONTH if renewal is not None else None
    days_since_renewal = float((as_of - last_renewal).days) if last_renewal is not None else None
    trend = _median([m["trend_pct"] for m in metrics])

    entitled = [f for f in book.features.get(account_id, []) if f["entitled"]]
    used = sum(1 for f in entitled if f["used"])
    adoption = used / len(entitled) * 100 if entitled else None

    signals = book.signals.get(account_id, [])
    counts: dict[str, int] = {}
    for s in signals:
        counts[s["kind"]] = counts.get(s["kind"], 0) + 1

    median = book.segment_median.get(a["segment"]) if a["segment"] is not None else None
    arr = a["arr"]
    arr_vs_median = arr / median if arr is not None and median is not None and median > 0 else None

    p = {
        **a,
        "licensed_seats": licensed,
        "active_seats": active,
        "seat_utilization": utilization,
        "metrics": metrics,
        "metric_by_name": {m["metric"]: m for m in metrics},
        "has_usage": bool(metrics),
        "usage_trend_pct": trend,
        "months_to_renewal": months_to_renewal,
        "recently_renewed": days_since_renewal is not None
        and 0 <= days_since_renewal <= cfg.recently_renewed_days,
        "feature_adoption": adoption,
        "products_owned": len(book.subscriptions.get(account_id, [])),
        "signals": signals,
        "counts": counts,
        "negative": any(counts.get(kind, 0) > 0 for kind in NEGATIVE_SIGNALS),
        "arr_vs_segment_median": arr_vs_median,
    }
    p["propensity"] = _propensity(p, cfg)
    _catalog_position(p, book)
    return p


def _propensity(p: dict, cfg: ScoringConfig) -> int:
    """Seed 000's propensity 0-100: health, adoption, growth, engagement and budget, weighted."""
    missing = cfg.propensity_missing_value
    count = p["counts"]
    hiring, funding = count.get("hiring", 0) > 0, count.get("funding", 0) > 0
    health = p["health_score"]
    health = (
        _clip(health / cfg.propensity_ready_health * 100, 0, 100) if health is not None else missing
    )
    adoption = p["feature_adoption"]
    adoption = (
        _clip(adoption / cfg.propensity_mature_adoption * 100, 0, 100)
        if adoption is not None
        else missing
    )
    growth_pct = p["employee_growth_pct"]
    from_signals = min(60 * hiring + 80 * funding, 100)
    if growth_pct is None:
        growth = float(from_signals) if from_signals > 0 else missing * 0.6
    elif growth_pct < 0:
        growth = 0.0
    else:
        growth = max(_clip(max(growth_pct, 0) / 30 * 100, 0, 100), from_signals)
    engagement = ENGAGEMENT_POINTS.get(p["engagement"], missing)
    if count.get("exec_engagement", 0) > 0:
        engagement = 100.0
    budget = (
        40 * (count.get("expansion_intent", 0) > 0)
        + 30 * funding
        + 20 * (p["products_owned"] >= 2)
        + 15 * (p["arr_vs_segment_median"] is not None and p["arr_vs_segment_median"] >= 1)
        + 10 * (p["contract_term"] == "multi-year")
        + 15
    )
    budget = float(_clip(budget, 0, 100))
    if count.get("budget_cut", 0) > 0:
        budget = 0.0
    parts = {
        "health": health,
        "adoption": adoption,
        "growth": growth,
        "engagement": engagement,
        "budget": budget,
    }
    score = 0.0
    for name, weight in cfg.propensity_weights.items():
        score += parts[name] * weight
    return int(_clip(_round_half_up(score), 0, 100))


def _catalog_position(p: dict, book: _Book) -> None:
    """Current tier (plan, else the highest tier subscribed), the next tier and the seat price."""
    plan = p["plan"].strip().lower() if isinstance(p["plan"], str) else ""
    current = book.tier_by_id.get(plan) or book.tier_by_name.get(plan)
    subscribed = [s["product_id"] for s in book.subscriptions.get(p["account_id"], [])]
    if current is None:
        best = None
        for pid in subscribed:
            rank = book.tier_rank.get(pid)
            if rank is not None and (best is None or rank >= book.tier_rank[best]):
                best = pid
        current = best
    rank = book.tier_rank.get(current) if current is not None else None
    p["current_tier"] = current
    p["current_rank"] = rank
    p["next_tier"] = (
        next((t["product_id"] for t in book.tiers if t["tier_rank"] > rank), None)
        if rank is not None
        else None
    )
    seat_price = book.products[current]["price_per_seat"] if current is not None else None
    p["seat_basis"] = "catalog" if seat_price is not None else "account_rate"
    if seat_price is None:
        licensed = p["licensed_seats"]
        if p["arr"] is not None and licensed is not None and licensed > 0:
            seat_price = p["arr"] / licensed
    p["seat_price"] = seat_price
    p["owned"] = set(subscribed)


def _owns(p: dict, product_id: str, book: _Book) -> bool:
    """Subscribed, or a tier at or below the account's own."""
    if product_id in p["owned"]:
        return True
    rank = book.tier_rank.get(product_id)
    return rank is not None and p["current_rank"] is not None and rank <= p["current_rank"]


def _tier_difference(p: dict, target: str | None, seats: float | None, book: _Book):
    """Incremental ARR of moving from the current tier to ``target`` at ``seats`` seats."""
    new = book.price(target, seats)
    if new is None:
        return None
    now = book.price(p["current_tier"], seats)
    return new - (now if now is not None else 0.0)


def _candidate(trigger: str, category: str, key: str, kind: str, product, arr, **extra) -> dict:
    """One candidate: what to sell for which need, priced how, and when its signal happens."""
    return {
        "trigger": trigger,
        "category": category,
        "key": key,
        "type": kind,
        "product_id": product,
        "expansion_arr": arr,
        "quantity": extra.get("quantity"),
        "department": extra.get("department"),
        "strength": TRIGGER_STRENGTH[trigger],
        "basis": extra.get("basis", "catalog"),
        "stated": extra.get("stated", False),
        "future": extra.get("future", False),
        "event_date": extra.get("event_date"),
        "budget": extra.get("budget"),
        "timeline": extra.get("timeline", False),
    }


def _when(s: dict) -> dict:
    """A signal's own timing (the customer's ask, hires, a new team or office)."""
    return {"future": s["future"], "event_date": s["event_date"]}


def _product_candidate(
    p: dict,
    product_id: str,
    trigger: str,
    category: str,
    book: _Book,
    *,
    amount: float | None = None,
    budget: float | None = None,
    department: str | None = None,
    **flags,
) -> dict:
    """Selling ``product_id`` (any kind): tier difference, list price, else a share of ARR.

    ``amount``: a competitor's (or initiative's) stated spend, which caps the price.
    ``budget``: the customer's stated budget, shown beside the catalog price (the amount when
    the catalog has no price)."""
    cfg = book.cfg
    kind = KIND_TO_TYPE.get(book.products[product_id]["kind"], "add_on")
    seats = _first(p["licensed_seats"], 0.0)
    if kind == "tier_upgrade":
        arr = _tier_difference(p, product_id, seats, book)
    else:
        arr = book.price(product_id, seats)
    priced = arr is not None and arr > 0
    basis = "catalog" if priced else "estimate"
    if not priced:
        arr = _mul(p["arr"], cfg.fallback_cross_sell_share)
    if amount is not None and amount > 0:
        # A known competitor spend caps what the account will pay.
        arr = min(arr, amount) if priced else amount * 0.8
        basis = basis if priced else "stated_budget"
    stated_budget = None
    if budget is not None and budget > 0:
        stated_budget = budget
        if not priced:
            arr, basis = budget, "stated_budget"
    return _candidate(
        trigger,
        category,
        product_id,
        kind,
        product_id,
        arr,
        department=department,
        basis=basis,
        budget=stated_budget,
        **flags,
    )


def _from_signal(s: dict) -> dict:
    """A candidate read off a signal: the stated amount caps it, it carries the department."""
    return {"amount": s["amount"], "department": s["department"]}


def _usage_type(p: dict, metric: str, book: _Book) -> tuple[str, str | None, str]:
    """(type, product, key) for more of ``metric``: a usage product, else the next tier."""
    usage_product = book.usage_by_unit.get(metric.lower())
    if usage_product is not None or p["next_tier"] is None:
        return "usage_expansion", usage_product, "metric:" + metric.lower()
    return "tier_upgrade", p["next_tier"], p["next_tier"]


def _div(a: float | None, b: float | None) -> float | None:
    """``a / b`` as numpy divides floats: by zero gives +-inf, or nan for 0 / 0."""
    if a is None or b is None:
        return None
    if b == 0:
        return math.nan if a == 0 or a != a else math.copysign(math.inf, a * math.copysign(1, b))
    return a / b


def _metric_candidate(
    p: dict, m: dict, trigger: str, book: _Book, department: str | None = None
) -> dict:
    """Capacity for the grown usage at the target utilisation (at least +25% of the limit),
    at the usage product's unit price, or the next tier's price difference."""
    cfg = book.cfg
    kind, product, key = _usage_type(p, m["metric"], book)
    value, limit = m["value"], m["raw_limit"]
    growth = max(m["slope"], 0.0) * 6 / value if value > 0 else 0.0
    extra = None
    if limit is not None:
        new_limit = max(value * (1 + growth) / cfg.seat_target_utilization, limit * 1.25)
        extra = new_limit - limit
    if kind == "tier_upgrade":
        arr = _tier_difference(p, product, p["licensed_seats"], book)
    else:
        unit_price = book.products[product]["unit_price"] if product is not None else None
        arr = _mul(extra, unit_price)
    priced = arr is not None and arr > 0
    if not priced:
        arr = _mul(_mul(p["arr"], _div(extra, limit)), 0.5)
    return _candidate(
        trigger,
        "usage_limits",
        key,
        kind,
        product,
        arr,
        quantity=extra if kind == "usage_expansion" else None,
        basis="catalog" if priced else "estimate",
        department=department,
    )


def _seat_candidate(p: dict, trigger: str, category: str, seats: float | None, **extra) -> dict:
    """More seats on the account's own plan, at its seat price."""
    return _candidate(
        trigger,
        category,
        "seats",
        "seat_expansion",
        p["current_tier"],
        _mul(seats, p["seat_price"]),
        quantity=seats,
        basis=p["seat_basis"],
        **extra,
    )


def _ceiling_seats(p: dict, active: float | None, cfg: ScoringConfig) -> float | None:
    """Seats that leave today's active users, grown with the company, at the target
    utilisation (at least ``seat_min_add``)."""
    licensed = p["licensed_seats"]
    if active is None or licensed is None:
        return None
    growth = _clip(_first(p["employee_growth_pct"], 0.0), 0, 50) / 100
    needed = math.ceil(active * (1 + growth) / cfg.seat_target_utilization)
    return float(max(needed - licensed, cfg.seat_min_add))


def _usage_limits(p: dict, book: _Book) -> list[dict]:
    """Seats and metered limits at the ceiling, projected ceilings, and limits hit."""
    cfg = book.cfg
    out: list[dict] = []
    licensed, utilization = p["licensed_seats"], p["seat_utilization"]
    # Seats at the ceiling ...
    if utilization is not None and utilization * 100 >= cfg.usage_ceiling_pct and licensed > 0:
        seats = _ceiling_seats(p, p["active_seats"], cfg)
        out.append(_seat_candidate(p, "seat_ceiling", "usage_limits", seats))
    # ... metered limits at the ceiling, or projected to reach it before the horizon ...
    metered = [m for m in p["metrics"] if str(m["metric"]).lower() != "seats"]
    ceiling = {
        id(m)
        for m in metered
        if m["util_pct"] is not None and m["util_pct"] >= cfg.usage_ceiling_pct
    }
    horizon = p["renewal_date"] if p["renewal_date"] is not None else book.horizon_cap
    for m in metered:
        if id(m) in ceiling:
            out.append(_metric_candidate(p, m, "usage_ceiling", book))
    for m in metered:
        if id(m) in ceiling or m["months_to_limit"] is None:
            continue
        if horizon is not None and m["projected_date"] <= horizon:
            out.append(_metric_candidate(p, m, "projected_ceiling", book))
    out += _limits_hit(p, book)
    return out


def _limits_hit(p: dict, book: _Book) -> list[dict]:
    """A limit the customer hit, resolved to what it is about: a metric named in the text (or
    the unit of a usage product whose ``solves`` keywords it contains), seats, or a product it
    names. A metric the account reports usage for is priced like its ceiling (one need with
    it); a metric without usage figures, a limit nothing names, or a limit of a product the
    account already owns is the next tier's plan limits, else an estimate."""
    cfg = book.cfg
    seats, on_metric, named, unpriced, unnamed = [], [], [], [], []
    for s in p["signals"]:
        if s["kind"] != "limit_hit":
            continue
        detail = (s["detail"] or "").lower()
        metric = None
        for name in book.metric_names:
            lowered = str(name).lower()
            if lowered.replace("_", " ") in detail or lowered in detail:
                metric = name
                break
        product = book.match(detail)
        if metric is None and product is not None and book.products[product]["kind"] == "usage":
            metric = book.products[product]["unit"]
        if metric is None:
            # A metric named by its first word ("API quota" -> api_calls), seats excepted.
            for name in book.metric_names:
                word = str(name).lower().split("_")[0]
                if (
                    len(word) >= 3
                    and word != "seats"
                    and re.search(rf"\b{re.escape(word)}\b", detail)
                ):
                    metric = name
                    break
        if metric is not None:
            is_seats = str(metric).lower() == "seats"
        else:
            is_seats = _SEAT_WORD.search(detail) is not None
        department = s["department"]
        if is_seats:
            active = _first(p["active_seats"], p["licensed_seats"])
            quantity = _ceiling_seats(p, active, cfg)
            seats.append(
                _seat_candidate(p, "limit_hit", "usage_limits", quantity, department=department)
            )
        elif metric is not None:
            figures = p["metric_by_name"].get(metric)
            if figures is not None:
                on_metric.append(_metric_candidate(p, figures, "limit_hit", book, department))
            else:
                unpriced.append((s, metric))
        elif product is not None and not _owns(p, product, book):
            named.append(
                _product_candidate(
                    p, product, "limit_hit", "usage_limits", book, department=department
                )
            )
        else:  # nothing named, or a limit of something they already own
            unnamed.append((s, None))
    rest = []
    for s, metric in unpriced + unnamed:
        what = metric if metric is not None else "plan limits"
        kind, product, key = _usage_type(p, what, book)
        tier_arr = _tier_difference(p, product, p["licensed_seats"], book)
        is_tier = kind == "tier_upgrade" and tier_arr is not None and tier_arr > 0
        arr = tier_arr if is_tier else _mul(p["arr"], cfg.fallback_cross_sell_share)
        rest.append(
            _candidate(
                "limit_hit",
                "usage_limits",
                key if kind == "tier_upgrade" else "metric:" + what.lower(),
                kind,
                product,
                arr,
                basis="catalog" if is_tier else "estimate",
                department=s["department"],
            )
        )
    return seats + on_metric + named + rest


def _feature_gaps(p: dict, book: _Book) -> list[dict]:
    """Requests a product answers, and features tried behind a paywall."""
    out: list[dict] = []
    for s in p["signals"]:
        if s["kind"] != "feature_request":
            continue
        product = book.match((s["detail"] or "") + " " + (s["department"] or ""))
        if product is None or _owns(p, product, book):
            continue  # nothing answers it: product feedback, not an opportunity
        out.append(
            _product_candidate(
                p, product, "feature_request", "feature_gap", book, department=s["department"]
            )
        )
    for f in book.features.get(p["account_id"], []):
        if f["entitled"] or not (f["used"] or _first(f["adoption_pct"], 0.0) > 0):
            continue
        feature = f["feature"].strip().lower() if isinstance(f["feature"], str) else None
        product = book.unlock.get(feature)
        if product is None or _owns(p, product, book):
            continue
        out.append(_product_candidate(p, product, "gated_feature", "feature_gap", book))
    return out


def _people(p: dict, book: _Book) -> list[dict]:
    """Seat needs, one per group of people: a team (``dept:<team>``: the customer's ask with
    a head count, hiring into the team, a new-department signal, the department's own empty
    row when a signal names the team), a new office (``office:<text>``), and company growth
    with hiring that names no team (``seats``).

    The stated head count sets an ask's size; an unstated need is hires x penetration: the
    team's own seats per person, else the adopting departments' (seats / headcount of the
    departments that hold seats), else the company's (seats / employees), else
    ``department_seat_share``."""
    cfg = book.cfg
    signals = p["signals"]
    teams: dict[str, dict] = {}  # the account's departments by key, the first row of each
    for d in book.departments.get(p["account_id"], []):
        key = _dept_key(d["department"])
        if key is not None and key not in teams:
            teams[key] = d
    seat_sum, head_sum, adopting = 0.0, 0.0, None
    for d in teams.values():
        dept_seats, head = d["seats"], d["headcount"]
        if dept_seats is not None and head is not None and dept_seats > 0 and head > 0:
            seat_sum += dept_seats
            head_sum += head
            adopting = seat_sum / head_sum
    licensed, employees = p["licensed_seats"], p["employee_count"]
    company = None
    if licensed is not None and employees is not None and employees > 0:
        company = min(licensed / employees, 1.0)
    adopting = _clip(_first(adopting, company, cfg.department_seat_share), 0, 1)
    company = _first(company, adopting)

    def penetration(key: str | None) -> float:
        d = teams.get(key) if key is not None else None
        if d is not None:
            dept_seats, head = d["seats"], d["headcount"]
            if dept_seats is not None and dept_seats > 0 and head is not None and head > 0:
                return min(dept_seats / head, 1.0)
        return adopting

    def has_seats(key: str | None) -> bool:
        d = teams.get(key) if key is not None else None
        return d is not None and d["seats"] is not None and d["seats"] > 0

    def team(trigger, quantity, dkey, department, *, key=None, kind=None, estimate=False, **kw):
        if key is None:
            key = "dept:" + dkey if dkey is not None else "seats"
        if kind is None:
            kind = (
                "new_department" if dkey is not None and not has_seats(dkey) else "seat_expansion"
            )
        if dkey is not None:
            named = teams.get(dkey)
            department = _first(named["department"] if named is not None else None, department)
        return _candidate(
            trigger,
            "department",
            key,
            kind,
            p["current_tier"],
            _mul(quantity, p["seat_price"]),
            quantity=quantity,
            department=department,
            basis="estimate" if estimate else p["seat_basis"],
            **kw,
        )

    out: list[dict] = []
    # The customer's ask with a head count: the size of the deal.
    for s in signals:
        if s["kind"] != "expansion_intent" or not _positive(s["headcount"]):
            continue
        budget = s["amount"] if _positive(s["amount"]) else None
        out.append(
            team(
                "stated_ask",
                s["headcount"],
                s["dkey"],
                s["department"],
                stated=True,
                budget=budget,
                timeline=s["timeline"],
                **_when(s),
            )
        )
    # Hiring into a named team: that team's need, at its own penetration.
    for s in signals:
        if s["kind"] != "hiring" or s["dkey"] is None or not _positive(s["headcount"]):
            continue
        quantity = float(math.ceil(s["headcount"] * penetration(s["dkey"])))
        out.append(team("hiring", quantity, s["dkey"], s["department"], **_when(s)))
    # New teams and offices: their head count at the team's (else the adopting) penetration;
    # no head count is a guess (an estimate, never a quote).
    for s in signals:
        if s["kind"] not in ("new_department", "new_office"):
            continue
        office = s["kind"] == "new_office"
        head = s["headcount"]
        guessed = not _positive(head)
        if guessed:
            quantity = float(cfg.department_min_headcount)
        else:
            quantity = float(math.ceil(head * penetration(s["dkey"])))
        quantity = max(quantity, 1.0)
        if office:
            office_key = "office:" + _first(_dept_key(s["detail"]), "new office")[:60]
            out.append(
                team(
                    "new_office",
                    quantity,
                    None,
                    "the new office",
                    key=office_key,
                    kind="new_department",
                    estimate=guessed,
                    **_when(s),
                )
            )
        else:
            name = _first(s["dkey"], _dept_key(s["detail"]), "new team")
            out.append(
                team(
                    "new_department_signal",
                    quantity,
                    name,
                    _first(s["department"], "a new team"),
                    key="dept:" + name,
                    kind="new_department",
                    estimate=guessed,
                    **_when(s),
                )
            )
    # A department's own row backs a need a signal already names (whitespace otherwise).
    named = {
        s["dkey"]
        for s in signals
        if s["kind"] in ("expansion_intent", "hiring", "new_department") and s["dkey"] is not None
    }
    for key, d in teams.items():
        if key not in named or _first(d["seats"], 0.0) != 0:
            continue
        if _first(d["headcount"], 0.0) < cfg.department_min_headcount:
            continue
        quantity = float(math.ceil(d["headcount"] * adopting))
        out.append(team("empty_department", quantity, key, d["department"], kind="new_department"))

    # Company growth and hiring that names no team, at accounts using what they have.
    heads = [
        s["headcount"]
        for s in signals
        if s["kind"] == "hiring" and s["dkey"] is None and s["headcount"] is not None
    ]
    hires = float(sum(heads)) if heads else None
    growth_pct, utilization = p["employee_growth_pct"], p["seat_utilization"]
    grows = (growth_pct is not None and growth_pct >= cfg.growth_pct_threshold) or hires is not None
    if (
        grows
        and _first(utilization, 0.0) >= cfg.growth_min_seat_utilization
        and licensed is not None
        and licensed > 0
    ):
        # The people who joined in 12 months at the company's seats per employee is
        # licensed x g / (1 + g); hires at the same rate.
        g = max(growth_pct, 0) / 100 if growth_pct is not None else 0.0
        from_growth = math.ceil(licensed * g / (1 + g))
        from_hiring = math.ceil(_first(hires, 0.0) * company)
        seats = float(max(from_growth, from_hiring, cfg.seat_min_add))
        out.append(_seat_candidate(p, "headcount_growth", "company_growth", seats))
    return out


def _positive(value: float | None) -> bool:
    return value is not None and value > 0


def _intents(p: dict, book: _Book) -> list[dict]:
    """The customer's ask without a head count: the product it names (catalog price, the
    stated budget beside it), else a new use case at the stated budget."""
    matched, rest = [], []
    for s in p["signals"]:
        if s["kind"] != "expansion_intent" or _positive(s["headcount"]):
            continue
        product = book.match((s["detail"] or "") + " " + (s["department"] or ""))
        if product is not None and _owns(p, product, book):
            continue
        budget = s["amount"] if _positive(s["amount"]) else None
        flags = {"stated": True, "timeline": s["timeline"], **_when(s)}
        if product is not None:
            matched.append(
                _product_candidate(
                    p,
                    product,
                    "stated_ask",
                    "initiative",
                    book,
                    budget=budget,
                    department=s["department"],
                    **flags,
                )
            )
        elif budget is not None:
            rest.append(
                _candidate(
                    "stated_ask",
                    "initiative",
                    "use_case",
                    "new_use_case",
                    None,
                    budget,
                    basis="stated_budget",
                    budget=budget,
                    department=s["department"],
                    **flags,
                )
            )
    return matched + rest


def _candidates(p: dict, book: _Book) -> list[dict]:
    """Every trigger of seed 002's seven categories that fires for this account, in the
    engine's order (usage limits, feature gaps, people, asks, initiatives, competitors,
    services)."""
    cfg = book.cfg
    signals = p["signals"]
    out = _usage_limits(p, book) + _feature_gaps(p, book) + _people(p, book) + _intents(p, book)

    # Strategic initiatives matched to what a product solves (else a share of ARR).
    initiatives, unmatched = [], []
    for s in signals:
        if s["kind"] != "initiative":
            continue
        product = book.match((s["detail"] or "") + " " + (s["department"] or ""))
        if product is None:
            unmatched.append(s)
        elif not _owns(p, product, book):
            c = _product_candidate(p, product, "initiative", "initiative", book, **_from_signal(s))
            initiatives.append({**c, "type": "new_use_case"})
    out += initiatives
    for s in unmatched:
        arr = _mul(p["arr"], cfg.fallback_cross_sell_share)
        out.append(
            _candidate(
                "initiative",
                "initiative",
                "use_case",
                "new_use_case",
                None,
                arr,
                department=s["department"],
                basis="estimate",
            )
        )

    # Competitors: consolidate onto the product that covers it (spend caps the estimate).
    displaced, rest = [], []
    for s in signals:
        if s["kind"] != "competitor":
            continue
        product = book.match(s["detail"] or "")
        if product is None:
            rest.append(s)
        elif not _owns(p, product, book):
            c = _product_candidate(p, product, "competitor", "competitive", book, **_from_signal(s))
            displaced.append({**c, "type": "competitive_displacement"})
    out += displaced
    for s in rest:
        spend = s["amount"]
        arr = spend * 0.8 if spend is not None else _mul(p["arr"], cfg.fallback_cross_sell_share)
        out.append(
            _candidate(
                "competitor",
                "competitive",
                "competitor",
                "competitive_displacement",
                None,
                arr,
                department=s["department"],
                basis="stated_budget" if spend is not None else "estimate",
            )
        )

    # Services requests, and support load premium support would absorb.
    for s in signals:
        if s["kind"] != "services_request":
            continue
        product = _first(book.match(s["detail"] or "", ("services",)), book.default_services)
        if product is None:
            continue
        c = _product_candidate(p, product, "services_request", "services", book, **_from_signal(s))
        out.append({**c, "type": "professional_services"})
    tickets = p["support_tickets_90d"]
    if tickets is not None and tickets >= cfg.support_ticket_threshold:
        support = book.support_product
        if support is None:
            arr = _mul(p["arr"], 0.1)
            out.append(
                _candidate(
                    "support_load",
                    "services",
                    "support",
                    "support_upgrade",
                    None,
                    arr,
                    basis="estimate",
                )
            )
        elif not _owns(p, support, book):
            c = _product_candidate(p, support, "support_load", "services", book)
            out.append({**c, "type": "support_upgrade"})
    return out


def _merge(candidates: list[dict]) -> list[dict]:
    """One deal per need (``key``). The lead candidate sets the amount, quantity and price
    basis together: the customer's ask first, then the best price basis, then not a
    department's own row, then the largest amount, then the strongest trigger. The strongest
    trigger (the ask first) names the type. The need is stated, budgeted or timed when any of
    its signals is; a future event only when every signal (department rows aside) is."""
    kept = [c for c in candidates if c["expansion_arr"] is not None and c["expansion_arr"] > 0]
    groups: dict[str, list[dict]] = {}
    for c in kept:
        groups.setdefault(c["key"], []).append(c)
    out = []
    for key, group in groups.items():
        lead = min(
            group,
            key=lambda c: (
                not c["stated"],
                BASIS_RANK.get(c["basis"], len(BASIS_RANK)),
                c["trigger"] == "empty_department",
                -c["expansion_arr"],
                -c["strength"],
            ),
        )
        group = sorted(group, key=lambda c: (not c["stated"], -c["strength"], -c["expansion_arr"]))
        head = group[0]
        signals = [c for c in group if c["trigger"] != "empty_department"]
        stated = any(c["stated"] for c in group)
        events = [c["event_date"] for c in group if c["future"]]
        budgets = [c["budget"] for c in group if c["stated"] and c["budget"] is not None]
        triggers = list(dict.fromkeys(c["trigger"] for c in group))
        out.append(
            {
                "key": key,
                "type": head["type"],
                "product_id": head["product_id"],
                "category": head["category"],
                "department": _first(head["department"], lead["department"]),
                "expansion_arr": lead["expansion_arr"],
                "quantity": lead["quantity"],
                "basis": lead["basis"],
                "stated": stated,
                "timeline": any(c["timeline"] for c in group),
                "future": bool(signals) and all(c["future"] for c in signals) and not stated,
                "event_date": min(events) if events else None,
                "budget": max(budgets) if budgets else None,
                "triggers": ",".join(triggers),
                "categories": ",".join(dict.fromkeys(c["category"] for c in group)),
                "signal_count": len(triggers),
            }
        )
    return out


def _net_of_named_teams(p: dict, merged: list[dict], cfg: ScoringConfig) -> None:
    """The company's ``seats`` deal less the seats the account's team deals hold (``dept:`` and
    ``office:`` needs sold as seats or a new department), never below what today's users need
    at the target utilisation (or ``seat_min_add``); the amount follows at the same price per
    seat. A ``seats`` deal the customer asked for keeps its size. In place, before the guards
    (a team deal held back still holds its people)."""
    teams = sorted(
        (o for o in merged if o["key"].startswith(("dept:", "office:")) and o["type"] in SEAT_LIKE),
        key=lambda o: o["key"],
    )
    held = [o["quantity"] for o in teams if o["quantity"] is not None]
    company = next((o for o in merged if o["key"] == "seats"), None)
    if not teams or company is None or company["quantity"] is None or company["stated"]:
        return  # the customer's own ask for company seats is its size
    cut = 0.0
    for quantity in held:  # whole numbers of people: any order adds up the same
        cut += quantity
    active = _first(p["active_seats"], p["licensed_seats"])
    licensed = p["licensed_seats"]
    today = (
        math.ceil(active / cfg.seat_target_utilization) - licensed
        if active is not None and licensed is not None
        else 0.0
    )
    quantity = max(company["quantity"] - cut, today, cfg.seat_min_add)
    if quantity < company["quantity"]:
        per_seat = company["expansion_arr"] / company["quantity"]
        company["expansion_arr"] = quantity * per_seat
        company["quantity"] = float(quantity)


def _held_back(p: dict, opp: dict, cfg: ScoringConfig) -> bool:
    """Seed 002's edge cases: these accounts' triggers are not expansion opportunities."""
    paying = p["status"] == "paying"
    health, trend = p["health_score"], p["usage_trend_pct"]
    stabilize = paying and (
        (health is not None and health < cfg.unhealthy_health_score)
        or (trend is not None and trend <= cfg.declining_usage_pct)
        or p["negative"]
    )
    trial = p["status"] in ("trial", "free")
    low_use = (
        p["seat_utilization"] is not None
        and p["seat_utilization"] < cfg.activation_max_seat_utilization
    )
    activation = opp["type"] in SEAT_LIKE and low_use
    return stabilize or trial or activation


def _evidence_level(opp: dict, triggers: str) -> str:
    """Seed 002's likelihood table, read per deal: what the evidence for this deal is."""
    budget = opp["budget"] is not None and opp["budget"] > 0
    if opp["stated"]:
        if budget and opp["timeline"]:
            return "ask_budget_timeline"
        return "ask_budget" if budget or opp["timeline"] else "ask"
    if any(t in triggers for t in STRONG_EVIDENCE):
        return "strong"
    if any(t in triggers for t in GOOD_EVIDENCE):
        return "good"
    return "weak"


def _score(p: dict, opp: dict, cfg: ScoringConfig, as_of: datetime) -> dict:
    """Revenue, effort and likelihood 1-10, the composite and everything derived from it."""
    counts = p["counts"]
    exec_engaged = counts.get("exec_engagement", 0) > 0
    triggers = opp["triggers"]
    months = p["months_to_renewal"]
    in_window = months is not None and 0 <= months <= 3
    if in_window:
        triggers += ",renewal_window"
    arr = opp["expansion_arr"]
    account_arr = p["arr"]
    kind = opp["type"]
    stated = opp["stated"]
    budget_stated = stated and opp["budget"] is not None and opp["budget"] > 0

    # Self-serve below the small-deal floor; unstated deals above +50% of the footprint.
    floor = max(cfg.small_deal_floor_arr, cfg.small_deal_floor_share * _first(account_arr, 0.0))
    small = arr < floor
    licensed = p["licensed_seats"]
    if kind in SEAT_LIKE and licensed is not None and licensed > 0:
        quantity = opp["quantity"]
        over = quantity is not None and quantity > cfg.oversize_share * licensed
    else:
        over = account_arr is not None and arr > cfg.oversize_share * account_arr
    oversized = not stated and over

    # Revenue potential: the relative table blended with absolute dollars.
    share = arr / account_arr if account_arr is not None and account_arr > 0 else None
    relative = _band(share if share is not None else 1.0, cfg.revenue_relative_bands)
    absolute = _band(arr, cfg.revenue_absolute_bands)
    w = cfg.revenue_absolute_weight
    revenue = int(_clip(_round_half_up((1 - w) * relative + w * absolute), 1, 10))

    # Effort: a baseline per type, less for a deal large against the footprint or in
    # dollars and for enterprise procurement, more with a champion and a stated budget.
    footprint = 0.0
    if share is not None:
        for bound, points in cfg.effort_footprint_bands:
            if share >= bound:
                footprint = float(points)
                break
    no_budget = not budget_stated
    effort = float(cfg.effort_baseline[kind])
    effort -= footprint
    effort -= float(arr >= cfg.effort_large_deal_arr and no_budget)
    effort -= float(arr >= cfg.effort_very_large_deal_arr and no_budget)
    enterprise = (
        p["segment"] == "enterprise" and kind in cfg.effort_enterprise_penalty_types and no_budget
    )
    effort -= float(enterprise)
    effort += float(exec_engaged or p["engagement"] == "high")
    effort += 2 * float(budget_stated)
    effort = _clip(effort, 1, 10)
    if budget_stated:  # budget allocated: seed 002's 7-8, at most effort_budgeted_max
        effort = min(effort, cfg.effort_budgeted_max)
    if small:
        effort = max(effort, 9)
    effort = int(effort)

    # Likelihood per deal: where its evidence starts, moved by the relationship, further
    # signals for the same need, a sponsor and the renewal window; lowered for a future event
    # and limited visibility; 9-10 only with an ask, a budget and a timeline.
    level = _evidence_level(opp, triggers)
    low, high = cfg.likelihood_relationship_range
    relationship = _clip((p["propensity"] - 60) * cfg.likelihood_relationship_per_point, low, high)
    corroboration = _clip(opp["signal_count"] - 1, 0, 2) * cfg.likelihood_corroboration
    sponsor = cfg.likelihood_exec_sponsor if exec_engaged else 0.0
    renewal = cfg.likelihood_renewal_window if in_window else 0.0
    future = cfg.likelihood_future_event if opp["future"] else 0.0
    pen = cfg.likelihood_penalty
    penalty = (
        pen["partner"] * (p["channel"] == "partner")
        + pen["no_usage_data"] * (not p["has_usage"])
        + pen["recently_renewed"] * p["recently_renewed"]
    )
    raw_likelihood = (
        cfg.likelihood_levels[level]
        + relationship
        + corroboration
        + sponsor
        + renewal
        - future
        - penalty
    )
    cap = 10.0 if level == "ask_budget_timeline" else cfg.likelihood_max_without_ask
    raw_likelihood = min(raw_likelihood, cap)
    likelihood = int(_clip(_round_half_up(raw_likelihood), 1, 10))
    propensity = int(_clip(_round_half_up(raw_likelihood * 10), 0, 100))

    raw = _round_half_up(
        cfg.weight_revenue * revenue
        + cfg.weight_effort * effort
        + cfg.weight_likelihood * likelihood,
        1,
    )
    # Caps: just renewed without a ceiling or an ask (seed 002), priced by an estimate (at
    # most Tier 2), below the small-deal floor (self-serve, at most Tier 3).
    strong = any(t in triggers for t in STRONG_TRIGGERS) or stated
    renewal_hold = p["recently_renewed"] and not strong
    t1, t2 = cfg.tier_thresholds[0], cfg.tier_thresholds[1]
    score, capped = raw, False
    for applies, ceiling in (
        (renewal_hold, cfg.tier_thresholds[cfg.recently_renewed_max_tier - 2] - 0.1),
        (opp["basis"] == "estimate", t1 - 0.1),
        (small, t2 - 0.1),
    ):
        if applies and score > ceiling:
            score, capped = ceiling, True
    score = _round_half_up(score, 1)
    tier = 5
    for rank, threshold in enumerate(cfg.tier_thresholds, start=1):
        if score >= threshold:
            tier = rank
            break
    low, high = cfg.close_probability[kind]
    if level in cfg.close_probability_asked:
        ask_low, ask_high = cfg.close_probability_asked[level]
        low, high = max(low, ask_low), max(high, ask_high)
    close = _round_half_up(low + (high - low) * propensity / 100, 3)
    rounded_arr = _round_half_up(arr)

    # Seed 003's High / Medium / Low, consistent with the tiers; self-serve is always Low.
    at_limit = any(t in triggers for t in AT_LIMIT)
    healthy = _first(p["health_score"], 0.0) >= cfg.priority_high_health
    growing = p["usage_trend_pct"] is not None and p["usage_trend_pct"] >= 5
    if small:
        priority = "low"
    elif tier == 1 or (tier == 2 and (at_limit or stated) and healthy):
        priority = "high"
    elif tier == 2 or (tier == 3 and (growing or at_limit)):
        priority = "medium"
    else:
        priority = "low"

    # Confidence: an estimate is low; an account rate, an oversize, a future event or
    # limited visibility medium.
    partner, no_usage = p["channel"] == "partner", not p["has_usage"]
    if opp["basis"] == "estimate" or (partner and no_usage):
        confidence = "low"
    elif partner or no_usage or opp["basis"] == "account_rate" or oversized or opp["future"]:
        confidence = "medium"
    else:
        confidence = "high"

    # When to pitch: the deal's own moment (an ask, a limit, a request or an initiative now;
    # a future event when it happens; just renewed once they settled; else in 30 days).
    explicit = stated or any(t in triggers for t in EXPLICIT_TRIGGERS)
    renewed = renewal_hold and not opp["future"]
    explicit = explicit and not renewed
    best = as_of + timedelta(days=30)
    if explicit:
        best = as_of
    if renewed:
        best = _shift(p["last_renewal_date"], 75)
    if opp["future"]:
        best = opp["event_date"]
    best = max(best, as_of) if best is not None else as_of

    return {
        "account_id": p["account_id"],
        "account_name": p["name"],
        "segment": p["segment"],
        "type": kind,
        "type_label": TYPE_LABELS[kind],
        "product_id": opp["product_id"],
        "key": opp["key"],
        "department": opp["department"],
        "quantity": opp["quantity"],
        "tier": tier,
        "score": score,
        "raw_score": raw,
        "revenue_score": revenue,
        "effort_score": effort,
        "likelihood_score": likelihood,
        "propensity": propensity,
        "account_propensity": p["propensity"],
        "close_probability": close,
        "expansion_arr": rounded_arr,
        "expected_value": _round_half_up(rounded_arr * close),
        "priority": priority,
        "triggers": triggers,
        "price_basis": opp["basis"],
        "stated_budget": opp["budget"],
        "confidence": confidence,
        "best_time": best,
        "category": opp["category"],
        "categories": opp["categories"],
        "arr": account_arr,
        "capped": capped,
        "small_deal": small,
    }


def _shift(date: datetime | None, days: int) -> datetime | None:
    return date + timedelta(days=days) if date is not None else None


def _assign_ids(opps: list[dict]) -> None:
    """``<account_id>-<type>-<n>``, n from the key's hash; clashes bump the later keys by 97."""
    for o in opps:
        o["_n"] = _id_number(str(o["key"]))
    seen: dict[tuple[str, int], int] = {}
    for o in sorted(opps, key=lambda o: (o["type"], o["_n"], str(o["key"]))):
        kind, n = o["type"], o.pop("_n")
        clash = seen.get((kind, n), 0)
        seen[(kind, n)] = clash + 1
        o["opportunity_id"] = f"{o['account_id']}-{kind}-{n + clash * 97}"


def _account_opportunities(a: dict, book: _Book) -> list[dict]:
    p = _profile(a, book)
    merged = _merge(_candidates(p, book))
    _net_of_named_teams(p, merged, book.cfg)
    opps = [_score(p, o, book.cfg, book.as_of) for o in merged if not _held_back(p, o, book.cfg)]
    _assign_ids(opps)
    return opps


# --------------------------------------------------------------------------- entry points


def reference_opportunities(
    tables: dict[str, pd.DataFrame], *, as_of, config: ScoringConfig = DEFAULT_CONFIG
) -> pd.DataFrame:
    """The engine's opportunities, computed account by account (see the module docstring)."""
    return _opportunities(_read(tables), as_of, config)


def _opportunities(data: dict[str, list[dict]], as_of, config: ScoringConfig) -> pd.DataFrame:
    book = _Book(data, _as_of(as_of), config)
    rows: list[dict] = []
    for account in book.accounts:
        rows.extend(_account_opportunities(account, book))
    rows.sort(key=lambda r: (-r["score"], -r["expected_value"], r["opportunity_id"]))
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


def _same(a, b) -> bool:
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    numeric_a = isinstance(a, Number) and not isinstance(a, bool)
    numeric_b = isinstance(b, Number) and not isinstance(b, bool)
    if numeric_a and numeric_b:
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    return a == b


def compare(
    engine_opps: pd.DataFrame,
    reference_opps: pd.DataFrame,
    columns: list[str] | None = None,
    examples: int = 3,
) -> list[str]:
    """Human-readable differences between two opportunity frames; empty when they are identical.

    Rows are matched by ``opportunity_id``. Values are equal when both are missing, when
    numbers agree to ``rel_tol=1e-12`` (the same rounded value in floating point) or when
    anything else is ``==``.
    """
    columns = columns or COMPARE_COLUMNS
    out: list[str] = []
    engine = engine_opps.sort_values("opportunity_id", kind="stable")
    reference = reference_opps.sort_values("opportunity_id", kind="stable")
    for name, frame in (("engine", engine), ("reference", reference)):
        dupes = frame["opportunity_id"][frame["opportunity_id"].duplicated()]
        if len(dupes):
            out.append(
                f"{name}: {len(dupes)} duplicate opportunity ids, e.g. {list(dupes[:examples])}"
            )
    engine = engine.drop_duplicates("opportunity_id").set_index("opportunity_id", drop=False)
    reference = reference.drop_duplicates("opportunity_id").set_index("opportunity_id", drop=False)
    engine_ids, reference_ids = set(engine.index), set(reference.index)
    missing = sorted(engine_ids - reference_ids)
    extra = sorted(reference_ids - engine_ids)
    if missing:
        out.append(f"{len(missing)} opportunities only in the engine, e.g. {missing[:examples]}")
    if extra:
        out.append(f"{len(extra)} opportunities only in the reference, e.g. {extra[:examples]}")
    common = sorted(engine_ids & reference_ids)
    for column in columns:
        absent = [n for n, f in (("engine", engine), ("reference", reference)) if column not in f]
        if absent:
            out.append(f"column {column!r} missing from the {' and '.join(absent)} output")
            continue
        left = engine[column].to_dict()
        right = reference[column].to_dict()
        wrong = [i for i in common if not _same(left[i], right[i])]
        if wrong:
            shown = ", ".join(
                f"{i}: engine={left[i]!r} reference={right[i]!r}" for i in wrong[:examples]
            )
            out.append(f"{column}: {len(wrong)} of {len(common)} differ, e.g. {shown}")
    return out


def run_comparison(
    tables: dict[str, pd.DataFrame], as_of, config: ScoringConfig = DEFAULT_CONFIG
) -> dict:
    """Score ``tables`` with the engine and with the reference, timing each, and compare.

    Returns ``engine_seconds``, ``reference_seconds``, ``speedup`` (reference seconds / engine
    seconds), ``differences`` (:func:`compare`, empty when identical), ``opportunities`` and
    ``reference_read_seconds`` (the part of the reference's time spent turning the frames into
    Python rows). The engine's time is the whole :func:`~expansion.engine.analyze` call (which
    also writes the explanations and the other lists); the reference's includes the reading.
    """
    from expansion.engine import analyze

    started = time.perf_counter()
    engine_opps = analyze(tables, as_of=as_of, config=config).opportunities
    engine_seconds = time.perf_counter() - started
    started = time.perf_counter()
    data = _read(tables)
    read_seconds = time.perf_counter() - started
    reference_opps = _opportunities(data, as_of, config)
    reference_seconds = time.perf_counter() - started
    return {
        "engine_seconds": engine_seconds,
        "reference_seconds": reference_seconds,
        "speedup": reference_seconds / engine_seconds if engine_seconds > 0 else float("inf"),
        "differences": compare(engine_opps, reference_opps),
        "opportunities": len(engine_opps),
        "reference_read_seconds": read_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    from expansion import generate as gen
    from expansion.ingest import read_portfolio

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.reference",
        description="Generate a book, score it with the engine and the row-by-row reference.",
    )
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: the generator's)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="reference-") as tmp:
        folder = Path(tmp) / "book"
        report = gen.generate(args.accounts, seed=args.seed, out=folder, as_of=args.as_of)
        tables = read_portfolio(folder).tables
    print(
        f"book: {args.accounts} accounts, seed {args.seed}, as of {report.as_of}, "
        f"{report.total_rows} rows ({report.formats} formats)"
    )
    result = run_comparison(tables, report.as_of)
    print(f"opportunities:     {result['opportunities']}")
    print(f"engine seconds:    {result['engine_seconds']:.3f}")
    print(
        f"reference seconds: {result['reference_seconds']:.3f} "
        f"({result['reference_read_seconds']:.3f} reading the frames into Python rows)"
    )
    print(f"speed-up:          {result['speedup']:.2f}x (reference / engine)")
    if result["differences"]:
        print(f"DIFFERENT: {len(result['differences'])} differences")
        for line in result["differences"]:
            print(f"  - {line}")
        return 1
    print("identical: the engine's opportunities equal the reference's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
