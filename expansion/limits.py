"""Limits on what a sync reads: cell and file sizes, rows per file, the dates accepted.

Defaults suit a book of a million accounts; ``[ingest]`` in ``expansion.toml`` changes any
of them::

    [ingest]
    max_cell_chars = 10000      # longer cells reject their row
    max_file_mb = 2048          # a csv, tsv, json or jsonl file larger than this is refused
    max_xlsx_mb = 100           # an xlsx whose unzipped parts are larger than this is refused
    max_rows = 50000000         # rows per table (an xlsx sheet: at most Excel's 1,048,576)
    max_rejects_written = 10000 # reject lines written to the report and kept with the run
    chunk_rows = 1000000        # rows of a csv/tsv file or SQL result read, checked and written at a time
    earliest_date = 1990-01-01  # dates outside the window reject their row
    latest_date = 2100-12-31

Unknown keys are an error, as under ``[scoring]``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

from .config import read_settings_file
from .errors import ConfigError

#: The window the engine can do date arithmetic in (days to renewal, a renewal plus a year)
#: without overflowing; the accepted dates must lie inside it, and a date outside it that is
#: stored already (from an older release) is treated as unknown when scoring.
SAFE_EARLIEST = date(1900, 1, 1)
SAFE_LATEST = date(2200, 12, 31)

#: The most rows an Excel sheet can have: a workbook with more was not written by Excel.
XLSX_MAX_ROWS = 1_048_576

#: What CRMs write for "no end date": read as a blank where a column may be blank.
NO_DATE = date(9999, 12, 31)


@dataclass(frozen=True)
class IngestLimits:
    """What a sync accepts. See ``docs/data-contract.md#limits``."""

    max_cell_chars: int = 10_000
    max_file_mb: float = 2048
    max_xlsx_mb: float = 100
    max_rows: int = 50_000_000
    max_rejects_written: int = 10_000
    #: Rows of a csv/tsv file or a SQL result read, validated and written at a time: a sync's
    #: memory is set by this, not by the size of the book (see docs/performance.md).
    chunk_rows: int = 1_000_000
    earliest_date: date = date(1990, 1, 1)
    latest_date: date = date(2100, 12, 31)

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def max_xlsx_bytes(self) -> int:
        return int(self.max_xlsx_mb * 1024 * 1024)

    def validate(self, origin: str = "config") -> IngestLimits:
        """Raise :class:`ConfigError` when a value cannot work."""
        for name in ("max_cell_chars", "max_file_mb", "max_xlsx_mb", "max_rows", "chunk_rows"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{origin}: ingest.{name} must be more than 0")
        if self.max_rejects_written < 0:
            raise ConfigError(f"{origin}: ingest.max_rejects_written must be 0 or more")
        if not SAFE_EARLIEST <= self.earliest_date < self.latest_date <= SAFE_LATEST:
            raise ConfigError(
                f"{origin}: ingest.earliest_date and latest_date must be two dates from "
                f"{SAFE_EARLIEST} to {SAFE_LATEST}, the earliest first; got "
                f"{self.earliest_date} and {self.latest_date}"
            )
        return self


DEFAULT_LIMITS = IngestLimits()


def load_limits(path: str | Path | None = None) -> IngestLimits:
    """Defaults, overridden by ``[ingest]`` in ``path`` (or ``$EXPANSION_CONFIG``, or
    ``./expansion.toml`` when it exists), found as :func:`expansion.config.load_config` finds
    the scoring settings.

    Raises:
        ConfigError: the file is missing or not TOML, an unknown key, a bad value.
    """
    found, data = read_settings_file(path)
    if found is None:
        return DEFAULT_LIMITS
    path = found
    section = data.get("ingest", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: ingest must be a table: [ingest] max_cell_chars = ...")
    return limits_from_mapping(section, origin=str(path))


def limits_from_mapping(overrides: dict[str, Any], *, origin: str = "config") -> IngestLimits:
    """Apply ``overrides`` on top of the defaults, refusing unknown keys and bad values."""
    known = {f.name for f in fields(IngestLimits)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in known:
            raise ConfigError(
                f"{origin}: unknown ingest setting '{key}'. Known settings: "
                + ", ".join(sorted(known))
            )
        if key in ("earliest_date", "latest_date"):
            changes[key] = _date(value, key, origin)
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{origin}: ingest.{key} must be a number, got {value!r}")
        elif key in ("max_cell_chars", "max_rows", "max_rejects_written", "chunk_rows"):
            if value != int(value):
                raise ConfigError(f"{origin}: ingest.{key} must be a whole number, got {value!r}")
            changes[key] = int(value)
        else:
            changes[key] = float(value)
    return replace(DEFAULT_LIMITS, **changes).validate(origin)


def _date(value: object, key: str, origin: str) -> date:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{origin}: ingest.{key} must be a date such as 1990-01-01, got {value!r}")
