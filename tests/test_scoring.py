"""Property tests for the scoring arithmetic and the tier boundaries (seed 002)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from expansion import scoring
from expansion.config import DEFAULT_CONFIG, config_from_mapping
from expansion.errors import ConfigError

cfg = DEFAULT_CONFIG
sub_score = st.integers(min_value=1, max_value=10)


@given(sub_score, sub_score, sub_score)
def test_composite_is_the_weighted_sum_rounded_to_a_tenth(r, e, lk):
    score = scoring.composite(pd.Series([r]), pd.Series([e]), pd.Series([lk]), cfg).iloc[0]
    exact = 0.4 * r + 0.3 * e + 0.3 * lk
    assert abs(score - exact) <= 0.05 + 1e-9
    assert round(score * 10) == pytest.approx(score * 10)
    assert 1.0 <= score <= 10.0


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        (10.0, 1),
        (8.0, 1),
        (7.9, 2),
        (6.0, 2),
        (5.9, 3),
        (4.0, 3),
        (3.9, 4),
        (2.0, 4),
        (1.9, 5),
        (0.0, 5),
    ],
)
def test_tier_boundaries(score, tier):
    assert scoring.tier(pd.Series([score]), cfg).iloc[0] == tier


@given(
    st.floats(min_value=0, max_value=10, allow_nan=False),
    st.floats(min_value=0, max_value=10, allow_nan=False),
)
def test_tiers_are_monotonic(a, b):
    ta, tb = scoring.tier(pd.Series([a, b]), cfg)
    if a >= b:
        assert ta <= tb


@given(
    st.floats(min_value=0, max_value=5_000_000, allow_nan=False),
    st.floats(min_value=0, max_value=5_000_000, allow_nan=False),
    st.floats(min_value=1, max_value=10_000_000, allow_nan=False),
)
def test_revenue_score_grows_with_the_deal(x, y, arr):
    low, high = sorted([x, y])
    scores = scoring.revenue_score(pd.Series([low, high]), pd.Series([arr, arr]), cfg)[
        "revenue_score"
    ]
    assert 1 <= scores.iloc[0] <= scores.iloc[1] <= 10


def test_revenue_weighs_absolute_dollars():
    # Seed 002: 5% of a $500K account ($25K) can outrank 50% of a $5K account ($2.5K).
    scores = scoring.revenue_score(
        pd.Series([25_000.0, 2_500.0]), pd.Series([500_000.0, 5_000.0]), cfg
    )
    assert scores["revenue_score"].iloc[0] > scores["revenue_score"].iloc[1]


@given(st.sampled_from(sorted(cfg.close_probability)), st.integers(min_value=0, max_value=100))
def test_close_probability_stays_in_its_band(kind, propensity):
    low, high = cfg.close_probability[kind]
    p = scoring.close_probability(pd.Series([kind]), pd.Series([propensity]), cfg).iloc[0]
    assert low - 1e-9 <= p <= high + 1e-9


def test_close_probability_bands_follow_seed_000():
    assert cfg.close_probability["seat_expansion"] == [0.60, 0.70]
    assert cfg.close_probability["tier_upgrade"] == [0.45, 0.55]
    assert cfg.close_probability["add_on"] == [0.35, 0.45]


@given(
    st.floats(min_value=0, max_value=100),
    st.floats(min_value=0, max_value=100),
    st.floats(min_value=-50, max_value=200),
    st.sampled_from(["high", "medium", "low", None]),
)
def test_propensity_is_0_to_100(health, adoption, growth, engagement):
    frame = pd.DataFrame(
        {
            "health_score": [health],
            "feature_adoption": [adoption],
            "employee_growth_pct": [growth],
            "engagement": [engagement],
            "sig_hiring": [1],
            "sig_funding": [0],
            "sig_exec_engagement": [0],
            "sig_expansion_intent": [0],
            "sig_budget_cut": [0],
            "products_owned": [2],
            "arr_vs_segment_median": [1.2],
            "contract_term": ["annual"],
        }
    )
    value = scoring.propensity(frame, cfg)["propensity"].iloc[0]
    assert 0 <= value <= 100


def test_round_half_up_is_not_bankers_rounding():
    assert list(scoring.round_half_up(pd.Series([7.45, 7.55, 0.25]), 1)) == [7.5, 7.6, 0.3]


def test_config_overrides_and_rejects_unknown_keys():
    custom = config_from_mapping(
        {"tier_thresholds": [9, 7, 5, 3], "close_probability": {"add_on": [0.3, 0.4]}}
    )
    assert custom.tier_thresholds == [9, 7, 5, 3]
    assert custom.close_probability["add_on"] == [0.3, 0.4]
    assert custom.close_probability["seat_expansion"] == [0.60, 0.70]
    assert custom.fingerprint != cfg.fingerprint
    with pytest.raises(ConfigError, match="unknown scoring setting 'tier_treshold'"):
        config_from_mapping({"tier_treshold": [1]})
    with pytest.raises(ConfigError, match=r"add up to 1\.0"):
        config_from_mapping({"weight_revenue": 0.5})
    with pytest.raises(ConfigError, match="decreasing"):
        config_from_mapping({"tier_thresholds": [2, 4, 6, 8]})


def test_a_flat_series_near_no_limit_does_not_overflow_the_projection():
    """Float noise gives a flat series a tiny upward slope: its projected limit date would be
    centuries out and overflow pandas; it counts as never reaching the limit instead."""
    import pandas as pd

    from expansion.config import DEFAULT_CONFIG
    from expansion.profile import usage_metrics

    periods = pd.date_range("2026-06-01", periods=6, freq="MS")
    usage = pd.DataFrame(
        {
            "account_id": "A1",
            "metric": "api_calls",
            "period": periods,
            "value": [20000, 20100, 19900, 20050, 20000, 20080],
            "limit": 1_000_000.0,
        }
    )
    out = usage_metrics(usage, pd.Timestamp("2026-11-16"), DEFAULT_CONFIG)
    assert pd.isna(out["months_to_limit"].iloc[0]) and pd.isna(out["projected_date"].iloc[0])


def test_a_tier_2_deal_the_customer_asked_for_is_high_priority_like_one_at_a_limit():
    """Stratus: a $28,800 ask with a budget was Medium while a $3,360 seat ceiling on the
    same account was High."""
    opps = pd.DataFrame(
        {
            "tier": [2, 2, 2, 2],
            "triggers": ["stated_ask", "seat_ceiling", "feature_request", "stated_ask"],
            "stated": [True, False, False, True],
            "health_score": [80, 80, 80, 40],
            "usage_trend": ["Stable"] * 4,
            "small_deal": [False] * 4,
        }
    )
    assert scoring.priority(opps, cfg).tolist() == ["high", "high", "medium", "medium"]
