"""The Salesforce connector, through the real simple_salesforce client, against a local fake org.

The fake (tests/salesforce_fake.py) speaks HTTPS with a certificate made at start, answers SOQL
queries in pages of 3 records with ``nextRecordsUrl``, and is seeded from the sample portfolio.
"""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from cursor_checks import Clock, moment
from cursor_checks import assert_lagged_cursor as lagged_cursor
from pandas.testing import assert_frame_equal
from salesforce_fake import ROUND_TRIP_FIELDS, SalesforceFake

from expansion import pipeline, store
from expansion.connectors import SourceConfig, SourceError, connector_for
from expansion.connectors import salesforce as sf
from expansion.connectors.salesforce import DEFAULT_ACCOUNT_FIELDS, SalesforceConnector
from expansion.errors import ConfigError
from expansion.ingest import read_portfolio, validate
from expansion.pipeline import SAMPLE_PORTFOLIO

FAST = {"retry_backoff": 0.01}
ROUND_TRIP = {"account_id_field": "AccountNumber", "fields": ROUND_TRIP_FIELDS, **FAST}


@pytest.fixture(scope="module")
def sample() -> dict[str, pd.DataFrame]:
    return read_portfolio(SAMPLE_PORTFOLIO).tables


@pytest.fixture
def org(monkeypatch):
    """An empty fake org whose certificate requests trusts."""
    with SalesforceFake() as fake:
        fake.trust(monkeypatch)
        yield fake
        assert not fake.errors, fake.errors


@pytest.fixture
def fake(org):
    """The fake org seeded from the sample portfolio."""
    org.seed_from_portfolio(SAMPLE_PORTFOLIO)
    return org


def connector(fake: SalesforceFake, env: dict | None = None, **options) -> SalesforceConnector:
    config = SourceConfig(name="crm", type="salesforce", options={**FAST, **options}, role="crm")
    return SalesforceConnector(config, fake.env() if env is None else env)


def pull_error(fake: SalesforceFake, env: dict | None = None, **options) -> str:
    with pytest.raises(SourceError) as caught:
        connector(fake, env, **options).pull(None)
    return str(caught.value)


def soql_second(cursor: str) -> str:
    """The SOQL literal of a cursor: its whole second, rounded down."""
    return moment(cursor).strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_lagged_cursor(cursor: str, before: datetime, after: datetime, minutes: float = 2):
    lagged_cursor(cursor, before, after, minutes)


@pytest.fixture
def clock(fake, monkeypatch) -> Clock:
    clock = Clock()
    fake.clock = clock
    monkeypatch.setattr(sf, "_now", clock)
    return clock


def table(tables, name: str, keys: list[str]) -> pd.DataFrame:
    frame = tables[name]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


# -- full pulls -----------------------------------------------------------------------------------


def test_full_pull_pages_through_next_records_url(fake, sample):
    notes: list[str] = []
    before = datetime.now(UTC)
    pull = connector(fake).pull(None, progress=notes.append)
    after = datetime.now(UTC)

    assert pull.incremental is False
    accounts = pull.tables["accounts"].frame
    assert len(accounts) == len(sample["accounts"]) == 44
    assert set(accounts["account_id"]) == set(fake.account_ids.values())
    # Pages of 3: the first through query?q=, the rest through nextRecordsUrl.
    account_queries = [r for r in fake.requests_to("/query") if r.soql and "FROM Account" in r.soql]
    assert len(account_queries) == 1
    more = fake.requests_to("/query/01g")
    assert len(more) >= 14 + 22 + 3  # accounts, assets, products
    assert all(r.path.startswith("/services/data/v59.0/query/01g") for r in more)
    assert all(r.headers["Authorization"] == f"Bearer {fake.token}" for r in fake.requests)
    assert "44 accounts from Salesforce" in notes
    # The cursor is when the pull started, less 2 minutes, to the microsecond.
    assert_lagged_cursor(pull.cursor, before, after)


def test_owner_emails_come_from_the_owner_user(fake, sample):
    pull = connector(fake).pull(None)
    got = pull.tables["accounts"].frame.set_index("name")["owner"]
    want = sample["accounts"].set_index("name")["owner"].fillna("")
    assert got.sort_index().to_dict() == want.sort_index().to_dict()
    assert "Owner.Email" in fake.queries[0]


