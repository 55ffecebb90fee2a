"""The expansion engine: from validated tables to scored, explained opportunities.

:func:`analyze` is the whole pipeline of seed 002 (profile -> triggers -> guards -> scoring ->
explanations) over a portfolio at once. It returns an :class:`Analysis` of plain DataFrames;
persisting and querying them is :mod:`expansion.store`, rendering is :mod:`expansion.playbook`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import scoring, triggers
from .config import DEFAULT_CONFIG, ScoringConfig
from .contract import TABLES
from .frames import join_groups, per_distinct, python_objects, sorted_by
from .profile import (
    benchmark_gaps,
    benchmarks,
    build_profiles,
    choose_volume_metric,
    recent_signals,
    set_usage_volume,
    whitespace,
)
from .triggers import STRONG_TRIGGERS, Catalog, money, whole

TYPE_LABELS = {
    "tier_upgrade": "Tier Upgrade",
    "usage_expansion": "Usage Expansion",
    "seat_expansion": "Seat Expansion",
    "add_on": "Add-on / Module",
    "new_department": "New Department",
    "new_use_case": "New Use Case",
    "competitive_displacement": "Competitive Displacement",
    "professional_services": "Professional Services",
    "support_upgrade": "Support Upgrade",
}

# Seed 000's execution playbooks by type: the first concrete step for the owner.
ACTIONS = {
    "seat_expansion": "License audit with the champion, then a seat true-up proposal",
    "usage_expansion": "Share the usage trend and offer a capacity increase before they hit the wall",
    "tier_upgrade": "ROI analysis and a demo of the next tier's features against their limits",
    "add_on": "Use-case workshop and a 2-week pilot of the module",
    "new_department": "Department mapping with the champion, then a demo for the new team's lead",
    "new_use_case": "Discovery call tying the initiative to the product, then a scoped pilot",
    "competitive_displacement": "Consolidation business case: their spend vs. one platform",
    "professional_services": "Scope a services package with the project owner",
    "support_upgrade": "Review the ticket history and propose premium support with an SLA",
}

OPPORTUNITY_COLUMNS = [
    "opportunity_id",
    "account_id",
    "account_name",
    "segment",
    "type",
    "type_label",
    "product_id",
    "product_name",
    "key",
    "department",
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
    "arr",
    "owner",
    "status",
    "channel",
    "category",
    "categories",
    "triggers",
    "quantity",
    "pricing",
    "confidence",
    "description",
    "current_state",
    "proposed_state",
    "suggested_action",
    "timing",
    "timing_bucket",
    "best_time",
    "urgency",
    "renewal_aligned",
    "deadline",
    "revenue_factors",
    "effort_factors",
    "likelihood_factors",
    "explanation",
    "tier1_path",
    "sales_motion",
    "hours",
    "price_basis",
    "stated_budget",
    "caveat",
    "options",
    "account_propensity",
]


@dataclass
class Analysis:
    """Everything one scoring run produces, as DataFrames keyed by account_id."""

    as_of: pd.Timestamp
    config: ScoringConfig
    profiles: pd.DataFrame
    benchmarks: pd.DataFrame
    opportunities: pd.DataFrame
    evidence: pd.DataFrame
    activation: pd.DataFrame
    conversion_candidates: pd.DataFrame
    stabilize_first: pd.DataFrame
    data_gaps: pd.DataFrame
    product_gaps: pd.DataFrame
    catalog: pd.DataFrame = field(default_factory=pd.DataFrame)
    volume_metric: str | None = None  # the usage metric benchmarked as usage volume


@dataclass(frozen=True)
class PortfolioContext:
    """What scoring an account needs to know about the rest of the portfolio: segment
    benchmarks, segment ARR medians, the usage volume metric and which tables have rows.

    :func:`analyze` finds these in the tables it is given; scoring a portfolio a part at a time
    (:mod:`expansion.chunks`) gives each part the whole portfolio's, so every part scores
    exactly as it would in the whole.
    """

    benchmarks: pd.DataFrame
    segment_median_arr: pd.Series  # by segment
    volume_metric: str | None
    tables_with_rows: frozenset[str]


def _complete(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every contract table present (empty when not supplied), with canonical dtypes."""
    out = {}
    for name, table in TABLES.items():
        frame = tables.get(name)
        if frame is None:
            frame = pd.DataFrame(columns=table.column_names)
        frame = frame.copy()
        for column in table.columns:
            if column.name not in frame:
                frame[column.name] = None
            if column.kind in ("money", "number", "percent", "count"):
                frame[column.name] = pd.to_numeric(frame[column.name], errors="coerce").astype(
                    float
                )
            elif column.kind in ("date", "period"):
                frame[column.name] = pd.to_datetime(frame[column.name], errors="coerce")
            elif column.kind == "bool":
                frame[column.name] = frame[column.name].astype("boolean")
            elif column.name != "account_id":  # account ids become codes (_account_codes)
                frame[column.name] = _objects(frame[column.name])
        if "product_id" in frame:
            frame["product_id"] = _objects(frame["product_id"], text=True)
        out[name] = frame
    return out


def _account_codes(tables: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], np.ndarray]:
    """Every table's ``account_id`` as an integer code, with the ids the codes stand for.

    Codes follow the ids' sort order, so sorting by code sorts by id. The engine groups, maps,
    joins and filters on account ids dozens of times over millions of rows: on integers that
    is several times faster than on text. Rows without an account id belong to no account
    (ingest rejects them) and are left out. :func:`_account_names` turns codes back into ids.
    """
    names = [name for name, frame in tables.items() if "account_id" in frame]
    if not names:
        return dict(tables), np.array([], dtype=object)
    # One factorize over every table's ids (Arrow's dictionary encoding for text columns),
    # numbered in the distinct ids' sort order.
    every = pd.concat([tables[name]["account_id"] for name in names], ignore_index=True)
    codes, distinct = pd.factorize(every.astype("str"), sort=True)
    out = dict(tables)
    start = 0
    for name in names:
        frame = tables[name]
        mine = codes[start : start + len(frame)]
        start += len(frame)
        frame = frame.assign(account_id=mine)
        out[name] = frame if (mine >= 0).all() else frame[mine >= 0].reset_index(drop=True)
    return out, np.asarray(distinct, dtype=object)


def _account_names(analysis: Analysis, ids: np.ndarray) -> Analysis:
    """``analysis`` with account ids in place of :func:`_account_codes`' codes."""

    def names(codes) -> np.ndarray:
        codes = pd.Series(codes)
        known = codes.notna().to_numpy()
        out = np.full(len(codes), None, dtype=object)
        out[known] = ids.take(codes[known].to_numpy(dtype=np.int64))
        return out

    out = {}
    for field_name in (
        "profiles",
        "opportunities",
        "activation",
        "conversion_candidates",
        "stabilize_first",
        "data_gaps",
        "product_gaps",
    ):
        frame = getattr(analysis, field_name)
        if "account_id" in frame and len(frame):
            frame = frame.assign(account_id=names(frame["account_id"]))
        out[field_name] = frame
    profiles = out["profiles"]
    if len(profiles):
        profiles.index = pd.Index(names(profiles.index), dtype=object)
    return dataclasses.replace(analysis, **out)


