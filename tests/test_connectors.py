"""Sources: configuration, the SQL warehouse connector (SQLite and PostgreSQL), incremental
merges, failures that leave data untouched, and the merge rule across sources."""

from __future__ import annotations

import os
import textwrap

import pandas as pd
import pytest
import sqlalchemy as sa

from expansion import pipeline, store
from expansion.connectors import SourceConfig, SourceError, connector_for, load_sources
from expansion.errors import ConfigError
from expansion.ingest import read_portfolio

AS_OF = pipeline.SAMPLE_AS_OF
SAMPLE = read_portfolio(pipeline.SAMPLE_PORTFOLIO).tables


def write_toml(tmp_path, text: str):
    path = tmp_path / "expansion.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- configuration


def test_sources_are_read_from_expansion_toml(tmp_path):
    path = write_toml(
        tmp_path,
        """
        [scoring]
        usage_ceiling_pct = 80

        [[sources]]
        name = "exports"
        type = "files"
        path = "./exports"

        [[sources]]
        name = "warehouse"
        type = "sql"
        url_env = "WH_URL"
        [sources.queries]
        usage = "SELECT * FROM usage"
        """,
    )
    exports, warehouse = load_sources(path)
    assert (exports.name, exports.type, exports.role) == ("exports", "files", "files")
    assert (warehouse.type, warehouse.role) == ("sql", "warehouse")
    assert warehouse.options == {"url_env": "WH_URL", "queries": {"usage": "SELECT * FROM usage"}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[sources]]\nname = "x"\ntype = "oracle"', "unknown source type 'oracle'"),
        ('[[sources]]\ntype = "files"', "needs a name and a type"),
        (
            '[[sources]]\nname = "a"\ntype = "files"\npath = "."\n'
            '[[sources]]\nname = "a"\ntype = "files"\npath = "."',
            "two sources are named 'a'",
        ),
        ('[[sources]]\nname = "a"\ntype = "files"\nrole = "boss"', "role must be one of"),
    ],
)
def test_bad_source_configuration_says_what_to_fix(tmp_path, body, message):
    with pytest.raises(ConfigError, match=message):
        load_sources(write_toml(tmp_path, body))


def test_connector_options_are_checked():
    with pytest.raises(ConfigError, match=r"unknown option.*colour.*Known options: path"):
        connector_for(SourceConfig("a", "files", {"path": ".", "colour": "red"}))
    with pytest.raises(ConfigError, match=r"missing option.*path"):
        connector_for(SourceConfig("a", "files", {}))
    with pytest.raises(ConfigError, match=r"unknown table.*usages"):
        connector_for(SourceConfig("w", "sql", {"queries": {"usages": "SELECT 1"}}))


# --------------------------------------------------------------------------- SQL warehouse


def warehouse(url: str) -> None:
    """A warehouse holding the sample's usage and feature adoption, under other column names."""
    engine = sa.create_engine(url)
    usage = SAMPLE["usage"].rename(columns={"value": "usage_value", "limit": "plan_limit"})
    usage["period"] = pd.to_datetime(usage["period"]).dt.strftime("%Y-%m-%d")
    usage.to_sql("usage_monthly", engine, index=False, if_exists="replace")
    SAMPLE["features"].to_sql("feature_adoption", engine, index=False, if_exists="replace")
    engine.dispose()


QUERIES = {
    "usage": 'SELECT account_id, metric, period, usage_value AS value, plan_limit AS "limit" '
    "FROM usage_monthly",
    "features": "SELECT account_id, feature, entitled, used, adoption_pct FROM feature_adoption",
}


def crm_files(tmp_path):
    """The sample's contract tables only (accounts, subscriptions, catalog...) as a folder."""
    folder = tmp_path / "crm"
    folder.mkdir()
    for name in ("accounts", "subscriptions", "catalog", "signals", "departments"):
        SAMPLE[name].to_csv(folder / f"{name}.csv", index=False)
    return folder


