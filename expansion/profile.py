"""Account profiles (seed 002's ACCOUNT template) and segment benchmarks, for a whole portfolio.

Everything here works on whole tables at once: one row per account comes out of grouped
aggregations, never out of a Python loop over accounts.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .config import ScoringConfig
from .contract import ACCOUNTS, NEGATIVE_SIGNALS, POSITIVE_SIGNALS
from .frames import join_groups, lex_order, per_distinct
from .limits import SAFE_EARLIEST, SAFE_LATEST

log = logging.getLogger(__name__)

DAYS_PER_MONTH = 30.4375
MAX_MONTHS_TO_LIMIT = 1200  # a limit reached later than this is never reached
BENCHMARK_DIMENSIONS = {
    "arr": "ARR",
    "licensed_seats": "Seats",
    "feature_adoption": "Feature adoption %",
    "products_owned": "Products owned",
    "usage_volume": "Usage volume",
}


def metric_label(metric: pd.Series) -> pd.Series:
    """``api_calls`` -> ``API calls``, ``storage_gb`` -> ``storage (GB)``: metric names as a
    reader says them."""

    def say(names: pd.Series) -> pd.Series:
        text = names.astype(str).str.replace("_", " ").str.strip()
        text = text.str.replace(r"^api\b", "API", regex=True)
        return text.str.replace(r"\s(gb|tb|mb)$", lambda m: f" ({m.group(1).upper()})", regex=True)

    return per_distinct(metric.astype(object), say, dtype="str")


def month_index(dates: pd.Series) -> pd.Series:
    """Months since year 0, so consecutive months differ by exactly 1."""
    return dates.dt.year * 12 + dates.dt.month - 1


def usage_metrics(usage: pd.DataFrame, as_of: pd.Timestamp, config: ScoringConfig) -> pd.DataFrame:
    """Latest value, limit, utilisation, trend and projected ceiling per (account, metric)."""
    columns = [
        "account_id",
        "metric",
        "period",
        "value",
        "limit",
        "util_pct",
        "trend_pct",
        "slope",
        "change_3p",
        "months_to_limit",
        "projected_date",
        "periods",
    ]
    u = usage[usage["period"] <= as_of].dropna(subset=["value", "account_id", "metric"])
    if u.empty:  # typed like a frame with rows, so callers' fills and joins work alike
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
        return empty.astype(
            {
                "account_id": usage["account_id"].dtype,
                "metric": object,
                "period": "datetime64[ns]",
                "projected_date": "datetime64[ns]",
            }
        )
    # Rows in (account, metric, period) order, ties in their order, keyed by one integer per
    # (account, metric): sorting and grouping millions of rows on two text columns took
    # seconds; on integer codes (in the texts' sort order) it is a fraction of that.
    accounts, account_ids = pd.factorize(u["account_id"], sort=True)
    metric_codes, metric_names = pd.factorize(u["metric"], sort=True)
    group = accounts.astype(np.int64) * len(metric_names) + metric_codes
    period = u["period"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    order = lex_order([group, period])  # None: already in order, as a merged snapshot is
    if order is not None:
        u, group = u.iloc[order], group[order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sizes = np.diff(np.r_[starts, len(group)])
    gid = np.repeat(np.arange(len(starts)), sizes)
    from_end = np.repeat(sizes, sizes) - 1 - (np.arange(len(group)) - np.repeat(starts, sizes))
    keys = pd.MultiIndex.from_arrays(
        [
            account_ids.take(group[starts] // len(metric_names)),
            metric_names.take(group[starts] % len(metric_names)),
        ],
        names=["account_id", "metric"],
    )
    in_window = from_end < config.trend_periods
    window = pd.DataFrame(
        {
            "value": u["value"].to_numpy()[in_window],
            "x": month_index(u["period"][in_window]).to_numpy(dtype=float),
        },
        index=gid[in_window],
    )
    window["xy"] = window["x"] * window["value"]
    window["xx"] = window["x"] ** 2
    g = window.groupby(level=0, sort=False)
    sums = g[["x", "value", "xy", "xx"]].sum().set_axis(keys)
    n = g.size().set_axis(keys)
    denominator = n * sums["xx"] - sums["x"] ** 2
    slope = (n * sums["xy"] - sums["x"] * sums["value"]) / denominator.replace(0, np.nan)
    first = g["value"].first().set_axis(keys)
    last = u[from_end == 0].set_axis(keys)
    three_back = pd.Series(np.nan, index=keys)
    back = from_end == 3
    three_back.iloc[gid[back]] = u["value"].to_numpy()[back]

    out = last[["period", "value", "limit"]].copy()
    out["periods"] = n
    out["slope"] = slope.fillna(0.0)
    out["trend_pct"] = np.where(first > 0, (out["value"] - first) / first * 100, np.nan)
    out["change_3p"] = out["value"] - three_back
    limit = out["limit"].where(out["limit"] > 0)
    out["util_pct"] = out["value"] / limit * 100
    headroom = limit - out["value"]
    grows = out["slope"] > 0
    months = headroom / out["slope"]
    # A flat series with a hair of upward slope (float noise) "reaches" its limit centuries out:
    # beyond MAX_MONTHS_TO_LIMIT it never does, as far as a plan is concerned.
    reaches = grows & (headroom > 0) & (months <= MAX_MONTHS_TO_LIMIT)
    out["months_to_limit"] = np.where(reaches, months, np.nan)
    out.loc[headroom <= 0, "months_to_limit"] = 0.0
    out["projected_date"] = as_of + pd.to_timedelta(
        out["months_to_limit"] * DAYS_PER_MONTH, unit="D"
    )
    return out.reset_index()[columns]


def build_profiles(
    tables: dict[str, pd.DataFrame],
    signals: pd.DataFrame,
    as_of: pd.Timestamp,
    config: ScoringConfig,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per account with every profile figure, plus the per-metric usage frame.

    ``signals`` are the look-back window's signals (:func:`recent_signals`). The usage volume
    is left unknown: it is the whole portfolio's most common metric, which ``tables`` may be
    only a part of (see :func:`choose_volume_metric` and :func:`set_usage_volume`).
    """
    accounts = usable_dates(tables["accounts"]).set_index("account_id", drop=False)
    p = accounts.copy()
    p.index.name = None

    licensed = p["licensed_seats"].astype(float)
    active = p["active_seats"].astype(float)
    metrics = usage_metrics(tables["usage"], as_of, config)
    seats_metric = metrics[metrics["metric"].str.lower() == "seats"].set_index("account_id")
    # Fill seat figures from seat usage when the CRM does not carry them.
    licensed = licensed.fillna(seats_metric["limit"].reindex(p.index))
    active = active.fillna(seats_metric["value"].reindex(p.index))
    p["licensed_seats"] = licensed
    p["active_seats"] = active
    p["seat_utilization"] = (active / licensed.where(licensed > 0)).astype(float)
    p["active_seat_change_3p"] = seats_metric["change_3p"].reindex(p.index)

    p["months_to_renewal"] = (p["renewal_date"] - as_of).dt.days / DAYS_PER_MONTH
    p["days_since_renewal"] = (as_of - p["last_renewal_date"]).dt.days.astype(float)

    # Usage summary across metrics.
    by_account = metrics.groupby("account_id")
    p["has_usage"] = p.index.isin(metrics["account_id"])
    p["usage_trend_pct"] = by_account["trend_pct"].median().reindex(p.index)
    top = metrics.sort_values("util_pct", ascending=False, kind="stable").drop_duplicates(
        "account_id"
    )
    top = top.set_index("account_id")
    p["max_util_pct"] = top["util_pct"].reindex(p.index)
    p["max_util_metric"] = top["metric"].reindex(p.index)
    near = metrics[metrics["util_pct"] >= config.usage_ceiling_pct]
    p["limits_near"] = join_groups(
        metric_label(near["metric"]) + " " + near["util_pct"].round().astype(int).astype(str) + "%",
        near["account_id"],
        sep=", ",
    ).reindex(p.index)
    p["usage_trend"] = np.select(
        [p["usage_trend_pct"] >= 5, p["usage_trend_pct"] <= -10, p["usage_trend_pct"].notna()],
        ["Growing", "Declining", "Flat"],
        "Unknown",
    )
    p["usage_intensity"] = np.select(
        [
            p["max_util_pct"] >= 90,
            p["max_util_pct"] >= 70,
            p["max_util_pct"] >= 40,
            p["max_util_pct"].notna(),
        ],
        ["Power User", "Heavy", "Moderate", "Light"],
        "Unknown",
    )
    set_usage_volume(p, metrics, None)

    # Feature adoption of what the account is entitled to.
    f = tables["features"]
    entitled = f[f["entitled"].fillna(False).astype(bool)]
    used = entitled["used"].fillna(False).astype(bool)
    p["features_entitled"] = entitled.groupby("account_id").size().reindex(p.index)
    p["features_used"] = used.groupby(entitled["account_id"]).sum().reindex(p.index)
    p["feature_adoption"] = (
        p["features_used"] / p["features_entitled"].where(p["features_entitled"] > 0) * 100
    )
    p["products_owned"] = (
        tables["subscriptions"].groupby("account_id").size().reindex(p.index).fillna(0)
    )

    # Signals in the look-back window.
    s = signals
    counts = s.groupby(["account_id", "kind"]).size().unstack(fill_value=0)
    for kind in (*POSITIVE_SIGNALS, *NEGATIVE_SIGNALS):
        p[f"sig_{kind}"] = counts[kind].reindex(p.index).fillna(0) if kind in counts else 0.0
    negatives = s[s["kind"].isin(NEGATIVE_SIGNALS)]
    p["negative_signals"] = join_groups(
        negatives["kind"].str.replace("_", " "),
        negatives["account_id"],
        sep=", ",
        unique=True,
        ordered=True,
    ).reindex(p.index)
    intent = s[s["kind"] == "expansion_intent"].groupby("account_id")["amount"].max()
    p["intent_budget"] = intent.reindex(p.index)

    growth = p["employee_growth_pct"]
    p["company_growth"] = np.select(
        [
            (growth >= config.growth_pct_threshold)
            | (p["sig_hiring"] > 0)
            | (p["sig_funding"] > 0),
            (growth < -5) | (p["sig_layoffs"] > 0),
        ],
        ["Hiring", "Contracting"],
        "Flat",
    )
    return p, metrics