def _objects(values: pd.Series, *, text: bool = False) -> pd.Series:
    return pd.Series(
        python_objects(values, text=text), index=values.index, dtype=object, name=values.name
    )


@dataclass
class Prepared:
    """A portfolio (or a part of one) read in, before anything that depends on the rest of the
    portfolio: tables keyed on account codes (see :func:`_account_codes`) without the usage
    rows (``metrics`` has what they tell), the look-back window's signals, profiles (usage
    volume not yet known) and usage metrics."""

    as_of: pd.Timestamp
    config: ScoringConfig
    tables: dict[str, pd.DataFrame]
    account_ids: np.ndarray
    signals: pd.DataFrame
    profiles: pd.DataFrame
    metrics: pd.DataFrame
    tables_with_rows: frozenset[str]


def prepare(
    tables: dict[str, pd.DataFrame],
    *,
    as_of: pd.Timestamp | str,
    config: ScoringConfig = DEFAULT_CONFIG,
) -> Prepared:
    """The first half of :func:`analyze`: what a part of a portfolio can work out alone."""
    as_of = pd.Timestamp(as_of).normalize()
    t, account_ids = _account_codes(_complete(tables))
    del tables
    signals = recent_signals(t["signals"], as_of, config)
    signals = signals[signals["account_id"].isin(t["accounts"]["account_id"])]
    p, metrics = build_profiles(t, signals, as_of, config)
    with_rows = frozenset(name for name, frame in t.items() if len(frame))
    t["usage"] = t["usage"].iloc[:0]  # 30 rows an account; from here on metrics tell it all
    return Prepared(as_of, config, t, account_ids, signals, p, metrics, with_rows)


def analyze(
    tables: dict[str, pd.DataFrame],
    *,
    as_of: pd.Timestamp | str,
    config: ScoringConfig = DEFAULT_CONFIG,
    context: PortfolioContext | None = None,
) -> Analysis:
    """Score a portfolio. ``tables`` are canonical frames (see :mod:`expansion.contract`).

    ``context``: the tables are a part of the portfolio (whole accounts), and this is the whole
    portfolio's :class:`PortfolioContext`; by default the tables are the whole portfolio.
    """
    return analyze_prepared(prepare(tables, as_of=as_of, config=config), context)


def analyze_prepared(prepared: Prepared, context: PortfolioContext | None = None) -> Analysis:
    """The second half of :func:`analyze`: with the portfolio ``context`` (by default: the
    prepared tables are the whole portfolio), triggers, guards, scoring and explanations."""
    cfg, as_of, t, account_ids = (
        prepared.config,
        prepared.as_of,
        prepared.tables,
        prepared.account_ids,
    )
    p, metrics, signals = prepared.profiles, prepared.metrics, prepared.signals
    volume = (
        choose_volume_metric(metrics["metric"].value_counts())
        if context is None
        else context.volume_metric
    )
    set_usage_volume(p, metrics, volume)
    if context is None:  # the benchmarks need every account's usage volume
        context = PortfolioContext(
            benchmarks=benchmarks(p),
            segment_median_arr=segment_median_arr(p),
            volume_metric=volume,
            tables_with_rows=prepared.tables_with_rows,
        )
    bench = context.benchmarks
    p = p.join(benchmark_gaps(p, bench))
    median_arr = p["segment"].map(context.segment_median_arr).astype(float)
    p["arr_vs_segment_median"] = p["arr"] / median_arr.where(median_arr > 0)
    p = p.join(scoring.propensity(p, cfg))
    p["recently_renewed"] = (p["days_since_renewal"] >= 0) & (
        p["days_since_renewal"] <= cfg.recently_renewed_days
    )
    p["health_label"] = _health_label(p, cfg)

    p = p.join(whitespace(p, t, signals))
    signals = triggers.signal_timing(signals, as_of)
    cat = Catalog(t["catalog"], t["subscriptions"], p)
    gap_candidates, product_gaps = triggers.feature_gap_triggers(
        p, t["features"], signals, cat, cfg
    )
    parts = [
        triggers.usage_limit_triggers(p, metrics, signals, cat, cfg),
        gap_candidates,
        triggers.people_triggers(p, t["departments"], signals, cat, cfg),
        triggers.intent_triggers(p, signals, cat, cfg),
        triggers.initiative_triggers(p, signals, cat, cfg),
        triggers.competitive_triggers(p, signals, cat, cfg),
        triggers.services_triggers(p, signals, cat, cfg),
    ]
    candidates = (
        pd.concat([x for x in parts if len(x)], ignore_index=True)
        if any(len(x) for x in parts)
        else triggers.empty_candidates()
    )
    merged, evidence = triggers.merge_candidates(candidates)
    merged, evidence = triggers.net_of_named_teams(merged, evidence, p, cfg)

    # --- guards (seed 002's edge cases): each outcome has its own list, nothing is dropped.
    stabilize = _stabilize_first(p, cfg)
    trials = p["status"].isin(["trial", "free"])
    low_use = p["seat_utilization"] < cfg.activation_max_seat_utilization
    seat_like = merged["type"].isin(["seat_expansion", "new_department"])
    held_for_activation = seat_like & merged["account_id"].map(low_use).fillna(False).astype(bool)
    in_stabilize = merged["account_id"].isin(stabilize.index)
    in_trial = merged["account_id"].map(trials).fillna(False).astype(bool)
    activation = _activation(p, t["features"], merged[held_for_activation], cfg)
    conversions = _conversion_candidates(p[trials], merged[in_trial], evidence, cat, cfg)
    stabilize = _held_back(stabilize, merged[in_stabilize & ~in_trial])

    opps = merged[~(held_for_activation | in_stabilize | in_trial)].copy()
    opps = _score(opps, p, cat, cfg, as_of, account_ids)
    evidence = evidence.merge(
        opps[["account_id", "key", "opportunity_id"]], on=["account_id", "key"]
    )
    evidence = evidence[["opportunity_id", "seq", "evidence"]].sort_values(
        ["opportunity_id", "seq"]
    )
    p["opportunities"] = opps.groupby("account_id").size().reindex(p.index).fillna(0).astype(int)
    p["expansion_potential"] = (
        opps.groupby("account_id")["expansion_arr"].sum().reindex(p.index).fillna(0.0)
    )
    p["readiness"] = _readiness(p, opps, stabilize)

    analysis = Analysis(
        as_of=as_of,
        config=cfg,
        profiles=p,
        benchmarks=bench,
        opportunities=opps[OPPORTUNITY_COLUMNS].reset_index(drop=True),
        evidence=evidence.reset_index(drop=True),
        activation=activation,
        conversion_candidates=conversions,
        stabilize_first=stabilize.reset_index(names="account_id"),
        data_gaps=_data_gaps(p, context.tables_with_rows),
        # By account (each account's in signal order), as every list is.
        product_gaps=sorted_by(product_gaps, ["account_id"]).reset_index(drop=True),
        catalog=t["catalog"],
        volume_metric=context.volume_metric,
    )
    return _account_names(analysis, account_ids)