def sources_toml(crm, *, warehouse_first: bool = False) -> str:
    """expansion.toml with the CRM folder and the warehouse of :func:`warehouse` (URL in WH_URL)."""
    crm_source = f"""
[[sources]]
name = "crm"
type = "files"
role = "crm"
path = "{crm}"
"""
    warehouse_source = f"""
[[sources]]
name = "warehouse"
type = "sql"
url_env = "WH_URL"
[sources.queries]
usage = '''{QUERIES["usage"]}'''
features = "{QUERIES["features"]}"
"""
    parts = [warehouse_source, crm_source] if warehouse_first else [crm_source, warehouse_source]
    return "".join(parts)


def split_sync(engine, tmp_path, wh_url: str):
    warehouse(wh_url)
    pipeline.sync_source(
        engine, SourceConfig("crm", "files", {"path": str(crm_files(tmp_path))}, role="crm")
    )
    config = SourceConfig("warehouse", "sql", {"queries": QUERIES}, role="warehouse")
    return pipeline.sync_source(engine, config, env={"WAREHOUSE_URL": wh_url})


def test_crm_files_plus_sql_warehouse_equal_the_sample(engine, tmp_path, sample_result):
    report = split_sync(engine, tmp_path, f"sqlite:///{tmp_path / 'wh.db'}")
    assert report.rejected == 0
    assert report.run.kind == "sql" and report.run.role == "warehouse"
    assert report.portfolio.accepted == {
        "usage": len(SAMPLE["usage"]),
        "features": len(SAMPLE["features"]),
    }
    result = pipeline.find(engine, "", as_of=AS_OF)
    assert result.opportunity_records() == sample_result.opportunity_records()
    assert store.merged_tables(engine)[1].empty  # no overlap, no conflict


@pytest.mark.skipif(
    not os.environ.get("EXPANSION_TEST_POSTGRES_URL"),
    reason="EXPANSION_TEST_POSTGRES_URL is not set",
)
def test_sql_warehouse_on_postgresql(engine, tmp_path, pg_url, sample_result):
    split_sync(engine, tmp_path, pg_url)
    result = pipeline.find(engine, "", as_of=AS_OF)
    assert result.opportunity_records() == sample_result.opportunity_records()


def test_a_failing_query_leaves_the_previous_data_and_says_which(engine, tmp_path):
    wh_url = f"sqlite:///{tmp_path / 'wh.db'}"
    split_sync(engine, tmp_path, wh_url)
    before = store.load_source(engine, "warehouse")["usage"]
    broken = {**QUERIES, "features": "SELECT nope FROM feature_adoption"}
    with pytest.raises(SourceError, match=r"the query for features failed.*nope"):
        pipeline.sync_source(
            engine,
            SourceConfig("warehouse", "sql", {"queries": broken}, role="warehouse"),
            env={"WAREHOUSE_URL": wh_url},
        )
    pd.testing.assert_frame_equal(store.load_source(engine, "warehouse")["usage"], before)
    latest = store.sync_runs(engine, limit=1).iloc[0]
    assert latest["status"] == "failed" and "nope" in latest["error"]


def test_a_missing_url_names_the_variable(engine):
    config = SourceConfig("warehouse", "sql", {"queries": QUERIES, "url_env": "WH"})
    with pytest.raises(SourceError, match="environment variable WH"):
        pipeline.sync_source(engine, config, env={})
    assert store.sync_runs(engine, limit=1).iloc[0]["status"] == "failed"


def test_an_unreachable_warehouse_is_a_source_error(engine, tmp_path):
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    config = SourceConfig("warehouse", "sql", {"queries": QUERIES})
    with pytest.raises(SourceError, match="cannot connect to the warehouse in WAREHOUSE_URL"):
        pipeline.sync_source(engine, config, env={"WAREHOUSE_URL": url})


def test_a_query_missing_a_required_column_is_a_contract_error(engine, tmp_path):
    wh_url = f"sqlite:///{tmp_path / 'wh.db'}"
    warehouse(wh_url)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="crm")
    config = SourceConfig(
        "warehouse", "sql", {"queries": {"usage": "SELECT account_id, metric FROM usage_monthly"}}
    )
    with pytest.raises(Exception, match="required column 'period'"):
        pipeline.sync_source(engine, config, env={"WAREHOUSE_URL": wh_url})


