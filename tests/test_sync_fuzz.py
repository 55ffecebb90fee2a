"""Fuzzing the sync (issue 21's acceptance): arbitrary headers, cells, dates and numbers in
every file type either become rejects or a clear refusal, never a crash; a refusal changes no
stored row; and whatever a sync accepts can be scored.

One SQLite database for the whole run: each example syncs its folder as one of three sources,
over what the previous examples left, as nightly syncs of messy exports would.
"""

from __future__ import annotations

import csv
import json
import string
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from builders import stored_rows
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from expansion import pipeline, store
from expansion.connectors import SourceError
from expansion.contract import ACCOUNTS, MRR_ALIASES, SIGNALS, USAGE, Table
from expansion.errors import ContractError, ExpansionError, RejectedRowsError
from expansion.limits import limits_from_mapping

AS_OF = pipeline.SAMPLE_AS_OF
#: Small limits, so the fuzzer reaches them with small files.
LIMITS = limits_from_mapping({"max_cell_chars": 40, "max_rows": 9, "max_rejects_written": 5})
EXTENSIONS = ("csv", "tsv", "json", "jsonl", "xlsx")

# --------------------------------------------------------------------------- cells

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
ascii_text = st.text(string.printable, max_size=12)
brackets = st.sampled_from(["[/x]", "[bold]", '=HYPERLINK("x")', "<!channel>", "a,b", '"q"'])
long_text = st.integers(30, 60).map(lambda n: "N" * n)  # around max_cell_chars
anything = st.one_of(text, ascii_text, brackets, long_text, st.just(""))

date_formats = ("%Y-%m-%d", "%m/%d/%Y", "%d %b %Y", "%Y-%m", "%Y-%m-%dT23:59:59-14:00")
dates = st.one_of(
    st.builds(
        lambda d, f: d.strftime(f),
        st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
        st.sampled_from(date_formats),
    ),
    st.builds(lambda days: (AS_OF + timedelta(days=days)).isoformat(), st.integers(-4000, 4000)),
    st.sampled_from(
        [
            "9999-12-31",
            "12/31/9999",
            "0001-01-01",
            "1677-09-22",
            "1700-01-01",
            "2262-04-11",
            "2263-01-01",
            "1989-12-31",
            "1990-01-01",
            "2100-12-31",
            "2101-01-01",
            "-1",
            "0",
            "99999999999999999999",
        ]
    ),
)
numbers = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(0, 2_000).map(str),
    st.sampled_from(
        ["85K", "1.2M", "$85,000", "1e400", "-0", "NaN", "inf", "1e15", "999999999999999", "24%"]
    ),
)
booleans = st.sampled_from(["true", "false", "yes", "no", "1", "0", "maybe"])
MESSY = {
    "id": st.one_of(st.sampled_from(["A1", "A2", "A3", "A4"]), anything),
    "text": anything,
    "money": numbers,
    "number": numbers,
    "count": numbers,
    "percent": numbers,
    "bool": booleans,
    "date": dates,
    "period": dates,
}
#: Values a clean export has, edges included (dates near the window's ends, 9999-12-31,
#: amounts near the largest accepted), so rows get through to the scoring.
CLEAN = {
    "id": st.sampled_from([f"A{i}" for i in range(1, 9)]),
    "text": st.one_of(st.sampled_from(["seats", "api_calls", "hiring", "layoffs"]), text),
    "money": st.one_of(
        st.integers(0, 2_000_000).map(str), st.sampled_from(["85K", "$1.2M", "999999999999999"])
    ),
    "number": st.one_of(st.integers(-100, 10**6).map(str), st.floats(-1e14, 1e14).map(str)),
    "count": st.one_of(st.integers(0, 5_000).map(str), st.just("999999999999999")),
    "percent": st.integers(0, 100).map(str),
    "bool": booleans,
    "date": st.one_of(
        st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)).map(str),
        st.builds(lambda d: (AS_OF + timedelta(days=d)).isoformat(), st.integers(-800, 800)),
        st.sampled_from(["9999-12-31", "1990-01-01", "2100-12-31"]),
    ),
    "period": st.builds(
        lambda m: (AS_OF - timedelta(days=30 * m)).strftime("%Y-%m"), st.integers(0, 14)
    ),
}


def cell_for(table: Table, header: str, clean: bool):
    """A value of the header's column kind: one a clean export has, or anything."""
    kind = next((c.kind for c in table.columns if c.name == header), "text")
    if header in MRR_ALIASES or header == "ARR":
        kind = "money"
    if kind == "enum":
        column = table.column(header)
        choices = [*column.choices, *column.synonyms]
        return st.sampled_from(choices if clean else [*choices, "other", ""])
    return (CLEAN if clean else MESSY)[kind]


