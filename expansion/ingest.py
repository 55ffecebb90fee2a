"""Read a portfolio (a folder of exports) into validated canonical DataFrames.

Reading never writes anything: :func:`read_portfolio` returns the accepted rows of every table
plus a rejects frame (table, file, row, column, value, reason). Writing to the database is
:func:`expansion.store.replace_source`, which commits everything in one transaction.
"""

from __future__ import annotations

import json
import re
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .contract import (
    ACCOUNTS,
    FILE_EXTENSIONS,
    MRR_ALIASES,
    TABLES,
    Column,
    Table,
    header_map,
    normalize_header,
)
from .errors import ContractError
from .escape import SPREADSHEET_LINE_END, spreadsheet_cell
from .frames import nul_cells, per_distinct
from .limits import DEFAULT_LIMITS, NO_DATE, XLSX_MAX_ROWS, IngestLimits

REJECT_COLUMNS = ["table", "file", "row", "column", "value", "reason"]
#: A reject's value and reason are cut after this many characters ("..." marks the cut).
REJECT_VALUE_CHARS = 200
REJECT_REASON_CHARS = 1000

ProgressCallback = Callable[[str], None]


@dataclass
class Portfolio:
    """Validated tables of one source, ready to be stored or scored."""

    tables: dict[str, pd.DataFrame]
    rejects: pd.DataFrame
    files: dict[str, str] = field(default_factory=dict)
    rows_read: dict[str, int] = field(default_factory=dict)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)

    @property
    def accepted(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.tables.items()}

    def summary(self) -> pd.DataFrame:
        """Rows read, accepted and rejected per table."""
        rejected = self.rejects.groupby("table")["row"].nunique() if len(self.rejects) else {}
        rows = [
            {
                "table": name,
                "file": self.files.get(name, ""),
                "read": self.rows_read.get(name, 0),
                "accepted": len(frame),
                "rejected": int(rejected.get(name, 0)) if len(self.rejects) else 0,
            }
            for name, frame in self.tables.items()
        ]
        return pd.DataFrame(rows, columns=["table", "file", "read", "accepted", "rejected"])


# --------------------------------------------------------------------------- files


def find_table_file(folder: Path, table: str) -> Path | None:
    """The one file holding ``table`` in ``folder`` (``accounts.csv``, ``accounts.xlsx``...)."""
    found = [p for p in sorted(folder.iterdir()) if p.is_file() and _table_stem(p) == table.lower()]
    found = [p for p in found if _extension(p) in FILE_EXTENSIONS]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ContractError(
            f"{folder}: table '{table}' is given by more than one file ({names}). "
            "Keep exactly one file per table.",
            file=str(found[0]),
        )
    return found[0] if found else None


def _table_stem(path: Path) -> str:
    return path.name.split(".", 1)[0].lower()


def _extension(path: Path) -> str:
    return path.name.split(".", 1)[1].lower() if "." in path.name else ""