# --------------------------------------------------------------------------- merge rule


def test_crm_wins_contract_fields_warehouse_wins_usage_and_conflicts_are_reported(engine, tmp_path):
    wh = tmp_path / "wh"
    wh.mkdir()
    accounts = SAMPLE["accounts"][["account_id", "name", "arr", "active_seats"]].copy()
    accounts.loc[accounts["account_id"] == "ACC-1001", "arr"] = 1.0  # the warehouse is wrong
    accounts.loc[accounts["account_id"] == "ACC-1001", "active_seats"] = 1190  # and fresher
    accounts.to_csv(wh / "accounts.csv", index=False)
    pipeline.sync_source(
        engine, SourceConfig("crm", "files", {"path": str(pipeline.SAMPLE_PORTFOLIO)}, role="crm")
    )
    pipeline.sync_source(
        engine, SourceConfig("warehouse", "files", {"path": str(wh)}, role="warehouse")
    )
    tables, conflicts = store.merged_tables(engine)
    helios = tables["accounts"].set_index("account_id").loc["ACC-1001"]
    assert helios["arr"] == 1_200_000 and helios["active_seats"] == 1190
    assert helios["plan"] == "Enterprise"  # only the CRM has it
    assert len(tables["accounts"]) == len(SAMPLE["accounts"])
    found = conflicts.set_index(["key", "column"])
    assert found.loc[("ACC-1001", "arr"), "winner"] == "crm"
    assert found.loc[("ACC-1001", "arr"), "other_value"] == "1.0"
    assert found.loc[("ACC-1001", "active_seats"), "winner"] == "warehouse"
    assert set(found.index.get_level_values(0)) == {"ACC-1001"}


def test_an_incremental_pull_replaces_only_the_changed_accounts():
    old = {name: frame.copy() for name, frame in SAMPLE.items()}
    changed_accounts = SAMPLE["accounts"][SAMPLE["accounts"]["account_id"] == "ACC-1002"].assign(
        arr=250_000.0
    )
    changed_subs = pd.DataFrame(
        [
            {
                "account_id": "ACC-1002",
                "product_id": "professional",
                "quantity": 450,
                "arr": 250_000.0,
            }
        ]
    )
    merged = pipeline.merge_incremental(
        old,
        {"accounts": changed_accounts, "subscriptions": changed_subs},
        pulled={"accounts", "subscriptions"},
    )
    accounts = merged["accounts"].set_index("account_id")
    assert len(accounts) == len(SAMPLE["accounts"]) and accounts.loc["ACC-1002", "arr"] == 250_000
    subs = merged["subscriptions"]
    assert subs[subs["account_id"] == "ACC-1002"].to_dict("records") == changed_subs.to_dict(
        "records"
    )
    assert len(subs[subs["account_id"] != "ACC-1002"]) == len(
        SAMPLE["subscriptions"][SAMPLE["subscriptions"]["account_id"] != "ACC-1002"]
    )
    pd.testing.assert_frame_equal(merged["usage"], SAMPLE["usage"])  # not pulled: kept


# --------------------------------------------------------------------------- command line


