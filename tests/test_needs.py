"""One need, one deal: signals about the same people or capacity become one opportunity,
sized from the customer's ask or from penetration, priced on one stated basis (issue 17)."""

from __future__ import annotations

import math

import pandas as pd
from builders import account, evidence, monthly, only, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expansion.config import DEFAULT_CONFIG


def _signal(kind, detail, *, date="2026-10-15", department=None, headcount=None, amount=None):
    return {
        "account_id": "A1",
        "kind": kind,
        "date": date,
        "detail": detail,
        "department": department,
        "headcount": headcount,
        "amount": amount,
    }


def test_a_limit_hit_matched_through_solves_is_the_same_capacity_need(tmp_path):
    """Helios/Cobalt: "API rate limit reached" names no metric, but the usage product's
    ``solves`` keywords do: one capacity deal priced from the catalog, not a second one
    priced at 15% of ARR."""
    catalog_extra = {
        "product_id": "api_overage",
        "name": "API capacity",
        "kind": "usage",
        "unit": "api_calls",
        "unit_price": 0.006,
        "solves": "rate limit;api limit",
    }
    from builders import CATALOG

    catalog = [p for p in CATALOG if p["product_id"] != "api_overage"] + [catalog_extra]
    usage = monthly("A1", "api_calls", [700, 760, 800, 830, 860, 900], 1_000)
    signals = [_signal("limit_hit", "API rate limit reached during the nightly sync")]
    a = run(tmp_path, accounts=[account()], usage=usage, signals=signals, catalog=catalog)
    opp = only(a, "usage_expansion")
    assert len(a.opportunities) == 1
    assert opp["triggers"] == "usage_ceiling,limit_hit"
    assert opp["price_basis"] == "catalog"
    assert "15%" not in opp["pricing"]
    lines = evidence(a, opp["opportunity_id"])
    assert lines[0].startswith("API calls at 90% of the limit")
    assert lines[1].startswith("Hit a plan limit on 2026-10-15: API rate limit reached")


def test_the_pricing_note_belongs_to_the_amount(tmp_path):
    """Atlas: the note must describe the amount shown, never another trigger's basis."""
    usage = monthly("A1", "api_calls", [700, 760, 800, 830, 860, 900], 1_000)
    signals = [_signal("limit_hit", "Hit the api_calls quota twice")]
    a = run(tmp_path, accounts=[account()], usage=usage, signals=signals)
    opp = only(a, "usage_expansion")
    extra = opp["quantity"]
    assert opp["expansion_arr"] == round(extra * 0.006)
    assert opp["pricing"].startswith("catalog: API calls limit +")


def test_the_customers_ask_sets_the_deal_and_its_team_is_one_need(tmp_path):
    """Summit: 45 store managers asked for; hiring 45 and an empty Retail Operations
    department are the same people: one deal of 45 seats, the ask first in its evidence."""
    departments = [
        {"account_id": "A1", "department": "E-commerce", "headcount": 25, "seats": 20},
        {"account_id": "A1", "department": "Retail Operations", "headcount": 300, "seats": 0},
    ]
    signals = [
        _signal(
            "hiring",
            "Hiring 45 store managers for three new retail regions",
            department="Retail Operations",
            headcount=45,
        ),
        _signal(
            "expansion_intent",
            "VP Operations requested a proposal to roll out to 3 retail regions (45 store managers)",
            date="2026-11-09",
            department="Retail Operations",
            headcount=45,
            amount=40000,
        ),
    ]
    usage = monthly("A1", "seats", [60, 62, 64, 66, 68, 70], 100)
    a = run(tmp_path, accounts=[account()], departments=departments, signals=signals, usage=usage)
    opp = only(a, "new_department")
    assert len(a.opportunities) == 1
    assert opp["quantity"] == 45
    assert opp["expansion_arr"] == 45 * 480  # catalog price, not the budget
    assert opp["stated_budget"] == 40000
    assert "the customer's stated budget: $40,000" in opp["pricing"]
    lines = evidence(a, opp["opportunity_id"])
    assert lines[0].startswith("Asked 2026-11-09: VP Operations requested a proposal")
    assert opp["likelihood_score"] >= 9  # intent + budget + timeline (a proposal)


