"""A row-by-row reference implementation of the expansion engine's rules: the benchmark baseline.

The engine (:func:`expansion.engine.analyze`) scores a whole portfolio with vectorised pandas.
This module applies the same rules the way a person would write them by hand: the input rows
are read into plain Python dicts once and grouped per account, then each account is handled on
its own, one after the other:

1. **Profile**: usage per metric (latest value and limit, utilisation, trend over the last
   ``trend_periods`` periods, least-squares monthly slope, months until the limit is reached),
   seat utilisation (seat usage fills missing CRM seat counts), months to renewal, days since
   the last renewal, feature adoption, products owned, signal counts in the look-back window and
   propensity 0-100 (which needs the segment's median ARR, computed once for the portfolio).
2. **Triggers**: seed 002's seven categories (usage limits, feature gaps, departments, company
   growth, initiatives, competitors, services and support) as candidate opportunities.
3. **Merge**: candidates about the same thing to sell fold into one opportunity (the strongest
   trigger names the type; largest ARR estimate; every trigger kept).
4. **Guards**: stabilize-first accounts, seat sales held for activation and trial/free accounts
   are removed (they go to the engine's other lists, which are not reproduced here).
5. **Scoring**: revenue, effort and likelihood 1-10, composite, the recently-renewed cap, tier,
   close probability, expected value, priority and the opportunity id.

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
differently would move ``quantity`` at the 1e-10 level, not the rule.

Out of scope: the text columns (evidence, pricing notes, description, timing, explanations,
``tier1_path``...) and the engine's other lists (activation, conversion candidates, stabilize
first, data gaps). :data:`COMPARE_COLUMNS` are the columns compared with the engine.

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
from expansion.scoring import ENGAGEMENT_POINTS
from expansion.triggers import KIND_TO_TYPE, STRONG_TRIGGERS, TRIGGER_STRENGTH

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
    "close_probability",
    "expansion_arr",
    "expected_value",
    "priority",
    "triggers",
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
]

SEAT_LIKE = ("seat_expansion", "new_department")
AT_LIMIT = ("usage_ceiling", "seat_ceiling", "limit_hit")
_KIND_SEPARATORS = re.compile(r"[\s-]+")
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
            self.signals.setdefault(row["account_id"], []).append({**row, "kind": kind})

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
    }


def _product_candidate(
    p: dict,
    product_id: str,
    trigger: str,
    category: str,
    book: _Book,
    *,
    amount: float | None = None,
    department: str | None = None,
) -> dict:
    """Selling ``product_id`` (any kind): tier difference, list price, else a share of ARR."""
    cfg = book.cfg
    kind = KIND_TO_TYPE.get(book.products[product_id]["kind"], "add_on")
    seats = _first(p["licensed_seats"], 0.0)
    if kind == "tier_upgrade":
        arr = _tier_difference(p, product_id, seats, book)
    else:
        arr = book.price(product_id, seats)
    priced = arr is not None and arr > 0
    if not priced:
        arr = _mul(p["arr"], cfg.fallback_cross_sell_share)
    if amount is not None and amount > 0:
        # A known budget or competitor spend caps what the account will pay.
        arr = min(arr, amount) if priced else amount * 0.8
    return _candidate(trigger, category, product_id, kind, product_id, arr, department=department)


def _from_signal(s: dict) -> dict:
    """A candidate read off a signal: the stated amount caps it, it carries the department."""
    return {"amount": s["amount"], "department": s["department"]}


def _usage_type(p: dict, metric: str, book: _Book) -> tuple[str, str | None, str]:
    """(type, product, key) for more of ``metric``: a usage product, else the next tier."""
    usage_product = book.usage_by_unit.get(metric.lower())
    if usage_product is not None or p["next_tier"] is None:
        return "usage_expansion", usage_product, "metric:" + metric.lower()
    return "tier_upgrade", p["next_tier"], p["next_tier"]


def _metric_candidate(p: dict, m: dict, trigger: str, book: _Book) -> dict:
    cfg = book.cfg
    kind, product, key = _usage_type(p, m["metric"], book)
    value, limit = m["value"], m["limit"]
    growth = max(m["slope"], 0.0) * 6 / value if value > 0 else 0.0
    new_limit = max(value * (1 + growth) / cfg.seat_target_utilization, limit * 1.25)
    extra = new_limit - limit
    if kind == "tier_upgrade":
        arr = _tier_difference(p, product, p["licensed_seats"], book)
    else:
        unit_price = book.products[product]["unit_price"] if product is not None else None
        arr = _mul(extra, unit_price)
    if arr is None or not arr > 0:
        arr = _mul(p["arr"], extra / limit)
        arr = arr * 0.5 if arr is not None else None
    return _candidate(trigger, "usage_limits", key, kind, product, arr, quantity=extra)


def _seat_candidate(p: dict, trigger: str, category: str, seats: float) -> dict:
    return _candidate(
        trigger,
        category,
        "seats",
        "seat_expansion",
        p["current_tier"],
        _mul(seats, p["seat_price"]),
        quantity=seats,
    )


def _department_candidate(p: dict, trigger: str, seats: float, department: str, book: _Book):
    # A new team rarely buys more than the account already has: cap at today's footprint.
    cfg = book.cfg
    current = _first(p["licensed_seats"], 0.0) * cfg.department_max_vs_current
    seats = min(seats, max(current, cfg.department_min_headcount))
    return _candidate(
        trigger,
        "department",
        "dept:" + department.strip().lower(),
        "new_department",
        p["current_tier"],
        _mul(seats, p["seat_price"]),
        quantity=seats,
        department=department,
    )


def _candidates(p: dict, book: _Book) -> list[dict]:
    """Every trigger of seed 002's seven categories that fires for this account, in order."""
    cfg = book.cfg
    out: list[dict] = []
    signals = p["signals"]
    licensed = p["licensed_seats"]
    utilization = p["seat_utilization"]
    growth_pct = p["employee_growth_pct"]

    # 1. Usage limits: seats at the ceiling ...
    if utilization is not None and utilization * 100 >= cfg.usage_ceiling_pct and licensed > 0:
        growth = _clip(_first(growth_pct, 0.0), 0, 50) / 100
        needed = math.ceil(p["active_seats"] * (1 + growth) / cfg.seat_target_utilization)
        seats = max(needed - licensed, cfg.seat_min_add)
        out.append(_seat_candidate(p, "seat_ceiling", "usage_limits", float(seats)))
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
    # ... and plan limits hit.
    for s in signals:
        if s["kind"] != "limit_hit":
            continue
        detail = (s["detail"] or "").lower()
        metric = None
        for name in book.metric_names:
            lowered = str(name).lower()
            if lowered.replace("_", " ") in detail or lowered in detail:
                metric = name
                break
        is_seats = metric is not None and str(metric).lower() == "seats"
        kind, product, key = _usage_type(p, metric if metric is not None else "plan limits", book)
        if is_seats:
            kind, product, key = "seat_expansion", p["current_tier"], "seats"
        if kind == "tier_upgrade":
            arr = _tier_difference(p, product, _first(licensed, 0.0), book)
        elif is_seats:
            arr = _mul(cfg.seat_min_add, p["seat_price"])
        else:
            arr = None
        if arr is None or not arr > 0:
            arr = _mul(p["arr"], cfg.fallback_cross_sell_share)
        department = s["department"]
        out.append(
            _candidate("limit_hit", "usage_limits", key, kind, product, arr, department=department)
        )

    # 2. Feature gaps: requests a product answers, and features tried behind a paywall.
    for s in signals:
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

    # 3. Departments: people without seats, and new departments or offices.
    for d in book.departments.get(p["account_id"], []):
        if (
            _first(d["seats"], 0.0) != 0
            or _first(d["headcount"], 0.0) < cfg.department_min_headcount
        ):
            continue
        seats = float(math.ceil(d["headcount"] * cfg.department_seat_share))
        out.append(_department_candidate(p, "empty_department", seats, d["department"], book))
    for s in signals:
        if s["kind"] not in ("new_department", "new_office"):
            continue
        headcount = s["headcount"]
        seats = (
            float(math.ceil(headcount * cfg.department_seat_share))
            if headcount is not None
            else float(cfg.department_min_headcount)
        )
        if s["kind"] == "new_office":
            label = "office: " + _first(s["detail"], s["department"], "new office")
            trigger = "new_office"
        else:
            label = _first(s["department"], s["detail"], "new team")
            trigger = "new_department_signal"
        out.append(_department_candidate(p, trigger, seats, label, book))

    # 4. Company growth at accounts that use what they have.
    hiring = [s for s in signals if s["kind"] == "hiring"]
    funded = any(s["kind"] == "funding" for s in signals)
    grows = (growth_pct is not None and growth_pct >= cfg.growth_pct_threshold) or hiring or funded
    if (
        grows
        and _first(utilization, 0.0) >= cfg.growth_min_seat_utilization
        and licensed is not None
        and licensed > 0
    ):
        heads = [s["headcount"] for s in hiring if s["headcount"] is not None]
        hires = float(sum(heads))
        share = max(growth_pct, 0) / 100 if growth_pct is not None else 0.0
        used = min(utilization, 1.0)
        from_growth = math.ceil(licensed * share * used)
        from_hiring = math.ceil(hires * used)
        seats = float(max(from_growth, from_hiring, cfg.seat_min_add))
        out.append(_seat_candidate(p, "headcount_growth", "company_growth", seats))

    # 5. Strategic initiatives matched to what a product solves (else a share of ARR).
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
        kind, department = "new_use_case", s["department"]
        out.append(
            _candidate(
                "initiative", "initiative", "use_case", kind, None, arr, department=department
            )
        )

    # 6. Competitors: consolidate onto the product that covers it (spend caps the estimate).
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
        if s["amount"] is not None:
            arr = s["amount"] * 0.8
        else:
            arr = _mul(p["arr"], cfg.fallback_cross_sell_share)
        kind, department = "competitive_displacement", s["department"]
        out.append(
            _candidate(
                "competitor", "competitive", "competitor", kind, None, arr, department=department
            )
        )

    # 7. Services requests, and support load premium support would absorb.
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
                _candidate("support_load", "services", "support", "support_upgrade", None, arr)
            )
        elif not _owns(p, support, book):
            c = _product_candidate(p, support, "support_load", "services", book)
            out.append({**c, "type": "support_upgrade"})
    return out


