"""Tests of :mod:`expansion.ingest`: reading a folder of exports into validated tables.

Covers header aliases, value parsing (money, booleans, dates, counts, percents, enums), every
file type, contract errors, row-level rejects with their row numbers, derived defaults, and
the all-or-nothing behaviour of :func:`expansion.pipeline.sync_folder`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from expansion import store
from expansion.connectors import SourceError
from expansion.contract import normalize_header
from expansion.errors import ContractError, RejectedRowsError
from expansion.ingest import REJECT_COLUMNS, Portfolio, read_portfolio
from expansion.pipeline import sync_folder

# --------------------------------------------------------------------------- helpers

Rows = list[dict]

ACCOUNTS: Rows = [
    {"account_id": "A1", "name": "Alpha", "arr": "85000"},
    {"account_id": "A2", "name": "Beta", "arr": "30000"},
    {"account_id": "A3", "name": "Gamma", "arr": "5000"},
]


def _fieldnames(rows: Rows) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return list(names)


def write_table(folder: Path, filename: str, rows: Rows | dict | str) -> Path:
    """Write ``rows`` in the format named by ``filename``'s extension (a str is written as is)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    ext = filename.rsplit(".", 1)[1].lower()
    if isinstance(rows, str):
        path.write_text(rows, encoding="utf-8")
    elif ext in ("csv", "tsv"):
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(
                fh, fieldnames=_fieldnames(rows), delimiter="\t" if ext == "tsv" else ","
            )
            writer.writeheader()
            writer.writerows(rows)
    elif ext == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif ext == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif ext == "xlsx":
        workbook = Workbook()
        sheet = workbook.active
        names = _fieldnames(rows)
        sheet.append(names)
        for row in rows:
            sheet.append([row.get(n) for n in names])
        workbook.save(path)
    else:  # pragma: no cover - test helper misuse
        raise ValueError(filename)
    return path


def make_folder(root: Path, files: dict[str, Rows | dict | str], name: str = "portfolio") -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for filename, rows in files.items():
        write_table(folder, filename, rows)
    return folder


def read(root: Path, files: dict[str, Rows | dict | str]) -> Portfolio:
    return read_portfolio(make_folder(root, files))


def read_accounts(root: Path, rows: Rows, filename: str = "accounts.csv") -> Portfolio:
    return read(root, {filename: rows})


def rejects_of(portfolio: Portfolio, table: str) -> pd.DataFrame:
    frame = portfolio.rejects
    return frame[frame["table"] == table].reset_index(drop=True)


def only_reject(portfolio: Portfolio, table: str) -> dict:
    """The single reject of ``table`` (fails when there is not exactly one)."""
    rejects = rejects_of(portfolio, table)
    assert len(rejects) == 1, rejects.to_string()
    return rejects.iloc[0].to_dict()


def account(portfolio: Portfolio, account_id: str) -> dict:
    accounts = portfolio.tables["accounts"]
    match = accounts[accounts["account_id"] == account_id]
    assert len(match) == 1, accounts.to_string()
    return match.iloc[0].to_dict()


def ids(portfolio: Portfolio, table: str = "accounts") -> list[str]:
    return portfolio.tables[table]["account_id"].tolist()


def with_accounts(**files: Rows | dict | str) -> dict[str, Rows | dict | str]:
    """The three base accounts plus ``files`` (keyword ``usage_csv`` -> ``usage.csv``)."""
    out: dict[str, Rows | dict | str] = {"accounts.csv": ACCOUNTS}
    out.update({key.replace("_", "."): rows for key, rows in files.items()})
    return out


# --------------------------------------------------------------------------- 1. headers


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Account ID", "account_id"),
        ("Account-ID", "account_id"),
        ("  ACCOUNT   NAME ", "account_name"),
        ("Employee Growth %", "employee_growth_pct"),
        ("employee-growth-%", "employee_growth_pct"),
        ("Contract End Date", "contract_end_date"),
        ("Tickets # 90d", "tickets_number_90d"),
    ],
)
def test_normalize_header(header, expected):
    assert normalize_header(header) == expected


@pytest.mark.parametrize(
    "row",
    [
        {"account_id": "A1", "name": "Alpha", "arr": "85000"},
        {"Account ID": "A1", "Account Name": "Alpha", "ARR": "85000"},
        {"Record ID": "A1", "Company name": "Alpha", "Annual Recurring Revenue": "85000"},
        {"ACCOUNT-ID": "A1", "company-name": "Alpha", " Arr ": "85000"},
        {"account id": "A1", "ACCOUNT NAME": "Alpha", "MRR": "7083.3333"},
        {"Customer ID": "A1", "Customer": "Alpha", "Monthly Recurring Revenue": "$7,083.3333"},
    ],
    ids=["canonical", "title-case", "record-id", "case-and-dashes", "mrr", "monthly-rr"],
)
def test_required_account_headers_accept_aliases(tmp_path, row):
    portfolio = read_accounts(tmp_path, [row])

    assert portfolio.rejects.empty
    assert account(portfolio, "A1")["name"] == "Alpha"
    assert account(portfolio, "A1")["arr"] == pytest.approx(85000, abs=0.01)
    assert list(portfolio.tables["accounts"].columns[:3]) == ["account_id", "name", "arr"]


@pytest.mark.parametrize(
    ("header", "value", "column", "expected"),
    [
        ("Licenses", "120", "licensed_seats", 120),
        ("Seats", "120", "licensed_seats", 120),
        ("Active Users", "95", "active_seats", 95),
        ("active-users", "95", "active_seats", 95),
        ("CSM", "maya@example.com", "owner", "maya@example.com"),
        ("Account Owner", "maya@example.com", "owner", "maya@example.com"),
        ("Contract End Date", "2027-03-31", "renewal_date", pd.Timestamp("2027-03-31")),
        ("contract-end-date", "03/31/2027", "renewal_date", pd.Timestamp("2027-03-31")),
        ("Employee Growth %", "30", "employee_growth_pct", 30.0),
        ("EMPLOYEE GROWTH %", "-4.5%", "employee_growth_pct", -4.5),
        ("Health", "88", "health_score", 88.0),
        ("Customer Segment", "ENT", "segment", "enterprise"),
        ("Term", "Multi Year", "contract_term", "multi-year"),
    ],
)
def test_optional_account_headers_accept_aliases(tmp_path, header, value, column, expected):
    row = {"account_id": "A1", "name": "Alpha", "arr": "85000", header: value}
    portfolio = read_accounts(tmp_path, [row])

    assert portfolio.rejects.empty
    assert account(portfolio, "A1")[column] == expected
    assert portfolio.ignored_columns == {}


def test_mrr_fills_blank_arr_and_arr_wins_when_both_given(tmp_path):
    rows = [
        {"account_id": "A1", "name": "Alpha", "arr": "", "mrr": "1000"},
        {"account_id": "A2", "name": "Beta", "arr": "50000", "mrr": "1000"},
    ]
    portfolio = read_accounts(tmp_path, rows)

    assert portfolio.rejects.empty
    assert account(portfolio, "A1")["arr"] == 12_000
    assert account(portfolio, "A2")["arr"] == 50_000