def read_raw(
    path: Path, limits: IngestLimits = DEFAULT_LIMITS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one file as strings. Returns (frame, unreadable-record rejects).

    The frame keeps a ``_row`` column: the row number a person finds in the file (the header
    is row 1 in csv/tsv/xlsx; records count from 1 in json; lines count from 1 in jsonl).

    Raises:
        ContractError: the file cannot be read, or is larger than ``limits`` allow (checked
            before it is read: an xlsx by the unzipped size of its parts).
    """
    ext = _extension(path)
    bad = pd.DataFrame(columns=REJECT_COLUMNS)
    try:
        _check_size(path, ext, limits)
        if ext in ("csv", "tsv"):
            frame, bad = _read_delimited(path, "\t" if ext == "tsv" else ",", limits)
            first_row = None
        elif ext == "xlsx":
            most = min(limits.max_rows, XLSX_MAX_ROWS)
            frame = pd.read_excel(
                path,
                sheet_name=0,
                dtype=str,
                engine="openpyxl",
                keep_default_na=False,
                na_values=[],
                nrows=most + 1,  # one more than allowed tells there are too many
            )
            _check_rows(path, len(frame), most, "sheet")
            first_row = 2
        elif ext == "json":
            with path.open(encoding="utf-8-sig") as fh:
                records = json.load(fh)
            if isinstance(records, dict):
                # Accept {"<table>": [...]} or {"data": [...]} envelopes from API exports.
                lists = [v for v in records.values() if isinstance(v, list)]
                records = lists[0] if len(lists) == 1 else None
            if not isinstance(records, list):
                raise ContractError(
                    f"{path}: expected a JSON array of objects, one object per row.",
                    file=str(path),
                )
            _check_rows(path, len(records), limits.max_rows, "file")
            frame, bad = _records_frame(records, path, start=1)
            first_row = None
        elif ext == "jsonl":
            frame, bad = _read_jsonl(path, limits)
            first_row = None
        else:  # pragma: no cover - find_table_file filters extensions
            raise ContractError(f"{path}: unsupported file type .{ext}", file=str(path))
    except ContractError:
        raise
    except UnicodeDecodeError as exc:
        raise ContractError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}). "
            "Export the file as UTF-8 (CSV UTF-8 in Excel).",
            file=str(path),
        ) from exc
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise ContractError(f"{path}: cannot be read as .{ext}: {exc}", file=str(path)) from exc
    except Exception as exc:  # openpyxl raises its own zoo (BadZipFile, InvalidFileException...)
        raise ContractError(f"{path}: cannot be read as .{ext}: {exc}", file=str(path)) from exc

    if first_row is not None:
        frame = frame.fillna("")
        frame["_row"] = np.arange(first_row, first_row + len(frame))
        frame = _drop_blank_rows(frame)
    return frame, bad


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:,.1f} MB"


def _check_size(path: Path, ext: str, limits: IngestLimits) -> None:
    """Refuse a file larger than ``limits`` allow before reading it. An xlsx is measured by
    what it unzips to (a small workbook can hold a huge sheet), from its zip directory."""
    if ext == "xlsx":
        with zipfile.ZipFile(path) as workbook:
            size = sum(member.file_size for member in workbook.infolist())
        if size > limits.max_xlsx_bytes:
            raise ContractError(
                f"{path}: the workbook unzips to {_megabytes(size)}, more than the "
                f"{limits.max_xlsx_mb:g} MB an xlsx may hold (max_xlsx_mb under [ingest] in "
                "expansion.toml). Export the table as CSV (also much faster to read), or raise "
                "the limit.",
                file=str(path),
            )
        return
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise ContractError(
            f"{path}: the file is {_megabytes(size)}, more than the {limits.max_file_mb:g} MB a "
            "file may be (max_file_mb under [ingest] in expansion.toml). Split the export, or "
            "raise the limit.",
            file=str(path),
        )


def _check_rows(path: Path, rows: int, most: int, what: str) -> None:
    if rows > most:
        hint = (
            "an Excel sheet holds at most 1,048,576 rows: export the table as CSV"
            if most == XLSX_MAX_ROWS
            else "split the export, or raise max_rows under [ingest] in expansion.toml"
        )
        raise ContractError(
            f"{path}: the {what} has more than {most:,} rows, the most a table may have; {hint}.",
            file=str(path),
        )


_SKIPPED_LINE = re.compile(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)")


def _read_delimited(
    path: Path, sep: str, limits: IngestLimits
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A csv or tsv file as text, ``_row`` numbered as a spreadsheet shows it (header = 1).

    A row with more fields than the header (``ACC-1,Acme,1000,50,`` under four headers) is
    rejected, never shifted: the header line sets the number of fields, and pandas skips
    (and names) every longer row. A file whose every row is longer is refused: its rows end
    with a delimiter, or a column has no header.
    """
    options = {
        "sep": sep,
        "dtype": str,
        "keep_default_na": False,
        "encoding": "utf-8-sig",
        "skipinitialspace": True,
        "skip_blank_lines": False,
        "index_col": False,  # never a data column as the index, whatever the row lengths
    }
    header = pd.read_csv(path, nrows=0, **options).columns  # duplicates and blanks named
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        frame = pd.read_csv(
            path, header=None, on_bad_lines="warn", nrows=limits.max_rows + 2, **options
        )
    skipped = [
        tuple(map(int, found))
        for warning in caught
        if issubclass(warning.category, pd.errors.ParserWarning)
        for found in _SKIPPED_LINE.findall(str(warning.message))
    ]
    frame = frame.iloc[1:]  # the header line, read as the row that sets the width
    if frame.shape[1] != len(header):  # pragma: no cover - both read the same first line
        raise ContractError(f"{path}: the header line cannot be read", file=str(path))
    frame.columns = header
    _check_rows(path, len(frame) + len(skipped), limits.max_rows, "file")
    lines = np.array([line for line, _, _ in skipped], dtype=int)
    rows = np.arange(2, 2 + len(frame) + len(skipped))
    rows = rows[~np.isin(rows, lines)]
    if len(rows) != len(frame):  # a skipped row pandas did not name: cannot number the rest
        raise ContractError(
            f"{path}: some rows have more fields than the header, and they cannot be told "
            "apart. Quote values that contain the delimiter, and remove trailing delimiters.",
            file=str(path),
        )
    frame = frame.set_axis(pd.RangeIndex(len(frame))).fillna("").assign(_row=rows)
    frame = _drop_blank_rows(frame)
    delimiter = "tab" if sep == "\t" else "comma"
    if skipped and frame.empty:
        extra = {saw - expected for _, expected, saw in skipped}
        cause = (
            f"the rows end with an extra {delimiter} (a trailing delimiter), or the last column "
            "has no header"
            if extra == {1}
            else f"values contain unquoted {delimiter}s, or columns have no header"
        )
        raise ContractError(
            f"{path}: every row has more fields than the header ({len(header)}): {cause}. "
            f"Remove the trailing {delimiter}s (or name every column in the header) and sync "
            "again; nothing was written.",
            file=str(path),
        )
    bad = pd.DataFrame(
        {
            "table": _table_stem(path),
            "file": path.name,
            "row": lines,
            "column": "",
            "value": "",
            "reason": [
                f"row has {saw} fields but the header has {expected}: a trailing {delimiter}, or "
                f"an unquoted {delimiter} inside a value (quote such values)"
                for _, expected, saw in skipped
            ],
        },
        columns=REJECT_COLUMNS,
    )
    return frame, bad


def _drop_blank_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Blank lines keep their place in the numbering but are not rows. Only rows whose first
    cell is empty can be blank, so only those are checked cell by cell."""
    cells = frame.drop(columns="_row")
    if len(cells.columns):
        maybe = cells.iloc[:, 0].astype(str).str.strip() == ""
        if maybe.any():
            blank = (cells[maybe].astype(str).apply(lambda c: c.str.strip()) == "").all(axis=1)
            frame = frame.drop(index=blank[blank].index)
    return frame


def _records_frame(records: list, path: Path, *, start: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = np.arange(start, start + len(records))
    is_obj = np.array([isinstance(r, dict) for r in records], dtype=bool)
    good = [r for r, ok in zip(records, is_obj, strict=True) if ok]
    # dtype=object keeps integer ids as ints next to nulls (not 1001.0).
    frame = pd.DataFrame(good, dtype=object) if good else pd.DataFrame()
    frame = _stringify(frame)
    frame["_row"] = rows[is_obj]
    bad = pd.DataFrame(
        {
            "table": _table_stem(path),
            "file": path.name,
            "row": rows[~is_obj],
            "column": "",
            "value": "",
            "reason": 'not a JSON object (each row must be {"column": value, ...})',
        },
        columns=REJECT_COLUMNS,
    )
    return frame, bad


def _read_jsonl(path: Path, limits: IngestLimits) -> tuple[pd.DataFrame, pd.DataFrame]:
    with path.open(encoding="utf-8-sig") as fh:
        lines = fh.read().splitlines()
    _check_rows(path, sum(1 for line in lines if line.strip()), limits.max_rows, "file")
    records: list = []
    line_numbers: list[int] = []
    bad_rows: list[dict] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
            line_numbers.append(number)
        except json.JSONDecodeError as exc:
            bad_rows.append(
                {
                    "table": _table_stem(path),
                    "file": path.name,
                    "row": number,
                    "column": "",
                    "value": line[:80],
                    "reason": f"line is not valid JSON ({exc.msg})",
                }
            )
    frame, bad = _records_frame(records, path, start=1)
    frame["_row"] = np.array(line_numbers, dtype=int)[frame["_row"].to_numpy() - 1]
    if len(bad):
        bad["row"] = np.array(line_numbers, dtype=int)[bad["row"].to_numpy(dtype=int) - 1]
    bad = pd.concat([bad, pd.DataFrame(bad_rows, columns=REJECT_COLUMNS)], ignore_index=True)
    return frame, bad


def _stringify(frame: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for name in frame.columns:
        col = frame[name]
        text = col.astype(object).where(col.notna(), "")
        out[name] = text.map(_scalar_text) if col.dtype == object else text.astype(str)
    return pd.DataFrame(out, index=frame.index)


def _scalar_text(value: object) -> str:
    if isinstance(value, (list, dict)):
        return ";".join(map(str, value)) if isinstance(value, list) else json.dumps(value)
    return "" if value is None else str(value)


def _clip(text: pd.Series, most: int) -> pd.Series:
    """``text`` cut to ``most`` characters, a cut marked with ``...``."""
    text = text.astype(object).where(text.notna(), "").astype(str)
    long = text.str.len() > most
    if long.any():
        text = text.where(~long, text.str.slice(0, most - 3) + "...")
    return text.astype(object)


def capped_rejects(rejects: pd.DataFrame, most: int) -> tuple[pd.DataFrame, int]:
    """The first ``most`` reject lines, and how many more there are."""
    return rejects.head(most), max(len(rejects) - most, 0)


def write_rejects(rejects: pd.DataFrame, path: str | Path, *, most: int) -> int:
    """Write the rejects report (CSV): the first ``most`` lines, then, when there are more, a
    last line saying how many were left out (the sync run keeps the total). Returns the
    number left out."""
    kept, left_out = capped_rejects(rejects, most)
    if left_out:
        kept = pd.concat(
            [
                kept,
                pd.DataFrame(
                    [
                        {
                            "table": "",
                            "file": "",
                            "row": "",
                            "column": "",
                            "value": "",
                            "reason": f"... and {left_out:,} more reject lines not written "
                            f"(the report holds the first {most:,}: max_rejects_written "
                            "under [ingest] in expansion.toml)",
                        }
                    ],
                    columns=REJECT_COLUMNS,
                ),
            ],
            ignore_index=True,
        )
    kept.map(spreadsheet_cell).to_csv(  # opened in a spreadsheet
        path, index=False, lineterminator=SPREADSHEET_LINE_END
    )
    return left_out


# --------------------------------------------------------------------------- parsing


class _Rejects:
    """Collects reject reasons per row while a table is parsed."""

    def __init__(self, table: str, file: str, frame: pd.DataFrame):
        self.table = table
        self.file = file
        self.frame = frame
        self.parts: list[pd.DataFrame] = []
        self.mask = pd.Series(False, index=frame.index)

    def add(self, mask: pd.Series, column: str, values: pd.Series | str, reason: pd.Series | str):
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        rows = self.frame.loc[mask, "_row"]
        value = values[mask] if isinstance(values, pd.Series) else values
        why = reason[mask] if isinstance(reason, pd.Series) else reason
        self.parts.append(
            pd.DataFrame(
                {
                    "table": self.table,
                    "file": self.file,
                    "row": rows,
                    "column": column,
                    "value": value,
                    "reason": why,
                },
                columns=REJECT_COLUMNS,
            )
        )
        self.mask |= mask

    def frame_out(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=REJECT_COLUMNS)
        return pd.concat(self.parts, ignore_index=True)


_MONEY_JUNK = r"[\s,$€£]|USD|usd"
_MONEY = r"^(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?P<suf>[kKmMbB])?$"
_TRUE = {"true", "yes", "y", "1", "t", "1.0"}
_FALSE = {"false", "no", "n", "0", "f", "0.0"}


def _numbers(text: pd.Series, forgiving: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """The cells that are plain numbers already (nearly all of a clean export) parsed in one
    vectorised call; only the rest go through the slower, ``forgiving`` parser."""
    blank = text == ""
    try:
        # Arrow's cast is ~40x faster than to_numeric; it refuses the whole column on the
        # first cell it cannot read, and then to_numeric sorts the cells out.
        values = pa.array(text.where(~blank), from_pandas=True)
        number = pd.Series(
            pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), index=text.index
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        number = pd.to_numeric(text, errors="coerce").astype(float)
    rest = ~np.isfinite(number) & ~blank
    if rest.any():
        number[rest] = forgiving(text[rest])
    return number


def parse_money(text: pd.Series) -> pd.Series:
    """``$85,000`` / ``85000`` / ``85K`` / ``1.2M`` -> float; anything else -> NaN."""
    return _numbers(text, _parse_money)


def _parse_money(text: pd.Series) -> pd.Series:
    cleaned = text.astype(str).str.strip().str.replace(_MONEY_JUNK, "", regex=True)
    parts = cleaned.str.extract(_MONEY)
    number = pd.to_numeric(parts["num"], errors="coerce")
    scale = parts["suf"].str.lower().map({"k": 1e3, "m": 1e6, "b": 1e9}).astype(float).fillna(1.0)
    return (number * scale).astype(float)


def parse_number(text: pd.Series) -> pd.Series:
    """Plain numbers, with thousands separators and a trailing ``%`` allowed."""
    return _numbers(text, _parse_number)


def _parse_number(text: pd.Series) -> pd.Series:
    cleaned = text.astype(str).str.strip().str.replace(r"[,\s%]", "", regex=True)
    return pd.to_numeric(cleaned, errors="coerce").astype(float)


def parse_bool(text: pd.Series) -> pd.Series:
    """true/false/yes/no/1/0 -> bool; anything else -> NA."""
    lowered = text.astype(str).str.strip().str.lower()
    out = pd.Series(pd.NA, index=text.index, dtype="boolean")
    out[lowered.isin(_TRUE)] = True
    out[lowered.isin(_FALSE)] = False
    return out


def parse_date(text: pd.Series) -> pd.Series:
    """ISO dates first; other common spellings (``11/16/2026``, ``16 Nov 2026``) after.

    Microsecond precision, so any year from 1 to 9999 is read as written (not wrapped, and
    not refused for the whole column): :func:`_parse_column` rejects what lies outside the
    accepted window before the dates take the engine's nanosecond precision.
    """
    stripped = text.astype(str).str.strip()
    # utc=True lets one column mix zoned timestamps and plain dates; the date is what counts.
    parsed = pd.to_datetime(stripped, format="ISO8601", errors="coerce", utc=True)
    parsed = parsed.astype("datetime64[us, UTC]")
    retry = parsed.isna() & (stripped != "")
    if retry.any():
        parsed[retry] = pd.to_datetime(
            stripped[retry], format="mixed", errors="coerce", utc=True
        ).astype("datetime64[us, UTC]")
    return parsed.dt.tz_localize(None).dt.normalize()


def _parse_column(
    column: Column, raw: pd.Series, rejects: _Rejects, limits: IngestLimits = DEFAULT_LIMITS
) -> pd.Series:
    text = raw.astype(str).str.strip()
    name = column.name
    nul = nul_cells(text)
    if nul.any():  # PostgreSQL cannot store it in text: it would refuse the whole write
        shown = text.str.replace("\x00", "\\x00", regex=False)
        rejects.add(nul, name, shown, f"cell contains a NUL byte: column {name}")
    blank = text == ""
    length = text.str.len()
    if len(text) and length.max() > limits.max_cell_chars:  # the longest first: one pass
        too_long = length > limits.max_cell_chars
        why = pd.Series("", index=text.index, dtype=object)
        why[too_long] = [
            f"{name} is {n:,} characters long, more than the {limits.max_cell_chars:,} a cell "
            "may hold"
            for n in length[too_long]
        ]
        rejects.add(too_long, name, text, why)
        text = text.where(~too_long, "")  # rejected once, not again as missing or unreadable
        if column.required:
            rejects.add(blank, name, text, f"missing {name}")
        blank = text == ""
    elif column.required:
        rejects.add(blank, name, text, f"missing {name}")

    if column.kind in ("id", "text"):
        return text.where(~blank, None).astype(object)
    if column.kind == "money":
        value = parse_money(text)
        rejects.add(
            ~blank & value.isna(),
            name,
            text,
            f"{name} is not an amount of money (write 85000, $85,000, 85K or 1.2M)",
        )
        rejects.add(value < 0, name, text, f"{name} is negative")
        rejects.add(value.notna() & ~(value.abs() < 1e15), name, text, f"{name} is out of range")
        return value
    if column.kind in ("number", "count", "percent"):
        value = parse_number(text)
        rejects.add(~blank & value.isna(), name, text, f"{name} is not a number")
        huge = value.notna() & ~(value.abs() < 1e15)
        rejects.add(huge, name, text, f"{name} is not a finite number in range")
        value = value.where(~huge)
        if column.kind == "count":
            rejects.add(value < 0, name, text, f"{name} is negative")
            rejects.add(
                (value % 1 != 0) & value.notna(), name, text, f"{name} is not a whole number"
            )
            return value.round().astype("Int64")
        if column.kind == "percent":
            rejects.add((value < 0) | (value > 100), name, text, f"{name} is outside 0-100")
        return value
    if column.kind == "bool":
        value = parse_bool(text)
        rejects.add(
            ~blank & value.isna(), name, text, f"{name} is not a boolean (true/false/yes/no/1/0)"
        )
        return value
    if column.kind in ("date", "period"):
        value = parse_date(text)
        hint = "YYYY-MM or YYYY-MM-DD" if column.kind == "period" else "YYYY-MM-DD"
        rejects.add(~blank & value.isna(), name, text, f"{name} is not a date (write {hint})")
        if not column.required:  # a CRM's "no end date"
            value = value.where(value != pd.Timestamp(NO_DATE))
        earliest, latest = pd.Timestamp(limits.earliest_date), pd.Timestamp(limits.latest_date)
        rejects.add(
            value < earliest,
            name,
            text,
            f"{name} is before {limits.earliest_date}, the earliest date accepted "
            "(earliest_date under [ingest])",
        )
        rejects.add(
            value > latest,
            name,
            text,
            f"{name} is after {limits.latest_date}, the latest date accepted "
            "(latest_date under [ingest])",
        )
        # Inside the window every date fits the engine's nanoseconds.
        return value.where((value >= earliest) & (value <= latest)).astype("datetime64[ns]")
    if column.kind == "enum":
        lowered = text.str.lower()
        value = per_distinct(  # a handful of choices over every row
            lowered,
            lambda distinct: distinct.map(lambda v: column.synonyms.get(v, v) if v else None),
            dtype="str",
        )
        value = value.where(~blank, None)
        bad = ~blank & ~value.isin(column.choices)
        rejects.add(bad, name, text, f"{name} is not one of {', '.join(column.choices)}")
        return value.where(~bad, None).astype(object)
    raise AssertionError(column.kind)  # pragma: no cover


def _canonical_frame(
    table: Table, raw: pd.DataFrame, path: Path, *, partial: bool = False
) -> tuple[pd.DataFrame, list[str], bool]:
    """Rename headers to canonical columns; returns (frame, ignored headers, mrr_given)."""
    mapping = header_map(table)
    renamed: dict[str, pd.Series] = {"_row": raw["_row"]}
    ignored: list[str] = []
    mrr_given = False
    for header in raw.columns:
        if header == "_row":
            continue
        key = normalize_header(header)
        canonical = mapping.get(key)
        if table is ACCOUNTS and canonical is None and key in MRR_ALIASES:
            canonical, mrr_given = "_mrr", True
        if canonical is None or canonical in renamed:
            ignored.append(_header_text(header))
            continue
        renamed[canonical] = raw[header]
    frame = pd.DataFrame(renamed, index=raw.index)
    if raw.empty and len(raw.columns) <= 1:
        # An empty export (``[]`` or a blank file) is an empty table, not a missing column.
        empty = pd.DataFrame({c.name: pd.Series(dtype=object) for c in table.columns})
        return empty.assign(_row=pd.Series(dtype=int)), ignored, False

    missing = [c for c in table.columns if c.required and c.name not in frame.columns]
    if partial:
        missing = [c for c in missing if c.name == "account_id"]
    if table is ACCOUNTS and "arr" not in frame.columns and not mrr_given and not partial:
        missing.append(table.column("arr"))
    if missing:
        column = missing[0]
        spellings = ", ".join(sorted({column.name, *column.aliases}))
        extra = " (or mrr)" if column.name == "arr" else ""
        raise ContractError(
            f"{path}: required column '{column.name}'{extra} is missing. "
            f"Accepted headers: {spellings}. Headers found: {_headers_found(raw.columns[:-1])}.",
            file=str(path),
            column=column.name,
        )
    return frame, ignored, mrr_given


def _header_text(header: object, most: int = 100) -> str:
    """A header as messages show it: cut after ``most`` characters."""
    text = str(header)
    return text if len(text) <= most else text[: most - 3] + "..."


def _headers_found(headers: pd.Index, most: int = 50) -> str:
    shown = ", ".join(_header_text(h) for h in headers[:most])
    return shown + (f", ... ({len(headers) - most} more)" if len(headers) > most else "")


def parse_table(
    table: Table,
    raw: pd.DataFrame,
    path: Path,
    *,
    partial: bool = False,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Parse one raw table. Returns (accepted rows, rejects, ignored headers).

    ``partial`` (accounts from a warehouse, which adds usage fields to the CRM's accounts)
    requires only ``account_id``: name and ARR come from the CRM when sources are merged.
    """
    frame, ignored, mrr_given = _canonical_frame(table, raw, path, partial=partial)
    rejects = _Rejects(table.name, path.name, frame)
    out = pd.DataFrame(index=frame.index)
    out["_row"] = frame["_row"]
    for column in table.columns:
        if partial and column.name != "account_id":
            column = replace(column, required=False)
        if column.name in frame.columns:
            out[column.name] = _parse_column(column, frame[column.name], rejects, limits)
        else:
            out[column.name] = None
    if mrr_given:
        mrr_column = Column("mrr", "money", required="arr" not in frame.columns)
        mrr = _parse_column(mrr_column, frame["_mrr"], rejects, limits)
        out["arr"] = out["arr"].fillna(mrr * 12) if "arr" in frame.columns else mrr * 12
    if table is ACCOUNTS and not partial:
        rejects.add(out["arr"].isna() & ~rejects.mask, "arr", "", "missing arr (or mrr)")
    out = out.astype({c.name: float for c in table.columns if c.kind == "money"})
    return out, rejects.frame_out(), ignored


# --------------------------------------------------------------------------- portfolio


def _reject_rows(
    frame: pd.DataFrame,
    mask: pd.Series,
    table: str,
    file: str,
    column: str,
    values: pd.Series,
    reasons: pd.Series | str,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "table": table,
            "file": file,
            "row": frame.loc[mask, "_row"],
            "column": column,
            "value": values[mask].astype(str),
            "reason": reasons[mask] if isinstance(reasons, pd.Series) else reasons,
        },
        columns=REJECT_COLUMNS,
    )


