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
    """Effort 1-10 (10 = self-serve): a baseline per type, moved by deal size and champions."""
    base = opps["type"].map(cfg.effort_baseline).astype(float)
    large = (opps["expansion_arr"] >= cfg.effort_large_deal_arr).astype(float)
    very_large = (opps["expansion_arr"] >= cfg.effort_very_large_deal_arr).astype(float)
    enterprise = (
        (opps["segment"] == "enterprise") & opps["type"].isin(cfg.effort_enterprise_penalty_types)
    ).astype(float)
    champion = ((opps["sig_exec_engagement"] > 0) | (opps["engagement"] == "high")).astype(float)
    budget = (opps["sig_expansion_intent"] > 0).astype(float)
    score = base - large - very_large - enterprise + champion + budget
    return pd.DataFrame(
        {
            "effort_score": score.clip(1, 10).astype(int),
            "effort_base": base,
            "effort_large": -(large + very_large),
            "effort_enterprise": -enterprise,
            "effort_champion": champion,
            "effort_budget": budget,
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


def likelihood_score(opps: pd.DataFrame, cfg: ScoringConfig) -> pd.DataFrame:
    """Likelihood 1-10: propensity / 10, plus trigger strength (capped at +3), plus a renewal
    inside 90 days, minus visibility penalties."""
    base = opps["propensity"] / 10
    bonus = pd.Series(0.0, index=opps.index)
    triggers = opps["triggers"].fillna("")
    for trigger, points in cfg.likelihood_trigger_bonus.items():
        if trigger in ("expansion_intent", "exec_engagement"):
            fired = opps[f"sig_{trigger}"] > 0
        else:
            fired = triggers.str.contains(trigger, regex=False)
        bonus = bonus + np.where(fired, points, 0.0)
    bonus = bonus.clip(upper=3.0)
    renewal = np.where(
        triggers.str.contains("renewal_window", regex=False), cfg.likelihood_renewal_window, 0.0
    )
    pen = cfg.likelihood_penalty
    penalty = (
        pen["partner"] * (opps["channel"] == "partner")
        + pen["no_usage_data"] * ~opps["has_usage"].astype(bool)
        + pen["recently_renewed"] * opps["recently_renewed"].astype(bool)
    )
    score = round_half_up(base + bonus + renewal - penalty).clip(1, 10)
    return pd.DataFrame(
        {
            "likelihood_score": score.astype(int),
            "likelihood_base": base,
            "likelihood_bonus": bonus,
            "renewal_bonus": renewal,
            "likelihood_penalty": -penalty.astype(float),
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


def close_probability(types: pd.Series, propensity_: pd.Series, cfg: ScoringConfig) -> pd.Series:
    """Per-type band, positioned within it by propensity."""
    low = types.map({k: v[0] for k, v in cfg.close_probability.items()}).astype(float)
    high = types.map({k: v[1] for k, v in cfg.close_probability.items()}).astype(float)
    return pd.Series(round_half_up(low + (high - low) * propensity_ / 100, 3), index=types.index)


def priority(opps: pd.DataFrame, cfg: ScoringConfig) -> pd.Series:
    """Seed 003's High / Medium / Low, kept consistent with the tiers."""
    at_limit = opps["triggers"].str.contains("usage_ceiling|seat_ceiling|limit_hit", regex=True)
    healthy = opps["health_score"].fillna(0) >= cfg.priority_high_health
    growing = opps["usage_trend"] == "Growing"
    high = (opps["tier"] == 1) | ((opps["tier"] == 2) & at_limit & healthy)
    medium = (opps["tier"] == 2) | ((opps["tier"] == 3) & (growing | at_limit))
    return pd.Series(np.select([high, medium], ["high", "medium"], "low"), index=opps.index)