def test_seeded_sample_validates_without_rejects(fake):
    pull = connector(fake).pull(None)
    portfolio = validate(pull.tables)
    assert portfolio.rejects.empty, portfolio.rejects.to_string()
    assert portfolio.accepted == {"accounts": 44, "subscriptions": 69, "catalog": 12}


def test_seeded_sample_round_trips(fake, sample):
    portfolio = validate(connector(fake, **ROUND_TRIP).pull(None).tables)
    assert portfolio.rejects.empty
    for name, keys in (
        ("accounts", ["account_id"]),
        ("subscriptions", ["account_id", "product_id"]),
        ("catalog", ["product_id"]),
    ):
        assert_frame_equal(table(portfolio.tables, name, keys), table(sample, name, keys))


def test_default_fields_give_the_crm_columns(fake, sample):
    """Without a ``fields`` option, every default column of the seeded org round-trips."""
    portfolio = validate(connector(fake, account_id_field="AccountNumber").pull(None).tables)
    columns = ["account_id", *DEFAULT_ACCOUNT_FIELDS]
    got = table(portfolio.tables, "accounts", ["account_id"])[columns]
    assert_frame_equal(got, table(sample, "accounts", ["account_id"])[columns])


# -- subscriptions and catalog ---------------------------------------------------------------------


def test_subscriptions_from_won_opportunity_line_items(fake, sample):
    pull = connector(
        fake, account_id_field="AccountNumber", subscriptions_from="opportunity_line_items"
    ).pull(None)
    portfolio = validate(pull.tables)
    assert portfolio.rejects.empty
    keys = ["account_id", "product_id"]
    assert_frame_equal(
        table(portfolio.tables, "subscriptions", keys), table(sample, "subscriptions", keys)
    )
    line_items = [q for q in fake.queries if "FROM OpportunityLineItem" in q]
    assert line_items and "Opportunity.IsWon = true" in line_items[0]
    assert 999 not in set(portfolio.tables["subscriptions"]["quantity"])  # the lost deal


def test_asset_arr_is_price_times_quantity_without_an_arr_field(org, sample):
    org.seed_from_portfolio(SAMPLE_PORTFOLIO, asset_arr=False)
    notes: list[str] = []
    pull = connector(org, account_id_field="AccountNumber").pull(None, progress=notes.append)
    keys = ["account_id", "product_id"]
    got = table(validate(pull.tables).tables, "subscriptions", keys)
    assert_frame_equal(got, table(sample, "subscriptions", keys))
    assert any("arr is Price x Quantity" in n for n in notes)
    assert "ARR__c" not in next(q for q in org.queries if "FROM Asset" in q)


def test_assets_of_one_account_and_product_are_summed(fake):
    account = fake.account_ids["ACC-1001"]
    fake.insert(
        "Asset",
        Name="more seats",
        AccountId=account,
        Product2Id=fake.product_ids["enterprise"],
        Quantity=100.0,
        Price=840.0,
        ARR__c=84_000.0,
    )
    fake.insert("Asset", Name="no product", AccountId=account, Quantity=1.0, Price=5.0)
    subs = connector(fake, account_id_field="AccountNumber").pull(None).tables["subscriptions"]
    rows = subs.frame.set_index(["account_id", "product_id"])
    assert rows.loc[("ACC-1001", "enterprise"), "quantity"] == "1300"
    assert rows.loc[("ACC-1001", "enterprise"), "arr"] == "1092000"
    # An Asset without a product is no subscription: left out (and counted, see below).
    assert ("ACC-1001", "") not in rows.index


def test_assets_without_a_product_are_left_out_in_the_query_and_counted(fake, engine):
    """Product2Id is optional on Assets (competitor assets often have none): such an Asset made a
    subscription row with no product_id, a reject on every sync, and --strict refused it."""
    account = fake.account_ids["ACC-1001"]
    fake.insert("Asset", Name="Competitor CRM", AccountId=account, Quantity=1.0, Price=5.0)
    fake.insert("Asset", Name="Old tool", AccountId=account, Quantity=2.0, Price=9.0)
    said: list[str] = []
    config = SourceConfig("crm", "salesforce", {**FAST, "account_id_field": "AccountNumber"})
    report = pipeline.sync_source(engine, config, env=fake.env(), strict=True, progress=said.append)
    assert report.rejected == 0
    asset_query = next(q for q in fake.queries if "FROM Asset" in q and "Quantity" in q)
    assert "Product2Id != null" in asset_query  # left out by Salesforce, not read and dropped
    assert any("2 Assets with no product" in message for message in said), said
    subscriptions = store.load_source(engine, "crm")["subscriptions"]
    assert len(subscriptions) == len(read_portfolio(SAMPLE_PORTFOLIO).tables["subscriptions"])


