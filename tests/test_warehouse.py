"""Usage aggregated inside the warehouse (``[sources.usage_events]`` of a sql source, issue 22):
the SQL each dialect gets, and the same ``usage`` rows as aggregating the raw rows in pandas, on
SQLite and on PostgreSQL as the warehouse."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql, mysql, postgresql, sqlite
from sqlalchemy.engine import default
from test_connectors import SAMPLE, crm_files

from expansion import pipeline, store
from expansion.connectors import SourceConfig, connector_for, load_sources
from expansion.connectors.warehouse import UsageEvents, compiled
from expansion.errors import ConfigError

EVENTS = {
    "table": "usage_daily",
    "aggregate_by_metric": {"seats": "max"},
    "entitlements": "entitlements",
    "plan_limits": "plan_limits",
    "account_plans": "account_plans",
}


class Dialect(default.DefaultDialect):
    """A dialect by name only: the Snowflake and BigQuery packages are heavy (their drivers and
    cloud clients), and the month template is chosen by the dialect's name, as theirs are named."""

    def __init__(self, name: str, paramstyle: str):
        super().__init__(paramstyle=paramstyle)
        self.name = name


@pytest.mark.parametrize(
    ("dialect", "month"),
    [
        (postgresql.dialect(), "to_char(analytics.usage_daily.day, 'YYYY-MM')"),
        (Dialect("snowflake", "pyformat"), "to_char(analytics.usage_daily.day, 'YYYY-MM')"),
        (Dialect("redshift", "pyformat"), "to_char(analytics.usage_daily.day, 'YYYY-MM')"),
        (
            Dialect("bigquery", "pyformat"),  # the driver reads %% as one %
            "FORMAT_DATE('%%Y-%%m', DATE(analytics.usage_daily.day))",
        ),
        (sqlite.dialect(), "strftime('%Y-%m', analytics.usage_daily.day)"),
        (mysql.dialect(), "DATE_FORMAT(analytics.usage_daily.day, '%%Y-%%m')"),
        (mssql.dialect(), "FORMAT(analytics.usage_daily.day, 'yyyy-MM')"),
    ],
    ids=lambda d: getattr(d, "name", "")[:12],
)
def test_each_dialect_gets_its_month_and_one_aggregate_query(dialect, month):
    events = UsageEvents.from_option(
        "w", {**EVENTS, "table": "analytics.usage_daily", "entitlements": "analytics.ent"}
    )
    sql = " ".join(compiled(events.statement(), dialect).split())
    assert sql.startswith("WITH monthly AS (SELECT ")
    assert f"{month} AS period" in sql
    assert (
        f"GROUP BY analytics.usage_daily.account_id, analytics.usage_daily.metric, {month})" in sql
    )
    assert (
        "CASE WHEN (analytics.usage_daily.metric = 'seats') THEN max(analytics.usage_daily.value) "
        "ELSE sum(analytics.usage_daily.value) END AS value" in sql
    )
    # The limit: the account's own entitlement, else its plan's.
    assert "coalesce(analytics.ent.limit_value, plan_limits.limit_value) AS" in sql
    assert "LEFT OUTER JOIN account_plans ON account_plans.account_id = monthly.account_id" in sql
    # Only the monthly rows leave the warehouse: the outer query reads the CTE, not the events.
    outer = sql.split(") SELECT ", 1)[1]
    assert "FROM monthly " in outer and "usage_daily" not in outer


def test_a_dialect_without_a_template_says_what_to_do():
    events = UsageEvents.from_option("w", {"table": "events"})
    with pytest.raises(sa.exc.CompileError, match=r"teradata dialect.*\[sources.queries\] usage"):
        compiled(events.statement(), Dialect("teradata", "qmark"))