def usable_dates(accounts: pd.DataFrame) -> pd.DataFrame:
    """``accounts`` with every date outside the window the engine can count days in treated as
    unknown (logged): a sync rejects such dates, but one stored by an older release must cost
    its account a date (its "no renewal date" data gap), not the whole book its scoring."""
    columns = [c.name for c in ACCOUNTS.columns if c.kind == "date" and c.name in accounts]
    earliest, latest = pd.Timestamp(SAFE_EARLIEST), pd.Timestamp(SAFE_LATEST)
    bad = {}
    for name in columns:
        dates = accounts[name]
        if pd.api.types.is_datetime64_any_dtype(dates):
            outside = (dates < earliest) | (dates > latest)
            if outside.any():
                bad[name] = outside
    if not bad:
        return accounts
    accounts = accounts.copy()
    for name, outside in bad.items():
        accounts[name] = accounts[name].where(~outside)
        names = accounts.loc[outside, "name"].astype(str)
        log.warning(
            "%d accounts have a %s outside %s..%s, scored as unknown (fix it in the source): %s",
            len(names),
            name,
            SAFE_EARLIEST,
            SAFE_LATEST,
            ", ".join(names.head(5)) + (", ..." if len(names) > 5 else ""),
        )
    return accounts


def set_usage_volume(p: pd.DataFrame, metrics: pd.DataFrame, volume_metric: str | None) -> None:
    """Each account's usage volume: the latest value of the portfolio's ``volume_metric``
    (see :func:`choose_volume_metric`; ``None``: not known yet, or no such metric)."""
    volume = metrics[metrics["metric"] == volume_metric].set_index("account_id")["value"]
    p["usage_volume"] = volume.reindex(p.index) if volume_metric is not None else np.nan


