"""Seed 002's scoring tables, seed 000's propensity and close probability, seed 003's priority.

Every function takes whole columns and returns whole columns; thresholds come from
:class:`~expansion.config.ScoringConfig` so the code reads like the methodology's tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import ScoringConfig

ENGAGEMENT_POINTS = {"high": 100.0, "medium": 60.0, "low": 20.0}


def band_score(values: pd.Series, bands: list[list[float]]) -> pd.Series:
    """Score from a ``[[lower_bound, score], ...]`` table sorted by descending bound."""
    bounds = [b[0] for b in bands]
    scores = [b[1] for b in bands]
    conditions = [values >= bound for bound in bounds]
    return pd.Series(np.select(conditions, scores, scores[-1]), index=values.index, dtype=float)


def round_half_up(values: pd.Series | np.ndarray, digits: int = 0) -> pd.Series:
    """Commercial rounding (7.45 -> 7.5), not banker's rounding."""
    factor = 10.0**digits
    return np.floor(np.asarray(values, dtype=float) * factor + 0.5 + 1e-9) / factor


def revenue_score(
    expansion_arr: pd.Series, current_arr: pd.Series, cfg: ScoringConfig
) -> pd.DataFrame:
    """Revenue potential 1-10, blending the relative table with absolute dollars."""
    share = (expansion_arr / current_arr.where(current_arr > 0)).fillna(1.0)
    relative = band_score(share, cfg.revenue_relative_bands)
    absolute = band_score(expansion_arr.fillna(0), cfg.revenue_absolute_bands)
    w = cfg.revenue_absolute_weight
    blended = pd.Series(round_half_up((1 - w) * relative + w * absolute), index=expansion_arr.index)
    return pd.DataFrame(
        {
            "revenue_score": blended.clip(1, 10).astype(int),
            "revenue_relative": relative,
            "revenue_absolute": absolute,
            "revenue_share": share,
        }
    )


def effort_score(opps: pd.DataFrame, cfg: ScoringConfig) -> pd.DataFrame:
    """Effort 1-10 (10 = self-serve): a baseline per type, less for a deal large against the
    account's footprint or in dollars, more with a champion, and with a budget the customer
    stated for this deal. A deal below the small-deal floor is self-serve (at least 9)."""
    base = opps["type"].map(cfg.effort_baseline).astype(float)
    share = opps["expansion_arr"] / opps["arr"].where(opps["arr"] > 0)
    footprint = pd.Series(
        np.select(
            [share >= bound for bound, _ in cfg.effort_footprint_bands],
            [points for _, points in cfg.effort_footprint_bands],
            0.0,
        ),
        index=opps.index,
    )
    # A budget the customer stated for this deal: champion-led, budget already allocated
    # (seed 002's 7-8): +2, and no procurement penalties for its size or the segment.
    budget = (opps["stated"].astype(bool) & (opps["budget"] > 0)).astype(float)
    large = ((opps["expansion_arr"] >= cfg.effort_large_deal_arr) & (budget == 0)).astype(float)
    very_large = ((opps["expansion_arr"] >= cfg.effort_very_large_deal_arr) & (budget == 0)).astype(
        float
    )
    # Enterprise procurement, unless the customer has already allocated the budget.
    enterprise = (
        (opps["segment"] == "enterprise")
        & opps["type"].isin(cfg.effort_enterprise_penalty_types)
        & (budget == 0)
    ).astype(float)
    champion = ((opps["sig_exec_engagement"] > 0) | (opps["engagement"] == "high")).astype(float)
    score = (base - footprint - large - very_large - enterprise + champion + 2 * budget).clip(1, 10)
    # Budget allocated is seed 002's 7-8 ("1-2 meetings, champion-led"), never self-serve.
    score = score.where(budget == 0, score.clip(upper=cfg.effort_budgeted_max))
    small = opps["small_deal"].astype(bool)
    score = score.where(~small, np.maximum(score, 9))
    return pd.DataFrame(
        {
            "effort_score": score.astype(int),
            "effort_base": base,
            "effort_footprint": -footprint,
            "effort_large": -(large + very_large),
            "effort_enterprise": -enterprise,
            "effort_champion": champion,
            "effort_budget": 2 * budget,
        }
    )


