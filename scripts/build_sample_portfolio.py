#!/usr/bin/env python3
"""Build the bundled demo portfolio in ``expansion/sample/portfolio/``.

The portfolio is a fictional B2B SaaS customer base, built for the as-of date
**2026-11-16** (a Monday). Every account is a hand-written story designed to exercise
one or more expansion triggers (seat / usage ceilings, feature gaps, department
whitespace, company growth, initiatives, competitors, services) or one of the guards
and edge cases (unhealthy accounts, activation instead of upsell, just renewed,
trials, partners, missing usage data, nothing to sell).

The script is deterministic: there is no randomness, the small month-to-month wobble
in usage series is a fixed function of the account number, and the ``.xlsx`` file is
written with fixed timestamps so re-running it reproduces every file byte for byte.

Files written (one table per file, every supported file type used once or more):

    accounts.csv        CRM-export style headers (aliases), some ARR as "$85,000", "85K", "1.2M"
    catalog.json        JSON array of products
    subscriptions.tsv   tab separated
    usage.jsonl         one JSON object per line, 12 months 2025-12 .. 2026-11
    features.xlsx       first sheet
    signals.csv
    departments.csv
    README.md           one row per account: what it is designed to exercise

Run::

    .venv/bin/python scripts/build_sample_portfolio.py            # build + verify
    .venv/bin/python scripts/build_sample_portfolio.py --no-verify
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import math
import sys
import zipfile
from datetime import date, datetime
from pathlib import Path

from expansion.contract import NEGATIVE_SIGNALS, POSITIVE_SIGNALS
from expansion.generate import CATALOG, FEATURES

AS_OF = date(2026, 11, 16)
MONTHS = [f"{y}-{m:02d}" for y, m in [(2025, 12)] + [(2026, m) for m in range(1, 12)]]
OUT = Path(__file__).resolve().parents[1] / "expansion" / "sample" / "portfolio"

# --------------------------------------------------------------------------------------
# Customer success managers (the ``owner`` / CSM column)
# --------------------------------------------------------------------------------------
MAYA = "maya.chen@example.com"
JORDAN = "jordan.patel@example.com"
SOFIA = "sofia.ramirez@example.com"
LIAM = "liam.oconnor@example.com"
PRIYA = "priya.natarajan@example.com"
DANIEL = "daniel.kim@example.com"

# --------------------------------------------------------------------------------------
# Product catalog
# --------------------------------------------------------------------------------------
# The same products as the synthetic books of `expansion generate`: one catalog, defined there.
PRODUCTS = {p["product_id"]: p for p in CATALOG}
TIERS = ["starter", "professional", "enterprise"]
ADD_ONS = [p["product_id"] for p in CATALOG if p["kind"] == "add_on"]

#: Every feature key in the features table, in a stable order. Tier features are
#: cumulative: professional includes starter's, enterprise includes professional's.
FEATURE_KEYS = list(FEATURES)  # the generator's feature keys: one list

#: Default monthly usage limits per tier (custom limits are set per account).
API_LIMIT = {"starter": 250_000, "professional": 1_000_000, "enterprise": 5_000_000}
STORAGE_LIMIT = {"starter": 100, "professional": 500, "enterprise": 2_000}

# --------------------------------------------------------------------------------------
# Story tags: what each account is designed to exercise (number = item in the brief)
# --------------------------------------------------------------------------------------
STORIES: dict[str, tuple[str, str, str]] = {
    # tag: (brief item, short label for the account table, long description)
    "seat_ceiling": ("1", "seat ceiling", "Seat ceiling: 80%+ of licensed seats active"),
    "seat_ceiling_growing": (
        "1",
        "seat ceiling + growth",
        "Seat ceiling + active seats growing + headcount growth",
    ),
    "usage_ceiling": ("2", "usage ceiling", "Usage ceiling: api_calls / storage_gb 80%+ of limit"),
    "usage_overage": ("2", "usage overage", "Usage overage: over 100% of limit"),
    "usage_trend": (
        "3",
        "usage trend to limit",
        "Usage trend projects to hit the limit before renewal",
    ),
    "limit_hit": ("4", "limit_hit", "limit_hit signal"),
    "feature_gap": (
        "5",
        "feature gap (add-on)",
        "Feature gap: feature_request for an add-on feature not owned",
    ),
    "tier_feature_request": (
        "5",
        "wants enterprise-tier feature",
        "Lower-tier account requests an enterprise-tier feature (SSO, audit log)",
    ),
    "unused_entitled": (
        "6",
        "entitled but unused",
        "Entitled-but-unused features, adoption under 30% (activation, not upsell)",
    ),
    "dept_whitespace": ("7", "unseated departments", "Departments with headcount but 0 seats"),
    "new_department": ("7", "new_department", "new_department signal"),
    "company_growth": ("8", "company growth", "Company growth of 20%+ with hiring/funding signals"),
    "initiative": (
        "9",
        "initiative -> catalog",
        "Strategic initiative matching catalog `solves` keywords",
    ),
    "competitor": ("10", "competitor spend", "Competitor used alongside us, with spend (amount)"),
    "services": ("11", "services_request", "services_request (migration / training)"),
    "support_upgrade": (
        "11",
        "tickets, no premium support",
        "20+ support tickets in 90 days without premium support",
    ),
    "exec_intent": (
        "12",
        "exec + expansion_intent",
        "exec_engagement + expansion_intent with budget (amount)",
    ),
    "unhealthy": (
        "13",
        "UNHEALTHY guard",
        "Unhealthy (health under 50, usage down 25%+ in 6 months, negative signals) "
        "with a positive trigger the guard must hold back",
    ),
    "low_utilisation": (
        "14",
        "low utilisation",
        "Low seat utilisation (under 50% active): activation, not seats",
    ),
    "trial": ("15", "TRIAL conversion", "Trial account with usage: conversion candidate"),
    "free": ("15", "FREE conversion", "Free account with usage: conversion candidate"),
    "just_renewed": (
        "16",
        "just renewed, no trigger",
        "Renewed in the last 45 days, no strong trigger",
    ),
    "just_renewed_ceiling": (
        "16",
        "just renewed + ceiling",
        "Renewed in the last 45 days WITH a usage ceiling",
    ),
    "partner": ("17", "partner-managed", "Partner-managed (channel partner)"),
    "partner_thin": (
        "17",
        "partner, thin data",
        "Partner-managed with thin data (no health, usage, features or signals)",
    ),
    "no_usage": ("18", "no usage data", "No usage rows at all, but growth signals"),
    "top_tier_ceiling": (
        "19",
        "top tier at ceiling",
        "Top tier (enterprise plan) at a ceiling: no tier above",
    ),
    "no_opportunity": ("20", "NOTHING TO SELL", "Fully penetrated and healthy: nothing to sell"),
    "monthly": ("20", "monthly contract", "Monthly contract (smb)"),
    "multi_product": ("21", "multi-product", "Multi-product: 3+ subscriptions"),
    "renew_90d": ("22", "renews in 90 days", "Renews within 90 days"),
    "renew_q1": ("22", "renews Q1 2027", "Renews in Q1 2027"),
    "special_chars": ("23", "name needs escaping", "Name needs escaping (& < >) in Slack mrkdwn"),
    "tier1": (
        "-",
        "Tier-1 quality",
        "Tier-1 quality: health 80+, high engagement, strong signals (Tier 1 itself takes a stated ask with a budget and a timeline, or a large deal that is easy to close)",
    ),
    "stale_signal": ("-", "stale signal", "Has a signal older than 12 months (stale)"),
    "unknown_signal": (
        "-",
        "unknown signal kind",
        "Has a signal of an unknown kind (must be kept as evidence)",
    ),
    "blank_segment": ("-", "blank segment", "Segment left blank (derived from ARR)"),
    "arr_formatted": ("-", "ARR as text", "ARR written as money text ($86,400 / 84K / 1.2M)"),
}

# --------------------------------------------------------------------------------------
# The accounts. Curves are anchor points (month index 0 = 2025-12 .. 11 = 2026-11),
# linearly interpolated; usage anchors are fractions of the metric's limit.
# --------------------------------------------------------------------------------------


def sig(kind, when, detail, department=None, headcount=None, amount=None):
    return {
        "kind": kind,
        "date": when,
        "detail": detail,
        "department": department,
        "headcount": headcount,
        "amount": amount,
    }


ACCOUNTS: list[dict] = [
    # ================================ ENTERPRISE ================================
    {
        "id": "ACC-1001",
        "name": "Helios Health Systems",
        "segment": "enterprise",
        "industry": "Healthcare",
        "region": "North America",
        "plan": "Enterprise",
        "seats": 1200,
        "active": 1164,
        "employees": 9800,
        "growth": 18,
        "health": 88,
        "nps": 52,
        "csat": 4.6,
        "tickets": 14,
        "engagement": "High",
        "contacts": 46,
        "term": "multi-year",
        "start": "2021-04-01",
        "renewal": "2027-03-31",
        "last_renewal": "2024-04-01",
        "csm": MAYA,
        "arr_as": "m",
        "addons": ["analytics", "compliance", "integrations", "premium_support"],
        "seat_curve": [(0, 1080), (8, 1130), (11, 1164)],
        "usage": {
            "api_calls": {"limit": 20_000_000, "curve": [(0, 0.70), (6, 0.80), (11, 0.92)]},
            "storage_gb": {"limit": 10_000, "curve": [(0, 0.64), (11, 0.74)]},
        },
        "features": {"base": 82},
        "depts": [
            ("Clinical Operations", 4200, 620),
            ("Nursing Administration", 900, 260),
            ("Revenue Cycle", 650, 180),
            ("IT", 400, 140),
            ("Research", 350, 0),
        ],
        "signals": [
            sig(
                "hiring",
                "2026-09-22",
                "Hiring 150 clinical operations staff for two new hospitals",
                "Clinical Operations",
                150,
            ),
            sig("new_office", "2026-08-14", "Opening two new hospitals in Phoenix in Q2 2027"),
            sig("limit_hit", "2026-10-30", "API rate limit reached during the nightly EHR sync"),
            sig("exec_engagement", "2026-10-28", "CIO sponsored the Q3 executive business review"),
            sig(
                "expansion_intent",
                "2026-11-03",
                "Research division asked for a proposal to onboard 120 researchers",
                "Research",
                120,
                100800,
            ),
        ],
        "stories": [
            "seat_ceiling",
            "usage_ceiling",
            "top_tier_ceiling",
            "multi_product",
            "limit_hit",
            "exec_intent",
            "dept_whitespace",
            "renew_q1",
            "tier1",
            "arr_formatted",
        ],
        "note": "Flagship: top tier with every add-on, seats 97% and API at 92% of a custom "
        "quota; Research dept unseated with a $100.8K proposal request.",
    },
    {
        "id": "ACC-1002",
        "name": "Northwind Logistics",
        "segment": "enterprise",
        "industry": "Transportation & Logistics",
        "region": "North America",
        "plan": "professional",
        "seats": 400,
        "active": 372,
        "employees": 2600,
        "growth": 32,
        "health": 86,
        "nps": 48,
        "csat": 4.5,
        "tickets": 11,
        "engagement": "high",
        "contacts": 18,
        "term": "annual",
        "start": "2022-02-01",
        "renewal": "2027-02-01",
        "last_renewal": "2026-02-01",
        "csm": JORDAN,
        "addons": ["integrations"],
        # Upsized from 350 to 400 seats at the Feb 2026 renewal.
        "seat_limit_curve": [(0, 350), (1, 350), (2, 400), (11, 400)],
        "seat_curve": [(0, 300), (2, 318), (8, 332), (11, 372)],
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.55), (11, 0.71)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.48), (11, 0.60)]},
        },
        "features": {"base": 76},
        "depts": [
            ("Operations", 1400, 240),
            ("Dispatch", 350, 110),
            ("Finance", 120, 50),
            ("Warehouse", 600, 0),
            ("Sales", 130, 0),
        ],
        "signals": [
            sig(
                "funding",
                "2026-09-10",
                "Closed a $40M Series C led by Summit Partners",
                amount=40_000_000,
            ),
            sig(
                "hiring",
                "2026-10-05",
                "Hiring 120 operations roles across three new hubs",
                "Operations",
                120,
            ),
            sig(
                "limit_hit",
                "2026-11-04",
                "Admins hit the licensed seat cap; 6 pending user invites are blocked",
            ),
            sig(
                "feature_request",
                "2026-10-20",
                "IT asked for SSO (SAML) and advanced permissions before adding warehouse staff",
                "IT",
            ),
            sig(
                "exec_engagement",
                "2026-10-15",
                "COO joined the October QBR and asked about a warehouse rollout",
            ),
            sig(
                "expansion_intent",
                "2026-11-10",
                "COO asked for a proposal to add 120 warehouse seats for the three new hubs "
                "in Q1 2027",
                "Operations",
                120,
                57600,
            ),
        ],
        "stories": [
            "seat_ceiling_growing",
            "seat_ceiling",
            "company_growth",
            "limit_hit",
            "exec_intent",
            "tier_feature_request",
            "dept_whitespace",
            "renew_90d",
            "renew_q1",
            "tier1",
        ],
        "note": "Series C ($40M), headcount +32%, seats 93% and +40 active last quarter; "
        "wants SSO (enterprise tier). Renews 2027-02-01.",
    },
    {
        "id": "ACC-1003",
        "name": "Quantica Financial",
        "segment": "enterprise",
        "industry": "Financial Services",
        "region": "EMEA",
        "plan": "Professional",
        "seats": 250,
        "active": 195,
        "employees": 1450,
        "growth": 12,
        "health": 82,
        "nps": 41,
        "csat": 4.4,
        "tickets": 9,
        "engagement": "high",
        "contacts": 14,
        "term": "annual",
        "start": "2023-05-15",
        "renewal": "2027-05-15",
        "last_renewal": "2026-05-15",
        "csm": SOFIA,
        "addons": ["automation"],
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.49), (11, 0.55)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.41), (11, 0.48)]},
        },
        "features": {"base": 74},
        "depts": [
            ("Operations", 400, 140),
            ("Finance", 180, 70),
            ("Risk", 90, 40),
            ("Compliance", 35, 0),
        ],
        "signals": [
            sig(
                "initiative",
                "2026-10-02",
                "SOC 2 certification program kicked off for 2027; audit trail evidence required",
                "Compliance",
            ),
            sig(
                "feature_request",
                "2026-10-21",
                "Compliance team asked for audit log exports and data retention policies",
                "Compliance",
            ),
            sig("exec_engagement", "2026-11-05", "CISO attended our security roadmap session"),
        ],
        "stories": [
            "initiative",
            "feature_gap",
            "tier_feature_request",
            "dept_whitespace",
            "tier1",
        ],
        "note": "SOC 2 program for 2027 -> Compliance Suite; asks for audit_log "
        "(enterprise tier / compliance) and data retention.",
    },
    {
        "id": "ACC-1004",
        "name": "Vertex Manufacturing Group",
        "segment": "enterprise",
        "industry": "Manufacturing",
        "region": "North America",
        "plan": "professional",
        "seats": 180,
        "active": 138,
        "employees": 3200,
        "growth": 6,
        "health": 78,
        "nps": 30,
        "csat": 4.2,
        "tickets": 12,
        "engagement": "medium",
        "contacts": 9,
        "term": "annual",
        "start": "2020-01-20",
        "renewal": "2027-01-20",
        "last_renewal": "2026-01-20",
        "csm": LIAM,
        "arr_as": "dollar",
        "addons": [],
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.41), (11, 0.46)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.50), (11, 0.58)]},
        },
        "features": {"base": 68},
        "depts": [
            ("Engineering", 420, 90),
            ("Production Planning", 260, 60),
            ("Supply Chain", 150, 30),
            ("Quality", 120, 0),
            ("Procurement", 80, 0),
        ],
        "signals": [
            sig(
                "initiative",
                "2026-09-18",
                "SAP S/4HANA ERP rollout across 6 plants from Q1 2027; needs an ERP integration",
            ),
            sig(
                "competitor",
                "2026-08-25",
                "Using Tableau for dashboards and reporting alongside us",
                "Engineering",
                amount=48_000,
            ),
            sig(
                "acquisition",
                "2026-07-12",
                "Acquired a 300-person precision machining supplier",
                headcount=300,
            ),
        ],
        "stories": [
            "initiative",
            "competitor",
            "dept_whitespace",
            "unknown_signal",
            "renew_90d",
            "renew_q1",
            "arr_formatted",
        ],
        "note": "ERP rollout -> Integrations Pack; $48K/yr on Tableau -> Advanced Analytics; "
        "Quality and Procurement unseated.",
    },
    {
        "id": "ACC-1005",
        "name": "Brightline Media",
        "segment": "enterprise",
        "industry": "Media & Entertainment",
        "region": "North America",
        "plan": "Professional",
        "seats": 160,
        "active": 136,
        "employees": 820,
        "growth": -14,
        "health": 38,
        "nps": -22,
        "csat": 3.1,
        "tickets": 26,
        "engagement": "low",
        "contacts": 3,
        "term": "annual",
        "start": "2022-02-28",
        "renewal": "2027-02-28",
        "last_renewal": "2026-02-28",
        "csm": DANIEL,
        "addons": [],
        "seat_curve": [(0, 152), (5, 150), (11, 136)],
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.70), (5, 0.72), (11, 0.50)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.78), (11, 0.83)]},
        },
        "features": {"base": 45},
        "depts": [("Editorial", 300, 90), ("Production", 150, 46), ("Marketing", 60, 24)],
        "signals": [
            sig("limit_hit", "2026-06-20", "Storage limit warning on the media library"),
            sig("layoffs", "2026-09-08", "Announced a 15% workforce reduction", headcount=120),
            sig(
                "champion_left",
                "2026-10-01",
                "Champion (Director of Content Operations) left the company",
            ),
            sig("budget_cut", "2026-10-15", "Tooling budget frozen through FY2027"),
            sig("churn_risk", "2026-11-02", "Evaluating cheaper alternatives ahead of renewal"),
        ],
        "stories": [
            "unhealthy",
            "seat_ceiling",
            "usage_ceiling",
            "limit_hit",
            "support_upgrade",
            "renew_q1",
        ],
        "note": "Health 38, layoffs, champion left, budget freeze, API -31% in 6 months; "
        "seats 85% and storage 83% must be held back by the health guard.",
    },
    {
        "id": "ACC-1006",
        "name": "Cobalt Energy Partners",
        "segment": "enterprise",
        "industry": "Energy & Utilities",
        "region": "North America",
        "plan": "enterprise",
        "seats": 300,
        "active": 231,
        "employees": 2100,
        "growth": 9,
        "health": 80,
        "nps": 38,
        "csat": 4.3,
        "tickets": 10,
        "engagement": "high",
        "contacts": 12,
        "term": "annual",
        "start": "2021-06-30",
        "renewal": "2027-06-30",
        "last_renewal": "2026-06-30",
        "csm": MAYA,
        "addons": ["integrations"],
        "usage": {
            "api_calls": {"limit": 5_000_000, "curve": [(0, 0.36), (11, 0.40)]},
            "storage_gb": {"limit": 2_000, "curve": [(0, 0.75), (6, 0.90), (11, 1.08)]},
        },
        "features": {"base": 72},
        "depts": [
            ("Field Operations", 900, 150),
            ("Engineering", 300, 110),
            ("Asset Management", 80, 40),
        ],
        "signals": [
            sig(
                "limit_hit",
                "2026-10-12",
                "Storage quota exceeded; seismic survey uploads are being throttled",
            ),
            sig(
                "initiative",
                "2026-09-01",
                "Digital twin program for grid assets; migrating 5 years of sensor data",
            ),
        ],
        "stories": ["tier1", "usage_overage", "usage_ceiling", "top_tier_ceiling", "limit_hit"],
        "note": "Enterprise plan (no tier above) with storage at 108% of its 2,000 GB limit -> "
        "storage overage / usage expansion.",
    },
    {
        "id": "ACC-1007",
        "name": "Meridian Retail Group",
        "segment": "enterprise",
        "industry": "Retail",
        "region": "North America",
        "plan": "professional",
        "seats": 220,
        "active": 92,
        "employees": 5400,
        "growth": 3,
        "health": 62,
        "nps": 12,
        "csat": 3.8,
        "tickets": 8,
        "engagement": "medium",
        "contacts": 6,
        "term": "annual",
        "start": "2024-09-12",
        "renewal": "2027-09-12",
        "last_renewal": "2026-09-12",
        "csm": PRIYA,
        "addons": [],
        "seat_curve": [(0, 118), (11, 92)],
        "usage": {"storage_gb": {"limit": 500, "curve": [(0, 0.30), (11, 0.34)]}},
        "features": {"base": 38, "set": {"mobile_app": 12, "custom_fields": 0}},
        "depts": [
            ("Store Operations", 4000, 140),
            ("Merchandising", 200, 50),
            ("Marketing", 90, 30),
        ],
        "signals": [
            sig("funding", "2025-06-10", "Raised a $25M growth round", amount=25_000_000),
        ],
        "stories": ["low_utilisation", "stale_signal"],
        "note": "92 of 220 seats active (42%) and falling: activation play, not seat "
        "expansion. Only signal is a stale (2025) funding round.",
    },
    {
        "id": "ACC-1008",
        "name": "Atlas Aerospace",
        "segment": "enterprise",
        "industry": "Aerospace & Defense",
        "region": "North America",
        "plan": "Enterprise",
        "seats": 150,
        "active": 132,
        "employees": 1900,
        "growth": 11,
        "health": 84,
        "nps": 45,
        "csat": 4.5,
        "tickets": 7,
        "engagement": "high",
        "contacts": 15,
        "term": "annual",
        "start": "2023-10-20",
        "renewal": "2027-10-20",
        "last_renewal": "2026-10-20",
        "csm": SOFIA,
        "addons": ["compliance"],
        "usage": {
            "api_calls": {"limit": 5_000_000, "curve": [(0, 0.60), (6, 0.78), (11, 0.96)]},
            "storage_gb": {"limit": 2_000, "curve": [(0, 0.50), (11, 0.55)]},
        },
        "features": {"base": 80},
        "depts": [
            ("Engineering", 800, 100),
            ("Quality Assurance", 150, 30),
            ("Program Management", 60, 20),
        ],
        "signals": [
            sig(
                "limit_hit",
                "2026-11-10",
                "API calls at 96% of the monthly quota; CAD pipeline sync fails at month end",
            ),
            sig(
                "exec_engagement",
                "2026-10-14",
                "VP Engineering asked about a higher API quota during the renewal call",
            ),
        ],
        "stories": [
            "tier1",
            "just_renewed_ceiling",
            "usage_ceiling",
            "top_tier_ceiling",
            "seat_ceiling",
            "limit_hit",
        ],
        "note": "Renewed 2026-10-20 (27 days ago) but API at 96% of quota: a strong trigger "
        "that overrides the just-renewed timing rule.",
    },
    {
        "id": "ACC-1009",
        "name": "Pinnacle Insurance",
        "segment": "enterprise",
        "industry": "Insurance",
        "region": "EMEA",
        "plan": "professional",
        "seats": 120,
        "active": 93,
        "employees": 1100,
        "growth": 7,
        "health": 72,
        "nps": 25,
        "csat": 4.0,
        "tickets": 13,
        "engagement": "medium",
        "contacts": 5,
        "term": "annual",
        "start": "2024-04-30",
        "renewal": "2027-04-30",
        "last_renewal": "2026-04-30",
        "csm": JORDAN,
        "channel": "partner",
        "addons": [],
        "usage": {"storage_gb": {"limit": 500, "curve": [(0, 0.40), (11, 0.47)]}},
        "features": {"base": 64},
        "depts": [("Claims", 400, 80), ("Underwriting", 150, 40), ("Customer Service", 180, 0)],
        "signals": [
            sig(
                "new_department",
                "2026-09-25",
                "Launched a 25-person digital claims team",
                "Digital Claims",
                25,
            ),
        ],
        "stories": ["partner", "new_department", "dept_whitespace"],
        "note": "Reseller-managed; new 25-person Digital Claims team and an unseated "
        "Customer Service dept. Play: joint business review with the partner.",
    },
    {
        "id": "ACC-1010",
        "name": "Lumen Legal LLP",
        "segment": "enterprise",
        "industry": "Legal Services",
        "region": "EMEA",
        "plan": "enterprise",
        "seats": 70,
        "active": 54,
        "employees": 72,
        "growth": 2,
        "health": 86,
        "nps": 55,
        "csat": 4.7,
        "tickets": 4,
        "engagement": "high",
        "contacts": 8,
        "term": "multi-year",
        "start": "2022-08-31",
        "renewal": "2027-08-31",
        "last_renewal": "2024-08-31",
        "csm": LIAM,
        "addons": ["analytics", "compliance", "automation", "integrations", "premium_support"],
        "seat_curve": [(0, 53), (11, 54)],
        "usage": {
            "api_calls": {"limit": 5_000_000, "curve": [(0, 0.30), (11, 0.31)]},
            "storage_gb": {"limit": 2_000, "curve": [(0, 0.44), (11, 0.46)]},
        },
        "features": {"base": 84},
        "depts": [("Litigation", 30, 30), ("Corporate", 24, 24), ("Operations", 16, 16)],
        "signals": [],
        "stories": ["no_opportunity", "multi_product"],
        "note": "Top tier, every add-on, premium support, every department seated, flat "
        "usage, no signals: should produce no opportunity.",
    },
    {
        "id": "ACC-1011",
        "name": "Stratus Cloud Security",
        "segment": "enterprise",
        "industry": "Cybersecurity",
        "region": "North America",
        "plan": "Professional",
        "seats": 140,
        "active": 124,
        "employees": 680,
        "growth": 45,
        "health": 90,
        "nps": 62,
        "csat": 4.8,
        "tickets": 6,
        "engagement": "high",
        "contacts": 16,
        "term": "annual",
        "start": "2024-03-15",
        "renewal": "2027-03-15",
        "last_renewal": "2026-03-15",
        "csm": PRIYA,
        "arr_as": "k",
        "addons": ["analytics"],
        "seat_curve": [(0, 92), (8, 110), (11, 124)],
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.52), (11, 0.74)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.40), (11, 0.52)]},
        },
        "features": {"base": 80},
        "depts": [
            ("Engineering", 320, 90),
            ("Security Operations", 120, 50),
            ("Sales", 140, 0),
            ("Customer Success", 40, 0),
        ],
        "signals": [
            sig("funding", "2026-08-20", "Raised an $85M Series D", amount=85_000_000),
            sig(
                "hiring",
                "2026-09-15",
                "Hiring 200 across engineering and sales over the next 12 months",
                headcount=200,
            ),
            sig("new_office", "2026-10-01", "Opened a London office as EMEA headquarters"),
            sig(
                "exec_engagement",
                "2026-10-22",
                "CTO and VP Sales met our CEO and discussed a company-wide rollout",
            ),
            sig(
                "expansion_intent",
                "2026-11-06",
                "Budget approved to extend to Sales and Customer Success (60 users) in Q1",
                "Sales",
                60,
                60_000,
            ),
            sig(
                "acquisition",
                "2026-07-30",
                "Acquired threat-intel startup ShadowMap (40 people)",
                headcount=40,
            ),
        ],
        "stories": [
            "company_growth",
            "seat_ceiling_growing",
            "seat_ceiling",
            "exec_intent",
            "dept_whitespace",
            "unknown_signal",
            "renew_q1",
            "tier1",
            "arr_formatted",
        ],
        "note": "Series D ($85M), headcount +45%, seats 89%, $60K approved budget for Sales "
        "and CS in Q1 2027.",
    },
    {
        "id": "ACC-1012",
        "name": "Harborview Hospitality",
        "segment": None,
        "industry": "Hospitality",
        "region": "APAC",
        "plan": "professional",
        "seats": 110,
        "active": 87,
        "employees": 1600,
        "growth": 10,
        "health": 66,
        "nps": 18,
        "csat": 3.7,
        "tickets": 34,
        "engagement": "medium",
        "contacts": 6,
        "term": "annual",
        "start": "2025-07-01",
        "renewal": "2027-07-01",
        "last_renewal": "2026-07-01",
        "csm": DANIEL,
        "addons": [],
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.30), (11, 0.35)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.55), (11, 0.62)]},
        },
        "features": {"base": 58},
        "depts": [("Front Office", 700, 60), ("Revenue Management", 40, 30), ("Finance", 60, 20)],
        "signals": [
            sig(
                "services_request",
                "2026-10-09",
                "Asked for help with a data migration of 8 years of bookings from the legacy PMS",
            ),
            sig(
                "services_request",
                "2026-10-27",
                "Requested training for 40 new front-office managers",
                "Front Office",
                40,
            ),
        ],
        "stories": ["services", "support_upgrade", "blank_segment"],
        "note": "34 tickets in 90 days and no premium support; asked for data migration and "
        "manager training. Segment blank (derives enterprise).",
    },
    {
        "id": "ACC-1013",
        "name": "Smith & Sons <Holdings>",
        "segment": "enterprise",
        "industry": "Diversified Holdings",
        "region": "EMEA",
        "plan": "professional",
        "seats": 130,
        "active": 101,
        "employees": 1250,
        "growth": 8,
        "health": 79,
        "nps": 34,
        "csat": 4.2,
        "tickets": 9,
        "engagement": "medium",
        "contacts": 10,
        "term": "annual",
        "start": "2023-06-15",
        "renewal": "2027-06-15",
        "last_renewal": "2026-06-15",
        "csm": MAYA,
        "addons": ["automation"],
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.33), (11, 0.38)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.45), (11, 0.51)]},
        },
        "features": {"base": 70},
        "depts": [
            ("Operations", 300, 70),
            ("Finance", 60, 40),
            ("Legal", 20, 20),
            ("Marketing", 15, 0),
            ("HR", 45, 0),
        ],
        "signals": [
            sig(
                "hiring",
                "2026-09-01",
                "Hiring a new CMO and a marketing operations lead",
                "Marketing",
                2,
            ),
            sig(
                "new_department",
                "2026-10-12",
                "New 15-person Marketing team formed under the new CMO",
                "Marketing",
                15,
            ),
        ],
        "stories": ["special_chars", "new_department", "dept_whitespace"],
        "note": "Name with & < > (Slack escaping). New 15-person Marketing team and HR "
        "(45) with 0 seats.",
    },
    {
        "id": "ACC-1014",
        "name": "Granite Peak Construction",
        "segment": "enterprise",
        "industry": "Construction",
        "region": "North America",
        "plan": "professional",
        "seats": 115,
        "active": 98,
        "employees": 1400,
        "growth": 25,
        "health": 74,
        "nps": 28,
        "csat": 4.1,
        "tickets": 10,
        "engagement": "medium",
        "contacts": 7,
        "term": "annual",
        "start": "2024-04-10",
        "renewal": "2027-04-10",
        "last_renewal": "2026-04-10",
        "csm": LIAM,
        "addons": [],
        "no_usage": True,
        "depts": [
            ("Project Management", 200, 80),
            ("Estimating", 60, 35),
            ("Field Operations", 900, 0),
        ],
        "signals": [
            sig("hiring", "2025-08-05", "Hiring 40 estimators", "Estimating", 40),
            sig(
                "hiring",
                "2026-10-03",
                "Hiring 250 site staff for two new infrastructure contracts",
                "Field Operations",
                250,
            ),
            sig("new_office", "2026-08-19", "Opened a Denver regional office"),
        ],
        "stories": [
            "no_usage",
            "company_growth",
            "seat_ceiling",
            "dept_whitespace",
            "stale_signal",
        ],
        "note": "No usage or feature telemetry at all; growth (+25%, hiring 250, new office) "
        "and CRM seats only -> lower-confidence scoring.",
    },
    # ================================ MID-MARKET ================================
    {
        "id": "ACC-1015",
        "name": "Bluefin Analytics",
        "segment": "mid-market",
        "industry": "Software",
        "region": "North America",
        "plan": "professional",
        "seats": 50,
        "active": 47,
        "employees": 260,
        "growth": 30,
        "health": 85,
        "nps": 50,
        "csat": 4.6,
        "tickets": 5,
        "engagement": "high",
        "contacts": 8,
        "term": "annual",
        "start": "2024-01-31",
        "renewal": "2027-01-31",
        "last_renewal": "2026-01-31",
        "csm": JORDAN,
        "addons": [],
        "seat_curve": [(0, 30), (5, 33), (8, 35), (11, 47)],
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.45), (11, 0.58)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.31), (11, 0.40)]},
        },
        "features": {"base": 78},
        "depts": [
            ("Engineering", 120, 30),
            ("Product", 25, 12),
            ("Customer Success", 30, 8),
            ("Sales", 40, 0),
        ],
        "signals": [
            sig(
                "hiring",
                "2026-10-10",
                "2027 plan adds 60 people across engineering and customer success",
                headcount=60,
            ),
            sig(
                "expansion_intent",
                "2026-11-05",
                "Head of Analytics asked for a quote for 20 more seats before the January renewal",
                headcount=20,
                amount=9600,
            ),
        ],
        "stories": [
            "seat_ceiling_growing",
            "seat_ceiling",
            "company_growth",
            "dept_whitespace",
            "renew_90d",
            "renew_q1",
            "tier1",
        ],
        "note": "The textbook case: 47 of 50 seats active (94%), +12 active in the last "
        "quarter, headcount +30%. Renews 2027-01-31.",
    },
    {
        "id": "ACC-1016",
        "name": "Corvid Robotics",
        "segment": "mid-market",
        "industry": "Robotics",
        "region": "EMEA",
        "plan": "Professional",
        "seats": 60,
        "active": 46,
        "employees": 340,
        "growth": 15,
        "health": 81,
        "nps": 40,
        "csat": 4.4,
        "tickets": 8,
        "engagement": "high",
        "contacts": 7,
        "term": "annual",
        "start": "2023-05-31",
        "renewal": "2027-05-31",
        "last_renewal": "2026-05-31",
        "csm": SOFIA,
        "addons": ["integrations"],
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.52), (6, 0.70), (11, 0.88)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.38), (11, 0.45)]},
        },
        "features": {"base": 75},
        "depts": [("Engineering", 180, 45), ("Field Service", 60, 15)],
        "signals": [
            sig(
                "limit_hit",
                "2026-10-29",
                "Hit the API rate limit during the nightly telemetry sync (3 times in October)",
            ),
        ],
        "stories": ["usage_ceiling", "limit_hit"],
        "note": "API calls at 88% of the 1M monthly limit and rate-limited three times.",
    },
    {
        "id": "ACC-1017",
        "name": "Tidewater Foods",
        "segment": "mid-market",
        "industry": "Food & Beverage",
        "region": "North America",
        "plan": "Starter",
        "seats": 100,
        "active": 78,
        "employees": 700,
        "growth": 5,
        "health": 76,
        "nps": 22,
        "csat": 4.0,
        "tickets": 11,
        "engagement": "medium",
        "contacts": 5,
        "term": "annual",
        "start": "2025-03-01",
        "renewal": "2027-03-01",
        "last_renewal": "2026-03-01",
        "csm": LIAM,
        "addons": [],
        "usage": {"api_calls": {"limit": 250_000, "curve": [(0, 0.35), (11, 0.40)]}},
        "features": {"base": 70},
        "depts": [
            ("Operations", 400, 60),
            ("Quality", 40, 25),
            ("Logistics", 80, 15),
            ("Plant Staff", 150, 0),
        ],
        "signals": [
            sig(
                "feature_request",
                "2026-10-06",
                "Security team requires SSO (SAML) and an audit log before rolling out to "
                "plant staff",
                "IT",
            ),
            sig(
                "initiative",
                "2026-09-14",
                "ISO 27001 certification required by a key retail customer",
            ),
        ],
        "stories": [
            "tier_feature_request",
            "feature_gap",
            "initiative",
            "dept_whitespace",
            "renew_q1",
        ],
        "note": "Starter plan asking for SSO + audit log (enterprise tier); ISO 27001 "
        "initiative -> Compliance Suite.",
    },
    {
        "id": "ACC-1018",
        "name": "Keystone Dental Partners",
        "segment": "mid-market",
        "industry": "Healthcare",
        "region": "North America",
        "plan": "professional",
        "seats": 60,
        "active": 42,
        "employees": 450,
        "growth": 6,
        "health": 64,
        "nps": 15,
        "csat": 3.9,
        "tickets": 9,
        "engagement": "medium",
        "contacts": 4,
        "term": "annual",
        "start": "2025-08-15",
        "renewal": "2027-08-15",
        "last_renewal": "2026-08-15",
        "csm": PRIYA,
        "addons": ["analytics"],
        "usage": {"storage_gb": {"limit": 500, "curve": [(0, 0.20), (11, 0.24)]}},
        "features": {
            "base": 22,
            "set": {
                "core_projects": 55,
                "core_reports": 35,
                "mobile_app": 12,
                "integrations_basic": 0,
                "custom_fields": 0,
                "advanced_reporting": 0,
                "dashboards": 8,
                "data_export": 0,
            },
        },
        "depts": [("Clinics", 380, 50), ("Billing", 30, 10)],
        "signals": [],
        "stories": ["unused_entitled"],
        "note": "Bought Advanced Analytics but barely uses it (reporting 0%, dashboards 8%); "
        "activation play, not upsell.",
    },
    {
        "id": "ACC-1019",
        "name": "Orchard Lane Software",
        "segment": "mid-market",
        "industry": "Software",
        "region": "North America",
        "plan": "professional",
        "seats": 55,
        "active": 41,
        "employees": 210,
        "growth": 14,
        "health": 80,
        "nps": 44,
        "csat": 4.5,
        "tickets": 6,
        "engagement": "high",
        "contacts": 6,
        "term": "annual",
        "start": "2024-08-01",
        "renewal": "2027-08-01",
        "last_renewal": "2026-08-01",
        "csm": DANIEL,
        "addons": ["integrations"],
        # Steady ramp since the API integration went live: +5 points of the limit a month.
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.07), (11, 0.62)], "wobble": False},
            "storage_gb": {"limit": 500, "curve": [(0, 0.26), (11, 0.30)]},
        },
        "features": {"base": 74},
        "depts": [("Engineering", 120, 35), ("Support", 25, 20)],
        "signals": [
            sig(
                "initiative",
                "2026-07-20",
                "Building a customer-facing integration on our API for a 2027 partner portal",
            ),
        ],
        "stories": ["usage_trend"],
        "note": "API at 62% of limit, growing 5 points/month (~8%/month): projects past "
        "100% around June 2027, before the 2027-08-01 renewal. (Its API initiative "
        "maps to the Integrations Pack it already owns.)",
    },
    {
        "id": "ACC-1020",
        "name": "Redwood Property Management",
        "segment": "mid-market",
        "industry": "Real Estate",
        "region": "North America",
        "plan": "professional",
        "seats": 45,
        "active": 35,
        "employees": 300,
        "growth": 4,
        "health": 75,
        "nps": 26,
        "csat": 4.1,
        "tickets": 10,
        "engagement": "medium",
        "contacts": 5,
        "term": "annual",
        "start": "2024-06-01",
        "renewal": "2027-06-01",
        "last_renewal": "2026-06-01",
        "csm": MAYA,
        "addons": [],
        "usage": {"storage_gb": {"limit": 500, "curve": [(0, 0.42), (11, 0.48)]}},
        "features": {"base": 66},
        "depts": [("Property Operations", 200, 35), ("Leasing", 40, 10)],
        "signals": [
            sig(
                "competitor",
                "2026-09-29",
                "Using Zapier and Workato for workflow automation alongside us",
                amount=18_000,
            ),
            sig(
                "feature_request",
                "2026-10-18",
                "Asked whether lease approvals can be automated to remove a manual process",
                "Leasing",
            ),
        ],
        "stories": ["competitor", "feature_gap"],
        "note": "$18K/yr on Zapier + Workato for workflows -> consolidate onto Workflow "
        "Automation.",
    },
    {
        "id": "ACC-1021",
        "name": "Sable & Finch Architects",
        "segment": None,
        "industry": "Architecture & Design",
        "region": "EMEA",
        "plan": "Professional",
        "seats": 65,
        "active": 50,
        "employees": 180,
        "growth": 10,
        "health": 77,
        "nps": 35,
        "csat": 4.3,
        "tickets": 7,
        "engagement": "medium",
        "contacts": 5,
        "term": "annual",
        "start": "2023-09-10",
        "renewal": "2027-09-10",
        "last_renewal": "2026-09-10",
        "csm": SOFIA,
        "arr_as": "dollar",
        "addons": [],
        "usage": {"storage_gb": {"limit": 500, "curve": [(0, 0.66), (11, 0.76)]}},
        "features": {"base": 71},
        "depts": [
            ("Architecture", 90, 50),
            ("Project Delivery", 20, 15),
            ("Interiors", 25, 0),
            ("Landscape", 12, 0),
        ],
        "signals": [],
        "stories": ["special_chars", "dept_whitespace", "blank_segment", "arr_formatted"],
        "note": "Interiors (25) and Landscape (12) studios not using the product; segment "
        "blank (derives mid-market).",
    },
    {
        "id": "ACC-1022",
        "name": "Lakeshore Credit Union",
        "segment": "mid-market",
        "industry": "Financial Services",
        "region": "North America",
        "plan": "professional",
        "seats": 80,
        "active": 70,
        "employees": 520,
        "growth": 9,
        "health": 83,
        "nps": 47,
        "csat": 4.5,
        "tickets": 6,
        "engagement": "high",
        "contacts": 9,
        "term": "annual",
        "start": "2022-02-10",
        "renewal": "2027-02-10",
        "last_renewal": "2026-02-10",
        "csm": JORDAN,
        "addons": [],
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.40), (11, 0.45)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.44), (11, 0.50)]},
        },
        "features": {"base": 79},
        "depts": [("Member Services", 250, 45), ("Lending", 80, 25), ("Finance", 30, 10)],
        "signals": [
            sig(
                "initiative",
                "2026-09-09",
                "Data warehouse modernization: consolidating BI and reporting into Snowflake",
                "Finance",
            ),
            sig(
                "initiative",
                "2026-10-05",
                "Salesforce CRM rollout for member services",
                "Member Services",
            ),
            sig(
                "exec_engagement", "2026-10-30", "CFO asked for executive dashboards for the board"
            ),
            sig(
                "expansion_intent",
                "2026-11-09",
                "CFO approved $9,600 for board dashboards (Advanced Analytics) starting in Q1",
                "Finance",
                amount=9600,
            ),
        ],
        "stories": ["initiative", "seat_ceiling", "exec_intent", "renew_90d", "renew_q1", "tier1"],
        "note": "Data warehouse program -> Advanced Analytics; Salesforce rollout -> "
        "Integrations Pack; CFO engaged. Renews 2027-02-10.",
    },
    {
        "id": "ACC-1023",
        "name": "Prairie Wind Ag Co-op",
        "segment": "mid-market",
        "industry": "Agriculture",
        "region": "North America",
        "plan": "professional",
        "seats": 70,
        "active": 60,
        "employees": 390,
        "growth": -5,
        "health": 42,
        "nps": -30,
        "csat": 2.9,
        "tickets": 22,
        "engagement": "low",
        "contacts": 2,
        "term": "annual",
        "start": "2023-01-10",
        "renewal": "2027-01-10",
        "last_renewal": "2026-01-10",
        "csm": LIAM,
        "addons": [],
        "seat_curve": [(0, 66), (5, 65), (11, 60)],
        "usage": {"api_calls": {"limit": 1_000_000, "curve": [(0, 0.60), (5, 0.64), (11, 0.46)]}},
        "features": {"base": 40},
        "depts": [("Agronomy", 120, 40), ("Grain Operations", 90, 30)],
        "signals": [
            sig(
                "champion_left",
                "2026-09-20",
                "Executive sponsor (Operations Director) left in September",
            ),
            sig(
                "churn_risk",
                "2026-11-01",
                "Procurement requested termination terms ahead of renewal",
            ),
        ],
        "stories": ["unhealthy", "seat_ceiling", "support_upgrade", "renew_90d", "renew_q1"],
        "note": "Health 42, sponsor gone, procurement asking for exit terms, API -28% in 6 "
        "months; seats 86% and 22 tickets must not become an upsell.",
    },
    {
        "id": "ACC-1024",
        "name": "Silverline Telehealth",
        "segment": "mid-market",
        "industry": "Healthcare",
        "region": "North America",
        "plan": "professional",
        "seats": 48,
        "active": None,
        "employees": None,
        "growth": None,
        "health": None,
        "nps": None,
        "csat": None,
        "tickets": None,
        "engagement": None,
        "contacts": None,
        "depts_engaged": None,
        "term": "annual",
        "start": "2025-05-20",
        "renewal": "2027-05-20",
        "last_renewal": "2026-05-20",
        "csm": DANIEL,
        "channel": "partner",
        "addons": [],
        "no_usage": True,
        "signals": [],
        "stories": ["partner", "partner_thin"],
        "note": "Resold by a partner; we only see billing (plan, seats, dates). No health, "
        "usage, features or signals.",
    },
    {
        "id": "ACC-1025",
        "name": "Mosaic Learning",
        "segment": "mid-market",
        "industry": "Education Technology",
        "region": "North America",
        "plan": "professional",
        "seats": 50,
        "active": 36,
        "employees": 230,
        "growth": 8,
        "health": 78,
        "nps": 38,
        "csat": 4.3,
        "tickets": 5,
        "engagement": "medium",
        "contacts": 5,
        "term": "annual",
        "start": "2024-10-08",
        "renewal": "2027-10-08",
        "last_renewal": "2026-10-08",
        "csm": PRIYA,
        "addons": ["automation"],
        "seat_curve": [(0, 35), (11, 36)],
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.29), (11, 0.30)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.33), (11, 0.35)]},
        },
        "features": {"base": 68},
        "depts": [("Curriculum", 60, 30), ("Operations", 25, 20)],
        "signals": [
            sig("press_mention", "2026-10-19", "Featured in an EdSurge article on AI tutoring"),
        ],
        "stories": ["just_renewed", "unknown_signal"],
        "note": "Renewed 2026-10-08 (39 days ago), flat usage, 72% seats: expansion talk "
        "should wait 2-4 months.",
    },
    {
        "id": "ACC-1026",
        "name": "Ironclad Security Services",
        "segment": "mid-market",
        "industry": "Security Services",
        "region": "North America",
        "plan": "Professional",
        "seats": 75,
        "active": 58,
        "employees": 1100,
        "growth": 16,
        "health": 70,
        "nps": 20,
        "csat": 3.6,
        "tickets": 27,
        "engagement": "medium",
        "contacts": 5,
        "term": "annual",
        "start": "2024-04-15",
        "renewal": "2027-04-15",
        "last_renewal": "2026-04-15",
        "csm": MAYA,
        "addons": [],
        "usage": {"storage_gb": {"limit": 500, "curve": [(0, 0.36), (11, 0.42)]}},
        "features": {"base": 55},
        "depts": [("Field Supervision", 90, 45), ("Scheduling", 20, 20), ("Guards", 900, 10)],
        "signals": [
            sig(
                "services_request",
                "2026-10-13",
                "Requested onboarding and training for 30 new field supervisors",
                "Field Supervision",
                30,
            ),
            sig(
                "hiring",
                "2026-09-30",
                "Hiring 150 guards for a new stadium contract",
                "Guards",
                150,
            ),
        ],
        "stories": ["services", "support_upgrade"],
        "note": "27 tickets in 90 days without premium support; wants onboarding/training "
        "for 30 new supervisors.",
    },
    {
        "id": "ACC-1027",
        "name": "Summit Outdoor Gear",
        "segment": "mid-market",
        "industry": "Retail",
        "region": "North America",
        "plan": "professional",
        "seats": 60,
        "active": 55,
        "employees": 480,
        "growth": 20,
        "health": 87,
        "nps": 58,
        "csat": 4.7,
        "tickets": 4,
        "engagement": "High",
        "contacts": 11,
        "term": "annual",
        "start": "2023-03-20",
        "renewal": "2027-03-20",
        "last_renewal": "2026-03-20",
        "csm": SOFIA,
        "arr_as": "k",
        "addons": ["analytics"],
        "seat_curve": [(0, 46), (11, 55)],
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.38), (11, 0.47)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.35), (11, 0.43)]},
        },
        "features": {"base": 81},
        "depts": [
            ("Merchandising", 50, 25),
            ("E-commerce", 40, 20),
            ("Finance", 15, 15),
            ("Retail Operations", 300, 0),
        ],
        "signals": [
            sig(
                "exec_engagement",
                "2026-10-08",
                "CFO joined the QBR and is sponsoring the 2027 retail rollout",
            ),
            sig(
                "expansion_intent",
                "2026-11-09",
                "VP Operations requested a proposal to roll out to 3 retail regions "
                "(45 store managers)",
                "Retail Operations",
                45,
                40_000,
            ),
            sig(
                "hiring",
                "2026-09-24",
                "Hiring 45 store managers for three new retail regions",
                "Retail Operations",
                45,
            ),
            sig("award", "2026-08-15", "Named to the Inc. 5000 list for the third year"),
        ],
        "stories": [
            "exec_intent",
            "seat_ceiling",
            "company_growth",
            "dept_whitespace",
            "unknown_signal",
            "renew_q1",
            "tier1",
            "arr_formatted",
        ],
        "note": "CFO-sponsored rollout to 3 retail regions with a $40K budget; seats 92%, "
        "headcount +20%.",
    },
    {
        "id": "ACC-1028",
        "name": "Cascade Biotech",
        "segment": "mid-market",
        "industry": "Biotechnology",
        "region": "North America",
        "plan": "professional",
        "seats": 55,
        "active": 42,
        "employees": 310,
        "growth": 18,
        "health": 79,
        "nps": 36,
        "csat": 4.3,
        "tickets": 8,
        "engagement": "high",
        "contacts": 7,
        "term": "annual",
        "start": "2024-07-31",
        "renewal": "2027-07-31",
        "last_renewal": "2026-07-31",
        "csm": JORDAN,
        "addons": ["integrations"],
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.35), (11, 0.40)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.55), (11, 0.84)]},
        },
        "features": {"base": 73},
        "depts": [("Research", 150, 35), ("Clinical Operations", 40, 20)],
        "signals": [
            sig(
                "initiative",
                "2026-09-22",
                "HIPAA and GDPR audit-readiness program for clinical trial data",
                "Clinical Operations",
            ),
            sig(
                "feature_request",
                "2026-10-26",
                "Asked for data retention policies and DLP for trial documents",
                "Clinical Operations",
            ),
        ],
        "stories": ["initiative", "feature_gap", "usage_ceiling"],
        "note": "HIPAA/GDPR program + request for data retention and DLP -> Compliance Suite; "
        "storage at 84%.",
    },
    {
        "id": "ACC-1029",
        "name": "Beacon Nonprofit Alliance",
        "segment": "mid-market",
        "industry": "Nonprofit",
        "region": "North America",
        "plan": "professional",
        "seats": 90,
        "active": 38,
        "employees": 300,
        "growth": 0,
        "health": 58,
        "nps": 5,
        "csat": 3.7,
        "tickets": 6,
        "engagement": "low",
        "contacts": 3,
        "term": "annual",
        "start": "2025-09-15",
        "renewal": "2027-09-15",
        "last_renewal": "2026-09-15",
        "csm": PRIYA,
        "addons": [],
        "seat_curve": [(0, 50), (11, 38)],
        "usage": {"storage_gb": {"limit": 500, "curve": [(0, 0.15), (11, 0.17)]}},
        "features": {
            "base": 25,
            "set": {
                "core_projects": 48,
                "integrations_basic": 0,
                "custom_fields": 10,
                "mobile_app": 0,
            },
        },
        "depts": [("Programs", 180, 60), ("Development", 40, 20), ("Finance", 15, 10)],
        "signals": [],
        "stories": ["low_utilisation", "unused_entitled"],
        "note": "38 of 90 seats active (42%) and falling, several features unused: "
        "activation before anything else.",
    },
    {
        "id": "ACC-1030",
        "name": "Fulcrum Payments",
        "segment": "mid-market",
        "industry": "Fintech",
        "region": "EMEA",
        "plan": "Professional",
        "seats": 40,
        "active": 31,
        "employees": 150,
        "growth": 12,
        "health": 82,
        "nps": 45,
        "csat": 4.5,
        "tickets": 5,
        "engagement": "high",
        "contacts": 7,
        "term": "Multi-Year",
        "start": "2023-10-31",
        "renewal": "2027-10-31",
        "last_renewal": "2025-10-31",
        "csm": DANIEL,
        "addons": ["analytics", "integrations", "premium_support"],
        # Transaction archive grows ~20 GB (4% of the limit) every month.
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.44), (11, 0.50)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.26), (11, 0.70)], "wobble": False},
        },
        "features": {"base": 77},
        "depts": [("Engineering", 60, 25), ("Risk", 20, 15)],
        "signals": [],
        "stories": ["usage_trend", "multi_product"],
        "note": "Four products; storage at 70% growing 4 points/month hits the limit around "
        "June 2027, before the 2027-10-31 renewal (2-year term).",
    },
    # =================================== SMB ===================================
    {
        "id": "ACC-1031",
        "name": "Pixel & Pine Studio",
        "segment": "smb",
        "industry": "Design Agency",
        "region": "North America",
        "plan": "starter",
        "seats": 25,
        "active": 19,
        "employees": 28,
        "growth": 0,
        "health": 74,
        "nps": 30,
        "csat": 4.2,
        "tickets": 2,
        "engagement": "medium",
        "contacts": 2,
        "depts_engaged": 1,
        "term": "monthly",
        "start": "2025-02-16",
        "renewal": "2026-12-16",
        "last_renewal": None,
        "csm": LIAM,
        "addons": [],
        "seat_curve": [(0, 18), (11, 19)],
        "usage": {"storage_gb": {"limit": 100, "curve": [(0, 0.40), (11, 0.45)]}},
        "features": {"base": 66},
        "signals": [],
        "stories": ["special_chars", "monthly", "renew_90d"],
        "note": "Month-to-month, 25 seats, flat: the smallest paying account ($6K).",
    },
    {
        "id": "ACC-1032",
        "name": "Harbor Lights Bakery Co.",
        "segment": "smb",
        "industry": "Food & Beverage",
        "region": "North America",
        "plan": "starter",
        "seats": 30,
        "active": 29,
        "employees": 85,
        "growth": 21,
        "health": 83,
        "nps": 52,
        "csat": 4.6,
        "tickets": 3,
        "engagement": "high",
        "contacts": 3,
        "depts_engaged": 2,
        "term": "annual",
        "start": "2024-02-05",
        "renewal": "2027-02-05",
        "last_renewal": "2026-02-05",
        "csm": MAYA,
        "addons": [],
        "seat_curve": [(0, 22), (8, 25), (11, 29)],
        "usage": {"storage_gb": {"limit": 100, "curve": [(0, 0.30), (11, 0.38)]}},
        "features": {"base": 72},
        "signals": [
            sig("new_office", "2026-10-02", "Opening two new bakery-cafés in spring 2027"),
            sig("hiring", "2026-10-20", "Hiring 20 staff for the new locations", headcount=20),
        ],
        "stories": [
            "seat_ceiling_growing",
            "seat_ceiling",
            "company_growth",
            "renew_90d",
            "renew_q1",
        ],
        "note": "29 of 30 seats, two new locations, headcount +21%. Renews 2027-02-05.",
    },
    {
        "id": "ACC-1033",
        "name": "Clearwater Dental Group",
        "segment": "smb",
        "industry": "Healthcare",
        "region": "North America",
        "plan": "starter",
        "seats": 40,
        "active": 31,
        "employees": 120,
        "growth": 10,
        "health": 77,
        "nps": 33,
        "csat": 4.3,
        "tickets": 4,
        "engagement": "medium",
        "contacts": 3,
        "depts_engaged": 2,
        "term": "annual",
        "start": "2025-06-20",
        "renewal": "2027-06-20",
        "last_renewal": "2026-06-20",
        "csm": SOFIA,
        "addons": [],
        "usage": {"storage_gb": {"limit": 100, "curve": [(0, 0.42), (11, 0.50)]}},
        "features": {"base": 69},
        "signals": [
            sig(
                "feature_request",
                "2026-10-14",
                "Practice managers asked for advanced reporting dashboards across all 6 clinics",
            ),
            sig("feature_request", "2026-09-30", "Office manager asked for an audit log for HIPAA"),
        ],
        "stories": ["feature_gap", "tier_feature_request"],
        "note": "Starter plan asking for advanced reporting dashboards (Advanced Analytics) "
        "and an audit log (enterprise tier / Compliance).",
    },
    {
        "id": "ACC-1034",
        "name": "Trailhead Fitness",
        "segment": "smb",
        "industry": "Health & Fitness",
        "region": "North America",
        "plan": "Starter",
        "seats": 35,
        "active": 27,
        "employees": 150,
        "growth": 12,
        "health": 80,
        "nps": 41,
        "csat": 4.4,
        "tickets": 6,
        "engagement": "high",
        "contacts": 3,
        "depts_engaged": 2,
        "term": "annual",
        "start": "2024-04-01",
        "renewal": "2027-04-01",
        "last_renewal": "2026-04-01",
        "csm": JORDAN,
        "addons": [],
        "usage": {
            "api_calls": {"limit": 250_000, "curve": [(0, 0.70), (6, 0.86), (11, 1.04)]},
            "storage_gb": {"limit": 100, "curve": [(0, 0.30), (11, 0.36)]},
        },
        "features": {"base": 75},
        "signals": [
            sig(
                "limit_hit",
                "2026-11-06",
                "Exceeded the API quota; member app booking sync paused twice",
            ),
        ],
        "stories": ["usage_overage", "usage_ceiling", "limit_hit"],
        "note": "API calls at 104% of the Starter 250K limit: tier upgrade to Professional "
        "or API overage.",
    },
    {
        "id": "ACC-1035",
        "name": "Copperleaf Accounting",
        "segment": None,
        "industry": "Accounting",
        "region": "North America",
        "plan": "professional",
        "seats": 30,
        "active": 27,
        "employees": 95,
        "growth": 22,
        "health": 81,
        "nps": 46,
        "csat": 4.5,
        "tickets": 4,
        "engagement": "high",
        "contacts": 4,
        "depts_engaged": 2,
        "term": "annual",
        "start": "2023-01-15",
        "renewal": "2027-01-15",
        "last_renewal": "2026-01-15",
        "csm": PRIYA,
        "arr_as": "dollar",
        "addons": [],
        "seat_curve": [(0, 22), (11, 27)],
        "usage": {"storage_gb": {"limit": 500, "curve": [(0, 0.18), (11, 0.22)]}},
        "features": {"base": 73},
        "signals": [
            sig(
                "hiring",
                "2026-11-02",
                "Hiring 15 seasonal tax associates for January-April",
                headcount=15,
            ),
        ],
        "stories": [
            "company_growth",
            "seat_ceiling",
            "blank_segment",
            "renew_90d",
            "renew_q1",
            "arr_formatted",
        ],
        "note": "Tax-season hiring (+15, headcount +22%), seats 90%; segment blank (derives smb).",
    },
    {
        "id": "ACC-1036",
        "name": "Nimbus Travel Co.",
        "segment": "smb",
        "industry": "Travel",
        "region": "APAC",
        "plan": "starter",
        "seats": 50,
        "active": 42,
        "employees": 140,
        "growth": -18,
        "health": 35,
        "nps": -25,
        "csat": 2.8,
        "tickets": 19,
        "engagement": "low",
        "contacts": 1,
        "depts_engaged": 1,
        "term": "annual",
        "start": "2024-03-05",
        "renewal": "2027-03-05",
        "last_renewal": "2026-03-05",
        "csm": DANIEL,
        "addons": [],
        "seat_curve": [(0, 48), (5, 47), (11, 42)],
        "usage": {"api_calls": {"limit": 250_000, "curve": [(0, 0.55), (5, 0.60), (11, 0.42)]}},
        "features": {"base": 42},
        "signals": [
            sig(
                "layoffs",
                "2026-09-12",
                "Cut 25 roles after losing an airline contract",
                headcount=25,
            ),
            sig("budget_cut", "2026-10-20", "Software spend cut 20% for 2027"),
            sig("churn_risk", "2026-11-08", "Asked about downgrading to fewer seats"),
        ],
        "stories": ["unhealthy", "seat_ceiling", "renew_q1"],
        "note": "Health 35, layoffs, budget cut, downgrade question, API -30% in 6 months; "
        "seats at 84% must not become an upsell.",
    },
    {
        "id": "ACC-1037",
        "name": "Greenway Landscaping",
        "segment": "smb",
        "industry": "Landscaping Services",
        "region": "North America",
        "plan": "professional",
        "seats": 25,
        "active": 17,
        "employees": 110,
        "growth": 5,
        "health": 68,
        "nps": 20,
        "csat": 4.0,
        "tickets": 5,
        "engagement": "medium",
        "contacts": 2,
        "depts_engaged": 1,
        "term": "annual",
        "start": "2025-05-05",
        "renewal": "2027-05-05",
        "last_renewal": "2026-05-05",
        "csm": LIAM,
        "addons": ["automation"],
        "usage": {"storage_gb": {"limit": 500, "curve": [(0, 0.08), (11, 0.10)]}},
        "features": {
            "base": 28,
            "set": {
                "core_projects": 52,
                "automation": 0,
                "workflows": 0,
                "integrations_basic": 0,
                "custom_fields": 6,
            },
        },
        "signals": [],
        "stories": ["unused_entitled"],
        "note": "Pays for Workflow Automation but has never built a workflow: activation.",
    },
    {
        "id": "ACC-1038",
        "name": "Bayside Veterinary Clinics",
        "segment": "smb",
        "industry": "Veterinary",
        "region": "North America",
        "plan": "starter",
        "seats": 28,
        "active": 20,
        "employees": 60,
        "growth": 3,
        "health": 75,
        "nps": 35,
        "csat": 4.4,
        "tickets": 3,
        "engagement": "medium",
        "contacts": 2,
        "depts_engaged": 1,
        "term": "annual",
        "start": "2023-10-25",
        "renewal": "2027-10-25",
        "last_renewal": "2026-10-25",
        "csm": MAYA,
        "addons": [],
        "seat_curve": [(0, 19), (11, 20)],
        "usage": {"storage_gb": {"limit": 100, "curve": [(0, 0.36), (11, 0.39)]}},
        "features": {"base": 70},
        "signals": [],
        "stories": ["just_renewed"],
        "note": "Renewed 2026-10-25 (22 days ago), 71% seats, flat: no strong trigger.",
    },
    {
        "id": "ACC-1039",
        "name": "Quill & Ink Publishing, Ltd.",
        "segment": "smb",
        "industry": "Publishing",
        "region": "EMEA",
        "plan": "professional",
        "seats": 30,
        "active": 23,
        "employees": 70,
        "growth": 4,
        "health": 76,
        "nps": 30,
        "csat": 4.2,
        "tickets": 4,
        "engagement": "medium",
        "contacts": 3,
        "depts_engaged": 2,
        "term": "annual",
        "start": "2024-08-20",
        "renewal": "2027-08-20",
        "last_renewal": "2026-08-20",
        "csm": SOFIA,
        "addons": [],
        "usage": {"storage_gb": {"limit": 500, "curve": [(0, 0.28), (11, 0.33)]}},
        "features": {"base": 67},
        "signals": [
            sig(
                "competitor",
                "2026-09-03",
                "Using Power BI for reporting dashboards alongside us",
                amount=6_000,
            ),
        ],
        "stories": ["special_chars", "competitor"],
        "note": "$6K/yr on Power BI for reporting -> Advanced Analytics. Name has a comma "
        "(CSV quoting).",
    },
    {
        "id": "ACC-1040",
        "name": "Foxglove Florists",
        "segment": "smb",
        "industry": "Retail",
        "region": "North America",
        "plan": "starter",
        "seats": 26,
        "active": 20,
        "employees": 45,
        "growth": 7,
        "health": 72,
        "nps": 25,
        "csat": 4.1,
        "tickets": 4,
        "engagement": "medium",
        "contacts": 2,
        "depts_engaged": 1,
        "term": "annual",
        "start": "2023-12-31",
        "renewal": "2026-12-31",
        "last_renewal": "2025-12-31",
        "csm": JORDAN,
        "addons": [],
        "usage": {"storage_gb": {"limit": 100, "curve": [(0, 0.22), (11, 0.27)]}},
        "features": {"base": 64},
        "signals": [
            sig(
                "feature_request",
                "2026-10-28",
                "Asked for workflow automation to route wedding orders (a manual process today)",
            ),
        ],
        "stories": ["feature_gap", "renew_90d"],
        "note": "Wants workflow automation for order routing; renews 2026-12-31 "
        "(45 days): attach Workflow Automation to the renewal.",
    },
    {
        "id": "ACC-1041",
        "name": "Ember Coffee Roasters",
        "segment": None,
        "industry": "Food & Beverage",
        "region": "LATAM",
        "plan": "Professional",
        "seats": 35,
        "active": 27,
        "employees": 120,
        "growth": 15,
        "health": 79,
        "nps": 40,
        "csat": 4.4,
        "tickets": 5,
        "engagement": "medium",
        "contacts": 3,
        "depts_engaged": 2,
        "term": "annual",
        "start": "2024-03-25",
        "renewal": "2027-03-25",
        "last_renewal": "2026-03-25",
        "csm": PRIYA,
        "arr_as": "k",
        "addons": [],
        "usage": {"storage_gb": {"limit": 500, "curve": [(0, 0.60), (11, 0.91)]}},
        "features": {"base": 70},
        "signals": [],
        "stories": ["usage_ceiling", "blank_segment", "renew_q1", "arr_formatted"],
        "note": "Storage at 91% (product photography); segment blank (derives smb); "
        "renews in Q1 2027.",
    },
    # ============================ TRIAL / FREE ============================
    {
        "id": "ACC-1042",
        "name": "Vantage Point Logistics",
        "segment": "mid-market",
        "industry": "Transportation & Logistics",
        "region": "North America",
        "plan": "professional",
        "seats": 25,
        "active": 22,
        "employees": 600,
        "growth": 14,
        "health": 70,
        "nps": None,
        "csat": None,
        "tickets": 2,
        "engagement": "high",
        "contacts": 4,
        "depts_engaged": 2,
        "term": None,
        "start": "2026-10-22",
        "renewal": "2026-12-05",
        "last_renewal": None,
        "csm": JORDAN,
        "status": "trial",
        "addons": [],
        "usage_months": ["2026-10", "2026-11"],
        "seat_curve": [(0, 14), (1, 22)],
        "usage": {
            "api_calls": {"limit": 1_000_000, "curve": [(0, 0.04), (1, 0.12)]},
            "storage_gb": {"limit": 500, "curve": [(0, 0.024), (1, 0.076)]},
        },
        "features": {"base": 60},
        "signals": [
            sig(
                "exec_engagement",
                "2026-11-12",
                "Head of Operations joined the trial check-in and asked for pricing",
            ),
        ],
        "stories": ["trial"],
        "note": "Professional trial ending 2026-12-05; 22 of 25 trial seats active and API "
        "ramping. Conversion candidate.",
    },
    {
        "id": "ACC-1043",
        "name": "Kestrel Data Labs",
        "segment": "smb",
        "industry": "Software",
        "region": "EMEA",
        "plan": "enterprise",
        "seats": 10,
        "active": 9,
        "employees": 45,
        "growth": 40,
        "health": None,
        "nps": None,
        "csat": None,
        "tickets": 1,
        "engagement": "high",
        "contacts": 2,
        "depts_engaged": 1,
        "term": None,
        "start": "2026-11-02",
        "renewal": "2026-11-30",
        "last_renewal": None,
        "csm": SOFIA,
        "status": "trial",
        "addons": [],
        "usage_months": ["2026-11"],
        "seat_curve": [(0, 9)],
        "usage": {"api_calls": {"limit": 5_000_000, "curve": [(0, 0.07)]}},
        "features": {"base": 62, "set": {"sandbox": 0, "advanced_permissions": 0}},
        "signals": [
            sig("funding", "2026-10-15", "Raised a $6M seed round", amount=6_000_000),
        ],
        "stories": ["trial"],
        "note": "Enterprise-plan trial (2 weeks in, ends 2026-11-30) already using SSO and "
        "audit log; freshly funded.",
    },
    {
        "id": "ACC-1044",
        "name": "Open Meadow Collective",
        "segment": "smb",
        "industry": "Nonprofit",
        "region": "EMEA",
        "plan": "starter",
        "seats": 5,
        "active": 5,
        "employees": 18,
        "growth": 0,
        "health": 65,
        "nps": None,
        "csat": None,
        "tickets": 0,
        "engagement": "medium",
        "contacts": 1,
        "depts_engaged": 1,
        "term": None,
        "start": "2025-04-12",
        "renewal": None,
        "last_renewal": None,
        "csm": None,
        "status": "free",
        "addons": [],
        "seat_curve": [(0, 2), (5, 4), (8, 5), (11, 5)],
        "usage": {"storage_gb": {"limit": 10, "curve": [(0, 0.30), (11, 0.91)]}},
        "features": {"base": 58},
        "signals": [
            sig(
                "limit_hit",
                "2026-10-30",
                "Hit the free-plan seat limit; 3 teammates are waiting for invites",
            ),
        ],
        "stories": ["free", "limit_hit"],
        "note": "Free plan at 5 of 5 seats and 91% of 10 GB storage, teammates waiting: "
        "conversion candidate.",
    },
]


# --------------------------------------------------------------------------------------
# Derivations
# --------------------------------------------------------------------------------------


def account_num(acc: dict) -> int:
    return int(acc["id"].split("-")[1])


def tier_of(acc: dict) -> str:
    return acc["plan"].lower()


def subscriptions(acc: dict) -> list[dict]:
    """The account's subscription rows: its tier plus any add-ons / support."""
    paying = acc.get("status", "paying") == "paying"
    seats = acc["seats"]
    rows = []
    for pid in [tier_of(acc), *acc["addons"]]:
        product = PRODUCTS[pid]
        if product["price_per_seat"] is not None:
            qty, arr = seats, seats * product["price_per_seat"]
        else:
            qty, arr = 1, product["annual_price"]
        rows.append(
            {
                "account_id": acc["id"],
                "product_id": pid,
                "quantity": qty,
                "arr": arr if paying else 0,
            }
        )
    return rows


