"""Hardening of the sync's reading (issue 21, items 7, 8 and 11): rows wider than their header,
dates outside the accepted window, and limits on cells, files, rows and the rejects report.

Every refusal leaves the stored portfolio as it was; every accepted date can be scored.
"""

from __future__ import annotations

import csv
import logging
import shutil
import zipfile
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa
from builders import stored_rows
from openpyxl import Workbook
from test_ingest import make_folder, only_reject, read, rejects_of

from expansion import ingest, pipeline, store
from expansion.errors import ConfigError, ContractError
from expansion.ingest import read_portfolio
from expansion.limits import DEFAULT_LIMITS, IngestLimits, limits_from_mapping, load_limits

AS_OF = pipeline.SAMPLE_AS_OF
HEADER = "account_id,name,arr,health_score\n"


def assert_unchanged(before: dict[str, pd.DataFrame], engine) -> None:
    after = stored_rows(engine)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name], check_dtype=False)


@pytest.fixture
def synced(engine):
    """A database holding the sample portfolio (source 'files')."""
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="files")
    return engine


# --------------------------------------------------------------------------- 7. wide rows


@pytest.mark.parametrize("ext", ["csv", "tsv"])
def test_a_row_with_a_trailing_delimiter_is_rejected_not_shifted(tmp_path, ext):
    sep = "\t" if ext == "tsv" else ","
    text = (HEADER + "ACC-1,Acme,1000,50,\nACC-2,Beta,2000,60\nACC-3,Gamma,3000,70\n").replace(
        ",", sep
    )
    portfolio = read(tmp_path, {f"accounts.{ext}": text})
    accounts = portfolio.tables["accounts"].set_index("account_id")
    assert list(accounts.index) == ["ACC-2", "ACC-3"]  # never "Acme" as an account id
    assert accounts.loc["ACC-2", "name"] == "Beta" and accounts.loc["ACC-2", "arr"] == 2000
    reject = only_reject(portfolio, "accounts")
    assert reject["row"] == 2
    delimiter = "tab" if ext == "tsv" else "comma"
    assert reject["reason"].startswith(
        f"row has 5 fields but the header has 4: a trailing {delimiter}"
    )


def test_a_later_wide_row_is_a_reject_not_an_unreadable_file(tmp_path):
    # Before: pandas refused the whole file ("Expected 4 fields in line 3, saw 6").
    text = HEADER + 'ACC-1,Acme,1000,50\n"ACC-2","Beta\nCorp",2000,60\nACC-3,Gamma,3,3,x,y\n'
    portfolio = read(tmp_path, {"accounts.csv": text})
    assert portfolio.tables["accounts"]["account_id"].tolist() == ["ACC-1", "ACC-2"]
    assert portfolio.tables["accounts"]["name"].tolist() == ["Acme", "Beta\nCorp"]
    reject = only_reject(portfolio, "accounts")
    # Row 4 as a spreadsheet counts it: the quoted line break is inside row 3.
    assert reject["row"] == 4 and "6 fields but the header has 4" in reject["reason"]


def test_every_row_with_a_trailing_comma_refuses_the_file_and_changes_nothing(tmp_path, synced):
    before = stored_rows(synced)
    folder = make_folder(
        tmp_path, {"accounts.csv": HEADER + "ACC-1,Acme,1000,50,\nACC-2,Beta,2000,60,\n"}
    )
    with pytest.raises(ContractError) as refused:
        pipeline.sync_folder(synced, folder, source="files")
    message = str(refused.value)
    assert "every row has more fields than the header (4)" in message
    assert "extra comma" in message and "Remove the trailing commas" in message
    assert_unchanged(before, synced)
    assert store.sync_runs(synced, limit=1)["status"].tolist() == ["failed"]


# --------------------------------------------------------------------------- 8. dates


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1700-01-01", "renewal_date is before 1990-01-01"),
        ("0001-01-01", "renewal_date is before 1990-01-01"),
        ("1677-09-22", "renewal_date is before 1990-01-01"),  # was stored as 2262-04-11
        ("2263-01-01", "renewal_date is after 2100-12-31"),
        ("9999-12-30", "renewal_date is after 2100-12-31"),
        ("12/31/2199", "renewal_date is after 2100-12-31"),
    ],
)
def test_dates_outside_the_window_are_rejects(tmp_path, value, reason):
    rows = [
        {"account_id": "A1", "name": "Alpha", "arr": "1000", "renewal_date": value},
        {"account_id": "A2", "name": "Beta", "arr": "2000", "renewal_date": "2027-03-01"},
    ]
    portfolio = read(tmp_path, {"accounts.csv": rows})
    reject = only_reject(portfolio, "accounts")
    assert reject["row"] == 2 and reject["value"] == value
    assert reject["reason"].startswith(reason)
    assert portfolio.tables["accounts"]["account_id"].tolist() == ["A2"]
    assert portfolio.tables["accounts"]["renewal_date"].dtype == "datetime64[ns]"