def propensity(p: pd.DataFrame, cfg: ScoringConfig) -> pd.DataFrame:
    """Expansion propensity 0-100 per account (seed 000): health, adoption, growth,
    engagement and budget capacity, each 0-100, weighted."""
    missing = cfg.propensity_missing_value
    health = (p["health_score"] / cfg.propensity_ready_health * 100).clip(0, 100).fillna(missing)
    adoption = (p["feature_adoption"] / cfg.propensity_mature_adoption * 100).clip(0, 100)
    adoption = adoption.fillna(missing)
    growth_pct = (p["employee_growth_pct"].clip(lower=0) / 30 * 100).clip(0, 100)
    signals = np.minimum(60 * (p["sig_hiring"] > 0) + 80 * (p["sig_funding"] > 0), 100)
    growth = np.maximum(growth_pct.fillna(0), signals)
    growth = pd.Series(np.where(p["employee_growth_pct"] < 0, 0, growth), index=p.index)
    growth = growth.where(p["employee_growth_pct"].notna() | (signals > 0), missing * 0.6)
    engagement = p["engagement"].map(ENGAGEMENT_POINTS).fillna(missing)
    engagement = engagement.where(~(p["sig_exec_engagement"] > 0), 100.0)
    budget = (
        40 * (p["sig_expansion_intent"] > 0)
        + 30 * (p["sig_funding"] > 0)
        + 20 * (p["products_owned"] >= 2)
        + 15 * (p["arr_vs_segment_median"] >= 1)
        + 10 * (p["contract_term"] == "multi-year")
        + 15
    ).clip(0, 100)
    budget = budget.where(~(p["sig_budget_cut"] > 0), 0.0)
    parts = pd.DataFrame(
        {
            "health": health,
            "adoption": adoption,
            "growth": growth,
            "engagement": engagement,
            "budget": budget.astype(float),
        },
        index=p.index,
    )
    weights = pd.Series(cfg.propensity_weights)
    score = (parts[weights.index] * weights).sum(axis=1)
    out = parts.add_prefix("propensity_")
    out["propensity"] = round_half_up(score).clip(0, 100).astype(int)
    return out


#: Triggers that show the need plainly: in their usage, or asked for in so many words.
STRONG_EVIDENCE = (
    "usage_ceiling",
    "seat_ceiling",
    "limit_hit",
    "feature_request",
    "services_request",
    "new_department_signal",
)
#: Good signals with unknowns (seed 002's 5-6).
GOOD_EVIDENCE = (
    "projected_ceiling",
    "gated_feature",
    "hiring",
    "headcount_growth",
    "initiative",
    "empty_department",
    "support_load",
    "new_office",
    "stated_ask",
)


def evidence_level(opps: pd.DataFrame) -> pd.Series:
    """Seed 002's likelihood table, read per deal: what the evidence for this deal is."""
    triggers = opps["triggers"].fillna("")
    stated = opps["stated"].astype(bool)
    budget = opps["budget"].fillna(0) > 0
    timeline = opps["timeline"].astype(bool)
    strong = triggers.str.contains("|".join(STRONG_EVIDENCE), regex=True)
    good = triggers.str.contains("|".join(GOOD_EVIDENCE), regex=True)
    return pd.Series(
        np.select(
            [stated & budget & timeline, stated & (budget | timeline), stated, strong, good],
            ["ask_budget_timeline", "ask_budget", "ask", "strong", "good"],
            "weak",
        ),
        index=opps.index,
    )