def test_account_without_arr_or_mrr_value_is_rejected(tmp_path):
    rows = [
        {"account_id": "A1", "name": "Alpha", "arr": "", "mrr": ""},
        {"account_id": "A2", "name": "Beta", "arr": "", "mrr": "100"},
    ]
    portfolio = read_accounts(tmp_path, rows)

    reject = only_reject(portfolio, "accounts")
    assert (reject["row"], reject["column"]) == (2, "arr")
    assert "missing arr" in reject["reason"]
    assert ids(portfolio) == ["A2"]


def test_child_table_headers_accept_aliases(tmp_path):
    usage = [{"Account ID": "A1", "Metric": "api_calls", "Month": "2026-05", "Usage": "900"}]
    usage[0]["Quota"] = "1,000"
    features = [{"Record ID": "A1", "Feature Name": "sso", "Has Access": "yes", "Adopted": "no"}]
    portfolio = read(tmp_path, with_accounts(usage_csv=usage, features_csv=features))

    assert portfolio.rejects.empty
    got_usage = portfolio.tables["usage"].iloc[0]
    assert got_usage["metric"] == "api_calls"
    assert got_usage["period"] == pd.Timestamp("2026-05-01")
    assert (got_usage["value"], got_usage["limit"]) == (900.0, 1000.0)
    got_feature = portfolio.tables["features"].iloc[0]
    assert (got_feature["feature"], got_feature["entitled"], got_feature["used"]) == (
        "sso",
        True,
        False,
    )


# --------------------------------------------------------------------------- 2. money


MONEY_FORMATS = {
    "$85,000": 85_000,
    "85000": 85_000,
    "85K": 85_000,
    "85k": 85_000,
    "1.2M": 1_200_000,
    "1.2m": 1_200_000,
    " $1,200.50 ": 1_200.50,
    "85000.00": 85_000,
    "USD 85,000": 85_000,
    "€85,000": 85_000,
    "2b": 2_000_000_000,
}


def test_money_formats(tmp_path):
    """One account per spelling; the account id is the spelling's position."""
    rows = [
        {"account_id": f"M{i}", "name": f"Money {i}", "arr": text}
        for i, text in enumerate(MONEY_FORMATS)
    ]
    portfolio = read_accounts(tmp_path, rows)

    assert portfolio.rejects.empty
    got = dict(zip(MONEY_FORMATS, portfolio.tables["accounts"]["arr"], strict=True))
    assert got == pytest.approx(MONEY_FORMATS)


def test_money_formats_in_every_money_column(tmp_path):
    catalog = [{"product_id": "P1", "name": "Pro", "price_per_seat": "$1,200", "price": "1.5K"}]
    subscriptions = [{"account_id": "A1", "product_id": "P1", "arr": "$85K"}]
    signals = [{"account_id": "A1", "kind": "funding", "amount": "$20M"}]
    portfolio = read(
        tmp_path,
        with_accounts(catalog_csv=catalog, subscriptions_csv=subscriptions, signals_csv=signals),
    )

    assert portfolio.rejects.empty
    product = portfolio.tables["catalog"].iloc[0]
    assert (product["price_per_seat"], product["annual_price"]) == (1_200.0, 1_500.0)
    assert portfolio.tables["subscriptions"].iloc[0]["arr"] == 85_000.0
    assert portfolio.tables["signals"].iloc[0]["amount"] == 20_000_000.0


@pytest.mark.parametrize("text", ["eighty", "85KK", "$", "12-000", "1.2.3"])
def test_non_numeric_money_is_rejected_with_row_and_column(tmp_path, text):
    rows = [*ACCOUNTS[:1], {"account_id": "A2", "name": "Beta", "arr": text}, ACCOUNTS[2]]
    portfolio = read_accounts(tmp_path, rows)

    reject = only_reject(portfolio, "accounts")
    assert reject["file"] == "accounts.csv"
    assert reject["row"] == 3  # header is row 1
    assert reject["column"] == "arr"
    assert reject["value"] == text
    assert "arr is not an amount of money" in reject["reason"]
    assert ids(portfolio) == ["A1", "A3"]


def test_non_numeric_mrr_is_rejected_naming_mrr(tmp_path):
    portfolio = read_accounts(tmp_path, [{"account_id": "A1", "name": "Alpha", "MRR": "lots"}])

    reject = only_reject(portfolio, "accounts")
    assert reject["column"] == "mrr"
    assert "mrr" in reject["reason"]
    assert portfolio.tables["accounts"].empty


@pytest.mark.parametrize("text", ["-5000", "-85K", "$-1,000"])
def test_negative_money_is_rejected(tmp_path, text):
    rows = [{"account_id": "A1", "name": "Alpha", "arr": text}, ACCOUNTS[1]]
    portfolio = read_accounts(tmp_path, rows)

    reject = only_reject(portfolio, "accounts")
    assert (reject["row"], reject["column"]) == (2, "arr")
    assert reject["reason"] == "arr is negative"
    assert ids(portfolio) == ["A2"]


# --------------------------------------------------------------------------- 3. booleans


BOOLEANS = {
    "true": True,
    "TRUE": True,
    "yes": True,
    "Yes": True,
    "1": True,
    "y": True,
    "false": False,
    "False": False,
    "no": False,
    "NO": False,
    "0": False,
    "n": False,
}


def test_feature_booleans(tmp_path):
    features = [
        {"account_id": "A1", "feature": f"f{i}", "entitled": text, "used": f" {text} "}
        for i, text in enumerate(BOOLEANS)
    ]
    portfolio = read(tmp_path, with_accounts(features_csv=features))

    assert portfolio.rejects.empty
    frame = portfolio.tables["features"]
    assert dict(zip(BOOLEANS, map(bool, frame["entitled"]), strict=True)) == BOOLEANS
    assert dict(zip(BOOLEANS, map(bool, frame["used"]), strict=True)) == BOOLEANS


def test_blank_boolean_is_missing_not_rejected(tmp_path):
    features = [{"account_id": "A1", "feature": "sso", "entitled": "", "used": "yes"}]
    portfolio = read(tmp_path, with_accounts(features_csv=features))

    assert portfolio.rejects.empty
    assert pd.isna(portfolio.tables["features"].iloc[0]["entitled"])


@pytest.mark.parametrize("text", ["maybe", "2", "si"])
def test_bad_boolean_is_rejected(tmp_path, text):
    features = [
        {"account_id": "A1", "feature": "sso", "entitled": "yes"},
        {"account_id": "A1", "feature": "audit_log", "entitled": text},
    ]
    portfolio = read(tmp_path, with_accounts(features_csv=features))

    reject = only_reject(portfolio, "features")
    assert (reject["file"], reject["row"], reject["column"]) == ("features.csv", 3, "entitled")
    assert reject["value"] == text
    assert "entitled is not a boolean" in reject["reason"]
    assert portfolio.tables["features"]["feature"].tolist() == ["sso"]


# --------------------------------------------------------------------------- 4. file types

FORMAT_ROWS: Rows = [
    {"Account ID": "A1", "Account Name": "Alpha", "ARR": "$85,000", "Licenses": "100"},
    {"Account ID": "A2", "Account Name": "Beta", "ARR": "eighty", "Licenses": "10"},
    {"Account ID": "A3", "Account Name": "Gamma", "ARR": "5K", "Licenses": "5"},
]