def test_names_are_quoted_not_pasted():
    events = UsageEvents.from_option(
        "w", {"table": 'a"b.usage; DROP TABLE x', "time": "event time", "value": "select"}
    )
    sql = compiled(events.statement(), postgresql.dialect())
    table = '"a""b"."usage; DROP TABLE x"'
    assert f"FROM {table} GROUP BY" in sql
    assert f"to_char({table}.\"event time\", 'YYYY-MM')" in sql
    assert f'sum({table}."select") AS value' in sql


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("analytics.usage", r"must be a table such as \[sources.usage_events\] table = "),
        ({"time": "day"}, r"table is missing: the table or view of usage rows"),
        ({"table": "t", "colour": "x"}, r"unknown key\(s\) colour. Keys: table: "),
        ({"table": "t", "aggregate": "median"}, r"aggregate 'median' for \(all metrics\)"),
        ({"table": "t", "aggregate_by_metric": {"seats": "last"}}, r"'last' for seats is not one"),
        ({"table": "t", "aggregate_by_metric": "max"}, r"aggregate_by_metric must be a table"),
        ({"table": "t", "plan_limits": "p"}, r"plan_limits and account_plans go together"),
        ({"table": ""}, r"table must be a name in quotes"),
    ],
)
def test_bad_usage_events_config_says_what_is_wrong(option, message):
    with pytest.raises(ConfigError, match=r"source 'w' \(sql\): \[sources.usage_events\]"):
        connector_for(SourceConfig("w", "sql", {"usage_events": option}))
    with pytest.raises(ConfigError, match=message):
        connector_for(SourceConfig("w", "sql", {"usage_events": option}))


def test_usage_given_twice_or_not_at_all_is_refused(tmp_path):
    path = tmp_path / "expansion.toml"
    path.write_text(
        textwrap.dedent(
            """
            [[sources]]
            name = "warehouse"
            type = "sql"
            [sources.queries]
            usage = "SELECT * FROM usage_monthly"
            [sources.usage_events]
            table = "analytics.usage_daily"
            """
        )
    )
    with pytest.raises(ConfigError, match=r"usage is given twice.*keep one"):
        load_sources(path)
    path.write_text('[[sources]]\nname = "w"\ntype = "sql"\nurl_env = "X"\n')
    with pytest.raises(ConfigError, match=r"or give \[sources.usage_events\]"):
        load_sources(path)
    path.write_text(
        '[[sources]]\nname = "w"\ntype = "sql"\n[sources.usage_events]\ntable = "a.b"\n'
    )
    (source,) = load_sources(path)  # usage_events alone is a whole source
    assert source.options["usage_events"] == {"table": "a.b"}


# --------------------------------------------------------------------------- against a database


def raw_events(seed: int = 3) -> pd.DataFrame:
    """Daily usage of the sample's accounts over six months: api_calls (summed by month) and
    seats (a level: the month's highest), with a few accounts missing days."""
    rng = np.random.default_rng(seed)
    accounts = SAMPLE["accounts"]["account_id"].tolist()
    days = pd.date_range("2026-05-01", "2026-10-31", freq="D")
    frames = []
    for metric, scale in (("api_calls", 5_000), ("seats", 300)):
        index = pd.MultiIndex.from_product([accounts, days], names=["account_id", "day"])
        frame = index.to_frame(index=False)
        frame["metric"] = metric
        frame["value"] = rng.integers(0, scale, len(frame)).astype(float)
        frames.append(frame[rng.random(len(frame)) > 0.05])
    return pd.concat(frames, ignore_index=True)[["account_id", "metric", "day", "value"]]