def test_unstated_seats_are_sized_from_penetration_not_utilisation(tmp_path):
    """Stratus: 200 hires where 140 of 680 employees hold seats is about 42 seats, not
    200 x 89% utilisation."""
    big = account(licensed_seats=140, active_seats=100, employee_count=680)
    signals = [_signal("hiring", "Hiring 200 across engineering and sales", headcount=200)]
    a = run(tmp_path, accounts=[big], signals=signals)
    opp = only(a, "seat_expansion")
    assert opp["quantity"] == math.ceil(200 * 140 / 680)
    assert "200 people x 21% seats per employee" in evidence(a, opp["opportunity_id"])[0]


def test_a_deal_above_half_the_footprint_is_flagged_not_high_confidence(tmp_path):
    usage = monthly("A1", "seats", [80, 88, 92, 95, 97, 99], 100)
    a = run(
        tmp_path,
        accounts=[account(active_seats=99, employee_growth_pct=45)],
        usage=usage,
    )
    opp = only(a, "seat_expansion")
    assert opp["quantity"] > 50
    assert opp["caveat"].startswith("Sized above +50% of today's footprint")
    assert opp["confidence"] != "high"


def test_an_estimate_is_labelled_low_confidence_and_never_tier_1(tmp_path):
    signals = [
        _signal("initiative", "Digital twin programme for grid assets"),
        _signal("expansion_intent", "CIO wants it live in Q1 2027", amount=None),
    ]
    big = account(arr=400_000, health_score=95, engagement="high")
    a = run(tmp_path, accounts=[big], signals=signals)
    opp = only(a, "new_use_case")
    assert opp["price_basis"] == "estimate"
    assert opp["pricing"].startswith("estimate")
    assert opp["confidence"] == "low"
    assert opp["tier"] >= 2


def test_a_tiny_deal_is_self_serve_never_tier_1_or_2(tmp_path):
    usage = monthly("A1", "api_calls", [70_000, 76_000, 80_000, 83_000, 86_000, 90_000], 100_000)
    a = run(tmp_path, accounts=[account()], usage=usage)
    opp = only(a, "usage_expansion")
    assert opp["expansion_arr"] < 1_000
    assert opp["tier"] >= 3
    assert opp["priority"] == "low"
    assert opp["sales_motion"] == "self-serve"
    assert opp["tier1_path"].startswith("Self-serve size")
    assert opp["options"].startswith("Or move to Enterprise")  # the alternative, not a deal


def test_likelihood_9_or_10_needs_a_stated_ask_with_budget_and_timeline(tmp_path):
    usage = monthly("A1", "seats", [80, 88, 92, 95, 97, 99], 100)
    perfect = account(
        active_seats=99, health_score=100, engagement="high", renewal_date="2027-01-15"
    )
    signals = [_signal("exec_engagement", "CEO loves us")]
    a = run(tmp_path, accounts=[perfect], usage=usage, signals=signals)
    assert a.opportunities["likelihood_score"].max() <= DEFAULT_CONFIG.likelihood_max_without_ask


def test_explicit_requests_are_pitched_now_and_future_events_when_they_happen(tmp_path):
    departments = [
        {"account_id": "A1", "department": "Engineering", "headcount": 120, "seats": 100}
    ]
    signals = [
        _signal("feature_request", "Asked for data retention policies for SOC 2"),
        _signal(
            "new_office",
            "Opening a Berlin office in Q3 2027",
            department="Engineering",
            headcount=20,
        ),
    ]
    far = account(renewal_date="2027-10-01")
    a = run(tmp_path, accounts=[far], departments=departments, signals=signals)
    o = a.opportunities.set_index("type")
    assert o.loc["add_on", "timing"].startswith("Now")  # not deferred to the renewal
    office = o.loc["new_department"]
    assert str(office["best_time"])[:10] == "2027-07-01"
    assert office["timing"].startswith("When it happens: from 2027-07-01")
    assert office["likelihood_score"] < o.loc["add_on", "likelihood_score"]


# --------------------------------------------------------------------------- property


_TEAMS = ["Sales", "Marketing", "Support", "Finance", "Operations"]