def test_9999_12_31_is_no_date_where_a_blank_is_allowed(tmp_path):
    portfolio = read(
        tmp_path,
        {
            "accounts.csv": [
                {"account_id": "A1", "name": "Alpha", "arr": "1000", "renewal_date": "9999-12-31"},
                {"account_id": "A2", "name": "Beta", "arr": "2000", "renewal_date": "12/31/9999"},
            ],
            "usage.csv": [
                {"account_id": "A1", "metric": "seats", "period": "9999-12-31", "value": "3"},
                {"account_id": "A1", "metric": "seats", "period": "2026-10", "value": "4"},
            ],
        },
    )
    assert portfolio.tables["accounts"]["renewal_date"].isna().all()
    assert rejects_of(portfolio, "accounts").empty
    # A period is required: "no date" is no period, so the row is rejected.
    reject = only_reject(portfolio, "usage")
    assert reject["row"] == 2 and reject["reason"].startswith("period is after 2100-12-31")


def test_the_date_window_is_configurable(tmp_path):
    rows = [{"account_id": "A1", "name": "Alpha", "arr": "1000", "contract_start": "1975-06-01"}]
    folder = make_folder(tmp_path, {"accounts.csv": rows})
    assert len(read_portfolio(folder).rejects) == 1
    wider = limits_from_mapping({"earliest_date": "1950-01-01"})
    portfolio = read_portfolio(folder, limits=wider)
    assert portfolio.rejects.empty
    assert portfolio.tables["accounts"]["contract_start"].iloc[0] == pd.Timestamp("1975-06-01")


def test_a_sync_with_out_of_range_dates_commits_the_rest_and_scores(tmp_path, engine):
    """Before: 1700-01-01 committed and every scoring failed (OverflowError); 9999-12-31,
    0001-01-01 and 2263-01-01 aborted the whole sync (OutOfBoundsDatetime)."""
    folder = make_folder(
        tmp_path,
        {
            "accounts.csv": [
                {"account_id": "A1", "name": "Alpha", "arr": "90000", "renewal_date": "1700-01-01"},
                {"account_id": "A2", "name": "Beta", "arr": "30000", "renewal_date": "9999-12-31"},
                {
                    "account_id": "A3",
                    "name": "Gamma",
                    "arr": "5000",
                    "last_renewal_date": "2263-01-01",
                },
                {
                    "account_id": "A4",
                    "name": "Delta",
                    "arr": "7000",
                    "contract_start": "0001-01-01",
                },
                {"account_id": "A5", "name": "Eps", "arr": "8000", "renewal_date": "2027-01-31"},
            ]
        },
    )
    report = pipeline.sync_folder(engine, folder, source="files")
    assert report.run.status == "succeeded" and report.run.rows_rejected == 3
    assert sorted(store.load_tables(engine)["accounts"]["account_id"]) == ["A2", "A5"]
    pipeline.score(engine, as_of=AS_OF)
    result = pipeline.find(engine, "", as_of=AS_OF)
    assert result.summary["accounts_analyzed"] == 2


def test_a_stored_out_of_range_date_costs_its_account_the_date_not_the_book_its_scoring(
    tmp_path, engine, caplog
):
    """Rows an older release stored (it accepted any date pandas could hold): before, one
    account renewing in 1700 failed every scoring with an OverflowError."""
    folder = tmp_path / "old"
    shutil.copytree(pipeline.SAMPLE_PORTFOLIO, folder)
    accounts = pd.read_csv(folder / "accounts.csv", dtype=str, keep_default_na=False)
    accounts.loc[0, "Contract End Date"] = "1700-01-01"
    accounts.to_csv(folder / "accounts.csv", index=False)
    bad = accounts.loc[0, "Account ID"]
    # The old release's validation, which took 1700 for a date (not a valid setting now).
    old_release = IngestLimits(earliest_date=date(1600, 1, 1))
    assert pipeline.sync_folder(engine, folder, limits=old_release).rejected == 0

    with caplog.at_level(logging.WARNING, logger="expansion.profile"):
        pipeline.score(engine, as_of=AS_OF)
    assert "1 accounts have a renewal_date outside 1900-01-01..2200-12-31" in caplog.text
    result = pipeline.find(engine, "", as_of=AS_OF)
    assert result.summary["accounts_analyzed"] == 44
    gaps = result.data_gaps
    assert bad in set(gaps.loc[gaps["gap"] == "no renewal date", "account_id"])


