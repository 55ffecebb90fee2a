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