@pytest.mark.parametrize(
    ("ext", "bad_row"),
    [("csv", 3), ("tsv", 3), ("xlsx", 3), ("json", 2), ("jsonl", 2)],
)
def test_every_file_type_is_read_with_its_row_numbers(tmp_path, ext, bad_row):
    portfolio = read_accounts(tmp_path, FORMAT_ROWS, filename=f"accounts.{ext}")

    accounts = portfolio.tables["accounts"]
    assert accounts["account_id"].tolist() == ["A1", "A3"]
    assert accounts["name"].tolist() == ["Alpha", "Gamma"]
    assert accounts["arr"].tolist() == [85_000.0, 5_000.0]
    assert accounts["licensed_seats"].tolist() == [100, 5]
    reject = only_reject(portfolio, "accounts")
    assert (reject["file"], reject["row"], reject["column"]) == (f"accounts.{ext}", bad_row, "arr")
    assert portfolio.rows_read == {"accounts": 3}
    assert portfolio.files["accounts"].endswith(f"accounts.{ext}")


def test_json_native_types_are_parsed(tmp_path):
    records = [
        {"account_id": "A1", "name": "Alpha", "arr": 85000, "health_score": 88.5, "seats": 120},
        {"account_id": "A2", "name": "Beta", "arr": 1.2e6, "health_score": None, "seats": None},
    ]
    features = [{"account_id": "A1", "feature": "sso", "entitled": True, "used": False}]
    portfolio = read(tmp_path, {"accounts.json": records, "features.json": features})

    assert portfolio.rejects.empty
    assert account(portfolio, "A1")["arr"] == 85_000
    assert account(portfolio, "A1")["health_score"] == 88.5
    assert account(portfolio, "A1")["licensed_seats"] == 120
    assert account(portfolio, "A2")["arr"] == 1_200_000
    assert pd.isna(account(portfolio, "A2")["health_score"])
    feature = portfolio.tables["features"].iloc[0]
    assert (bool(feature["entitled"]), bool(feature["used"])) == (True, False)


@pytest.mark.parametrize("key", ["accounts", "data", "records"])
def test_json_envelope_with_one_list_is_accepted(tmp_path, key):
    envelope = {key: ACCOUNTS, "count": 3, "next": None}
    portfolio = read_accounts(tmp_path, envelope, filename="accounts.json")

    assert portfolio.rejects.empty
    assert ids(portfolio) == ["A1", "A2", "A3"]


@pytest.mark.parametrize(
    "document",
    [
        {"accounts": ACCOUNTS, "more": ACCOUNTS},
        {"account_id": "A1", "name": "Alpha", "arr": "5"},
        {},
        "just a string",
        42,
    ],
    ids=["two-lists", "single-object", "empty-object", "string", "number"],
)
def test_json_that_is_not_an_array_of_objects_is_a_contract_error(tmp_path, document):
    folder = make_folder(tmp_path, {"accounts.json": json.dumps(document)})

    with pytest.raises(ContractError, match="expected a JSON array of objects") as info:
        read_portfolio(folder)
    assert info.value.file.endswith("accounts.json")
    assert info.value.exit_code == 2


def test_json_array_item_that_is_not_an_object_is_rejected(tmp_path):
    records = [ACCOUNTS[0], ["A2", "Beta", "30000"], "A9", ACCOUNTS[2]]
    portfolio = read_accounts(tmp_path, records, filename="accounts.json")

    rejects = rejects_of(portfolio, "accounts")
    assert rejects["row"].tolist() == [2, 3]
    assert set(rejects["file"]) == {"accounts.json"}
    assert rejects["reason"].str.contains("not a JSON object").all()
    assert ids(portfolio) == ["A1", "A3"]
    assert portfolio.rows_read == {"accounts": 4}


def test_jsonl_broken_line_is_rejected_with_its_line_number(tmp_path):
    lines = [
        json.dumps(ACCOUNTS[0]),
        '{"account_id": "A2", "name": "Beta", "arr": ',  # line 2: truncated
        "",  # line 3: blank lines are skipped but still counted
        json.dumps(ACCOUNTS[2]),
        json.dumps({"account_id": "A4", "name": "Delta", "arr": "eighty"}),  # line 5
        "[1, 2]",  # line 6: valid JSON, not an object
    ]
    portfolio = read_accounts(tmp_path, "\n".join(lines) + "\n", filename="accounts.jsonl")

    rejects = rejects_of(portfolio, "accounts")
    assert rejects["row"].tolist() == [2, 5, 6]
    broken, bad_arr, not_object = (rejects.iloc[i] for i in range(3))
    assert "not valid JSON" in broken["reason"]
    assert broken["value"].startswith('{"account_id": "A2"')
    assert bad_arr["column"] == "arr"
    assert "not a JSON object" in not_object["reason"]
    assert ids(portfolio) == ["A1", "A3"]
    assert portfolio.rows_read == {"accounts": 5}


def test_xlsx_reads_the_first_sheet_with_native_cells(tmp_path):
    folder = tmp_path / "portfolio"
    folder.mkdir()
    workbook = Workbook()
    first = workbook.active
    first.title = "Accounts"
    first.append(["Account ID", "Account Name", "ARR", "Contract End Date", "Licenses"])
    first.append(["A1", "Alpha", 85000, pd.Timestamp("2027-03-31").to_pydatetime(), 120])
    first.append(["A2", "Beta", "$30,000", "2027-01-15", 40.0])
    second = workbook.create_sheet("Notes")
    second.append(["account_id", "name", "arr"])
    second.append(["ZZ", "Not me", "1"])
    workbook.save(folder / "accounts.xlsx")

    portfolio = read_portfolio(folder)

    assert portfolio.rejects.empty
    assert ids(portfolio) == ["A1", "A2"]
    assert account(portfolio, "A1")["arr"] == 85_000
    assert account(portfolio, "A1")["renewal_date"] == pd.Timestamp("2027-03-31")
    assert account(portfolio, "A1")["licensed_seats"] == 120
    assert account(portfolio, "A2")["arr"] == 30_000
    assert account(portfolio, "A2")["renewal_date"] == pd.Timestamp("2027-01-15")
    assert account(portfolio, "A2")["licensed_seats"] == 40


def test_tsv_and_mixed_file_types_in_one_folder(tmp_path):
    usage = [{"account_id": "A1", "metric": "api_calls", "period": "2026-05", "value": 10}]
    signals = [{"account_id": "A2", "kind": "hiring", "date": "2026-04-01"}]
    portfolio = read(
        tmp_path,
        {"accounts.tsv": ACCOUNTS, "usage.jsonl": usage, "signals.xlsx": signals},
    )

    assert portfolio.rejects.empty
    assert ids(portfolio) == ["A1", "A2", "A3"]
    assert ids(portfolio, "usage") == ["A1"]
    assert portfolio.tables["signals"].iloc[0]["date"] == pd.Timestamp("2026-04-01")


