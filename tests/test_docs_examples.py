"""docs/data-contract.md and docs/examples/portfolio/ stay true to expansion.contract.

(a) the example portfolio loads with zero rejects and the expected row counts;
(b) the doc names every table, column, alias, enum value and signal kind of the contract, and
    each table's column table in the doc matches the contract exactly (no drift either way);
(c) every example file the doc links to exists, and every table has a linked example.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from expansion.contract import (
    FILE_EXTENSIONS,
    MRR_ALIASES,
    NEGATIVE_SIGNALS,
    POSITIVE_SIGNALS,
    TABLES,
)
from expansion.ingest import read_portfolio

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOC = DOCS / "data-contract.md"
EXAMPLE = DOCS / "examples" / "portfolio"

EXPECTED_ROWS = {
    "accounts": 4,
    "catalog": 9,
    "subscriptions": 6,
    "usage": 21,
    "features": 14,
    "signals": 13,
    "departments": 10,
}


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def portfolio():
    return read_portfolio(EXAMPLE)


def _ticked(name: str) -> str:
    return f"`{name}`"


def _section(doc: str, table: str) -> str:
    """The text of ``### <table>`` up to the next heading of level 2 or 3."""
    match = re.search(rf"^### {re.escape(table)}\n(.*?)(?=^##)", doc, flags=re.M | re.S)
    assert match, f"docs/data-contract.md has no '### {table}' section"
    return match.group(1)


def _column_rows(section: str) -> dict[str, list[str]]:
    """Rows of the section's column table: column name -> cells after the name."""
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 5:
            rows[cells[0].strip("`")] = cells[1:]
    return rows


# --------------------------------------------------------------------------- (a) example


def test_example_portfolio_has_one_file_per_table():
    stems = {p.name.split(".", 1)[0]: p.name.split(".", 1)[1] for p in EXAMPLE.iterdir()}
    assert set(stems) == set(TABLES)
    assert set(stems.values()) <= set(FILE_EXTENSIONS)
    # The example is meant to show a mix of file types.
    assert len(set(stems.values())) >= 4


def test_example_portfolio_loads_without_rejects(portfolio):
    assert portfolio.rejects.empty, portfolio.rejects.to_string()
    assert portfolio.ignored_columns == {}
    assert portfolio.accepted == EXPECTED_ROWS
    assert portfolio.rows_read == EXPECTED_ROWS


def test_example_portfolio_values_match_what_the_doc_promises(portfolio):
    accounts = portfolio.tables["accounts"].set_index("account_id")
    # "$85,000", "1.2M", "42K" and MRR "$1,200" x 12.
    assert accounts["arr"].to_dict() == {
        "ACC-2001": 85_000.0,
        "ACC-2002": 14_400.0,
        "ACC-2003": 1_200_000.0,
        "ACC-2004": 42_000.0,
    }
    # Blank segment derived from ARR (< $20K smb); "MM" synonym.
    assert accounts.loc["ACC-2002", "segment"] == "smb"
    assert accounts.loc["ACC-2004", "segment"] == "mid-market"
    # Synonyms: Customer / Active -> paying, Reseller -> partner, Month-to-month -> monthly.
    assert set(accounts["status"]) == {"paying"}
    assert accounts.loc["ACC-2004", "channel"] == "partner"
    assert accounts.loc["ACC-2002", "contract_term"] == "monthly"
    # US-style slash dates are month first.
    assert str(accounts.loc["ACC-2004", "renewal_date"].date()) == "2027-01-09"

    catalog = portfolio.tables["catalog"].set_index("product_id")
    assert (
        catalog.loc["professional", "features"] == "dashboards;mobile_app;api_access;custom_fields"
    )
    assert catalog.loc["compliance", "annual_price"] == 12_000.0
    assert catalog.loc["analytics", "kind"] == "add_on"

    signals = portfolio.tables["signals"]
    known = set(POSITIVE_SIGNALS) | set(NEGATIVE_SIGNALS)
    assert "press_mention" in set(signals["kind"]) - known  # unknown kinds are kept

    # Every subscription line adds up to its account's ARR.
    subs = portfolio.tables["subscriptions"].groupby("account_id")["arr"].sum()
    assert subs.to_dict() == accounts["arr"].to_dict()


# --------------------------------------------------------------------------- (b) no drift


def test_doc_mentions_every_table_column_and_alias(doc):
    missing = []
    for table in TABLES.values():
        section = _section(doc, table.name)
        for column in table.columns:
            for name in (column.name, *column.aliases):
                if _ticked(name) not in section:
                    missing.append(f"{table.name}.{column.name}: {name}")
    assert not missing, "not in docs/data-contract.md: " + ", ".join(missing)


def test_doc_column_tables_match_the_contract(doc):
    for table in TABLES.values():
        rows = _column_rows(_section(doc, table.name))
        assert list(rows) == table.column_names, table.name
        for column in table.columns:
            kind, required, _meaning, aliases = rows[column.name]
            assert kind == column.kind, f"{table.name}.{column.name}"
            assert (required == "yes") == column.required, f"{table.name}.{column.name}"
            listed = re.findall(r"`([^`]+)`", aliases)
            assert listed == list(column.aliases), f"{table.name}.{column.name}"


def test_doc_lists_enum_values_and_synonyms(doc):
    for table in TABLES.values():
        section = _section(doc, table.name)
        for column in table.columns:
            for value in (*column.choices, *column.synonyms, *column.synonyms.values()):
                assert _ticked(value) in section, f"{table.name}.{column.name}: {value}"


def test_doc_lists_mrr_aliases_signal_kinds_and_file_types(doc):
    accounts = _section(doc, "accounts")
    for alias in MRR_ALIASES:
        assert _ticked(alias) in accounts
    kinds = doc.split("## Signal kinds", 1)[1].split("\n## ", 1)[0]
    for kind in (*POSITIVE_SIGNALS, *NEGATIVE_SIGNALS):
        assert f"| `{kind}` |" in kinds, kind
    for ext in FILE_EXTENSIONS:
        assert f"| `{ext}` |" in doc, ext
    for phrase in ("expansion-rejects.csv", "table,file,row,column,value,reason", "--strict"):
        assert phrase in doc


# --------------------------------------------------------------------------- (c) links


def _example_links(doc: str) -> set[str]:
    return set(re.findall(r"\]\((examples/portfolio/[^)#]+)\)", doc))


def test_linked_example_files_exist(doc):
    links = _example_links(doc)
    assert links, "docs/data-contract.md links no example file"
    missing = [link for link in links if not (DOCS / link).exists()]
    assert not missing, f"linked but missing: {missing}"


def test_every_example_file_and_table_is_linked(doc):
    linked = {Path(link).name for link in _example_links(doc) if not link.endswith("/")}
    on_disk = {p.name for p in EXAMPLE.iterdir()}
    assert on_disk <= linked, f"example files not linked from the doc: {on_disk - linked}"
    for table in TABLES:
        section = _section(doc, table)
        assert re.search(rf"\]\(examples/portfolio/{table}\.\w+\)", section), table