def arr_of(acc: dict) -> int:
    return sum(r["arr"] for r in subscriptions(acc))


def derived_segment(arr: float) -> str:
    if arr >= 50_000:
        return "enterprise"
    if arr >= 20_000:
        return "mid-market"
    return "smb"


def format_arr(acc: dict) -> str:
    arr = arr_of(acc)
    style = acc.get("arr_as")
    if style == "dollar":
        return f"${arr:,.0f}"
    if style == "k":
        return f"{arr / 1000:g}K"
    if style == "m":
        return f"{arr / 1_000_000:.1f}M"
    return str(arr)


def entitled_features(acc: dict) -> set[str]:
    feats: set[str] = set()
    for tier in TIERS[: TIERS.index(tier_of(acc)) + 1]:
        feats |= set(PRODUCTS[tier]["features"].split(";"))
    for pid in acc["addons"]:
        if PRODUCTS[pid]["features"]:
            feats |= set(PRODUCTS[pid]["features"].split(";"))
    return feats


def interpolate(anchors: list[tuple[int, float]], n: int) -> list[float]:
    """Linear interpolation through ``anchors`` (index, value) over ``n`` points."""
    anchors = sorted(anchors)
    out = []
    for i in range(n):
        if i <= anchors[0][0]:
            out.append(anchors[0][1])
            continue
        if i >= anchors[-1][0]:
            out.append(anchors[-1][1])
            continue
        for (i0, v0), (i1, v1) in itertools.pairwise(anchors):
            if i0 <= i <= i1:
                out.append(v0 + (v1 - v0) * (i - i0) / (i1 - i0))
                break
    return out