def test_catalog_list_price_from_the_standard_price_book(fake, sample):
    pull = connector(fake, product_fields={"price_per_seat": ""}).pull(None)
    catalog = validate(pull.tables).tables["catalog"].set_index("product_id")
    assert catalog.loc["starter", "price_per_seat"] == 240
    assert catalog.loc["enterprise", "price_per_seat"] == 840
    assert catalog.loc["compliance", "annual_price"] == 15000
    assert any(
        "FROM PricebookEntry" in q and "Pricebook2.IsStandard = true" in q for q in fake.queries
    )


def test_catalog_can_be_left_out(fake):
    pull = connector(fake, catalog=False, subscriptions_from="none").pull(None)
    assert set(pull.tables) == {"accounts"}
    assert not any("Product2 " in q or "FROM Asset" in q for q in fake.queries)


# -- incremental pulls -----------------------------------------------------------------------------


def test_incremental_pull_reads_only_changed_accounts(fake, sample, monkeypatch):
    first = connector(fake, account_id_field="AccountNumber").pull(None)
    fake.reset()
    fake.touch_account("ACC-1003", Plan__c="Enterprise", ARR__c=150_000.0)

    before = datetime.now(UTC)
    second = connector(fake, account_id_field="AccountNumber").pull(first.cursor)
    after = datetime.now(UTC)

    # Seeded records are a day old: only the account touched since carries over the lag.
    assert second.incremental is True
    accounts = second.tables["accounts"].frame
    assert list(accounts["account_id"]) == ["ACC-1003"]
    assert accounts.loc[0, "plan"] == "Enterprise"
    assert accounts.loc[0, "arr"] == "150000"
    subs = second.tables["subscriptions"].frame
    assert set(subs["account_id"]) == {"ACC-1003"}
    assert len(subs) == (sample["subscriptions"]["account_id"] == "ACC-1003").sum()
    account_query = next(q for q in fake.queries if "FROM Account" in q)
    # A SOQL literal, no quotes: the cursor's second, rounded down.
    assert f"LastModifiedDate >= {soql_second(first.cursor)}" in account_query
    assert second.cursor > first.cursor
    assert_lagged_cursor(second.cursor, before, after)
    known = set(sample["accounts"]["account_id"])
    assert validate(second.tables, known_accounts=known).rejects.empty

    # Right after, the change is still within the lag: read again (harmless, same rows).
    again = connector(fake, account_id_field="AccountNumber").pull(second.cursor)
    assert list(again.tables["accounts"].frame["account_id"]) == ["ACC-1003"]

    # 3 minutes later the cursor passes the change; then nothing changed since it: no
    # accounts, and the cursor is kept.
    later = datetime.now(UTC) + timedelta(minutes=3)
    monkeypatch.setattr(sf, "_now", lambda: later)
    settled = connector(fake, account_id_field="AccountNumber").pull(again.cursor)
    assert moment(settled.cursor) == later - timedelta(minutes=2)
    third = connector(fake, account_id_field="AccountNumber").pull(settled.cursor)
    assert third.incremental is True
    assert third.tables["accounts"].frame.empty
    assert third.tables["subscriptions"].frame.empty
    assert third.cursor == settled.cursor
    assert validate(third.tables, known_accounts=known).rejects.empty


def test_incremental_pull_includes_accounts_whose_assets_changed(fake):
    cursor = connector(fake).pull(None).cursor
    asset = next(
        i
        for i, a in fake.records["Asset"].items()
        if a["AccountId"] == fake.account_ids["ACC-1010"]
    )
    fake.update("Asset", asset, Quantity=5000.0)
    pull = connector(fake, account_id_field="AccountNumber").pull(cursor)
    assert list(pull.tables["accounts"].frame["account_id"]) == ["ACC-1010"]
    assert "5000" in set(pull.tables["subscriptions"].frame["quantity"])
    assert pull.cursor > cursor


