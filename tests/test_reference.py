"""The engine against the row-by-row reference in ``benchmarks/reference.py``: the vectorised
engine must find exactly the opportunities (ids, types, keys, quantities, scores, money) that the
naive one-account-at-a-time implementation of the same rules finds."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pandas as pd
import pytest

from expansion import generate as gen
from expansion import pipeline, store
from expansion.engine import analyze
from expansion.ingest import read_portfolio

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # ``benchmarks`` is a package at the repo root, not installed
    sys.path.insert(0, str(ROOT))
reference = importlib.import_module("benchmarks.reference")


def _assert_identical(tables: dict[str, pd.DataFrame], as_of) -> pd.DataFrame:
    engine_opps = analyze(tables, as_of=as_of).opportunities
    reference_opps = reference.reference_opportunities(tables, as_of=as_of)
    differences = reference.compare(engine_opps, reference_opps)
    assert differences == [], "\n".join(differences)
    assert len(engine_opps) == len(reference_opps) > 0
    return engine_opps


# --------------------------------------------------------------------------- the sample


def test_sample_portfolio_as_stored_matches_the_reference(sample_engine):
    opps = _assert_identical(store.load_tables(sample_engine), pipeline.SAMPLE_AS_OF)
    assert opps["type"].nunique() == 9  # every opportunity type is compared, not just seats


def test_sample_portfolio_as_read_from_files_matches_the_reference():
    tables = read_portfolio(pipeline.SAMPLE_PORTFOLIO).tables
    _assert_identical(tables, pipeline.SAMPLE_AS_OF)


# --------------------------------------------------------------------------- worked examples

TECHFLOW = ROOT / "tests" / "fixtures" / "techflow"
TECHFLOW_AS_OF = "2026-11-16"


def test_seed_001_techflow_matches_the_reference():
    """Seed 001's worked example: the ask sets the Marketing deal, the rate limits and the
    enterprise-feature request are one Enterprise need, the office is a future event."""
    opps = _assert_identical(read_portfolio(TECHFLOW).tables, TECHFLOW_AS_OF)
    assert set(opps["key"].str.split(":").str[0]) >= {"dept", "office", "enterprise"}


def _edge_book() -> dict[str, pd.DataFrame]:
    """TechFlow plus accounts built for what generated books rarely hold: limits hit that
    name a metric without a limit figure, a usage product through its ``solves`` keywords,
    seats only by wording, an owned feature, or nothing; teams known only from the text,
    offices without a head count, dated asks with and without a team or a product, duplicate
    department names; a company seat deal net of its teams' seats, an office opening within
    30 days of its named date, limits hit on something the account owns; a renewal hold, a
    partner account, self-serve sizes, seats priced at the account's own rate."""
    t = dict(read_portfolio(TECHFLOW).tables)
    template = t["accounts"].iloc[0]
    accounts, subs = [], [t["subscriptions"]]
    signals, departments, usage = [t["signals"]], [t["departments"]], [t["usage"]]

    def account(account_id, *, subscribed=True, **changes):
        row = template.copy()
        row["account_id"], row["name"] = account_id, account_id.title()
        for column, value in changes.items():
            row[column] = value
        accounts.append(row)
        if subscribed:
            subs.append(
                pd.DataFrame(
                    [
                        {
                            "account_id": account_id,
                            "product_id": "professional",
                            "quantity": row["licensed_seats"],
                            "arr": row["arr"],
                        }
                    ]
                )
            )

    def signal(account_id, kind, detail, date="2026-10-15", **values):
        row = {"account_id": account_id, "kind": kind, "date": pd.Timestamp(date)}
        row.update({"detail": detail, "department": None, "headcount": None, "amount": None})
        signals.append(pd.DataFrame([{**row, **values}]))

    account("EDGE-LIMITS")
    signal("EDGE-LIMITS", "limit_hit", "Storage quota exceeded twice this month")
    signal("EDGE-LIMITS", "limit_hit", "Could not add seats for the new joiners")
    signal("EDGE-LIMITS", "limit_hit", "Ran out of custom fields")  # their own plan's feature
    signal("EDGE-LIMITS", "limit_hit", "Some limit stopped the nightly job")
    signal("EDGE-LIMITS", "limit_hit", "Exports capped at the plan maximum")
    signal("EDGE-LIMITS", "limit_hit", "API calls throttled", department="Engineering")
    for month, value in (("2026-09-01", 800.0), ("2026-10-01", 900.0)):
        usage.append(
            pd.DataFrame(
                [
                    {"metric": "exports", "value": value, "limit": None},
                    {"metric": "api_calls", "value": value * 1000, "limit": 1_500_000.0},
                ]
            ).assign(account_id="EDGE-LIMITS", period=pd.Timestamp(month))
        )

    account(
        "EDGE-PEOPLE",
        licensed_seats=40,
        active_seats=38,
        employee_count=200,
        employee_growth_pct=25.0,
    )
    for kind, detail, values in (
        ("new_office", "Planning to open a Berlin office in Q3 2027", {}),
        ("new_office", "Opening a Dublin office next month", {"headcount": 12}),
        ("new_department", "A data science team will form in spring 2027", {"headcount": 10}),
        ("new_department", "New RevOps group", {"department": "Revenue Ops"}),
        (
            "expansion_intent",
            "Ops lead asked for 20 more seats starting March 2027",
            {"headcount": 20, "amount": 24000},
        ),
        ("expansion_intent", "CFO wants a quote for a reporting project", {"amount": 9000}),
        (
            "expansion_intent",
            "Security asked to price the compliance suite by Q1 2027",
            {"department": "Security", "amount": 14000},
        ),
        ("hiring", "Hiring 6 marketers", {"department": "marketing ", "headcount": 6}),
        ("hiring", "Hiring across the company", {"headcount": 30}),
        ("hiring", "Sales team growing", {"department": "Sales", "headcount": 9}),
        ("competitor", "Uses a rival chat tool", {"amount": 5000}),
        ("services_request", "Wants onboarding help for the new teams", {}),
    ):
        signal("EDGE-PEOPLE", kind, detail, **values)
    departments.append(
        pd.DataFrame(
            {
                "department": ["Marketing", "MARKETING", "Sales", "Revenue-Ops"],
                "headcount": [20, 99, 30, 6],
                "seats": [0, 50, 12, 0],
            }
        ).assign(account_id="EDGE-PEOPLE")
    )

    account(
        "EDGE-RENEWED",
        last_renewal_date=pd.Timestamp("2026-10-20"),
        renewal_date=pd.Timestamp("2027-10-20"),
        employee_growth_pct=30.0,
        licensed_seats=20,
        active_seats=14,
    )
    account("EDGE-PARTNER", channel="partner", support_tickets_90d=35, engagement="low")
    signal("EDGE-PARTNER", "initiative", "Board asked for a new customer portal")
    # The company seat deal net of its named teams' seats: 49 seats at the ceiling, less the
    # 8 Engineering hires and the 12 people of an office opening in 15 days (its named date).
    account(
        "EDGE-NETTING",
        licensed_seats=100,
        active_seats=90,
        employee_count=400,
        employee_growth_pct=40.0,
        arr=120000.0,
    )
    signal("EDGE-NETTING", "hiring", "Hiring 10 engineers", department="Engineering", headcount=10)
    signal("EDGE-NETTING", "new_office", "Opening a Lisbon office in December 2026", headcount=15)
    departments.append(
        pd.DataFrame(
            {"department": ["Engineering", "Support"], "headcount": [50, 30], "seats": [40, 24]}
        ).assign(account_id="EDGE-NETTING")
    )
    # A limit of something they already own: the next tier, else (top tier) an estimate.
    account("EDGE-OWNED")
    signal("EDGE-OWNED", "limit_hit", "Ran out of custom fields on the Professional plan")
    account("EDGE-TOP", subscribed=False, plan="Enterprise")
    signal("EDGE-TOP", "limit_hit", "SSO connections maxed out")
    account("EDGE-LEGACY", subscribed=False, plan="Legacy", arr=30000.0, licensed_seats=30)
    signal("EDGE-LEGACY", "hiring", "Hiring 10 engineers", department="Engineering", headcount=10)

    t["accounts"] = pd.concat([t["accounts"], pd.DataFrame(accounts)], ignore_index=True)
    t["subscriptions"] = pd.concat(subs, ignore_index=True)
    t["signals"] = pd.concat(signals, ignore_index=True)
    t["departments"] = pd.concat(departments, ignore_index=True)
    t["usage"] = pd.concat(usage, ignore_index=True)
    t["catalog"] = pd.concat(
        [
            t["catalog"],
            pd.DataFrame(
                [
                    {"product_id": "storage", "kind": "usage", "unit": "storage_gb"},
                    {"product_id": "api_pack", "kind": "usage", "unit": "api_calls"},
                    {"product_id": "premium_support", "kind": "support", "annual_price": 6000},
                ]
            ).assign(
                name=["Storage pack", "API pack", "Premium support"],
                unit_price=[0.5, 0.002, None],
                solves=["storage quota", None, None],
            ),
        ],
        ignore_index=True,
    )
    return t


