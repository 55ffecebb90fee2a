"""The connector interface: a source that yields the contract's tables, incrementally when it can.

A connector only reads. It returns raw rows per contract table (header names may be any of the
contract's aliases, cells any type); :func:`expansion.pipeline.sync_source` validates them exactly
like files, merges an incremental pull with what the source synced before, and writes everything
in one transaction together with the new cursor. A connector that fails raises
:class:`SourceError` with a message a person can act on; nothing is written then, and the next
sync starts again from the last good cursor.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from ..errors import ConfigError, SourceError
from ..ingest import RawTable
from ..limits import DEFAULT_LIMITS, IngestLimits
from ..redact import remember

Progress = Callable[[str], None]
ROLES = ("crm", "warehouse", "files")


@dataclass(frozen=True)
class SourceConfig:
    """One ``[[sources]]`` entry of ``expansion.toml``: its name, type, role and options."""

    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)
    role: str = ""
    #: The Slack workspace whose data this source feeds, when one deployment serves several.
    team: str | None = None


@dataclass
class Pull:
    """What one pull read.

    ``tables`` maps contract table names to raw rows. ``incremental`` pulls carry only the
    accounts that changed since ``cursor`` was issued: their rows replace those accounts' rows of
    this source, every other account's rows are kept. A full pull replaces the source's rows.
    ``cursor`` is stored with the sync and handed back to the next pull.
    """

    tables: dict[str, RawTable]
    cursor: str | None = None
    incremental: bool = False
    #: Releases what the tables' later chunks are read from (a warehouse connection); the sync
    #: calls it once it has read them, or failed.
    closer: Callable[[], None] | None = None

    def close(self) -> None:
        if self.closer is not None:
            closer, self.closer = self.closer, None
            closer()


class Connector(ABC):
    """Base class of every source type. Subclasses set ``kind``, ``role`` and ``options``."""

    kind: ClassVar[str]
    #: Which fields this source is trusted for when sources overlap (see expansion.merge):
    #: ``crm`` for contract fields, ``warehouse`` for usage, ``files`` in between.
    role: ClassVar[str] = "files"
    #: Accepted option names (besides name/type/role) with a one-line description each.
    options: ClassVar[dict[str, str]] = {}
    #: Options that must be given.
    required: ClassVar[tuple[str, ...]] = ()
    #: Incremental sources: minutes the next cursor stays behind the pull's start, so a change
    #: made during a pull (or not yet in the source's search index) is read next time.
    lag_minutes: float = 0.0
    #: What a sync accepts (``[ingest]`` of expansion.toml); set by the sync before the pull.
    limits: IngestLimits = DEFAULT_LIMITS

    def __init__(self, config: SourceConfig, env: Mapping[str, str]) -> None:
        unknown = sorted(set(config.options) - set(self.options))
        if unknown:
            known = ", ".join(sorted(self.options)) or "none"
            raise ConfigError(
                f"source '{config.name}' ({self.kind}): unknown option(s) {', '.join(unknown)}. "
                f"Known options: {known}."
            )
        missing = [name for name in self.required if config.options.get(name) in (None, "")]
        if missing:
            raise ConfigError(
                f"source '{config.name}' ({self.kind}): missing option(s) {', '.join(missing)}: "
                + "; ".join(f"{m}: {self.options[m]}" for m in missing)
            )
        self.config = config
        self.name = config.name
        self.env = env

    def option(self, name: str, default: Any = None) -> Any:
        return self.config.options.get(name, default)

    # -- typed options: read and checked here once, for every connector ---------------------

    def bad_option(self, option: str, problem: str) -> ConfigError:
        """``source 'crm' (hubspot): option timeout must be a number from 0.1 to 600, got 0.``"""
        return ConfigError(f"source '{self.name}' ({self.kind}): option {option} {problem}.")

    def text_option(self, option: str, default: str = "") -> str:
        """A string option, stripped; ``default`` when absent or blank."""
        value = self.option(option)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.bad_option(option, f"must be a string, got {value!r}")
        return value.strip() or default

    def choice_option(self, option: str, default: str, choices: tuple[str, ...]) -> str:
        """One of ``choices`` (``default`` when absent)."""
        value = self.text_option(option, default)
        if value not in choices:
            raise self.bad_option(option, f"must be one of {', '.join(choices)}, got '{value}'")
        return value

    def bool_option(self, option: str, default: bool) -> bool:
        value = self.option(option, default)
        if not isinstance(value, bool):
            raise self.bad_option(option, f"must be true or false, got {value!r}")
        return value

    def list_option(self, option: str, default: list[str]) -> list[str]:
        """A list of non-blank strings (one string is a list of one)."""
        value = self.option(option, default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.bad_option(option, f"must be a list of strings, got {value!r}")
        return [v.strip() for v in value]

    def number_option(
        self,
        option: str,
        default: float,
        *,
        minimum: float,
        maximum: float,
        whole: bool = False,
    ) -> Any:
        """A number from ``minimum`` to ``maximum`` (an ``int`` when ``whole``)."""
        value = self.option(option, default)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and whole:
            ok = float(value).is_integer()
        if not ok or not minimum <= value <= maximum:
            kind = "a whole number" if whole else "a number"
            raise self.bad_option(
                option, f"must be {kind} from {minimum:g} to {maximum:g}, got {value!r}"
            )
        return int(value) if whole else float(value)

    def mapping_option(
        self,
        option: str,
        defaults: dict[str, str],
        known: tuple[str, ...],
        *,
        table: str,
        target: str,
        check: Callable[[str, str], str | None] | None = None,
        hints: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, str], set[str]]:
        """A table of contract column -> ``target`` name (a HubSpot property, a Salesforce
        field) over ``defaults``; ``""`` drops a column. ``check(column, name)`` returns what is
        wrong with a name, if anything; ``hints`` say where an unknown column comes from
        instead. Returns (the mapping without dropped columns, the
        columns given explicitly with a name)."""
        given = self.option(option, {}) or {}
        if not isinstance(given, dict):
            example = next(iter(defaults.items()), ("arr", "arr"))
            raise self.bad_option(
                option,
                f"must be a table of {table} column -> {target}, e.g. "
                f'[sources.{option}] {example[0]} = "{example[1]}"',
            )
        unknown = sorted(map(str, set(given) - set(known)))
        if unknown:
            hint = "".join(f" ({hints[c]})" for c in unknown if hints and c in hints)
            raise ConfigError(
                f"source '{self.name}' ({self.kind}): unknown {table} column(s) "
                f"{', '.join(unknown)} in {option}{hint}. Known columns: {', '.join(known)}."
            )
        mapping = dict(defaults)
        for column, value in given.items():
            if value is not None and not isinstance(value, str):
                raise self.bad_option(
                    option, f"must map each column to a {target} name; {column} does not"
                )
            name = (value or "").strip()
            problem = check(column, name) if check is not None and name else None
            if problem:
                raise self.bad_option(f"{option}.{column}", problem)
            mapping[column] = name
        return {c: n for c, n in mapping.items() if n}, {c for c, v in given.items() if v}

    def secret(self, variable: str, what: str, *, conceal: bool = True) -> str:
        """A secret from the environment (never from expansion.toml); unless ``conceal`` is
        false (an instance URL, a user name) it is masked in every error text from then on.

        Raises:
            SourceError: the variable is not set.
        """
        value = str(self.env.get(variable, "")).strip()
        if not value:
            raise SourceError(
                f"source '{self.name}': {what} is not set: put it in the environment variable "
                f"{variable} (secrets are never read from expansion.toml)."
            )
        if conceal:
            remember(value)
        return value

    def location(self) -> str:
        """Where the rows come from, for sync reports (no secrets)."""
        return self.kind

    def since(self, cursor: str | None, started: datetime, say: Progress) -> datetime | None:
        """The moment an incremental pull reads from, or ``None`` to read everything: no cursor,
        a cursor that is not a date and time, or one later than this pull's ``started`` (a clock
        was wrong when it was made, so changes may have been missed)."""
        if not cursor:
            return None
        try:
            moment = datetime.fromisoformat(cursor.strip())
        except ValueError:
            say(f"cursor '{cursor}' not understood (not a date and time): reading everything")
            return None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if moment > started:
            say(
                f"cursor {cursor} is later than this sync's start ({cursor_text(started)}): a "
                "clock was wrong, so changes may have been missed: reading everything"
            )
            return None
        return moment

    def next_cursor(self, started: datetime, since: datetime | None, cursor: str | None) -> str:
        """The pull's start less the lag, unless the cursor the pull started from is later (a
        larger lag_minutes than before, an older release's cursor): never backwards, as every
        change before that cursor was read already."""
        lagged = started - timedelta(minutes=self.lag_minutes)
        if since is not None and cursor and since > lagged:
            return cursor
        return cursor_text(lagged)

    @abstractmethod
    def pull(self, cursor: str | None, *, progress: Progress | None = None) -> Pull:
        """Read the source (everything, or what changed since ``cursor``).

        Raises:
            SourceError: the source refused or failed; nothing was written.
        """


def cursor_text(moment: datetime) -> str:
    """A cursor: ISO 8601, UTC, to the microsecond (nothing rounded away)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