def recent_signals(
    signals: pd.DataFrame, as_of: pd.Timestamp, config: ScoringConfig
) -> pd.DataFrame:
    """Signals dated within the look-back window (undated signals count as current)."""
    date = signals["date"]
    start = as_of - pd.Timedelta(days=config.signal_lookback_days)
    keep = date.isna() | ((date <= as_of) & (date >= start))
    out = signals[keep].copy()
    out["kind"] = per_distinct(
        out["kind"], lambda k: k.str.strip().str.lower().str.replace(r"[\s-]+", "_", regex=True)
    )
    return out


def choose_volume_metric(counts: pd.Series) -> str | None:
    """The portfolio's usage volume: its most common non-seat metric (ties: the first by
    name), from how many accounts have each metric (``metrics["metric"].value_counts()`` of
    :func:`usage_metrics`; counts of parts of a portfolio add up to the whole's)."""
    counts = counts[(counts > 0) & (counts.index.astype(str).str.lower() != "seats")]
    if counts.empty:
        return None
    return str(counts.sort_index().idxmax())


def benchmarks(profiles: pd.DataFrame) -> pd.DataFrame:
    """Segment average and top quartile per dimension, built from the portfolio itself."""
    paying = profiles[profiles["status"] == "paying"]
    dims = list(BENCHMARK_DIMENSIONS)
    grouped = paying[dims].astype(float).groupby(paying["segment"])
    avg = grouped.mean().stack(future_stack=True).rename("average")
    top = grouped.quantile(0.75).stack(future_stack=True).rename("top_quartile")
    peers = paying.groupby("segment").size().rename("peers")
    out = pd.concat([avg, top], axis=1).reset_index()
    out.columns = ["segment", "dimension", "average", "top_quartile"]
    return out.merge(peers.reset_index(), on="segment", how="left")