def test_expansion_sync_syncs_every_configured_source_and_sources_reports(tmp_path):
    from test_cli import cli

    wh_url = f"sqlite:///{tmp_path / 'wh.db'}"
    warehouse(wh_url)
    crm = crm_files(tmp_path)
    # The warehouse first in the file: the CRM must still sync first.
    (tmp_path / "expansion.toml").write_text(
        sources_toml(crm, warehouse_first=True), encoding="utf-8"
    )
    env = {"WH_URL": wh_url}
    done = cli("sync", "--as-of", AS_OF.isoformat(), cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    # The CRM (accounts) goes first whatever the order in the file, so usage finds its accounts.
    assert done.stdout.index("source 'crm'") < done.stdout.index("source 'warehouse'")
    listed = cli("sources", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "warehouse" in listed.stdout and "succeeded" in listed.stdout
    assert "No conflicts between sources." in listed.stdout
    found = cli("find", "enterprise", "--as-of", AS_OF.isoformat(), cwd=tmp_path, env=env)
    assert "Helios Health Systems" in found.stdout

    # A source that fails keeps its data, names the fix, and fails the command.
    (tmp_path / "expansion.toml").write_text(
        (tmp_path / "expansion.toml").read_text().replace("FROM feature_adoption", "FROM gone"),
        encoding="utf-8",
    )
    failed = cli("sync", cwd=tmp_path, env=env)
    assert failed.returncode == 1
    assert "source 'warehouse' failed and kept its previous data" in failed.stderr
    assert "Fix [sources.queries] features" in failed.stderr
    listed = cli("sources", cwd=tmp_path, env=env)
    assert "failed" in listed.stdout


def test_expansion_sync_with_nothing_configured_says_what_to_do(tmp_path):
    from test_cli import cli

    done = cli("sync", cwd=tmp_path)
    assert done.returncode == 2
    assert "give --source DIR, or configure [[sources]] in expansion.toml" in done.stderr


def test_the_nightly_sync_time_comes_from_expansion_toml(tmp_path):
    from bot.settings import Settings
    from expansion.connectors import sync_time

    path = write_toml(tmp_path, '[sync]\nat = "02:30"\n')
    assert sync_time(path) == "02:30"
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "EXPANSION_CONFIG": str(path)}
    assert Settings.from_env(env).nightly_at == "02:30"
    assert Settings.from_env({**env, "EXPANSION_NIGHTLY_AT": "05:00"}).nightly_at == "05:00"
    with pytest.raises(ConfigError, match="UTC time"):
        sync_time(write_toml(tmp_path, '[sync]\nat = "25:00"\n'))
    with pytest.raises(ConfigError, match="unknown key"):
        sync_time(write_toml(tmp_path, '[sync]\nwhen = "02:00"\n'))


# --------------------------------------------------------------------------- review findings


def test_rows_of_an_account_rejected_now_are_rejected_even_if_it_was_known(engine, tmp_path):
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="crm")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name, frame in SAMPLE.items():
        frame = frame.copy()
        if name == "accounts":
            frame["arr"] = frame["arr"].astype(object)
            frame.loc[frame["account_id"] == "ACC-1001", "arr"] = "lots"
        frame.to_csv(broken / f"{name}.csv", index=False)
    first = read_portfolio(broken)
    again = pipeline.sync_folder(engine, broken, source="crm")
    # The same rejects as on an empty database: Helios and every row hanging off it.
    assert again.rejected == len(first.rejects[["table", "row"]].drop_duplicates()) > 1
    stored = store.load_source(engine, "crm")
    assert "ACC-1001" not in set(stored["subscriptions"]["account_id"])


def test_a_full_pull_that_would_empty_a_table_is_refused(engine, tmp_path):
    wh_url = f"sqlite:///{tmp_path / 'wh.db'}"
    split_sync(engine, tmp_path, wh_url)
    engine_wh = sa.create_engine(wh_url)
    with engine_wh.begin() as conn:
        conn.execute(sa.text("DELETE FROM usage_monthly"))
    engine_wh.dispose()
    config = SourceConfig("warehouse", "sql", {"queries": QUERIES}, role="warehouse")
    with pytest.raises(SourceError, match=r"no usable rows for usage \(it had 1208 usage\)"):
        pipeline.sync_source(engine, config, env={"WAREHOUSE_URL": wh_url})
    assert store.row_counts(engine, "warehouse")["usage"] == 1208
    pipeline.sync_source(engine, config, env={"WAREHOUSE_URL": wh_url}, allow_empty=True)
    assert store.row_counts(engine, "warehouse")["usage"] == 0


@pytest.mark.skipif(
    not os.environ.get("EXPANSION_TEST_POSTGRES_URL"),
    reason="EXPANSION_TEST_POSTGRES_URL is not set",
)
def test_two_syncs_of_one_source_at_once_do_not_double_it(pg_url):
    import threading

    engine = store.connect(pg_url)
    errors = []

    def sync() -> None:
        try:
            pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="crm")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sync) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.row_counts(engine, "crm")["accounts"] == 44
    engine.dispose()


