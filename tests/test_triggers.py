"""One test per trigger category and per guard of seed 002, on tiny portfolios."""

from __future__ import annotations

import pandas as pd
from builders import account, evidence, monthly, only, run


def test_seat_ceiling_quotes_the_numbers(tmp_path):
    usage = monthly("A1", "seats", [35, 36, 38, 40, 44, 47], 50)
    a = run(
        tmp_path,
        accounts=[account(licensed_seats=50, active_seats=47, employee_growth_pct=30)],
        usage=usage,
    )
    opp = only(a, "seat_expansion")
    lines = evidence(a, opp["opportunity_id"])
    # The headcount growth has its own line; neither line repeats the other's facts.
    assert lines == [
        "47 of 50 licensed seats active (94%), +9 active in the last quarter",
        "Headcount +30% in 12 months",
    ]
    assert opp["triggers"].startswith("seat_ceiling")
    # ceil(47 * 1.3 / 0.85) - 50 = 22 seats at the Professional seat price.
    assert opp["quantity"] == 22
    assert opp["expansion_arr"] == 22 * 480


def test_growth_below_the_threshold_is_said_once_on_the_ceiling_line(tmp_path):
    usage = monthly("A1", "seats", [35, 36, 38, 40, 44, 47], 50)
    a = run(
        tmp_path,
        accounts=[account(licensed_seats=50, active_seats=47, employee_growth_pct=10)],
        usage=usage,
    )
    opp = only(a, "seat_expansion")
    assert evidence(a, opp["opportunity_id"]) == [
        "47 of 50 licensed seats active (94%), +9 active in the last quarter, "
        "headcount +10% in 12 months"
    ]


def test_usage_ceiling_with_a_usage_product_is_usage_expansion(tmp_path):
    usage = monthly(
        "A1", "api_calls", [700_000, 760_000, 800_000, 830_000, 860_000, 900_000], 1_000_000
    )
    a = run(tmp_path, accounts=[account()], usage=usage)
    opp = only(a, "usage_expansion")
    assert opp["product_id"] == "api_overage"
    assert (
        "API calls at 90% of the limit (900,000 of 1,000,000)"
        in evidence(a, opp["opportunity_id"])[0]
    )
    assert opp["priority"] in ("high", "medium")


def test_usage_ceiling_without_usage_product_is_next_tier(tmp_path):
    usage = monthly("A1", "storage_gb", [400, 420, 440, 450, 470, 490], 500)
    a = run(tmp_path, accounts=[account(plan="starter")], usage=usage)
    opp = only(a, "tier_upgrade")
    assert opp["product_id"] == "professional"
    # Tier difference at current seats: (480 - 240) x 100.
    assert opp["expansion_arr"] == 24_000


def test_trend_projected_to_hit_limit_before_renewal(tmp_path):
    usage = monthly(
        "A1", "api_calls", [400_000, 450_000, 500_000, 550_000, 600_000, 650_000], 1_000_000
    )
    a = run(tmp_path, accounts=[account(renewal_date="2027-08-01")], usage=usage)
    opp = only(a, "usage_expansion")
    text = evidence(a, opp["opportunity_id"])[0]
    assert "projected to hit the limit around 2027-0" in text
    assert "(before the 2027-08-01 renewal)" in text
    assert "projected_ceiling" in opp["triggers"]


def test_no_projection_when_limit_is_after_renewal(tmp_path):
    usage = monthly(
        "A1", "api_calls", [400_000, 401_000, 402_000, 403_000, 404_000, 405_000], 1_000_000
    )
    a = run(tmp_path, accounts=[account(renewal_date="2027-01-15")], usage=usage)
    assert a.opportunities.empty


def test_feature_request_for_an_add_on(tmp_path):
    signals = [
        {
            "account_id": "A1",
            "kind": "feature_request",
            "date": "2026-10-01",
            "detail": "Leadership wants advanced reporting dashboards",
        }
    ]
    a = run(tmp_path, accounts=[account()], signals=signals)
    opp = only(a, "add_on")
    assert opp["product_id"] == "analytics"
    assert opp["expansion_arr"] == 120 * 100
    assert evidence(a, opp["opportunity_id"]) == [
        "Feature request 2026-10-01: Leadership wants advanced reporting dashboards"
    ]