def test_a_cursor_that_is_not_a_date_means_a_full_pull(fake):
    notes: list[str] = []
    pull = connector(fake).pull("not-a-date", progress=notes.append)
    assert pull.incremental is False
    assert len(pull.tables["accounts"].frame) == 44
    assert any("not a date" in n for n in notes)


@pytest.mark.parametrize("during", ["full", "incremental"])
def test_a_change_made_while_a_pull_runs_is_read_by_the_next_pull(fake, during):
    """Regression: an Account edited after the Accounts were queried, then an Asset edited
    before the Assets were, used to leave a cursor past the Account's change, so it was
    skipped for good."""
    seats = ROUND_TRIP_FIELDS["licensed_seats"]

    def make() -> SalesforceConnector:
        return connector(fake, **ROUND_TRIP)

    cursor = None
    if during == "incremental":
        cursor = make().pull(None).cursor
        fake.touch_account("ACC-1005", **{seats: 160.0})
    asset = next(
        i
        for i, a in fake.records["Asset"].items()
        if a["AccountId"] == fake.account_ids["ACC-1010"]
    )
    edited: list[str] = []

    def edit_between_queries(message: str) -> None:
        if "Asset records" in message and not edited:
            edited.append(fake.touch_account("ACC-1003", **{seats: 902.0}))
            edited.append(fake.update("Asset", asset, Quantity=5000.0))

    racing = make().pull(cursor, progress=edit_between_queries)
    assert len(edited) == 2
    stale = racing.tables["accounts"].frame.set_index("account_id")
    assert "ACC-1003" not in stale.index or stale.loc["ACC-1003", "licensed_seats"] != "902"
    # The cursor is not past the changes made during the pull.
    assert moment(racing.cursor) < min(moment(e) for e in edited)

    following = make().pull(racing.cursor)
    assert following.incremental is True
    accounts = following.tables["accounts"].frame.set_index("account_id")
    assert accounts.loc["ACC-1003", "licensed_seats"] == "902"
    assert "ACC-1010" in accounts.index  # its Asset changed too


def test_a_change_in_the_same_second_as_the_cursor_is_read(fake, clock):
    """Regression: cursors used to be whole seconds compared with '>': a change stamped in
    the cursor's second was skipped for good. The cursor now keeps its fraction and the query
    asks for '>=' its whole second (the fake, like Salesforce, stamps whole seconds)."""

    def make() -> SalesforceConnector:
        return connector(fake, lag_minutes=0, **ROUND_TRIP)

    clock.advance(seconds=0.734)
    first = make().pull(None)
    assert first.cursor == clock.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    clock.advance(seconds=0.1)  # after the pull, in the same second
    stamp = fake.touch_account("ACC-1002", **{ROUND_TRIP_FIELDS["licensed_seats"]: 901.0})
    assert stamp.startswith(soql_second(first.cursor)[:-1])  # stamped at the whole second

    clock.advance(seconds=5)
    fake.reset()
    second = make().pull(first.cursor)
    account_query = next(q for q in fake.queries if "FROM Account" in q)
    assert f"LastModifiedDate >= {soql_second(first.cursor)}" in account_query
    accounts = second.tables["accounts"].frame.set_index("account_id")
    assert list(accounts.index) == ["ACC-1002"]
    assert accounts.loc["ACC-1002", "licensed_seats"] == "901"

    # An older release's whole-second cursor: the change in its second is read too.
    legacy = make().pull(soql_second(first.cursor))
    assert list(legacy.tables["accounts"].frame["account_id"]) == ["ACC-1002"]


