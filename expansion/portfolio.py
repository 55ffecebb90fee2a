"""The portfolio view (seeds 000/001): pipeline, tiers, distributions, whitespace, NRR, plan."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from .config import ScoringConfig

REVENUE_BANDS = [
    (100_000, "$100K+"),
    (50_000, "$50K-$99K"),
    (25_000, "$25K-$49K"),
    (10_000, "$10K-$24K"),
    (0, "Under $10K"),
]
TIMELINES = ["This Month", "This Quarter", "Next Quarter", "6+ Months"]


def revenue_band(arr: pd.Series) -> pd.Series:
    """Seed 002's revenue bands."""
    return pd.Series(
        np.select(
            [arr >= b for b, _ in REVENUE_BANDS],
            [label for _, label in REVENUE_BANDS],
            "Under $10K",
        ),
        index=arr.index,
    )


def _group(opps: pd.DataFrame, by: pd.Series | str, order: list | None = None) -> list[dict]:
    if opps.empty:
        return []
    g = opps.groupby(by)
    table = pd.DataFrame(
        {
            "count": g.size(),
            "expansion_arr": g["expansion_arr"].sum(),
            "expected_value": g["expected_value"].sum(),
            "avg_score": g["score"].mean().round(1),
        }
    )
    if order is not None:
        table = table.reindex([o for o in order if o in table.index])
    else:
        table = table.sort_values("expansion_arr", ascending=False)
    table.index.name = "key"
    return _records(table.reset_index())


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def plain(value):
    """A numpy or pandas scalar as the plain Python value JSON and templates want (NaN: None;
    floats to 4 places; a timestamp as its ISO date)."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else round(float(value), 4)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return value


def nrr_projection(
    paying: pd.DataFrame,
    opps: pd.DataFrame,
    stabilize: pd.DataFrame,
    cfg: ScoringConfig,
    *,
    as_of: date | pd.Timestamp | None = None,
) -> dict:
    """Net and gross revenue retention over the next 90 days and 12 months, with the
    assumptions that produce them (written into the playbook):

    - expansion: Tier 1-2 recurring deals only (Tier 3-5 are nurture, not forecast), each
      weighted by its close probability and counted in a window only when it would close in
      it: its best time plus a sales cycle set by its effort score;
    - services are one-off revenue, reported apart, never ARR;
    - churn: the stabilize-first accounts' ARR at ``churn_probability_unhealthy`` (those
      renewing inside 90 days in the 90-day figure), plus ``base_churn_rate`` a year of the
      rest of the book (a quarter of it in 90 days).
    """
    start = float(paying["arr"].sum())
    today = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp.now().normalize()
    forecast = opps[opps["tier"] <= 2]
    services = forecast["type"] == "professional_services"
    bounds = [b for b, _ in cfg.close_cycle_days_by_effort]
    cycle = np.select(
        [forecast["effort_score"] >= b for b in bounds],
        [d for _, d in cfg.close_cycle_days_by_effort],
        cfg.close_cycle_days_by_effort[-1][1],
    )
    close = pd.to_datetime(forecast["best_time"]).fillna(today) + pd.to_timedelta(cycle, unit="D")
    days = (close - today).dt.days
    ev = forecast["expected_value"].astype(float)
    recurring = ev[~services]
    expansion_90 = float(recurring[days[~services] <= 90].sum())
    expansion_12m = float(recurring[days[~services] <= 365].sum())
    one_off = float(ev[services].sum())

    at_risk = float(stabilize["arr"].sum()) if len(stabilize) else 0.0
    if len(stabilize) and "renewal_date" in stabilize:
        renewal = pd.to_datetime(stabilize["renewal_date"])
        soon = (renewal - today).dt.days.between(0, 90)
        at_risk_90 = float(stabilize.loc[soon.to_numpy(), "arr"].sum())
    else:
        at_risk_90 = 0.0
    rest = max(start - at_risk, 0.0)
    churn_12m = at_risk * cfg.churn_probability_unhealthy + rest * cfg.base_churn_rate
    churn_90 = at_risk_90 * cfg.churn_probability_unhealthy + rest * cfg.base_churn_rate / 4

    def ratio(value: float) -> float | None:
        return value / start if start else None

    return {
        "starting_arr": start,
        "expected_expansion": expansion_12m,
        "expected_expansion_90d": expansion_90,
        "services_one_off": one_off,
        "churn_exposure": at_risk,
        "expected_churn": churn_12m,
        "expected_churn_90d": churn_90,
        "upside_tier3_plus": float(opps.loc[opps["tier"] > 2, "expected_value"].sum()),
        "grr": ratio(start - churn_12m),
        "nrr": ratio(start - churn_12m + expansion_12m),
        "grr_90d": ratio(start - churn_90),
        "nrr_90d": ratio(start - churn_90 + expansion_90),
        "ending_arr": start - churn_12m + expansion_12m,
        "assumptions": [
            "Expansion: Tier 1-2 recurring deals, each weighted by its close probability, "
            "counted when it would close (its best time plus a sales cycle of "
            + ", ".join(f"{d} days at effort {b:g}+" for b, d in cfg.close_cycle_days_by_effort)
            + "); Tier 3-5 deals are upside, not forecast; deals found later are not "
            "forecast either, so the 12-month figure counts today's pipeline only",
            "Services are one-off revenue, reported apart and not counted as ARR",
            f"Churn: {cfg.churn_probability_unhealthy:.0%} of the stabilize-first accounts' ARR "
            f"(those renewing within 90 days in the 90-day figure), plus a base churn of "
            f"{cfg.base_churn_rate:.0%} a year on the rest of the book",
        ],
    }


def summarize(
    profiles: pd.DataFrame,
    opps: pd.DataFrame,
    stabilize: pd.DataFrame,
    activation: pd.DataFrame,
    conversions: pd.DataFrame,
    cfg: ScoringConfig,
    *,
    target: float | None = None,
    as_of: date | pd.Timestamp | None = None,
) -> dict:
    """Every portfolio figure of seeds 000/001 for the accounts in ``profiles``."""
    paying = profiles[profiles["status"] == "paying"]
    start_arr = float(paying["arr"].sum())
    pipeline = float(opps["expansion_arr"].sum())
    expected = float(opps["expected_value"].sum())
    tiers = {}
    for t in range(1, 6):
        rows = opps[opps["tier"] == t]
        tiers[str(t)] = {
            "count": len(rows),
            "expansion_arr": float(rows["expansion_arr"].sum()),
            "expected_value": float(rows["expected_value"].sum()),
            "accounts": int(rows["account_id"].nunique()),
        }
    priorities = {k: int((opps["priority"] == k).sum()) for k in ("high", "medium", "low")}

    nrr = nrr_projection(paying, opps, stabilize, cfg, as_of=as_of)
    whitespace = {
        "seats": int(profiles["whitespace_seats"].fillna(0).sum()),
        "departments": int(profiles["whitespace_departments"].fillna(0).sum()),
        "unused_features": int(profiles["whitespace_unused_features"].fillna(0).sum()),
        "products_not_owned": int(profiles["whitespace_products"].fillna(0).sum()),
        "new_offices": int(profiles["whitespace_offices"].fillna(0).sum()),
        "regions": int(profiles["region"].nunique()) if "region" in profiles else 0,
    }
    coverage = None
    if target:
        coverage = {
            "target": target,
            "pipeline_coverage": pipeline / target,
            "expected_coverage": expected / target,
        }

    t1, t2, t3 = (opps[opps["tier"] == t] for t in (1, 2, 3))
    plan = [
        {
            "window": "Days 1-30",
            "focus": "Tier 1: assign owners this week and open the conversations",
            "opportunities": len(t1),
            "expansion_arr": float(t1["expansion_arr"].sum()),
            "target": float(t1["expected_value"].sum()),
        },
        {
            "window": "Days 31-60",
            "focus": "Tier 2: plan the approach and run outreach within 30 days",
            "opportunities": len(t2),
            "expansion_arr": float(t2["expansion_arr"].sum()),
            "target": float(t2["expected_value"].sum()),
        },
        {
            "window": "Days 61-90",
            "focus": "Tier 3 nurture, activation programmes, stabilize-first save plays",
            "opportunities": len(t3),
            "expansion_arr": float(t3["expansion_arr"].sum()),
            "target": float(t3["expected_value"].sum()),
            "activation_accounts": int(activation["account_id"].nunique())
            if len(activation)
            else 0,
            "stabilize_accounts": len(stabilize),
        },
    ]
    active = opps[opps["tier"] <= 2]
    resources: dict[str, Any] = {
        motion: {
            "opportunities": int((active["sales_motion"] == motion).sum()),
            "expansion_arr": float(
                active.loc[active["sales_motion"] == motion, "expansion_arr"].sum()
            ),
            "hours": float(active.loc[active["sales_motion"] == motion, "hours"].sum()),
        }
        for motion in ("csm-led", "sales-assisted")
    }
    resources["ae_involved"] = int((active["expansion_arr"] > cfg.ae_threshold_arr).sum())
    resources["tier12_hours"] = float(active["hours"].sum())

    with_opps = opps["account_id"].nunique()
    return {
        "accounts_analyzed": len(profiles),
        "paying_accounts": len(paying),
        "portfolio_arr": start_arr,
        "accounts_with_opportunities": int(with_opps),
        "share_with_opportunities": with_opps / len(profiles) if len(profiles) else 0.0,
        "opportunities": len(opps),
        "expansion_arr": pipeline,
        "expected_value": expected,
        "average_per_account": pipeline / with_opps if with_opps else 0.0,
        "tiers": tiers,
        "priorities": priorities,
        "by_type": _group(opps, "type_label"),
        "by_revenue_band": _group(
            opps,
            revenue_band(opps["expansion_arr"]) if len(opps) else "type",
            [label for _, label in REVENUE_BANDS],
        ),
        "by_timeline": _group(opps, "timing_bucket", TIMELINES),
        "by_segment": _group(opps, "segment", ["enterprise", "mid-market", "smb"]),
        "whitespace": whitespace,
        "coverage": coverage,
        "nrr": nrr,
        "plan_30_60_90": plan,
        "resources": resources,
        "stabilize_first": len(stabilize),
        "activation_accounts": int(activation["account_id"].nunique()) if len(activation) else 0,
        "conversion_candidates": len(conversions),
    }