def test_edge_cases_of_needs_pricing_and_caps_match_the_reference():
    tables = _edge_book()
    opps = _assert_identical(tables, TECHFLOW_AS_OF)
    reference_opps = reference.reference_opportunities(tables, as_of=TECHFLOW_AS_OF)
    keys = set(opps["account_id"] + " " + opps["key"])
    # The branches this book is for did fire (so the comparison above covered them).
    assert {
        "EDGE-LIMITS metric:storage_gb",  # a usage product's solves keyword, no usage figures
        "EDGE-LIMITS seats",  # "seats" only in the wording
        "EDGE-LIMITS enterprise",  # nothing named, or a metric without a limit: the next tier
        "EDGE-PEOPLE dept:a data science team will form in spring 2027",  # team from the text
        "EDGE-PEOPLE dept:revenue ops",  # a signal and the department's own row
        "EDGE-PEOPLE use_case",  # an ask at its stated budget, no product named
        "EDGE-PEOPLE compliance",  # an ask naming a product, budget beside the price
    } <= keys
    assert opps["key"].str.startswith("office:").sum() >= 3
    deal = opps.set_index(opps["account_id"] + " " + opps["key"])
    # Netting: ceil(90 x 1.4 / 0.85) - 100 = 49 seats, less 8 + 12 named-team seats (above the
    # floor of ceil(90 / 0.85) - 100 = 6), at the same $1,200 a seat.
    netted = deal.loc["EDGE-NETTING seats"]
    assert (netted["quantity"], netted["expansion_arr"]) == (29.0, 29 * 1200.0)
    # An office opening 15 days out is timed at the date its text names, not in 90 days.
    lisbon = deal.loc["EDGE-NETTING office:opening a lisbon office in december 2026"]
    assert lisbon["best_time"] == pd.Timestamp("2026-12-01")
    # A limit of a product they own: the next tier's limits, else an estimate.
    assert deal.loc["EDGE-OWNED enterprise", "price_basis"] == "catalog"
    assert deal.loc["EDGE-TOP metric:plan limits", "price_basis"] == "estimate"
    assert set(opps["price_basis"]) == {"catalog", "stated_budget", "account_rate", "estimate"}
    assert opps["stated_budget"].notna().sum() >= 3
    assert set(opps["confidence"]) == {"high", "medium", "low"}
    assert (opps["best_time"] > pd.Timestamp(TECHFLOW_AS_OF) + pd.Timedelta(days=90)).any()
    assert reference_opps["small_deal"].any()  # self-serve: priority low, at most Tier 3
    assert (opps["likelihood_score"] >= 9).any() and (opps["likelihood_score"] <= 4).any()