@st.composite
def _people(draw):
    licensed = draw(st.integers(10, 400))
    active = draw(st.integers(int(licensed * 0.6), licensed))
    employees = draw(st.integers(licensed, licensed * 8))
    growth = draw(st.one_of(st.none(), st.integers(0, 60)))
    departments, seated = [], 0
    for team in draw(st.lists(st.sampled_from(_TEAMS), unique=True, max_size=4)):
        head = draw(st.integers(5, 300))
        seats = draw(st.sampled_from([0, min(head, max(licensed - seated, 0))]))
        seated += seats
        departments.append(
            {"account_id": "A1", "department": team, "headcount": head, "seats": seats}
        )
    signals = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["hiring", "expansion_intent", "new_department", "new_office"]))
        team = draw(st.one_of(st.none(), st.sampled_from(_TEAMS)))
        head = draw(st.one_of(st.none(), st.integers(1, 250)))
        if kind == "expansion_intent" and head is None:
            head = draw(st.integers(1, 250))
        signals.append(
            _signal(
                kind,
                f"{kind} {team or ''} {head or ''}",
                department=team,
                headcount=head,
                amount=None,
            )
        )
    acct = account(
        licensed_seats=licensed,
        active_seats=active,
        employee_count=employees,
        employee_growth_pct=growth,
    )
    return acct, departments, signals


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_people())
def test_seat_deals_never_exceed_the_asks_plus_the_penetration_need(tmp_path_factory, case):
    """No account's seat deals together exceed what the customer asked for plus the unstated
    need: hires, new teams and growth at no more than one seat a person, and the seat ceiling.
    Each team is in at most one deal, and a team that asked gets exactly its ask."""
    acct, departments, signals = case
    folder = tmp_path_factory.mktemp("people")
    a = run(folder, accounts=[acct], departments=departments or None, signals=signals or None)
    o = a.opportunities
    seats = o[o["type"].isin(["seat_expansion", "new_department"])]
    cfg = DEFAULT_CONFIG
    s = pd.DataFrame(signals, columns=["kind", "department", "headcount"])
    teams = s["department"].str.lower()
    asks = s[(s["kind"] == "expansion_intent")]
    asked_teams = (
        asks.dropna(subset=["department"])
        .groupby(asks["department"].str.lower())["headcount"]
        .max()
    )
    unteamed_ask = asks.loc[asks["department"].isna(), "headcount"].max()
    stated = asked_teams.sum() + (0 if pd.isna(unteamed_ask) else unteamed_ask)
    growth = (acct["employee_growth_pct"] or 0) / 100
    ceiling = max(
        math.ceil(acct["active_seats"] * (1 + min(growth, 0.5)) / cfg.seat_target_utilization)
        - acct["licensed_seats"],
        cfg.seat_min_add,
    )
    people = (
        s.loc[s["kind"] != "expansion_intent", "headcount"]
        .fillna(cfg.department_min_headcount)
        .sum()
        + sum(d["headcount"] for d in departments if d["seats"] == 0)
        + math.ceil(acct["licensed_seats"] * growth / (1 + growth))
    )
    slack = len(s) + len(departments) + cfg.seat_min_add  # each ceil() adds under one seat
    assert seats["quantity"].sum() <= stated + ceiling + people + slack

    named = seats["key"][seats["key"].str.startswith("dept:")]
    assert named.is_unique
    for team, headcount in asked_teams.items():
        key = "dept:" + team
        if key in set(named):
            assert seats.loc[seats["key"] == key, "quantity"].iloc[0] == headcount
    del teams


# --------------------------------------------------------------------------- review findings


def test_words_that_start_like_months_are_not_a_timeline_or_a_date():
    from expansion.triggers import signal_timing

    signals = pd.DataFrame(
        {
            "account_id": [0, 0, 0, 0],
            "kind": ["expansion_intent", "expansion_intent", "new_office", "new_office"],
            "detail": [
                "15 seats, budget approved, decision pending",
                "Marketing 2027 budget approved",
                "Opening a London office in December 2026",
                "Opening a Paris office, date to be confirmed",
            ],
        }
    )
    out = signal_timing(signals, pd.Timestamp("2026-11-16"))
    assert not out.loc[0, "timeline"]  # "decision" is not December
    assert out.loc[1, "timeline"]
    assert out.loc[2, "future"] and str(out.loc[2, "event_date"])[:10] == "2026-12-01"
    assert out.loc[3, "future"] and str(out.loc[3, "event_date"])[:10] == "2027-02-14"


