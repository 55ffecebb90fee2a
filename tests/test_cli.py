"""The console script, run as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from expansion import pipeline

EXPANSION = shutil.which("expansion", path=str(Path(sys.executable).parent)) or "expansion"
REQUIRED_KEYS = {
    "opportunity_id",
    "account_id",
    "account_name",
    "segment",
    "type",
    "product_id",
    "tier",
    "score",
    "revenue_score",
    "effort_score",
    "likelihood_score",
    "propensity",
    "close_probability",
    "expansion_arr",
    "expected_value",
    "priority",
    "evidence",
    "suggested_action",
    "timing",
    "explanation",
    "owner",
}


def cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    environment.pop("EXPANSION_DB_URL", None)
    environment.pop("EXPANSION_AS_OF", None)
    return subprocess.run(
        [EXPANSION, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    done = cli("demo", cwd=folder)
    assert done.returncode == 0, done.stderr
    (folder / "demo.out").write_text(done.stdout)
    return folder


def test_demo_works_offline_with_nothing_configured(demo_dir):
    out = (demo_dir / "demo.out").read_text()
    assert "Expansion summary" in out
    assert "Tier 1 opportunities" in out
    assert (demo_dir / "expansion.db").exists()
    playbook = (demo_dir / "expansion-playbook.md").read_text()
    for heading in (
        "# Expansion Revenue Playbook",
        "## Executive Summary",
        "## Tier 1 Opportunities -- Pursue Immediately",
        "## Tier 2 Opportunities -- Pursue This Quarter",
        "## Tier 3 Opportunities -- Nurture",
        "## Account-by-Account Summary",
        "## Opportunity Distribution Analysis",
        "### By Revenue Band",
        "### By Timeline",
        "## Portfolio-Wide Insights",
        "### Recommendations for Leadership",
        "## Appendix: Scoring Methodology",
        "### Data Confidence Notes",
        "**Recommended Pitch:**",
        "**Objections to Expect:**",
    ):
        assert heading in playbook, heading


def test_find_json_contract(demo_dir):
    done = cli("find", "enterprise", "--format", "json", "--as-of", "2026-11-16", cwd=demo_dir)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert set(doc) >= {
        "scope",
        "as_of",
        "summary",
        "opportunities",
        "activation",
        "conversion_candidates",
        "stabilize_first",
        "data_gaps",
    }
    assert doc["as_of"] == "2026-11-16"
    assert doc["opportunities"], "the sample has enterprise opportunities"
    for opp in doc["opportunities"]:
        assert set(opp) >= REQUIRED_KEYS
        assert opp["segment"] == "enterprise"
        assert 0 <= opp["close_probability"] <= 1
        assert isinstance(opp["evidence"], list) and opp["evidence"]
    keys = [(-o["score"], -o["expected_value"]) for o in doc["opportunities"]]
    assert keys == sorted(keys)


def test_find_is_reproducible_for_an_as_of_date(demo_dir):
    first = cli("find", "all", "--format", "json", "--as-of", "2026-11-16", cwd=demo_dir)
    second = cli("find", "all", "--format", "json", "--as-of", "2026-11-16", cwd=demo_dir)
    assert json.loads(first.stdout)["opportunities"] == json.loads(second.stdout)["opportunities"]


def test_markdown_and_min_propensity(demo_dir):
    done = cli(
        "find",
        "mid-market",
        "--min-propensity",
        "70",
        "--format",
        "markdown",
        "--as-of",
        "2026-11-16",
        cwd=demo_dir,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("## Expansion Opportunities")
    assert "### High Priority" in done.stdout and "### Medium / Low" in done.stdout


def test_unparseable_scope_exits_2_listing_the_forms(demo_dir):
    done = cli("find", "purple", "elephants", "--as-of", "2026-11-16", cwd=demo_dir)
    assert done.returncode == 2
    assert "Accepted forms" in done.stderr and "renewing in 90 days" in done.stderr


def test_account_deep_dive(demo_dir):
    done = cli("account", "Northwind", "--as-of", "2026-11-16", cwd=demo_dir)
    assert done.returncode == 0, done.stderr
    for part in (
        "CURRENT STATE:",
        "USAGE PROFILE:",
        "RELATIONSHIP HEALTH:",
        "GROWTH SIGNALS:",
        "BENCHMARK",
    ):
        assert part in done.stdout


def test_sync_missing_required_column_exits_2_and_changes_nothing(tmp_path):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    good = cli(
        "sync",
        "--source",
        str(pipeline.SAMPLE_PORTFOLIO),
        "--db",
        db,
        "--as-of",
        "2026-11-16",
        cwd=tmp_path,
    )
    assert good.returncode == 0, good.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "accounts.csv").write_text("Account ID,ARR\nX1,1000\n")
    done = cli("sync", "--source", str(bad), "--db", db, cwd=tmp_path)
    assert done.returncode == 2
    assert "accounts.csv" in done.stderr and "'name'" in done.stderr
    after = cli(
        "find", "all", "--format", "json", "--db", db, "--as-of", "2026-11-16", cwd=tmp_path
    )
    assert json.loads(after.stdout)["summary"]["accounts_analyzed"] == 44


def test_sync_reports_rejects_and_strict_refuses(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "accounts.csv").write_text(
        "account_id,name,arr,licensed_seats\nA1,Acme,$85K,50\nA2,Beta,lots,10\nA3,Gamma,1000,-4\n"
    )
    db = f"sqlite:///{tmp_path / 'x.db'}"
    strict = cli("sync", "--source", str(folder), "--db", db, "--strict", cwd=tmp_path)
    assert strict.returncode == 2 and "--strict" in strict.stderr
    done = cli("sync", "--source", str(folder), "--db", db, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 rows rejected" in done.stdout
    assert "row 3: arr is not an amount of money" in done.stdout
    assert "row 4: licensed_seats is negative" in done.stdout
    assert (tmp_path / "expansion-rejects.csv").exists()


def test_python_dash_m_works(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "expansion", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    for command in ("demo", "sync", "find", "playbook", "account", "score"):
        assert command in done.stdout


def test_find_limit_keeps_the_n_best_and_the_whole_scopes_summary(demo_dir):
    args = ("find", "all", "--as-of", "2026-11-16")
    whole = json.loads(cli(*args, "--format", "json", cwd=demo_dir).stdout)
    assert len(whole["opportunities"]) > 3
    done = cli(*args, "--format", "json", "--limit", "3", cwd=demo_dir)
    assert done.returncode == 0, done.stderr
    limited = json.loads(done.stdout)
    assert limited["opportunities"] == whole["opportunities"][:3]
    assert limited["summary"] == whole["summary"]
    rows = cli(*args, "--format", "csv", "--limit", "3", cwd=demo_dir).stdout.splitlines()
    assert len(rows) == 1 + 3
    total = len(whole["opportunities"])
    table = cli(*args, "--limit", "3", cwd=demo_dir).stdout
    assert "Opportunities (3)" in table
    assert f"Showing the 3 best of {total} opportunities (--limit)." in table
    markdown = cli(*args, "--format", "markdown", "--limit", "3", cwd=demo_dir).stdout
    assert f"_Showing the 3 best of {total} opportunities (--limit)._" in markdown
    # A limit above the count changes nothing and says nothing.
    assert (
        json.loads(cli(*args, "--format", "json", "--limit", "100000", cwd=demo_dir).stdout)
        == whole
    )
    bad = cli(*args, "--limit", "0", cwd=demo_dir)
    assert bad.returncode == 2 and "--limit" in bad.stderr