def test_feature_request_nothing_sells_is_a_product_gap(tmp_path):
    signals = [
        {
            "account_id": "A1",
            "kind": "feature_request",
            "date": "2026-10-01",
            "detail": "Wants a time machine",
        }
    ]
    a = run(tmp_path, accounts=[account()], signals=signals)
    assert a.opportunities.empty
    assert a.product_gaps["detail"].tolist() == ["Wants a time machine"]


def test_gated_feature_points_at_the_tier_that_unlocks_it(tmp_path):
    features = [
        {"account_id": "A1", "feature": "sso", "entitled": "no", "used": "yes", "adoption_pct": 5}
    ]
    a = run(tmp_path, accounts=[account()], features=features)
    opp = only(a, "tier_upgrade")
    assert opp["product_id"] == "enterprise"
    assert "Tried sso" in evidence(a, opp["opportunity_id"])[0]


def test_department_with_people_but_no_seats_is_whitespace_until_a_signal_names_it(tmp_path):
    departments = [
        {"account_id": "A1", "department": "Engineering", "headcount": 125, "seats": 100},
        {"account_id": "A1", "department": "Marketing", "headcount": 20, "seats": 0},
    ]
    quiet = run(tmp_path / "quiet", accounts=[account()], departments=departments)
    assert quiet.opportunities.empty  # "they might want seats" is not an opportunity
    assert quiet.profiles.loc["A1", "whitespace_departments"] == 1

    hiring = [
        {
            "account_id": "A1",
            "kind": "hiring",
            "date": "2026-10-01",
            "detail": "Hiring 10 marketers",
            "department": "marketing",
            "headcount": 10,
        }
    ]
    a = run(tmp_path / "named", accounts=[account()], departments=departments, signals=hiring)
    opp = only(a, "new_department")
    assert opp["department"] == "Marketing"
    # Sized from the hires at the adopting teams' penetration (100 seats / 125 people = 80%),
    # not the whole department: the hiring is the need a signal shows.
    assert opp["quantity"] == 8
    lines = evidence(a, opp["opportunity_id"])
    assert lines[0] == "Hiring 2026-10-01: Hiring 10 marketers (10 people x 80% seats per person)"
    assert lines[1] == "Marketing: 20 people, 0 seats; in use by Engineering (100 seats)"


def test_new_department_signal_merges_with_the_department_row(tmp_path):
    departments = [{"account_id": "A1", "department": "Marketing", "headcount": 20, "seats": 0}]
    signals = [
        {
            "account_id": "A1",
            "kind": "new_department",
            "date": "2026-10-01",
            "detail": "Marketing team formed",
            "department": "Marketing",
            "headcount": 20,
        }
    ]
    a = run(tmp_path, accounts=[account()], departments=departments, signals=signals)
    opp = only(a, "new_department")
    assert len(evidence(a, opp["opportunity_id"])) == 2
    assert opp["triggers"] == "new_department_signal,empty_department"


def test_company_growth_sizes_seats_by_headcount(tmp_path):
    signals = [
        {"account_id": "A1", "kind": "funding", "date": "2026-09-01", "detail": "Series C $40M"}
    ]
    a = run(tmp_path, accounts=[account(employee_growth_pct=25)], signals=signals)
    opp = only(a, "seat_expansion")
    line = evidence(a, opp["opportunity_id"])[0]
    assert line.startswith("Headcount +25% in 12 months")
    assert "funding: Series C $40M (2026-09-01)" in line


def test_growth_with_idle_seats_is_not_a_seat_sale(tmp_path):
    a = run(tmp_path, accounts=[account(employee_growth_pct=25, active_seats=40)])
    assert a.opportunities.empty
    assert "seats" in set(a.activation["kind"])


def test_initiative_matched_to_catalog_is_a_new_use_case(tmp_path):
    signals = [
        {
            "account_id": "A1",
            "kind": "initiative",
            "date": "2026-10-01",
            "detail": "SOC 2 certification in 2027",
        }
    ]
    a = run(tmp_path, accounts=[account()], signals=signals)
    opp = only(a, "new_use_case")
    assert opp["product_id"] == "compliance"
    assert opp["expansion_arr"] == 15_000


