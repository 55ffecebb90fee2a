"""The data contract: which tables a portfolio has, their columns, types and header aliases.

This module is the single source of truth for the canonical tables. The database schema
(:mod:`expansion.store`), the ingester (:mod:`expansion.ingest`) and ``docs/data-contract.md``
are all derived from or checked against :data:`TABLES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal[
    "id", "text", "money", "count", "number", "percent", "bool", "date", "period", "enum"
]

FILE_EXTENSIONS = ("csv", "tsv", "json", "jsonl", "xlsx")

SEGMENTS = ("enterprise", "mid-market", "smb")
STATUSES = ("paying", "trial", "free")
CHANNELS = ("direct", "partner")
ENGAGEMENT = ("high", "medium", "low")
CONTRACT_TERMS = ("annual", "multi-year", "monthly")
CATALOG_KINDS = ("tier", "add_on", "usage", "services", "support")

POSITIVE_SIGNALS = (
    "hiring",
    "funding",
    "new_office",
    "new_department",
    "initiative",
    "competitor",
    "feature_request",
    "limit_hit",
    "services_request",
    "exec_engagement",
    "expansion_intent",
)
NEGATIVE_SIGNALS = ("layoffs", "budget_cut", "champion_left", "churn_risk")

OPPORTUNITY_TYPES = (
    "tier_upgrade",
    "usage_expansion",
    "seat_expansion",
    "add_on",
    "new_department",
    "new_use_case",
    "competitive_displacement",
    "professional_services",
    "support_upgrade",
)


@dataclass(frozen=True)
class Column:
    """One canonical column: its name, kind, whether a value is required, and header aliases."""

    name: str
    kind: Kind
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    # Spellings seen in exports that mean one of ``choices``.
    synonyms: dict[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class Table:
    """One table of the contract."""

    name: str
    columns: tuple[Column, ...]
    required: bool = False
    description: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _enum(name: str, choices: tuple[str, ...], synonyms: dict[str, str] | None = None, **kw):
    return Column(name, "enum", choices=choices, synonyms=synonyms or {}, **kw)


ACCOUNT_ID = Column(
    "account_id",
    "id",
    required=True,
    aliases=("id", "record_id", "account_number", "customer_id", "company_id", "accountid"),
    description="Your CRM's account identifier; joins every other table.",
)

ACCOUNTS = Table(
    "accounts",
    required=True,
    description="One row per customer account: contract, seats, health and relationship.",
    columns=(
        ACCOUNT_ID,
        Column(
            "name",
            "text",
            required=True,
            aliases=("account_name", "company_name", "company", "customer", "customer_name"),
        ),
        Column(
            "arr",
            "money",
            aliases=("annual_recurring_revenue", "current_arr", "arr_usd"),
            description="Annual recurring revenue. Give `arr` or `mrr` (MRR x 12 becomes ARR).",
        ),
        _enum(
            "segment",
            SEGMENTS,
            {
                "ent": "enterprise",
                "mid_market": "mid-market",
                "mid market": "mid-market",
                "midmarket": "mid-market",
                "mm": "mid-market",
                "commercial": "mid-market",
                "small business": "smb",
                "small": "smb",
                "smb": "smb",
            },
            aliases=("customer_segment", "account_segment"),
            description="When absent: >= $50K ARR enterprise, $20K-$50K mid-market, < $20K smb.",
        ),
        Column("industry", "text"),
        Column("region", "text", aliases=("geo", "territory", "country")),
        Column("plan", "text", aliases=("plan_tier", "tier", "edition", "subscription_plan")),
        Column(
            "licensed_seats",
            "count",
            aliases=("licenses", "licences", "seats", "licensed_users", "seat_count"),
        ),
        Column("active_seats", "count", aliases=("active_users", "active_licenses")),
        Column(
            "employee_count", "count", aliases=("employees", "number_of_employees", "headcount")
        ),
        Column(
            "employee_growth_pct",
            "number",
            aliases=("employee_growth", "headcount_growth", "headcount_growth_pct"),
            description="12-month headcount change in percent (30 = +30%).",
        ),
        Column("health_score", "percent", aliases=("health", "customer_health")),
        Column("nps", "number", aliases=("net_promoter_score",)),
        Column("csat", "number"),
        Column(
            "support_tickets_90d",
            "count",
            aliases=("tickets_90d", "support_tickets", "tickets_last_90_days"),
        ),
        _enum("engagement", ENGAGEMENT, {"med": "medium"}, aliases=("engagement_level",)),
        Column("contacts", "count", aliases=("contact_count", "number_of_contacts")),
        Column("departments_engaged", "count", aliases=("departments",)),
        _enum(
            "contract_term",
            CONTRACT_TERMS,
            {
                "multi year": "multi-year",
                "multiyear": "multi-year",
                "multi_year": "multi-year",
                "month-to-month": "monthly",
                "month to month": "monthly",
                "yearly": "annual",
                "annually": "annual",
                "1 year": "annual",
            },
            aliases=("term",),
        ),
        Column("contract_start", "date", aliases=("contract_start_date", "customer_since")),
        Column(
            "renewal_date",
            "date",
            aliases=("contract_end_date", "contract_end", "renewal", "next_renewal_date"),
        ),
        Column("last_renewal_date", "date", aliases=("last_renewal", "last_renewed")),
        Column(
            "owner",
            "text",
            aliases=("csm", "account_owner", "owner_email", "csm_email", "account_manager"),
        ),
        _enum("status", STATUSES, {"customer": "paying", "paid": "paying", "active": "paying"}),
        _enum("channel", CHANNELS, {"reseller": "partner", "partner-managed": "partner"}),
    ),
)

MRR_ALIASES = ("mrr", "monthly_recurring_revenue")

CATALOG = Table(
    "catalog",
    description="What can be sold: tiers, add-ons, usage, services and support.",
    columns=(
        Column("product_id", "id", required=True, aliases=("sku", "id", "product")),
        Column("name", "text", required=True, aliases=("product_name",)),
        _enum("kind", CATALOG_KINDS, {"add-on": "add_on", "addon": "add_on", "module": "add_on"}),
        Column("tier_rank", "count", aliases=("rank",)),
        Column("price_per_seat", "money", aliases=("seat_price", "list_price_per_seat")),
        Column("annual_price", "money", aliases=("price", "list_price", "flat_price")),
        Column("unit", "text"),
        Column("unit_price", "money"),
        Column("features", "text", description="`;`-separated feature keys it unlocks."),
        Column("solves", "text", description="`;`-separated need keywords, e.g. `soc 2;audit`."),
    ),
)

SUBSCRIPTIONS = Table(
    "subscriptions",
    description="What each account owns today.",
    columns=(
        ACCOUNT_ID,
        Column("product_id", "id", required=True, aliases=("sku", "product")),
        Column("quantity", "count", aliases=("qty", "seats")),
        Column("arr", "money", aliases=("annual_recurring_revenue",)),
    ),
)

USAGE = Table(
    "usage",
    description="Usage against limits per metric and period (one row per month is typical).",
    columns=(
        ACCOUNT_ID,
        Column("metric", "text", required=True),
        Column("period", "period", required=True, aliases=("month", "date")),
        Column("value", "number", required=True, aliases=("usage", "amount")),
        Column("limit", "number", aliases=("entitlement", "quota", "plan_limit")),
    ),
)

FEATURES = Table(
    "features",
    description="Feature entitlement and adoption per account.",
    columns=(
        ACCOUNT_ID,
        Column("feature", "text", required=True, aliases=("feature_key", "feature_name")),
        Column("entitled", "bool", aliases=("has_access", "licensed")),
        Column("used", "bool", aliases=("in_use", "adopted")),
        Column("adoption_pct", "percent", aliases=("adoption", "adoption_rate")),
    ),
)

SIGNALS = Table(
    "signals",
    description="Growth, intent and risk signals. Unknown kinds are kept as evidence.",
    columns=(
        ACCOUNT_ID,
        Column("kind", "text", required=True, aliases=("type", "signal", "signal_type")),
        Column("date", "date", aliases=("signal_date", "observed_at")),
        Column("detail", "text", aliases=("description", "details", "note", "notes")),
        Column("department", "text", aliases=("team",)),
        Column("headcount", "count"),
        Column("amount", "money", aliases=("value", "budget")),
    ),
)

DEPARTMENTS = Table(
    "departments",
    description="Departments of the customer and the seats each holds (0 = not using us).",
    columns=(
        ACCOUNT_ID,
        Column("department", "text", required=True, aliases=("team", "business_unit")),
        Column("headcount", "count", aliases=("employees", "size")),
        Column("seats", "count", aliases=("licensed_seats", "licenses")),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t for t in (ACCOUNTS, CATALOG, SUBSCRIPTIONS, USAGE, FEATURES, SIGNALS, DEPARTMENTS)
}

_HEADER_JUNK = re.compile(r"[^a-z0-9]+")


def normalize_header(header: object) -> str:
    """``"Employee Growth %"`` -> ``employee_growth_pct``; ``"Account-ID"`` -> ``account_id``."""
    text = str(header).strip().lower().replace("%", " pct ").replace("#", " number ")
    return _HEADER_JUNK.sub("_", text).strip("_")


def header_map(table: Table) -> dict[str, str]:
    """Map every accepted (normalized) header spelling of ``table`` to its canonical column."""
    mapping: dict[str, str] = {}
    for column in table.columns:
        for alias in (*column.aliases, column.name):
            mapping.setdefault(normalize_header(alias), column.name)
    # Canonical names always win over another column's alias.
    for column in table.columns:
        mapping[column.name] = column.name
    return mapping