def usage_rows(acc: dict) -> list[dict]:
    if acc.get("no_usage"):
        return []
    months = acc.get("usage_months", MONTHS)
    n = len(months)
    seed = account_num(acc)
    rows: list[dict] = []

    seat_anchors = acc.get("seat_curve") or [
        (0, max(1, round(acc["active"] * 0.93))),
        (n - 1, acc["active"]),
    ]
    anchor_idx = {i for i, _ in seat_anchors}
    seats = interpolate(seat_anchors, n)
    limits = interpolate(acc.get("seat_limit_curve", [(0, acc["seats"])]), n)
    for i, month in enumerate(months):
        value = round(seats[i])
        if i not in anchor_idx:  # a little month-to-month noise between anchors
            value += (0, 1, 0, -1)[(i + seed) % 4]
        limit = round(limits[i])
        value = max(0, min(value, limit))
        rows.append(
            {
                "account_id": acc["id"],
                "metric": "seats",
                "period": month,
                "value": value,
                "limit": limit,
            }
        )

    for metric in ("api_calls", "storage_gb"):
        spec = acc.get("usage", {}).get(metric)
        if not spec:
            continue
        limit = spec["limit"]
        anchor_idx = {i for i, _ in spec["curve"]}
        fracs = interpolate(spec["curve"], n)
        for i, month in enumerate(months):
            frac = fracs[i]
            if metric == "api_calls" and spec.get("wobble", True) and i not in anchor_idx:
                frac *= 1 + 0.02 * math.sin(1.3 * i + seed)
            value = round(frac * limit) if metric == "api_calls" else round(frac * limit, 1)
            rows.append(
                {
                    "account_id": acc["id"],
                    "metric": metric,
                    "period": month,
                    "value": value,
                    "limit": limit,
                }
            )
    return rows