def test_utf8_bom_csv_header_is_recognised(tmp_path):
    folder = tmp_path / "portfolio"
    folder.mkdir()
    (folder / "accounts.csv").write_text(
        "Account ID,Account Name,ARR\nA1,Alpha,85000\n", encoding="utf-8-sig"
    )

    portfolio = read_portfolio(folder)

    assert ids(portfolio) == ["A1"]


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        ("accounts.json", b'[{"account_id": "A1", '),
        ("accounts.xlsx", b"this is not a zip file"),
        ("accounts.csv", "account_id,name,arr\nA1,Caf\u00e9,5\n".encode("latin-1")),
    ],
    ids=["truncated-json", "fake-xlsx", "latin-1-csv"],
)
def test_unreadable_file_is_a_contract_error(tmp_path, filename, content):
    folder = tmp_path / "portfolio"
    folder.mkdir()
    (folder / filename).write_bytes(content)

    with pytest.raises(ContractError) as info:
        read_portfolio(folder)
    assert filename in str(info.value)
    assert info.value.file.endswith(filename)


def test_files_of_other_types_and_names_are_ignored(tmp_path):
    folder = make_folder(
        tmp_path,
        {
            "accounts.csv": ACCOUNTS,
            "accounts.txt": "not a table file",
            "notes.csv": [{"a": "b"}],
            "accounts.backup.csv": ACCOUNTS[:1],
        },
    )

    portfolio = read_portfolio(folder)

    assert set(portfolio.tables) == {"accounts"}
    assert ids(portfolio) == ["A1", "A2", "A3"]


def test_table_file_names_are_case_insensitive(tmp_path):
    portfolio = read(tmp_path, {"Accounts.CSV": ACCOUNTS})

    assert ids(portfolio) == ["A1", "A2", "A3"]


# --------------------------------------------------------------------------- 5. contract errors


def test_missing_folder_is_a_contract_error(tmp_path):
    with pytest.raises(ContractError, match="no such folder"):
        read_portfolio(tmp_path / "nowhere")


def test_missing_accounts_file_is_a_contract_error(tmp_path):
    usage = [{"account_id": "A1", "metric": "m", "period": "2026-01", "value": "1"}]
    folder = make_folder(tmp_path, {"usage.csv": usage})

    with pytest.raises(ContractError, match="accounts") as info:
        read_portfolio(folder)
    assert "required file 'accounts' is missing" in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("filename", "rows", "column"),
    [
        ("accounts.csv", [{"account_id": "A1", "arr": "5"}], "name"),
        ("accounts.json", [{"name": "Alpha", "arr": "5"}], "account_id"),
        ("accounts.xlsx", [{"account_id": "A1", "name": "Alpha", "seats": "5"}], "arr"),
        ("usage.csv", [{"account_id": "A1", "period": "2026-01", "value": "1"}], "metric"),
        ("usage.jsonl", [{"account_id": "A1", "metric": "m", "value": "1"}], "period"),
        ("features.tsv", [{"account_id": "A1", "entitled": "yes"}], "feature"),
        ("signals.csv", [{"account_id": "A1", "date": "2026-01-01"}], "kind"),
        ("catalog.csv", [{"name": "Pro"}], "product_id"),
        ("subscriptions.csv", [{"account_id": "A1", "quantity": "1"}], "product_id"),
        ("departments.csv", [{"account_id": "A1", "seats": "1"}], "department"),
    ],
)
def test_missing_required_column_is_a_contract_error(tmp_path, filename, rows, column):
    files: dict[str, Rows | dict | str] = {filename: rows}
    if not filename.startswith("accounts"):
        files["accounts.csv"] = ACCOUNTS
    folder = make_folder(tmp_path, files)

    with pytest.raises(ContractError) as info:
        read_portfolio(folder)
    message = str(info.value)
    assert filename in message
    assert f"required column '{column}'" in message
    assert info.value.column == column
    assert info.value.file.endswith(filename)
    assert info.value.exit_code == 2


def test_missing_required_column_message_lists_accepted_and_found_headers(tmp_path):
    folder = make_folder(tmp_path, {"accounts.csv": [{"Account ID": "A1", "ARR": "5"}]})

    with pytest.raises(ContractError) as info:
        read_portfolio(folder)
    message = str(info.value)
    assert "company_name" in message  # an accepted spelling
    assert "Headers found: Account ID, ARR." in message


@pytest.mark.parametrize(
    "files",
    [
        {"accounts.csv": ACCOUNTS, "accounts.json": ACCOUNTS},
        {"accounts.csv": ACCOUNTS, "accounts.xlsx": ACCOUNTS},
        {"accounts.csv": ACCOUNTS, "usage.csv": "", "usage.jsonl": ""},
    ],
    ids=["accounts-csv-json", "accounts-csv-xlsx", "usage-csv-jsonl"],
)
def test_two_files_for_one_table_is_a_contract_error(tmp_path, files):
    folder = make_folder(tmp_path, files)

    with pytest.raises(ContractError, match="more than one file") as info:
        read_portfolio(folder)
    table = list(files)[-1].split(".")[0]
    assert f"table '{table}'" in str(info.value)
    for name in (n for n in files if n.startswith(table)):
        assert name in str(info.value)
    assert info.value.exit_code == 2


# --------------------------------------------------------------------------- 6. bad rows


@pytest.mark.parametrize(
    ("filename", "good", "bad"),
    [
        (
            "usage.csv",
            {"account_id": "A1", "metric": "seats", "period": "2026-05", "value": "10"},
            {"account_id": "ZZ", "metric": "seats", "period": "2026-05", "value": "10"},
        ),
        (
            "signals.csv",
            {"account_id": "A1", "kind": "hiring"},
            {"account_id": "ZZ", "kind": "hiring"},
        ),
        (
            "features.json",
            {"account_id": "A1", "feature": "sso", "entitled": "yes"},
            {"account_id": "ZZ", "feature": "sso", "entitled": "yes"},
        ),
        (
            "departments.jsonl",
            {"account_id": "A1", "department": "Sales", "seats": "10"},
            {"account_id": "ZZ", "department": "Sales", "seats": "10"},
        ),
        (
            "subscriptions.tsv",
            {"account_id": "A1", "product_id": "P1", "quantity": "10"},
            {"account_id": "ZZ", "product_id": "P1", "quantity": "10"},
        ),
    ],
)
def test_unknown_account_id_in_child_table_is_rejected(tmp_path, filename, good, bad):
    table = filename.split(".")[0]
    portfolio = read(tmp_path, {"accounts.csv": ACCOUNTS, filename: [good, bad]})

    reject = only_reject(portfolio, table)
    first_data_row = 1 if filename.endswith(("json", "jsonl")) else 2
    assert reject["file"] == filename
    assert reject["row"] == first_data_row + 1
    assert reject["column"] == "account_id"
    assert reject["value"] == "ZZ"
    assert reject["reason"] == "unknown account_id 'ZZ' (not in accounts)"
    assert ids(portfolio, table) == ["A1"]


def test_subscription_with_unknown_product_is_rejected_when_catalog_given(tmp_path):
    catalog = [{"product_id": "P1", "name": "Pro"}]
    subscriptions = [
        {"account_id": "A1", "product_id": "P1"},
        {"account_id": "A2", "product_id": "P9"},
    ]
    portfolio = read(tmp_path, with_accounts(catalog_csv=catalog, subscriptions_csv=subscriptions))

    reject = only_reject(portfolio, "subscriptions")
    assert (reject["row"], reject["column"]) == (3, "product_id")
    assert "unknown product_id 'P9'" in reject["reason"]
    assert ids(portfolio, "subscriptions") == ["A1"]


