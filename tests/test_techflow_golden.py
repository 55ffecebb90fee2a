"""Seed 001's worked single-account example (TechFlow Inc., ACCT-3421) as a golden test.

The seed's analyst reads TechFlow's facts (tests/fixtures/techflow/README.md) and answers with
four opportunities: Marketing 15 seats (~$18K, the lead deal, highest propensity), an
Enterprise upgrade (~$24K) citing the API rate limits, a Compliance module (~$15K) for the
SOC 2 initiative, and a small EU-office deal later with low propensity: ~$62K in all. Product
(8 people) and Customer Success (5) are whitespace, not deals. The engine must reach the same
answer from the same facts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from expansion.engine import analyze
from expansion.ingest import read_portfolio

FIXTURE = Path(__file__).parent / "fixtures" / "techflow"
AS_OF = "2026-11-16"


@pytest.fixture(scope="module")
def techflow():
    portfolio = read_portfolio(FIXTURE)
    assert portfolio.rejects.empty, portfolio.rejects.to_string()
    return analyze(portfolio.tables, as_of=AS_OF)


def _deal(analysis, **match) -> dict:
    o = analysis.opportunities
    for column, value in match.items():
        o = o[o[column] == value]
    assert len(o) == 1, analysis.opportunities[["opportunity_id", "type", "key"]].to_string()
    return o.iloc[0].to_dict()


def _evidence(analysis, opportunity_id) -> list[str]:
    ev = analysis.evidence
    return ev[ev["opportunity_id"] == opportunity_id].sort_values("seq")["evidence"].tolist()


def test_one_deal_per_need_and_whitespace_is_not_pipeline(techflow):
    o = techflow.opportunities
    assert sorted(o["key"]) == sorted(
        [
            "dept:marketing",
            "enterprise",
            "compliance",
            o.loc[o["key"].str.startswith("office:"), "key"].iloc[0],
        ]
    )
    assert len(o) == 4
    # Product (8 people) and Customer Success (5) hold no seats and no signal names them.
    assert not o["department"].isin(["Product", "Customer Success"]).any()
    assert techflow.profiles.loc["ACCT-3421", "whitespace_departments"] == 3


def test_marketing_is_the_lead_deal_sized_from_the_ask(techflow):
    m = _deal(techflow, key="dept:marketing")
    assert m["type"] == "new_department"
    assert m["quantity"] == 15  # the VP asked for 15 seats; 12 hires are the same people
    assert m["expansion_arr"] == pytest.approx(18_000, rel=0.2)
    assert m["stated_budget"] == 18_000
    assert m["price_basis"] == "catalog"
    lines = _evidence(techflow, m["opportunity_id"])
    assert lines[0].startswith("Asked 2026-10-20: Marketing VP asked for 15 seats")
    assert any("Marketing hired 12 people" in line for line in lines)
    others = techflow.opportunities[techflow.opportunities["key"] != "dept:marketing"]
    assert m["propensity"] > others["propensity"].max()
    assert m["timing"].startswith("Now: they asked")


def test_enterprise_upgrade_cites_the_rate_limits(techflow):
    e = _deal(techflow, key="enterprise")
    assert e["type"] == "tier_upgrade"
    assert e["expansion_arr"] == pytest.approx(24_000, rel=0.2)
    lines = " | ".join(_evidence(techflow, e["opportunity_id"]))
    assert "API rate limits" in lines
    assert "enterprise features" in lines
    assert "API calls at 95% of the limit" in lines  # the same need: one deal, not two


def test_compliance_module_for_the_soc2_initiative(techflow):
    c = _deal(techflow, key="compliance")
    assert c["type"] == "add_on"
    assert c["expansion_arr"] == pytest.approx(15_000, rel=0.2)
    lines = " | ".join(_evidence(techflow, c["opportunity_id"]))
    assert "SOC 2" in lines and "audit" in lines


def test_eu_office_comes_later_with_low_propensity(techflow):
    o = techflow.opportunities
    eu = o[o["key"].str.startswith("office:")].iloc[0]
    assert eu["expansion_arr"] == pytest.approx(5_000, rel=0.5)
    assert eu["timing_bucket"] != "This Month"
    assert "not yet started" in eu["timing"]
    assert eu["propensity"] < 60
    assert eu["propensity"] == o["propensity"].min()
    assert eu["tier"] >= 3


def test_total_and_likelihood_match_the_seed(techflow):
    o = techflow.opportunities
    assert o["expansion_arr"].sum() == pytest.approx(62_000, rel=0.2)
    # 9-10 only where the customer stated intent, budget and timeline: the Marketing deal.
    assert set(o.loc[o["likelihood_score"] >= 9, "key"]) == {"dept:marketing"}
    order = o.sort_values("propensity", ascending=False)["key"].tolist()
    assert order[0] == "dept:marketing" and order[-1].startswith("office:")