#: Entitled-flag spellings, rotated per account so the column mixes formats.
ENTITLED_STYLES = [
    (True, False),
    ("yes", "no"),
    (1, 0),
    ("true", "false"),
]


def feature_rows(acc: dict) -> list[dict]:
    profile = acc.get("features")
    if not profile:
        return []
    entitled = entitled_features(acc)
    yes, no = ENTITLED_STYLES[account_num(acc) % len(ENTITLED_STYLES)]
    seed = account_num(acc)
    rows = []
    for j, key in enumerate(FEATURE_KEYS):
        if key in entitled:
            if key in profile.get("set", {}):
                pct = profile["set"][key]
            else:
                pct = profile["base"] + ((seed * 7 + j * 11) % 21) - 10
            pct = max(0, min(100, pct))
            rows.append(
                {
                    "account_id": acc["id"],
                    "feature": key,
                    "entitled": yes,
                    "used": pct > 0,
                    "adoption_pct": pct,
                }
            )
        else:
            rows.append(
                {
                    "account_id": acc["id"],
                    "feature": key,
                    "entitled": no,
                    "used": False,
                    "adoption_pct": 0,
                }
            )
    return rows


def departments_engaged(acc: dict):
    if "depts" in acc:
        return sum(1 for _, _, seats in acc["depts"] if seats > 0)
    return acc.get("depts_engaged")