def pandas_monthly(events: pd.DataFrame) -> pd.DataFrame:
    """The expected ``usage`` rows, aggregated here instead of in the warehouse."""
    events = events.assign(period=pd.to_datetime(events["day"]).dt.strftime("%Y-%m-01"))
    keys = ["account_id", "metric", "period"]
    summed = events[events["metric"] != "seats"].groupby(keys, as_index=False)["value"].sum()
    peaks = events[events["metric"] == "seats"].groupby(keys, as_index=False)["value"].max()
    monthly = pd.concat([summed, peaks], ignore_index=True)
    accounts = SAMPLE["accounts"]["account_id"].tolist()
    own = pd.DataFrame({"account_id": accounts[:3], "metric": "seats", "limit_value": 999.0})
    plans = pd.DataFrame({"account_id": accounts, "plan": ["pro", "enterprise"] * (len(accounts) // 2) + ["pro"] * (len(accounts) % 2)})  # fmt: skip
    prices = pd.DataFrame(
        {
            "plan": ["pro", "pro", "enterprise"],
            "metric": ["api_calls", "seats", "api_calls"],
            "limit_value": [100_000.0, 250.0, 500_000.0],
        }
    )
    return monthly, own, plans, prices


def load_warehouse(url: str, events: pd.DataFrame, *, as_text_time: bool = False) -> None:
    _, own, plans, prices = pandas_monthly(events)
    engine = sa.create_engine(url)
    rows = events.copy()
    rows["day"] = pd.to_datetime(rows["day"])
    if as_text_time:  # SQLite has no date type: ISO text, with a time of day
        rows["day"] = (rows["day"] + pd.Timedelta(hours=13)).dt.strftime("%Y-%m-%d %H:%M:%S")
    else:
        rows["day"] = rows["day"].dt.date
    rows.to_sql("usage_daily", engine, index=False, if_exists="replace")
    own.to_sql("entitlements", engine, index=False, if_exists="replace")
    plans.to_sql("account_plans", engine, index=False, if_exists="replace")
    prices.to_sql("plan_limits", engine, index=False, if_exists="replace")
    engine.dispose()


def expected_usage(events: pd.DataFrame) -> pd.DataFrame:
    monthly, own, plans, prices = pandas_monthly(events)
    out = monthly.merge(own, on=["account_id", "metric"], how="left")
    out = out.merge(plans, on="account_id", how="left").merge(
        prices, on=["plan", "metric"], how="left", suffixes=("", "_plan")
    )
    out["limit"] = out["limit_value"].fillna(out["limit_value_plan"])
    return _sorted(out[["account_id", "metric", "period", "value", "limit"]])


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(period=frame["period"].astype(str).str[:10])
    return frame.sort_values(["account_id", "metric", "period"]).reset_index(drop=True)


def sync_with_pushdown(engine, tmp_path, url: str):
    pipeline.sync_source(
        engine, SourceConfig("crm", "files", {"path": str(crm_files(tmp_path))}, role="crm")
    )
    config = SourceConfig("warehouse", "sql", {"usage_events": EVENTS}, role="warehouse")
    return pipeline.sync_source(engine, config, env={"WAREHOUSE_URL": url})


def test_pushdown_gives_the_pandas_aggregate_on_sqlite(engine, tmp_path):
    events = raw_events()
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    load_warehouse(url, events, as_text_time=True)
    report = sync_with_pushdown(engine, tmp_path, url)
    assert report.rejected == 0
    want = expected_usage(events)
    assert report.portfolio.accepted == {"usage": len(want)}  # monthly rows, not daily ones
    assert len(want) < len(events) / 25
    got = _sorted(store.load_source(engine, "warehouse")["usage"])
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert pipeline.find(engine, "", as_of=pipeline.SAMPLE_AS_OF).summary["accounts_analyzed"]


@pytest.mark.skipif(
    not os.environ.get("EXPANSION_TEST_POSTGRES_URL"),
    reason="EXPANSION_TEST_POSTGRES_URL is not set",
)
def test_pushdown_gives_the_pandas_aggregate_on_postgresql(engine, tmp_path, pg_url):
    events = raw_events(seed=11)
    load_warehouse(pg_url, events)  # pg_url: a schema of this test's own
    report = sync_with_pushdown(engine, tmp_path, pg_url)
    assert report.rejected == 0
    got = _sorted(store.load_source(engine, "warehouse")["usage"])
    pd.testing.assert_frame_equal(got, expected_usage(events), check_dtype=False)


def test_the_documented_configuration_loads(tmp_path):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "data-contract.md").read_text()
    section = doc.split("## Usage aggregated in the warehouse", 1)[1]
    toml = section.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "expansion.toml").write_text(toml)
    (source,) = load_sources(tmp_path / "expansion.toml")
    connector = connector_for(source, {})
    sql = compiled(connector.queries["usage"], postgresql.dialect())
    assert "to_char(analytics.usage_daily.day, 'YYYY-MM') AS period" in sql
    assert 'analytics.entitlements.limit_value AS "limit"' in sql
    assert set(connector.queries) == {"features", "usage"}