def test_a_limit_of_something_they_own_points_at_the_next_tier(tmp_path):
    signals = [_signal("limit_hit", "Ran out of custom fields on the current plan")]
    catalog = [
        {
            "product_id": "professional",
            "name": "Professional",
            "kind": "tier",
            "tier_rank": 2,
            "price_per_seat": 480,
            "features": "custom_fields",
        },
        {
            "product_id": "enterprise",
            "name": "Enterprise",
            "kind": "tier",
            "tier_rank": 3,
            "price_per_seat": 840,
        },
    ]
    a = run(tmp_path, accounts=[account()], signals=signals, catalog=catalog)
    opp = only(a, "tier_upgrade")
    assert opp["product_id"] == "enterprise"


def test_the_company_seat_deal_is_net_of_the_named_teams(tmp_path):
    """Northwind: the ceiling projects the company's growth onto today's users; the COO's ask
    for the new hubs is part of that growth, so the company deal keeps only the rest."""
    usage = monthly("A1", "seats", [330, 340, 350, 360, 366, 372], 400)
    departments = [{"account_id": "A1", "department": "Operations", "headcount": 900, "seats": 150}]
    signals = [
        _signal(
            "expansion_intent",
            "COO asked for a proposal to add 120 warehouse seats for the new hubs in Q1 2027",
            department="Operations",
            headcount=120,
            amount=57600,
        )
    ]
    big = account(licensed_seats=400, active_seats=372, employee_growth_pct=32, arr=198_000)
    a = run(tmp_path, accounts=[big], usage=usage, departments=departments, signals=signals)
    o = a.opportunities.set_index("key")
    gross = math.ceil(372 * 1.32 / DEFAULT_CONFIG.seat_target_utilization) - 400
    assert o.loc["dept:operations", "quantity"] == 120
    assert o.loc["seats", "quantity"] == gross - 120
    lines = evidence(a, o.loc["seats", "opportunity_id"])
    assert lines[-1].startswith(
        "Net of the 120 seats this account's team deals hold (Operations 120)"
    )
    # A budgeted ask is 1-2 meetings (seed 002's 7-8), never self-serve.
    assert o.loc["dept:operations", "effort_score"] <= DEFAULT_CONFIG.effort_budgeted_max


def test_a_budget_far_from_the_catalog_price_is_a_caveat(tmp_path):
    departments = [{"account_id": "A1", "department": "Sales", "headcount": 80, "seats": 0}]
    signals = [
        _signal(
            "expansion_intent",
            "Budget approved to extend to Sales and Customer Success (60 users) in Q1",
            department="Sales",
            headcount=60,
            amount=60000,
        )
    ]
    a = run(tmp_path, accounts=[account()], departments=departments, signals=signals)
    opp = only(a, "new_department")
    assert opp["expansion_arr"] == 60 * 480
    assert opp["caveat"].startswith("Their budget ($60,000) is 2.1x the catalog price")


def test_the_customers_ask_for_company_seats_is_never_netted(tmp_path):
    departments = [{"account_id": "A1", "department": "Sales", "headcount": 40, "seats": 0}]
    signals = [
        _signal(
            "expansion_intent", "Ops lead asked for 20 more seats in Q1", headcount=20, amount=9600
        ),
        _signal("hiring", "Hiring 30 sales reps", department="Sales", headcount=30),
    ]
    a = run(tmp_path, accounts=[account()], departments=departments, signals=signals)
    o = a.opportunities.set_index("key")
    assert o.loc["seats", "quantity"] == 20 and o.loc["seats", "expansion_arr"] == 9600
    assert "dept:sales" in o.index


def _asked_and_hiring(tmp_path):
    """Northwind: the COO asked for 120 warehouse seats with a budget; hiring 120 operations
    roles is the same need, sized by penetration at far fewer seats."""
    departments = [
        {"account_id": "A1", "department": "Operations", "headcount": 300, "seats": 50},
    ]
    signals = [
        _signal(
            "hiring",
            "Hiring 120 operations roles across three new hubs",
            department="Operations",
            headcount=120,
        ),
        _signal(
            "expansion_intent",
            "COO asked for a proposal to add 120 warehouse seats for the new hubs (Q1 2027)",
            date="2026-11-10",
            department="Operations",
            headcount=120,
            amount=57600,
        ),
    ]
    usage = monthly("A1", "seats", [80, 84, 88, 90, 92, 93], 100)
    return run(
        tmp_path, accounts=[account()], departments=departments, signals=signals, usage=usage
    )