def test_duplicate_account_id_rejects_the_second_and_names_the_first_row(tmp_path):
    rows = [*ACCOUNTS, {"account_id": "A2", "name": "Beta again", "arr": "1"}]
    portfolio = read_accounts(tmp_path, rows)

    reject = only_reject(portfolio, "accounts")
    assert (reject["row"], reject["column"], reject["value"]) == (5, "account_id", "A2")
    assert "duplicate account_id 'A2'" in reject["reason"]
    assert "first on row 3" in reject["reason"]
    assert ids(portfolio) == ["A1", "A2", "A3"]
    assert account(portfolio, "A2")["name"] == "Beta"


def test_duplicate_composite_key_in_usage_is_rejected(tmp_path):
    usage = [
        {"account_id": "A1", "metric": "api_calls", "period": "2026-05", "value": "1"},
        {"account_id": "A1", "metric": "api_calls", "period": "2026-06", "value": "2"},
        {"account_id": "A1", "metric": "api_calls", "period": "2026-05-01", "value": "3"},
    ]
    portfolio = read(tmp_path, with_accounts(usage_csv=usage))

    reject = only_reject(portfolio, "usage")
    assert reject["row"] == 4
    assert reject["column"] == "account_id / metric / period"
    assert "first on row 2" in reject["reason"]
    assert portfolio.tables["usage"]["value"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("filename", "row", "column"),
    [
        ("accounts.csv", {"licensed_seats": "-5"}, "licensed_seats"),
        ("accounts.csv", {"Active Users": "-1"}, "active_seats"),
        ("departments.csv", {"department": "Sales", "seats": "-10"}, "seats"),
        ("subscriptions.csv", {"product_id": "P1", "quantity": "-2"}, "quantity"),
    ],
)
def test_negative_counts_are_rejected(tmp_path, filename, row, column):
    table = filename.split(".")[0]
    if table == "accounts":
        rows = [ACCOUNTS[0], {**ACCOUNTS[1], **row}]
        files: dict[str, Rows | dict | str] = {filename: rows}
    else:
        files = with_accounts(**{filename.replace(".", "_"): [{"account_id": "A2", **row}]})
    portfolio = read(tmp_path, files)

    reject = only_reject(portfolio, table)
    assert (reject["row"], reject["column"]) == (3 if table == "accounts" else 2, column)
    assert reject["reason"] == f"{column} is negative"
    assert "A2" not in ids(portfolio, table)


@pytest.mark.parametrize(
    ("text", "reason"), [("12.5", "not a whole number"), ("many", "not a number")]
)
def test_bad_counts_are_rejected(tmp_path, text, reason):
    rows = [{"account_id": "A1", "name": "Alpha", "arr": "5", "seats": text}]
    portfolio = read_accounts(tmp_path, rows)

    reject = only_reject(portfolio, "accounts")
    assert reject["column"] == "licensed_seats"
    assert reason in reject["reason"]


@pytest.mark.parametrize(
    ("filename", "row", "column"),
    [
        ("accounts.csv", {"renewal_date": "next spring"}, "renewal_date"),
        ("accounts.csv", {"Contract Start": "2026-02-30"}, "contract_start"),
        ("signals.csv", {"kind": "hiring", "date": "next spring"}, "date"),
        ("usage.csv", {"metric": "m", "value": "1", "period": "next spring"}, "period"),
    ],
)
def test_unparseable_dates_are_rejected(tmp_path, filename, row, column):
    table = filename.split(".")[0]
    if table == "accounts":
        files: dict[str, Rows | dict | str] = {filename: [{**ACCOUNTS[0], **row}]}
    else:
        files = with_accounts(**{filename.replace(".", "_"): [{"account_id": "A1", **row}]})
    portfolio = read(tmp_path, files)

    reject = only_reject(portfolio, table)
    assert (reject["row"], reject["column"]) == (2, column)
    assert reject["value"] == list(row.values())[-1]
    assert f"{column} is not a date" in reject["reason"]
    assert portfolio.tables[table].empty


DATE_SPELLINGS = [
    "2027-03-31",
    "2027-03-31T12:30:00",
    "03/31/2027",
    "31 Mar 2027",
    "March 31, 2027",
    " 2027-03-31 ",
]


def test_date_spellings(tmp_path):
    rows = [
        {**ACCOUNTS[0], "account_id": f"D{i}", "renewal_date": text}
        for i, text in enumerate(DATE_SPELLINGS)
    ]
    portfolio = read_accounts(tmp_path, rows)

    assert portfolio.rejects.empty
    assert set(portfolio.tables["accounts"]["renewal_date"]) == {pd.Timestamp("2027-03-31")}


@pytest.mark.parametrize("text", ["120", "-1", "100.5"])
def test_percent_out_of_range_is_rejected(tmp_path, text):
    portfolio = read_accounts(tmp_path, [{**ACCOUNTS[0], "health": text}, ACCOUNTS[1]])

    reject = only_reject(portfolio, "accounts")
    assert (reject["row"], reject["column"], reject["value"]) == (2, "health_score", text)
    assert reject["reason"] == "health_score is outside 0-100"
    assert ids(portfolio) == ["A2"]


def test_percent_in_range_is_accepted(tmp_path):
    texts = {"0": 0.0, "100": 100.0, "85%": 85.0, "99.5": 99.5, "": None}
    rows = [
        {**ACCOUNTS[0], "account_id": f"P{i}", "health_score": text} for i, text in enumerate(texts)
    ]
    portfolio = read_accounts(tmp_path, rows)

    assert portfolio.rejects.empty
    got = portfolio.tables["accounts"]["health_score"].tolist()
    assert got[:4] == list(texts.values())[:4]
    assert pd.isna(got[4])


def test_feature_adoption_out_of_range_is_rejected(tmp_path):
    features = [{"account_id": "A1", "feature": "sso", "adoption_pct": "150"}]
    portfolio = read(tmp_path, with_accounts(features_csv=features))

    reject = only_reject(portfolio, "features")
    assert reject["column"] == "adoption_pct"
    assert "outside 0-100" in reject["reason"]


@pytest.mark.parametrize(
    ("column", "text"),
    [("segment", "huge"), ("status", "churned"), ("channel", "carrier pigeon")],
)
def test_invalid_enum_value_is_rejected(tmp_path, column, text):
    portfolio = read_accounts(tmp_path, [ACCOUNTS[0], {**ACCOUNTS[1], column: text}])

    reject = only_reject(portfolio, "accounts")
    assert (reject["row"], reject["column"], reject["value"]) == (3, column, text)
    assert f"{column} is not one of" in reject["reason"]
    assert ids(portfolio) == ["A1"]


ENUM_SPELLINGS = [
    ("segment", "Enterprise", "enterprise"),
    ("segment", "ENT", "enterprise"),
    ("segment", "Mid Market", "mid-market"),
    ("segment", "MM", "mid-market"),
    ("segment", "small business", "smb"),
    ("status", "Customer", "paying"),
    ("status", "trial", "trial"),
    ("status", "FREE", "free"),
    ("channel", "Reseller", "partner"),
    ("engagement", "med", "medium"),
    ("contract_term", "month-to-month", "monthly"),
    ("contract_term", "Yearly", "annual"),
]


