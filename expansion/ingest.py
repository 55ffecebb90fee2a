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
from collections.abc import Callable, Iterator
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
    #: Rows accepted per table, when the rows themselves were written a chunk at a time and
    #: not kept (a sync); otherwise counted from ``tables``.
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def accepted(self) -> dict[str, int]:
        if not self.tables:
            return {name: self.counts.get(name, 0) for name in self.files}
        return {name: len(frame) for name, frame in self.tables.items()}

    def summary(self) -> pd.DataFrame:
        """Rows read, accepted and rejected per table."""
        rejected = self.rejects.groupby("table")["row"].nunique() if len(self.rejects) else {}
        rows = [
            {
                "table": name,
                "file": self.files.get(name, ""),
                "read": self.rows_read.get(name, 0),
                "accepted": count,
                "rejected": int(rejected.get(name, 0)) if len(self.rejects) else 0,
            }
            for name, count in self.accepted.items()
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
    except Exception as exc:
        raise _unreadable(path, ext, exc) from exc

    if first_row is not None:
        frame = frame.fillna("")
        frame["_row"] = np.arange(first_row, first_row + len(frame))
        frame = _drop_blank_rows(frame)
    return frame, bad


def _unreadable(path: Path, ext: str, exc: Exception) -> Exception:
    """What a file that cannot be read raises: a :class:`ContractError` saying why."""
    if isinstance(exc, ContractError):
        return exc
    if isinstance(exc, UnicodeDecodeError):
        return ContractError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}). "
            "Export the file as UTF-8 (CSV UTF-8 in Excel).",
            file=str(path),
        )
    # ValueError, OSError, JSONDecodeError, and openpyxl's own zoo (BadZipFile...)
    return ContractError(f"{path}: cannot be read as .{ext}: {exc}", file=str(path))


def read_chunks(path: Path, limits: IngestLimits = DEFAULT_LIMITS) -> RawTable:
    """One file as a :class:`RawTable`: a csv or tsv file ``limits.chunk_rows`` rows at a time
    (its first chunk read now, the rest as the table is validated), any other file whole.

    Raises:
        ContractError: as :func:`read_raw` (a later chunk raises it when it is read).
    """
    ext = _extension(path)
    if ext not in ("csv", "tsv"):
        frame, unreadable = read_raw(path, limits)
        return RawTable(frame=frame, origin=str(path), unreadable=unreadable)

    def chunks() -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
        try:
            _check_size(path, ext, limits)
            yield from _delimited_chunks(path, "\t" if ext == "tsv" else ",", limits)
        except Exception as exc:
            raise _unreadable(path, ext, exc) from exc

    return RawTable.of_chunks(chunks(), origin=str(path))


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
    """A whole csv or tsv file as text (see :func:`_delimited_chunks`)."""
    parts = list(_delimited_chunks(path, sep, limits))
    if len(parts) == 1:
        return parts[0]
    frames, bad = zip(*parts, strict=True)
    return pd.concat(frames), pd.concat(bad, ignore_index=True)