def test_a_line_that_did_not_size_the_deal_keeps_no_sizing_note(tmp_path):
    """The hiring line corroborates the 120-seat ask; its own sizing (120 people x 17% seats
    per person = 21 seats) is not the deal's and must not sit beside a 120-seat amount."""
    a = _asked_and_hiring(tmp_path)
    opp = a.opportunities.iloc[0]
    assert opp["quantity"] == 120
    lines = evidence(a, opp["opportunity_id"])
    assert lines[0].startswith("Asked 2026-11-10")
    hiring = [line for line in lines if line.startswith("Hiring")]
    assert hiring == ["Hiring 2026-10-15: Hiring 120 operations roles across three new hubs"]


def test_an_ask_with_budget_and_timeline_is_at_least_as_likely_to_close_as_any_guess(tmp_path):
    """Seed 002: stated intent, budget and timeline is near-certain; it must never show a
    lower close probability than a deal inferred from signals (seed 000's type bands put a
    new department at 40-50% and seats at 60-70%)."""
    a = _asked_and_hiring(tmp_path)
    opp = a.opportunities.iloc[0]
    low, high = DEFAULT_CONFIG.close_probability_asked["ask_budget_timeline"]
    assert low <= opp["close_probability"] <= high
    assert low >= max(band[1] for band in DEFAULT_CONFIG.close_probability.values())
    assert opp["expected_value"] == round(opp["expansion_arr"] * opp["close_probability"])


def test_the_play_for_an_ask_answers_it_first(tmp_path):
    """No licence audit, discovery or trial before the proposal the customer asked for; the
    opening quotes the ask once, without nested brackets."""
    from expansion.talking_tracks import play

    a = _asked_and_hiring(tmp_path)
    record = a.opportunities.iloc[0].to_dict()
    assert record["suggested_action"].startswith("Send the proposal they asked for (120 seats)")
    track = play(record, evidence(a, record["opportunity_id"]))
    assert "send the proposal they asked for (120 seats) this week" in track["approach"][0]
    assert track["opening"].startswith("Following up on the request of 2026-11-10 (COO asked")
    assert "their budget: $57,600" in track["opening"]
    assert "((" not in track["opening"] and "))" not in track["opening"]


def test_a_quota_named_by_its_metrics_word_is_that_capacity_not_an_add_on(tmp_path):
    """Trailhead: "Exceeded the API quota" is the api_calls limit (at 104%), not the
    Integrations Pack whose keywords include "api": one capacity need, not a second deal."""
    from builders import CATALOG

    catalog = [p for p in CATALOG if p["product_id"] != "integrations"] + [
        {
            "product_id": "integrations",
            "name": "Integrations Pack",
            "kind": "add_on",
            "list_price": 6000,
            "solves": "integration;api;erp;salesforce",
        }
    ]
    usage = monthly("A1", "api_calls", [180, 200, 215, 230, 245, 260], 250)
    signals = [_signal("limit_hit", "Exceeded the API quota; member app booking sync paused")]
    a = run(tmp_path, accounts=[account()], usage=usage, signals=signals, catalog=catalog)
    assert a.opportunities["type"].tolist() == ["usage_expansion"]
    opp = a.opportunities.iloc[0]
    assert opp["triggers"] == "usage_ceiling,limit_hit"
    assert "integrations" not in set(a.opportunities["product_id"])


def test_a_tier_upgrade_pitch_names_the_tier_as_the_catalog_does(sample_result):
    """The opening said 'what professional was built for' (the CRM's plan id, lowercase)."""
    from expansion.talking_tracks import play

    opps = sample_result.opportunities
    row = opps[opps["type"] == "tier_upgrade"].iloc[0].to_dict()
    lines = sample_result.evidence
    lines = lines[lines["opportunity_id"] == row["opportunity_id"]]["evidence"].tolist()
    opening = play(row, lines)["opening"]
    assert opening.startswith(f"You are reaching for what {row['product_name']} was built for: ")
    assert "professional" not in opening.split(":")[0]