def benchmark_gaps(profiles: pd.DataFrame, bench: pd.DataFrame) -> pd.DataFrame:
    """Per account: how many dimensions sit below the segment average, and which."""
    wide_avg = bench.pivot(index="segment", columns="dimension", values="average")
    below = pd.DataFrame(index=profiles.index)
    for dim in BENCHMARK_DIMENSIONS:
        if dim not in wide_avg:
            continue
        reference = profiles["segment"].map(wide_avg[dim])
        below[dim] = profiles[dim].astype(float) < reference
    labels = pd.Series(BENCHMARK_DIMENSIONS)
    names = below.dot(labels.reindex(below.columns).astype(str) + ", ").str.rstrip(", ")
    return pd.DataFrame(
        {"below_average_count": below.sum(axis=1), "below_average": names.replace("", None)},
        index=profiles.index,
    )


def whitespace(
    p: pd.DataFrame, tables: dict[str, pd.DataFrame], signals: pd.DataFrame
) -> pd.DataFrame:
    """Untapped potential per account along seed 000's dimensions."""
    d = tables["departments"]
    d = d[d["account_id"].isin(p.index)]
    headroom = (d["headcount"].fillna(0) - d["seats"].fillna(0)).clip(lower=0)
    by_dept = headroom.groupby(d["account_id"]).sum()
    by_company = (p["employee_count"] - p["licensed_seats"]).clip(lower=0)
    f = tables["features"]
    entitled = f["entitled"].fillna(False).astype(bool)
    unused = f[entitled & ~f["used"].fillna(False).astype(bool)].groupby("account_id").size()
    catalog = tables["catalog"]
    add_ons = set(catalog.loc[catalog["kind"] == "add_on", "product_id"].astype(str))
    subs = tables["subscriptions"]
    owned = subs[subs["product_id"].isin(add_ons)].groupby("account_id").size()
    empty = d[(d["seats"].fillna(0) == 0) & (d["headcount"].fillna(0) > 0)]
    teams = join_groups(
        empty["department"].astype(str)
        + " ("
        + empty["headcount"].astype(float).round().astype("Int64").astype(str)
        + " people)",
        empty["account_id"],
        sep=", ",
    )
    employees = p["employee_count"].astype(float)
    return pd.DataFrame(
        {
            "whitespace_teams": teams.reindex(p.index),
            "seat_penetration": p["licensed_seats"] / employees.where(employees > 0),
            "whitespace_seats": by_dept.reindex(p.index).fillna(by_company),
            "whitespace_departments": (d["seats"].fillna(0) == 0)
            .groupby(d["account_id"])
            .sum()
            .reindex(p.index)
            .fillna(0),
            "whitespace_unused_features": unused.reindex(p.index).fillna(0),
            "whitespace_products": (len(add_ons) - owned.reindex(p.index).fillna(0)).clip(lower=0),
            "whitespace_offices": signals[signals["kind"] == "new_office"]
            .groupby("account_id")
            .size()
            .reindex(p.index)
            .fillna(0),
        },
        index=p.index,
    )
