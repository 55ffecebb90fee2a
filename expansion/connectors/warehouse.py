"""Usage aggregated inside the warehouse: the ``usage_events`` shape of a ``sql`` source.

Product analytics are daily or event-level: a 100k-account customer has 100M+ usage rows in
Snowflake or BigQuery. Those are never pulled into this process. A ``sql`` source names the
table that holds them, and the monthly aggregation into the contract's ``usage`` table (one row
per account, metric and month, with its limit) runs as one SQL statement in the warehouse, so
only the monthly aggregate crosses the network::

    [[sources]]
    name = "warehouse"
    type = "sql"
    url_env = "WAREHOUSE_URL"
    [sources.usage_events]
    table = "analytics.usage_daily"      # rows of (account_id, metric, day or timestamp, value)
    time = "day"                          # the date or timestamp column (default "day")
    aggregate = "sum"                     # how a month's value is made: sum, max, min or avg
    entitlements = "analytics.entitlements"  # optional: (account_id, metric, limit_value)
    [sources.usage_events.aggregate_by_metric]
    seats = "max"                         # a gauge: the month's highest count, not a sum

The statement is built with SQLAlchemy, so each dialect gets its own SQL (identifiers quoted its
way); only the month of a date or timestamp differs between warehouses, and :class:`month_of`
compiles it per dialect (PostgreSQL and Redshift ``to_char``, Snowflake ``TO_CHAR``, BigQuery
``FORMAT_DATE``, SQLite ``strftime``, MySQL ``DATE_FORMAT``, SQL Server ``FORMAT``). A limit
comes from a per-account ``entitlements`` table, or else from ``plan_limits`` (a price-book
table of (plan, metric, limit_value)) through each account's plan in ``account_plans``
((account_id, plan)); without either, the usage rows have no limit. docs/data-contract.md
shows the SQL each dialect gets (tests/test_warehouse.py compiles it for each).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from ..errors import ConfigError

#: The SQL aggregate each ``aggregate`` name stands for.
AGGREGATES = {"sum": sa.func.sum, "max": sa.func.max, "min": sa.func.min, "avg": sa.func.avg}
#: Options of ``[sources.usage_events]`` with a line each (the defaults are the column names).
OPTIONS = {
    "table": "the table or view of usage rows, e.g. analytics.usage_daily (required)",
    "account_id": "its account id column (default account_id)",
    "metric": "its metric column (default metric)",
    "time": "its date or timestamp column, whose month is the period (default day)",
    "value": "its value column (default value)",
    "aggregate": "how a month's rows make its value: sum, max, min or avg (default sum)",
    "aggregate_by_metric": "a table of metric -> aggregate for metrics that differ, e.g. "
    'seats = "max"',
    "entitlements": "a table of (account_id, metric, limit_value): each account's limit",
    "plan_limits": "a table of (plan, metric, limit_value): each plan's limit, with account_plans",
    "account_plans": "a table of (account_id, plan): which plan each account is on",
}


class month_of(FunctionElement):
    """``YYYY-MM`` text of a date or timestamp, compiled per dialect (the contract's period).

    A timestamp's month is the one in the warehouse session's time zone (PostgreSQL's
    ``TimeZone`` setting; UTC in BigQuery): a ``day`` column avoids the question.
    """

    type = sa.String()
    name = "month_of"
    inherit_cache = True


@compiles(month_of)
def _month_default(element, compiler, **kw):
    raise sa.exc.CompileError(
        f"no monthly template for the {compiler.dialect.name} dialect: write the monthly "
        'aggregate yourself as [sources.queries] usage = "SELECT ... GROUP BY ..."'
    )


@compiles(month_of, "postgresql")
@compiles(month_of, "redshift")
@compiles(month_of, "snowflake")
@compiles(month_of, "oracle")
def _month_to_char(element, compiler, **kw):
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM')"


def _percent(compiler) -> str:
    """'%' as the driver wants it: doubled where it marks parameters (``format``/``pyformat``)."""
    return "%%" if compiler.dialect.paramstyle in ("format", "pyformat") else "%"


@compiles(month_of, "bigquery")
def _month_bigquery(element, compiler, **kw):
    pct = _percent(compiler)
    return f"FORMAT_DATE('{pct}Y-{pct}m', DATE({compiler.process(element.clauses, **kw)}))"


@compiles(month_of, "sqlite")
def _month_sqlite(element, compiler, **kw):
    pct = _percent(compiler)
    return f"strftime('{pct}Y-{pct}m', {compiler.process(element.clauses, **kw)})"


@compiles(month_of, "mysql")
@compiles(month_of, "mariadb")
def _month_mysql(element, compiler, **kw):
    pct = _percent(compiler)
    return f"DATE_FORMAT({compiler.process(element.clauses, **kw)}, '{pct}Y-{pct}m')"


@compiles(month_of, "mssql")
def _month_mssql(element, compiler, **kw):
    return f"FORMAT({compiler.process(element.clauses, **kw)}, 'yyyy-MM')"


@dataclass(frozen=True)
class UsageEvents:
    """``[sources.usage_events]`` of one ``sql`` source, checked."""

    table: str
    account_id: str = "account_id"
    metric: str = "metric"
    time: str = "day"
    value: str = "value"
    aggregate: str = "sum"
    aggregate_by_metric: dict[str, str] = field(default_factory=dict)
    entitlements: str | None = None
    plan_limits: str | None = None
    account_plans: str | None = None

    @classmethod
    def from_option(cls, source: str, option: Any) -> UsageEvents:
        """Raises:
        ConfigError: not a table, an unknown key, a missing table name, an unknown
            aggregate, plan_limits without account_plans (or the reverse)."""
        where = f"source '{source}' (sql): [sources.usage_events]"
        if not isinstance(option, Mapping):
            raise ConfigError(
                f"{where} must be a table such as [sources.usage_events] "
                'table = "analytics.usage_daily"; its keys: ' + _keys()
            )
        unknown = sorted(set(option) - set(OPTIONS))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}. Keys: {_keys()}")
        values: dict[str, Any] = {}
        for key, text in option.items():
            if key == "aggregate_by_metric":
                continue
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"{where}: {key} must be a name in quotes: {OPTIONS[key]}.")
            values[key] = text.strip()
        if "table" not in values:
            raise ConfigError(f"{where}: table is missing: {OPTIONS['table']}.")
        by_metric = option.get("aggregate_by_metric", {})
        if not isinstance(by_metric, Mapping):
            raise ConfigError(
                f"{where}: aggregate_by_metric must be a table such as "
                '[sources.usage_events.aggregate_by_metric] seats = "max".'
            )
        for metric, how in [("(all metrics)", values.get("aggregate", "sum")), *by_metric.items()]:
            if str(how).lower() not in AGGREGATES:
                raise ConfigError(
                    f"{where}: aggregate {how!r} for {metric} is not one of "
                    f"{', '.join(AGGREGATES)}. Use sum for counts per day (api_calls), max for "
                    "levels (seats, storage_gb)."
                )
        values["aggregate"] = values.get("aggregate", "sum").lower()
        values["aggregate_by_metric"] = {str(k): str(v).lower() for k, v in by_metric.items()}
        if bool(values.get("plan_limits")) != bool(values.get("account_plans")):
            raise ConfigError(
                f"{where}: plan_limits and account_plans go together (each plan's limit, and "
                "each account's plan); give both, or entitlements for per-account limits."
            )
        return cls(**values)

    def statement(self) -> sa.Select:
        """The monthly aggregate as one SELECT of the contract's usage columns: account_id,
        metric, period (``YYYY-MM``), value and limit."""
        events = _table(self.table, self.account_id, self.metric, self.time, self.value)
        account = events.c[self.account_id]
        metric = events.c[self.metric]
        value = events.c[self.value]
        default = AGGREGATES[self.aggregate](value)
        if self.aggregate_by_metric:
            monthly_value = sa.case(
                *(
                    (metric == name, AGGREGATES[how](value))
                    for name, how in sorted(self.aggregate_by_metric.items())
                ),
                else_=default,
            )
        else:
            monthly_value = default
        period = month_of(events.c[self.time])
        monthly = (
            sa.select(
                account.label("account_id"),
                metric.label("metric"),
                period.label("period"),
                monthly_value.label("value"),
            )
            .group_by(account, metric, period)
            .cte("monthly")
        )
        query = sa.select(monthly.c.account_id, monthly.c.metric, monthly.c.period)
        joined, limits = monthly, []
        if self.entitlements:
            ent = _table(self.entitlements, "account_id", "metric", "limit_value")
            joined = joined.outerjoin(
                ent,
                sa.and_(ent.c.account_id == monthly.c.account_id, ent.c.metric == monthly.c.metric),
            )
            limits.append(ent.c.limit_value)
        if self.plan_limits and self.account_plans:
            plans = _table(self.account_plans, "account_id", "plan")
            prices = _table(self.plan_limits, "plan", "metric", "limit_value")
            joined = joined.outerjoin(plans, plans.c.account_id == monthly.c.account_id).outerjoin(
                prices, sa.and_(prices.c.plan == plans.c.plan, prices.c.metric == monthly.c.metric)
            )
            limits.append(prices.c.limit_value)  # an account's own entitlement comes first
        limit = (
            sa.null()
            if not limits
            else limits[0]
            if len(limits) == 1
            else sa.func.coalesce(*limits)
        )
        return query.add_columns(monthly.c.value, limit.label("limit")).select_from(joined)


def _table(name: str, *columns: str) -> sa.TableClause:
    """``schema.table`` (BigQuery: ``project.dataset.table``) as a table clause."""
    schema, _, table = name.rpartition(".")
    return sa.table(table, *(sa.column(c) for c in columns), schema=schema or None)


def _keys() -> str:
    return "; ".join(f"{key}: {what}" for key, what in OPTIONS.items())


def compiled(statement: sa.ClauseElement, dialect: sa.engine.Dialect) -> str:
    """The SQL text ``dialect`` runs for ``statement`` (values inlined): for docs and tests."""
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