def test_competitor_spend_caps_the_estimate(tmp_path):
    signals = [
        {
            "account_id": "A1",
            "kind": "competitor",
            "date": "2026-10-01",
            "detail": "Uses Tableau for analytics",
            "amount": "$8,000",
        }
    ]
    a = run(tmp_path, accounts=[account()], signals=signals)
    opp = only(a, "competitive_displacement")
    assert opp["expansion_arr"] == 8_000
    assert "(spend $8,000/yr)" in evidence(a, opp["opportunity_id"])[0]


def test_services_request_and_support_load(tmp_path):
    signals = [
        {
            "account_id": "A1",
            "kind": "services_request",
            "date": "2026-10-01",
            "detail": "Needs training for 40 new users",
        }
    ]
    a = run(tmp_path, accounts=[account(support_tickets_90d=31)], signals=signals)
    assert only(a, "professional_services")["product_id"] == "onboarding"
    support = only(a, "support_upgrade")
    assert evidence(a, support["opportunity_id"]) == [
        "31 support tickets in 90 days (threshold 20) on standard support"
    ]


def test_unknown_and_stale_signals_do_not_trigger(tmp_path):
    signals = [
        {
            "account_id": "A1",
            "kind": "press_mention",
            "date": "2026-10-01",
            "detail": "In the news",
        },
        {
            "account_id": "A1",
            "kind": "initiative",
            "date": "2024-01-01",
            "detail": "SOC 2 certification",
        },
    ]
    a = run(tmp_path, accounts=[account()], signals=signals)
    assert a.opportunities.empty


# --------------------------------------------------------------------------- guards


def test_unhealthy_account_goes_to_stabilize_first_with_what_was_held_back(tmp_path):
    signals = [
        {"account_id": "A1", "kind": "champion_left", "date": "2026-10-01", "detail": "VP left"}
    ]
    usage = monthly("A1", "seats", [80, 85, 88, 90, 93, 95], 100)
    a = run(
        tmp_path, accounts=[account(health_score=42, active_seats=95)], usage=usage, signals=signals
    )
    assert a.opportunities.empty
    row = a.stabilize_first.iloc[0]
    assert row["account_id"] == "A1"
    assert row["reason"] == "health 42/100 (below 50); risk signals: champion left"
    assert row["held_back_count"] == 1
    assert row["held_back"] == "Seat Expansion"


def test_declining_usage_is_stabilize_first(tmp_path):
    usage = monthly("A1", "api_calls", [900, 850, 800, 700, 650, 600], 1000)
    a = run(tmp_path, accounts=[account()], usage=usage)
    assert "usage down 33%" in a.stabilize_first.iloc[0]["reason"]


def test_entitled_unused_features_are_activation_not_upsell(tmp_path):
    features = [
        {
            "account_id": "A1",
            "feature": "core",
            "entitled": "true",
            "used": "true",
            "adoption_pct": 90,
        },
        {
            "account_id": "A1",
            "feature": "dashboards",
            "entitled": "1",
            "used": "0",
            "adoption_pct": 0,
        },
        {
            "account_id": "A1",
            "feature": "mobile",
            "entitled": "yes",
            "used": "yes",
            "adoption_pct": 10,
        },
    ]
    a = run(tmp_path, accounts=[account()], features=features)
    assert a.opportunities.empty
    row = a.activation[a.activation["kind"] == "features"].iloc[0]
    assert (
        row["detail"] == "2 of 3 entitled features unused or under 30% adoption: dashboards, mobile"
    )


def test_trials_are_conversion_candidates(tmp_path):
    usage = monthly("A1", "api_calls", [80, 85, 90, 92, 95, 97], 100)
    a = run(tmp_path, accounts=[account(status="trial", arr=0)], usage=usage)
    assert a.opportunities.empty
    row = a.conversion_candidates.iloc[0]
    assert row["account_id"] == "A1"
    assert row["conversion_score"] >= 60
    assert row["action"].startswith("Conversion call now: propose Professional")
    assert "API calls at 97% of the limit" in row["signals"]


