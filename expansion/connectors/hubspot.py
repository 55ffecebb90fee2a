"""HubSpot CRM, through the official client (``pip install 'expansion-bot[hubspot]'``).

What is read, with a private app's access token from ``$HUBSPOT_ACCESS_TOKEN``::

    [[sources]]
    name = "crm"
    type = "hubspot"
    account_id_property = "account_number"   # default: the HubSpot company id
    [sources.properties]                     # accounts column -> company property
    arr = "annual_recurring_revenue"
    plan = ""                                # "" = do not read this column

- **accounts**: one row per company whose ``lifecyclestage`` is in ``lifecycle_stages``
  (default ``customer``). ``account_id`` is the company id (or ``account_id_property``),
  ``name`` the ``name`` property, every other column the company property ``properties`` maps
  it to (:data:`DEFAULT_PROPERTIES`); ``owner`` is the email of the company's
  ``hubspot_owner_id`` (owners API), so owners match Slack users by email. A company with no
  ``arr`` value gets the sum of its subscriptions' ARR.
- **subscriptions**: the line items of every deal associated with the company whose
  ``dealstage`` is in ``deal_stages`` (default ``closedwon``). ``product_id`` is the line
  item's ``hs_sku`` (else its product's SKU, else ``hs_product_id``), or ``hs_product_id``
  when ``product_id_property = "hs_product_id"``. Line items of one account and product are
  summed. A line item's ARR is its ``amount`` (``price`` x ``quantity`` when ``amount`` is
  empty), the billing-period total, times the billing periods in a year of its
  ``recurringbillingfrequency`` (monthly x12, quarterly x4, per_six_months x2, annually x1,
  per_two_years x1/2 ...); a line item without a billing frequency counts as annual. Line items
  whose ``hs_recurring_billing_end_date`` has passed (a term that was renewed by a later deal)
  are left out. A deal associated with several companies counts for each of them.
- **catalog**: every product (full pulls) or the products of the pulled line items
  (incremental pulls). ``product_id`` as above, other columns from the product properties
  ``product_properties`` maps them to (:data:`DEFAULT_PRODUCT_PROPERTIES`); a product with no
  seat, annual or unit price there gets its ``price`` annualised as ``annual_price``.

Incremental pulls: the cursor is the moment the pull started (this machine's clock) minus
``lag_minutes`` (default 10), ISO 8601 UTC to the microsecond. With a cursor, the companies and
the deals modified at or after it are searched (``GTE`` the cursor, sorted by
``hs_lastmodifieddate``); the pull carries those companies (and the companies of those deals)
with all their subscriptions. Every change made after a pull started is thus searched for again
by the next pull, whichever query of the pull it raced with, and the lag covers HubSpot's search
index trailing edits by minutes (and this machine's clock running ahead of HubSpot's); the few
records changed within the lag are read twice, which is harmless (an incremental pull replaces
those accounts' rows). The cursor never moves backwards: a cursor later than the new one (an
older release's cursor, a larger ``lag_minutes``) is kept. A cursor later than the pull's start
means a clock was wrong, so the pull reads everything. HubSpot's search answers at most 10,000
results per query: after ~10,000 results the search is issued again from the last
``hs_lastmodifieddate`` read (duplicates dropped); should 10,000 records share one timestamp,
the pull falls back to a full one. Deleted companies only disappear with a full pull (a sync
without a cursor).

Rate limits (429) and HubSpot failures (5xx) are retried by the client's urllib3 ``Retry``,
honouring ``Retry-After`` (``max_retries`` times, default 3); anything else, or a failure
beyond the retries, raises :class:`SourceError` saying what to do.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from ..contract import ACCOUNTS, CATALOG
from ..ingest import raw_table
from .base import Connector, Progress, Pull, SourceError

DEFAULT_HOST = "https://api.hubapi.com"
DEFAULT_TOKEN_ENV = "HUBSPOT_ACCESS_TOKEN"

#: accounts column -> company property read by default (``name`` and HubSpot's standard
#: ``industry``, ``country``, ``numberofemployees``; the others are custom properties a CRM
#: that tracks contracts usually has). ``properties`` entries override these.
DEFAULT_PROPERTIES: dict[str, str] = {
    "name": "name",
    "arr": "arr",
    "segment": "segment",
    "industry": "industry",
    "region": "country",
    "plan": "plan",
    "licensed_seats": "licensed_seats",
    "active_seats": "active_seats",
    "employee_count": "numberofemployees",
    "health_score": "health_score",
    "contract_term": "contract_term",
    "contract_start": "contract_start_date",
    "renewal_date": "renewal_date",
    "last_renewal_date": "last_renewal_date",
    "status": "customer_status",
    "channel": "channel",
}
#: catalog column -> product property read by default (``name`` is HubSpot's; the others are
#: custom product properties). ``product_properties`` entries override these.
DEFAULT_PRODUCT_PROPERTIES: dict[str, str] = {
    "name": "name",
    "kind": "product_kind",
    "tier_rank": "tier_rank",
    "price_per_seat": "price_per_seat",
    "annual_price": "annual_price",
    "unit": "unit",
    "unit_price": "unit_price",
    "features": "features",
    "solves": "solves",
}
#: Columns ``properties`` may map: account_id comes from the id (or ``account_id_property``),
#: owner from ``hubspot_owner_id``.
MAPPABLE_ACCOUNT_COLUMNS = tuple(
    c for c in ACCOUNTS.column_names if c not in ("account_id", "owner")
)
MAPPABLE_CATALOG_COLUMNS = tuple(c for c in CATALOG.column_names if c != "product_id")

#: The read scopes the private app needs, per object read.
SCOPES = {
    "companies": "crm.objects.companies.read",
    "deals": "crm.objects.deals.read",
    "line_items": "crm.objects.line_items.read",
    "products": "crm.objects.products.read",
    "owners": "crm.objects.owners.read",
}
ALL_SCOPES = ", ".join(SCOPES.values())

#: Billing periods in a year, per ``recurringbillingfrequency``.
PERIODS_PER_YEAR = {
    "weekly": 52.0,
    "biweekly": 26.0,
    "monthly": 12.0,
    "quarterly": 4.0,
    "per_six_months": 2.0,
    "semi_annually": 2.0,
    "annually": 1.0,
    "annual": 1.0,
    "yearly": 1.0,
    "per_two_years": 1 / 2,
    "per_three_years": 1 / 3,
    "per_four_years": 1 / 4,
    "per_five_years": 1 / 5,
}
LINE_ITEM_PROPERTIES = [
    "name",
    "hs_sku",
    "hs_product_id",
    "quantity",
    "price",
    "amount",
    "recurringbillingfrequency",
    "hs_recurring_billing_period",
    "hs_recurring_billing_end_date",
]
DEAL_PROPERTIES = ["dealname", "dealstage", "pipeline", "closedate", "hs_lastmodifieddate"]
PRODUCT_BASE_PROPERTIES = ["name", "hs_sku", "price", "recurringbillingfrequency"]
MODIFIED = "hs_lastmodifieddate"

#: Records per list/search page and per batch read (HubSpot's maxima: 100, 200, 100).
PAGE_SIZE = 100
SEARCH_PAGE_SIZE = 200
BATCH_SIZE = 100
#: HubSpot's search answers at most this many results per query.
SEARCH_WINDOW = 10_000
#: The next incremental pull reads changes from this many minutes before a pull started
#: (``lag_minutes``): HubSpot's search index trails edits, and clocks differ.
DEFAULT_LAG_MINUTES = 10
MAX_LAG_MINUTES = 24 * 60
#: Retry pacing: 0 s, then 0.5 s, 1 s, 2 s... between retries; Retry-After is honoured up to
#: RETRY_AFTER_MAX seconds (a longer wait means a daily limit: better to fail and say so).
BACKOFF_FACTOR = 0.5
BACKOFF_MAX = 8.0
RETRY_AFTER_MAX = 30
RETRY_STATUSES = (429, 500, 502, 503, 504)

_EPOCH_MS = re.compile(r"^\d{10,13}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _SearchWindowStuck(Exception):
    """More records share one hs_lastmodifieddate than one search can page through."""


class HubSpotConnector(Connector):
    """Companies, closed-won line items and products of one HubSpot account."""

    kind = "hubspot"
    role = "crm"
    options = {
        "token_env": f"environment variable holding the private app token (default {DEFAULT_TOKEN_ENV})",
        "host": f"API base URL (default {DEFAULT_HOST})",
        "account_id_property": "company property holding the account id (default: the company id)",
        "properties": "table of accounts column -> company property, over the defaults ('' = skip)",
        "product_properties": "table of catalog column -> product property, over the defaults",
        "product_id_property": "hs_sku (default) or hs_product_id: what identifies a product",
        "deal_stages": "deal stage ids whose line items are subscriptions (default ['closedwon'])",
        "lifecycle_stages": "company lifecycle stages read (default ['customer']; [] = all)",
        "max_retries": "retries of a rate-limited (429), failed (5xx) or dropped request (default 3)",
        "timeout": "seconds to wait for one HubSpot answer (default 30)",
        "lag_minutes": (
            "minutes before a sync's start the next incremental sync reads changes from "
            f"(default {DEFAULT_LAG_MINUTES:g}: HubSpot's search index lags behind edits)"
        ),
    }

    def __init__(self, config, env) -> None:
        super().__init__(config, env)
        self.token_env = self.text_option("token_env", DEFAULT_TOKEN_ENV)
        self.host = self.text_option("host", DEFAULT_HOST).rstrip("/")
        parts = urlsplit(self.host)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.bad_option(
                "host", f"must be a URL such as {DEFAULT_HOST}, got '{self.host}'"
            )
        self.account_id_property = self.text_option("account_id_property")
        self.properties, _ = self.mapping_option(
            "properties",
            DEFAULT_PROPERTIES,
            MAPPABLE_ACCOUNT_COLUMNS,
            table="accounts",
            target="HubSpot property",
        )
        self.product_properties, _ = self.mapping_option(
            "product_properties",
            DEFAULT_PRODUCT_PROPERTIES,
            MAPPABLE_CATALOG_COLUMNS,
            table="catalog",
            target="HubSpot property",
        )
        self.product_id_property = self.choice_option(
            "product_id_property", "hs_sku", ("hs_sku", "hs_product_id")
        )
        self.deal_stages = self.list_option("deal_stages", ["closedwon"])
        if not self.deal_stages:
            raise self.bad_option(
                "deal_stages", "must name at least one deal stage, e.g. ['closedwon']"
            )
        self.lifecycle_stages = self.list_option("lifecycle_stages", ["customer"])
        self.max_retries = self.number_option("max_retries", 3, minimum=0, maximum=10, whole=True)
        self.timeout = self.number_option("timeout", 30, minimum=0.1, maximum=600)
        self.lag_minutes = self.number_option(
            "lag_minutes", DEFAULT_LAG_MINUTES, minimum=0, maximum=MAX_LAG_MINUTES
        )

    def location(self) -> str:
        return f"HubSpot ({urlsplit(self.host).netloc})"

    # -- pull --------------------------------------------------------------------------------

    def pull(self, cursor: str | None, *, progress: Progress | None = None) -> Pull:
        token = self.secret(self.token_env, "the HubSpot private app access token")
        say = progress or (lambda _message: None)
        # Taken before the first request: every change from lag_minutes before this moment on
        # is read by this pull or, at the latest, by the next one (see the module docstring).
        started = _now()
        since = self.since(cursor, started, lambda message: say(f"HubSpot: {message}"))
        hub = _HubSpot(self, token)
        try:
            companies: dict[str, dict] | None = None
            if since is not None:
                say("HubSpot: searching companies and deals modified since the last sync")
                try:
                    companies = self._changed_companies(hub, since)
                except _SearchWindowStuck:
                    say("HubSpot: too many changes for one search; reading everything")
            incremental = companies is not None
            if companies is None:
                say("HubSpot: reading companies")
                companies = {
                    str(c["id"]): c for c in hub.list_objects("companies", self._company_fields())
                }
            tables = self._tables(hub, companies, full=not incremental, say=say)
        finally:
            hub.close()
        return Pull(
            tables=tables, cursor=self.next_cursor(started, since, cursor), incremental=incremental
        )

    def _company_fields(self) -> list[str]:
        fields = {*self.properties.values(), MODIFIED, "hubspot_owner_id"}
        if self.account_id_property:
            fields.add(self.account_id_property)
        if self.lifecycle_stages:
            fields.add("lifecyclestage")
        return sorted(fields)

    def _changed_companies(self, hub: _HubSpot, since: datetime) -> dict[str, dict]:
        fields = self._company_fields()
        changed = {str(c["id"]): c for c in hub.search_modified("companies", since, fields)}
        deals = {str(d["id"]): d for d in hub.search_modified("deals", since, [MODIFIED])}
        if deals:
            links = hub.associations("deals", "companies", list(deals))
            more = sorted({c for ids in links.values() for c in ids} - set(changed))
            changed.update(hub.read_objects("companies", more, fields))
        return changed

    def _wanted(self, company: dict) -> bool:
        if not self.lifecycle_stages:
            return True
        stage = str(_props(company).get("lifecyclestage") or "").strip()
        return stage in self.lifecycle_stages

    def _tables(
        self,
        hub: _HubSpot,
        companies: dict[str, dict],
        *,
        full: bool,
        say: Callable[[str], None],
    ) -> dict[str, Any]:
        kept = {cid: c for cid, c in companies.items() if self._wanted(c)}
        say(f"HubSpot: {len(kept)} companies; reading their deals and line items")
        deal_links = hub.associations("companies", "deals", list(kept))
        deal_ids = sorted({d for ids in deal_links.values() for d in ids}, key=_id_order)
        deals = hub.read_objects("deals", deal_ids, DEAL_PROPERTIES)
        won = [
            d
            for d in deal_ids
            if str(_props(deals.get(d, {})).get("dealstage")) in self.deal_stages
        ]
        item_links = hub.associations("deals", "line_items", won)
        item_ids = sorted({i for ids in item_links.values() for i in ids}, key=_id_order)
        items = hub.read_objects("line_items", item_ids, LINE_ITEM_PROPERTIES)

        product_fields = sorted({*PRODUCT_BASE_PROPERTIES, *self.product_properties.values()})
        if full:
            say("HubSpot: reading products")
            products = {str(p["id"]): p for p in hub.list_objects("products", product_fields)}
        else:
            wanted = {str(_props(i).get("hs_product_id") or "").strip() for i in items.values()}
            products = hub.read_objects(
                "products", sorted(wanted - {""}, key=_id_order), product_fields
            )

        today = datetime.now(UTC).date()
        subscriptions: dict[tuple[str, str], list] = {}
        account_ids = {cid: self._account_id(cid, c) for cid, c in kept.items()}
        sub_arr: dict[str, float] = defaultdict(float)
        for cid in kept:
            seen_items: set[str] = set()
            for deal_id in deal_links.get(cid, []):
                for item_id in item_links.get(deal_id, []):
                    item = items.get(item_id)
                    if item is None or item_id in seen_items:
                        continue
                    seen_items.add(item_id)
                    props = _props(item)
                    end = _parse_date(props.get("hs_recurring_billing_end_date"))
                    if end is not None and end < today:
                        continue
                    key = (account_ids[cid], self._item_product(props, products))
                    quantity, arr = _quantity(props), _line_item_arr(props)
                    total = subscriptions.setdefault(key, [0.0, None])
                    total[0] += quantity
                    if arr is not None:
                        total[1] = (total[1] or 0.0) + arr
                        sub_arr[cid] += arr

        owners = hub.owners(
            {str(_props(c).get("hubspot_owner_id") or "").strip() for c in kept.values()} - {""}
        )
        accounts = [
            self._account_row(cid, company, account_ids[cid], owners, sub_arr.get(cid))
            for cid, company in sorted(kept.items(), key=lambda kv: _id_order(kv[0]))
        ]
        subscription_rows = [
            {
                "account_id": account_id,
                "product_id": product_id,
                "quantity": _plain(quantity),
                "arr": _plain(arr),
            }
            for (account_id, product_id), (quantity, arr) in subscriptions.items()
        ]
        catalog = [
            self._catalog_row(p)
            for _, p in sorted(products.items(), key=lambda kv: _id_order(kv[0]))
        ]
        return {
            "accounts": raw_table(accounts, origin=f"{self.name}:companies"),
            "subscriptions": raw_table(subscription_rows, origin=f"{self.name}:line_items"),
            "catalog": raw_table(catalog, origin=f"{self.name}:products"),
        }

    # -- rows --------------------------------------------------------------------------------

    def _account_id(self, company_id: str, company: dict) -> str:
        if not self.account_id_property:
            return company_id
        return str(_props(company).get(self.account_id_property) or "").strip()

    def _account_row(
        self,
        company_id: str,
        company: dict,
        account_id: str,
        owners: dict[str, str],
        subscription_arr: float | None,
    ) -> dict[str, Any]:
        props = _props(company)
        row: dict[str, Any] = {"account_id": account_id}
        for column in MAPPABLE_ACCOUNT_COLUMNS:
            prop = self.properties.get(column)
            value = props.get(prop) if prop else None
            if value is not None and ACCOUNTS.column(column).kind == "date":
                value = _date_text(value)
            row[column] = value
        if _blank(row["arr"]) and subscription_arr is not None:
            row["arr"] = _plain(subscription_arr)
        owner_id = str(props.get("hubspot_owner_id") or "").strip()
        row["owner"] = owners.get(owner_id) or None
        return row

    def _product_key(self, product: dict) -> str:
        if self.product_id_property == "hs_product_id":
            return str(product["id"])
        return str(_props(product).get("hs_sku") or "").strip() or str(product["id"])

    def _item_product(self, props: dict, products: dict[str, dict]) -> str:
        product_id = str(props.get("hs_product_id") or "").strip()
        if self.product_id_property == "hs_product_id":
            return product_id
        sku = str(props.get("hs_sku") or "").strip()
        if sku:
            return sku
        if product_id in products:
            return self._product_key(products[product_id])
        return product_id

    def _catalog_row(self, product: dict) -> dict[str, Any]:
        props = _props(product)
        row: dict[str, Any] = {"product_id": self._product_key(product)}
        for column in MAPPABLE_CATALOG_COLUMNS:
            prop = self.product_properties.get(column)
            row[column] = props.get(prop) if prop else None
        priced = any(not _blank(row[c]) for c in ("price_per_seat", "annual_price", "unit_price"))
        price = _number(props.get("price"))
        if not priced and price is not None:
            row["annual_price"] = _plain(price * _per_year(props.get("recurringbillingfrequency")))
        return row


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------


class _HubSpot:
    """The official client's APIs for one pull. Answers are read as plain JSON (HubSpot's
    documented shapes), so a truncated or malformed page is caught and named, and a field the
    client's models do not know does not break a sync."""

    def __init__(self, connector: HubSpotConnector, token: str) -> None:
        try:
            import hubspot
            import urllib3
            from hubspot.crm import companies, deals, line_items, owners, products
            from hubspot.crm.associations import v4
        except ImportError as exc:  # pragma: no cover - the extra is a dev dependency
            raise SourceError(
                f"source '{connector.name}': the HubSpot client is not installed: "
                "pip install 'expansion-bot[hubspot]'"
            ) from exc
        self.connector = connector
        self.urllib3 = urllib3
        self.models = {
            "companies": companies,
            "deals": deals,
            "line_items": line_items,
            "products": products,
        }
        self.v4 = v4
        self.errors = tuple(
            m.ApiException for m in (companies, deals, line_items, products, owners, v4)
        )
        self.client = hubspot.Client.create(
            access_token=token, retry=self._retry(urllib3), host=connector.host
        )
        self._apis: dict[tuple[str, str], Any] = {}

    def _retry(self, urllib3) -> Any:
        settings: dict[str, Any] = {
            "total": self.connector.max_retries,
            "backoff_factor": BACKOFF_FACTOR,
            "status_forcelist": RETRY_STATUSES,
            "allowed_methods": None,  # searches and batch reads are POSTs, and only read
            "raise_on_status": False,  # the last answer is raised as an ApiException, with body
            "respect_retry_after_header": True,
            "backoff_max": BACKOFF_MAX,
            "retry_after_max": RETRY_AFTER_MAX,
        }
        for optional in ("retry_after_max", "backoff_max", None):
            try:
                return urllib3.util.retry.Retry(**settings)
            except TypeError:  # an older urllib3 without this setting
                settings.pop(optional, None)
        return urllib3.util.retry.Retry(total=self.connector.max_retries)  # pragma: no cover

    def api(self, group: str, name: str) -> Any:
        """One API object (each holds its own connection pool), made once per pull."""
        key = (group, name)
        if key not in self._apis:
            discovery = (
                self.client.crm.associations.v4
                if group == "associations"
                else getattr(self.client.crm, group)
            )
            self._apis[key] = getattr(discovery, name)
        return self._apis[key]

    def close(self) -> None:
        for api in self._apis.values():
            client = api.api_client
            if hasattr(client, "close"):
                client.close()
            pool = getattr(getattr(client, "rest_client", None), "pool_manager", None)
            if pool is not None:
                pool.clear()
        self._apis.clear()

    # -- calls -------------------------------------------------------------------------------

    def call(self, what: str, scope: str, method: Callable[..., Any], *args, **kwargs) -> dict:
        """One request; its JSON object, or SourceError saying what went wrong."""
        urllib3 = self.urllib3
        timeout = self.connector.timeout
        try:
            response = method(*args, _preload_content=False, _request_timeout=timeout, **kwargs)
            try:
                body = response.data
            finally:
                response.release_conn()
        except self.errors as exc:
            raise self._refused(exc, what, scope) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise self._unreachable(exc, what) from exc
        try:
            page = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._malformed(
                what, "not valid JSON, the answer was cut off or garbled"
            ) from exc
        if not isinstance(page, dict):
            raise self._malformed(what, "not a JSON object")
        return page

    def _malformed(self, what: str, problem: str) -> SourceError:
        return SourceError(
            f"source '{self.connector.name}': HubSpot returned a malformed page for {what}: "
            f"{problem}. This is usually a dropped connection or a proxy "
            "in the way: sync again; if it persists, check the host option and any proxy."
        )

    def _unreachable(self, exc: Exception, what: str) -> SourceError:
        urllib3 = self.urllib3
        name, host = self.connector.name, self.connector.host
        tries = _tries(self.connector.max_retries)
        reason = getattr(exc, "reason", None) or exc
        said = re.sub(r"^<[^>]*>:\s*", "", str(reason))  # drop urllib3's "<...Connection object>: "
        refused = isinstance(reason, urllib3.exceptions.NewConnectionError)
        if not refused and isinstance(
            reason if isinstance(reason, Exception) else exc, urllib3.exceptions.TimeoutError
        ):
            return SourceError(
                f"source '{name}': HubSpot ({host}) did not answer within "
                f"{self.connector.timeout:g} s while reading {what} ({tries}). "
                "Sync again later, or raise the timeout option."
            )
        return SourceError(
            f"source '{name}': cannot reach HubSpot at {host} while reading {what} "
            f"({tries}): {said}. Check the network (proxy, firewall, DNS) "
            "and the host option."
        )

    def _refused(self, exc: Exception, what: str, scope: str) -> SourceError:
        name, env = self.connector.name, self.connector.token_env
        status = int(getattr(exc, "status", 0) or 0)
        try:
            payload = json.loads(getattr(exc, "body", None) or b"")
        except (ValueError, UnicodeDecodeError):
            payload = None
        payload = payload if isinstance(payload, dict) else {}
        message = str(payload.get("message") or getattr(exc, "reason", "") or "").strip()
        message = message.rstrip(".")
        detail = f": {message}" if message else ""
        tries = _tries(self.connector.max_retries)
        if status == 401:
            return SourceError(
                f"source '{name}': HubSpot rejected the token in {env} (401){detail}. Create a "
                "private app in HubSpot (Settings > Integrations > Private Apps) with the scopes "
                f"{ALL_SCOPES}, and put its access token in {env}."
            )
        if status == 403:
            scopes = _required_scopes(payload) or [scope]
            return SourceError(
                f"source '{name}': the HubSpot token in {env} may not read {what} "
                f"(403 {payload.get('category') or 'FORBIDDEN'}{detail}). Give the private app "
                f"the scope(s) {', '.join(scopes)} (Settings > Integrations > Private Apps > "
                "Scopes), then sync again."
            )
        if status == 429:
            return SourceError(
                f"source '{name}': HubSpot rate limited the sync while reading {what} (429"
                f"{detail}; {tries}). Wait a few minutes and sync again; "
                "apps sharing this HubSpot account share its API limits."
            )
        if status >= 500:
            return SourceError(
                f"source '{name}': HubSpot failed while reading {what} ({status}{detail}; "
                f"{tries}). The problem is on HubSpot's side: sync again later "
                "(https://status.hubspot.com)."
            )
        if status == 404:
            return SourceError(
                f"source '{name}': HubSpot answered 404 for {what}{detail}. Check the host "
                f"option ({self.connector.host}): it must be HubSpot's API base URL."
            )
        return SourceError(
            f"source '{name}': HubSpot refused the request for {what} ({status}{detail}). "
            "If the message names a value from the source's options, fix it in expansion.toml."
        )

    def _page(self, page: dict, what: str) -> tuple[list[dict], str | None]:
        results = page.get("results")
        if not isinstance(results, list) or not all(
            isinstance(r, dict) and r.get("id") is not None for r in results
        ):
            raise self._malformed(what, "no results list")
        for result in results:
            if not isinstance(result.get("properties", {}), dict):
                raise self._malformed(what, f"record {result['id']} has no properties object")
        return results, _next_after(page, what, self)

    # -- reads -------------------------------------------------------------------------------

    def list_objects(self, object_type: str, properties: list[str]) -> Iterator[dict]:
        """Every record of a type (GET /crm/v3/objects/{type}), page by page."""
        api = self.api(object_type, "basic_api")
        after: str | None = None
        seen: set[str] = set()
        while True:
            what = f"{object_type} ({_at(after)})"
            page = self.call(
                what,
                SCOPES[object_type],
                api.get_page,
                limit=PAGE_SIZE,
                after=after,
                properties=properties,
                archived=False,
            )
            results, after = self._page(page, what)
            yield from results
            if after is None:
                return
            if after in seen:
                raise self._malformed(what, f"paging cursor after={after} repeated")
            seen.add(after)

    def search_modified(
        self, object_type: str, since: datetime, properties: list[str]
    ) -> Iterator[dict]:
        """Records modified at or after ``since`` (POST /crm/v3/objects/{type}/search), oldest
        first.

        One search answers at most SEARCH_WINDOW results; past that, the search is issued again
        from the last modification time read (GTE again: the caller drops the repeats).
        """
        models = self.models[object_type]
        api = self.api(object_type, "search_api")
        start = since
        while True:
            after: str | None = None
            read = 0
            last: datetime | None = None
            while True:
                what = f"{object_type} modified since {_iso(start)} ({_at(after)})"
                request = models.PublicObjectSearchRequest(
                    filter_groups=[
                        models.FilterGroup(
                            filters=[
                                models.Filter(
                                    property_name=MODIFIED,
                                    operator="GTE",
                                    value=str(_epoch_ms(start)),
                                )
                            ]
                        )
                    ],
                    sorts=[{"propertyName": MODIFIED, "direction": "ASCENDING"}],
                    properties=properties,
                    limit=SEARCH_PAGE_SIZE,
                    after=after,
                )
                page = self.call(
                    what, SCOPES[object_type], api.do_search, public_object_search_request=request
                )
                results, after = self._page(page, what)
                for result in results:
                    last = _parse_time(_props(result).get(MODIFIED)) or last
                    yield result
                read += len(results)
                if after is None:
                    return
                if read + SEARCH_PAGE_SIZE > SEARCH_WINDOW:
                    break
            if last is None or last <= start:
                raise _SearchWindowStuck(object_type)
            start = last

    def read_objects(
        self, object_type: str, ids: Iterable[str], properties: list[str]
    ) -> dict[str, dict]:
        """Records by id (POST /crm/v3/objects/{type}/batch/read); missing ids are skipped."""
        models = self.models[object_type]
        api = self.api(object_type, "batch_api")
        ids = list(dict.fromkeys(ids))
        found: dict[str, dict] = {}
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = ids[start : start + BATCH_SIZE]
            what = f"{object_type} (batch of {len(chunk)} from id {chunk[0]})"
            request = models.BatchReadInputSimplePublicObjectId(
                inputs=[models.SimplePublicObjectId(id=i) for i in chunk],
                properties=properties,
                properties_with_history=[],
            )
            page = self.call(
                what,
                SCOPES[object_type],
                api.read,
                batch_read_input_simple_public_object_id=request,
                archived=False,
            )
            results, _ = self._page(page, what)
            found.update((str(r["id"]), r) for r in results)
        return found

    def associations(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[str]]:
        """Ids of the ``to_type`` records associated with each id (v4 batch read, following
        each record's ``paging.next.after``)."""
        v4 = self.v4
        api = self.api("associations", "batch_api")
        linked: dict[str, list[str]] = defaultdict(list)
        pending: list[tuple[str, str | None]] = [(i, None) for i in dict.fromkeys(ids)]
        scope = f"{SCOPES[from_type]}, {SCOPES[to_type]}"
        while pending:
            chunk, pending = pending[:BATCH_SIZE], pending[BATCH_SIZE:]
            what = f"{to_type} associated with {from_type} (batch of {len(chunk)})"
            request = v4.BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[v4.PublicFetchAssociationsBatchRequest(id=i, after=a) for i, a in chunk]
            )
            page = self.call(
                what,
                scope,
                api.get_page,
                from_type,
                to_type,
                batch_input_public_fetch_associations_batch_request=request,
            )
            results = page.get("results")
            if not isinstance(results, list):
                raise self._malformed(what, "no results list")
            for result in results:
                try:
                    source = str(result["from"]["id"])
                    targets = [str(t["toObjectId"]) for t in result.get("to") or []]
                except (KeyError, TypeError) as exc:
                    raise self._malformed(what, f"an association without {exc}") from exc
                linked[source] += [t for t in targets if t not in linked[source]]
                after = _next_after(result, what, self)
                if after is not None:
                    pending.append((source, after))
        return dict(linked)

    def owners(self, wanted: set[str]) -> dict[str, str]:
        """Owner id -> email for the ``wanted`` ids (active owners, then archived ones)."""
        emails: dict[str, str] = {}
        if not wanted:
            return emails
        api = self.api("owners", "owners_api")
        for archived in (False, True):
            if not wanted - set(emails):
                break
            after: str | None = None
            while True:
                what = f"{'archived ' if archived else ''}owners ({_at(after)})"
                page = self.call(
                    what,
                    SCOPES["owners"],
                    api.get_page,
                    limit=PAGE_SIZE,
                    after=after,
                    archived=archived,
                )
                results, after = self._page(page, what)
                for owner in results:
                    email = str(owner.get("email") or "").strip()
                    if email:
                        emails.setdefault(str(owner["id"]), email)
                if after is None:
                    break
        return emails


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _props(record: dict) -> dict:
    props = record.get("properties") if isinstance(record, dict) else None
    return props if isinstance(props, dict) else {}