def _duplicates(frame: pd.DataFrame, keys: list[str], table: str, file: str) -> pd.DataFrame:
    """Reject every repeat of ``keys`` after its first occurrence, naming the first row."""
    dup = frame.duplicated(keys, keep="first") & frame[keys].notna().all(axis=1)
    if not dup.any():
        return pd.DataFrame(columns=REJECT_COLUMNS)
    first_row = frame.groupby(keys, dropna=True)["_row"].transform("first")
    label = " / ".join(keys)
    values = frame[keys].astype(str).agg(" / ".join, axis=1)
    reasons = (
        "duplicate " + label + " '" + values + "' (first on row " + first_row.astype(str) + ")"
    )
    return _reject_rows(frame, dup, table, file, label, values, reasons)


#: The key of each table: a row repeating one is rejected, and sources merge on it.
UNIQUE_KEYS = {
    "accounts": ["account_id"],
    "catalog": ["product_id"],
    "subscriptions": ["account_id", "product_id"],
    "usage": ["account_id", "metric", "period"],
    "features": ["account_id", "feature"],
    "departments": ["account_id", "department"],
}


@dataclass
class RawTable:
    """One table as read from its source: text cells with a ``_row`` number, before validation.

    ``origin`` names where it came from in rejects and errors (a file path, or e.g.
    ``hubspot:companies``); ``unreadable`` holds records that could not be read at all.
    """

    frame: pd.DataFrame
    origin: str
    unreadable: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))