# --------------------------------------------------------------------------- guards


def _health_label(p: pd.DataFrame, cfg: ScoringConfig) -> pd.Series:
    risk = (
        (p["health_score"] < cfg.unhealthy_health_score)
        | (p["usage_trend_pct"] <= cfg.declining_usage_pct)
        | p["negative_signals"].notna()
    )
    attention = (p["health_score"] < cfg.priority_high_health) | (p["usage_trend"] == "Declining")
    return pd.Series(
        np.select(
            [risk, attention, p["health_score"].isna() & ~p["has_usage"]],
            ["At Risk", "Needs Attention", "Unknown"],
            "Healthy",
        ),
        index=p.index,
    )


def _stabilize_first(p: pd.DataFrame, cfg: ScoringConfig) -> pd.DataFrame:
    paying = p["status"] == "paying"
    low_health = paying & (p["health_score"] < cfg.unhealthy_health_score)
    declining = paying & (p["usage_trend_pct"] <= cfg.declining_usage_pct)
    negative = paying & p["negative_signals"].notna()
    flagged = p[low_health | declining | negative]
    reasons = pd.DataFrame(index=flagged.index)
    reasons["health"] = np.where(
        low_health[flagged.index],
        "health "
        + flagged["health_score"].round().astype("Int64").astype(str)
        + "/100 (below "
        + f"{cfg.unhealthy_health_score:g})",
        "",
    )
    reasons["usage"] = np.where(
        declining[flagged.index],
        "usage down "
        + (-flagged["usage_trend_pct"]).round().astype("Int64").astype(str)
        + "% over the last "
        + str(cfg.trend_periods)
        + " months",
        "",
    )
    reasons["signals"] = np.where(
        negative[flagged.index], "risk signals: " + flagged["negative_signals"].fillna(""), ""
    )
    reason = (
        (reasons["health"] + "; " + reasons["usage"] + "; " + reasons["signals"])
        .str.replace(r"(; )+", "; ", regex=True)
        .str.strip("; ")
    )
    out = flagged[
        ["name", "segment", "arr", "owner", "health_score", "usage_trend_pct", "renewal_date"]
    ].copy()
    out = out.rename(columns={"name": "account_name"})
    out["reason"] = reason.reindex(out.index)
    out["action"] = (
        "Stabilize first: executive check-in and a success plan before any expansion ask; revisit when "
        "health is " + f"{cfg.priority_high_health:g}" + "+ and usage is stable for a quarter"
    )
    return out


def _held_back(stabilize: pd.DataFrame, held: pd.DataFrame) -> pd.DataFrame:
    g = held.groupby("account_id")
    stabilize["held_back_count"] = g.size().reindex(stabilize.index).fillna(0).astype(int)
    stabilize["held_back_arr"] = g["expansion_arr"].sum().reindex(stabilize.index).fillna(0.0)
    labels = held["type"].map(TYPE_LABELS)
    stabilize["held_back"] = join_groups(
        labels, held["account_id"], sep=", ", unique=True, ordered=True
    ).reindex(stabilize.index)
    return stabilize


def _activation(
    p: pd.DataFrame, features: pd.DataFrame, held: pd.DataFrame, cfg: ScoringConfig
) -> pd.DataFrame:
    columns = [
        "account_id",
        "account_name",
        "segment",
        "arr",
        "owner",
        "kind",
        "detail",
        "action",
        "unused_count",
    ]
    f = features[
        features["account_id"].isin(p.index) & features["entitled"].fillna(False).astype(bool)
    ]
    unused = f[
        ~f["used"].fillna(False).astype(bool)
        | (f["adoption_pct"] < cfg.activation_max_adoption_pct)
    ]
    parts = []
    if len(unused):
        g = unused.groupby("account_id")
        count = g.size()
        names = join_groups(unused["feature"], unused["account_id"], sep=", ", ordered=True)
        entitled = f.groupby("account_id").size()
        frame = pd.DataFrame({"unused_count": count})
        frame["kind"] = "features"
        frame["detail"] = (
            count.astype(str)
            + " of "
            + entitled.reindex(count.index).astype(str)
            + " entitled features unused or under 30% adoption: "
            + names
        )
        frame["action"] = "Enablement session and in-app guides for " + names.str.split(", ").str[
            :3
        ].str.join(", ")
        parts.append(frame)
    low = p[
        (p["seat_utilization"] < cfg.activation_max_seat_utilization) & (p["status"] == "paying")
    ]
    if len(low):
        unused_seats = (low["licensed_seats"] - low["active_seats"]).round()
        frame = pd.DataFrame({"unused_count": unused_seats}, index=low.index)
        frame["kind"] = "seats"
        frame["detail"] = (
            low["active_seats"].round().astype("Int64").astype(str)
            + " of "
            + low["licensed_seats"].round().astype("Int64").astype(str)
            + " seats active ("
            + (low["seat_utilization"] * 100).round().astype("Int64").astype(str)
            + "%)"
        )
        held_types = join_groups(
            held["type"].map(TYPE_LABELS), held["account_id"], sep=", ", unique=True, ordered=True
        )
        frame["detail"] = frame["detail"].where(
            ~frame.index.isin(held_types.index),
            frame["detail"]
            + "; held back from selling: "
            + held_types.reindex(frame.index).astype(object).fillna(""),
        )
        frame["action"] = (
            "Onboarding drive for the "
            + unused_seats.astype("Int64").astype(str)
            + " unused seats before selling more"
        )
        parts.append(frame)
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts)
    out.index.name = "account_id"
    out = out.reset_index()
    info = p[["name", "segment", "arr", "owner"]].rename(columns={"name": "account_name"})
    out = out.merge(info, left_on="account_id", right_index=True)
    return out.sort_values(["arr", "account_id", "kind"], ascending=[False, True, True])[
        columns
    ].reset_index(drop=True)