# --------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------

ACCOUNT_HEADERS = [
    ("Account ID", lambda a: a["id"]),
    ("Account Name", lambda a: a["name"]),
    ("ARR", format_arr),
    ("Segment", lambda a: a["segment"]),
    ("Industry", lambda a: a["industry"]),
    ("Region", lambda a: a["region"]),
    ("Plan", lambda a: a["plan"]),
    ("Licenses", lambda a: a["seats"]),
    ("Active Users", lambda a: a["active"]),
    ("Employee Count", lambda a: a["employees"]),
    ("employee_growth_pct", lambda a: a["growth"]),
    ("Health Score", lambda a: a["health"]),
    ("NPS", lambda a: a["nps"]),
    ("CSAT", lambda a: a["csat"]),
    ("support_tickets_90d", lambda a: a["tickets"]),
    ("Engagement", lambda a: a["engagement"]),
    ("Contacts", lambda a: a["contacts"]),
    ("Departments Engaged", departments_engaged),
    ("Contract Term", lambda a: a["term"]),
    ("Contract Start", lambda a: a["start"]),
    ("Contract End Date", lambda a: a["renewal"]),
    ("Last Renewal Date", lambda a: a["last_renewal"]),
    ("CSM", lambda a: a["csm"]),
    ("Status", lambda a: a.get("status", "paying")),
    ("Channel", lambda a: a.get("channel", "direct")),
]