def test_enum_synonyms_are_normalised(tmp_path):
    rows = [
        {**ACCOUNTS[0], "account_id": f"E{i}", column: text}
        for i, (column, text, _) in enumerate(ENUM_SPELLINGS)
    ]
    portfolio = read_accounts(tmp_path, rows)

    assert portfolio.rejects.empty
    accounts = portfolio.tables["accounts"].set_index("account_id")
    got = [accounts.loc[f"E{i}", column] for i, (column, _, _) in enumerate(ENUM_SPELLINGS)]
    assert got == [expected for _, _, expected in ENUM_SPELLINGS]


def test_missing_required_value_is_rejected(tmp_path):
    rows = [ACCOUNTS[0], {"account_id": "", "name": "Nobody", "arr": "5"}]
    rows.append({"account_id": "A3", "name": " ", "arr": "5"})
    portfolio = read_accounts(tmp_path, rows)

    rejects = rejects_of(portfolio, "accounts")
    assert rejects[["row", "column"]].values.tolist() == [[3, "account_id"], [4, "name"]]
    assert rejects["reason"].tolist() == ["missing account_id", "missing name"]
    assert ids(portfolio) == ["A1"]


def test_child_rows_of_a_rejected_account_are_rejected(tmp_path):
    accounts = [ACCOUNTS[0], {**ACCOUNTS[1], "arr": "eighty"}, ACCOUNTS[2]]
    usage = [
        {"account_id": "A1", "metric": "m", "period": "2026-05", "value": "1"},
        {"account_id": "A2", "metric": "m", "period": "2026-05", "value": "1"},
    ]
    signals = [{"account_id": "A2", "kind": "hiring"}, {"account_id": "A3", "kind": "hiring"}]
    portfolio = read(
        tmp_path, {"accounts.csv": accounts, "usage.csv": usage, "signals.jsonl": signals}
    )

    assert ids(portfolio) == ["A1", "A3"]
    for table, row, remaining in (("usage", 3, ["A1"]), ("signals", 1, ["A3"])):
        reject = only_reject(portfolio, table)
        assert (reject["row"], reject["column"], reject["value"]) == (row, "account_id", "A2")
        assert reject["reason"] == "account_id 'A2' was rejected in accounts"
        assert ids(portfolio, table) == remaining


def test_every_problem_of_a_row_is_reported(tmp_path):
    rows = [{"account_id": "A1", "name": "Alpha", "arr": "-5", "health": "120", "seats": "x"}]
    portfolio = read_accounts(tmp_path, rows)

    rejects = rejects_of(portfolio, "accounts")
    assert set(rejects["column"]) == {"arr", "health_score", "licensed_seats"}
    assert set(rejects["row"]) == {2}
    assert portfolio.summary().set_index("table").loc["accounts", "rejected"] == 1


def test_rejects_frame_shape_and_summary(tmp_path):
    accounts = [*ACCOUNTS, {"account_id": "A4", "name": "Delta", "arr": "bad"}]
    usage = [
        {"account_id": "A1", "metric": "m", "period": "2026-05", "value": "1"},
        {"account_id": "ZZ", "metric": "m", "period": "2026-05", "value": "1"},
    ]
    portfolio = read(tmp_path, {"accounts.csv": accounts, "usage.csv": usage})

    assert list(portfolio.rejects.columns) == REJECT_COLUMNS
    assert portfolio.rejects["row"].dtype.kind == "i"
    assert portfolio.rejects["table"].tolist() == ["accounts", "usage"]
    summary = portfolio.summary().set_index("table")
    assert summary.loc["accounts", ["read", "accepted", "rejected"]].tolist() == [4, 3, 1]
    assert summary.loc["usage", ["read", "accepted", "rejected"]].tolist() == [2, 1, 1]
    assert summary.loc["usage", "file"].endswith("usage.csv")
    assert portfolio.accepted == {"accounts": 3, "usage": 1}


def test_clean_portfolio_has_empty_rejects_and_canonical_columns(tmp_path):
    portfolio = read(tmp_path, with_accounts())

    assert portfolio.rejects.empty
    assert list(portfolio.rejects.columns) == REJECT_COLUMNS
    assert "_row" not in portfolio.tables["accounts"].columns
    assert portfolio.summary()["rejected"].tolist() == [0]


# --------------------------------------------------------------------------- 7. defaults


SEGMENT_BY_ARR = {
    "1.2M": "enterprise",
    "50000": "enterprise",
    "49999.99": "mid-market",
    "20000": "mid-market",
    "19999.99": "smb",
    "0": "smb",
}


def test_segment_is_derived_from_arr_when_blank(tmp_path):
    rows = [
        {"account_id": f"S{i}", "name": "S", "arr": arr, "segment": ""}
        for i, arr in enumerate(SEGMENT_BY_ARR)
    ]
    portfolio = read_accounts(tmp_path, rows)

    assert portfolio.rejects.empty
    got = dict(zip(SEGMENT_BY_ARR, portfolio.tables["accounts"]["segment"], strict=True))
    assert got == SEGMENT_BY_ARR


def test_segment_is_derived_when_the_column_is_absent_and_kept_when_given(tmp_path):
    rows = [
        {"account_id": "A1", "name": "Alpha", "arr": "1M", "segment": "smb"},
        {"account_id": "A2", "name": "Beta", "arr": "1M", "segment": ""},
    ]
    portfolio = read_accounts(tmp_path, rows)
    assert account(portfolio, "A1")["segment"] == "smb"
    assert account(portfolio, "A2")["segment"] == "enterprise"

    no_column = read_accounts(tmp_path / "other", [{"account_id": "A1", "name": "A", "arr": "30K"}])
    assert account(no_column, "A1")["segment"] == "mid-market"


def test_segment_is_derived_from_mrr(tmp_path):
    rows = [{"account_id": "A1", "name": "Alpha", "MRR": "5000"}]
    portfolio = read_accounts(tmp_path, rows)

    assert account(portfolio, "A1")["arr"] == 60_000
    assert account(portfolio, "A1")["segment"] == "enterprise"


def test_status_and_channel_defaults(tmp_path):
    rows = [
        {**ACCOUNTS[0], "status": "", "channel": ""},
        {**ACCOUNTS[1], "status": "trial", "channel": "partner"},
    ]
    portfolio = read_accounts(tmp_path, rows)
    without_columns = read_accounts(tmp_path / "other", ACCOUNTS[2:])

    assert (account(portfolio, "A1")["status"], account(portfolio, "A1")["channel"]) == (
        "paying",
        "direct",
    )
    assert (account(portfolio, "A2")["status"], account(portfolio, "A2")["channel"]) == (
        "trial",
        "partner",
    )
    gamma = account(without_columns, "A3")
    assert (gamma["status"], gamma["channel"]) == ("paying", "direct")


# --------------------------------------------------------------------------- 8. signals


def test_unknown_signal_kinds_are_kept(tmp_path):
    signals = [
        {"account_id": "A1", "kind": "hiring", "detail": "10 engineers"},
        {"account_id": "A1", "kind": "podcast_mention", "detail": "CEO on a podcast"},
        {"account_id": "A2", "kind": "Something Else Entirely"},
    ]
    portfolio = read(tmp_path, with_accounts(signals_csv=signals))

    assert portfolio.rejects.empty
    kept = portfolio.tables["signals"]
    assert kept["kind"].tolist() == ["hiring", "podcast_mention", "Something Else Entirely"]
    assert kept["detail"].tolist()[:2] == ["10 engineers", "CEO on a podcast"]


