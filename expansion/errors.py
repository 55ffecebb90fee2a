"""Errors raised by the expansion engine: one tree, all of it here.

Every error carries a message written for the person who has to fix the input::

    ExpansionError                 base class; ``exit_code`` is what the CLI exits with
    ├── ContractError              a portfolio file or column is missing or unreadable
    ├── RejectedRowsError          ``--strict`` sync with rejected rows; nothing was written
    ├── ScopeError                 a scope the grammar does not understand
    ├── ConfigError                ``expansion.toml`` holds an unknown key or a bad value
    ├── NoDataError                nothing has been synced into the database yet
    ├── StorageError               the database refused a write (disk full...); nothing of it
    │                              was committed
    ├── SourceError                a configured source could not be read (message redacted)
    ├── ScheduleError              a digest schedule the grammar does not understand
    ├── UnknownOpportunityError    an action names an opportunity the latest scoring lacks
    ├── OutputExistsError          ``expansion generate`` into a folder that is not empty
    ├── LeaseLostError             another holder took a digest run over: stop posting
    ├── ResultsNotStorable         chunked results Parquet cannot hold (scored whole instead)
    ├── ChunkScoringError          a scoring worker process failed
    │   └── WorkerLost             a worker process ended without saying why
    ├── TeamError                  a team member's role, capacity or e-mail is not valid
    └── CrmError                   the CRM refused or failed a write-back (expansion.crm):
        ├── CrmScopeError          the token or user may not write (scope, permission)
        ├── CrmConfigError         [crm] names a pipeline, stage or field the CRM lacks
        ├── CrmUnavailableError    down, timed out, rate-limited past the retries
        └── CrmBusyError           another click is writing the same opportunity

The modules that raise them re-export them (``expansion.connectors.SourceError``,
``expansion.digest.LeaseLostError``...), so either import works.
"""

from __future__ import annotations

from .redact import redact


class ExpansionError(Exception):
    """Base class of every error the engine raises on purpose."""

    exit_code = 1


class ContractError(ExpansionError):
    """A required file or column is missing, or a file cannot be read at all."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None):
        super().__init__(message)
        self.file = file
        self.column = column


class RejectedRowsError(ExpansionError):
    """``strict`` mode refused a sync because some rows were rejected."""

    exit_code = 2

    def __init__(self, message: str, *, rejects):
        super().__init__(message)
        self.rejects = rejects


class ScopeError(ExpansionError):
    """A scope (``enterprise renewing in 90 days 60``) could not be understood."""

    exit_code = 2

    def __init__(self, message: str, *, candidates: list[str] | None = None):
        super().__init__(message)
        self.candidates = candidates or []


class ConfigError(ExpansionError):
    """The scoring configuration holds an unknown key or an invalid value."""

    exit_code = 2


class NoDataError(ExpansionError):
    """The database holds no synced portfolio yet."""

    exit_code = 2


class StorageError(ExpansionError):
    """The database (or its driver) refused a write: a full disk, a value it cannot store.
    The transaction was rolled back; the message is one line naming the cause."""


class SourceError(ExpansionError):
    """A source could not be read (rejected credentials, rate limit, outage, malformed page).

    Its message quotes drivers and remote APIs, so it is redacted when made: every place that
    stores, logs or shows it gets the text without secrets (see :mod:`expansion.redact`).
    """

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class ScheduleError(ExpansionError):
    """A digest schedule could not be understood."""

    exit_code = 2


class UnknownOpportunityError(ExpansionError):
    """An action names an opportunity the latest scoring does not hold."""

    exit_code = 2


class OutputExistsError(ExpansionError):
    """The output folder is not empty and ``force`` was not given."""

    exit_code = 2


class LeaseLostError(ExpansionError):
    """Another holder took the run over: stop posting."""


class ResultsNotStorable(ExpansionError):
    """A chunked scoring's frame Parquet cannot hold (a column mixing numbers and text)."""


class ChunkScoringError(ExpansionError):
    """A worker process failed to score its chunks."""


class WorkerLost(ChunkScoringError):
    """A worker process ended without saying why (killed, out of memory, could not start)."""


class TeamError(ExpansionError):
    """A team member's role, capacity or e-mail is not valid (``expansion.team``)."""

    exit_code = 2


class CrmError(ExpansionError):
    """The CRM refused or failed a write; the message is one line naming the fix."""


class CrmScopeError(CrmError):
    """The integration may not write (HubSpot scope, Salesforce permission)."""


class CrmConfigError(CrmError):
    """``[crm]`` names a pipeline, stage or field the CRM does not have."""

    exit_code = 2


class CrmUnavailableError(CrmError):
    """The CRM is down, timed out or kept rate-limiting after the retries; nothing was written
    locally, so trying again is safe."""


class CrmBusyError(CrmError):
    """Another click or process is writing this opportunity right now."""
