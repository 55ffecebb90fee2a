"""The HubSpot connector, through the official client, against a local fake (hubspot_fake.py)."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pandas as pd
import pytest
from cursor_checks import Clock, moment
from cursor_checks import assert_lagged_cursor as lagged_cursor
from hubspot_fake import SAMPLE_PORTFOLIO, SCOPES, HubSpotFake

from expansion.connectors import SourceConfig, SourceError, connector_for
from expansion.connectors import hubspot as hs
from expansion.errors import ConfigError
from expansion.ingest import read_portfolio, validate

KEYS = {
    "accounts": ["account_id"],
    "subscriptions": ["account_id", "product_id"],
    "catalog": ["product_id"],
}


@pytest.fixture(scope="module")
def files() -> dict[str, pd.DataFrame]:
    return read_portfolio(SAMPLE_PORTFOLIO).tables


@pytest.fixture
def fake():
    with HubSpotFake() as fake:
        fake.seed_from_portfolio()
        yield fake
    assert not fake.errors, fake.errors[0]


def make(fake: HubSpotFake, env: dict[str, str] | None = None, **options):
    config = SourceConfig("crm", "hubspot", fake.connector_options(**options), role="crm")
    return connector_for(config, {"HUBSPOT_ACCESS_TOKEN": fake.token} if env is None else env)


def rows(pull, table: str) -> pd.DataFrame:
    return pull.tables[table].frame.drop(columns="_row")


def sorted_table(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    return frame.sort_values(KEYS[table]).reset_index(drop=True)


def product(fake: HubSpotFake, sku: str) -> str:
    return next(i for i, p in fake.objects["products"].items() if p["properties"]["hs_sku"] == sku)


def epoch_ms(text: str) -> str:
    return str((moment(text) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1))


def assert_lagged_cursor(cursor: str, before: datetime, after: datetime, minutes: float = 10):
    lagged_cursor(cursor, before, after, minutes)


@pytest.fixture
def clock(fake, monkeypatch) -> Clock:
    clock = Clock()
    fake.clock = clock
    monkeypatch.setattr(hs, "_now", clock)
    return clock


# -------------------------------------------------------------------------- full pulls


def test_full_pull_pages_through_everything_and_round_trips_the_sample(fake, files):
    before = datetime.now(UTC)
    pull = make(fake).pull(None)
    after = datetime.now(UTC)

    assert not pull.incremental
    # The cursor is when the pull started, less 10 minutes (HubSpot's search index lags).
    assert_lagged_cursor(pull.cursor, before, after)
    portfolio = validate(pull.tables)
    assert portfolio.rejects.empty, portfolio.rejects
    assert portfolio.accepted == {"accounts": 44, "subscriptions": 69, "catalog": 12}
    for table in KEYS:
        pd.testing.assert_frame_equal(
            sorted_table(portfolio.tables[table], table),
            sorted_table(files[table], table),
            check_dtype=False,
        )

    # Every list was paged (2 records a page) by following paging.next.after.
    companies = fake.requests_to("/crm/v3/objects/companies", "GET")
    assert len(companies) == 22
    assert [r.query.get("after") for r in companies[:3]] == [None, ["103"], ["105"]]
    assert len(fake.requests_to("/crm/v3/objects/products", "GET")) == 6
    assert len(fake.requests_to("/crm/v3/owners/")) == 3  # 6 owners, 2 a page
    line_item_links = fake.requests_to("/crm/v4/associations/deals/line_items/batch/read")
    assert any(i.get("after") for r in line_item_links for i in r.body["inputs"])
    assert {r.status for r in fake.requests} <= {200, 207}
    # Owners became emails Slack users can be matched with.
    owners = portfolio.tables["accounts"].set_index("account_id")["owner"]
    assert owners["ACC-1001"] == "maya.chen@example.com"
    assert pd.isna(owners["ACC-1044"])


def test_default_properties_read_the_crm_columns(fake, files):
    pull = make(fake, properties={}).pull(None)

    requested = set(fake.requests_to("/crm/v3/objects/companies", "GET")[0].query["properties"])
    assert requested == {
        *hs.DEFAULT_PROPERTIES.values(),
        "account_id",
        "hs_lastmodifieddate",
        "hubspot_owner_id",
        "lifecyclestage",
    }
    accounts = sorted_table(validate(pull.tables).tables["accounts"], "accounts")
    expected = sorted_table(files["accounts"], "accounts")
    crm_columns = ["account_id", *hs.DEFAULT_PROPERTIES, "owner"]
    pd.testing.assert_frame_equal(accounts[crm_columns], expected[crm_columns], check_dtype=False)
    others = [c for c in accounts.columns if c not in crm_columns]
    assert set(others) == {
        "employee_growth_pct",
        "nps",
        "csat",
        "support_tickets_90d",
        "engagement",
        "contacts",
        "departments_engaged",
    }
    assert accounts[others].isna().all().all()


def test_property_mapping_overrides_and_skips(fake):
    company = fake.seeded_companies["ACC-1002"]
    fake.touch_company(company, annual_revenue="250000", plan_name="Enterprise")
    pull = make(
        fake, properties={"arr": "annual_revenue", "plan": "plan_name", "industry": ""}
    ).pull(None)

    requested = fake.requests_to("/crm/v3/objects/companies", "GET")[0].query["properties"]
    assert {"annual_revenue", "plan_name"} <= set(requested)
    assert "industry" not in requested and "arr" not in requested
    accounts = rows(pull, "accounts").set_index("account_id")
    assert accounts.loc["ACC-1002", "arr"] == "250000"
    assert accounts.loc["ACC-1002", "plan"] == "Enterprise"
    assert accounts["industry"].eq("").all()
    # No arr property value: the account's subscriptions' ARR is summed.
    assert accounts.loc["ACC-1001", "arr"] == str(1008000 + 144000 + 15000 + 6000 + 9000)
    assert accounts.loc["ACC-1003", "plan"] == ""
    assert validate(pull.tables).rejects.empty


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"properties": {"mrr_total": "mrr", "arr": "arr"}},
            "unknown accounts column(s) mrr_total in properties. Known columns: name, arr, segment",
        ),
        (
            {"product_properties": {"colour": "color"}},
            "unknown catalog column(s) colour in product_properties. Known columns: name, kind",
        ),
        ({"properties": {"arr": 3}}, "option properties must map each column"),
        ({"properties": "arr"}, "option properties must be a table"),
        ({"product_id_property": "sku"}, "must be one of hs_sku, hs_product_id, got 'sku'"),
        ({"deal_stages": []}, "must name at least one deal stage"),
        ({"max_retries": "3"}, "option max_retries must be a whole number from 0 to 10"),
        ({"lag_minutes": -1}, "option lag_minutes must be a number from 0 to 1440"),
        ({"lag_minutes": "10"}, "option lag_minutes must be a number from 0 to 1440"),
        ({"lag_minutes": 2000}, "option lag_minutes must be a number from 0 to 1440"),
        ({"timeout": 0}, "option timeout must be a number"),
        ({"host": "api.hubapi.com"}, "option host must be a URL"),
        ({"api_key": "x"}, "unknown option(s) api_key"),
    ],
)
def test_bad_options_are_config_errors(options, expected):
    with pytest.raises(ConfigError) as error:
        connector_for(SourceConfig("crm", "hubspot", options), {})
    assert expected in str(error.value)


def test_unknown_mapping_names_every_known_column():
    with pytest.raises(ConfigError) as error:
        connector_for(SourceConfig("crm", "hubspot", {"properties": {"seats": "x"}}), {})
    for column in hs.MAPPABLE_ACCOUNT_COLUMNS:
        assert column in str(error.value)


def test_missing_token_names_the_variable(fake):
    with pytest.raises(SourceError, match="HUBSPOT_ACCESS_TOKEN"):
        make(fake, env={}).pull(None)
    with pytest.raises(SourceError, match="environment variable CRM_TOKEN"):
        make(fake, env={"HUBSPOT_ACCESS_TOKEN": fake.token}, token_env="CRM_TOKEN").pull(None)
    assert fake.requests == []
    assert make(fake, env={"CRM_TOKEN": fake.token}, token_env="CRM_TOKEN").pull(None).tables


def test_location_names_the_host_without_the_token(fake):
    default = connector_for(SourceConfig("crm", "hubspot", {}), {"HUBSPOT_ACCESS_TOKEN": "pat-x"})
    assert default.location() == "HubSpot (api.hubapi.com)"
    assert default.role == "crm"
    assert make(fake).location() == f"HubSpot (127.0.0.1:{fake.port})"
    assert fake.token not in make(fake).location()


# -------------------------------------------------------------------------- incremental pulls


def test_incremental_pull_carries_only_the_changed_company(fake, monkeypatch):
    connector = make(fake)
    full = connector.pull(None)
    fake.touch_company(fake.seeded_companies["ACC-1005"], health_score=41)
    fake.reset()

    before = datetime.now(UTC)
    pull = connector.pull(full.cursor)
    after = datetime.now(UTC)

    # Seeded records are a day old: only the company touched since carries over the 10-minute
    # lag.
    assert pull.incremental and pull.cursor > full.cursor
    assert_lagged_cursor(pull.cursor, before, after)
    assert rows(pull, "accounts")[["account_id", "health_score"]].values.tolist() == [
        ["ACC-1005", "41"]
    ]
    assert rows(pull, "subscriptions").values.tolist() == [
        ["ACC-1005", "professional", "160", "76800"]
    ]
    assert rows(pull, "catalog")["product_id"].tolist() == ["professional"]
    assert not fake.requests_to("/crm/v3/objects/companies", "GET")  # no full listing
    search = fake.requests_to("/crm/v3/objects/companies/search")[0].body
    assert search["filterGroups"] == [
        {
            "filters": [
                {
                    "propertyName": "hs_lastmodifieddate",
                    "operator": "GTE",
                    "value": epoch_ms(full.cursor),
                }
            ]
        }
    ]
    assert search["sorts"] == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    assert fake.requests_to("/crm/v3/objects/deals/search")
    known = set(fake.seeded_companies)
    assert validate(pull.tables, known_accounts=known).rejects.empty

    # Right after, the change is still within the lag: read again (harmless, same rows).
    again = connector.pull(pull.cursor)
    assert again.incremental and again.cursor > pull.cursor
    assert rows(again, "accounts")["account_id"].tolist() == ["ACC-1005"]

    # 11 minutes later, the cursor passes the change; then nothing changed since it: an
    # empty incremental pull, which keeps the cursor.
    later = datetime.now(UTC) + timedelta(minutes=11)
    monkeypatch.setattr(hs, "_now", lambda: later)
    settled = connector.pull(again.cursor)
    assert moment(settled.cursor) == later - timedelta(minutes=10)
    empty = connector.pull(settled.cursor)
    assert empty.incremental and empty.cursor == settled.cursor
    assert all(table.frame.empty for table in empty.tables.values())
    assert validate(empty.tables, known_accounts=known).rejects.empty


def test_incremental_pull_follows_deals_that_changed(fake):
    connector = make(fake)
    full = connector.pull(None)
    analytics = {
        "hs_sku": "analytics",
        "hs_product_id": product(fake, "analytics"),
        "quantity": 45,
        "amount": 5400,
        "recurringbillingfrequency": "annually",
    }
    fake.add_deal(fake.seeded_companies["ACC-1020"], dealname="upsell", line_items=[analytics])

    pull = connector.pull(full.cursor)

    assert pull.incremental and pull.cursor > full.cursor
    assert rows(pull, "accounts")["account_id"].tolist() == ["ACC-1020"]
    subscriptions = rows(pull, "subscriptions").set_index("product_id")
    assert subscriptions.loc["analytics", ["quantity", "arr"]].tolist() == ["45", "5400"]
    assert subscriptions.loc["professional", "arr"] == "21600"
    assert sorted(rows(pull, "catalog")["product_id"]) == ["analytics", "professional"]


def test_incremental_search_past_the_result_window_reissues_from_the_last_timestamp(
    fake, monkeypatch
):
    monkeypatch.setattr(hs, "SEARCH_WINDOW", 4)
    monkeypatch.setattr(hs, "SEARCH_PAGE_SIZE", 2)
    fake.search_limit = 4  # HubSpot: 10,000
    connector = make(fake)
    full = connector.pull(None)
    touched = [f"ACC-10{n:02d}" for n in range(10, 17)]
    for account in touched:
        fake.touch_company(fake.seeded_companies[account], nps=10)
    fake.reset()

    pull = connector.pull(full.cursor)

    assert pull.incremental
    assert sorted(rows(pull, "accounts")["account_id"]) == touched
    searches = fake.requests_to("/crm/v3/objects/companies/search")
    assert {r.status for r in searches} == {200}
    filters = [r.body["filterGroups"][0]["filters"][0] for r in searches]
    assert {f["operator"] for f in filters} == {"GTE"}
    # A new search (no "after") from the cursor, then from the last timestamp read.
    starts = [f["value"] for f, r in zip(filters, searches, strict=True) if not r.body.get("after")]
    assert starts[0] == epoch_ms(full.cursor) and len(starts) >= 2
    assert all(int(a) < int(b) for a, b in pairwise(starts))


def test_incremental_falls_back_to_a_full_pull_when_one_timestamp_fills_the_window(
    fake, monkeypatch
):
    monkeypatch.setattr(hs, "SEARCH_WINDOW", 4)
    monkeypatch.setattr(hs, "SEARCH_PAGE_SIZE", 2)
    fake.search_limit = 4
    connector = make(fake)
    full = connector.pull(None)
    same = fake.touch_company(fake.seeded_companies["ACC-1001"])
    for account in ("ACC-1002", "ACC-1003", "ACC-1004", "ACC-1005", "ACC-1006"):
        company = fake.objects["companies"][fake.seeded_companies[account]]
        company["properties"]["hs_lastmodifieddate"] = same

    before = datetime.now(UTC)
    pull = connector.pull(full.cursor)
    after = datetime.now(UTC)

    assert not pull.incremental
    assert len(rows(pull, "accounts")) == 44
    assert moment(same) > moment(pull.cursor) > moment(full.cursor)
    assert_lagged_cursor(pull.cursor, before, after)


def test_a_cursor_that_is_not_a_timestamp_means_a_full_pull(fake):
    said: list[str] = []
    pull = make(fake).pull("not-a-time", progress=said.append)
    assert not pull.incremental and len(rows(pull, "accounts")) == 44
    assert any("not understood" in line for line in said)


@pytest.mark.parametrize("during", ["full", "incremental"])
def test_a_change_made_while_a_pull_runs_is_read_by_the_next_pull(fake, during):
    """Regression: a company edited after the companies were read, then a deal edited (read
    through a real-time batch read), used to leave a cursor past the company's change, so it
    was skipped for good."""
    connector = make(fake)
    cursor = None
    if during == "incremental":
        cursor = connector.pull(None).cursor
        fake.touch_company(fake.seeded_companies["ACC-1005"], health_score=41)
    target = fake.seeded_companies["ACC-1002"]
    deal = fake.links[("companies", "deals")][fake.seeded_companies["ACC-1005"]][0]
    edited: list[str] = []

    def edit_between_queries(message: str) -> None:
        if "reading their deals" in message and not edited:
            edited.append(fake.touch_company(target, licensed_seats="777"))
            edited.append(fake.touch("deals", deal, dealname="renamed"))

    racing = connector.pull(cursor, progress=edit_between_queries)
    assert len(edited) == 2
    stale = rows(racing, "accounts").set_index("account_id")
    assert "ACC-1002" not in stale.index or stale.loc["ACC-1002", "licensed_seats"] != "777"
    # The cursor is not past the changes made during the pull.
    assert moment(racing.cursor) < min(moment(e) for e in edited)

    following = connector.pull(racing.cursor)
    assert following.incremental
    accounts = rows(following, "accounts").set_index("account_id")
    assert accounts.loc["ACC-1002", "licensed_seats"] == "777"
    assert "ACC-1005" in accounts.index  # its deal changed too


def test_a_change_at_the_cursor_itself_is_read(fake, clock):
    """GTE, not GT: a change stamped exactly at the cursor is read by the next pull."""
    connector = make(fake, lag_minutes=0)
    full = connector.pull(None)
    assert moment(full.cursor) == clock.now
    stamp = fake.touch_company(fake.seeded_companies["ACC-1009"], nps=12)
    assert moment(stamp) == clock.now  # the same millisecond as the cursor

    clock.advance(seconds=1)
    pull = connector.pull(full.cursor)
    assert rows(pull, "accounts")["account_id"].tolist() == ["ACC-1009"]


@pytest.mark.parametrize(("lag", "found"), [(10, True), (0, False)])
def test_the_lag_covers_the_search_index_trailing_edits(fake, clock, lag, found):
    """A change not yet in HubSpot's search index when a pull searched is found by a later
    pull, as long as lag_minutes covers the index's delay (a lag of 0 loses it)."""
    fake.search_lag = timedelta(minutes=2)
    connector = make(fake, lag_minutes=lag)
    first = connector.pull(None)
    clock.advance(minutes=1)
    fake.touch_company(fake.seeded_companies["ACC-1007"], health_score=55)
    clock.advance(seconds=30)

    unindexed = connector.pull(first.cursor)  # the search does not see the change yet
    assert rows(unindexed, "accounts").empty

    clock.advance(minutes=5)  # indexed by now
    pull = connector.pull(unindexed.cursor)
    assert list(rows(pull, "accounts").get("account_id", [])) == (["ACC-1007"] if found else [])


