"""Close probability calibrated from decided outcomes (expansion.calibration)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from expansion import calibration, pipeline, workflow
from expansion.config import DEFAULT_CONFIG, config_from_mapping
from expansion.errors import ConfigError

AS_OF = pipeline.SAMPLE_AS_OF
#: The truth of the synthetic history: each type's real win rate is the seed's plus this.
TRUE_SHIFT = {
    "seat_expansion": -0.25,  # seed 0.60-0.70, really ~0.40
    "add_on": +0.25,  # seed 0.35-0.45, really ~0.65
    "tier_upgrade": 0.0,
}


def _history(n: int, seed: int) -> pd.DataFrame:
    """``n`` outcomes: a type, the seed's prediction (a position in its band) and a win drawn
    from the true probability."""
    rng = np.random.default_rng(seed)
    types = rng.choice(list(TRUE_SHIFT), size=n)
    bands = DEFAULT_CONFIG.close_probability
    low = np.array([bands[t][0] for t in types])
    high = np.array([bands[t][1] for t in types])
    predicted = low + (high - low) * rng.uniform(size=n)
    truth = predicted + np.array([TRUE_SHIFT[t] for t in types])
    return pd.DataFrame(
        {
            "type": types,
            "predicted_close_probability": predicted,
            "won": rng.uniform(size=n) < truth,
            "truth": truth,
        }
    )


def test_calibrated_bands_move_toward_the_truth_and_beat_the_seed_on_new_deals():
    history = _history(400, seed=1)
    cal = calibration.calibrate(history, DEFAULT_CONFIG)
    assert cal.calibrated and cal.decided == 400
    assert cal.note() == "close probability calibrated from 400 decided outcomes"
    seed = DEFAULT_CONFIG.close_probability
    for kind, shift in TRUE_SHIFT.items():
        moved = cal.bands[kind][0] - seed[kind][0]
        if shift:
            assert np.sign(moved) == np.sign(shift)
            assert abs(moved - shift) < abs(shift)  # closer to the truth than the seed
        else:
            assert abs(moved) < 0.08
    assert cal.bands["new_department"] == seed["new_department"]  # no outcomes: the prior

    fresh = _history(2000, seed=2)
    calibrated = calibration.shifted(
        fresh["predicted_close_probability"], fresh["type"], cal, DEFAULT_CONFIG
    )
    before = calibration.brier(fresh["predicted_close_probability"], fresh["won"])
    after = calibration.brier(calibrated, fresh["won"])
    assert after < before - 0.01

    report = calibration.report(history, cal, DEFAULT_CONFIG)
    assert report["count"].sum() == 400
    assert (report.groupby("type")["count"].sum() > 0).all()
    seat = report[report["type"] == "seat_expansion"]
    assert (seat["actual"] < seat["predicted"]).all()


def test_the_data_weighs_more_with_its_count():
    small = calibration.calibrate(_history(40, seed=3), DEFAULT_CONFIG)
    large = calibration.calibrate(_history(4000, seed=3), DEFAULT_CONFIG)
    seed = DEFAULT_CONFIG.close_probability["seat_expansion"][0]
    assert seed - large.bands["seat_expansion"][0] > seed - small.bands["seat_expansion"][0] > 0
    weights = large.by_type.set_index("type")["weight"]
    assert weights["seat_expansion"] > small.by_type.set_index("type")["weight"]["seat_expansion"]


def test_five_outcomes_use_the_seed_bands_and_say_so():
    cal = calibration.calibrate(_history(5, seed=4), DEFAULT_CONFIG)
    assert not cal.calibrated
    assert cal.bands == DEFAULT_CONFIG.close_probability
    assert cal.note() == (
        "close probability from seed bands (uncalibrated: 5 decided outcomes, 20 needed)"
    )
    applied = cal.apply(DEFAULT_CONFIG)
    assert applied.close_probability == DEFAULT_CONFIG.close_probability
    assert applied.close_probability_basis == cal.note()
    # The minimum is a scoring setting.
    lower = config_from_mapping({"calibration_min_outcomes": 5})
    assert calibration.calibrate(_history(5, seed=4), lower).calibrated
    with pytest.raises(ConfigError, match="set by the calibration"):
        config_from_mapping({"close_probability_basis": "x"})


def _decide(engine, ids, outcome, *, at, as_of, actor="U1"):
    opps = pipeline.find(engine, "all", as_of=as_of).opportunities.set_index("opportunity_id")
    for opportunity_id in ids:
        opp = workflow.Opportunity(
            opportunity_id=opportunity_id,
            account_id=opps.loc[opportunity_id, "account_id"],
            close_probability=float(opps.loc[opportunity_id, "close_probability"]),
            expansion_arr=float(opps.loc[opportunity_id, "expansion_arr"]),
        )
        workflow.set_outcome(engine, opp, outcome, actor=actor, today=as_of, at=at)


def test_scoring_uses_the_calibrated_figure_after_the_next_sync(engine):
    today = datetime.now(UTC).date()  # outcomes are decided now: scored as of today
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    before = pipeline.find(engine, "all", as_of=today).opportunities
    assert not before["explanation"].str.contains("close probability").any()
    seats = before[before["type"] == "seat_expansion"]["opportunity_id"].tolist()
    others = before[before["type"] != "seat_expansion"]["opportunity_id"].tolist()
    assert len(seats) >= 4 and len(others) >= 20
    now = datetime.now(UTC)
    # Every seat deal lost, the others mostly won; snoozed and not-a-fit are not losses.
    _decide(engine, seats, "lost", at=now, as_of=today)
    _decide(engine, others[:18], "won", at=now, as_of=today)
    _decide(engine, others[18:22], "snoozed", at=now, as_of=today)
    _decide(engine, others[22:24], "not_a_fit", at=now, as_of=today)
    # Outcomes recorded since the last sync wait for the next one: clicks do not re-score.
    assert calibration.for_engine(engine, DEFAULT_CONFIG, as_of=today).decided == 0
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    cal = calibration.for_engine(engine, DEFAULT_CONFIG, as_of=today)
    assert cal.decided == len(seats) + 18 and cal.calibrated
    # As of a date before they were decided, they do not count (reproducible as of a date).
    yesterday = today - timedelta(days=1)
    assert calibration.for_engine(engine, DEFAULT_CONFIG, as_of=yesterday).decided == 0
    after = pipeline.find(engine, "all", as_of=today, include_closed=True).opportunities
    after = after.set_index("opportunity_id")
    b = before.set_index("opportunity_id")
    # Deals placed by the type's band move with it (an ask keeps its own band's floor).
    banded = [i for i in seats if b.loc[i, "close_probability"] <= 0.70]
    assert len(banded) >= 4
    assert (after.loc[banded, "close_probability"] < b.loc[banded, "close_probability"]).all()
    assert (after.loc[banded, "expected_value"] < b.loc[banded, "expected_value"]).all()
    assert (
        after["explanation"]
        .str.endswith(f"; close probability calibrated from {cal.decided} decided outcomes")
        .all()
    )


def test_the_playbook_shows_predicted_vs_actual_per_band_and_type(engine):
    from expansion.playbook import calibration_context, render_playbook

    today = datetime.now(UTC).date()
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    opps = pipeline.find(engine, "all", as_of=today).opportunities
    # No outcome yet: the section says how many are needed.
    empty = calibration_context(engine, DEFAULT_CONFIG, as_of=today)
    assert empty["decided"] == 0 and empty["rows"] == []
    text = render_playbook(pipeline.find(engine, "all", as_of=today), calibration=empty)
    assert "### Close Probability Calibration" in text
    assert "uncalibrated: 0 decided outcomes, 20 needed" in text
    ids = opps["opportunity_id"].tolist()
    now = datetime.now(UTC)
    _decide(engine, ids[:3], "won", at=now, as_of=today)
    _decide(engine, ids[3:5], "lost", at=now, as_of=today)
    _decide(engine, ids[5:6], "snoozed", at=now, as_of=today)  # not decided
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    context = calibration_context(engine, DEFAULT_CONFIG, as_of=today)
    assert context["decided"] == 5 and not context["calibrated"]
    assert sum(r["count"] for r in context["rows"]) == 5
    won = opps.set_index("opportunity_id").loc[ids[:5]]
    expected = float(
        np.mean((won["close_probability"].to_numpy() - np.array([1, 1, 1, 0, 0])) ** 2)
    )
    assert context["brier_seed"] == pytest.approx(expected)
    text = render_playbook(pipeline.find(engine, "all", as_of=today), calibration=context)
    assert "uncalibrated: 5 decided outcomes, 20 needed" in text
    assert (
        "| Band | Type | Decided | Predicted | Actual | Brier (seed) | Brier (calibrated) |" in text
    )
    row = context["rows"][0]
    assert f"| {row['band']} | {row['type']} | {row['count']} |" in text
    assert f"{expected:.3f} with the seed bands" in text
    # Without a calibration the playbook has no such section (as before).
    assert "Close Probability Calibration" not in render_playbook(
        pipeline.find(engine, "all", as_of=today)
    )