def _delimited_chunks(
    path: Path, sep: str, limits: IngestLimits
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """A csv or tsv file as text, ``limits.chunk_rows`` rows at a time: (frame, rejects) of
    each chunk, ``_row`` numbered as a spreadsheet shows it (header = 1).

    A row with more fields than the header (``ACC-1,Acme,1000,50,`` under four headers) is
    rejected, never shifted: the header line sets the number of fields, and pandas skips
    (and names, by its line number in the file) every longer row. A file whose every row is
    longer is refused once it has been read to the end: its rows end with a delimiter, or a
    column has no header.
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
    delimiter = "tab" if sep == "\t" else "comma"
    record = 1  # the next record's number (the header line is record 1)
    given = kept = 0  # data rows read so far (skipped ones too), and rows kept
    every_skip: set[tuple[int, int]] = set()
    reader = pd.read_csv(
        path, header=None, on_bad_lines="warn", chunksize=limits.chunk_rows, **options
    )
    with reader:
        while True:
            # Warnings are caught around each read only: a generator must not hold the
            # process's warning filters while it waits between chunks.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", pd.errors.ParserWarning)
                try:
                    frame = next(reader)
                except StopIteration:
                    break
            skipped = [
                tuple(map(int, found))
                for warning in caught
                if issubclass(warning.category, pd.errors.ParserWarning)
                for found in _SKIPPED_LINE.findall(str(warning.message))
            ]
            rows = np.arange(record, record + len(frame) + len(skipped))
            record += len(frame) + len(skipped)
            lines = np.array([line for line, _, _ in skipped], dtype=int)
            rows = rows[~np.isin(rows, lines)]
            if len(rows) != len(frame):  # a skipped row pandas did not name
                raise ContractError(
                    f"{path}: some rows have more fields than the header, and they cannot be "
                    "told apart. Quote values that contain the delimiter, and remove "
                    "trailing delimiters.",
                    file=str(path),
                )
            if rows[:1].tolist() == [1]:  # the header line, read as the row that sets the width
                frame, rows = frame.iloc[1:], rows[1:]
            if frame.shape[1] != len(header):  # pragma: no cover - the same first line
                raise ContractError(f"{path}: the header line cannot be read", file=str(path))
            frame.columns = header
            given += len(frame) + len(skipped)
            _check_rows(path, given, limits.max_rows, "file")
            frame = frame.set_axis(pd.RangeIndex(len(frame))).fillna("").assign(_row=rows)
            frame = _drop_blank_rows(frame)
            kept += len(frame)
            every_skip |= {(expected, saw) for _, expected, saw in skipped}
            bad = pd.DataFrame(
                {
                    "table": _table_stem(path),
                    "file": path.name,
                    "row": lines,
                    "column": "",
                    "value": "",
                    "reason": [
                        f"row has {saw} fields but the header has {expected}: a trailing "
                        f"{delimiter}, or an unquoted {delimiter} inside a value (quote "
                        "such values)"
                        for _, expected, saw in skipped
                    ],
                },
                columns=REJECT_COLUMNS,
            )
            yield frame, bad
    if every_skip and not kept:
        extra = {saw - expected for expected, saw in every_skip}
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
    #: The rest of a table read a chunk at a time (a large file or query result): more
    #: (frame, unreadable) pairs, read only as the table is validated; ``None``: ``frame`` is
    #: the whole table.
    rest: Iterator[tuple[pd.DataFrame, pd.DataFrame]] | None = None

    @classmethod
    def of_chunks(
        cls, chunks: Iterator[tuple[pd.DataFrame, pd.DataFrame]], origin: str
    ) -> RawTable:
        """A table from its chunks: the first is read now (so a file or query that fails at
        once fails here), the rest when :meth:`chunks` reaches them."""
        chunks = iter(chunks)
        frame, unreadable = next(chunks)
        return cls(frame=frame, origin=origin, unreadable=unreadable, rest=chunks)

    def chunks(self) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
        """(frame, unreadable) of each chunk, the first one first. The rest can be read once."""
        yield self.frame, self.unreadable
        if self.rest is not None:
            rest, self.rest = self.rest, None
            yield from rest

    def whole(self) -> RawTable:
        """The table with every chunk read into ``frame``."""
        if self.rest is None:
            return self
        frames, unreadable = zip(*self.chunks(), strict=True)
        return RawTable(
            frame=pd.concat(frames),
            origin=self.origin,
            unreadable=pd.concat(unreadable, ignore_index=True),
        )


def raw_table(rows: list[dict] | pd.DataFrame, origin: str, *, first_row: int = 1) -> RawTable:
    """A connector's rows (dicts or a frame, any cell types) as a :class:`RawTable`: cells become
    text exactly as from a file, rows are numbered from ``first_row`` (1; a later chunk of a
    query result goes on from the one before), so validation is the files' own."""
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(rows)
    frame = _stringify(frame.reset_index(drop=True))
    frame["_row"] = np.arange(first_row, first_row + len(frame))
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
    """Every table file of ``folder``, read but not validated: a csv or tsv file a chunk at
    a time (:func:`read_chunks`), its first chunk now, the rest as it is validated.

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
        raw[name] = read_chunks(path, limits)
    return raw


def validate(
    raw: dict[str, RawTable],
    *,
    known_accounts: set[str] | frozenset[str] = frozenset(),
    partial_accounts: bool = False,
    consume: bool = False,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> Portfolio:
    """Validate raw tables against the contract, exactly as files are, into whole tables.

    ``limits``: the longest cell, the most rows of a table and the window of accepted dates.

    ``consume`` empties ``raw`` table by table as each is parsed, so the raw text of a large
    pull is not held beside its parsed rows.

    ``accounts`` may be absent when ``known_accounts`` (accounts the source synced before, for an
    incremental pull) is given; rows of other tables must name an account of this batch or of
    ``known_accounts``.

    A sync does not hold the tables: it writes each chunk :class:`Validation` accepts as it
    comes. This is the same validation with the chunks kept.

    Raises:
        ContractError: ``accounts`` or a required column is missing, or a table has more rows
            than ``limits.max_rows``.
    """
    check = Validation(
        raw,
        known_accounts=known_accounts,
        partial_accounts=partial_accounts,
        consume=consume,
        limits=limits,
    )
    parts: dict[str, list[pd.DataFrame]] = {}
    for name, accepted in check.chunks():
        parts.setdefault(name, []).append(accepted)
    portfolio = check.portfolio()
    portfolio.tables = {
        name: (
            parts[name][0] if len(parts[name]) == 1 else pd.concat(parts[name], ignore_index=True)
        )
        for name in portfolio.files
    }
    return portfolio


class _Vocabulary:
    """Numbers each distinct value in the order first seen (``-1``: missing): a column of
    keys as integers, the same numbers in every chunk."""

    def __init__(self) -> None:
        self.index: pd.Index | None = None

    def codes(self, values: pd.Series | np.ndarray) -> np.ndarray:
        codes, distinct = pd.factorize(values)
        if not len(distinct):
            return codes.astype(np.int64)
        if self.index is None:
            self.index = pd.Index(distinct)
            found = np.arange(len(distinct))
        else:
            found = self.index.get_indexer(distinct)
            new = found < 0
            if new.any():
                found[new] = np.arange(len(self.index), len(self.index) + int(new.sum()))
                self.index = self.index.append(pd.Index(distinct[new]))
        return np.where(codes < 0, -1, np.asarray(found, dtype=np.int64)[codes])


class _SeenKeys:
    """The keys of one table accepted so far and the row each was first on, across chunks.

    Exact and compact: each key column is numbered (:class:`_Vocabulary`; the account id, the
    column with the most values, numbered alone), the other columns' numbers are numbered as
    a combination, and a key is that number * 2**32 + the account's: one int64. They are kept
    as sorted runs, merged as they grow, so the 30M usage keys of a 1M-account book take
    about half a gigabyte where Python tuples would take several.
    """

    def __init__(self, keys: list[str], accounts: _Vocabulary) -> None:
        self.keys = keys
        self.vocabularies = {
            key: accounts if key == "account_id" else _Vocabulary() for key in keys
        }
        self.combinations = _Vocabulary()
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys, first rows)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's key as one int64 (``-1``: a key column is missing)."""
        codes = {key: self.vocabularies[key].codes(frame[key]) for key in self.keys}
        others = [key for key in self.keys if key != "account_id"]
        missing = np.zeros(len(frame), dtype=bool)
        for code in codes.values():
            missing |= code < 0
        combined = np.zeros(len(frame), dtype=np.int64)
        for key in others:
            combined = self.combinations.codes(combined * (1 << 31) + codes[key])
        if "account_id" in codes:
            combined = combined * (1 << 32) + codes["account_id"]
        return np.where(missing, -1, combined)

    def first_rows(self, keys: np.ndarray) -> np.ndarray:
        """The row each key was first accepted on in an earlier chunk (``-1``: not seen)."""
        out = np.full(len(keys), -1, dtype=np.int64)
        for sorted_keys, rows in self.runs:
            if not len(sorted_keys):
                continue
            at = np.searchsorted(sorted_keys, keys).clip(max=len(sorted_keys) - 1)
            hit = (sorted_keys[at] == keys) & (keys >= 0)
            out[hit] = rows[at[hit]]
        return out

    def add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Keep new keys (each once: the caller has taken out the repeats)."""
        keep = keys >= 0
        keys, rows = keys[keep], rows[keep]
        order = np.argsort(keys, kind="stable")
        self.runs.append((keys[order], np.asarray(rows, dtype=np.int64)[order]))
        # Merge the newest runs while a run is no larger than the one before it: few runs
        # to search, and each key moved about log(chunks) times in all.
        while len(self.runs) > 1 and len(self.runs[-1][0]) >= len(self.runs[-2][0]) // 2:
            (k2, r2), (k1, r1) = self.runs.pop(), self.runs.pop()
            merged_keys = np.concatenate([k1, k2])
            order = np.argsort(merged_keys, kind="stable")
            self.runs.append((merged_keys[order], np.concatenate([r1, r2])[order]))


class Validation:
    """Validate raw tables against the contract a chunk at a time, exactly as whole tables.

    :meth:`chunks` yields ``(table, accepted rows)`` for each chunk of each table (accounts
    first, then the catalog, then the rest, in :data:`~expansion.contract.TABLES` order), so
    a sync writes each chunk as it comes and holds only one; :meth:`portfolio` then says what
    was read, accepted and rejected. What needs more than one chunk is kept compactly across
    them: the accounts' ids (rows of other tables must name one), the catalog's product ids,
    and each table's keys (:class:`_SeenKeys`: a repeated key is rejected, naming the row it
    was first on, whichever chunks the two rows are in).
    """

    def __init__(
        self,
        raw: dict[str, RawTable],
        *,
        known_accounts: set[str] | frozenset[str] = frozenset(),
        partial_accounts: bool = False,
        consume: bool = False,
        limits: IngestLimits = DEFAULT_LIMITS,
    ) -> None:
        if "accounts" not in raw and not known_accounts:
            raise ContractError(
                "required table 'accounts' is missing: this source gives no accounts and no "
                "other source has synced any yet. Sync the source with your accounts (the CRM) "
                "first."
            )
        for table in raw.values():
            if table.rest is None:
                _check_rows(Path(table.origin), len(table.frame), limits.max_rows, "table")
        self.raw = raw
        self.known_accounts = known_accounts
        self.partial_accounts = partial_accounts
        self.consume = consume
        self.limits = limits
        self.files = {name: Path(table.origin) for name, table in raw.items()}
        self.rows_read: dict[str, int] = {}
        self.accepted: dict[str, int] = {}
        self.ignored: dict[str, list[str]] = {}
        self.reject_parts: list[pd.DataFrame] = []
        #: Account ids numbered: the accounts' own first (sorted), then any other as met.
        self.account_codes = _Vocabulary()
        self.known: pd.Index | None = None  # the accounts rows of other tables may name
        self.all_account_ids: pd.Index = pd.Index([], dtype=object)
        self.accepted_accounts: pd.Index = pd.Index([], dtype=object)
        self.products: set | None = None
        self.done = False

    def chunks(self) -> Iterator[tuple[str, pd.DataFrame]]:
        """``(table, accepted rows without _row)`` of every chunk, in table order (a table
        with no rows yields one empty frame, its columns typed)."""
        for name in [n for n in TABLES if n in self.raw]:
            if name != "accounts" and self.known is None:
                self._accounts_known()
            table = self.raw.pop(name) if self.consume else self.raw[name]
            yield from self._table(name, table)
        if self.known is None:
            self._accounts_known()
        self.done = True

    def _accounts_known(self) -> None:
        accepted = self.accepted_accounts
        # Rows of an account this batch rejected are rejected too, even if the account is
        # known from before: they would otherwise hang off a stale or missing account.
        rejected_here = self.all_account_ids.difference(accepted)
        known = accepted.union(pd.Index(list(self.known_accounts), dtype=object))
        self.known = known.difference(rejected_here) if len(rejected_here) else known
        # Account codes in sorted order from here on (see account_rank).
        self.account_codes = _Vocabulary()
        self.account_codes.codes(accepted.sort_values())

    def _table(self, name: str, table: RawTable) -> Iterator[tuple[str, pd.DataFrame]]:
        path = self.files[name]
        seen = _SeenKeys(UNIQUE_KEYS[name], self.account_codes) if name in UNIQUE_KEYS else None
        read = rows = 0
        first = True
        for frame, unreadable in table.chunks():
            read += len(frame) + len(unreadable)
            rows += len(frame)
            _check_rows(path, rows, self.limits.max_rows, "table")
            parsed, rejects, ignored_headers = parse_table(
                TABLES[name],
                frame,
                path,
                partial=self.partial_accounts and name == "accounts",
                limits=self.limits,
            )
            del frame
            if first and ignored_headers:
                self.ignored[name] = ignored_headers
            first = False
            self.reject_parts += [unreadable, rejects]
            if name == "accounts":
                ids = parsed["account_id"].dropna()
                self.all_account_ids = self.all_account_ids.append(pd.Index(ids, dtype=object))
            if len(rejects):
                parsed = parsed[~parsed["_row"].isin(set(rejects["row"]))]
            if seen is not None:
                parsed = self._unique(parsed, seen, name, path.name)
            parsed = self._known_rows(parsed, name, path.name)
            if name == "accounts":
                ids = pd.Index(parsed["account_id"], dtype=object)
                self.accepted_accounts = self.accepted_accounts.append(ids)
            if name == "catalog":
                self.products = (self.products or set()) | set(parsed["product_id"])
            self.accepted[name] = self.accepted.get(name, 0) + len(parsed)
            yield name, parsed.drop(columns="_row").reset_index(drop=True)
        self.rows_read[name] = read
        if name == "accounts":
            self.all_account_ids = self.all_account_ids.unique()

    def _unique(self, parsed: pd.DataFrame, seen: _SeenKeys, name: str, file: str) -> pd.DataFrame:
        """Reject every repeat of the table's key after its first occurrence (in this chunk
        or an earlier one), naming the first row."""
        keys = seen.encode(parsed)
        rows = parsed["_row"].to_numpy(dtype=np.int64)
        earlier = seen.first_rows(keys)
        here = pd.Series(keys).duplicated(keep="first").to_numpy() & (keys >= 0)
        dup = (earlier >= 0) | here
        if dup.any():
            first_here = pd.Series(rows).groupby(keys).transform("first").to_numpy()
            first_row = np.where(earlier >= 0, earlier, first_here)
            label = " / ".join(seen.keys)
            values = parsed.loc[dup, seen.keys].astype(str).agg(" / ".join, axis=1)
            first = pd.Series(first_row[dup], index=values.index).astype(str)
            self.reject_parts.append(
                pd.DataFrame(
                    {
                        "table": name,
                        "file": file,
                        "row": parsed.loc[dup, "_row"],
                        "column": label,
                        "value": values.astype(str),
                        "reason": "duplicate "
                        + label
                        + " '"
                        + values
                        + "' (first on row "
                        + first
                        + ")",
                    },
                    columns=REJECT_COLUMNS,
                )
            )
        fresh = ~dup
        seen.add(keys[fresh], rows[fresh])
        return parsed[~dup] if dup.any() else parsed

    def _known_rows(self, frame: pd.DataFrame, name: str, file: str) -> pd.DataFrame:
        """Rows naming an unknown (or a rejected) account, or a product not in this batch's
        catalog, rejected."""
        if name in ("accounts", "catalog"):
            return frame
        unknown = pd.Series(self.known.get_indexer(frame["account_id"]) < 0, index=frame.index)
        if unknown.any():
            rejected = set(self.all_account_ids)
            reasons = frame.loc[unknown, "account_id"].map(
                lambda a: (
                    f"account_id '{a}' was rejected in accounts"
                    if a in rejected
                    else f"unknown account_id '{a}' (not in accounts)"
                )
            )
            self.reject_parts.append(
                _reject_rows(frame, unknown, name, file, "account_id", frame["account_id"], reasons)
            )
            frame = frame[~unknown]
        if name == "subscriptions" and self.products is not None:
            unknown = ~frame["product_id"].isin(self.products)
            if unknown.any():
                self.reject_parts.append(
                    _reject_rows(
                        frame,
                        unknown,
                        "subscriptions",
                        file,
                        "product_id",
                        frame["product_id"],
                        "unknown product_id '"
                        + frame["product_id"].astype(str)
                        + "' (not in catalog)",
                    )
                )
                frame = frame[~unknown]
        return frame

    def account_rank(self, account_ids: pd.Series) -> np.ndarray:
        """Each accepted account's place in the sorted order of this batch's accounts (once
        the accounts are read): rows of a range of accounts can be put together by it."""
        index = self.account_codes.index
        if index is None:
            return np.full(len(account_ids), -1, dtype=np.int64)
        return index.get_indexer(account_ids)

    def portfolio(self) -> Portfolio:
        """What was read, accepted and rejected (tables empty: the chunks were handed out)."""
        assert self.done, "chunks() not read to the end"
        parts = [p for p in self.reject_parts if len(p)]
        rejects = (
            pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=REJECT_COLUMNS)
        )
        rejects = rejects.astype({"row": int}).sort_values(["table", "row"], kind="stable")
        # A reject says which value was wrong, not all of it (a 50 MB cell is one line, too).
        rejects["value"] = _clip(rejects["value"], REJECT_VALUE_CHARS)
        rejects["reason"] = _clip(rejects["reason"], REJECT_REASON_CHARS)
        return Portfolio(
            tables={},
            rejects=rejects.reset_index(drop=True),
            files={name: str(path) for name, path in self.files.items()},
            rows_read={name: self.rows_read[name] for name in self.files},
            ignored_columns={n: self.ignored[n] for n in self.files if n in self.ignored},
            counts=dict(self.accepted),
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