def test_the_warehouse_location_never_shows_secrets():
    connector = connector_for(
        SourceConfig("w", "sql", {"queries": QUERIES}),
        {"WAREHOUSE_URL": "snowflake://me:pw@acct/db?private_key_passphrase=s3cret&password=x"},
    )
    assert connector.location() == "snowflake://acct/db"


def test_an_option_typo_is_said_when_the_sources_are_read(tmp_path):
    path = write_toml(tmp_path, '[[sources]]\nname = "w"\ntype = "sql"\nquery = "SELECT 1"\n')
    with pytest.raises(ConfigError, match="unknown option"):
        load_sources(path)


def test_an_unexpected_failure_is_recorded_and_keeps_the_data(engine, monkeypatch):
    from expansion.connectors.files import FilesConnector

    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="crm")

    def boom(self, cursor, *, progress=None):
        raise KeyError("surprise")

    monkeypatch.setattr(FilesConnector, "pull", boom)
    with pytest.raises(SourceError, match=r"failed unexpectedly.*surprise.*previous data is kept"):
        pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="crm")
    assert store.sync_runs(engine, limit=1).iloc[0]["status"] == "failed"
    assert store.row_counts(engine, "crm")["accounts"] == 44


def test_a_warehouse_adds_usage_fields_to_the_crm_accounts(engine, tmp_path):
    """The warehouse's accounts query needs only account_id plus its usage fields; an account
    only the warehouse knows is left out."""
    wh_url = f"sqlite:///{tmp_path / 'wh.db'}"
    wh = sa.create_engine(wh_url)
    pd.DataFrame({"account_id": ["ACC-1001", "ACC-9999"], "active_seats": [1190, 5]}).to_sql(
        "seats", wh, index=False
    )
    wh.dispose()
    pipeline.sync_source(
        engine, SourceConfig("crm", "files", {"path": str(pipeline.SAMPLE_PORTFOLIO)}, role="crm")
    )
    config = SourceConfig(
        "warehouse",
        "sql",
        {"queries": {"accounts": "SELECT account_id, active_seats FROM seats"}},
        role="warehouse",
    )
    report = pipeline.sync_source(engine, config, env={"WAREHOUSE_URL": wh_url})
    assert report.rejected == 0 and report.portfolio.accepted == {"accounts": 2}
    tables, conflicts = store.merged_tables(engine)
    accounts = tables["accounts"].set_index("account_id")
    assert accounts.loc["ACC-1001", "active_seats"] == 1190
    assert accounts.loc["ACC-1001", "name"] == "Helios Health Systems"
    assert "ACC-9999" not in accounts.index and len(accounts) == 44
    assert set(conflicts["column"]) == {"active_seats"}
    result = pipeline.find(engine, "Helios", as_of=AS_OF)
    assert result.profiles.iloc[0]["active_seats"] == 1190


def test_the_answer_does_not_depend_on_the_order_rows_arrive_in(engine, tmp_path, sample_result):
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    for name, frame in SAMPLE.items():
        frame.sample(frac=1, random_state=7).to_csv(shuffled / f"{name}.csv", index=False)
    pipeline.sync_folder(engine, shuffled, source="sample")
    result = pipeline.find(engine, "", as_of=AS_OF)
    assert result.opportunity_records() == sample_result.opportunity_records()


@pytest.mark.parametrize("kind", ["hubspot", "salesforce"])
@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("timeout", 0, "option timeout must be a number from 0.1 to 600, got 0."),
        ("max_retries", 2.5, "option max_retries must be a whole number from 0 to 10, got 2.5."),
        ("lag_minutes", True, "option lag_minutes must be a number from 0 to 1440, got True."),
    ],
)
def test_every_connector_checks_a_shared_option_the_same_way(kind, option, value, expected):
    """Typed options are read by one set of readers (Connector.*_option), so the same mistake
    gets the same message from every source type."""

    with pytest.raises(ConfigError) as caught:
        connector_for(SourceConfig("crm", kind, {option: value}), {})
    assert str(caught.value) == f"source 'crm' ({kind}): {expected}"