def _conversion_candidates(
    trials: pd.DataFrame,
    cands: pd.DataFrame,
    evidence: pd.DataFrame,
    cat: Catalog,
    cfg: ScoringConfig,
) -> pd.DataFrame:
    columns = [
        "account_id",
        "account_name",
        "segment",
        "status",
        "owner",
        "active_seats",
        "max_util_pct",
        "engagement",
        "conversion_score",
        "potential_arr",
        "plan",
        "signals",
        "action",
        "trial_ends",
    ]
    if trials.empty:
        return pd.DataFrame(columns=columns)
    depth = np.maximum(
        (trials["seat_utilization"] * 100 / cfg.usage_ceiling_pct * 100).clip(0, 100).fillna(0),
        (trials["max_util_pct"] / cfg.usage_ceiling_pct * 100).clip(0, 100).fillna(0),
    )
    engagement = (
        trials["engagement"].map(scoring.ENGAGEMENT_POINTS).fillna(cfg.propensity_missing_value)
    )
    health = trials["health_score"].fillna(cfg.propensity_missing_value)
    intent = np.minimum(
        50 * (trials["sig_expansion_intent"] > 0)
        + 30 * (trials["sig_exec_engagement"] > 0)
        + 20 * (trials["company_growth"] == "Hiring"),
        100,
    )
    score = scoring.round_half_up(0.35 * depth + 0.25 * engagement + 0.2 * health + 0.2 * intent)
    seats = np.maximum(trials["active_seats"].fillna(0), trials["licensed_seats"].fillna(0))
    tiers = cat.tiers
    entry = tiers.iloc[0] if len(tiers) else None
    plan = cat.current_tier.reindex(trials.index)
    if entry is not None:
        plan = plan.fillna(entry["product_id"])
    price = (
        plan.map(cat.products["price_per_seat"]).astype(float)
        if len(cat.products)
        else pd.Series(np.nan, index=trials.index)
    )
    potential = (seats * price).where(lambda s: s > 0, trials["arr"])
    out = pd.DataFrame(
        {
            "account_name": trials["name"],
            "segment": trials["segment"],
            "status": trials["status"],
            "owner": trials["owner"],
            "active_seats": trials["active_seats"],
            "max_util_pct": trials["max_util_pct"],
            "engagement": trials["engagement"],
            "conversion_score": score.astype(int),
            "potential_arr": potential.fillna(0.0),
            "plan": plan,
            "trial_ends": trials["renewal_date"],
        },
        index=trials.index,
    )
    ev = evidence.merge(cands[["account_id", "key"]], on=["account_id", "key"])
    out["signals"] = join_groups(
        ev["evidence"], ev["account_id"], sep="; ", unique=True, limit=3
    ).reindex(out.index)
    plan_name = (
        out["plan"].map(cat.products["name"]).fillna("a paid plan")
        if len(cat.products)
        else "a paid plan"
    )
    out["action"] = np.where(
        out["conversion_score"] >= 60,
        "Conversion call now: propose "
        + plan_name
        + " for "
        + seats.round().astype("Int64").astype(str)
        + " seats",
        "Nurture: onboarding help to reach the aha moment before asking for a paid plan",
    )
    out.index.name = "account_id"
    return (
        out.reset_index()
        .sort_values(["conversion_score", "potential_arr"], ascending=False)[columns]
        .reset_index(drop=True)
    )


#: The order of the result frames an analysis gives, beyond "by account" (profiles and the
#: other lists): (columns, the descending ones); missing values last, ties in account order.
#: Chunked scoring (:mod:`expansion.chunks`) puts its chunks' results in this order.
RESULT_ORDER: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "opportunities": (["score", "expected_value", "opportunity_id"], ("score", "expected_value")),
    "evidence": (["opportunity_id", "seq"], ()),
    "activation": (["arr", "account_id", "kind"], ("arr",)),
    "conversion_candidates": (
        ["conversion_score", "potential_arr"],
        ("conversion_score", "potential_arr"),
    ),
}

#: Account data gaps in the order :func:`_data_gaps` lists them; portfolio gaps follow.
DATA_GAPS = (
    "no usage data",
    "partner-managed",
    "no health score",
    "no renewal date",
    "no feature adoption data",
    "no owner",
)