def test_recently_renewed_is_held_at_tier_2_without_a_strong_trigger(tmp_path):
    signals = [
        {
            "account_id": "A1",
            "kind": "initiative",
            "date": "2026-10-01",
            "detail": "SOC 2 audit programme",
        }
    ]
    big = account(arr=20_000, last_renewal_date="2026-10-20", sig=None)
    big.pop("sig")
    a = run(tmp_path, accounts=[big], signals=signals)
    opp = only(a, "new_use_case")
    assert opp["tier"] >= 2
    assert opp["timing"].startswith("After they settle into the new term")


def test_recently_renewed_keeps_tier_1_with_a_usage_ceiling(tmp_path):
    usage = monthly("A1", "seats", [80, 88, 92, 95, 97, 99], 100)
    a = run(
        tmp_path,
        accounts=[
            account(
                arr=30_000, active_seats=99, last_renewal_date="2026-10-20", employee_growth_pct=40
            )
        ],
        usage=usage,
    )
    opp = only(a, "seat_expansion")
    assert not opp["explanation"].endswith("no ceiling or stated intent)")
    assert opp["timing"].startswith("Now")


def test_partner_and_missing_usage_lower_confidence_and_record_gaps(tmp_path):
    signals = [
        {
            "account_id": "A1",
            "kind": "feature_request",
            "date": "2026-10-01",
            "detail": "analytics please",
        }
    ]
    a = run(tmp_path, accounts=[account(channel="partner")], signals=signals)
    opp = only(a, "add_on")
    assert opp["confidence"] == "low"
    assert "-2.0 limited visibility" in opp["likelihood_factors"]
    gaps = set(a.data_gaps.loc[a.data_gaps["account_id"] == "A1", "gap"])
    assert {"no usage data", "partner-managed"} <= gaps


def test_catalog_silent_falls_back_to_own_arr_per_seat(tmp_path):
    usage = monthly("A1", "seats", [90, 92, 94, 96, 97, 98], 100)
    a = run(tmp_path, accounts=[account(active_seats=98, arr=50_000)], usage=usage, catalog=[])
    opp = only(a, "seat_expansion")
    assert opp["pricing"].startswith(
        "no catalog price for seats: the account's own ARR per seat ($500)"
    )
    assert "no catalog data" in set(a.data_gaps["gap"])


def test_opportunity_ids_survive_a_rescore_with_other_opportunities(tmp_path):
    base = [
        {
            "account_id": "A1",
            "kind": "feature_request",
            "date": "2026-10-01",
            "detail": "reporting dashboards",
        }
    ]
    first = run(tmp_path / "one", accounts=[account()], signals=base)
    more = [
        *base,
        {
            "account_id": "A1",
            "kind": "initiative",
            "date": "2026-10-02",
            "detail": "SOC 2 programme",
        },
    ]
    second = run(tmp_path / "two", accounts=[account()], signals=more)
    before = set(first.opportunities["opportunity_id"])
    after = set(second.opportunities["opportunity_id"])
    assert before < after
    assert all(i.startswith("A1-") for i in after)


def test_every_opportunity_explains_itself(tmp_path):
    usage = monthly("A1", "seats", [80, 85, 88, 90, 93, 95], 100)
    a = run(tmp_path, accounts=[account(active_seats=95)], usage=usage)
    opp = a.opportunities.iloc[0]
    for column in (
        "revenue_factors",
        "effort_factors",
        "likelihood_factors",
        "explanation",
        "tier1_path",
    ):
        assert isinstance(opp[column], str) and opp[column]
    assert pd.notna(opp["expected_value"])


def test_competitor_for_an_owned_product_is_not_an_opportunity(tmp_path):
    subs = [{"account_id": "A1", "product_id": "analytics", "quantity": 100, "arr": 12000}]
    signals = [
        {
            "account_id": "A1",
            "kind": "competitor",
            "date": "2026-10-01",
            "detail": "Tableau for BI reporting",
        }
    ]
    a = run(tmp_path, accounts=[account()], subscriptions=subs, signals=signals)
    assert a.opportunities.empty