def test_the_cursor_never_moves_backwards(fake):
    # A cursor later than this pull's start less the lag (an older release's cursor, a larger
    # lag than before) is kept as it is.
    kept = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    pull = make(fake).pull(kept)
    assert pull.incremental and pull.cursor == kept


def test_a_cursor_in_the_future_means_a_full_pull(fake):
    # A cursor later than the pull's start: a clock was wrong when it was made, and changes
    # since the last good pull may lie before it. Everything is read, and the cursor restarts
    # from this pull.
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    said: list[str] = []
    before = datetime.now(UTC)
    pull = make(fake).pull(future, progress=said.append)
    after = datetime.now(UTC)
    assert not pull.incremental and len(rows(pull, "accounts")) == 44
    assert any("later than this sync's start" in line for line in said)
    assert_lagged_cursor(pull.cursor, before, after)


def test_lag_minutes_sets_the_cursor(fake):
    before = datetime.now(UTC)
    pull = make(fake, lag_minutes=0.5).pull(None)
    after = datetime.now(UTC)
    assert_lagged_cursor(pull.cursor, before, after, minutes=0.5)


# -------------------------------------------------------------------------- mapping rules


def test_subscriptions_rules(fake):
    companies = fake.seeded_companies
    # An open deal is not a subscription (unless its stage is listed).
    fake.add_deal(
        companies["ACC-1015"],
        stage="appointmentscheduled",
        line_items=[{"hs_sku": "automation", "quantity": 50, "amount": 4800}],
    )
    fake.add_deal(
        companies["ACC-1016"],
        line_items=[
            # No amount: price x quantity, monthly -> x12.
            {
                "hs_sku": "analytics",
                "quantity": 60,
                "price": 10,
                "recurringbillingfrequency": "monthly",
            },
            # A term that ended (renewed by a later deal) is left out.
            {
                "hs_sku": "compliance",
                "amount": 15000,
                "hs_recurring_billing_end_date": "2020-01-01",
            },
            # No SKU on the line item: its product's SKU.
            {
                "hs_product_id": product(fake, "premium_support"),
                "amount": 4500,
                "recurringbillingfrequency": "per_six_months",
            },
            # Same product as the first deal: summed.
            {"hs_sku": "integrations", "quantity": 1, "amount": 6000},
            # Billed every two years: half the amount a year.
            {
                "hs_sku": "automation",
                "quantity": 60,
                "amount": 11520,
                "recurringbillingfrequency": "per_two_years",
            },
        ],
    )

    pull = make(fake).pull(None)
    subscriptions = rows(pull, "subscriptions").set_index(["account_id", "product_id"])
    assert ("ACC-1015", "automation") not in subscriptions.index
    acc = subscriptions.loc["ACC-1016"]
    assert acc.loc["analytics"].tolist() == ["60", "7200"]
    assert "compliance" not in acc.index
    assert acc.loc["premium_support"].tolist() == ["1", "9000"]
    assert acc.loc["integrations"].tolist() == ["2", "12000"]
    assert acc.loc["automation"].tolist() == ["60", "5760"]
    assert validate(pull.tables).rejects.empty

    with_open = make(fake, deal_stages=["closedwon", "appointmentscheduled"]).pull(None)
    subscriptions = rows(with_open, "subscriptions").set_index(["account_id", "product_id"])
    assert subscriptions.loc[("ACC-1015", "automation")].tolist() == ["50", "4800"]


