"""Errors raised by the expansion engine.

Every error carries a message written for the person who has to fix the input::

    ExpansionError                 base class; ``exit_code`` is what the CLI exits with
    ├── ContractError              a portfolio file or column is missing or unreadable
    ├── RejectedRowsError          ``--strict`` sync with rejected rows; nothing was written
    ├── ScopeError                 a scope the grammar does not understand
    ├── ConfigError                ``expansion.toml`` holds an unknown key or a bad value
    ├── NoDataError                nothing has been synced into the database yet
    ├── StorageError               the database refused a write (disk full...); nothing of it
    │                              was committed
    └── crm.CrmError               the CRM refused or failed a write-back (expansion.crm):
        ├── CrmScopeError          the token or user may not write (scope, permission)
        ├── CrmConfigError         [crm] names a pipeline, stage or field the CRM lacks
        ├── CrmUnavailableError    down, timed out, rate-limited past the retries
        └── CrmBusyError           another click is writing the same opportunity
"""

from __future__ import annotations


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
