"""A SQL warehouse (PostgreSQL, Snowflake, BigQuery, Redshift, SQLite...): one query per table.

Any SQLAlchemy URL works, given the dialect's driver is installed. The URL comes from the
environment (it usually holds a password): ``url_env`` names the variable. Each entry of
``queries`` maps a contract table to a SELECT whose columns are the contract's names or aliases;
results are validated exactly like files::

    [[sources]]
    name = "warehouse"
    type = "sql"
    url_env = "WAREHOUSE_URL"
    [sources.queries]
    usage = "SELECT account_id, metric, period, value, limit_value FROM analytics.usage_monthly"
    features = "SELECT account_id, feature, entitled, used FROM analytics.feature_adoption"
"""

from __future__ import annotations

import sqlalchemy as sa

from ..contract import TABLES
from ..errors import ConfigError
from ..ingest import RawTable, raw_table
from ..redact import remember, url_secrets
from .base import Connector, Progress, Pull, SourceError


class SqlConnector(Connector):
    """Runs the configured queries in one read-only session; always a full snapshot.

    Each result is read ``chunk_rows`` rows at a time (``[ingest]``) as the sync validates and
    writes it, through a server-side cursor where the driver has one, so a result of tens of
    millions of rows never sits in memory whole.
    """

    kind = "sql"
    role = "warehouse"
    options = {
        "url_env": "environment variable holding the SQLAlchemy URL (default WAREHOUSE_URL)",
        "queries": "table of contract table -> SELECT statement",
        "usage_events": "table naming raw usage rows whose monthly usage the warehouse "
        "aggregates (see expansion.connectors.warehouse)",
    }

    def __init__(self, config, env) -> None:
        super().__init__(config, env)
        queries = self.option("queries")
        events = self.option("usage_events")
        if events is not None:
            queries = {} if queries is None else queries
            if isinstance(queries, dict) and "usage" in queries:
                raise ConfigError(
                    f"source '{self.name}' (sql): usage is given twice, as [sources.queries] "
                    "usage and as [sources.usage_events]; keep one."
                )
        if not isinstance(queries, dict) or not (queries or events is not None):
            raise ConfigError(
                f"source '{self.name}' (sql): queries must be a table such as "
                '[sources.queries] usage = "SELECT ...", or give [sources.usage_events] '
                'table = "..." for usage the warehouse aggregates by month'
            )
        unknown = sorted(set(queries) - set(TABLES))
        if unknown:
            raise ConfigError(
                f"source '{self.name}' (sql): unknown table(s) {', '.join(unknown)} in queries. "
                f"Tables: {', '.join(TABLES)}."
            )
        self.queries: dict[str, str | sa.Select] = {str(k): str(v) for k, v in queries.items()}
        if events is not None:
            from .warehouse import UsageEvents

            self.queries["usage"] = UsageEvents.from_option(self.name, events).statement()

    @property
    def url_env(self) -> str:
        return str(self.option("url_env") or "WAREHOUSE_URL")

    def location(self) -> str:
        url = str(self.env.get(self.url_env, "")).strip()
        if not url:
            return f"${self.url_env}"
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            return f"${self.url_env}"
        if "@" in (parsed.host or ""):  # an unencoded '@' in the password: the host is wrong
            return f"${self.url_env}"
        # Driver, host and database only: passwords also hide in query parameters
        # (?password=, ?credentials_base64=, ?private_key_passphrase=...).
        host = f"{parsed.host}:{parsed.port}" if parsed.port else (parsed.host or "")
        return f"{parsed.drivername}://{host}/{parsed.database or ''}"

    def pull(self, cursor: str | None, *, progress: Progress | None = None) -> Pull:
        url = self.secret(self.url_env, "the warehouse's SQLAlchemy URL", conceal=False)
        remember(*url_secrets(url))  # the password, wherever a driver's error quotes it
        try:
            if "@" in (sa.engine.make_url(url).host or ""):
                raise SourceError(
                    f"source '{self.name}': the user name or password in {self.url_env} holds "
                    "an unencoded '@', so the URL names the wrong host. Percent-encode it: "
                    "'@' as %40 (also ':' as %3A and '/' as %2F)."
                )
            engine = sa.create_engine(url)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise SourceError(
                f"source '{self.name}': {self.url_env} is not a usable SQLAlchemy URL ({exc})."
            ) from exc
        try:
            conn = engine.connect()
        except sa.exc.OperationalError as exc:
            engine.dispose()
            raise SourceError(
                f"source '{self.name}': cannot connect to the warehouse in {self.url_env}: "
                f"{_first_line(exc)}"
            ) from exc

        def close() -> None:
            try:
                conn.close()
            finally:
                engine.dispose()

        tables = {}
        try:
            for table, query in self.queries.items():
                if progress:
                    progress(f"querying {table}")
                tables[table] = RawTable.of_chunks(
                    self._chunks(conn, table, query), origin=f"{self.name}:{table}"
                )
        except BaseException:
            close()
            raise
        return Pull(tables=tables, closer=close)

    def _chunks(self, conn: sa.Connection, table: str, query: str | sa.Select):
        """The rows of ``table``'s query ``limits.chunk_rows`` at a time, numbered from 1 on
        across chunks: a server-side cursor where the driver has one (``stream_results``), so
        neither the driver nor this process holds the whole result."""
        size = self.limits.chunk_rows
        try:
            result = conn.execution_options(stream_results=True, yield_per=size).execute(
                sa.text(query) if isinstance(query, str) else query
            )
            columns = list(result.keys())
            first_row = 1
            while True:
                rows = result.mappings().fetchmany(size)
                raw = raw_table([dict(r) for r in rows], origin="", first_row=first_row)
                if not rows:  # keep the headers, so a missing column is still named
                    for column in columns:
                        raw.frame[column] = []
                if rows or first_row == 1:
                    yield raw.frame, raw.unreadable
                if len(rows) < size:
                    return
                first_row += len(rows)
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise SourceError(
                    f"source '{self.name}': the warehouse connection dropped while "
                    f"querying {table}: {_first_line(exc)}. Try again."
                ) from exc
            raise SourceError(
                f"source '{self.name}': the query for {table} failed: "
                f"{_first_line(exc)}. Fix [sources.queries] {table}."
            ) from exc


def _first_line(exc: sa.exc.DBAPIError) -> str:
    lines = str(exc.orig or exc).strip().splitlines()
    return lines[0] if lines else type(exc.orig or exc).__name__