def _merge(candidates: list[dict]) -> list[dict]:
    """One opportunity per thing to sell: the strongest trigger's type, the largest estimate."""
    kept = [c for c in candidates if c["expansion_arr"] is not None and c["expansion_arr"] > 0]
    kept.sort(key=lambda c: (c["key"], -c["strength"], -c["expansion_arr"]))
    groups: dict[str, list[dict]] = {}
    for c in kept:
        groups.setdefault(c["key"], []).append(c)
    out = []
    for key, group in groups.items():
        head = group[0]
        quantities = [c["quantity"] for c in group if c["quantity"] is not None]
        out.append(
            {
                "key": key,
                "type": head["type"],
                "product_id": head["product_id"],
                "category": head["category"],
                "department": head["department"],
                "expansion_arr": max(c["expansion_arr"] for c in group),
                "quantity": max(quantities) if quantities else None,
                "triggers": ",".join(dict.fromkeys(c["trigger"] for c in group)),
                "categories": ",".join(dict.fromkeys(c["category"] for c in group)),
            }
        )
    return out


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


def _score(p: dict, opp: dict, cfg: ScoringConfig) -> dict:
    """Revenue, effort and likelihood 1-10, the composite and everything derived from it."""
    counts = p["counts"]
    intent = counts.get("expansion_intent", 0) > 0
    exec_engaged = counts.get("exec_engagement", 0) > 0
    triggers = opp["triggers"]
    months = p["months_to_renewal"]
    if months is not None and 0 <= months <= 3:
        triggers += ",renewal_window"
    arr = opp["expansion_arr"]
    account_arr = p["arr"]

    # Revenue potential: the relative table blended with absolute dollars.
    share = arr / account_arr if account_arr is not None and account_arr > 0 else 1.0
    relative = _band(share, cfg.revenue_relative_bands)
    absolute = _band(arr, cfg.revenue_absolute_bands)
    w = cfg.revenue_absolute_weight
    revenue = int(_clip(_round_half_up((1 - w) * relative + w * absolute), 1, 10))

    # Effort: a baseline per type, moved by deal size, enterprise procurement and champions.
    effort = float(cfg.effort_baseline[opp["type"]])
    effort -= float(arr >= cfg.effort_large_deal_arr)
    effort -= float(arr >= cfg.effort_very_large_deal_arr)
    enterprise = p["segment"] == "enterprise" and opp["type"] in cfg.effort_enterprise_penalty_types
    effort -= float(enterprise)
    effort += float(exec_engaged or p["engagement"] == "high")
    effort += float(intent)
    effort = int(_clip(effort, 1, 10))

    # Likelihood: propensity / 10, trigger strength (capped), renewal window, penalties.
    bonus = 0.0
    for trigger, points in cfg.likelihood_trigger_bonus.items():
        if trigger in ("expansion_intent", "exec_engagement"):
            fired = counts.get(trigger, 0) > 0
        else:
            fired = trigger in triggers
        bonus += points if fired else 0.0
    bonus = min(bonus, 3.0)
    renewal = cfg.likelihood_renewal_window if "renewal_window" in triggers else 0.0
    pen = cfg.likelihood_penalty
    penalty = (
        pen["partner"] * (p["channel"] == "partner")
        + pen["no_usage_data"] * (not p["has_usage"])
        + pen["recently_renewed"] * p["recently_renewed"]
    )
    likelihood = p["propensity"] / 10 + bonus + renewal - penalty
    likelihood = int(_clip(_round_half_up(likelihood), 1, 10))

    raw = _round_half_up(
        cfg.weight_revenue * revenue
        + cfg.weight_effort * effort
        + cfg.weight_likelihood * likelihood,
        1,
    )
    # Just renewed: at most Tier 2 unless a ceiling, a limit hit, a new department or intent.
    strong = any(t in triggers for t in STRONG_TRIGGERS) or intent
    cap = cfg.tier_thresholds[cfg.recently_renewed_max_tier - 2] - 0.1
    capped = p["recently_renewed"] and not strong and raw > cap
    score = cap if capped else raw
    tier = 5
    for rank, threshold in enumerate(cfg.tier_thresholds, start=1):
        if score >= threshold:
            tier = rank
            break
    low, high = cfg.close_probability[opp["type"]]
    close = _round_half_up(low + (high - low) * p["propensity"] / 100, 3)
    rounded_arr = _round_half_up(arr)

    # Seed 003's High / Medium / Low, consistent with the tiers.
    at_limit = any(t in triggers for t in AT_LIMIT)
    healthy = _first(p["health_score"], 0.0) >= cfg.priority_high_health
    growing = p["usage_trend_pct"] is not None and p["usage_trend_pct"] >= 5
    if tier == 1 or (tier == 2 and at_limit and healthy):
        priority = "high"
    elif tier == 2 or (tier == 3 and (growing or at_limit)):
        priority = "medium"
    else:
        priority = "low"
    return {
        "account_id": p["account_id"],
        "account_name": p["name"],
        "segment": p["segment"],
        "type": opp["type"],
        "type_label": TYPE_LABELS[opp["type"]],
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
        "propensity": p["propensity"],
        "close_probability": close,
        "expansion_arr": rounded_arr,
        "expected_value": _round_half_up(rounded_arr * close),
        "priority": priority,
        "triggers": triggers,
        "category": opp["category"],
        "categories": opp["categories"],
        "arr": account_arr,
        "capped": capped,
    }


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
    opps = [_score(p, o, book.cfg) for o in merged if not _held_back(p, o, book.cfg)]
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