# --------------------------------------------------------------------------- tables


@st.composite
def table_rows(draw, table: Table) -> tuple[list[str], list[list[str]]]:
    """Headers (canonical names, aliases, junk, blanks, repeats; required ones sometimes
    missing) and rows of cells; a row may be one field short or long."""
    names = [c.name for c in table.columns]
    aliases = [a for c in table.columns for a in c.aliases]
    must = [c.name for c in table.columns if c.required]
    if table is ACCOUNTS:
        must.append(draw(st.sampled_from(["arr", "mrr", "ARR"])))
    headers = must + draw(
        st.lists(st.one_of(st.sampled_from(names + aliases), anything), max_size=6)
    )
    if draw(st.integers(0, 19)) == 0:  # a required header lost
        headers = headers[1:]
    headers = headers or ["account_id"]
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        clean = draw(st.integers(0, 3)) > 0
        row = [draw(cell_for(table, header, clean)) for header in headers]
        shape = draw(st.integers(0, 12))
        if shape == 0:
            row.append("")  # a trailing delimiter
        elif shape == 1:
            row.append(draw(anything))
        elif shape == 2 and row:
            row.pop()
        rows.append(row)
    if rows and draw(st.integers(0, 19)) == 0:  # every row with a trailing delimiter
        rows = [[*row, ""] for row in rows]
    return headers, rows


def write(path: Path, headers: list[str], rows: list[list[str]]) -> None:
    ext = path.suffix[1:]
    if ext in ("csv", "tsv"):
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, delimiter="\t" if ext == "tsv" else ",")
            writer.writerow(headers)
            writer.writerows(rows)
    elif ext in ("json", "jsonl"):
        records = [dict(zip(headers, row, strict=False)) for row in rows]
        if ext == "json":
            path.write_text(json.dumps(records), encoding="utf-8")
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    else:
        workbook = Workbook()
        sheet = workbook.active
        for row in [headers, *rows]:  # a workbook cannot hold control characters
            sheet.append([ILLEGAL_CHARACTERS_RE.sub("", cell) for cell in row])
        workbook.save(path)


@st.composite
def portfolios(draw) -> dict[str, tuple[str, list[str], list[list[str]]]]:
    files = {"accounts": (draw(st.sampled_from(EXTENSIONS)), *draw(table_rows(ACCOUNTS)))}
    for table in (USAGE, SIGNALS):
        if draw(st.booleans()):
            files[table.name] = (draw(st.sampled_from(EXTENSIONS)), *draw(table_rows(table)))
    return files


# --------------------------------------------------------------------------- the property


@pytest.fixture(scope="module")
def fuzz_engine(tmp_path_factory):
    engine = store.connect(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}")
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="files")
    yield engine
    engine.dispose()


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=portfolios(), source=st.sampled_from(["files", "crm", "billing"]))
def test_any_export_is_rejects_or_a_refusal_and_what_is_kept_can_be_scored(
    files, source, fuzz_engine, tmp_path_factory
):
    engine = fuzz_engine
    folder = tmp_path_factory.mktemp("export")
    for name, (ext, headers, rows) in files.items():
        write(folder / f"{name}.{ext}", headers, rows)
    before = stored_rows(engine)
    try:
        report = pipeline.sync_folder(
            engine, folder, source=source, rejects_path=folder / "rejects.csv", limits=LIMITS
        )
    except (ContractError, RejectedRowsError, SourceError) as exc:
        message = str(exc)
        event(f"refused: {type(exc).__name__}")
        # A refusal says what to fix; an unexpected exception, wrapped, is a crash.
        assert message and "failed unexpectedly" not in message, message
        after = stored_rows(engine)
        for name, frame in before.items():
            pd.testing.assert_frame_equal(frame, after[name], check_dtype=False)
        return
    assert report.run.status == "succeeded"
    event(f"synced, {'some' if report.rejected else 'no'} rejects")
    if report.rejected:
        written = pd.read_csv(folder / "rejects.csv", dtype=str, keep_default_na=False)
        assert len(written) <= LIMITS.max_rejects_written + 1
        assert (written["value"].str.len() <= 200).all()
    try:
        pipeline.score(engine, as_of=AS_OF)
        pipeline.find(engine, "", as_of=AS_OF)
    except ExpansionError as exc:  # pragma: no cover - a failure is what this test looks for
        pytest.fail(f"scoring what the sync accepted failed: {exc}")
