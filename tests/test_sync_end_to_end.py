"""End to end: the CRM in HubSpot and product analytics in a warehouse, synced through their
connectors, give exactly the answer the same data gives as files; then an incremental sync."""

from __future__ import annotations

import pandas as pd
import pytest
from hubspot_fake import HubSpotFake
from test_connectors import SAMPLE

from expansion import pipeline, store
from expansion.connectors import SourceConfig

AS_OF = pipeline.SAMPLE_AS_OF
WAREHOUSE_TABLES = ("usage", "features", "signals", "departments")


@pytest.fixture
def hubspot():
    with HubSpotFake() as fake:
        fake.seed_from_portfolio(pipeline.SAMPLE_PORTFOLIO)
        yield fake


def warehouse(url: str) -> dict[str, str]:
    """Product analytics in a SQL warehouse: the sample's usage, features, signals, departments."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    for name in WAREHOUSE_TABLES:
        frame = SAMPLE[name].copy()
        for column in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[column]):
                frame[column] = frame[column].dt.strftime("%Y-%m-%d")
        frame.to_sql(f"analytics_{name}", engine, index=False)
    engine.dispose()
    return {name: f'SELECT * FROM "analytics_{name}"' for name in WAREHOUSE_TABLES}


def test_hubspot_plus_warehouse_equals_the_files(engine, tmp_path, hubspot, sample_result):
    wh_url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    queries = warehouse(wh_url)
    env = {"HUBSPOT_ACCESS_TOKEN": hubspot.token, "WAREHOUSE_URL": wh_url}
    crm = SourceConfig("crm", "hubspot", hubspot.connector_options(), role="crm")
    wh = SourceConfig("warehouse", "sql", {"queries": queries}, role="warehouse")
    first = pipeline.sync_source(engine, crm, env=env)
    assert first.rejected == 0 and not first.run.incremental and first.run.cursor
    assert first.portfolio.accepted == {"accounts": 44, "subscriptions": 69, "catalog": 12}
    assert pipeline.sync_source(engine, wh, env=env).rejected == 0

    result = pipeline.find(engine, "", as_of=AS_OF)
    assert result.opportunity_records() == sample_result.opportunity_records()
    assert result.summary == sample_result.summary
    assert store.merged_tables(engine)[1].empty

    # Northwind adds 100 seats in the CRM: the next sync pulls only that company.
    company = hubspot.seeded_companies["ACC-1002"]
    hubspot.touch_company(company, licensed_seats="500")
    second = pipeline.sync_source(engine, crm, env=env)
    assert second.run.incremental and second.portfolio.accepted["accounts"] == 1
    assert second.run.cursor > first.run.cursor
    accounts = store.load_source(engine, "crm")["accounts"].set_index("account_id")
    assert len(accounts) == 44 and accounts.loc["ACC-1002", "licensed_seats"] == 500
    after = pipeline.find(engine, "Northwind", as_of=AS_OF)
    assert after.profiles.iloc[0]["licensed_seats"] == 500


def test_a_hubspot_failure_keeps_the_data_and_the_cursor(engine, hubspot):
    from expansion.connectors import SourceError

    env = {"HUBSPOT_ACCESS_TOKEN": hubspot.token}
    crm = SourceConfig("crm", "hubspot", hubspot.connector_options(), role="crm")
    good = pipeline.sync_source(engine, crm, env=env)
    hubspot.touch_company(hubspot.seeded_companies["ACC-1001"], plan="Enterprise Plus")
    with pytest.raises(SourceError, match="HUBSPOT_ACCESS_TOKEN"):
        pipeline.sync_source(engine, crm, env={"HUBSPOT_ACCESS_TOKEN": "pat-revoked"})
    latest = store.sync_runs(engine, limit=1).iloc[0]
    assert latest["status"] == "failed" and "401" in latest["error"]
    assert store.last_sync(engine, "crm").cursor == good.run.cursor
    assert len(store.load_source(engine, "crm")["accounts"]) == 44
    # The next good sync starts from the last good cursor and picks the change up.
    retry = pipeline.sync_source(engine, crm, env=env)
    assert retry.run.incremental
    accounts = store.load_source(engine, "crm")["accounts"].set_index("account_id")
    assert accounts.loc["ACC-1001", "plan"] == "Enterprise Plus"


def test_salesforce_plus_warehouse_equals_the_files(engine, tmp_path, monkeypatch, sample_result):
    from salesforce_fake import ROUND_TRIP_FIELDS, SalesforceFake

    wh_url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    queries = warehouse(wh_url)
    with SalesforceFake() as org:
        org.trust(monkeypatch)
        org.seed_from_portfolio(pipeline.SAMPLE_PORTFOLIO)
        env = {**org.env(), "WAREHOUSE_URL": wh_url}
        crm = SourceConfig(
            "crm",
            "salesforce",
            {"account_id_field": "AccountNumber", "fields": ROUND_TRIP_FIELDS, "retry_backoff": 0},
            role="crm",
        )
        first = pipeline.sync_source(engine, crm, env=env)
        assert first.rejected == 0 and not first.run.incremental
        pipeline.sync_source(
            engine,
            SourceConfig("warehouse", "sql", {"queries": queries}, role="warehouse"),
            env=env,
        )
        result = pipeline.find(engine, "", as_of=AS_OF)
        assert result.opportunity_records() == sample_result.opportunity_records()

        org.touch_account("ACC-1002", **{ROUND_TRIP_FIELDS["licensed_seats"]: 500})
        second = pipeline.sync_source(engine, crm, env=env)
        assert second.run.incremental and second.portfolio.accepted["accounts"] == 1
        accounts = store.load_source(engine, "crm")["accounts"].set_index("account_id")
        assert len(accounts) == 44 and accounts.loc["ACC-1002", "licensed_seats"] == 500