def raw_table(rows: list[dict] | pd.DataFrame, origin: str) -> RawTable:
    """A connector's rows (dicts or a frame, any cell types) as a :class:`RawTable`: cells become
    text exactly as from a file, rows are numbered from 1, so validation is the files' own."""
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(rows)
    frame = _stringify(frame.reset_index(drop=True))
    frame["_row"] = np.arange(1, len(frame) + 1)
    return RawTable(frame=frame, origin=origin)


def read_portfolio(
    folder: str | Path,
    *,
    progress: ProgressCallback | None = None,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> Portfolio:
    """Read and validate every table file in ``folder``.

    Raises:
        ContractError: the folder, ``accounts`` or a required column is missing, or a file
            cannot be read at all or is over ``limits``. Row-level problems never raise: they
            become rejects.
    """
    portfolio = validate(read_folder(folder, progress=progress, limits=limits), limits=limits)
    # Ready to score on its own: fill what the files did not say (a sync stores the rows as
    # given and fills these after merging all sources, see expansion.store.merged_tables).
    portfolio.tables["accounts"] = derive_account_defaults(portfolio.tables["accounts"])
    return portfolio


def read_folder(
    folder: str | Path,
    *,
    progress: ProgressCallback | None = None,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> dict[str, RawTable]:
    """Every table file of ``folder``, read but not validated.

    Raises:
        ContractError: no such folder, no accounts file, or a file cannot be read at all or
            is larger than ``limits`` allow.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ContractError(f"{folder}: no such folder. Point --source at a folder of exports.")
    files: dict[str, Path] = {}
    for name in TABLES:
        path = find_table_file(folder, name)
        if path is not None:
            files[name] = path
    if "accounts" not in files:
        exts = ", ".join(FILE_EXTENSIONS)
        raise ContractError(
            f"{folder}: required file 'accounts' is missing (accounts.<ext>, ext one of {exts}).",
            file=str(folder / "accounts.csv"),
        )
    raw: dict[str, RawTable] = {}
    for name, path in files.items():
        if progress:
            progress(f"reading {path.name}")
        frame, unreadable = read_raw(path, limits)
        raw[name] = RawTable(frame=frame, origin=str(path), unreadable=unreadable)
    return raw


def validate(
    raw: dict[str, RawTable],
    *,
    known_accounts: set[str] | frozenset[str] = frozenset(),
    partial_accounts: bool = False,
    consume: bool = False,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> Portfolio:
    """Validate raw tables against the contract, exactly as files are.

    ``limits``: the longest cell, the most rows of a table and the window of accepted dates.

    ``consume`` empties ``raw`` table by table as each is parsed, so the raw text of a large
    pull is not held beside its parsed rows (a sync's memory peak at 1M accounts).

    ``accounts`` may be absent when ``known_accounts`` (accounts the source synced before, for an
    incremental pull) is given; rows of other tables must name an account of this batch or of
    ``known_accounts``.

    Raises:
        ContractError: ``accounts`` or a required column is missing, or a table has more rows
            than ``limits.max_rows``.
    """
    for table in raw.values():
        _check_rows(Path(table.origin), len(table.frame), limits.max_rows, "table")
    if "accounts" not in raw and not known_accounts:
        raise ContractError(
            "required table 'accounts' is missing: this source gives no accounts and no other "
            "source has synced any yet. Sync the source with your accounts (the CRM) first."
        )
    files = {name: Path(table.origin) for name, table in raw.items()}
    tables: dict[str, pd.DataFrame] = {}
    reject_parts: list[pd.DataFrame] = []
    rows_read: dict[str, int] = {}
    ignored: dict[str, list[str]] = {}
    all_account_ids: set = set()
    for name in list(raw):
        table = raw.pop(name) if consume else raw[name]
        path = files[name]
        rows_read[name] = len(table.frame) + len(table.unreadable)
        parsed, rejects, ignored_headers = parse_table(
            TABLES[name],
            table.frame,
            path,
            partial=partial_accounts and name == "accounts",
            limits=limits,
        )
        if ignored_headers:
            ignored[name] = ignored_headers
        reject_parts += [table.unreadable, rejects]
        if name == "accounts":
            all_account_ids = set(parsed["account_id"].dropna())
        bad_rows = set(rejects["row"])
        parsed = parsed[~parsed["_row"].isin(bad_rows)]
        if name in UNIQUE_KEYS:
            dups = _duplicates(parsed, UNIQUE_KEYS[name], name, path.name)
            reject_parts.append(dups)
            parsed = parsed[~parsed["_row"].isin(set(dups["row"]))]
        tables[name] = parsed
    if "accounts" not in tables:
        tables["accounts"] = pd.DataFrame(
            {
                "_row": pd.Series(dtype=int),
                **{c: pd.Series(dtype=object) for c in ACCOUNTS.column_names},
            }
        )

    accounts = tables["accounts"]
    # Rows of an account this batch rejected are rejected too, even if the account is known
    # from before: they would otherwise hang off a stale or missing account.
    rejected_here = all_account_ids - set(accounts["account_id"])
    known = (set(accounts["account_id"]) | set(known_accounts)) - rejected_here
    for name, frame in tables.items():
        if name in ("accounts", "catalog"):
            continue
        unknown = ~frame["account_id"].isin(known)
        if unknown.any():
            reasons = frame["account_id"].map(
                lambda a: (
                    f"account_id '{a}' was rejected in accounts"
                    if a in all_account_ids
                    else f"unknown account_id '{a}' (not in accounts)"
                )
            )
            reject_parts.append(
                _reject_rows(
                    frame,
                    unknown,
                    name,
                    files[name].name,
                    "account_id",
                    frame["account_id"],
                    reasons,
                )
            )
            tables[name] = frame[~unknown]
    if "subscriptions" in tables and "catalog" in tables:
        subs = tables["subscriptions"]
        products = set(tables["catalog"]["product_id"])
        unknown = ~subs["product_id"].isin(products)
        if unknown.any():
            reject_parts.append(
                _reject_rows(
                    subs,
                    unknown,
                    "subscriptions",
                    files["subscriptions"].name,
                    "product_id",
                    subs["product_id"],
                    "unknown product_id '" + subs["product_id"].astype(str) + "' (not in catalog)",
                )
            )
            tables["subscriptions"] = subs[~unknown]

    rejects = (
        pd.concat([p for p in reject_parts if len(p)], ignore_index=True)
        if any(len(p) for p in reject_parts)
        else pd.DataFrame(columns=REJECT_COLUMNS)
    )
    rejects = rejects.astype({"row": int}).sort_values(["table", "row"], kind="stable")
    # A reject says which value was wrong, not all of it (a 50 MB cell is one line, too).
    rejects["value"] = _clip(rejects["value"], REJECT_VALUE_CHARS)
    rejects["reason"] = _clip(rejects["reason"], REJECT_REASON_CHARS)
    clean = {
        name: frame.drop(columns="_row").reset_index(drop=True)
        for name, frame in tables.items()
        if name in files  # the tables given (not the empty accounts put in for the checks)
    }
    return Portfolio(
        tables=clean,
        rejects=rejects.reset_index(drop=True),
        files={name: str(path) for name, path in files.items()},
        rows_read=rows_read,
        ignored_columns=ignored,
    )


def segment_from_arr(arr: pd.Series) -> pd.Series:
    """>= $50K enterprise, $20K-$50K mid-market, < $20K smb."""
    return pd.Series(
        np.select([arr >= 50_000, arr >= 20_000], ["enterprise", "mid-market"], "smb"),
        index=arr.index,
        dtype=object,
    )


def derive_account_defaults(accounts: pd.DataFrame) -> pd.DataFrame:
    """Fill what no source said: segment from ARR, status ``paying``, channel ``direct``.

    Done on the merged portfolio, not per source, so a source that lacks a column never
    contradicts one that has it.
    """
    accounts = accounts.copy()
    accounts["segment"] = accounts["segment"].where(
        accounts["segment"].notna(), segment_from_arr(accounts["arr"])
    )
    accounts["status"] = accounts["status"].fillna("paying")
    accounts["channel"] = accounts["channel"].fillna("direct")
    return accounts