def _next_after(page: dict, what: str, hub: _HubSpot) -> str | None:
    """``paging.next.after`` of a page (None on the last page)."""
    paging = page.get("paging")
    nxt = paging.get("next") if isinstance(paging, dict) else None
    if nxt is None:
        return None
    after = nxt.get("after") if isinstance(nxt, dict) else None
    if isinstance(after, bool) or not isinstance(after, (str, int)) or str(after) == "":
        raise hub._malformed(what, "paging.next without an after cursor")
    return str(after)


def _tries(retries: int) -> str:
    if retries == 0:
        return "no retries configured"
    return f"{retries} {'retry' if retries == 1 else 'retries'} included"


def _at(after: str | None) -> str:
    return "first page" if after is None else f"after={after}"


def _id_order(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)


def _required_scopes(payload: dict) -> list[str]:
    scopes: list[str] = []
    contexts = [payload.get("context")] + [
        e.get("context") for e in payload.get("errors") or [] if isinstance(e, dict)
    ]
    for context in contexts:
        if isinstance(context, dict):
            for key in ("requiredGranularScopes", "requiredScopes", "missingScopes"):
                values = context.get(key)
                if isinstance(values, list):
                    scopes += [str(v) for v in values if str(v) not in scopes]
    return scopes


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(value: Any) -> float | None:
    if _blank(value):
        return None
    try:
        number = float(str(value).strip().replace(",", ""))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _plain(value: float | None) -> str | None:
    """A number as HubSpot would write it: ``1200`` rather than ``1200.0``."""
    if value is None:
        return None
    value = round(float(value), 6)
    return str(int(value)) if value.is_integer() else repr(value)