def likelihood_score(opps: pd.DataFrame, cfg: ScoringConfig) -> pd.DataFrame:
    """Likelihood 1-10 and propensity 0-100 per deal (seed 002's likelihood table).

    Where the evidence for this deal starts (:func:`evidence_level`), moved by the account's
    relationship (its propensity: 60 is neutral), further independent signals for the same
    need, an executive sponsor and a renewal inside 90 days; lowered for a future event and
    limited visibility. 9-10 only with the customer's stated intent, budget and timeline for
    this deal. The deal's propensity is the same figure on a 0-100 scale."""
    level = evidence_level(opps)
    base = level.map(cfg.likelihood_levels).astype(float)
    low, high = cfg.likelihood_relationship_range
    relationship = (
        ((opps["account_propensity"] - 60) * cfg.likelihood_relationship_per_point)
        .clip(low, high)
        .fillna(0.0)
    )
    corroboration = (opps["signal_count"].fillna(1) - 1).clip(0, 2) * cfg.likelihood_corroboration
    sponsor = (opps["sig_exec_engagement"] > 0) * cfg.likelihood_exec_sponsor
    in_window = (opps["months_to_renewal"] >= 0) & (opps["months_to_renewal"] <= 3)
    renewal = in_window * cfg.likelihood_renewal_window
    future = opps["future"].astype(bool) * cfg.likelihood_future_event
    pen = cfg.likelihood_penalty
    penalty = (
        pen["partner"] * (opps["channel"] == "partner")
        + pen["no_usage_data"] * ~opps["has_usage"].astype(bool)
        + pen["recently_renewed"] * opps["recently_renewed"].astype(bool)
    )
    raw = base + relationship + corroboration + sponsor + renewal - future - penalty
    cap = pd.Series(
        np.where(level == "ask_budget_timeline", 10.0, cfg.likelihood_max_without_ask),
        index=opps.index,
    )
    raw = np.minimum(raw, cap)
    score = round_half_up(raw).clip(1, 10)
    return pd.DataFrame(
        {
            "likelihood_score": score.astype(int),
            "likelihood_level": level,
            "likelihood_base": base,
            "likelihood_relationship": relationship,
            "likelihood_corroboration": corroboration.astype(float),
            "likelihood_sponsor": sponsor.astype(float),
            "renewal_bonus": renewal.astype(float),
            "likelihood_future": -future.astype(float),
            "likelihood_penalty": -penalty.astype(float),
            "propensity": round_half_up(raw * 10).clip(0, 100).astype(int),
        }
    )


def composite(
    revenue: pd.Series, effort: pd.Series, likelihood: pd.Series, cfg: ScoringConfig
) -> pd.Series:
    """0.40 R + 0.30 E + 0.30 L, rounded to 0.1."""
    raw = (
        cfg.weight_revenue * revenue
        + cfg.weight_effort * effort
        + cfg.weight_likelihood * likelihood
    )
    return pd.Series(round_half_up(raw, 1), index=revenue.index)


def tier(score: pd.Series, cfg: ScoringConfig) -> pd.Series:
    """Tier 1-5 at 8.0 / 6.0 / 4.0 / 2.0."""
    t1, t2, t3, t4 = cfg.tier_thresholds
    return pd.Series(
        np.select([score >= t1, score >= t2, score >= t3, score >= t4], [1, 2, 3, 4], 5),
        index=score.index,
    )


def close_probability(
    types: pd.Series,
    propensity_: pd.Series,
    cfg: ScoringConfig,
    level: pd.Series | None = None,
) -> pd.Series:
    """Per-type band (seed 000), positioned within it by the deal's propensity. A deal the
    customer asked for (``level`` from :func:`evidence_level`) is placed in the higher of its
    type's band and its ask's band (``close_probability_asked``): a stated ask with a budget and
    a timeline is qualified pipeline and never reads as less likely than a signal."""
    low = types.map({k: v[0] for k, v in cfg.close_probability.items()}).astype(float)
    high = types.map({k: v[1] for k, v in cfg.close_probability.items()}).astype(float)
    if level is not None:
        asked = cfg.close_probability_asked
        low = np.maximum(low, level.map({k: v[0] for k, v in asked.items()}).fillna(0.0))
        high = np.maximum(high, level.map({k: v[1] for k, v in asked.items()}).fillna(0.0))
    return pd.Series(round_half_up(low + (high - low) * propensity_ / 100, 3), index=types.index)


def priority(opps: pd.DataFrame, cfg: ScoringConfig) -> pd.Series:
    """Seed 003's High / Medium / Low, kept consistent with the tiers: High is Tier 1, or Tier 2
    at a limit or asked for by the customer, on a healthy account; a self-serve deal (below the
    small-deal floor) is always Low."""
    at_limit = opps["triggers"].str.contains("usage_ceiling|seat_ceiling|limit_hit", regex=True)
    healthy = opps["health_score"].fillna(0) >= cfg.priority_high_health
    growing = opps["usage_trend"] == "Growing"
    # A customer waiting for the proposal they asked for is as urgent as a limit.
    urgent = at_limit | opps["stated"].fillna(False).astype(bool)
    high = (opps["tier"] == 1) | ((opps["tier"] == 2) & urgent & healthy)
    medium = (opps["tier"] == 2) | ((opps["tier"] == 3) & (growing | at_limit))
    small = opps["small_deal"].astype(bool)
    return pd.Series(
        np.select([small, high, medium], ["low", "high", "medium"], "low"), index=opps.index
    )
