"""Synthetic portfolios in the data contract, for demos, tests and benchmarks.

``expansion generate --accounts N --seed S --out DIR`` writes a fictional B2B SaaS book of
``N`` accounts with the same files and columns as the bundled sample
(``expansion/sample/portfolio/``): accounts, catalog, subscriptions, 12 months of usage for
3-4 metrics, feature adoption, signals and departments, all "as of" one date (by default the
sample's 2026-11-16). The same ``N``, seed and as-of date give byte-identical files.

The book carries the mix of triggers and guards real books do, drawn per account from the
probabilities below (see :data:`MIX`): seat pressure, usage near or over limits, usage trending
to a limit before renewal, feature requests and gated features, unseated departments, company
growth (hiring, funding, new offices and departments), initiatives, competitors, services
requests and support load; and on the other side unhealthy accounts (low health, declining
usage, layoffs, churn risk), low seat utilisation and unused features (activation), recently
renewed accounts, trials and free accounts, partner-managed accounts (some with billing data
only), accounts without usage telemetry and a few fully penetrated accounts with nothing to sell.

Everything is vectorised with numpy (``numpy.random.default_rng(seed)``, plus one generator per
chunk seeded from ``(seed, table, chunk)``; no Python loop over accounts). Usage and features
are generated in chunks of :data:`CHUNK_ACCOUNTS` accounts and every table is written as byte
matrices (see :func:`_rows_bytes`), so a million accounts take about a minute and under 2 GB
(docs/performance.md has the figures).

File formats (``formats``):

* ``sample``: the sample's formats: accounts.csv, catalog.json, subscriptions.tsv,
  **usage.jsonl**, **features.xlsx**, signals.csv, departments.csv.
* ``fast``: the same, but usage.csv and features.csv. Reading an .xlsx (openpyxl) runs at
  roughly 10k rows a second and a .jsonl is parsed line by line in Python, which would make
  any benchmark of a large book a benchmark of those readers.
* ``auto`` (default): ``sample`` up to :data:`SAMPLE_FORMATS_MAX_ACCOUNTS` accounts, ``fast``
  above.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from string import Formatter

import numpy as np
from numpy.dtypes import StringDType

from .config import DEFAULT_CONFIG
from .contract import FILE_EXTENSIONS, TABLES
from .errors import OutputExistsError
from .pipeline import SAMPLE_AS_OF

DEFAULT_OUT = Path("generated-portfolio")
DEFAULT_SEED = 42
FORMATS = ("auto", "sample", "fast")
# Up to this many accounts ``auto`` writes the sample's formats (features.xlsx, usage.jsonl):
# 2,000 accounts is ~38k feature rows, about as many as openpyxl reads in reasonable time.
SAMPLE_FORMATS_MAX_ACCOUNTS = 2_000
# Usage and features are generated and written this many accounts at a time (a constant, so
# the output never depends on memory or machine).
CHUNK_ACCOUNTS = 50_000
MONTHS = 12

TEXT = StringDType()


# --------------------------------------------------------------------------- catalog

CATALOG: list[dict] = [
    {
        "product_id": "starter",
        "name": "Starter",
        "kind": "tier",
        "tier_rank": 1,
        "price_per_seat": 240,
        "annual_price": None,
        "unit": None,
        "unit_price": None,
        "features": "core_projects;core_reports;mobile_app",
        "solves": None,
    },
    {
        "product_id": "professional",
        "name": "Professional",
        "kind": "tier",
        "tier_rank": 2,
        "price_per_seat": 480,
        "annual_price": None,
        "unit": None,
        "unit_price": None,
        "features": "integrations_basic;custom_fields",
        "solves": None,
    },
    {
        "product_id": "enterprise",
        "name": "Enterprise",
        "kind": "tier",
        "tier_rank": 3,
        "price_per_seat": 840,
        "annual_price": None,
        "unit": None,
        "unit_price": None,
        "features": "sso;audit_log;advanced_permissions;sandbox",
        "solves": "sso;saml;single sign-on;advanced permissions;sandbox;security review",
    },
    {
        "product_id": "analytics",
        "name": "Advanced Analytics",
        "kind": "add_on",
        "tier_rank": None,
        "price_per_seat": 120,
        "annual_price": None,
        "unit": None,
        "unit_price": None,
        "features": "advanced_reporting;dashboards;data_export",
        "solves": "reporting;analytics;dashboards;data warehouse;bi",
    },
    {
        "product_id": "compliance",
        "name": "Compliance Suite",
        "kind": "add_on",
        "tier_rank": None,
        "price_per_seat": None,
        "annual_price": 15000,
        "unit": None,
        "unit_price": None,
        "features": "audit_log;data_retention;dlp",
        "solves": "soc 2;audit;compliance;gdpr;hipaa;iso 27001",
    },
    {
        "product_id": "automation",
        "name": "Workflow Automation",
        "kind": "add_on",
        "tier_rank": None,
        "price_per_seat": 96,
        "annual_price": None,
        "unit": None,
        "unit_price": None,
        "features": "automation;workflows",
        "solves": "automation;workflow;manual process",
    },
    {
        "product_id": "integrations",
        "name": "Integrations Pack",
        "kind": "add_on",
        "tier_rank": None,
        "price_per_seat": None,
        "annual_price": 6000,
        "unit": None,
        "unit_price": None,
        "features": "api_access;webhooks;erp_connector",
        "solves": "integration;api;erp;salesforce",
    },
    {
        "product_id": "api_overage",
        "name": "API Overage",
        "kind": "usage",
        "tier_rank": None,
        "price_per_seat": None,
        "annual_price": None,
        "unit": "api_calls",
        "unit_price": 0.0005,
        "features": None,
        "solves": "api limit;rate limit",
    },
    {
        "product_id": "storage_overage",
        "name": "Storage Overage",
        "kind": "usage",
        "tier_rank": None,
        "price_per_seat": None,
        "annual_price": None,
        "unit": "storage_gb",
        "unit_price": 2.4,
        "features": None,
        "solves": "storage limit;storage quota",
    },
    {
        "product_id": "onboarding",
        "name": "Onboarding & Training",
        "kind": "services",
        "tier_rank": None,
        "price_per_seat": None,
        "annual_price": 12000,
        "unit": None,
        "unit_price": None,
        "features": None,
        "solves": "onboarding;training;rollout;migration",
    },
    {
        "product_id": "implementation",
        "name": "Implementation Services",
        "kind": "services",
        "tier_rank": None,
        "price_per_seat": None,
        "annual_price": 25000,
        "unit": None,
        "unit_price": None,
        "features": None,
        "solves": "implementation;migration;data migration",
    },
    {
        "product_id": "premium_support",
        "name": "Premium Support",
        "kind": "support",
        "tier_rank": None,
        "price_per_seat": None,
        "annual_price": 9000,
        "unit": None,
        "unit_price": None,
        "features": None,
        "solves": "support;sla;24/7",
    },
]
_PRODUCTS = {p["product_id"]: p for p in CATALOG}
TIERS = ("starter", "professional", "enterprise")
TIER_NAMES = ("Starter", "Professional", "Enterprise")
TIER_SEAT_PRICE = np.array([240, 480, 840])
# Add-ons in the order of the ``owns`` matrix.
ADD_ONS = ("analytics", "compliance", "automation", "integrations", "premium_support")
FEATURES = (
    "core_projects",
    "core_reports",
    "mobile_app",
    "integrations_basic",
    "custom_fields",
    "sso",
    "audit_log",
    "advanced_permissions",
    "sandbox",
    "advanced_reporting",
    "dashboards",
    "data_export",
    "data_retention",
    "dlp",
    "automation",
    "workflows",
    "api_access",
    "webhooks",
    "erp_connector",
)
# Monthly limits per tier (starter, professional, enterprise), like the sample's.
API_LIMIT = np.array([250_000, 1_000_000, 5_000_000])
STORAGE_LIMIT = np.array([100, 500, 2_000])
AUTOMATION_LIMIT = np.array([2_000, 10_000, 50_000])
FREE_LIMITS = {"seats": 5, "api_calls": 50_000, "storage_gb": 10}
METRICS = ("seats", "api_calls", "storage_gb", "automation_runs")

# --------------------------------------------------------------------------- the mix

SEGMENTS = ("enterprise", "mid-market", "smb")
ENT, MM, SMB = 0, 1, 2
PAYING, TRIAL, FREE = 0, 1, 2

#: Every probability the book is drawn from (per account unless said otherwise).
MIX = {
    # status and segment (segment is the CRM's, by company size; SMB has the most accounts,
    # enterprise the most ARR)
    "trial": 0.03,
    "free": 0.02,
    "segment": (0.17, 0.33, 0.50),  # enterprise, mid-market, smb
    # plan tier (starter, professional, enterprise) per segment
    "tier": ((0.02, 0.58, 0.40), (0.15, 0.72, 0.13), (0.62, 0.35, 0.03)),
    # licensed seats: log-normal median, sigma, min, max per segment
    "seats": ((260, 0.7, 60, 6000), (70, 0.45, 20, 300), (18, 0.6, 3, 90)),
    # add-on ownership per segment: analytics, compliance, automation, integrations, support
    "add_ons": (
        (0.40, 0.30, 0.30, 0.45, 0.35),
        (0.25, 0.10, 0.20, 0.25, 0.12),
        (0.10, 0.02, 0.08, 0.08, 0.03),
    ),
    "fully_penetrated": 0.03,  # of enterprise accounts: top tier, every add-on, nothing to sell
    # relationship and data coverage
    "partner": 0.07,
    "partner_thin": 0.35,  # of partner accounts: billing data only
    "no_usage": 0.03,  # no usage or feature telemetry
    # guards
    "unhealthy": 0.07,  # health < 50 with risk signals, or usage down 20%+ in 6 months
    "unhealthy_declining": 0.3,  # of unhealthy: health 50-65 but usage collapsing
    "low_utilisation": 0.07,  # < 50% of seats active
    "activation_gap": 0.06,  # 1-4 entitled features under 30% adoption
    # triggers
    "champion": 0.12,  # healthy, engaged, growing: Tier-1 material
    "seat_pressure": 0.16,  # >= 80% of seats active (+0.2 for champions)
    "seats_growing": 0.6,  # of seat pressure: active seats up in the last quarter
    "api_ceiling": 0.07,
    "api_overage": 0.015,
    "storage_ceiling": 0.06,
    "storage_overage": 0.01,
    "usage_trend": 0.08,  # of those renewing in 3+ months: api or storage ramping to the limit
    "automation_ceiling": 0.03,  # of automation owners
    "headcount_growth": 0.14,  # 15-60% headcount growth (+0.5 for champions)
    "support_heavy": 0.05,  # 20-45 tickets in 90 days
    "gated_feature": 0.04,  # tried a feature the plan does not include
    "departments": 0.85,  # accounts with 20+ employees that have a department breakdown
    "unseated_department": (0.35, 0.25, 0.08),  # per segment: a department with 0 seats
    "multi_year": 0.10,  # of enterprise and mid-market
    "monthly": 0.10,  # of smb
    "blank_segment": 0.03,
    "arr_as_text": 0.10,  # "$86,400" or "84K"
    # signals in the last 180 days (per paying account; champions get more growth and intent)
    "signals": {
        "hiring": 0.10,
        "funding": 0.02,
        "new_office": 0.03,
        "new_department": 0.025,
        "initiative": 0.06,
        "competitor": 0.04,
        "feature_request": 0.10,
        "services_request": 0.03,
        "exec_engagement": 0.06,
        "expansion_intent": 0.01,
        "unknown_kind": 0.03,  # acquisition, press_mention, award (kept as evidence)
        "stale": 0.04,  # a signal older than the 180-day look-back
    },
    "limit_hit": 0.55,  # of accounts at a ceiling
}

INDUSTRIES = (
    ("Software", 0.14),
    ("Healthcare", 0.09),
    ("Financial Services", 0.09),
    ("Manufacturing", 0.08),
    ("Retail", 0.07),
    ("Transportation & Logistics", 0.05),
    ("Media & Entertainment", 0.04),
    ("Education Technology", 0.04),
    ("Professional Services", 0.05),
    ("Real Estate", 0.04),
    ("Construction", 0.04),
    ("Energy & Utilities", 0.03),
    ("Insurance", 0.04),
    ("Food & Beverage", 0.04),
    ("Hospitality", 0.03),
    ("Nonprofit", 0.03),
    ("Biotechnology", 0.03),
    ("Legal Services", 0.02),
    ("Telecommunications", 0.02),
    ("Agriculture", 0.02),
    ("Government", 0.01),
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


REGIONS = (("North America", 0.55), ("EMEA", 0.28), ("APAC", 0.12), ("LATAM", 0.05))
NAME_FIRST = _words(
    "Helios Northwind Quantica Vertex Brightline Cobalt Meridian Atlas Pinnacle Lumen Stratus "
    "Harborview Granite Bluefin Corvid Tidewater Keystone Orchard Redwood Sable Lakeshore "
    "Prairie Silverline Mosaic Ironclad Summit Cascade Beacon Fulcrum Pixel Harbor Clearwater "
    "Trailhead Copperleaf Nimbus Greenway Bayside Quill Foxglove Ember Vantage Kestrel Meadow "
    "Aurora Boreal Cedar Crescent Delta Evergreen Falcon Glacier Horizon Indigo Juniper "
    "Kinetic Lighthouse Magnolia Nova Obsidian Paragon Quarry Riverbend Sequoia Tandem Upland "
    "Vector Willow Zenith Anchor Bramble Canyon Driftwood Elm Fjord Golden Hollow Ironwood "
    "Jasper"
)
NAME_SECOND = _words(
    "Health Logistics Financial Manufacturing Media Energy Retail Aerospace Insurance Legal "
    "Cloud Hospitality Construction Analytics Robotics Foods Dental Software Property "
    "Architects Credit Agriculture Telehealth Learning Security Outdoor Biotech Nonprofit "
    "Payments Studio Bakery Fitness Accounting Travel Landscaping Veterinary Publishing "
    "Florists Coffee Data Capital Labs Systems Networks Dynamics Foundry Works Partners "
    "Ventures Solutions Digital Pharma Freight Marine Motors Textiles Markets Brands"
)
NAME_SUFFIX = (
    ("Inc.", 0.24),
    ("", 0.22),
    ("Group", 0.12),
    ("LLC", 0.1),
    ("Co.", 0.08),
    ("Partners", 0.06),
    ("Holdings", 0.05),
    ("GmbH", 0.04),
    ("Ltd.", 0.04),
    (", Ltd.", 0.02),
    ("& Sons", 0.015),
    ("& Co. <Holdings>", 0.015),
    ("S.A.", 0.01),
)
CSM_FIRST = _words(
    "maya jordan sofia liam priya daniel alex sam taylor morgan casey jamie riley avery quinn "
    "drew harper rowan emery blake"
)
CSM_LAST = _words(
    "chen patel ramirez oconnor natarajan kim garcia nguyen smith okafor rossi schmidt tanaka "
    "silva cohen novak dubois larsen walsh"
)
# 23 names (a prime): the step trick below picks distinct names per account. None contains a
# catalog keyword, so a department never decides which product a signal maps to.
DEPARTMENTS = (
    "Operations",
    "Finance",
    "Sales",
    "Marketing",
    "Engineering",
    "Customer Success",
    "Human Resources",
    "Legal",
    "IT",
    "Product",
    "Procurement",
    "Quality",
    "Research",
    "Logistics",
    "Field Operations",
    "Professional Services",
    "Design",
    "Facilities",
    "Planning",
    "Merchandising",
    "Risk",
    "Training Delivery",
    "Partnerships",
)
CITIES = _words(
    "Denver Austin Toronto London Berlin Singapore Sydney Dublin Chicago Atlanta Madrid Paris "
    "Seattle Boston Amsterdam Warsaw"
)

# Signal texts. The engine maps free text to catalog products by keyword (longest first, and
# short ones like "api", "bi", "erp" hide inside ordinary words), so each text is written for
# exactly one product; tests check every text against the engine's own matcher.
# (text, product it must map to or None for "nothing in the catalog")
FEATURE_REQUESTS = (
    ("Asked for advanced reporting dashboards across all teams", "analytics"),
    ("Finance wants a scheduled data export for their month-end close", "analytics"),
    ("Asked whether approvals can be automated to remove a manual process", "automation"),
    ("Wants workflow automation to route incoming orders", "automation"),
    ("Security team asked for data retention policies and DLP", "compliance"),
    ("Asked for an audit log to satisfy a HIPAA review", "compliance"),
    ("Wants webhooks to push project updates into other tools", "integrations"),
    ("Asked for a Salesforce integration for the account teams", "integrations"),
    ("IT requires SSO (SAML) before adding more users", "enterprise"),
    ("Asked for advanced permissions and a sandbox for testing", "enterprise"),
    ("Asked for a native Gantt chart view", None),
    ("Wants offline mode for field crews", None),
)
INITIATIVES = (
    ("SOC 2 certification program kicked off for next year", "compliance"),
    ("GDPR readiness program for customer records", "compliance"),
    ("Data warehouse modernization: consolidating reporting into Snowflake", "analytics"),
    ("ERP rollout across all sites; needs an ERP integration", "integrations"),
    ("Program to remove every manual process from order-to-cash", "automation"),
    ("Expanding into two new countries next year", None),
)
COMPETITORS = (
    ("Using Tableau for dashboards and reporting alongside us", "analytics"),
    ("Using Power BI for reporting alongside us", "analytics"),
    ("Using Zapier for workflow automation alongside us", "automation"),
    ("Using MuleSoft for integration work alongside us", "integrations"),
    ("Using a point solution for compliance tracking alongside us", "compliance"),
    ("Using Monday.com for project tracking in one team", None),
)
SERVICES_REQUESTS = (
    ("Requested training for {n} new managers", "onboarding"),
    ("Asked for onboarding help for a new team of {n}", "onboarding"),
    ("Asked for help with a data migration from the legacy system", "implementation"),
    ("Wants an implementation partner for a second product line", "implementation"),
)
LIMIT_HITS = {
    "seats": "Admins hit the licensed seats cap; {n} pending invites are blocked",
    "api_calls": "Hit the api calls rate limit during the nightly sync",
    "storage_gb": "Storage quota exceeded (storage_gb); uploads are being throttled",
    "other": "Hit a plan limit on the number of projects",
}
HIRING = (
    "Hiring {n} people across the business over the next 12 months",
    "Hiring {n} staff for new locations",
    "Hiring {n} roles in {dept}",
)
FUNDING = ("Raised a ${n}M Series {round}", "Closed a ${n}M growth round")
NEW_OFFICE = ("Opened a new office in {city}", "Opening a regional office in {city}")
NEW_DEPARTMENT = ("New {n}-person {dept} team formed", "Launched a {n}-person {dept} team")
EXEC_ENGAGEMENT = (
    "CFO joined the QBR and asked about a wider rollout",
    "COO sponsored the executive business review",
    "VP Operations asked for a roadmap session",
)
EXPANSION_INTENT = (
    "Asked for a proposal to bring the {dept} team on board ({n} users)",
    "Budget approved to extend to {dept} ({n} users) next quarter",
)
NEGATIVE = {
    "layoffs": "Announced a {n}% workforce reduction",
    "budget_cut": "Software budget frozen through next fiscal year",
    "champion_left": "Our champion left the company",
    "churn_risk": "Evaluating cheaper alternatives ahead of renewal",
}
UNKNOWN = (
    ("acquisition", "Acquired a {n}-person competitor"),
    ("press_mention", "Featured in a trade-press article"),
    ("award", "Named to a fastest-growing companies list"),
)
STALE_KINDS = ("hiring", "funding", "new_office")
STALE_TEXTS = ("Hiring {n} people (last year's plan)", "Raised a growth round", "Opened an office")


# --------------------------------------------------------------------------- report


@dataclass
class GenerateReport:
    """What :func:`generate` wrote."""

    out: Path
    accounts: int
    seed: int
    as_of: date
    formats: str
    files: dict[str, str] = field(default_factory=dict)  # table -> file name
    rows: dict[str, int] = field(default_factory=dict)  # table -> data rows
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


# --------------------------------------------------------------------------- entry point


def generate(
    accounts: int,
    *,
    seed: int = DEFAULT_SEED,
    out: str | Path = DEFAULT_OUT,
    as_of: date | str | None = None,
    formats: str = "auto",
    force: bool = False,
) -> GenerateReport:
    """Write a synthetic portfolio of ``accounts`` accounts into ``out``.

    Raises:
        ValueError: ``accounts`` < 1, a negative ``seed``, an unknown ``formats`` or a bad
            ``as_of``.
        OutputExistsError: ``out`` is a non-empty folder (or a file) and ``force`` is not set.
    """
    started = time.perf_counter()
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    if seed < 0:
        raise ValueError("seed must be 0 or more")
    if formats not in FORMATS:
        raise ValueError(f"formats must be one of {', '.join(FORMATS)}, not {formats!r}")
    when = _as_date(as_of)
    folder = _prepare(Path(out), force=force)
    if formats == "auto":
        formats = "sample" if accounts <= SAMPLE_FORMATS_MAX_ACCOUNTS else "fast"
    usage_ext, features_ext = ("jsonl", "xlsx") if formats == "sample" else ("csv", "csv")
    files = {
        "accounts": "accounts.csv",
        "catalog": "catalog.json",
        "subscriptions": "subscriptions.tsv",
        "usage": f"usage.{usage_ext}",
        "features": f"features.{features_ext}",
        "signals": "signals.csv",
        "departments": "departments.csv",
    }
    report = GenerateReport(
        out=folder, accounts=accounts, seed=seed, as_of=when, formats=formats, files=files
    )

    rng = np.random.default_rng(seed)
    book = _Book(rng, accounts, when)
    # Departments first: accounts carry how many of them use the product.
    report.rows["departments"] = _write_departments(folder / files["departments"], book, rng)
    report.rows["accounts"] = _write_accounts(folder / files["accounts"], book)
    (folder / files["catalog"]).write_text(json.dumps(CATALOG, indent=2) + "\n", encoding="utf-8")
    report.rows["catalog"] = len(CATALOG)
    report.rows["subscriptions"] = _write_subscriptions(folder / files["subscriptions"], book)
    report.rows["signals"] = _write_signals(folder / files["signals"], book, rng)
    # Per-chunk generators seeded from (seed, table, chunk): independent of the draws above.
    report.rows["usage"] = _write_usage(folder / files["usage"], book, seed)
    report.rows["features"] = _write_features(folder / files["features"], book, seed)
    report.rows = {name: report.rows[name] for name in TABLES}
    report.seconds = time.perf_counter() - started
    return report


def _as_date(value: date | str | None) -> date:
    if value is None:
        return SAMPLE_AS_OF
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"'{value}' is not a date; write YYYY-MM-DD") from None


def _prepare(folder: Path, *, force: bool) -> Path:
    if folder.exists() and not folder.is_dir():
        raise OutputExistsError(f"{folder} exists and is not a folder; choose another --out.")
    if folder.is_dir():
        entries = sorted(folder.iterdir())
        if entries and not force:
            raise OutputExistsError(
                f"{folder} is not empty ({len(entries)} entries); refusing to overwrite it. "
                "Choose another --out, or add --force to replace the portfolio files in it."
            )
        # --force: remove every file that holds a table, so no table ends up in two files;
        # anything else in the folder is left alone.
        for path in entries:
            stem, _, ext = path.name.partition(".")
            if path.is_file() and stem.lower() in TABLES and ext.lower() in FILE_EXTENSIONS:
                path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --------------------------------------------------------------------------- the book


def _pick(rng: np.random.Generator, options, n: int) -> np.ndarray:
    """Indices into ``options`` ((value, weight) pairs), drawn by weight."""
    weights = np.array([w for _, w in options], dtype=float)
    return rng.choice(len(options), size=n, p=weights / weights.sum())


def _chance(rng: np.random.Generator, p, n: int) -> np.ndarray:
    return rng.random(n) < p


class _Book:
    """Every per-account figure of the portfolio, as numpy arrays of length ``n``."""

    def __init__(self, rng: np.random.Generator, n: int, as_of: date):
        self.n = n
        self.as_of = np.datetime64(as_of.isoformat(), "D")
        mix = MIX
        width = max(6, len(str(n)))
        self.ids = np.strings.add("ACC-", np.strings.zfill(np.arange(1, n + 1).astype(TEXT), width))
        self.id_bytes = self.ids.astype(f"S{width + 4}")

        # --- status, segment, plan, seats, add-ons
        u = rng.random(n)
        status = np.full(n, PAYING)
        status[u < mix["trial"] + mix["free"]] = FREE
        status[u < mix["trial"]] = TRIAL
        self.status = status
        paying, trial, free = status == PAYING, status == TRIAL, status == FREE
        self.paying = paying
        seg = rng.choice(3, size=n, p=mix["segment"])
        seg[trial] = np.where(rng.random(trial.sum()) < 0.4, MM, SMB)
        seg[free] = SMB
        self.segment = seg
        cum = np.cumsum(np.array(mix["tier"]), axis=1)[seg]
        tier = (rng.random(n)[:, None] > cum).sum(axis=1).clip(0, 2)
        tier[free] = 0
        median, sigma, lo, hi = (np.array(x)[seg] for x in zip(*mix["seats"], strict=True))
        seats = np.round(median * np.exp(sigma * rng.standard_normal(n))).clip(lo, hi)
        seats[trial] = rng.integers(5, 41, trial.sum())
        seats[free] = FREE_LIMITS["seats"]
        seats = seats.astype(np.int64)
        owns = (rng.random((n, len(ADD_ONS))) < np.array(mix["add_ons"])[seg]) & paying[:, None]
        full = paying & (seg == ENT) & _chance(rng, mix["fully_penetrated"], n)
        tier[full] = 2
        owns[full] = True
        self.tier, self.seats, self.owns, self.full = tier, seats, owns, full

        # --- relationship, data coverage and behaviour flags
        partner = paying & ~full & _chance(rng, mix["partner"], n)
        thin = partner & _chance(rng, mix["partner_thin"], n)
        no_usage = paying & ~thin & ~full & _chance(rng, mix["no_usage"], n)
        normal = paying & ~thin & ~full
        unhealthy = normal & _chance(rng, mix["unhealthy"], n)
        declining = unhealthy & _chance(rng, mix["unhealthy_declining"], n)
        declining &= ~no_usage
        champion = normal & ~unhealthy & _chance(rng, mix["champion"], n)
        low_util = normal & ~champion & ~declining & _chance(rng, mix["low_utilisation"], n)
        seat_p = mix["seat_pressure"] + 0.2 * champion
        pressure = normal & ~low_util & ~declining & (rng.random(n) < seat_p)
        growing_seats = pressure & _chance(rng, mix["seats_growing"], n)
        self.partner, self.thin, self.no_usage = partner, thin, no_usage
        self.unhealthy, self.declining, self.champion = unhealthy, declining, champion
        self.low_util, self.pressure, self.growing_seats = low_util, pressure, growing_seats
        self.has_usage = ~(thin | no_usage)

        # --- seats in use
        util = rng.uniform(0.5, 0.79, n)
        util = np.where(pressure, rng.uniform(0.80, 1.0, n), util)
        util = np.where(low_util, rng.uniform(0.25, 0.49, n), util)
        util = np.where(declining, rng.uniform(0.30, 0.55, n), util)
        util = np.where(trial, rng.uniform(0.5, 1.0, n), util)
        util = np.where(full, rng.uniform(0.65, 0.78, n), util)
        active = np.where(pressure, np.ceil(seats * util), np.round(seats * util))
        half = np.ceil(seats * 0.5)  # small accounts: keep each band's side of 50%
        below = low_util | declining
        active = np.where(below, np.minimum(active, half - 1), np.maximum(active, half))
        active = active.clip(1, seats).astype(np.int64)
        active[free] = rng.integers(3, 6, free.sum())
        self.active = active

        # --- health and relationship figures
        health = rng.normal(76, 8, n).clip(51, 98)
        health = np.where(champion, rng.uniform(80, 97, n), health)
        health = np.where(low_util, rng.uniform(52, 72, n), health)
        health = np.where(unhealthy, rng.uniform(20, 49, n), health)
        health = np.where(declining, rng.uniform(50, 66, n), health)
        self.health = np.round(health).astype(np.int64)
        self.health_missing = thin | (trial & _chance(rng, 0.5, n))
        self.nps = np.round(((health - 55) * 1.6 + rng.normal(0, 10, n)).clip(-100, 100))
        self.csat = np.round((1 + health / 25 + rng.normal(0, 0.25, n)).clip(1, 5), 1)
        eng_score = health + rng.normal(0, 8, n)
        engagement = np.select([eng_score >= 82, eng_score >= 62], [0, 1], 2)  # high/medium/low
        engagement[champion] = 0
        engagement[unhealthy] = 2
        engagement[trial] = np.where(rng.random(trial.sum()) < 0.6, 0, 1)
        self.engagement = engagement
        self.engagement_title = _chance(rng, 0.1, n)
        lam = np.array([10.0, 6.0, 2.5])[seg]
        tickets = rng.poisson(lam)
        heavy = normal & _chance(rng, mix["support_heavy"], n)
        tickets = np.where(heavy, rng.integers(20, 46, n), tickets)
        tickets = np.where(unhealthy, tickets + rng.poisson(8, n), tickets)
        tickets[trial | free] = rng.integers(0, 4, (trial | free).sum())
        self.tickets = tickets
        self.contacts = 1 + rng.poisson(np.array([12.0, 5.0, 1.5])[seg])
        factor = np.exp(rng.normal(np.log(3.5), 0.7, n)).clip(1.05, 40)
        self.employees = np.maximum(np.round(seats * factor), seats + 2).astype(np.int64)
        growth = rng.normal(6, 7, n).clip(-12, 14)
        grows = normal & ~unhealthy & (rng.random(n) < mix["headcount_growth"] + 0.5 * champion)
        growth = np.where(grows, rng.uniform(15, 60, n), growth)
        growth = np.where(unhealthy, rng.uniform(-25, 2, n), growth)
        self.growth = np.round(growth).astype(np.int64)
        self.grows = grows
        self.heavy = heavy

        # --- contract dates (days of month kept <= 28 so anniversaries exist every year)
        multi = (seg != SMB) & _chance(rng, mix["multi_year"], n) & paying
        monthly = (seg == SMB) & _chance(rng, mix["monthly"], n) & paying & ~partner
        term_years = np.where(multi, rng.integers(2, 4, n), 1)
        ahead = (rng.random(n) * 365 * term_years).astype(np.int64) + 1
        renewal = _clip_day(self.as_of + ahead)
        renewal = np.where(monthly, self.as_of + rng.integers(1, 31, n), renewal)
        term_start = _add_years(renewal, -term_years)
        prior_terms = np.minimum(rng.geometric(0.35, n) - 1, 8)  # renewals so far
        start = _add_years(term_start, -term_years * prior_terms)
        last_renewal = np.where(prior_terms > 0, term_start, np.datetime64("NaT"))
        months_ago = rng.integers(2, 60, n)
        monthly_start = _clip_day(self.as_of - months_ago * 30)
        start = np.where(monthly, monthly_start, start)
        last_renewal = np.where(monthly, np.datetime64("NaT"), last_renewal)
        # trials: started 1-27 days ago, 14- or 30-day trials ending after the as-of date
        ago = rng.integers(1, 28, n)
        length = np.where((ago < 14) & (rng.random(n) < 0.5), 14, 30)
        start = np.where(trial, self.as_of - ago, start)
        renewal = np.where(trial, self.as_of - ago + length, renewal)
        start = np.where(free, self.as_of - rng.integers(30, 700, n), start)
        renewal = np.where(free, np.datetime64("NaT"), renewal)
        last_renewal = np.where(trial | free, np.datetime64("NaT"), last_renewal)
        self.start = start.astype("datetime64[D]")
        self.renewal = renewal.astype("datetime64[D]")
        self.last_renewal = last_renewal.astype("datetime64[D]")
        self.term = np.where(multi, 1, np.where(monthly, 2, 0))  # annual, multi-year, monthly
        self.term_title = _chance(rng, 0.05, n)

        # --- labels
        self.industry = _pick(rng, INDUSTRIES, n)
        self.region = _pick(rng, REGIONS, n)
        n_csm = max(6, n // 150)
        csm = rng.integers(0, n_csm, n)
        self.owner = _csm_emails(n_csm)[csm]
        self.owner_missing = free
        self.names = _names(rng, n)
        self.blank_segment = paying & _chance(rng, mix["blank_segment"], n)
        self.arr_style = np.where(
            _chance(rng, mix["arr_as_text"], n), rng.integers(1, 3, n), 0
        )  # 0 plain, 1 "$86,400", 2 "84K"
        self.plan_title = _chance(rng, 0.3, n)

        # --- usage shape per metric: end-of-year utilisation and start/end ratio
        self.limits = np.stack(
            [
                seats,
                API_LIMIT[tier] * np.where((seg == ENT) & _chance(rng, 0.08, n), 2, 1),
                STORAGE_LIMIT[tier],
                AUTOMATION_LIMIT[tier],
            ],
            axis=1,
        ).astype(np.int64)
        self.limits[free, 1] = FREE_LIMITS["api_calls"]
        self.limits[free, 2] = FREE_LIMITS["storage_gb"]
        self.has_metric = np.stack(
            [self.has_usage, self.has_usage, self.has_usage, self.has_usage & owns[:, 2]], axis=1
        )
        end = np.stack(
            [
                active / np.maximum(seats, 1),
                rng.beta(1.6, 4, n) * 0.78,
                rng.beta(2, 3.5, n) * 0.78,
                rng.beta(2, 4, n) * 0.75,
            ],
            axis=1,
        )
        ratio = np.stack(
            [
                rng.uniform(0.88, 1.04, n),
                rng.uniform(0.7, 1.1, n),
                rng.uniform(0.75, 0.97, n),
                rng.uniform(0.7, 1.1, n),
            ],
            axis=1,
        )
        slope = np.zeros((n, 4))  # absolute growth per month, as a share of the limit
        api_c = normal & self.has_usage & _chance(rng, mix["api_ceiling"], n)
        api_o = normal & self.has_usage & _chance(rng, mix["api_overage"], n)
        sto_c = normal & self.has_usage & _chance(rng, mix["storage_ceiling"], n)
        sto_o = normal & self.has_usage & _chance(rng, mix["storage_overage"], n)
        aut_c = normal & self.has_metric[:, 3] & _chance(rng, mix["automation_ceiling"], n)
        end[:, 1] = np.where(api_c, rng.uniform(0.80, 0.99, n), end[:, 1])
        end[:, 1] = np.where(api_o, rng.uniform(1.01, 1.15, n), end[:, 1])
        end[:, 2] = np.where(sto_c, rng.uniform(0.80, 0.99, n), end[:, 2])
        end[:, 2] = np.where(sto_o, rng.uniform(1.01, 1.12, n), end[:, 2])
        end[:, 3] = np.where(aut_c, rng.uniform(0.80, 0.97, n), end[:, 3])
        # Usage trending to a limit: a ramp from a floor, steep enough to reach the limit at
        # 40-90% of the way to a renewal 3+ months out (where the conversation pays off), and
        # at least 7 months long so it fills the engine's 6-month trend window.
        days_left = (self.renewal - self.as_of).astype("timedelta64[D]")
        to_renewal = np.where(np.isnat(days_left), 12.0, days_left.astype(np.int64) / 30.4375)
        trend = (normal & self.has_usage & ~(api_c | api_o | sto_c | sto_o)) & (to_renewal >= 3)
        trend &= _chance(rng, mix["usage_trend"], n)
        which = np.where(rng.random(n) < 0.5, 1, 2)
        t_end = rng.uniform(0.5, 0.72, n)
        t_floor = rng.uniform(0.03, 0.1, n)
        t_slope = (1 - t_end) / (to_renewal * rng.uniform(0.4, 0.9, n))
        t_slope = t_slope.clip(0.015, (t_end - t_floor) / 6)
        floor = np.zeros((n, 4))
        for m in (1, 2):
            on = trend & (which == m)
            end[:, m] = np.where(on, t_end, end[:, m])
            slope[:, m] = np.where(on, t_slope, 0.0)
            floor[:, m] = np.where(on, t_floor, 0.0)
        # seats: growing accounts added users; declining ones lost them
        ratio[:, 0] = np.where(growing_seats, rng.uniform(0.6, 0.85, n), ratio[:, 0])
        ratio[:, 0] = np.where(declining, rng.uniform(1.7, 2.0, n), ratio[:, 0])
        ratio[:, 0] = np.where(unhealthy & ~declining, rng.uniform(1.0, 1.15, n), ratio[:, 0])
        for m in (1, 3):
            ratio[:, m] = np.where(unhealthy, rng.uniform(1.7, 2.1, n), ratio[:, m])
        ratio[:, 1] = np.where(champion, rng.uniform(0.6, 0.9, n), ratio[:, 1])
        ratio[trial, :] = rng.uniform(0.2, 0.6, (trial.sum(), 4))
        free_full = free & _chance(rng, 0.4, n)
        end[free_full, 2] = rng.uniform(0.85, 0.98, free_full.sum())
        self.end, self.ratio, self.slope, self.floor = end, ratio, slope, floor
        self.at_ceiling = np.stack([pressure, api_c | api_o, sto_c | sto_o], axis=1)
        self.free_full = free_full
        self.arr = self._arr()

    # --- derived figures

    def _arr(self) -> np.ndarray:
        arr = self.seats * TIER_SEAT_PRICE[self.tier]
        for j, pid in enumerate(ADD_ONS):
            arr = arr + self.owns[:, j] * _addon_price(pid, self.seats)
        return np.where(self.paying, arr, 0).astype(np.int64)

    def usage_month_mask(self, months: np.ndarray) -> np.ndarray:
        """(n, 12) True where the account was a customer in that month."""
        first = self.start.astype("datetime64[M]")
        return months[None, :] >= first[:, None]


def _addon_price(pid: str, seats: np.ndarray) -> np.ndarray:
    product = _PRODUCTS[pid]
    if product["price_per_seat"] is not None:
        return seats * product["price_per_seat"]
    return np.full(seats.shape, product["annual_price"])


def _clip_day(days: np.ndarray) -> np.ndarray:
    """Move any 29th-31st to the 28th."""
    days = np.asarray(days, dtype="datetime64[D]")
    month = days.astype("datetime64[M]")
    dom = (days - month.astype("datetime64[D]")).astype(np.int64)
    return month.astype("datetime64[D]") + np.minimum(dom, 27)


def _add_years(days: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Same day-of-month, ``years`` years later (days are <= 28)."""
    month = days.astype("datetime64[M]")
    dom = days - month.astype("datetime64[D]")
    shifted = month + (np.asarray(years) * 12).astype("timedelta64[M]")
    return shifted.astype("datetime64[D]") + dom