# --------------------------------------------------------------------------- 9. sync_folder


def _snapshot(engine) -> dict[str, pd.DataFrame]:
    tables = store.load_tables(engine)
    return {name: frame.copy() for name, frame in tables.items()}


def _good_folder(root: Path) -> Path:
    usage = [
        {"account_id": "A1", "metric": "api_calls", "period": "2026-05", "value": "900"},
        {"account_id": "A2", "metric": "api_calls", "period": "2026-05", "value": "50"},
    ]
    return make_folder(root, {"accounts.csv": ACCOUNTS, "usage.jsonl": usage}, name="good")


def test_sync_writes_the_portfolio(engine, tmp_path):
    report = sync_folder(engine, _good_folder(tmp_path), source="crm")

    tables = store.load_tables(engine)
    assert tables["accounts"]["account_id"].tolist() == ["A1", "A2", "A3"]
    assert tables["accounts"]["arr"].tolist() == [85_000.0, 30_000.0, 5_000.0]
    assert tables["accounts"]["segment"].tolist() == ["enterprise", "mid-market", "smb"]
    assert tables["usage"]["value"].tolist() == [900.0, 50.0]
    assert report.rejected == 0
    assert report.rejects_path is None
    assert (report.run.rows_read, report.run.rows_accepted, report.run.rows_rejected) == (5, 5, 0)
    runs = store.sync_runs(engine)
    assert runs.iloc[0]["status"] == "succeeded"


def test_sync_contract_error_keeps_previous_data(engine, tmp_path):
    sync_folder(engine, _good_folder(tmp_path))
    before = _snapshot(engine)
    broken = make_folder(
        tmp_path, {"accounts.csv": [{"account_id": "B1", "arr": "5"}]}, name="broken"
    )

    with pytest.raises(ContractError) as info:
        sync_folder(engine, broken)
    assert info.value.column == "name"

    after = _snapshot(engine)
    for name in before:
        pd.testing.assert_frame_equal(after[name], before[name])
    latest = store.sync_runs(engine).iloc[0]
    assert latest["status"] == "failed"
    assert "name" in latest["error"]


def test_sync_missing_accounts_file_keeps_previous_data(engine, tmp_path):
    sync_folder(engine, _good_folder(tmp_path))
    before = _snapshot(engine)
    empty = make_folder(tmp_path, {}, name="empty")

    with pytest.raises(ContractError, match="accounts"):
        sync_folder(engine, empty)

    pd.testing.assert_frame_equal(_snapshot(engine)["accounts"], before["accounts"])


def test_strict_sync_with_a_bad_row_writes_nothing(engine, tmp_path):
    sync_folder(engine, _good_folder(tmp_path))
    before = _snapshot(engine)
    accounts = [{"account_id": "N1", "name": "New", "arr": "1"}]
    accounts.append({"account_id": "N2", "name": "Bad", "arr": "eighty"})
    bad = make_folder(tmp_path, {"accounts.csv": accounts}, name="bad")
    rejects_path = tmp_path / "rejects.csv"

    with pytest.raises(RejectedRowsError, match="1 rows were rejected") as info:
        sync_folder(engine, bad, strict=True, rejects_path=rejects_path)
    assert info.value.exit_code == 2
    assert info.value.rejects["row"].tolist() == [3]
    assert str(rejects_path) in str(info.value)

    after = _snapshot(engine)
    for name in before:
        pd.testing.assert_frame_equal(after[name], before[name])
    assert store.sync_runs(engine).iloc[0]["status"] == "failed"


def test_strict_sync_of_a_clean_folder_succeeds(engine, tmp_path):
    report = sync_folder(engine, _good_folder(tmp_path), strict=True)

    assert report.rejected == 0
    assert store.load_tables(engine)["accounts"]["account_id"].tolist() == ["A1", "A2", "A3"]


def test_non_strict_sync_writes_valid_rows_and_the_rejects_file(engine, tmp_path):
    sync_folder(engine, _good_folder(tmp_path))
    accounts = [
        {"account_id": "N1", "name": "New", "arr": "$40K"},
        {"account_id": "N2", "name": "Bad", "arr": "eighty"},
        {"account_id": "N3", "name": "Neg", "arr": "-1"},
    ]
    usage = [
        {"account_id": "N1", "metric": "m", "period": "2026-05", "value": "1"},
        {"account_id": "N2", "metric": "m", "period": "2026-05", "value": "1"},
    ]
    folder = make_folder(tmp_path, {"accounts.csv": accounts, "usage.csv": usage}, name="next")
    rejects_path = tmp_path / "out" / "rejects.csv"
    rejects_path.parent.mkdir()

    report = sync_folder(engine, folder, rejects_path=rejects_path)

    tables = store.load_tables(engine)
    # A sync replaces the source's snapshot: the earlier accounts are gone.
    assert tables["accounts"]["account_id"].tolist() == ["N1"]
    assert tables["accounts"]["arr"].tolist() == [40_000.0]
    assert tables["usage"]["account_id"].tolist() == ["N1"]
    assert report.rejects_path == rejects_path
    assert report.run.rows_rejected == 3
    written = pd.read_csv(rejects_path, dtype={"value": str}, keep_default_na=False)
    assert list(written.columns) == REJECT_COLUMNS
    assert written[["table", "row", "column", "value"]].values.tolist() == [
        ["accounts", 3, "arr", "eighty"],
        ["accounts", 4, "arr", "-1"],
        ["usage", 3, "account_id", "N2"],
    ]
    assert written["reason"].iloc[2] == "account_id 'N2' was rejected in accounts"


def test_sync_of_one_source_leaves_other_sources_alone(engine, tmp_path):
    sync_folder(engine, _good_folder(tmp_path), source="crm")
    other = make_folder(
        tmp_path, {"accounts.csv": [{"account_id": "X1", "name": "X", "arr": "1"}]}, name="x"
    )
    sync_folder(engine, other, source="billing")

    ids_in_db = store.load_tables(engine)["accounts"]["account_id"].tolist()
    assert ids_in_db == ["A1", "A2", "A3", "X1"]


# --------------------------------------------------------------------------- 10. extra columns


def test_unknown_columns_are_ignored_and_reported(tmp_path):
    accounts = [{**row, "Favourite Colour": "blue", "Internal Notes": "x"} for row in ACCOUNTS]
    usage = [{"account_id": "A1", "metric": "m", "period": "2026-05", "value": "1", "foo": "2"}]
    portfolio = read(tmp_path, with_accounts(usage_jsonl=usage) | {"accounts.csv": accounts})

    assert portfolio.rejects.empty
    assert portfolio.ignored_columns == {
        "accounts": ["Favourite Colour", "Internal Notes"],
        "usage": ["foo"],
    }
    assert "Favourite Colour" not in portfolio.tables["accounts"].columns
    assert "foo" not in portfolio.tables["usage"].columns
    assert list(portfolio.tables["usage"].columns) == [
        "account_id",
        "metric",
        "period",
        "value",
        "limit",
    ]


