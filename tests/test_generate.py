"""The synthetic portfolio generator: deterministic, valid against the contract, and a book the
engine finds every kind of opportunity and every guard in (``expansion generate``)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from expansion import generate as gen
from expansion import pipeline, store
from expansion.contract import OPPORTUNITY_TYPES, TABLES
from expansion.engine import DATA_GAPS
from expansion.ingest import read_portfolio
from expansion.triggers import Catalog

AS_OF = pipeline.SAMPLE_AS_OF
EXPANSION = shutil.which("expansion", path=str(Path(sys.executable).parent)) or "expansion"


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _header(path: Path) -> list[str]:
    if path.suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8") as fh:
            return next(csv.reader(fh, delimiter="\t" if path.suffix == ".tsv" else ","))
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as fh:
            return list(json.loads(fh.readline()))
    if path.suffix == ".json":
        return list(json.loads(path.read_text(encoding="utf-8"))[0])
    return list(pd.read_excel(path, nrows=1).columns)


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    first = gen.generate(400, seed=7, out=tmp_path / "a")
    gen.generate(400, seed=7, out=tmp_path / "b")
    gen.generate(400, seed=8, out=tmp_path / "c")
    a, b, c = (_digests(tmp_path / x) for x in "abc")
    assert a == b
    assert set(a) == set(first.files.values())
    # Every data table changes with the seed (the catalog is the same product list).
    assert {name for name in a if a[name] != c[name]} == set(a) - {"catalog.json"}


def test_fast_formats_are_deterministic_too(tmp_path):
    gen.generate(300, seed=3, out=tmp_path / "a", formats="fast")
    gen.generate(300, seed=3, out=tmp_path / "b", formats="fast")
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")


# --------------------------------------------------------------------------- the contract


def test_sample_formats_validate_with_zero_rejects_and_match_the_sample(tmp_path):
    report = gen.generate(500, seed=11, out=tmp_path / "book")
    assert report.formats == "sample"
    sample = pipeline.SAMPLE_PORTFOLIO
    sample_files = {p.name for p in sample.iterdir() if p.name.split(".")[0] in TABLES}
    assert set(report.files.values()) == sample_files
    for name in report.files.values():
        assert _header(tmp_path / "book" / name) == _header(sample / name), name

    portfolio = read_portfolio(tmp_path / "book")
    assert portfolio.rejects.empty, portfolio.rejects.head(10).to_string()
    assert portfolio.rows_read == report.rows
    assert portfolio.accepted == report.rows
    assert set(portfolio.tables) == set(TABLES)
    # The accepted values are the intended ones: every spelling of `entitled` parsed, ARR
    # written as "$86,400" / "84K" equal to the subscriptions, blank segments derived.
    features = portfolio.tables["features"]
    assert features["entitled"].notna().all() and features["entitled"].any()
    accounts = portfolio.tables["accounts"].set_index("account_id")
    subs = portfolio.tables["subscriptions"].groupby("account_id")["arr"].sum()
    assert (accounts["arr"] == subs.reindex(accounts.index)).all()
    assert accounts["segment"].notna().all()
    raw = pd.read_csv(tmp_path / "book" / "accounts.csv", dtype=str)
    assert raw["ARR"].str.contains(r"^\$\d{1,3}(?:,\d{3})+$").any()
    assert raw["ARR"].str.endswith("K").any()
    assert raw["Segment"].isna().any()


def test_fast_formats_use_csv_for_usage_and_features(tmp_path):
    report = gen.generate(300, seed=5, out=tmp_path / "book", formats="fast")
    assert report.files["usage"] == "usage.csv"
    assert report.files["features"] == "features.csv"
    assert report.rows["usage"] > 300 * 20  # ~12 months x 3-4 metrics for most accounts
    portfolio = read_portfolio(tmp_path / "book")
    assert portfolio.rejects.empty
    assert portfolio.accepted == report.rows


def test_auto_formats_switch_to_csv_above_the_threshold(monkeypatch, tmp_path):
    monkeypatch.setattr(gen, "SAMPLE_FORMATS_MAX_ACCOUNTS", 100)
    assert gen.generate(100, out=tmp_path / "small").files["features"] == "features.xlsx"
    assert gen.generate(101, out=tmp_path / "big").files["features"] == "features.csv"


def test_as_of_moves_the_whole_book(tmp_path):
    as_of = date(2025, 6, 30)
    gen.generate(300, seed=2, out=tmp_path / "book", as_of=as_of.isoformat())
    tables = read_portfolio(tmp_path / "book").tables
    usage = tables["usage"]
    assert usage["period"].max() == pd.Timestamp("2025-06-01")
    assert usage["period"].min() >= pd.Timestamp("2024-07-01")
    accounts = tables["accounts"]
    stamp = pd.Timestamp(as_of)
    assert (accounts["renewal_date"].dropna() > stamp).all()
    assert (accounts["last_renewal_date"].dropna() <= stamp).all()
    assert (accounts["contract_start"] <= stamp).all()
    assert (tables["signals"]["date"] <= stamp).all()


def test_signal_texts_map_to_the_intended_products():
    """The engine maps free text to products by keyword; each text must land on its product."""
    cat = Catalog(
        pd.DataFrame(gen.CATALOG),
        pd.DataFrame(columns=["account_id", "product_id"]),
        pd.DataFrame({"plan": ["starter"], "arr": [1.0], "licensed_seats": [1.0]}, index=["A"]),
    )
    for texts, kinds in (
        (gen.FEATURE_REQUESTS, None),
        (gen.INITIATIVES, None),
        (gen.COMPETITORS, None),
        (gen.SERVICES_REQUESTS, ("services",)),
    ):
        details = pd.Series([text.replace("{n}", "12") for text, _ in texts])
        found = cat.match(details, kinds=kinds).where(lambda s: s.notna(), None)
        assert list(found) == [product for _, product in texts]


def test_refuses_a_non_empty_folder_unless_forced(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    (book / "notes.txt").write_text("mine")
    with pytest.raises(gen.OutputExistsError, match="not empty"):
        gen.generate(50, out=book)
    gen.generate(50, out=book, force=True)
    gen.generate(50, out=book, force=True, formats="fast")
    names = {p.name for p in book.iterdir()}
    assert "notes.txt" in names  # not a portfolio file: kept
    assert "features.csv" in names and "features.xlsx" not in names  # no table in two files
    assert read_portfolio(book).rejects.empty


# --------------------------------------------------------------------------- the engine on it


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generated")
    report = gen.generate(2000, seed=42, out=folder / "book", formats="fast")
    engine = store.connect(f"sqlite:///{folder / 'book.db'}")
    sync = pipeline.sync_folder(engine, folder / "book")
    result = pipeline.find(engine, "", as_of=AS_OF)
    yield report, sync, result
    engine.dispose()


def test_the_book_syncs_without_rejects(book):
    report, sync, _ = book
    assert sync.rejected == 0
    assert sync.portfolio.accepted == report.rows


def test_every_opportunity_type_and_tiers_one_to_three(book):
    opps = book[2].opportunities
    assert set(OPPORTUNITY_TYPES) <= set(opps["type"])
    assert {1, 2, 3} <= set(opps["tier"])
    counts = opps["type"].value_counts()
    assert (counts[list(OPPORTUNITY_TYPES)] >= 10).all(), counts.to_dict()
    # Every trigger category shows up, including trends projected to hit a limit.
    fired = set(opps["triggers"].str.split(",").explode())
    assert {
        "seat_ceiling",
        "usage_ceiling",
        "projected_ceiling",
        "limit_hit",
        "feature_request",
        "gated_feature",
        "empty_department",
        "new_department_signal",
        "new_office",
        "headcount_growth",
        "initiative",
        "competitor",
        "services_request",
        "support_load",
    } <= fired


def test_every_separate_list_is_filled(book):
    result = book[2]
    assert len(result.stabilize_first) and (result.stabilize_first["held_back_count"] > 0).any()
    assert set(result.activation["kind"]) == {"features", "seats"}
    assert set(result.conversion_candidates["status"]) == {"trial", "free"}
    assert set(result.data_gaps["gap"]) >= set(DATA_GAPS)
    assert len(result.product_gaps)
    # Guards hold: nothing is sold to stabilize-first, trial or free accounts.
    held = set(result.stabilize_first["account_id"]) | set(
        result.conversion_candidates["account_id"]
    )
    assert not held & set(result.opportunities["account_id"])
    profiles = result.profiles
    assert profiles["recently_renewed"].any()
    assert (profiles["channel"] == "partner").any()


def test_segment_mix_looks_like_a_real_book(book):
    profiles = book[2].profiles
    paying = profiles[profiles["status"] == "paying"]
    share = paying["segment"].value_counts(normalize=True)
    assert 0.40 <= share["smb"] <= 0.60
    assert 0.25 <= share["mid-market"] <= 0.42
    assert 0.10 <= share["enterprise"] <= 0.25
    arr = paying.groupby("segment")["arr"].sum() / paying["arr"].sum()
    assert arr["enterprise"] > 0.5  # few accounts, most of the ARR
    median = paying.groupby("segment")["arr"].median()
    assert median["smb"] < 20_000 <= median["mid-market"] < 50_000 <= median["enterprise"]
    status = profiles["status"].value_counts(normalize=True)
    assert 0.02 <= status["trial"] <= 0.05 and 0.01 <= status["free"] <= 0.04


# --------------------------------------------------------------------------- the CLI


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("EXPANSION_AS_OF", None)
    return subprocess.run(
        [EXPANSION, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_generate_writes_a_book_and_refuses_to_overwrite_it(tmp_path):
    done = _cli("generate", "--accounts", "300", "--seed", "9", "--out", "book", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("accounts", "usage", "features", "signals", "departments", "total"):
        assert name in done.stdout
    assert "300" in done.stdout
    assert read_portfolio(tmp_path / "book").rejects.empty

    again = _cli("generate", "--accounts", "300", "--seed", "9", "--out", "book", cwd=tmp_path)
    assert again.returncode == 2
    assert "not empty" in again.stderr and "--force" in again.stderr

    # The console script writes exactly what the library writes.
    gen.generate(300, seed=9, out=tmp_path / "library")
    assert _digests(tmp_path / "book") == _digests(tmp_path / "library")


def test_cli_generate_validates_its_options(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from expansion.cli import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["generate", "--out", "x"]).exit_code == 2  # --accounts required
    assert runner.invoke(app, ["generate", "--accounts", "0"]).exit_code == 2
    assert (
        runner.invoke(app, ["generate", "--accounts", "5", "--formats", "parquet"]).exit_code == 2
    )
    assert runner.invoke(app, ["generate", "--accounts", "5", "--as-of", "soon"]).exit_code == 2
    assert not (tmp_path / "generated-portfolio").exists()
    done = runner.invoke(app, ["generate", "--accounts", "5", "--as-of", "2026-01-31"])
    assert done.exit_code == 0, done.output
    assert "--as-of 2026-01-31" in done.output
    assert (tmp_path / "generated-portfolio" / "accounts.csv").exists()