def test_product_ids_can_be_hubspot_product_ids(fake):
    pull = make(fake, product_id_property="hs_product_id").pull(None)
    portfolio = validate(pull.tables)
    assert portfolio.rejects.empty
    catalog = portfolio.tables["catalog"].set_index("product_id")
    assert catalog.loc[product(fake, "enterprise"), "name"] == "Enterprise"
    subscriptions = portfolio.tables["subscriptions"]
    assert set(subscriptions["product_id"]) <= set(catalog.index)
    assert subscriptions["product_id"].str.isdigit().all()


def test_catalog_price_falls_back_to_the_annualised_price(fake):
    fake.add_product(
        hs_sku="sandbox", name="Sandbox", price=50, recurringbillingfrequency="monthly"
    )
    pull = make(fake).pull(None)
    catalog = rows(pull, "catalog").set_index("product_id")
    assert catalog.loc["sandbox", "annual_price"] == "600"
    assert catalog.loc["compliance", "annual_price"] == "15000"  # its own property wins
    assert catalog.loc["professional", "annual_price"] == ""


def test_lifecycle_stages_select_the_companies(fake):
    fake.touch_company(fake.seeded_companies["ACC-1044"], lifecyclestage="other")
    fake.add_company(name="Prospect Inc", lifecyclestage="lead")
    assert len(rows(make(fake).pull(None), "accounts")) == 43
    everything = make(fake, lifecycle_stages=[]).pull(None)
    assert len(rows(everything, "accounts")) == 45
    prospect = rows(everything, "accounts").query("name == 'Prospect Inc'")
    assert prospect["account_id"].tolist() == [""]  # no account id: validation rejects it
    portfolio = validate(everything.tables)
    assert portfolio.rejects["reason"].tolist() == ["missing account_id"]