def test_the_cursor_never_moves_backwards(fake):
    # A cursor later than this pull's start less the lag (an older release's cursor, a larger
    # lag than before) is kept as it is.
    kept = (datetime.now(UTC) - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pull = connector(fake).pull(kept)
    assert pull.incremental is True and pull.cursor == kept


def test_a_cursor_in_the_future_means_a_full_pull(fake):
    # A cursor later than the pull's start: a clock was wrong when it was made, and changes
    # since the last good pull may lie before it. Everything is read, and the cursor restarts
    # from this pull.
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    notes: list[str] = []
    before = datetime.now(UTC)
    pull = connector(fake).pull(future, progress=notes.append)
    after = datetime.now(UTC)
    assert pull.incremental is False
    assert len(pull.tables["accounts"].frame) == 44
    assert any("later than this sync's start" in n for n in notes)
    assert_lagged_cursor(pull.cursor, before, after)


def test_lag_minutes_sets_the_cursor(fake):
    before = datetime.now(UTC)
    pull = connector(fake, lag_minutes=10).pull(None)
    after = datetime.now(UTC)
    assert_lagged_cursor(pull.cursor, before, after, minutes=10)


# -- field mapping ---------------------------------------------------------------------------------


def test_fields_option_maps_contract_columns(fake):
    fake.add_field("Account", "Tier__c", "picklist")
    fake.touch_account("ACC-1001", Tier__c="Platinum")
    pull = connector(fake, fields={"plan": "Tier__c", "nps": "", "region": "Segment__c"}).pull(None)
    accounts = pull.tables["accounts"].frame.set_index("name")
    assert accounts.loc["Helios Health Systems", "plan"] == "Platinum"
    assert accounts.loc["Helios Health Systems", "region"] == "enterprise"
    assert "nps" not in accounts.columns
    assert "NPS__c" not in fake.queries[0]


def test_default_fields_the_org_lacks_are_left_out(org):
    org.add_field("Account", "ARR__c", "currency")
    org.insert("Account", Name="Acme", ARR__c=12_000.0, Industry="Retail")
    notes: list[str] = []
    pull = connector(org, subscriptions_from="none").pull(None, progress=notes.append)
    accounts = pull.tables["accounts"].frame
    assert accounts.loc[0, "name"] == "Acme"
    assert "plan" not in accounts.columns
    assert any("Plan__c (for plan)" in n for n in notes)
    assert validate(pull.tables).rejects.empty


def test_an_org_without_an_arr_field_is_told_which_option_to_set(org):
    org.insert("Account", Name="Acme")
    message = pull_error(org)
    assert "ARR__c" in message and "fields.arr" in message


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"fields": {"arrr": "X__c"}}, "unknown accounts column(s) arrr in fields"),
        ({"fields": {"account_id": "X__c"}}, "account_id comes from account_id_field"),
        ({"fields": {"plan": "Plan__c; DELETE"}}, "fields.plan must be a field API name"),
        ({"fields": ["arr"]}, "fields must be a table"),
        ({"fields": {"arr": ""}}, "fields must give arr (or mrr)"),
        ({"product_fields": {"price": "X"}}, "unknown catalog column(s) price"),
        ({"subscriptions_from": "contracts"}, "subscriptions_from must be one of"),
        ({"api_version": "v59"}, "api_version must look like"),
        ({"max_retries": -1}, "max_retries must be a whole number"),
        ({"lag_minutes": -2}, "option lag_minutes must be a number from 0 to 1440, got -2"),
        ({"lag_minutes": "2"}, "option lag_minutes must be a number from 0 to 1440, got '2'"),
        ({"lag_minutes": 2000}, "option lag_minutes must be a number from 0 to 1440, got 2000"),
        ({"account_where": "Type = 'Customer'; x"}, "without ';'"),
        ({"list_price_column": "name"}, "list_price_column must be one of"),
        ({"password": "x"}, "unknown option(s) password"),
    ],
)
def test_bad_options_are_config_errors(options, expected):
    with pytest.raises(ConfigError) as caught:
        SalesforceConnector(SourceConfig("crm", "salesforce", options), {})
    assert expected in str(caught.value)


def test_unknown_column_error_names_the_known_ones():
    with pytest.raises(ConfigError) as caught:
        SalesforceConnector(SourceConfig("crm", "salesforce", {"fields": {"seats": "S__c"}}), {})
    message = str(caught.value)
    assert "Known columns:" in message
    for column in ("arr", "licensed_seats", "owner", "renewal_date", "mrr"):
        assert column in message


def test_a_configured_field_the_org_lacks_names_field_and_option(fake):
    message = pull_error(fake, fields={"plan": "Tier__c", "segment": "Tier2__c"})
    assert "Account.Tier__c (used for fields.plan)" in message
    assert "Account.Tier2__c (used for fields.segment)" in message
    assert "Setup > Object Manager > Account" in message


