"""Sources of the data contract: files, SQL warehouses, HubSpot, Salesforce.

A new source is one module with a :class:`~expansion.connectors.base.Connector` subclass,
registered in :data:`KINDS`. Sources are configured as ``[[sources]]`` in ``expansion.toml``::

    [[sources]]
    name = "crm"
    type = "hubspot"

    [[sources]]
    name = "warehouse"
    type = "sql"
    url_env = "WAREHOUSE_URL"
    [sources.queries]
    usage = "SELECT account_id, metric, period, value, limit_value FROM analytics.usage"

Secrets (tokens, passwords, database URLs with passwords) only ever come from the environment.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

from ..config import read_settings_file
from ..errors import ConfigError
from .base import ROLES, Connector, Pull, SourceConfig, SourceError

__all__ = [
    "KINDS",
    "Connector",
    "Pull",
    "SourceConfig",
    "SourceError",
    "connector_for",
    "for_team",
    "in_sync_order",
    "load_sources",
    "sync_time",
]

#: type -> "module:Class", imported on first use (client libraries load only when needed).
KINDS: dict[str, str] = {
    "files": "expansion.connectors.files:FilesConnector",
    "sql": "expansion.connectors.sql:SqlConnector",
    "hubspot": "expansion.connectors.hubspot:HubSpotConnector",
    "salesforce": "expansion.connectors.salesforce:SalesforceConnector",
}


def connector_class(kind: str) -> type[Connector]:
    if kind not in KINDS:
        raise ConfigError(f"unknown source type '{kind}'. Known types: {', '.join(sorted(KINDS))}.")
    module, _, name = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def connector_for(config: SourceConfig, env: Mapping[str, str] | None = None) -> Connector:
    """The connector of one configured source (options checked now).

    Raises:
        ConfigError: unknown type, unknown or missing option.
    """
    return connector_class(config.type)(config, os.environ if env is None else env)


def sync_time(path: str | Path | None = None) -> str | None:
    """``[sync] at = "HH:MM"`` (UTC): when the scheduler's nightly job syncs every source.

    Raises:
        ConfigError: not a time, or an unknown key under ``[sync]``.
    """
    path, data = read_settings_file(path)
    section = data.get("sync", {})
    unknown = sorted(set(section) - {"at"})
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)} under [sync]; known: at.")
    at = section.get("at")
    if at is None:
        return None
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", str(at)):
        raise ConfigError(f'{path}: [sync] at must be a UTC time such as "04:00", got {at!r}.')
    return str(at)


def load_sources(path: str | Path | None = None) -> list[SourceConfig]:
    """``[[sources]]`` of ``path`` (or ``$EXPANSION_CONFIG``, or ``./expansion.toml``).

    Raises:
        ConfigError: not TOML, a source without name or type, a duplicate name, a bad role.
    """
    path, data = read_settings_file(path)
    if path is None:
        return []
    entries = data.get("sources", [])
    if not isinstance(entries, list):
        raise ConfigError(
            f"{path}: sources must be an array of tables: [[sources]] name=... type=..."
        )
    sources: list[SourceConfig] = []
    for index, entry in enumerate(entries, start=1):
        options = dict(entry)
        name = str(options.pop("name", "")).strip()
        kind = str(options.pop("type", "")).strip()
        if not name or not kind:
            raise ConfigError(
                f"{path}: source #{index} needs a name and a type (one of {', '.join(sorted(KINDS))})."
            )
        if any(s.name == name for s in sources):
            raise ConfigError(f"{path}: two sources are named '{name}'; names must be unique.")
        cls = connector_class(kind)
        role = str(options.pop("role", "") or cls.role)
        if role not in ROLES:
            raise ConfigError(
                f"{path}: source '{name}': role must be one of {', '.join(ROLES)}, got '{role}'."
            )
        team = str(options.pop("team", "") or "").strip() or None
        config = SourceConfig(name=name, type=kind, options=options, role=role, team=team)
        with contextlib.suppress(SourceError):  # secrets are read at pull time
            cls(config, {})  # a typo in an option is said now, not at 4 am
        sources.append(config)
    return sources


SYNC_ORDER = ("crm", "files", "warehouse")


def in_sync_order(sources: list[SourceConfig]) -> list[SourceConfig]:
    """CRM sources first, then files, then warehouses: accounts are stored before the usage
    rows that name them."""
    return sorted(sources, key=lambda s: SYNC_ORDER.index(s.role))


def for_team(sources: list[SourceConfig], team: str | None) -> list[SourceConfig]:
    """The sources that feed workspace ``team`` (``None``: the single workspace, whose sources
    name no team)."""
    return [s for s in sources if (s.team or None) == (team or None)]