def test_company_ids_are_account_ids_by_default(fake):
    pull = make(fake, account_id_property=None).pull(None)
    accounts = rows(pull, "accounts")
    assert set(accounts["account_id"]) == set(fake.seeded_companies.values())
    portfolio = validate(pull.tables)
    assert portfolio.rejects.empty and len(portfolio.tables["subscriptions"]) == 69


# -------------------------------------------------------------------------- errors


def test_a_rejected_token_says_how_to_make_one(fake):
    with pytest.raises(SourceError) as error:
        make(fake, env={"HUBSPOT_ACCESS_TOKEN": "pat-na1-revoked"}).pull(None)
    message = str(error.value)
    assert "HubSpot rejected the token in HUBSPOT_ACCESS_TOKEN (401): " in message
    assert "Private Apps" in message and SCOPES["companies"] in message
    assert "pat-na1-revoked" not in message


def test_a_missing_scope_is_named(fake):
    fake.scopes.discard(SCOPES["owners"])
    with pytest.raises(SourceError) as error:
        make(fake).pull(None)
    message = str(error.value)
    assert "403 MISSING_SCOPES" in message and "owners" in message
    assert "crm.objects.owners.read" in message


def test_rate_limit_is_retried_after_retry_after(fake):
    fake.fail_next("/crm/v3/objects/companies", 429, retry_after=1)
    started = time.monotonic()
    pull = make(fake).pull(None)
    assert time.monotonic() - started >= 0.9
    first = fake.requests_to("/crm/v3/objects/companies", "GET")[:2]
    assert [r.status for r in first] == [429, 200]
    assert [r.query.get("after") for r in first] == [None, None]
    assert len(rows(pull, "accounts")) == 44


