"""Build small portfolios for tests: write real files, read them through the real ingester."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from expansion import store
from expansion.engine import Analysis, analyze
from expansion.ingest import read_portfolio

AS_OF = "2026-11-16"

CATALOG = [
    {
        "product_id": "starter",
        "name": "Starter",
        "kind": "tier",
        "tier_rank": 1,
        "price_per_seat": 240,
    },
    {
        "product_id": "professional",
        "name": "Professional",
        "kind": "tier",
        "tier_rank": 2,
        "price_per_seat": 480,
    },
    {
        "product_id": "enterprise",
        "name": "Enterprise",
        "kind": "tier",
        "tier_rank": 3,
        "price_per_seat": 840,
        "features": "sso;audit_log",
    },
    {
        "product_id": "analytics",
        "name": "Advanced Analytics",
        "kind": "add_on",
        "price_per_seat": 120,
        "features": "advanced_reporting;dashboards",
        "solves": "reporting;analytics;data warehouse",
    },
    {
        "product_id": "compliance",
        "name": "Compliance Suite",
        "kind": "add_on",
        "annual_price": 15000,
        "features": "data_retention",
        "solves": "soc 2;audit;compliance",
    },
    {
        "product_id": "api_overage",
        "name": "API capacity",
        "kind": "usage",
        "unit": "api_calls",
        "unit_price": 0.006,
    },
    {
        "product_id": "onboarding",
        "name": "Onboarding & Training",
        "kind": "services",
        "annual_price": 12000,
        "solves": "training;migration;onboarding",
    },
    {
        "product_id": "premium_support",
        "name": "Premium Support",
        "kind": "support",
        "annual_price": 9000,
    },
]

ACCOUNT = {
    "account_id": "A1",
    "name": "Acme",
    "arr": 48000,
    "segment": "mid-market",
    "plan": "professional",
    "licensed_seats": 100,
    "active_seats": 70,
    "health_score": 85,
    "engagement": "high",
    "renewal_date": "2027-08-01",
    "last_renewal_date": "2026-08-01",
    "owner": "maya@example.com",
    "contacts": 6,
    "departments_engaged": 2,
}


def account(**overrides) -> dict:
    return {**ACCOUNT, **overrides}


def monthly(
    account_id: str, metric: str, values: list[float], limit: float, *, end: str = "2026-11"
) -> list[dict]:
    """One usage row per month, ending at ``end``."""
    periods = pd.period_range(end=end, periods=len(values), freq="M").astype(str)
    return [
        {"account_id": account_id, "metric": metric, "period": p, "value": v, "limit": limit}
        for p, v in zip(periods, values, strict=True)
    ]


def write_portfolio(folder: Path, **tables: list[dict]) -> Path:
    """Write each table as csv (json for the catalog) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    tables.setdefault("catalog", CATALOG)
    for name, rows in tables.items():
        if rows is None:
            continue
        if name == "catalog":
            (folder / "catalog.json").write_text(json.dumps(rows))
        else:
            pd.DataFrame(rows).to_csv(folder / f"{name}.csv", index=False)
    return folder


def run(folder: Path, *, as_of: str = AS_OF, config=None, **tables: list[dict]) -> Analysis:
    """Write, read through the ingester (asserting no rejects) and analyse."""
    write_portfolio(folder, **tables)
    portfolio = read_portfolio(folder)
    assert portfolio.rejects.empty, portfolio.rejects.to_string()
    kwargs = {"config": config} if config is not None else {}
    return analyze(portfolio.tables, as_of=as_of, **kwargs)


def evidence(analysis: Analysis, opportunity_id: str) -> list[str]:
    ev = analysis.evidence
    return ev[ev["opportunity_id"] == opportunity_id].sort_values("seq")["evidence"].tolist()


def only(analysis: Analysis, type_: str) -> dict:
    rows = analysis.opportunities[analysis.opportunities["type"] == type_]
    assert len(rows) == 1, analysis.opportunities[["opportunity_id", "type"]].to_string()
    return rows.iloc[0].to_dict()


def stored_rows(engine) -> dict[str, pd.DataFrame]:
    """Every stored portfolio row, sorted, to compare before and after a refused sync."""
    out = {}
    with engine.connect() as conn:
        for name, table in store.PORTFOLIO_TABLES.items():
            frame = pd.read_sql(sa.select(table), conn).drop(columns="id")
            out[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out