def _csm_emails(count: int) -> np.ndarray:
    """first.last@example.com, unique (numbered once the name pairs run out)."""
    first = np.array(CSM_FIRST, dtype=TEXT)
    last = np.array(CSM_LAST, dtype=TEXT)
    i = np.arange(count)
    # len(first) and len(last) are coprime, so (i % a, i % b) is unique for i < a * b.
    base = _cat(first[i % len(first)], ".", last[i % len(last)])
    k = i // (len(first) * len(last))
    base = np.where(k > 0, np.strings.add(base, (k + 1).astype(TEXT)), base)
    return np.strings.add(base, "@example.com")


def _names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Company names, unique while the word lists last (then numbered: "... 2")."""
    first = np.array(NAME_FIRST, dtype=TEXT)
    second = np.array(NAME_SECOND, dtype=TEXT)
    pairs = len(first) * len(second)
    order = rng.permutation(max(n, pairs))[:n]
    suffix_i = _pick(rng, NAME_SUFFIX, n)
    suffixes = np.array([s for s, _ in NAME_SUFFIX], dtype=TEXT)[suffix_i]
    base = np.strings.add(
        np.strings.add(first[order % len(first)], " "), second[(order // len(first)) % len(second)]
    )
    comma = np.strings.startswith(suffixes, ",")
    sep = np.where(comma | (suffixes == ""), "", " ")
    name = np.strings.add(np.strings.add(base, sep.astype(TEXT)), suffixes)
    k = order // pairs
    return np.where(k > 0, np.strings.add(np.strings.add(name, " "), (k + 1).astype(TEXT)), name)


# --------------------------------------------------------------------------- text helpers


def _cat(*parts) -> np.ndarray:
    out = parts[0]
    for part in parts[1:]:
        out = np.strings.add(out, part)
    return out


def _ints(values: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    text = np.asarray(values).astype(np.int64).astype(TEXT)
    return text if missing is None else np.where(missing, "", text)


def _dec1(values: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """Non-negative numbers with one decimal (``131.8``)."""
    tenths = np.round(np.asarray(values, dtype=float) * 10).astype(np.int64)
    text = _cat((tenths // 10).astype(TEXT), ".", (tenths % 10).astype(TEXT))
    return text if missing is None else np.where(missing, "", text)


def _dates(values: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(values, unit="D").astype(TEXT)
    return np.where(np.isnat(values), "", text)


def _fill(templates, choice: np.ndarray, **values: np.ndarray) -> np.ndarray:
    """``templates[choice[i]]`` with ``{name}`` filled from ``values[name][i]``."""
    out = np.full(len(choice), "", dtype=TEXT)
    for t, template in enumerate(templates):
        rows = choice == t
        if not rows.any():
            continue
        text = np.full(rows.sum(), "", dtype=TEXT)
        for literal, name, _, _ in Formatter().parse(template):
            text = np.strings.add(text, literal)
            if name:
                text = np.strings.add(text, values[name][rows])
        out[rows] = text
    return out


def _quote(column: np.ndarray) -> np.ndarray:
    """CSV quoting where a value holds the separator or a quote."""
    needs = (np.strings.find(column, ",") >= 0) | (np.strings.find(column, '"') >= 0)
    if not needs.any():
        return column
    quoted = _cat('"', np.strings.replace(column, '"', '""'), '"')
    return np.where(needs, quoted, column)


def _json_text(column: np.ndarray) -> np.ndarray:
    escaped = np.strings.replace(np.strings.replace(column, "\\", "\\\\"), '"', '\\"')
    return _cat('"', escaped, '"')


# Big tables are assembled as byte matrices: every piece of a row (a column, a separator, a
# quote) becomes a fixed-width, NUL-padded block of bytes, the blocks are stacked side by side
# and the padding is dropped in one pass. A piece is a constant (``bytes``), a 1-D array of
# text, numbers or fixed-width bytes, or a 2-D uint8 matrix (see :func:`_digits`); a NUL-only
# entry is an empty piece, which makes optional pieces (a decimal point) easy.


def _digits(values: np.ndarray) -> np.ndarray:
    """Non-negative integers as a (rows, width) matrix of ASCII digits, NUL-padded."""
    values = np.asarray(values, dtype=np.int64)
    top = int(values.max()) if len(values) else 0
    width = len(str(top))
    rest = values.astype(np.uint32 if top < 2**32 else np.uint64)
    digits = np.empty((len(values), width), dtype=np.uint8)
    for column in range(width - 1, -1, -1):  # a loop over digit positions, not rows
        quotient = rest // 10
        digits[:, column] = rest - quotient * 10 + 48
        rest = quotient
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    leading = values[:, None] < powers
    leading[:, -1] = False
    digits[leading] = 0
    return digits


def _block(piece, n: int) -> np.ndarray:
    """One piece of ``n`` rows as a (n, width) uint8 matrix."""
    if isinstance(piece, bytes):
        return np.broadcast_to(np.frombuffer(piece, dtype=np.uint8), (n, len(piece)))
    a = np.asarray(piece)
    if a.ndim == 2:
        return a
    if a.dtype.kind in "iu" and (not len(a) or a.min() >= 0):
        return _digits(a)
    if a.dtype.kind != "S":
        if a.dtype.kind != "T":
            a = a.astype(TEXT)
        width = int(np.strings.str_len(a).max()) if len(a) else 1
        a = a.astype(f"S{max(width, 1)}")
    a = np.ascontiguousarray(a)
    return a.view(np.uint8).reshape(n, a.dtype.itemsize)


ROWS_PER_BLOCK = 250_000  # bounds the byte matrix (rows x row width) in memory


def _rows_bytes(pieces: list, n: int) -> Iterator[bytes]:
    for lo in range(0, n, ROWS_PER_BLOCK):
        hi = min(n, lo + ROWS_PER_BLOCK)
        part = [p if isinstance(p, bytes) else p[lo:hi] for p in pieces]
        matrix = np.hstack([_block(piece, hi - lo) for piece in part])
        yield matrix[matrix != 0].tobytes()


class _Table:
    """Writes one table as csv, tsv or jsonl, chunk by chunk.

    ``columns`` is ``[(name, kind), ...]``: ``id`` text that never needs quoting, ``text``
    (quoted or escaped as the format needs), ``num`` (a JSON number; "" is missing = null). A
    value is a 1-D array or a tuple of pieces (see :func:`_rows_bytes`).
    """

    def __init__(self, path: Path, columns: list[tuple[str, str]]):
        self.path = path
        self.ext = path.suffix.lstrip(".")
        self.sep = "\t" if self.ext == "tsv" else ","
        self.columns = columns
        self.rows = 0
        self.fh = path.open("wb")
        if self.ext in ("csv", "tsv"):
            self.fh.write((self.sep.join(name for name, _ in columns) + "\n").encode())

    def write(self, values: list) -> None:
        first = values[0][0] if isinstance(values[0], tuple) else values[0]
        n = len(first)
        if not n:
            return
        pieces: list = []
        for i, ((name, kind), value) in enumerate(zip(self.columns, values, strict=True)):
            parts = list(value) if isinstance(value, tuple) else [value]
            if self.ext == "jsonl":
                pieces.append((("{" if i == 0 else ", ") + json.dumps(name) + ": ").encode())
                if kind == "text":
                    pieces.append(np.where(parts[0] == "", "null", _json_text(parts[0])))
                elif kind == "id":
                    pieces += [b'"', *parts, b'"']
                elif len(parts) == 1 and np.asarray(parts[0]).dtype.kind == "T":
                    pieces.append(np.where(parts[0] == "", "null", parts[0]))
                else:
                    pieces += parts
            else:
                if i:
                    pieces.append(self.sep.encode())
                if kind == "text" and self.sep == ",":
                    parts = [_quote(parts[0])]
                pieces += parts
        pieces.append(b"}\n" if self.ext == "jsonl" else b"\n")
        self.fh.writelines(_rows_bytes(pieces, n))
        self.rows += n

    def close(self) -> int:
        self.fh.close()
        return self.rows


# --------------------------------------------------------------------------- tables


ACCOUNT_HEADERS = (
    "Account ID",
    "Account Name",
    "ARR",
    "Segment",
    "Industry",
    "Region",
    "Plan",
    "Licenses",
    "Active Users",
    "Employee Count",
    "employee_growth_pct",
    "Health Score",
    "NPS",
    "CSAT",
    "support_tickets_90d",
    "Engagement",
    "Contacts",
    "Departments Engaged",
    "Contract Term",
    "Contract Start",
    "Contract End Date",
    "Last Renewal Date",
    "CSM",
    "Status",
    "Channel",
)


def _write_accounts(path: Path, b: _Book) -> int:
    thin = b.thin
    arr_plain = b.arr.astype(TEXT)
    thousands = b.arr % 1000
    arr_dollar = _cat(
        "$",
        np.where(b.arr >= 1000, _cat((b.arr // 1000).astype(TEXT), ","), ""),
        np.where(
            b.arr >= 1000, np.strings.zfill(thousands.astype(TEXT), 3), thousands.astype(TEXT)
        ),
    )
    k_text = np.where(
        b.arr % 100 == 0, _cat(_dec1(b.arr / 1000), "K"), arr_plain
    )  # 16.8K, 84.0K -> 84K below
    k_text = np.strings.replace(k_text, ".0K", "K")
    arr = np.where(b.arr_style == 1, arr_dollar, np.where(b.arr_style == 2, k_text, arr_plain))
    arr = np.where(b.paying, arr, "0")
    segment = np.array(SEGMENTS, dtype=TEXT)[b.segment]
    segment = np.where(b.blank_segment, "", segment)
    plan = np.where(
        b.plan_title, np.array(TIER_NAMES, dtype=TEXT)[b.tier], np.array(TIERS, dtype=TEXT)[b.tier]
    )
    engagement = np.array(["high", "medium", "low"], dtype=TEXT)[b.engagement]
    engagement = np.where(b.engagement_title, np.strings.capitalize(engagement), engagement)
    no_relationship = b.status != PAYING
    term = np.array(["annual", "multi-year", "monthly"], dtype=TEXT)[b.term]
    term = np.where(b.term_title, np.strings.replace(term, "multi-year", "Multi-Year"), term)
    status = np.array(["paying", "trial", "free"], dtype=TEXT)[b.status]
    channel = np.where(b.partner, "partner", "direct")
    industry = np.array([x for x, _ in INDUSTRIES], dtype=TEXT)[b.industry]
    region = np.array([x for x, _ in REGIONS], dtype=TEXT)[b.region]
    values = [
        b.ids,
        b.names,
        arr,
        segment,
        industry,
        region,
        plan,
        b.seats.astype(TEXT),
        _ints(b.active, thin),
        _ints(b.employees, thin),
        _ints(b.growth, thin),
        _ints(b.health, b.health_missing),
        _ints(b.nps, thin | no_relationship),
        _dec1(b.csat, thin | no_relationship),
        _ints(b.tickets, thin),
        np.where(thin, "", engagement),
        _ints(b.contacts, thin),
        _ints(b.departments_engaged, thin),
        np.where(no_relationship, "", term),
        _dates(b.start),
        _dates(b.renewal),
        _dates(b.last_renewal),
        np.where(b.owner_missing, "", b.owner),
        status,
        channel,
    ]
    # Only these can hold a comma ("Quill & Ink, Ltd.", "$86,400"); the rest never need quotes.
    quoted = {"Account Name", "ARR", "Industry", "Region"}
    table = _Table(path, [(h, "text" if h in quoted else "id") for h in ACCOUNT_HEADERS])
    table.write(values)
    return table.close()


def _write_subscriptions(path: Path, b: _Book) -> int:
    account = [np.arange(b.n)]
    product = [np.full(b.n, -1)]
    for j in range(len(ADD_ONS)):
        owners = np.flatnonzero(b.owns[:, j])
        account.append(owners)
        product.append(np.full(len(owners), j))
    acc = np.concatenate(account)
    prod = np.concatenate(product)
    order = np.lexsort((prod, acc))
    acc, prod = acc[order], prod[order]
    seats = b.seats[acc]
    is_tier = prod < 0
    per_seat = np.array([_PRODUCTS[p]["price_per_seat"] or 0 for p in ADD_ONS])
    flat = np.array([_PRODUCTS[p]["annual_price"] or 0 for p in ADD_ONS])
    by_seat = np.where(is_tier, True, per_seat[np.maximum(prod, 0)] > 0)
    quantity = np.where(by_seat, seats, 1)
    price = np.where(
        is_tier,
        TIER_SEAT_PRICE[b.tier[acc]] * seats,
        np.where(by_seat, per_seat[np.maximum(prod, 0)] * seats, flat[np.maximum(prod, 0)]),
    )
    price = np.where(b.paying[acc], price, 0)
    products = np.array([*ADD_ONS, *TIERS], dtype="S")
    product = np.where(is_tier, len(ADD_ONS) + b.tier[acc], prod)
    table = _Table(
        path, [("account_id", "id"), ("product_id", "id"), ("quantity", "num"), ("arr", "num")]
    )
    table.write([b.id_bytes[acc], products[product], quantity, price])
    return table.close()


def _write_departments(path: Path, b: _Book, rng: np.random.Generator) -> int:
    n = b.n
    has = b.paying & ~b.thin & (b.employees >= 20) & _chance(rng, MIX["departments"], n)
    low = np.array([3, 2, 2])[b.segment]
    high = np.array([7, 6, 4])[b.segment]
    count = np.where(has, rng.integers(low, high), 0)
    unseated_p = np.array(MIX["unseated_department"])[b.segment]
    empty = np.where(has & ~b.full & (rng.random(n) < unseated_p), 1 + (rng.random(n) < 0.3), 0)
    empty = np.minimum(empty, count - 1).clip(0)
    acc = np.repeat(np.arange(n), count)
    first = np.cumsum(count) - count
    j = np.arange(len(acc)) - first[acc]
    start = rng.integers(0, len(DEPARTMENTS), n)
    step = rng.integers(1, len(DEPARTMENTS), n)
    name_i = (start[acc] + j * step[acc]) % len(DEPARTMENTS)
    weight = rng.gamma(2.0, 1.0, len(acc))
    using = j < (count - empty)[acc]
    total = np.bincount(acc, weights=weight, minlength=n)
    headcount = np.maximum(np.round(b.employees[acc] * weight / total[acc]), 3)
    headcount = np.where(using, headcount, np.maximum(headcount, 8))
    # Licensed seats split over the departments that use the product; the remainder goes to
    # the first one so they add up.
    seat_w = np.where(using, weight, 0.0)
    seat_total = np.bincount(acc, weights=seat_w, minlength=n)
    seats = np.floor(b.seats[acc] * seat_w / np.where(seat_total > 0, seat_total, 1)[acc])
    remainder = b.seats - np.bincount(acc, weights=seats, minlength=n).astype(np.int64)
    seats = seats + np.where(j == 0, remainder[acc], 0)
    headcount = np.maximum(headcount, seats).astype(np.int64)
    b.departments_engaged = np.where(
        count > 0, count - empty, np.select([b.segment == ENT, b.segment == MM], [3, 2], 1)
    )
    table = _Table(
        path,
        [("account_id", "id"), ("department", "id"), ("headcount", "num"), ("seats", "num")],
    )
    table.write(
        [
            b.id_bytes[acc],
            np.array(DEPARTMENTS, dtype="S")[name_i],
            headcount,
            seats.astype(np.int64),
        ]
    )
    return table.close()


def _write_signals(path: Path, b: _Book, rng: np.random.Generator) -> int:
    n = b.n
    sig = MIX["signals"]
    active = b.paying & ~b.thin & ~b.full  # fully penetrated accounts stay quiet
    parts: list[dict] = []

    def emit(mask, kind, detail, *, days=None, department=None, headcount=None, amount=None):
        rows = np.flatnonzero(mask)
        if not len(rows):
            return
        m = len(rows)
        ago = rng.integers(3, 171, m) if days is None else days[rows]
        parts.append(
            {
                "acc": rows,
                "kind": np.full(m, kind, dtype=TEXT) if isinstance(kind, str) else kind[rows],
                "ago": ago,
                "detail": detail[rows],
                "department": np.full(m, "", dtype=TEXT)
                if department is None
                else department[rows],
                "headcount": np.full(m, "", dtype=TEXT) if headcount is None else headcount[rows],
                "amount": np.full(m, "", dtype=TEXT) if amount is None else amount[rows],
            }
        )

    def chance(p):
        return rng.random(n) < p

    def texts(options):
        return np.array([t for t, _ in options], dtype=TEXT)[rng.integers(0, len(options), n)]

    dept = np.array(DEPARTMENTS, dtype=TEXT)[rng.integers(0, len(DEPARTMENTS), n)]
    size = np.maximum(b.employees, 20)
    people = np.maximum(np.round(size * rng.uniform(0.03, 0.15, n)), 5).astype(np.int64)
    people_t = people.astype(TEXT)
    champion = b.champion

    # growth
    hiring = active & ~b.unhealthy & chance(sig["hiring"] + 0.4 * b.grows + 0.3 * champion)
    choice = rng.integers(0, len(HIRING), n)
    emit(
        hiring,
        "hiring",
        _fill(HIRING, choice, n=people_t, dept=dept),
        department=np.where(choice == 2, dept, ""),
        headcount=people_t,
    )
    funding = (active & ~b.unhealthy & chance(sig["funding"] + 0.15 * champion)) | (
        (b.status == TRIAL) & chance(0.1)
    )
    millions = rng.choice(np.array([5, 8, 12, 20, 25, 40, 60, 85, 120]), n)
    rounds = np.array(list("ABCDE"), dtype=TEXT)[np.minimum(millions // 20, 4)]
    emit(
        funding,
        "funding",
        _fill(FUNDING, rng.integers(0, 2, n), n=millions.astype(TEXT), round=rounds),
        amount=(millions * 1_000_000).astype(TEXT),
    )
    city = np.array(CITIES, dtype=TEXT)[rng.integers(0, len(CITIES), n)]
    emit(
        active & ~b.unhealthy & chance(sig["new_office"] + 0.05 * champion),
        "new_office",
        _fill(NEW_OFFICE, rng.integers(0, 2, n), city=city),
    )
    team = np.maximum(np.round(people * rng.uniform(0.3, 0.8, n)), 6).astype(np.int64).astype(TEXT)
    emit(
        active & ~b.unhealthy & chance(sig["new_department"]),
        "new_department",
        _fill(NEW_DEPARTMENT, rng.integers(0, 2, n), n=team, dept=dept),
        department=dept,
        headcount=team,
    )

    # needs and intent
    emit(active & chance(sig["initiative"]), "initiative", texts(INITIATIVES))
    spend = (rng.choice(np.array([6, 12, 18, 24, 36, 48, 60]), n) * 1000).astype(TEXT)
    emit(active & chance(sig["competitor"]), "competitor", texts(COMPETITORS), amount=spend)
    emit(
        (active & chance(sig["feature_request"])) | ((b.status == TRIAL) & chance(0.15)),
        "feature_request",
        texts(FEATURE_REQUESTS),
    )
    services = np.array([t for t, _ in SERVICES_REQUESTS], dtype=object)
    services_choice = rng.integers(0, len(services), n)
    emit(
        active & chance(sig["services_request"] + 0.3 * b.heavy),
        "services_request",
        _fill(tuple(services), services_choice, n=people_t),
        headcount=np.where(np.isin(services_choice, (0, 1)), people_t, ""),
    )
    exec_rate = sig["exec_engagement"] + 0.5 * champion + 0.25 * (b.status == TRIAL)
    emit(
        (active | (b.status == TRIAL)) & chance(exec_rate),
        "exec_engagement",
        texts([(t, None) for t in EXEC_ENGAGEMENT]),
    )
    users = np.maximum(np.round(people * rng.uniform(0.4, 1.0, n)), 5).astype(np.int64)
    price = TIER_SEAT_PRICE[b.tier]
    budget = (np.round(users * price / 1000) * 1000).astype(np.int64)
    emit(
        active & ~b.unhealthy & chance(sig["expansion_intent"] + 0.2 * champion),
        "expansion_intent",
        _fill(EXPANSION_INTENT, rng.integers(0, 2, n), dept=dept, n=users.astype(TEXT)),
        department=dept,
        headcount=users.astype(TEXT),
        amount=budget.astype(TEXT),
    )

    # limits actually hit, for accounts at a ceiling (and a few plan-limit complaints)
    limit_p = MIX["limit_hit"]
    pending = rng.integers(2, 12, n).astype(TEXT)
    hit_text = {k: _fill((v,), np.zeros(n, dtype=int), n=pending) for k, v in LIMIT_HITS.items()}
    for j, metric in enumerate(("seats", "api_calls", "storage_gb")):
        emit(b.at_ceiling[:, j] & chance(limit_p), "limit_hit", hit_text[metric])
    emit(b.free_full | ((b.status == FREE) & chance(0.3)), "limit_hit", hit_text["seats"])
    emit(active & chance(0.01), "limit_hit", hit_text["other"])

    # risk
    negative = b.unhealthy & ~b.declining
    drawn = {k: negative & chance(0.45) for k in NEGATIVE}
    drawn["churn_risk"] |= negative & ~np.any(np.stack(list(drawn.values())), axis=0)
    cut = rng.integers(5, 26, n).astype(TEXT)
    for kind, text in NEGATIVE.items():
        detail = _fill((text,), np.zeros(n, dtype=int), n=cut)
        emit(drawn[kind], kind, detail)
    # declining accounts: half show one risk signal too
    emit(b.declining & chance(0.5), "champion_left", np.full(n, NEGATIVE["champion_left"], TEXT))

    # unknown kinds and stale signals (older than the look-back): evidence, never triggers
    unknown_i = rng.integers(0, len(UNKNOWN), n)
    unknown_i = rng.integers(0, len(UNKNOWN), n)
    emit(
        active & chance(sig["unknown_kind"]),
        np.array([k for k, _ in UNKNOWN], dtype=TEXT)[unknown_i],
        _fill(tuple(t for _, t in UNKNOWN), unknown_i, n=people_t),
    )
    stale_i = rng.integers(0, len(STALE_KINDS), n)
    emit(
        active & chance(sig["stale"]),
        np.array(STALE_KINDS, dtype=TEXT)[stale_i],
        _fill(STALE_TEXTS, stale_i, n=people_t),
        days=rng.integers(200, 600, n),
    )

    acc = np.concatenate([p["acc"] for p in parts])
    ago = np.concatenate([p["ago"] for p in parts])
    seq = np.arange(len(acc))
    order = np.lexsort((seq, -ago, acc))  # per account, oldest first
    columns = ("kind", "detail", "department", "headcount", "amount")
    merged = {c: np.concatenate([p[c] for p in parts])[order] for c in columns}
    acc, ago = acc[order], ago[order]
    when = b.as_of - ago.astype("timedelta64[D]")
    table = _Table(
        path,
        [
            ("account_id", "id"),
            ("kind", "id"),
            ("date", "id"),
            ("detail", "text"),
            ("department", "text"),
            ("headcount", "num"),
            ("amount", "num"),
        ],
    )
    table.write(
        [
            b.id_bytes[acc],
            merged["kind"],
            _dates(when),
            merged["detail"],
            merged["department"],
            merged["headcount"],
            merged["amount"],
        ]
    )
    return table.close()


def _chunks(n: int) -> Iterator[tuple[int, int, int]]:
    for number, lo in enumerate(range(0, n, CHUNK_ACCOUNTS)):
        yield number, lo, min(n, lo + CHUNK_ACCOUNTS)


def _months(as_of: np.datetime64) -> np.ndarray:
    last = as_of.astype("datetime64[M]")
    return last - np.arange(MONTHS - 1, -1, -1).astype("timedelta64[M]")


def _write_usage(path: Path, b: _Book, seed: int) -> int:
    months = _months(b.as_of)
    period_text = np.datetime_as_string(months, unit="M").astype(TEXT)
    k = np.arange(MONTHS)
    position = k / (MONTHS - 1)  # 0 .. 1 over the year
    table = _Table(
        path,
        [
            ("account_id", "id"),
            ("metric", "id"),
            ("period", "id"),
            ("value", "num"),
            ("limit", "num"),
        ],
    )
    period_bytes = period_text.astype("S7")
    metric_bytes = np.array(METRICS, dtype="S")
    in_contract = b.usage_month_mask(months)
    for number, lo, hi in _chunks(b.n):
        rng = np.random.default_rng([seed, 1, number])
        m = hi - lo
        noise = 1 + rng.normal(0, 0.015, (m, 4, MONTHS))
        noise[:, :, -1] = 1.0
        end = b.end[lo:hi]
        # value_k = end * (ratio + (1 - ratio) * position), or a straight line to the limit
        # where a trend was drawn; then month-to-month noise (none on the last month).
        frac = end[:, :, None] * (
            b.ratio[lo:hi, :, None] + (1 - b.ratio[lo:hi, :, None]) * position[None, None, :]
        )
        trending = b.slope[lo:hi] > 0
        line = end[:, :, None] - b.slope[lo:hi, :, None] * (MONTHS - 1 - k)[None, None, :]
        line = np.maximum(line, b.floor[lo:hi, :, None])
        frac = np.where(trending[:, :, None], line, frac) * noise
        limit = b.limits[lo:hi].astype(float)
        # Seats and counts are whole numbers, storage has one decimal.
        scale = np.array([1.0, 1.0, 10.0, 1.0])[None, :, None]
        value = np.round(np.maximum(frac * limit[:, :, None], 0) * scale) / scale
        value[:, 0] = np.minimum(value[:, 0], limit[:, 0:1])
        value[:, 0, -1] = b.active[lo:hi]
        keep = b.has_metric[lo:hi][:, :, None] & in_contract[lo:hi][:, None, :]
        _settle_creeping(value, keep, limit)
        rows, metric_i, months_i = np.nonzero(keep)  # account, metric, month order
        tenths = np.round(value[rows, metric_i, months_i] * 10).astype(np.int64)
        storage = metric_i == METRICS.index("storage_gb")
        table.write(
            [
                b.id_bytes[lo + rows],
                metric_bytes[metric_i],
                period_bytes[months_i],
                (
                    tenths // 10,
                    np.where(storage, ord("."), 0).astype(np.uint8)[:, None],
                    np.where(storage, ord("0") + tenths % 10, 0).astype(np.uint8)[:, None],
                ),
                b.limits[lo + rows, metric_i],
            ]
        )
    return table.close()


# Workaround for expansion.profile.usage_metrics: a series whose least-squares slope over the
# trend window is positive but tiny projects its limit thousands of months out, and turning
# that into a date overflows pandas' Timedelta (beyond about 2,870 months from 2026), which
# aborts the whole scoring run. Real books are full of flat, noisy series, and an exactly flat
# window of decimals (storage) can come out at +1e-13 in floating point. Until the engine caps
# the projection, every series that is not clearly growing (that would need more than
# CREEP_MONTHS to reach its limit) gets a window of whole numbers that never goes up: the same
# monthly values, largest first, ending on the same last month (a gentle decline instead of an
# upward creep). Integer sums are exact, so the engine's slope comes out exactly <= 0.
CREEP_MONTHS = 1_200


def _settle_creeping(value: np.ndarray, keep: np.ndarray, limit: np.ndarray) -> None:
    """In place on ``value`` (accounts, metrics, months): see :data:`CREEP_MONTHS`."""
    window = DEFAULT_CONFIG.trend_periods
    x = np.arange(MONTHS, dtype=float)
    w = (keep & (x >= MONTHS - window)[None, None, :]).astype(float)
    n = w.sum(-1)
    sx, sxx = (w * x).sum(-1), (w * x * x).sum(-1)
    sy, sxy = (w * value).sum(-1), (w * x * value).sum(-1)
    den = n * sxx - sx**2
    slope = np.where(den > 0, (n * sxy - sx * sy) / np.where(den > 0, den, 1.0), 0.0)
    headroom = limit - value[..., -1]
    risky = (headroom > 0) & (slope * CREEP_MONTHS < headroom)
    tail = np.round(value[..., MONTHS - window :])
    last = tail[..., -1:]
    head = -np.sort(-tail[..., :-1], axis=-1)  # the same values, largest first
    head = head + np.maximum(last - head[..., -1:], 0)  # none below the last month
    settled = np.concatenate([head, last], axis=-1)
    value[..., MONTHS - window :] = np.where(
        risky[..., None], settled, value[..., MONTHS - window :]
    )


def _entitlements() -> tuple[np.ndarray, np.ndarray]:
    """(3, F) features of each tier (cumulative) and (add-ons, F) features of each add-on."""
    index = {f: i for i, f in enumerate(FEATURES)}
    tiers = np.zeros((3, len(FEATURES)), dtype=bool)
    for rank, pid in enumerate(TIERS):
        for f in _PRODUCTS[pid]["features"].split(";"):
            tiers[rank:, index[f]] = True
    add_ons = np.zeros((len(ADD_ONS), len(FEATURES)), dtype=bool)
    for j, pid in enumerate(ADD_ONS):
        for f in (_PRODUCTS[pid]["features"] or "").split(";"):
            if f:
                add_ons[j, index[f]] = True
    return tiers, add_ons


ENTITLED_SPELLINGS = (("TRUE", "FALSE"), ("yes", "no"), ("1", "0"), ("true", "false"))


def _feature_chunks(b: _Book, seed: int) -> Iterator[dict[str, np.ndarray]]:
    """Per chunk of accounts: every feature row of the accounts with feature telemetry."""
    tier_f, addon_f = _entitlements()
    nf = len(FEATURES)
    core = np.array([8 if i < 5 else (-4 if i >= 9 else 0) for i in range(nf)])
    has = b.has_usage
    for number, lo, hi in _chunks(b.n):
        rng = np.random.default_rng([seed, 2, number])
        m = hi - lo
        entitled = tier_f[b.tier[lo:hi]] | ((b.owns[lo:hi].astype(int) @ addon_f) > 0)
        base = rng.normal(68, 9, m)
        base = np.where(b.champion[lo:hi], rng.normal(80, 6, m), base)
        adoption = base[:, None] + core[None, :] + rng.normal(0, 10, (m, nf))
        adoption = adoption.clip(32, 100)
        # Activation gaps: 1-4 entitled features (add-on ones first) barely used. Unhealthy
        # and low-utilisation accounts always have some.
        gap = (
            (rng.random(m) < MIX["activation_gap"]) | b.unhealthy[lo:hi] | b.low_util[lo:hi]
        ) & ~b.full[lo:hi]
        how_many = np.where(gap, rng.integers(1, 5, m), 0)
        key = rng.random((m, nf)) - (np.arange(nf) >= 9) * 0.5  # prefer add-on features
        key = np.where(entitled, key, np.inf)
        rank = np.argsort(np.argsort(key, axis=1, kind="stable"), axis=1, kind="stable")
        low = entitled & (rank < how_many[:, None])
        adoption = np.where(
            low, np.where(rng.random((m, nf)) < 0.3, 0, rng.uniform(2, 28, (m, nf))), adoption
        )
        adoption = np.where(entitled, np.round(adoption), 0)
        # Gated: one feature the plan does not include, tried behind the paywall.
        gated = b.paying[lo:hi] & (rng.random(m) < MIX["gated_feature"])
        key = np.where(entitled, np.inf, rng.random((m, nf)))
        pick = np.argmin(key, axis=1)
        tried = gated & np.isfinite(key[np.arange(m), pick])
        tried_mask = np.zeros((m, nf), dtype=bool)
        tried_mask[np.flatnonzero(tried), pick[tried]] = True
        adoption = np.where(tried_mask, rng.integers(5, 21, (m, nf)), adoption)
        used = adoption > 0
        rows = np.flatnonzero(has[lo:hi])
        style = rng.integers(0, len(ENTITLED_SPELLINGS), m)
        yield {
            "account": np.repeat(lo + rows, nf),
            "feature": np.tile(np.arange(nf), len(rows)),
            "entitled": entitled[rows].ravel(),
            "used": used[rows].ravel(),
            "adoption": adoption[rows].ravel().astype(np.int64),
            "style": np.repeat(style[rows], nf),
        }


def _write_features(path: Path, b: _Book, seed: int) -> int:
    if path.suffix == ".xlsx":
        return _write_features_xlsx(path, b, seed)
    table = _Table(
        path,
        [
            ("account_id", "id"),
            ("feature", "id"),
            ("entitled", "id"),
            ("used", "id"),
            ("adoption_pct", "num"),
        ],
    )
    features = np.array(FEATURES, dtype="S")
    # [style * 2 + entitled]: no/yes in each spelling
    spelled = np.array([x for yes, no in ENTITLED_SPELLINGS for x in (no, yes)], dtype="S")
    for chunk in _feature_chunks(b, seed):
        table.write(
            [
                b.id_bytes[chunk["account"]],
                features[chunk["feature"]],
                spelled[chunk["style"] * 2 + chunk["entitled"]],
                np.array([b"false", b"true"])[chunk["used"].astype(np.int64)],
                chunk["adoption"],
            ]
        )
    return table.close()


# --------------------------------------------------------------------------- xlsx

_XLSX_STATIC = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="features" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/styles" Target="styles.xml"/></Relationships>'
    ),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _write_features_xlsx(path: Path, b: _Book, seed: int) -> int:
    """features.xlsx, written as SpreadsheetML directly (one sheet, inline strings) with fixed
    zip timestamps, so the bytes only depend on the data. ``entitled`` mixes the sample's
    spellings per account: a boolean cell, ``yes``/``no``, the number 1/0, ``true``/``false``.
    (Ids and feature keys hold no ``&``/``<``, so no XML escaping is needed.)"""
    features = np.array(FEATURES, dtype="S")
    # entitled cell per spelling: type attribute, value opening, value by [entitled], closing
    attr = np.array([b' t="b"', b' t="inlineStr"', b"", b' t="inlineStr"'])
    opening = np.array([b"<v>", b"<is><t>", b"<v>", b"<is><t>"])
    closing = np.array([b"</v>", b"</t></is>", b"</v>", b"</t></is>"])
    spelled = np.array([b"0", b"1", b"no", b"yes", b"0", b"1", b"false", b"true"])
    header = "".join(
        f'<c r="{col}1" t="inlineStr"><is><t>{name}</t></is></c>'
        for col, name in zip(
            "ABCDE", ("account_id", "feature", "entitled", "used", "adoption_pct"), strict=True
        )
    )
    total = int(b.has_usage.sum()) * len(FEATURES)
    rows = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in _XLSX_STATIC.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), text, zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo("xl/worksheets/sheet1.xml", date_time=_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as fh:
            fh.write(
                (
                    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                    f'<dimension ref="A1:E{total + 1}"/><sheetData><row r="1">{header}</row>'
                ).encode()
            )
            for chunk in _feature_chunks(b, seed):
                m = len(chunk["account"])
                r = _digits(np.arange(rows, rows + m) + 2)
                style = chunk["style"]
                pieces = [
                    b'<row r="',
                    r,
                    b'"><c r="A',
                    r,
                    b'" t="inlineStr"><is><t>',
                    b.id_bytes[chunk["account"]],
                    b'</t></is></c><c r="B',
                    r,
                    b'" t="inlineStr"><is><t>',
                    features[chunk["feature"]],
                    b'</t></is></c><c r="C',
                    r,
                    b'"',
                    attr[style],
                    b">",
                    opening[style],
                    spelled[style * 2 + chunk["entitled"]],
                    closing[style],
                    b'</c><c r="D',
                    r,
                    b'" t="b"><v>',
                    np.where(chunk["used"], b"1", b"0"),
                    b'</v></c><c r="E',
                    r,
                    b'"><v>',
                    chunk["adoption"],
                    b"</v></c></row>",
                ]
                fh.writelines(_rows_bytes(pieces, m))
                rows += m
            fh.write(b"</sheetData></worksheet>")
    return rows