# --------------------------------------------------------------------------- 11. limits


def test_a_cell_longer_than_the_limit_rejects_its_row(tmp_path):
    rows = [
        {"account_id": "A1", "name": "N" * 10_001, "arr": "1000"},
        {"account_id": "A2", "name": "N" * 10_000, "arr": "2000"},
    ]
    portfolio = read(tmp_path, {"accounts.csv": rows})
    reject = only_reject(portfolio, "accounts")  # once: not again as a missing name
    assert reject["row"] == 2 and reject["column"] == "name"
    assert (
        reject["reason"] == "name is 10,001 characters long, more than the 10,000 a cell may hold"
    )
    assert len(reject["value"]) == ingest.REJECT_VALUE_CHARS and reject["value"].endswith("...")
    assert portfolio.tables["accounts"]["account_id"].tolist() == ["A2"]


def test_the_cell_limit_is_configurable_and_applies_to_every_column_kind(tmp_path):
    rows = [
        {"account_id": "A1", "name": "Alpha", "arr": "1" * 30, "renewal_date": "2027-01-01"},
        {"account_id": "A2", "name": "Beta", "arr": "2000", "renewal_date": " " * 5 + "x" * 25},
        {"account_id": "A3", "name": "Gamma", "arr": "3000"},
    ]
    folder = make_folder(tmp_path, {"accounts.json": rows})
    portfolio = read_portfolio(folder, limits=limits_from_mapping({"max_cell_chars": 20}))
    reasons = portfolio.rejects.set_index("row")["reason"].to_dict()
    assert reasons == {
        1: "arr is 30 characters long, more than the 20 a cell may hold",
        2: "renewal_date is 25 characters long, more than the 20 a cell may hold",
    }
    assert portfolio.tables["accounts"]["account_id"].tolist() == ["A3"]


def test_a_file_larger_than_the_limit_is_refused_before_it_is_read(tmp_path, synced, monkeypatch):
    before = stored_rows(synced)
    rows = [{"account_id": f"A{i}", "name": "x" * 40, "arr": "1000"} for i in range(40)]
    folder = make_folder(tmp_path, {"accounts.csv": rows})
    assert (folder / "accounts.csv").stat().st_size > 1048
    monkeypatch.setattr(pd, "read_csv", _must_not_run)
    with pytest.raises(ContractError) as refused:
        pipeline.sync_folder(
            synced, folder, source="files", limits=limits_from_mapping({"max_file_mb": 0.001})
        )
    assert "more than the 0.001 MB a file may be (max_file_mb under [ingest]" in str(refused.value)
    assert_unchanged(before, synced)


def _must_not_run(*args, **kwargs):
    raise AssertionError("the file was read")


def test_an_xlsx_is_measured_unzipped_before_openpyxl_loads_it(tmp_path, synced, monkeypatch):
    """Before: a 204 KB workbook holding a 200 MB cell committed it."""
    before = stored_rows(synced)
    folder = tmp_path / "book"
    folder.mkdir()
    workbook = Workbook()
    workbook.active.append(["account_id", "name", "arr"])
    for i in range(100):  # 3 MB of text, which zips to a few KB
        workbook.active.append([f"A{i}", "N" * 30_000, 1000])
    workbook.save(folder / "accounts.xlsx")
    assert (folder / "accounts.xlsx").stat().st_size < 100_000
    with zipfile.ZipFile(folder / "accounts.xlsx") as z:
        assert sum(m.file_size for m in z.infolist()) > 3_000_000
    monkeypatch.setattr(pd, "read_excel", _must_not_run)
    with pytest.raises(ContractError) as refused:
        pipeline.sync_folder(
            synced, folder, source="files", limits=limits_from_mapping({"max_xlsx_mb": 2})
        )
    assert "the workbook unzips to 2.9 MB, more than the 2 MB an xlsx may hold" in str(
        refused.value
    )
    assert_unchanged(before, synced)


@pytest.mark.parametrize("ext", ["csv", "tsv", "json", "jsonl", "xlsx"])
def test_a_file_with_more_rows_than_the_limit_is_refused(tmp_path, ext):
    rows = [{"account_id": f"A{i}", "name": "x", "arr": "1000"} for i in range(6)]
    folder = make_folder(tmp_path, {f"accounts.{ext}": rows})
    assert len(read_portfolio(folder, limits=limits_from_mapping({"max_rows": 6})).tables) == 1
    with pytest.raises(ContractError) as refused:
        read_portfolio(folder, limits=limits_from_mapping({"max_rows": 5}))
    assert "more than 5 rows, the most a table may have; split the export" in str(refused.value)