def _per_year(frequency: Any) -> float:
    key = str(frequency or "").strip().lower().replace("-", "_").replace(" ", "_")
    return PERIODS_PER_YEAR.get(key, 1.0)


def _quantity(props: dict) -> float:
    quantity = _number(props.get("quantity"))
    return 1.0 if quantity is None else quantity


def _line_item_arr(props: dict) -> float | None:
    """The billing-period total (``amount``, else ``price`` x ``quantity``) x periods a year."""
    amount = _number(props.get("amount"))
    if amount is None:
        price = _number(props.get("price"))
        if price is None:
            return None
        amount = price * _quantity(props)
    return round(amount * _per_year(props.get("recurringbillingfrequency")), 2)


def _parse_time(value: Any) -> datetime | None:
    """A HubSpot timestamp (ISO 8601 or epoch milliseconds) as an aware UTC datetime."""
    if _blank(value):
        return None
    text = str(value).strip()
    try:
        if _EPOCH_MS.match(text):
            seconds = int(text) / (1000 if len(text) > 10 else 1)
            return datetime.fromtimestamp(seconds, tz=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parse_date(value: Any) -> date | None:
    parsed = _parse_time(value)
    return parsed.date() if parsed else None


def _date_text(value: Any) -> Any:
    """Epoch-millisecond dates as ISO dates; anything else unchanged (validation judges it)."""
    text = str(value).strip()
    if _EPOCH_MS.match(text):
        parsed = _parse_time(text)
        return parsed.date().isoformat() if parsed else value
    return value


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _now() -> datetime:
    """This machine's clock (a function, so tests can move it)."""
    return datetime.now(UTC)


def _epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)