def test_second_header_for_the_same_column_is_ignored(tmp_path):
    rows = [{"account_id": "A1", "name": "Alpha", "ARR": "85000", "Annual Recurring Revenue": "1"}]
    portfolio = read_accounts(tmp_path, rows)

    assert account(portfolio, "A1")["arr"] == 85_000
    assert portfolio.ignored_columns == {"accounts": ["Annual Recurring Revenue"]}


# --------------------------------------------------------------------------- edge cases


def test_csv_row_numbers_count_blank_lines(tmp_path):
    text = "account_id,name,arr\nA1,Alpha,100\n\nA2,Beta,eighty\n"
    portfolio = read_accounts(tmp_path, text)

    reject = only_reject(portfolio, "accounts")
    assert reject["row"] == 4  # the line a person sees the bad value on


@pytest.mark.parametrize("text", ["inf", "1e20"])
def test_huge_or_infinite_count_is_rejected_not_raised(tmp_path, text):
    rows = [{**ACCOUNTS[0], "licensed_seats": text}, ACCOUNTS[1]]
    portfolio = read_accounts(tmp_path, rows)

    reject = only_reject(portfolio, "accounts")
    assert (reject["row"], reject["column"]) == (2, "licensed_seats")
    assert ids(portfolio) == ["A2"]


def test_xlsx_keeps_na_text_like_csv(tmp_path):
    rows = [{"account_id": "A1", "name": "NA", "arr": "100", "region": "NA"}]
    portfolio = read_accounts(tmp_path, rows, filename="accounts.xlsx")

    assert portfolio.rejects.empty
    assert account(portfolio, "A1")["region"] == "NA"


def test_json_integer_ids_with_a_null_still_match_accounts(tmp_path):
    accounts = [{"account_id": 1001, "name": "Alpha", "arr": 5}]
    usage = [
        {"account_id": 1001, "metric": "m", "period": "2026-05", "value": 1},
        {"account_id": None, "metric": "m", "period": "2026-06", "value": 2},
    ]
    portfolio = read(tmp_path, {"accounts.json": accounts, "usage.json": usage})

    assert ids(portfolio) == ["1001"]
    assert ids(portfolio, "usage") == ["1001"]
    assert only_reject(portfolio, "usage")["reason"] == "missing account_id"


def test_dates_may_mix_time_zones_and_plain_dates(tmp_path):
    text = "account_id,name,arr,renewal_date\nA1,Alpha,100,2026-11-02T09:30:00Z\nA2,Beta,100,2027-01-15\n"
    portfolio = read_accounts(tmp_path, text)
    assert portfolio.rejects.empty
    assert str(account(portfolio, "A1")["renewal_date"])[:10] == "2026-11-02"


def test_consuming_validation_frees_the_raw_tables_and_keeps_every_row():
    from expansion.ingest import read_folder, validate
    from expansion.pipeline import SAMPLE_PORTFOLIO

    kept = validate(read_folder(SAMPLE_PORTFOLIO))
    raw = read_folder(SAMPLE_PORTFOLIO)
    consumed = validate(raw, consume=True)
    assert raw == {}
    assert set(consumed.tables) == set(kept.tables)
    for name, frame in kept.tables.items():
        pd.testing.assert_frame_equal(consumed.tables[name], frame)
    pd.testing.assert_frame_equal(consumed.rejects, kept.rejects)


def _indexes(engine, table: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)
        )
        return sorted(name for (name,) in rows)


def test_bulk_sync_rebuilds_indexes_and_keeps_other_sources(tmp_path, monkeypatch):
    """A bulk replace drops a table's indexes for the insert and rebuilds them; another
    source's rows stay, and re-syncing one source replaces only its own rows."""
    engine = store.connect(f"sqlite:///{tmp_path / 'bulk.db'}")
    monkeypatch.setattr(store.writes, "BULK_REINDEX_ROWS", 2)
    before = _indexes(engine, "usage")
    assert before == ["ix_usage_source"]
    sync_folder(engine, _good_folder(tmp_path / "a"), source="crm")
    usage = [{"account_id": "A3", "metric": "seats", "period": "2026-05", "value": "7"}]
    other = make_folder(tmp_path / "b", {"accounts.csv": ACCOUNTS, "usage.csv": usage})
    sync_folder(engine, other, source="warehouse")
    sync_folder(engine, _good_folder(tmp_path / "c"), source="crm")

    assert _indexes(engine, "usage") == before
    rows = store.load_tables(engine)["usage"]
    assert sorted(rows["value"].tolist()) == [7.0, 50.0, 900.0]
    assert store.row_counts(engine, "crm")["usage"] == 2
    assert store.row_counts(engine, "warehouse")["usage"] == 1
    engine.dispose()


def test_failed_bulk_sync_keeps_previous_rows_and_indexes(tmp_path, monkeypatch):
    engine = store.connect(f"sqlite:///{tmp_path / 'bulk.db'}")
    monkeypatch.setattr(store.writes, "BULK_REINDEX_ROWS", 2)
    sync_folder(engine, _good_folder(tmp_path / "a"), source="crm")
    before = _snapshot(engine)
    real_insert = store.writes.insert_frame

    def insert_then_fail(conn, table, frame):
        real_insert(conn, table, frame)
        if table.name == "usage":
            raise OSError("disk full")

    monkeypatch.setattr(store.writes, "insert_frame", insert_then_fail)
    # Rows are checked and written in one pass: a failure there is recorded and said plainly.
    with pytest.raises(SourceError, match=r"failed unexpectedly \(OSError: disk full\)"):
        sync_folder(engine, _good_folder(tmp_path / "b"), source="crm")

    assert _indexes(engine, "usage") == ["ix_usage_source"]
    after = _snapshot(engine)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame)
    engine.dispose()


def test_multi_row_inserts_store_every_row_exactly(tmp_path, monkeypatch):
    """SQLite gets many rows per INSERT statement; batch and statement edges lose nothing."""
    monkeypatch.setattr(store.writes, "INSERT_BATCH", 250)  # batches of 250 rows: 4 full statements
    count = 1_013  # of 53 usage rows and a remainder, then a short last batch
    usage = pd.DataFrame(
        {
            "account_id": [f"A{i % 3 + 1}" for i in range(count)],
            "metric": [f"m{i}" for i in range(count)],
            "period": pd.to_datetime("2026-01-01") + pd.to_timedelta(range(count), unit="D"),
            "value": [None if i % 7 == 0 else i / 3 for i in range(count)],
            "limit": [None if i % 5 == 0 else float(i) for i in range(count)],
        }
    )
    engine = store.connect(f"sqlite:///{tmp_path / 'rows.db'}")
    accounts = pd.DataFrame({"account_id": ["A1", "A2", "A3"], "name": list("xyz"), "arr": 1.0})
    store.replace_source(
        engine,
        "crm",
        {"accounts": accounts, "usage": usage},
        run=store.SyncRun(source="crm", location="test", kind="files"),
        rejects=pd.DataFrame(),
    )
    stored = store.load_source(engine, "crm")["usage"]
    assert len(stored) == count
    assert stored["metric"].tolist() == usage["metric"].tolist()
    assert pd.to_datetime(stored["period"]).tolist() == usage["period"].tolist()
    for column in ("value", "limit"):
        expected = usage[column].astype(float)
        pd.testing.assert_series_equal(stored[column].astype(float), expected, check_names=False)
    engine.dispose()