def test_an_xlsx_sheet_longer_than_excel_allows_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "XLSX_MAX_ROWS", 3)  # a sheet Excel could not have written
    rows = [{"account_id": f"A{i}", "name": "x", "arr": "1000"} for i in range(4)]
    folder = make_folder(tmp_path, {"accounts.xlsx": rows})
    with pytest.raises(ContractError, match="an Excel sheet holds at most"):
        read_portfolio(folder)


def test_rows_from_a_connector_are_held_to_the_row_limit(tmp_path):
    raw = {"accounts": ingest.raw_table([{"account_id": "A1", "name": "x", "arr": 1}] * 3, "crm")}
    with pytest.raises(ContractError, match="crm: the table has more than 2 rows"):
        ingest.validate(raw, limits=limits_from_mapping({"max_rows": 2}))


def test_the_rejects_report_is_capped_with_a_count_of_the_rest(tmp_path, engine):
    rows = [{"account_id": f"A{i}", "name": "x", "arr": "lots"} for i in range(10)]
    rows.append({"account_id": "OK", "name": "y", "arr": "1000"})
    folder = make_folder(tmp_path, {"accounts.csv": rows})
    path = tmp_path / "rejects.csv"
    report = pipeline.sync_folder(
        engine,
        folder,
        source="files",
        rejects_path=path,
        limits=limits_from_mapping({"max_rejects_written": 3}),
    )
    assert report.run.rows_rejected == 10 and report.rejected == 10
    with path.open(newline="", encoding="utf-8") as fh:
        lines = list(csv.DictReader(fh))
    assert [line["row"] for line in lines[:3]] == ["2", "3", "4"]
    assert len(lines) == 4
    assert lines[3]["reason"].startswith("... and 7 more reject lines not written")
    with engine.connect() as conn:
        kept = conn.execute(sa.select(sa.func.count()).select_from(store.SyncReject)).scalar()
    assert kept == 3


def test_ingest_settings_come_from_expansion_toml(tmp_path):
    path = tmp_path / "expansion.toml"
    path.write_text(
        "[scoring]\ntier1_top_n = 10\n\n[ingest]\nmax_cell_chars = 500\n"
        'earliest_date = 1980-01-01\nlatest_date = "2150-12-31"\nmax_file_mb = 1.5\n'
    )
    limits = load_limits(path)
    assert limits.max_cell_chars == 500 and limits.max_file_bytes == int(1.5 * 1024 * 1024)
    assert str(limits.earliest_date) == "1980-01-01" and str(limits.latest_date) == "2150-12-31"
    assert limits.max_rows == DEFAULT_LIMITS.max_rows
    for bad, message in (
        ("max_cells = 5", "unknown ingest setting 'max_cells'"),
        ("max_rows = 0", "ingest.max_rows must be more than 0"),
        ("max_rows = 2.5", "ingest.max_rows must be a whole number"),
        ('max_file_mb = "big"', "ingest.max_file_mb must be a number"),
        ("earliest_date = 1800-01-01", "must be two dates from 1900-01-01 to 2200-12-31"),
        ('latest_date = "soon"', "ingest.latest_date must be a date"),
    ):
        path.write_text(f"[ingest]\n{bad}\n")
        with pytest.raises(ConfigError, match=message):
            load_limits(path)


def test_the_cli_sync_reads_the_ingest_settings(tmp_path):
    from test_cli import cli

    rows = [
        {"account_id": "A1", "name": "Alpha", "arr": "1000"},
        {"account_id": "A2", "name": "Beta", "arr": "2000"},
    ]
    folder = make_folder(tmp_path, {"accounts.csv": rows})
    (tmp_path / "expansion.toml").write_text("[ingest]\nmax_cell_chars = 4\n")
    db = f"sqlite:///{tmp_path / 'x.db'}"
    done = cli(
        "sync", "--source", str(folder), "--db", db, "--config", "expansion.toml", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "name is 5 characters long, more than the 4 a cell may hold" in done.stdout


def test_headers_are_cut_in_what_a_sync_says(tmp_path):
    long = "H" * 5_000
    portfolio = read(tmp_path, {"accounts.csv": f"account_id,name,arr,{long}\nA1,x,1\n"})
    assert portfolio.ignored_columns == {"accounts": ["H" * 97 + "..."]}
    headers = ",".join(f"{long}{i}" for i in range(60))
    folder = make_folder(tmp_path / "many", {"accounts.csv": f"{headers}\n"})
    with pytest.raises(ContractError) as refused:
        read_portfolio(folder)
    message = str(refused.value)
    assert len(message) < 7_000 and message.endswith(", ... (10 more).")