def test_rate_limit_beyond_the_retries(fake):
    fake.fail_next("/crm/v4/associations/companies/deals", 429, retry_after=0, count=5)
    with pytest.raises(SourceError) as error:
        make(fake, max_retries=1).pull(None)
    message = str(error.value)
    assert "rate limited the sync while reading deals associated with companies" in message
    assert "1 retry included" in message and "sync again" in message
    assert len(fake.requests_to("/crm/v4/associations/companies/deals")) == 2


def test_server_errors_are_retried_then_reported(fake):
    fake.fail_next("/crm/v3/objects/products", 503)  # an HTML page from a load balancer
    assert len(rows(make(fake).pull(None), "catalog")) == 12

    fake.reset()
    fake.fail_next("/crm/v3/objects/deals/batch/read", 500, count=2)
    with pytest.raises(SourceError) as error:
        make(fake, max_retries=1).pull(None)
    message = str(error.value)
    assert "HubSpot failed while reading deals" in message and "(500" in message
    assert "1 retry included" in message and "HubSpot's side" in message
    assert len(fake.requests_to("/crm/v3/objects/deals/batch/read")) == 2


def test_a_truncated_page_is_reported(fake):
    fake.truncate_next("/crm/v3/objects/companies", skip=1)
    with pytest.raises(SourceError) as error:
        make(fake).pull(None)
    assert "HubSpot returned a malformed page for companies (after=103)" in str(error.value)

    fake.reset()
    fake.truncate_next("/crm/v4/associations/deals/line_items")
    with pytest.raises(SourceError, match="malformed page for line_items associated with deals"):
        make(fake).pull(None)


def test_a_slow_answer_times_out(fake):
    # A margin a loaded CI machine cannot eat into: the other calls answer well within 1 s.
    fake.delay_next("/crm/v3/owners", 4.0)
    with pytest.raises(SourceError) as error:
        make(fake, timeout=1.0, max_retries=0).pull(None)
    assert "did not answer within 1 s while reading owners" in str(error.value)


def test_an_unreachable_host(fake):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SourceError) as error:
        make(fake, host=f"http://127.0.0.1:{port}", max_retries=0).pull(None)
    message = str(error.value)
    assert f"cannot reach HubSpot at http://127.0.0.1:{port}" in message
    assert "refused" in message.lower()