def _cell(value) -> str:
    return "" if value is None else str(value)


def write_csv(path: Path, header: list[str], rows: list[list], delimiter: str = ",") -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    path.write_text(buf.getvalue(), encoding="utf-8")


def write_accounts(out: Path) -> None:
    write_csv(
        out / "accounts.csv",
        [h for h, _ in ACCOUNT_HEADERS],
        [[get(a) for _, get in ACCOUNT_HEADERS] for a in ACCOUNTS],
    )


def write_catalog(out: Path) -> None:
    (out / "catalog.json").write_text(json.dumps(CATALOG, indent=2) + "\n", encoding="utf-8")


def write_subscriptions(out: Path) -> None:
    header = ["account_id", "product_id", "quantity", "arr"]
    rows = [[r[h] for h in header] for a in ACCOUNTS for r in subscriptions(a)]
    write_csv(out / "subscriptions.tsv", header, rows, delimiter="\t")


def write_usage(out: Path) -> None:
    lines = [json.dumps(r) for a in ACCOUNTS for r in usage_rows(a)]
    (out / "usage.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


FIXED_TIME = datetime(2026, 11, 16, 8, 0, 0)


def write_features(out: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "features"
    header = ["account_id", "feature", "entitled", "used", "adoption_pct"]
    ws.append(header)
    for acc in ACCOUNTS:
        for r in feature_rows(acc):
            ws.append([r[h] for h in header])
    ws.column_dimensions["A"].width = 12
    ws.column_dimensions["B"].width = 22
    ws.freeze_panes = "A2"
    wb.properties.creator = "build_sample_portfolio.py"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    raw = io.BytesIO()
    wb.save(raw)
    (out / "features.xlsx").write_bytes(_normalize_xlsx(raw.getvalue()))


def _normalize_xlsx(data: bytes) -> bytes:
    """Re-zip with fixed entry timestamps (and a fixed modified date) so reruns are
    byte-identical."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                import re

                payload = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>2026-11-16T08:00:00Z\g<2>",
                    payload,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=(2026, 11, 16, 8, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, payload)
    return out.getvalue()


def write_signals(out: Path) -> None:
    header = ["account_id", "kind", "date", "detail", "department", "headcount", "amount"]
    rows = [
        [a["id"], s["kind"], s["date"], s["detail"], s["department"], s["headcount"], s["amount"]]
        for a in ACCOUNTS
        for s in sorted(a.get("signals", []), key=lambda s: s["date"])
    ]
    write_csv(out / "signals.csv", header, rows)


def write_departments(out: Path) -> None:
    header = ["account_id", "department", "headcount", "seats"]
    rows = [[a["id"], d, hc, seats] for a in ACCOUNTS for d, hc, seats in a.get("depts", [])]
    write_csv(out / "departments.csv", header, rows)


def _md(text: str) -> str:
    """Escape text for a markdown table cell (``<`` would start an HTML tag)."""
    return text.replace("\\", "\\\\").replace("<", "\\<").replace("|", "\\|")


def write_readme(out: Path) -> None:
    n = len(ACCOUNTS)
    seg_counts: dict[str, int] = {}
    for a in ACCOUNTS:
        seg = a["segment"] or derived_segment(arr_of(a))
        key = f"{seg} ({a.get('status', 'paying')})"
        seg_counts[key] = seg_counts.get(key, 0) + 1
    lines = [
        "# Sample portfolio",
        "",
        "A fictional B2B SaaS customer base bundled with the engine for demos, tests and the",
        "quick start. **Built for the as-of date 2026-11-16** (a Monday): usage runs monthly",
        'from 2025-12 to 2026-11, signal dates, renewals and "just renewed" are relative to',
        "that date. Run the engine with `--as-of 2026-11-16` (or the equivalent setting) to",
        "reproduce the intended results.",
        "",
        "Generated by `scripts/build_sample_portfolio.py` (deterministic, hand-written account",
        "stories). Do not edit these files by hand: change the script and re-run it.",
        "",
        "## Files",
        "",
        "| file | format | table | notes |",
        "|---|---|---|---|",
        "| `accounts.csv` | CSV | accounts | CRM-export headers (`Account ID`, `Licenses`, "
        "`Active Users`, `Contract End Date`, `CSM`, ...); ARR mostly plain numbers, some "
        "`$86,400` / `84K` / `1.2M`; segment blank for 4 accounts; names with `&`, `<`, `>` "
        "and a comma (quoted). |",
        "| `catalog.json` | JSON array | catalog | 3 tiers, 4 add-ons, 2 usage SKUs, 2 services, "
        "1 support. |",
        "| `subscriptions.tsv` | TSV | subscriptions | tier (quantity = licensed seats) + "
        "add-ons; sums to account ARR (`1.2M` is rounded). |",
        "| `usage.jsonl` | JSON lines | usage | `seats`, `api_calls`, `storage_gb` per month; "
        "latest `seats` value = active seats, limit = licensed seats. |",
        "| `features.xlsx` | Excel (first sheet) | features | `entitled` mixes "
        "`TRUE`/`yes`/`1`/`true` spellings. |",
        "| `signals.csv` | CSV | signals | growth, intent and risk signals; includes unknown "
        "kinds (`acquisition`, `press_mention`, `award`) and two stale (> 12 months) rows. |",
        "| `departments.csv` | CSV | departments | `seats` = 0 marks a department not using "
        "the product. |",
        "",
        f"## Accounts ({n})",
        "",
        "Segment counts (blank segments derived from ARR: >= $50K enterprise, $20K-$50K "
        "mid-market, < $20K smb): "
        + ", ".join(f"{k}: {v}" for k, v in sorted(seg_counts.items()))
        + ".",
        "",
        "Numbers in brackets are the scenario numbers of the table below; `story` is the",
        "account's narrative.",
        "",
        "| id | name | segment | ARR | plan | renewal | designed to exercise | story |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in ACCOUNTS:
        seg = a["segment"] or f"*(blank -> {derived_segment(arr_of(a))})*"
        status = a.get("status", "paying")
        plan = a["plan"] + ("" if status == "paying" else f" ({status})")
        if a.get("channel") == "partner":
            plan += ", partner"
        tags = "; ".join(
            f"{STORIES[t][1]} [{STORIES[t][0]}]" if STORIES[t][0] != "-" else STORIES[t][1]
            for t in a["stories"]
        )
        lines.append(
            f"| {a['id']} | {_md(a['name'])} | {seg} | {_md(format_arr(a))} | {plan} | "
            f"{a['renewal'] or '-'} | {_md(tags)} | {_md(a['note'])} |"
        )
    lines += [
        "",
        "## Scenarios and the accounts that exercise them",
        "",
        "| # | scenario | accounts |",
        "|---|---|---|",
    ]
    for tag, (num, _, label) in STORIES.items():
        ids = [a["id"] for a in ACCOUNTS if tag in a["stories"]]
        lines.append(f"| {num} | {_md(label)} (`{tag}`) | {', '.join(ids)} |")
    lines += [
        "",
        "## Conventions",
        "",
        "- Prices: Starter $240, Professional $480, Enterprise $840 per seat per year; "
        "Advanced Analytics $120/seat, Workflow Automation $96/seat, Compliance Suite $15,000, "
        "Integrations Pack $6,000, Premium Support $9,000 flat per year.",
        "- Default monthly limits: API calls 250K (Starter) / 1M (Professional) / 5M "
        "(Enterprise); storage 100 / 500 / 2,000 GB. Some accounts have custom limits.",
        "- Tier features are cumulative (Professional includes Starter's features).",
        "- `contract_start` is the customer-since date; `renewal_date` (`Contract End Date`) "
        "is the end of the current term; for trials it is the trial end. Monthly contracts "
        "have no last renewal date. The free account has no renewal date and no CSM.",
        "- CSMs: " + ", ".join(sorted({a["csm"] for a in ACCOUNTS if a["csm"]})) + ".",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


def build(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_accounts(out)
    write_catalog(out)
    write_subscriptions(out)
    write_usage(out)
    write_features(out)
    write_signals(out)
    write_departments(out)
    write_readme(out)


# --------------------------------------------------------------------------------------
# Verification: reload every file with pandas and check the data tells each story
# --------------------------------------------------------------------------------------


def parse_money(text) -> float:
    s = str(text).strip().replace("$", "").replace(",", "")
    mult = 1
    if s[-1:].upper() == "K":
        mult, s = 1_000, s[:-1]
    elif s[-1:].upper() == "M":
        mult, s = 1_000_000, s[:-1]
    return float(s) * mult


def truthy(v) -> bool:
    return str(v).strip().lower() in {"true", "yes", "1", "1.0"}


def verify(out: Path = OUT) -> list[str]:
    import numpy as np
    import pandas as pd

    problems: list[str] = []

    def check(cond, msg):
        if not cond:
            problems.append(msg)

    acc = pd.read_csv(out / "accounts.csv", dtype=str, keep_default_na=False)
    cat = pd.read_json(out / "catalog.json")
    subs = pd.read_csv(out / "subscriptions.tsv", sep="\t")
    usage = pd.read_json(out / "usage.jsonl", lines=True)
    feats = pd.read_excel(out / "features.xlsx")
    sigs = pd.read_csv(out / "signals.csv")
    depts = pd.read_csv(out / "departments.csv")

    as_of = pd.Timestamp(AS_OF)
    ids = set(acc["Account ID"])
    check(len(ids) == len(acc), "duplicate account ids")
    check(len(acc) >= 44, f"only {len(acc)} accounts")
    for name, df in [
        ("subscriptions", subs),
        ("usage", usage),
        ("features", feats),
        ("signals", sigs),
        ("departments", depts),
    ]:
        orphans = set(df["account_id"]) - ids
        check(not orphans, f"{name}: unknown account ids {sorted(orphans)}")
    check(set(subs["product_id"]) <= set(cat["product_id"]), "subscription product not in catalog")
    check(set(cat["kind"]) == {"tier", "add_on", "usage", "services", "support"}, "catalog kinds")
    catalog_features = set()
    for f in cat["features"].dropna():
        catalog_features |= set(f.split(";"))
    check(set(feats["feature"]) <= catalog_features, "feature key not in catalog")
    check(
        set(feats["entitled"].map(lambda v: str(v).lower()))
        >= {"true", "false", "yes", "no", "1", "0"},
        "entitled formats not mixed",
    )

    a = acc.set_index("Account ID")
    num = lambda col: pd.to_numeric(a[col].replace("", np.nan))  # noqa: E731
    arr = a["ARR"].map(parse_money)
    lic, active = num("Licenses"), num("Active Users")
    util = active / lic
    health, growth, tickets = (
        num("Health Score"),
        num("employee_growth_pct"),
        num("support_tickets_90d"),
    )
    renewal = pd.to_datetime(a["Contract End Date"].replace("", None))
    last_ren = pd.to_datetime(a["Last Renewal Date"].replace("", None))
    status, channel = a["Status"], a["Channel"]
    plan = a["Plan"].str.lower()

    # Segments
    seg = a["Segment"].where(a["Segment"] != "", arr.map(derived_segment))
    blank = a.index[a["Segment"] == ""]
    check(3 <= len(blank) <= 4, f"{len(blank)} blank segments")
    for i in a.index[status == "paying"]:
        check(seg[i] == derived_segment(arr[i]), f"{i}: segment {seg[i]} vs ARR {arr[i]}")

    # Subscriptions ~= ARR; tier subscription matches plan and seats
    sub_arr = subs.groupby("account_id")["arr"].sum()
    for i in a.index:
        check(
            abs(sub_arr.get(i, 0) - arr[i]) <= 0.03 * max(arr[i], 1),
            f"{i}: subscriptions {sub_arr.get(i, 0)} vs ARR {arr[i]}",
        )
        tier_rows = subs[(subs.account_id == i) & subs.product_id.isin(TIERS)]
        check(
            len(tier_rows) == 1
            and tier_rows.iloc[0].product_id == plan[i]
            and tier_rows.iloc[0].quantity == lic[i],
            f"{i}: tier subscription",
        )

    # Usage: latest seats == active seats; seats limit == licensed seats
    su = usage[usage.metric == "seats"].sort_values("period")
    for i, g in su.groupby("account_id"):
        check(g.iloc[-1]["value"] == active[i], f"{i}: latest seats != active seats")
        check(g.iloc[-1]["limit"] == lic[i], f"{i}: seats limit != licensed")
        check((g["value"] <= g["limit"]).all(), f"{i}: seats above limit")
    check(set(usage["period"]) == set(MONTHS), "usage periods")

    # Per-account facts used by the story predicates
    def series(i, metric):
        g = usage[(usage.account_id == i) & (usage.metric == metric)].sort_values("period")
        return g["value"].to_numpy(float), g["limit"].to_numpy(float)

    def ratio(i, metric):
        v, lim = series(i, metric)
        return v[-1] / lim[-1] if len(v) else np.nan

    def max_ratio(i):
        return np.nanmax([ratio(i, m) for m in ("api_calls", "storage_gb")] + [0])

    def months_to(d):
        return (d - as_of).days / 30.44

    def projects_to_limit(i, metric):
        v, lim = series(i, metric)
        if len(v) < 6 or v[-1] / lim[-1] >= 0.8:
            return False
        slopes = [np.polyfit(range(k), v[-k:] / lim[-1], 1)[0] for k in (3, 6, len(v))]
        left = 1 - v[-1] / lim[-1]
        return all(s > 0 and left / s < months_to(renewal[i]) for s in slopes)

    def decline_6m(i, metric):
        v, _ = series(i, metric)
        return (v[-1] - v[-7]) / v[-7] if len(v) >= 7 else 0

    S = sigs.assign(date=pd.to_datetime(sigs["date"]))

    def kinds(i):
        return set(S[S.account_id == i]["kind"])

    def details(i, kind):
        return " ".join(S[(S.account_id == i) & (S.kind == kind)]["detail"]).lower()

    owned = subs.groupby("account_id")["product_id"].apply(set)
    pos_kinds = set(POSITIVE_SIGNALS)
    neg_kinds = set(NEGATIVE_SIGNALS)
    solves = {
        r.product_id: r.solves.split(";") for r in cat.itertuples() if isinstance(r.solves, str)
    }
    F = feats.assign(ent=feats["entitled"].map(truthy))

    def seats_growth_q(i):
        v, _ = series(i, "seats")
        return v[-1] - v[-4] if len(v) >= 4 else 0

    predicates = {
        "seat_ceiling": lambda i: util[i] >= 0.8,
        "seat_ceiling_growing": lambda i: (
            util[i] >= 0.8 and seats_growth_q(i) >= 0.08 * lic[i] and growth[i] >= 20
        ),
        "usage_ceiling": lambda i: max_ratio(i) >= 0.8,
        "usage_overage": lambda i: max_ratio(i) > 1.0,
        "usage_trend": lambda i: any(projects_to_limit(i, m) for m in ("api_calls", "storage_gb")),
        "limit_hit": lambda i: "limit_hit" in kinds(i),
        "feature_gap": lambda i: (
            "feature_request" in kinds(i)
            and any(
                kw in details(i, "feature_request")
                for p in ADD_ONS
                if p not in owned.get(i, set())
                for kw in solves[p] + PRODUCTS[p]["features"].replace("_", " ").split(";")
            )
        ),
        "tier_feature_request": lambda i: (
            plan[i] in ("starter", "professional")
            and any(kw in details(i, "feature_request") for kw in ("sso", "audit log"))
        ),
        "unused_entitled": lambda i: (
            ((F.account_id == i) & F.ent & (F.adoption_pct < 30)).sum() >= 3
        ),
        "dept_whitespace": lambda i: (
            (depts.account_id == i) & (depts.seats == 0) & (depts.headcount > 0)
        ).any(),
        "new_department": lambda i: "new_department" in kinds(i),
        "company_growth": lambda i: growth[i] >= 20 and bool({"hiring", "funding"} & kinds(i)),
        "initiative": lambda i: any(
            kw in details(i, "initiative")
            for p, kws in solves.items()
            if p not in owned.get(i, set())
            for kw in kws
        ),
        "competitor": lambda i: (
            S[(S.account_id == i) & (S.kind == "competitor")]["amount"].notna().any()
        ),
        "services": lambda i: "services_request" in kinds(i),
        "support_upgrade": lambda i: (
            tickets[i] >= 20 and "premium_support" not in owned.get(i, set())
        ),
        "exec_intent": lambda i: (
            "exec_engagement" in kinds(i)
            and S[(S.account_id == i) & (S.kind == "expansion_intent")]["amount"].notna().any()
        ),
        "unhealthy": lambda i: (
            health[i] < 50
            and bool(neg_kinds & kinds(i))
            and min(decline_6m(i, m) for m in ("api_calls", "storage_gb")) <= -0.25
            and (util[i] >= 0.8 or max_ratio(i) >= 0.8)
        ),
        "low_utilisation": lambda i: util[i] < 0.5,
        "trial": lambda i: status[i] == "trial" and (usage.account_id == i).any(),
        "free": lambda i: status[i] == "free" and (usage.account_id == i).any(),
        "just_renewed": lambda i: (
            0 <= (as_of - last_ren[i]).days <= 45
            and util[i] < 0.8
            and max_ratio(i) < 0.8
            and not ({"limit_hit", "expansion_intent", "new_department"} & kinds(i))
        ),
        "just_renewed_ceiling": lambda i: (
            0 <= (as_of - last_ren[i]).days <= 45 and max_ratio(i) >= 0.8
        ),
        "partner": lambda i: channel[i] == "partner",
        "partner_thin": lambda i: (
            channel[i] == "partner"
            and np.isnan(health[i])
            and not (usage.account_id == i).any()
            and not (feats.account_id == i).any()
        ),
        "no_usage": lambda i: (
            not (usage.account_id == i).any()
            and bool({"hiring", "funding", "new_office"} & kinds(i))
        ),
        "top_tier_ceiling": lambda i: (
            plan[i] == "enterprise" and (util[i] >= 0.8 or max_ratio(i) >= 0.8)
        ),
        "no_opportunity": lambda i: (
            not (pos_kinds & kinds(i))
            and not (neg_kinds & kinds(i))
            and plan[i] == "enterprise"
            and {*ADD_ONS, "premium_support"} <= owned[i]
            and 0.5 <= util[i] < 0.8
            and max_ratio(i) < 0.7
            and health[i] >= 80
            and growth[i] < 10
            and tickets[i] < 20
            and not ((depts.account_id == i) & (depts.seats < depts.headcount)).any()
            and F[(F.account_id == i) & F.ent]["used"].all()
        ),
        "monthly": lambda i: a["Contract Term"][i] == "monthly" and seg[i] == "smb",
        "multi_product": lambda i: (subs.account_id == i).sum() >= 3,
        "renew_90d": lambda i: 0 <= (renewal[i] - as_of).days <= 90,
        "renew_q1": lambda i: (
            pd.Timestamp("2027-01-01") <= renewal[i] <= pd.Timestamp("2027-03-31")
        ),
        "special_chars": lambda i: any(c in a["Account Name"][i] for c in "&<>"),
        "tier1": lambda i: (
            health[i] >= 80
            and a["Engagement"][i].lower() == "high"
            and len(pos_kinds & kinds(i)) >= 1
            and not (neg_kinds & kinds(i))
            and arr[i] >= 20_000
        ),
        "stale_signal": lambda i: (
            S[S.account_id == i]["date"] < as_of - pd.Timedelta(days=365)
        ).any(),
        "unknown_signal": lambda i: bool(kinds(i) - pos_kinds - neg_kinds),
        "blank_segment": lambda i: a["Segment"][i] == "",
        "arr_formatted": lambda i: not a["ARR"][i].replace(".", "").isdigit(),
    }
    assert set(predicates) == set(STORIES), set(STORIES) ^ set(predicates)

    for story in ACCOUNTS:
        for tag in story["stories"]:
            try:
                ok = bool(predicates[tag](story["id"]))
            except Exception as exc:  # pragma: no cover - reported, not raised
                ok = False
                problems.append(f"{story['id']}: {tag} raised {exc!r}")
            check(ok, f"{story['id']} claims {tag} but the data does not show it")
    for tag in STORIES:
        check(any(tag in s["stories"] for s in ACCOUNTS), f"no account exercises {tag}")
    # ... and the README is complete: an account that shows a scenario is tagged with it.
    # (Tier-1 is a curated label; trial/free accounts are conversion candidates, so the
    # expansion triggers they happen to show are described in their story instead.)
    for story in ACCOUNTS:
        if story.get("status", "paying") != "paying":
            continue
        for tag, pred in predicates.items():
            if tag == "tier1":
                continue
            try:
                hit = bool(pred(story["id"]))
            except Exception:
                hit = False
            check(
                not hit or tag in story["stories"],
                f"{story['id']} shows {tag} but is not tagged with it",
            )

    # Guard-sensitive negatives: accounts meant to be quiet must not look like ceilings.
    for i in ("ACC-1025", "ACC-1038", "ACC-1010"):
        check(util[i] < 0.8 and max_ratio(i) < 0.8, f"{i} should not be at a ceiling")
    # Renewals spread over the next 12 months
    upcoming = renewal[(renewal > as_of) & (renewal <= as_of + pd.Timedelta(days=365))]
    check(upcoming.dt.to_period("M").nunique() >= 10, "renewals not spread over 12 months")
    check(len(set(a["CSM"]) - {""}) in (5, 6), "expected 5-6 CSMs")
    check(((status == "trial").sum(), (status == "free").sum()) == (2, 1), "trial/free counts")
    check((channel == "partner").sum() == 2, "partner count")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="output directory")
    parser.add_argument("--no-verify", action="store_true", help="skip the pandas checks")
    args = parser.parse_args(argv)
    build(args.out)
    print(f"wrote {len(ACCOUNTS)} accounts to {args.out}")
    if args.no_verify:
        return 0
    problems = verify(args.out)
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    print("verify:", "OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