def test_invalid_field_from_a_query_names_field_and_option(fake):
    """Relationship paths are checked by Salesforce itself: 400 INVALID_FIELD."""
    message = pull_error(fake, fields={"owner": "CSM__r.Email"})
    assert "INVALID_FIELD" in message
    assert "CSM__r" in message and "fields.owner" in message
    assert fake.requests_to("/query")[-1].status == 400


def test_a_missing_asset_field_names_its_option(fake):
    message = pull_error(fake, asset_arr_field="Annual_Value__c")
    assert "Asset.Annual_Value__c" in message and "asset_arr_field" in message


def test_a_bad_account_where_names_the_option(fake):
    message = pull_error(fake, account_where="Type == 'Customer'")
    assert "MALFORMED_QUERY" in message and "account_where" in message


def test_an_unknown_field_in_account_where_names_the_option(fake):
    message = pull_error(fake, account_where="Tier__c = 'Gold'")
    assert "Account.Tier__c (INVALID_FIELD), used in account_where" in message
    assert "SELECT" not in message  # Salesforce's copy of the query is left out


def test_account_where_limits_accounts_and_their_subscriptions(fake, sample):
    pull = connector(fake, **ROUND_TRIP, account_where="Segment__c = 'enterprise'").pull(None)
    portfolio = validate(pull.tables)
    assert portfolio.rejects.empty
    want = set(sample["accounts"].query("segment == 'enterprise'")["account_id"])
    assert set(portfolio.tables["accounts"]["account_id"]) == want
    assert set(portfolio.tables["subscriptions"]["account_id"]) <= want
    assert "WHERE (Segment__c = 'enterprise')" in fake.queries[0]


def test_no_accounts_is_an_error_not_an_empty_portfolio(fake):
    message = pull_error(fake, account_where="Type = 'Partner'")
    assert "returned no Account records" in message and "account_where" in message


# -- credentials -----------------------------------------------------------------------------------


def test_missing_environment_names_the_variables(fake):
    message = pull_error(fake, env={})
    assert "SALESFORCE_INSTANCE_URL" in message and "SALESFORCE_ACCESS_TOKEN" in message
    assert "SALESFORCE_USERNAME" in message

    message = pull_error(fake, env={"SALESFORCE_INSTANCE_URL": fake.url})
    assert "SALESFORCE_ACCESS_TOKEN" in message and "SALESFORCE_INSTANCE_URL" not in message

    message = pull_error(fake, env={"SALESFORCE_USERNAME": "ops@example.com"})
    assert "SALESFORCE_PASSWORD" in message
    assert not fake.requests


def test_env_prefix_renames_the_variables(fake):
    pull = connector(fake, env=fake.env("CRM_SF_"), env_prefix="CRM_SF_").pull(None)
    assert len(pull.tables["accounts"].frame) == 44
    message = pull_error(fake, env={"CRM_SF_INSTANCE_URL": fake.url}, env_prefix="CRM_SF_")
    assert "CRM_SF_ACCESS_TOKEN" in message


def test_an_expired_session_says_which_variable_to_renew(fake):
    message = pull_error(fake, env=fake.env(token="00Dexpired!token"))
    assert message.startswith(
        "source 'crm': Salesforce rejected the session in SALESFORCE_ACCESS_TOKEN (401): "
        "Session expired or invalid"
    )
    assert "00Dexpired" not in message
    assert len(fake.requests) == 1  # a 401 is not retried


def test_username_password_login(fake, monkeypatch):
    fake.add_login("ops@example.com", "s3cret", "TOKEN123")
    make_session = SalesforceConnector._session
    monkeypatch.setattr(
        SalesforceConnector, "_session", lambda self: fake.route_login(make_session(self))
    )
    env = {
        "SALESFORCE_USERNAME": "ops@example.com",
        "SALESFORCE_PASSWORD": "s3cret",
        "SALESFORCE_SECURITY_TOKEN": "TOKEN123",
    }
    pull = connector(fake, env=env).pull(None)
    assert len(pull.tables["accounts"].frame) == 44
    assert fake.requests[0].path == "/services/Soap/u/59.0"

    message = pull_error(fake, env={**env, "SALESFORCE_PASSWORD": "wrong"}, domain="test")
    assert message.startswith(
        "source 'crm': Salesforce refused the login of ops@example.com (INVALID_LOGIN: "
        "Invalid username, password, security token; or user locked out)"
    )
    assert "SALESFORCE_SECURITY_TOKEN" in message and "wrong" not in message