# --------------------------------------------------------------------------- generated books


@pytest.mark.parametrize(
    ("accounts", "seed", "formats"), [(300, 3, "sample"), (400, 7, "fast"), (500, 13, "fast")]
)
def test_generated_books_match_the_reference(tmp_path, accounts, seed, formats):
    report = gen.generate(accounts, seed=seed, out=tmp_path / "book", formats=formats)
    tables = read_portfolio(tmp_path / "book").tables
    opps = _assert_identical(tables, report.as_of)
    assert opps["account_id"].nunique() > accounts // 4


def test_generated_book_matches_on_another_day(tmp_path):
    report = gen.generate(300, seed=21, out=tmp_path / "book", formats="fast")
    tables = read_portfolio(tmp_path / "book").tables
    # Other renewals in the window, other signals in the look-back, other usage periods.
    _assert_identical(tables, pd.Timestamp(report.as_of) - pd.Timedelta(days=75))


# --------------------------------------------------------------------------- compare itself


def test_compare_reports_a_planted_difference():
    tables = read_portfolio(pipeline.SAMPLE_PORTFOLIO).tables
    engine_opps = analyze(tables, as_of=pipeline.SAMPLE_AS_OF).opportunities
    reference_opps = reference.reference_opportunities(tables, as_of=pipeline.SAMPLE_AS_OF)
    assert reference.compare(engine_opps, reference_opps) == []

    planted = reference_opps.sort_values("opportunity_id").reset_index(drop=True)
    removed = planted.loc[0, "opportunity_id"]
    changed = planted.loc[1, "opportunity_id"]
    planted.loc[1, "tier"] = planted.loc[1, "tier"] % 5 + 1
    planted = planted.drop(index=0)
    differences = reference.compare(engine_opps, planted)
    assert len(differences) == 2, differences
    assert "only in the engine" in differences[0] and removed in differences[0]
    assert differences[1].startswith("tier: 1 of") and changed in differences[1]


def test_compare_is_exact_about_numbers_but_not_about_row_order():
    tables = read_portfolio(pipeline.SAMPLE_PORTFOLIO).tables
    engine_opps = analyze(tables, as_of=pipeline.SAMPLE_AS_OF).opportunities
    shuffled = engine_opps.sample(frac=1, random_state=0)
    assert reference.compare(engine_opps, shuffled) == []
    nudged = engine_opps.copy()
    nudged.loc[nudged.index[0], "expansion_arr"] += 1
    nudged.loc[nudged.index[1], "score"] += 0.1
    differences = reference.compare(engine_opps, nudged)
    assert [d.split(":")[0] for d in differences] == ["score", "expansion_arr"]


def test_opportunity_numbers_use_the_same_hash_as_pandas():
    keys = ["seats", "analytics", "metric:api_calls", "dept:marketing", "dept:office: zürich"]
    digest = pd.util.hash_pandas_object(pd.Series(keys).astype(str), index=False)
    expected = [int(d % 97) + 1 for d in digest]
    assert [reference._id_number(k) for k in keys] == expected