def merge_data_gaps(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Data gaps of consecutive chunks of a portfolio as :func:`_data_gaps` lists the whole:
    by gap, each gap's accounts in order, the portfolio's own gaps (every chunk has them) once
    at the end."""
    gaps = pd.concat(parts, ignore_index=True)
    portfolio = gaps["account_id"].isna()
    gaps = gaps[~portfolio | ~gaps["gap"].where(portfolio).duplicated()]
    rank = gaps["gap"].map({gap: i for i, gap in enumerate(DATA_GAPS)}).astype(float)
    rank = rank.where(gaps["account_id"].notna(), len(DATA_GAPS))
    order = np.argsort(rank.to_numpy(), kind="stable")
    return gaps.iloc[order].reset_index(drop=True)


def segment_median_arr(profiles: pd.DataFrame) -> pd.Series:
    """Median ARR per segment, over every account."""
    return profiles.groupby("segment")["arr"].median()


def _data_gaps(p: pd.DataFrame, tables_with_rows: frozenset[str]) -> pd.DataFrame:
    """What each account is missing and what would make its scoring more confident."""
    masks = [
        ~p["has_usage"],
        p["channel"] == "partner",
        p["health_score"].isna(),
        p["renewal_date"].isna(),
        p["features_entitled"].isna(),
        p["owner"].isna(),
    ]
    impacts = [
        "Likelihood -1 and no usage triggers; connect product analytics (usage table) for this account",
        "Limited visibility into usage and relationship; run a joint business review with the partner",
        "Propensity uses a neutral health value; add health_score",
        "Timing cannot align with renewal; add renewal_date",
        "Adoption maturity is neutral and activation gaps are invisible; add the features table",
        "Opportunities cannot be routed; add an owner (CSM email)",
    ]
    checks = zip(masks, DATA_GAPS, impacts, strict=True)
    parts = []
    for mask, gap, impact in checks:
        rows = p[mask]
        parts.append(
            pd.DataFrame(
                {
                    "account_id": rows.index,
                    "account_name": rows["name"],
                    "gap": gap,
                    "impact": impact,
                }
            )
        )
    portfolio = []
    for table, impact in (
        (
            "catalog",
            "Expansion ARR falls back to each account's own ARR per seat; add catalog.<ext>",
        ),
        ("usage", "No usage-vs-limit triggers anywhere; add usage.<ext> from product analytics"),
        ("signals", "No growth, intent or risk signals; add signals.<ext>"),
        ("features", "No activation or feature-gap analysis; add features.<ext>"),
        ("departments", "No department whitespace; add departments.<ext>"),
    ):
        if table not in tables_with_rows:
            portfolio.append(
                {
                    "account_id": None,
                    "account_name": "(portfolio)",
                    "gap": f"no {table} data",
                    "impact": impact,
                }
            )
    parts.append(pd.DataFrame(portfolio, columns=["account_id", "account_name", "gap", "impact"]))
    return pd.concat(parts, ignore_index=True)


def _readiness(p: pd.DataFrame, opps: pd.DataFrame, stabilize: pd.DataFrame) -> pd.Series:
    best = opps.groupby("account_id")["tier"].min().reindex(p.index)
    return pd.Series(
        np.select(
            [p.index.isin(stabilize.index), best <= 2, best.notna()],
            ["Not Ready", "Ready Now", "Needs Nurturing"],
            "Not Ready",
        ),
        index=p.index,
    )


# --------------------------------------------------------------------------- scoring


def _score(
    opps: pd.DataFrame,
    p: pd.DataFrame,
    cat: Catalog,
    cfg: ScoringConfig,
    as_of: pd.Timestamp,
    account_ids: np.ndarray,
) -> pd.DataFrame:
    if opps.empty:
        return pd.DataFrame(columns=OPPORTUNITY_COLUMNS)
    cols = [
        "name",
        "segment",
        "arr",
        "owner",
        "status",
        "channel",
        "engagement",
        "health_score",
        "propensity",
        "has_usage",
        "recently_renewed",
        "usage_trend",
        "months_to_renewal",
        "renewal_date",
        "last_renewal_date",
        "sig_exec_engagement",
        "sig_expansion_intent",
        "licensed_seats",
        "active_seats",
        "plan",
        "seat_utilization",
        "employee_growth_pct",
    ]
    o = opps.merge(p[cols], left_on="account_id", right_index=True).rename(
        columns={"name": "account_name", "propensity": "account_propensity"}
    )
    o.index = pd.RangeIndex(len(o))
    in_window = (o["months_to_renewal"] >= 0) & (o["months_to_renewal"] <= 3)
    o["triggers"] = o["triggers"].where(~in_window, o["triggers"] + ",renewal_window")
    floor = np.maximum(cfg.small_deal_floor_arr, cfg.small_deal_floor_share * o["arr"].fillna(0))
    o["small_deal"] = o["expansion_arr"] < floor
    seat_like = o["type"].isin(["seat_expansion", "new_department"])
    o["oversized"] = ~o["stated"] & np.where(
        seat_like & (o["licensed_seats"] > 0),
        o["quantity"] > cfg.oversize_share * o["licensed_seats"],
        o["expansion_arr"] > cfg.oversize_share * o["arr"],
    )

    rev = scoring.revenue_score(o["expansion_arr"], o["arr"], cfg)
    eff = scoring.effort_score(o, cfg)
    lik = scoring.likelihood_score(o, cfg)
    o = pd.concat([o, rev, eff, lik], axis=1)

    o["raw_score"] = scoring.composite(
        o["revenue_score"], o["effort_score"], o["likelihood_score"], cfg
    )
    _caps(o, cfg)
    o["tier"] = scoring.tier(o["score"], cfg)
    o["close_probability"] = scoring.close_probability(
        o["type"], o["propensity"], cfg, scoring.evidence_level(o)
    )
    o["expansion_arr"] = scoring.round_half_up(o["expansion_arr"])
    o["expected_value"] = scoring.round_half_up(o["expansion_arr"] * o["close_probability"])
    o["priority"] = scoring.priority(o, cfg)

    o["type_label"] = o["type"].map(TYPE_LABELS)
    o["product_name"] = o["product_id"].map(cat.products["name"]) if len(cat.products) else None
    partner = o["channel"] == "partner"
    no_usage = ~o["has_usage"].astype(bool)
    o["confidence"] = np.select(
        [
            (o["basis"] == "estimate") | (partner & no_usage),
            partner
            | no_usage
            | (o["basis"] == "account_rate")
            | o["oversized"]
            | o["future"].astype(bool),
        ],
        ["low", "medium"],
        "high",
    )
    _caveats_and_options(o, cat, cfg, seat_like)
    o["price_basis"] = o["basis"]
    o["stated_budget"] = o["budget"]
    o["opportunity_id"] = _opportunity_ids(o, account_ids)
    _timing(o, cfg, as_of)
    _describe(o, cat)
    _explain(o, cfg)
    o["sales_motion"] = np.select(
        [
            o["small_deal"],
            (o["expansion_arr"] > cfg.ae_threshold_arr)
            | o["type"].isin(["tier_upgrade", "new_use_case", "competitive_displacement"]),
        ],
        ["self-serve", "sales-assisted"],
        "csm-led",
    )
    hours = [h for _, h in cfg.hours_by_effort]
    bounds = [b for b, _ in cfg.hours_by_effort]
    o["hours"] = np.select([o["effort_score"] >= b for b in bounds], hours, hours[-1])
    return best_first(o)


def _caveats_and_options(
    o: pd.DataFrame, cat: Catalog, cfg: ScoringConfig, seat_like: pd.Series
) -> None:
    """``caveat``: an unstated size above ``oversize_share`` of today's footprint, or a stated
    budget far from the catalog price; ``options``: the next tier as the other way to meet a
    capacity need (shown beside the deal, never as a second deal). Text only for their rows."""
    caveat = np.full(len(o), None, dtype=object)
    big = o["oversized"].to_numpy(dtype=bool)
    if big.any():
        r = o[big]
        footprint = np.where(
            seat_like[big],
            whole(r["quantity"]) + " seats on " + whole(r["licensed_seats"]) + " today",
            money(r["expansion_arr"]) + " on " + money(r["arr"]) + " ARR",
        )
        caveat[big] = (
            "Sized above +"
            + f"{cfg.oversize_share:.0%}"
            + " of today's footprint ("
            + footprint
            + "): confirm the size with the customer"
        )
    # A stated budget far from the catalog price: they may expect another scope.
    ratio = o["budget"] / o["expansion_arr"].where(o["expansion_arr"] > 0)
    apart = (o["stated"].astype(bool) & ((ratio >= 1.5) | (ratio <= 2 / 3))).to_numpy() & ~big
    if apart.any():
        caveat[apart] = (
            "Their budget ("
            + money(o["budget"][apart])
            + ") is "
            + _one_decimal(ratio[apart])
            + "x the catalog price: confirm the scope they expect (more people, a higher tier)"
        ).to_numpy(dtype=object)
    o["caveat"] = caveat
    options = np.full(len(o), None, dtype=object)
    usage = (o["type"] == "usage_expansion").to_numpy()
    if usage.any():
        r = o[usage]
        next_tier = r["account_id"].map(cat.next_tier)
        upgrade = cat.tier_difference(r["account_id"], next_tier, r["licensed_seats"])
        has = (next_tier.notna() & (upgrade > 0)).to_numpy()
        if has.any():
            name = next_tier.map(cat.products["name"]).astype(object).fillna(next_tier)
            options[np.flatnonzero(usage)[has]] = (
                "Or move to "
                + name[has].astype(str)
                + " ("
                + money(upgrade[has])
                + " a year more at today's seats), which lifts the plan's limits too"
            ).to_numpy(dtype=object)
    o["options"] = options


def _caps(o: pd.DataFrame, cfg: ScoringConfig) -> None:
    """The score, held below a tier the deal cannot be in yet, with the reason:

    - just renewed, no ceiling or stated ask (seed 002): at most Tier ``recently_renewed_max_tier``;
    - priced by an estimate: at most Tier 2 (a guess is never "spend this week on it");
    - below the small-deal floor: self-serve, at most Tier 3.
    """
    t1, t2 = cfg.tier_thresholds[0], cfg.tier_thresholds[1]
    strong = o["triggers"].str.contains("|".join(STRONG_TRIGGERS), regex=True) | o["stated"]
    renewed = o["recently_renewed"].astype(bool) & ~strong
    o["renewal_hold"] = renewed
    rules = [
        (
            renewed,
            cfg.tier_thresholds[cfg.recently_renewed_max_tier - 2] - 0.1,
            "renewed "
            + o["last_renewal_date"].dt.strftime("%Y-%m-%d").fillna("")
            + ", no ceiling or stated ask",
        ),
        (o["basis"] == "estimate", t1 - 0.1, pd.Series("priced by an estimate", index=o.index)),
        (
            o["small_deal"].astype(bool),
            t2 - 0.1,
            pd.Series("self-serve: below the small-deal floor", index=o.index),
        ),
    ]
    score = o["raw_score"].astype(float)
    reason = pd.Series("", index=o.index, dtype=object)
    for applies, cap, why in rules:
        hit = applies & (score > cap)
        score = score.where(~hit, cap)
        reason = reason.where(~hit, np.where(reason == "", why, reason + "; " + why))
    o["score"] = scoring.round_half_up(score, 1)
    o["capped"] = reason != ""
    o["cap_reason"] = reason.where(o["capped"])


def best_first(opps: pd.DataFrame) -> pd.DataFrame:
    """Opportunities by score, then expected value (both highest first, missing last), then id."""
    return sorted_by(
        opps, ["score", "expected_value", "opportunity_id"], descending=("score", "expected_value")
    )


def _opportunity_ids(o: pd.DataFrame, account_ids: np.ndarray) -> pd.Series:
    """``<account_id>-<type>-<n>``: n is derived from what is sold (product, department, metric),
    so the same opportunity keeps its id across re-scores and other opportunities come and go.
    ``o.account_id`` holds codes (see _account_codes) of ``account_ids``."""
    digest = pd.util.hash_pandas_object(o["key"].astype(str), index=False).to_numpy()
    n = pd.Series((digest % np.uint64(97)).astype(int) + 1, index=o.index)
    names = pd.Series(account_ids.take(o["account_id"].to_numpy()), index=o.index)
    base = names + "-" + o["type"] + "-"
    # Two keys of one account and type landing on the same n: bump the later (by key) ones.
    order = o.assign(_n=n).sort_values(["account_id", "type", "_n", "key"])
    clash = order.groupby(["account_id", "type", "_n"]).cumcount()
    n = n + clash.reindex(o.index) * 97
    return base + n.astype(str)


def _timing(o: pd.DataFrame, cfg: ScoringConfig, as_of: pd.Timestamp) -> None:
    """When to pitch each deal, by its own timing (seed 002: "be precise about timing"):

    - the customer's ask, a limit they hit, an explicit request or an active initiative: now,
      within ``request_window_days``;
    - a future event (an office not open yet, hires that start later): when it happens;
    - just renewed with nothing pressing: once they have settled into the new term;
    - anything else: this quarter.

    A renewal in the months after that moment is a bonus to mention (co-term), never a reason
    to wait for it.
    """
    triggers = o["triggers"]
    # A need visible in their usage or asked for (likelihood's strong evidence), or an active
    # initiative.
    explicit = o["stated"].astype(bool) | triggers.str.contains(
        "|".join((*scoring.STRONG_EVIDENCE, "initiative")), regex=True
    )
    future = o["future"].astype(bool)
    renewed = o["renewal_hold"].astype(bool) & ~future
    explicit = explicit & ~renewed
    renewal = o["renewal_date"]
    months = o["months_to_renewal"]
    settled = o["last_renewal_date"] + pd.Timedelta(days=75)
    event = o["event_date"].where(future)
    best = pd.Series(as_of + pd.Timedelta(days=30), index=o.index)
    best = best.where(~explicit, as_of)
    best = best.where(~renewed, settled)
    best = best.where(~future, event)
    best = best.clip(lower=as_of).fillna(as_of)
    o["best_time"] = best
    days = (best - as_of).dt.days
    o["timing_bucket"] = np.select(
        [days <= 30, days <= 90, days <= 180],
        ["This Month", "This Quarter", "Next Quarter"],
        "6+ Months",
    )
    o["renewal_aligned"] = ((renewal - best).dt.days.between(0, 130)).fillna(False)
    o["urgency"] = np.select(
        [(explicit & ~future) | ((months >= 0) & (months <= 3)), days <= 90],
        ["High", "Medium"],
        "Low",
    )
    when = best.dt.strftime("%Y-%m-%d")
    window = str(cfg.request_window_days)
    text = pd.Series("This quarter, from " + when, index=o.index)
    text = text.where(
        ~explicit,
        np.where(
            o["stated"].astype(bool),
            "Now: they asked; close within " + window + " days",
            "Now: the need is visible in their usage or requests; act within " + window + " days",
        ),
    )
    text = text.where(
        ~renewed,
        "After they settle into the new term (from " + settled.dt.strftime("%Y-%m-%d") + ")",
    )
    text = text.where(~future, "When it happens: from " + when + " (not yet started)")
    renewal_text = renewal.dt.strftime("%Y-%m-%d").fillna("")
    text = text.where(
        ~(o["renewal_aligned"] & renewal.notna()),
        text + "; co-term with the " + renewal_text + " renewal",
    )
    o["timing"] = text
    deadline_days = o["tier"].map({1: 7, 2: 30, 3: 90}).fillna(90)
    o["deadline"] = best + pd.to_timedelta(deadline_days, unit="D")


def _describe(o: pd.DataFrame, cat: Catalog) -> None:
    product = o["product_name"].fillna(o["product_id"]).fillna("")
    qty = whole(o["quantity"])
    seats_now = whole(o["licensed_seats"])
    # The plan as the catalog names it ("Professional"), else as the CRM spells it.
    tier_name = o["account_id"].map(cat.current_tier).map(cat.products["name"])
    plan = tier_name.astype(object).fillna(o["plan"]).fillna("their current plan").astype(str)
    dept = o["department"].fillna("").astype(str)
    office = o["key"].str.startswith("office:")
    metric = triggers.metric_label(o["key"].str.extract(r"^metric:(.*)$")[0].fillna("usage"))
    capacity = pd.Series(np.where(product != "", product, "more " + metric), index=o.index)
    current = seats_now + " seats on " + plan
    proposed = current + " + " + product
    for_team = pd.Series(
        np.where(dept != "", " for " + dept, " for the growing team"), index=o.index
    )
    asked = pd.Series(np.where(o["stated"].astype(bool), ", as they asked", ""), index=o.index)
    # (description, current state, proposed state) per type, built only for its own rows.
    rules = {
        "seat_expansion": lambda r: (
            "Add " + qty[r] + " seats" + for_team[r] + asked[r],
            current[r],
            whole(o["licensed_seats"][r] + o["quantity"][r]) + " seats on " + plan[r],
        ),
        "new_department": lambda r: (
            np.where(
                office[r],
                "Equip the new office with " + qty[r] + " seats",
                "Bring " + dept[r] + " onto the platform with " + qty[r] + " seats",
            )
            + asked[r],
            np.where(
                office[r],
                seats_now[r] + " seats, the new office not set up",
                seats_now[r] + " seats, " + dept[r] + " not using the product",
            ),
            seats_now[r]
            + " + "
            + qty[r]
            + " seats for "
            + np.where(office[r], "the new office", dept[r]),
        ),
        "tier_upgrade": lambda r: (
            "Move from "
            + plan[r]
            + " to "
            + product[r]
            + " for the limits and features they are reaching for",
            plan[r] + " tier",
            product[r] + " tier",
        ),
        "usage_expansion": lambda r: (
            np.where(
                product[r] != "",
                "Raise " + metric[r] + " capacity with " + capacity[r] + " ahead of the limit",
                "Raise the " + metric[r] + " limit before it stops them",
            ),
            "current " + metric[r] + " limit on " + plan[r],
            "higher " + metric[r] + " limit via " + capacity[r],
        ),
        "add_on": lambda r: (
            "Add " + product[r] + " to cover a need they have expressed",
            current[r],
            proposed[r],
        ),
        "new_use_case": lambda r: (
            "Extend to a new use case" + np.where(product[r] != "", " with " + product[r], ""),
            current[r],
            proposed[r],
        ),
        "competitive_displacement": lambda r: (
            "Consolidate a competitor's tool onto "
            + np.where(product[r] != "", product[r], "the platform"),
            current[r] + " plus a competitor",
            proposed[r],
        ),
        "professional_services": lambda r: (
            "Deliver " + product[r] + " for the project they asked help with",
            current[r],
            current[r] + " + " + product[r],
        ),
        "support_upgrade": lambda r: (
            "Upgrade to " + product[r] + " to absorb their support load",
            current[r] + ", standard support",
            current[r] + " + " + product[r],
        ),
    }
    texts = [
        np.array("Expand with " + product, dtype=object),
        np.array(current, dtype=object),
        np.array(proposed, dtype=object),
    ]
    kinds = o["type"].to_numpy()
    for kind, build in rules.items():
        rows = kinds == kind
        if rows.any():
            for out, text in zip(texts, build(rows), strict=True):
                out[rows] = np.asarray(text, dtype=object)
    desc, current, proposed = (pd.Series(t, index=o.index, dtype="str") for t in texts)
    o["description"] = per_distinct(
        desc, lambda d: d.str.replace(r"\s+", " ", regex=True).str.strip()
    )
    o["current_state"] = current
    o["proposed_state"] = proposed
    # A deal the customer asked for starts with answering them, not with discovery.
    seats = o["type"].isin(["seat_expansion", "new_department"]) & (o["quantity"].fillna(0) > 0)
    asked_for = pd.Series(
        np.where(
            seats,
            whole(o["quantity"].fillna(0)) + " seats",
            o["product_name"].fillna(o["type_label"].str.lower()).astype(str),
        ),
        index=o.index,
    )
    o["suggested_action"] = (
        o["type"]
        .map(ACTIONS)
        .where(
            ~o["stated"].astype(bool),
            "Send the proposal they asked for (" + asked_for + "), then agree the start date",
        )
    )


def _explain(o: pd.DataFrame, cfg: ScoringConfig) -> None:
    pct = (o["revenue_share"] * 100).round().astype("Int64").astype(str)
    deal = money(o["expansion_arr"])
    o["revenue_factors"] = (
        "+"
        + deal
        + " on "
        + money(o["arr"])
        + " ARR = "
        + pct
        + "% (relative "
        + o["revenue_relative"].astype(int).astype(str)
        + "/10), "
        + deal
        + " absolute ("
        + o["revenue_absolute"].astype(int).astype(str)
        + "/10); priced from "
        + o["pricing"].fillna("catalog")
    )
    effort = o["type_label"] + " baseline " + o["effort_base"].astype(int).astype(str)
    effort = effort.where(
        o["effort_footprint"] == 0,
        effort + "; size against the account " + o["effort_footprint"].astype(int).astype(str),
    )
    effort = effort.where(
        o["effort_large"] == 0, effort + "; deal size " + o["effort_large"].astype(int).astype(str)
    )
    effort = effort.where(o["effort_enterprise"] == 0, effort + "; enterprise procurement -1")
    effort = effort.where(o["effort_champion"] == 0, effort + "; engaged champion +1")
    effort = effort.where(
        o["effort_budget"] == 0,
        effort + "; budget stated for this deal +2 (at most " + f"{cfg.effort_budgeted_max:g})",
    )
    effort = effort.where(~o["small_deal"].astype(bool), effort + "; self-serve size: at least 9")
    o["effort_factors"] = effort
    levels = {
        "ask_budget_timeline": "they asked, with a budget and a timeline",
        "ask_budget": "they asked, with a budget or a timeline",
        "ask": "they asked",
        "strong": "need visible in usage or an explicit request",
        "good": "good signals, some unknowns",
        "weak": "weak signals",
    }
    lik = _one_decimal(o["likelihood_base"]) + " " + o["likelihood_level"].map(levels)
    lik = lik + "; " + _signed(o["likelihood_relationship"])
    lik = lik + " relationship (account propensity " + o["account_propensity"].astype(str) + ")"
    for column, text in (
        ("likelihood_corroboration", " more signals for the same need"),
        ("likelihood_sponsor", " executive sponsor"),
        ("renewal_bonus", " renewal within 90 days"),
        ("likelihood_future", " not happened yet"),
        ("likelihood_penalty", " limited visibility"),
    ):
        lik = lik.where(o[column] == 0, lik + "; " + _signed(o[column]) + text)
    capped_l = ~(o["likelihood_level"] == "ask_budget_timeline") & (
        o["likelihood_score"] >= cfg.likelihood_max_without_ask
    )
    lik = lik.where(
        ~capped_l,
        lik
        + "; at most "
        + f"{cfg.likelihood_max_without_ask:g}"
        + " without a stated ask, budget and timeline",
    )
    o["likelihood_factors"] = lik
    w_r, w_e, w_l = cfg.weight_revenue, cfg.weight_effort, cfg.weight_likelihood
    summary = (
        "Score "
        + per_distinct(o["score"], lambda v: v.map("{:.1f}".format), dtype=object)
        + " = "
        + f"{w_r:g}"
        + "x"
        + o["revenue_score"].astype(str)
        + " revenue + "
        + f"{w_e:g}"
        + "x"
        + o["effort_score"].astype(str)
        + " effort + "
        + f"{w_l:g}"
        + "x"
        + o["likelihood_score"].astype(str)
        + " likelihood"
    )
    summary = summary.where(
        ~o["capped"],
        summary
        + " ("
        + per_distinct(o["raw_score"], lambda v: v.map("{:.1f}".format), dtype=object)
        + ", held at Tier "
        + o["tier"].astype(str)
        + ": "
        + o["cap_reason"].fillna("")
        + ")",
    )
    if cfg.close_probability_basis:  # calibrated (or not yet) from decided outcomes
        summary = summary + "; " + cfg.close_probability_basis
    o["explanation"] = summary
    o["tier1_path"] = _tier1_path(o, cfg)


def _signed(values: pd.Series) -> pd.Series:
    """``+0.5`` / ``-1.5`` (one decimal, signed), once per distinct value."""

    def signed(v: pd.Series) -> pd.Series:
        text = v.round(2).map("{:+.2f}".format)
        return text.str.replace(r"(\.\d)0$", r"\1", regex=True)

    return per_distinct(values.astype(float), signed, dtype="str")


def _one_decimal(values: pd.Series) -> pd.Series:
    """``str(round(value, 1))`` ("2.5", "-1.0"), once per distinct value."""
    return per_distinct(values, lambda v: v.round(1).astype(str), dtype="str")


def _tier1_path(o: pd.DataFrame, cfg: ScoringConfig) -> pd.Series:
    """What the customer side would have to show for each deal to reach Tier 1, with the score
    each step would reach: steps a CSM can take this week, not "make the deal bigger".

    Steps, each scored on its own (the first two that reach Tier 1 are named), then together:
    confirm what the ask lacks (the need, the budget, a timeline) with the team's lead; an
    executive sponsor; co-term with a renewal inside the year. A held deal names what lifts the
    hold first (the post-renewal settling date, a catalog price or the customer's own figure
    instead of an estimate; a self-serve deal is not one to work). A deal whose revenue keeps
    it below Tier 1 whatever the customer says says so, with the tier to pursue it at. Every
    score is computed for every deal at once; text is built only for the deals it describes.
    """
    t1 = cfg.tier_thresholds[0]
    # Each step is scored by the scoring functions themselves, on the deal's inputs as the step
    # would change them (a slim copy: only what effort and likelihood read).
    inputs = o[
        [
            "type",
            "expansion_arr",
            "arr",
            "segment",
            "engagement",
            "small_deal",
            "triggers",
            "stated",
            "budget",
            "timeline",
            "account_propensity",
            "signal_count",
            "sig_exec_engagement",
            "months_to_renewal",
            "future",
            "channel",
            "has_usage",
            "recently_renewed",
        ]
    ]

    # Only deals a step could lift: Tier 1 is there already, a self-serve deal is not worked.
    small = o["small_deal"].astype(bool)
    open_deal = o["tier"] > 1
    worked = open_deal & ~small
    inputs = inputs[worked]

    def rescore(**step) -> pd.Series:
        changed = inputs.assign(
            **{k: (v[worked] if isinstance(v, pd.Series) else v) for k, v in step.items()}
        )
        effort = scoring.effort_score(changed, cfg)["effort_score"]
        likelihood = scoring.likelihood_score(changed, cfg)["likelihood_score"]
        score = scoring.composite(o["revenue_score"][worked], effort, likelihood, cfg)
        return score.reindex(o.index)

    asked_fully = o["likelihood_level"] == "ask_budget_timeline"
    stated = o["stated"].astype(bool)
    has_budget = o["budget"].fillna(0) > 0
    # 1. The ask in full: need, budget and timeline confirmed.
    ask = {
        "stated": True,
        "budget": o["budget"].where(has_budget, 1.0),
        "timeline": True,
    }
    confirm = rescore(**ask)
    # 2. An executive sponsor. 3. Co-terming with a renewal inside the year (the renewal then
    # falls in the deal's window).
    no_sponsor = o["likelihood_sponsor"] == 0
    sponsor = rescore(sig_exec_engagement=1.0)
    months = o["months_to_renewal"]
    coterm_possible = (months > 3) & (months <= 12)
    coterm = rescore(months_to_renewal=0.0)
    together = rescore(
        **ask,
        sig_exec_engagement=o["sig_exec_engagement"].where(~no_sponsor, 1.0),
        months_to_renewal=months.where(~coterm_possible, 0.0),
    )
    out = np.full(len(o), "", dtype=object)
    count = np.zeros(len(o), dtype=int)

    def reach(value: pd.Series) -> pd.Series:
        text = ": score " + per_distinct(value, lambda v: v.map("{:.1f}".format), dtype="str")
        return text + np.where(value >= t1, " (Tier 1)", "")

    def missing(r) -> pd.Series:
        return pd.Series(
            np.select(
                [~stated[r], ~has_budget[r], ~o["timeline"][r].astype(bool)],
                [
                    "the need, budget and timeline",
                    "the budget",
                    "a timeline (a start date or a proposal deadline)",
                ],
                "the ask",
            ),
            index=o.index[r],
        )

    def who(r) -> pd.Series:
        dept = o["department"][r]
        return pd.Series(
            np.where(dept.notna(), "the " + dept.astype(str) + " lead", "the champion"),
            index=o.index[r],
        )

    renewal = o["renewal_date"]

    def step(mask: pd.Series, value: pd.Series, text) -> None:
        """Name the step for the deals it lifts to Tier 1 (at most two steps a deal)."""
        r = (open_deal & mask & (value >= t1)).to_numpy() & (count < 2)
        if r.any():
            line = (text(r) + reach(value[r])).to_numpy(dtype=object)
            out[r] = np.where(count[r] == 0, line, out[r] + "; " + line)
            count[r] += 1

    step(~asked_fully, confirm, lambda r: "Confirm " + missing(r) + " with " + who(r))
    step(no_sponsor, sponsor, lambda r: pd.Series("Win an executive sponsor", index=o.index[r]))
    step(
        coterm_possible,
        coterm,
        lambda r: "Co-term it with the " + renewal[r].dt.strftime("%Y-%m-%d") + " renewal",
    )
    # None alone: all of them together, or why no step on the customer's side is enough.
    none = worked.to_numpy() & (count == 0)
    if none.any():
        r = none
        combined = (
            "Together: confirm "
            + missing(r)
            + " with "
            + who(r)
            + np.where(no_sponsor[r], ", win an executive sponsor", "")
            + np.where(
                coterm_possible[r],
                ", co-term with the " + renewal[r].dt.strftime("%Y-%m-%d").fillna("") + " renewal",
                "",
            )
            + reach(together[r])
        )
        limit = (
            "Not a Tier 1 deal at its size: with everything confirmed it would score "
            + per_distinct(together[r], lambda v: v.map("{:.1f}".format), dtype="str")
            + " (Tier "
            + scoring.tier(np.maximum(together[r], o["score"][r]), cfg).astype(str)
            + "); revenue "
            + o["revenue_score"][r].astype(str)
            + "/10 against "
            + money(o["arr"][r])
            + " ARR is the limit"
        )
        out[r] = np.where(together[r] >= t1, combined, limit)
    # Holds come first: nothing else moves a held deal.
    estimate = o["basis"] == "estimate"
    renewed = o["renewal_hold"].astype(bool)
    held = (open_deal & (small | estimate | renewed)).to_numpy()
    if held.any():
        r = held
        settled = o["last_renewal_date"][r] + pd.Timedelta(days=cfg.recently_renewed_days + 1)
        why = np.select(
            [small[r], estimate[r]],
            [
                "Self-serve size: let the product or billing handle it; not a deal to work",
                "Price it first: a catalog price or the customer's own figure instead of an "
                "estimate",
            ],
            "Wait for the post-renewal hold to end on "
            + settled.dt.strftime("%Y-%m-%d").fillna(""),
        )
        after = pd.Series(out[r], index=o.index[r]).astype(str)
        out[r] = np.select(
            [small[r], (o["raw_score"][r] >= t1)],
            [why, why + "; the score already qualifies"],
            why + "; then: " + after.str[:1].str.lower() + after.str[1:],
        )
    future = (open_deal & o["future"].astype(bool)).to_numpy()
    if future.any():
        r = future
        after = pd.Series(out[r], index=o.index[r]).astype(str)
        out[r] = (
            "Once it happens (from "
            + o["best_time"][r].dt.strftime("%Y-%m-%d")
            + "): "
            + after.str[:1].str.lower()
            + after.str[1:]
        ).to_numpy(dtype=object)
    out[~open_deal.to_numpy()] = "Already Tier 1"
    return pd.Series(out, index=o.index, dtype=object)