def test_location_names_the_host_and_no_secret(fake):
    c = connector(fake)
    assert c.location() == f"Salesforce (127.0.0.1:{fake.port})"
    assert fake.token not in c.location()
    user = connector(
        fake, env={"SALESFORCE_USERNAME": "ops@example.com", "SALESFORCE_PASSWORD": "pw"}
    )
    assert user.location() == "Salesforce (login.salesforce.com as ops@example.com)"
    assert "pw" not in user.location()


def test_the_registry_builds_it():
    built = connector_for(SourceConfig("crm", "salesforce", {"domain": "test"}), {})
    assert isinstance(built, SalesforceConnector)
    assert built.role == "crm" and built.kind == "salesforce"


# -- failures --------------------------------------------------------------------------------------


def test_api_limit_is_not_retried(fake):
    fake.fail_next("/query", 403)
    message = pull_error(fake)
    assert "API request limit is exceeded (403 REQUEST_LIMIT_EXCEEDED)" in message
    assert "TotalRequests Limit exceeded" in message
    assert len(fake.requests_to("/query")) == 1


def test_other_403_says_what_permission_is_missing(fake):
    fake.fail_next(
        "/query",
        403,
        body=[
            {
                "errorCode": "API_DISABLED_FOR_ORG",
                "message": "API is not enabled for this Organization",
            }
        ],
    )
    message = pull_error(fake)
    assert "API_DISABLED_FOR_ORG" in message and "API Enabled" in message


def test_503_then_success_is_retried(fake):
    fake.fail_next("/query", 503, count=2)
    fake.fail_next("/query/", 502)  # a later page too
    pull = connector(fake).pull(None)
    assert len(pull.tables["accounts"].frame) == 44
    statuses = [r.status for r in fake.requests_to("/query")]
    assert statuses.count(503) == 2 and statuses.count(502) == 1


def test_503_beyond_the_retries_is_a_source_error(fake):
    fake.fail_next("/query", 503, count=10)
    message = pull_error(fake, max_retries=2)
    assert "Salesforce failed with 503 while reading Account, after 2 retries" in message
    assert "Service Unavailable" in message and "<html>" not in message
    assert len(fake.requests_to("/query")) == 3


def test_retry_after_is_honoured(fake):
    fake.fail_next("/query", 503, headers={"Retry-After": "1"})
    started = time.monotonic()
    connector(fake, subscriptions_from="none", catalog=False).pull(None)
    assert time.monotonic() - started >= 0.9


def test_a_dropped_connection_is_retried(fake):
    fake.fail_next("/query", 0)
    pull = connector(fake).pull(None)
    assert len(pull.tables["accounts"].frame) == 44


def test_a_truncated_page_is_a_malformed_page(fake):
    fake.truncate_next("/query/", contains=None)
    message = pull_error(fake)
    assert "Salesforce returned a malformed page for Account (" in message


def test_a_page_without_records_is_malformed(fake):
    fake.fail_next("/query", 200, body={"totalSize": 1, "done": True})
    assert "malformed page for Account (no records list)" in pull_error(fake)


def test_a_timeout_is_retried_then_reported(fake):
    fake.delay_next("/query", 1.0, count=3)
    started = time.monotonic()
    message = pull_error(fake, timeout=0.2, max_retries=1)
    assert time.monotonic() - started < 2
    assert "did not answer within 0.2 s while reading Account (tried 2 times)" in message


def test_connection_refused_is_reported(fake):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"SALESFORCE_INSTANCE_URL": f"https://127.0.0.1:{port}", "SALESFORCE_ACCESS_TOKEN": "t"}
    message = pull_error(fake, env=env, max_retries=1)
    assert f"could not reach Salesforce at 127.0.0.1:{port}" in message
    assert "SALESFORCE_INSTANCE_URL" in message


def test_an_unknown_api_version_is_reported(fake):
    message = pull_error(fake, api_version="19.0")
    assert "404" in message and "api_version" in message
