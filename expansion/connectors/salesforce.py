"""Salesforce: accounts with their owners' emails, subscriptions and the product catalog.

Reads the REST API through ``simple_salesforce`` (``pip install 'expansion-bot[salesforce]'``)::

    [[sources]]
    name = "crm"
    type = "salesforce"
    account_id_field = "AccountNumber"      # default Id; use the key your other sources share
    subscriptions_from = "assets"           # or "opportunity_line_items", or "none"
    [sources.fields]                        # contract column -> Account field (merged over the defaults)
    arr = "Annual_Contract_Value__c"
    plan = ""                               # "" leaves a column out

Credentials come from the environment only (``env_prefix`` renames them, default
``SALESFORCE_``): ``SALESFORCE_INSTANCE_URL`` + ``SALESFORCE_ACCESS_TOKEN`` (an OAuth access token
or session id), or ``SALESFORCE_USERNAME`` + ``SALESFORCE_PASSWORD`` + ``SALESFORCE_SECURITY_TOKEN``
(the last may be empty when the org trusts your IP range; option ``domain``: ``login``, or
``test`` for a sandbox). The instance URL + token pair wins when both are set.

What is read
    ``accounts``: one row per Account (optionally only those matching ``account_where``).
    ``account_id`` is ``account_id_field`` (default the Account Id), ``owner`` is the owner's
    email (``Owner.Email``, so Slack users can be matched), the other columns come from
    ``fields``. A default field the org does not have (``Plan__c``...) is left out with a note;
    a field you configured that does not exist fails the pull, naming the option to change.
    ``arr`` (or ``mrr``) must come from some field.

    ``subscriptions``, from ``assets`` (default): each Asset with an account and a product gives
    ``quantity`` = Quantity and ``arr`` = ``asset_arr_field`` (default ``ARR__c``) when the Asset
    object has that field and the value is set, else ``asset_price_field`` (default ``Price``,
    an annual price per unit) x Quantity (x 1 when Quantity is empty), else blank. From
    ``opportunity_line_items``: the line items of won opportunities (``Opportunity.IsWon``,
    i.e. Closed Won), ``quantity`` = Quantity, ``arr`` = ``line_item_arr_field`` (default
    TotalPrice); renewals booked as new opportunities would count twice, so limit them with
    ``line_item_where`` (e.g. ``Opportunity.CloseDate = LAST_N_DAYS:365``). Either way rows of the
    same account and product are summed, the product is ``Product2.<product_id_field>``
    (default ProductCode; the Product2 Id when blank).

    ``catalog``: every Product2, ``product_fields`` mapping catalog columns to Product2 fields
    like ``fields`` does for accounts; when the ``list_price_column`` (default
    ``price_per_seat``) has no Product2 field, it gets the standard price book's list price
    (PricebookEntry.UnitPrice). Left out when there are no products or ``catalog = false``.

Incremental pulls
    The cursor is the moment the pull started (this machine's clock) minus ``lag_minutes``
    (default 2), ISO-8601 UTC to the microsecond. With a cursor, the pull reads the Accounts
    with ``LastModifiedDate >= cursor`` (the SOQL literal is the cursor rounded down to its
    whole second, as SOQL datetimes are written in whole seconds), plus the accounts
    whose Assets (or Opportunities) changed since, and only those accounts' subscriptions; the
    catalog is read whole. So a change made while a pull runs, whichever of its queries it
    raced with, or in the same second as the cursor, is read by the next pull; the lag covers
    this machine's clock running ahead of Salesforce's and transactions committing late.
    Records changed within the lag are read twice, which is harmless (an incremental pull
    replaces those accounts' rows). The cursor never moves backwards: a cursor later than the
    new one (an older release's cursor, a larger ``lag_minutes``) is kept; a cursor later than
    the pull's start means a clock was wrong, and the pull reads everything. Deleted records
    are not seen by incremental pulls: a full pull (no cursor) replaces everything.

Failures (rejected session, API limit, missing field, outage, timeout, malformed page) raise
:class:`~expansion.connectors.base.SourceError`; 5xx answers, timeouts and dropped connections
are retried ``max_retries`` times first, honouring Retry-After.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ..contract import ACCOUNTS, CATALOG
from ..ingest import raw_table
from ..redact import remember
from .base import Connector, Progress, Pull, SourceError

DEFAULT_API_VERSION = "59.0"
DEFAULT_ENV_PREFIX = "SALESFORCE_"
#: The next incremental pull reads changes from this many minutes before a pull started
#: (``lag_minutes``): clocks differ, and a transaction's LastModifiedDate precedes its commit.
DEFAULT_LAG_MINUTES = 2
MAX_LAG_MINUTES = 24 * 60

#: accounts column -> Account field. Standard fields, and custom ones many orgs have; a default
#: custom field the org lacks is left out (``fields`` overrides any of them, "" drops one).
DEFAULT_ACCOUNT_FIELDS: dict[str, str] = {
    "name": "Name",
    "arr": "ARR__c",
    "segment": "Segment__c",
    "industry": "Industry",
    "region": "BillingCountry",
    "plan": "Plan__c",
    "licensed_seats": "Licensed_Seats__c",
    "active_seats": "Active_Seats__c",
    "employee_count": "NumberOfEmployees",
    "health_score": "Health_Score__c",
    "nps": "NPS__c",
    "contract_term": "Contract_Term__c",
    "contract_start": "Contract_Start_Date__c",
    "renewal_date": "Renewal_Date__c",
    "last_renewal_date": "Last_Renewal_Date__c",
    "owner": "Owner.Email",
    "status": "Customer_Status__c",
    "channel": "Channel__c",
}
#: catalog column -> Product2 field (product_id is ``product_id_field``).
DEFAULT_PRODUCT_FIELDS: dict[str, str] = {
    "name": "Name",
    "kind": "Kind__c",
    "tier_rank": "Tier_Rank__c",
    "price_per_seat": "Price_Per_Seat__c",
    "annual_price": "Annual_Price__c",
    "unit": "Unit__c",
    "unit_price": "Unit_Price__c",
    "features": "Features__c",
    "solves": "Solves__c",
}
ACCOUNT_COLUMNS = (*(c for c in ACCOUNTS.column_names if c != "account_id"), "mrr")
PRODUCT_COLUMNS = tuple(c for c in CATALOG.column_names if c != "product_id")
SUBSCRIPTION_SOURCES = ("assets", "opportunity_line_items", "none")
PRICE_COLUMNS = ("price_per_seat", "annual_price", "unit_price")

_FIELD_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*){0,4}$")
_API_VERSION = re.compile(r"^\d{2,3}\.0$")
_NO_COLUMN = re.compile(r"No such column '([^']+)' on entity '([^']+)'")
_NO_RELATIONSHIP = re.compile(r"Didn't understand relationship '([^']+)'")
_WHERE_OPTIONS = {
    "Account": "account_where",
    "Asset": "asset_where",
    "OpportunityLineItem": "line_item_where",
}
_ID_CHUNK = 150  # Ids per "Id IN (...)": keeps the query URL well under Salesforce's limits
_MAX_RETRY_AFTER = 60.0


@dataclass
class _Plan:
    """Which field feeds which column of one object, and who configured it."""

    obj: str
    columns: dict[str, str] = field(default_factory=dict)  # column -> field path
    options: dict[str, str] = field(default_factory=dict)  # field path (lower) -> option
    skipped: dict[str, str] = field(default_factory=dict)  # column -> default field missing

    def add(self, column: str, path: str, option: str) -> None:
        self.columns[column] = path
        self.options.setdefault(path.lower(), option)


@dataclass
class _Account:
    sf_id: str
    row: dict[str, Any]


def _field_problem(defaults: dict[str, str]) -> Callable[[str, str], str | None]:
    """What is wrong with a mapped Salesforce field name, if anything."""

    def problem(column: str, name: str) -> str | None:
        if _FIELD_PATH.match(name):
            return None
        return (
            f"must be a field API name such as {defaults.get(column, 'My_Field__c')} (or a "
            f"relationship path such as Owner.Email), got '{name}'"
        )

    return problem


class SalesforceConnector(Connector):
    """Accounts, subscriptions and catalog from Salesforce; incremental by LastModifiedDate."""

    kind = "salesforce"
    role = "crm"
    options = {
        "env_prefix": "prefix of the credential variables (default SALESFORCE_)",
        "domain": "login domain for username/password auth: login (default) or test (sandbox)",
        "api_version": f"REST API version (default {DEFAULT_API_VERSION})",
        "account_id_field": "Account field used as account_id (default Id)",
        "fields": 'table of accounts column -> Account field (defaults: arr = "ARR__c", ...; "" drops one)',
        "account_where": "SOQL condition limiting the Accounts read, e.g. \"Type = 'Customer'\"",
        "subscriptions_from": "assets (default), opportunity_line_items or none",
        "asset_arr_field": "Asset field holding the annual amount (default ARR__c, used when present)",
        "asset_price_field": "Asset field holding the annual price per unit (default Price)",
        "asset_where": "SOQL condition limiting the Assets read, e.g. \"Status != 'Obsolete'\"",
        "line_item_arr_field": "OpportunityLineItem field holding the annual amount (default TotalPrice)",
        "line_item_where": "SOQL condition limiting the won line items read",
        "product_id_field": "Product2 field used as product_id (default ProductCode)",
        "catalog": "read Product2 as the catalog (default true)",
        "product_fields": 'table of catalog column -> Product2 field (defaults: kind = "Kind__c", ...)',
        "list_price_column": 'catalog column given the standard price book\'s list price when it has no field (default price_per_seat; "" never)',
        "max_retries": "retries of 5xx answers, timeouts and dropped connections (default 3)",
        "retry_backoff": "seconds before the second retry, doubling after (default 0.5)",
        "timeout": "seconds to wait for an answer (default 60)",
        "lag_minutes": (
            "minutes before a sync's start the next incremental sync reads changes from "
            f"(default {DEFAULT_LAG_MINUTES})"
        ),
    }

    def __init__(self, config, env) -> None:
        super().__init__(config, env)
        self.prefix = self.text_option("env_prefix", DEFAULT_ENV_PREFIX)
        self.domain = self.text_option("domain", "login")
        if not re.fullmatch(r"[A-Za-z0-9.-]+", self.domain):
            raise self.bad_option("domain", "must be login, test or a My Domain name")
        version = str(self.option("api_version", DEFAULT_API_VERSION)).strip()
        if re.fullmatch(r"\d{2,3}", version):
            version += ".0"
        if not _API_VERSION.match(version):
            raise self.bad_option("api_version", f"must look like {DEFAULT_API_VERSION}")
        self.api_version = version

        self.account_id_field = self._field_option("account_id_field", "Id")
        self.account_fields, self.explicit_fields = self.mapping_option(
            "fields",
            DEFAULT_ACCOUNT_FIELDS,
            ACCOUNT_COLUMNS,
            table="accounts",
            target="Salesforce field",
            check=_field_problem(DEFAULT_ACCOUNT_FIELDS),
            hints={"account_id": "account_id comes from account_id_field"},
        )
        if "arr" not in self.account_fields and "mrr" not in self.account_fields:
            raise self.bad_option(
                "fields",
                "must give arr (or mrr): the Account field holding annual recurring revenue",
            )
        self.subscriptions_from = self.choice_option(
            "subscriptions_from", "assets", SUBSCRIPTION_SOURCES
        )
        self.asset_arr_field = self._field_option("asset_arr_field", "ARR__c", blank_ok=True)
        self.asset_price_field = self._field_option("asset_price_field", "Price", blank_ok=True)
        self.line_item_arr_field = self._field_option("line_item_arr_field", "TotalPrice")
        self.product_id_field = self._field_option("product_id_field", "ProductCode")
        self.product_fields, self.explicit_product_fields = self.mapping_option(
            "product_fields",
            DEFAULT_PRODUCT_FIELDS,
            PRODUCT_COLUMNS,
            table="catalog",
            target="Salesforce field",
            check=_field_problem(DEFAULT_PRODUCT_FIELDS),
            hints={"product_id": "product_id comes from product_id_field"},
        )
        # "" is a choice here: never give the list price to a column.
        self.list_price_column = (
            ""
            if self.option("list_price_column") == ""
            else self.choice_option("list_price_column", "price_per_seat", PRICE_COLUMNS)
        )
        self.catalog = self.bool_option("catalog", True)
        self.account_where = self._where_option("account_where")
        self.asset_where = self._where_option("asset_where")
        self.line_item_where = self._where_option("line_item_where")
        self.max_retries = self.number_option("max_retries", 3, minimum=0, maximum=10, whole=True)
        self.retry_backoff = self.number_option("retry_backoff", 0.5, minimum=0, maximum=60)
        self.timeout = self.number_option("timeout", 60, minimum=0.1, maximum=600)
        self.lag_minutes = self.number_option(
            "lag_minutes", DEFAULT_LAG_MINUTES, minimum=0, maximum=MAX_LAG_MINUTES
        )
        # Which credentials the last connection used: ("token" | "password", variable).
        self.auth = ("token", self.var("ACCESS_TOKEN"))

    # -- options -------------------------------------------------------------------------------

    def _field_option(self, option: str, default: str, *, blank_ok: bool = False) -> str:
        value = self.option(option, default)
        value = "" if value is None else str(value).strip()
        if not value and blank_ok:
            return ""
        if not _FIELD_PATH.match(value):
            raise self.bad_option(
                option, f"must be a field API name such as {default}, got '{value}'"
            )
        return value

    def _where_option(self, option: str) -> str:
        value = self.text_option(option)
        if ";" in value:
            raise self.bad_option(option, "is one SOQL condition, without ';'")
        return value

    def var(self, suffix: str) -> str:
        return f"{self.prefix}{suffix}"

    def _host(self) -> str:
        url = str(self.env.get(self.var("INSTANCE_URL"), "")).strip()
        if url:
            return urlsplit(url if "//" in url else f"https://{url}").netloc or url
        user = str(self.env.get(self.var("USERNAME"), "")).strip()
        if user:
            return f"{self.domain}.salesforce.com as {user}"
        return ""

    def location(self) -> str:
        return f"Salesforce ({self._host() or 'no credentials set'})"

    # -- the pull ------------------------------------------------------------------------------

    def pull(self, cursor: str | None, *, progress: Progress | None = None) -> Pull:
        say: Callable[[str], None] = progress or (lambda _message: None)
        # Taken before the first request: every change from lag_minutes before this moment on
        # is read by this pull or, at the latest, by the next one (see the module docstring).
        started = _now()
        since = self.since(cursor, started, say)
        client = _Client(self, self._connect())
        try:
            pull = self._pull(client, since, say)
        finally:
            client.sf.session.close()
        pull.cursor = self.next_cursor(started, since, cursor)
        return pull

    def _pull(self, client: _Client, since: datetime | None, say: Callable[[str], None]) -> Pull:
        accounts_plan = self._account_plan(client, say)
        if since is None:
            say("reading Salesforce accounts")
            accounts = self._read_accounts(client, accounts_plan)
            if not accounts:
                raise SourceError(
                    f"source '{self.name}': Salesforce returned no Account records"
                    + (
                        f" matching account_where ({self.account_where})"
                        if self.account_where
                        else ""
                    )
                    + ", so nothing was written. Check account_where and that the user can see "
                    "the accounts."
                )
        else:
            say(f"reading Salesforce accounts changed since {_soql_datetime(since)}")
            accounts = self._read_accounts(client, accounts_plan, since=since)
            seen = {a.sf_id for a in accounts}
            others = self._changed_by_subscriptions(client, since) - seen
            if others:
                accounts += self._read_accounts(client, accounts_plan, ids=sorted(others))
        say(f"{_times(len(accounts), 'account', 'accounts')} from Salesforce")

        tables = {
            "accounts": _table(
                [a.row for a in accounts],
                ("account_id", *accounts_plan.columns),
                f"{self.name}:Account",
            )
        }
        if self.subscriptions_from != "none":
            ids = {a.sf_id: a.row["account_id"] for a in accounts}
            rows, obj = self._read_subscriptions(client, ids, full=since is None, say=say)
            tables["subscriptions"] = _table(
                rows, ("account_id", "product_id", "quantity", "arr"), f"{self.name}:{obj}"
            )
        if self.catalog:
            products = self._read_catalog(client, say)
            if products:
                columns = ("product_id", *dict.fromkeys(k for r in products for k in r))
                tables["catalog"] = _table(products, columns, f"{self.name}:Product2")

        return Pull(tables=tables, incremental=since is not None)

    # -- connection ------------------------------------------------------------------------------

    def _connect(self) -> Any:
        try:
            import requests
            from simple_salesforce import Salesforce
            from simple_salesforce.exceptions import SalesforceAuthenticationFailed
        except ImportError as exc:  # pragma: no cover - the extra is installed in development
            raise SourceError(
                f"source '{self.name}': the Salesforce client is not installed: "
                "pip install 'expansion-bot[salesforce]'."
            ) from exc
        url_var, token_var = self.var("INSTANCE_URL"), self.var("ACCESS_TOKEN")
        user_var, password_var = self.var("USERNAME"), self.var("PASSWORD")
        has = {v: str(self.env.get(v, "")).strip() for v in (url_var, token_var, user_var)}
        if has[url_var] or has[token_var] or not has[user_var]:
            if not any(has.values()):
                raise SourceError(
                    f"source '{self.name}': no Salesforce credentials are set: put {url_var} and "
                    f"{token_var} (an OAuth access token), or {user_var}, {password_var} and "
                    f"{self.var('SECURITY_TOKEN')} in the environment (secrets are never read "
                    "from expansion.toml)."
                )
            url = self.secret(
                url_var,
                "the Salesforce instance URL (https://<domain>.my.salesforce.com)",
                conceal=False,
            )
            token = self.secret(token_var, "the Salesforce access token")
            parts = urlsplit(url if "//" in url else f"https://{url}")
            if not parts.hostname:
                raise SourceError(
                    f"source '{self.name}': {url_var} is not a URL such as "
                    "https://example.my.salesforce.com."
                )
            self.auth = ("token", token_var)
            return Salesforce(
                instance_url=f"https://{parts.netloc}",
                session_id=token,
                version=self.api_version,
                session=self._session(),
            )
        user = self.secret(user_var, "the Salesforce username", conceal=False)
        password = self.secret(password_var, "the Salesforce password")
        security_token = str(self.env.get(self.var("SECURITY_TOKEN"), "")).strip()
        remember(security_token)
        self.auth = ("password", user_var)
        session = self._session()
        try:
            return Salesforce(
                username=user,
                password=password,
                security_token=security_token,
                domain=self.domain,
                version=self.api_version,
                session=session,
            )
        except SalesforceAuthenticationFailed as exc:
            session.close()
            raise SourceError(
                f"source '{self.name}': Salesforce refused the login of {user} "
                f"({exc.code}: {_squash(exc.auth_message).rstrip('.')}). Check {password_var} and "
                f"{self.var('SECURITY_TOKEN')} (Settings > Reset My Security Token emails a new "
                f"one), and the domain option ('{self.domain}'; test for a sandbox)."
            ) from exc
        except (requests.exceptions.RequestException, ValueError) as exc:
            session.close()
            raise self._transport_error(exc, "the login") from exc

    def _session(self) -> Any:
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        class _Retry(Retry):
            def get_retry_after(self, response):  # a long Retry-After is capped
                value = super().get_retry_after(response)
                return None if value is None else min(value, _MAX_RETRY_AFTER)

        timeout = self.timeout

        class _Adapter(HTTPAdapter):
            def send(self, request, **kwargs):
                if kwargs.get("timeout") is None:
                    kwargs["timeout"] = timeout
                return super().send(request, **kwargs)

        retry = _Retry(
            total=self.max_retries,
            connect=self.max_retries,
            read=self.max_retries,
            status=self.max_retries,
            other=0,
            redirect=0,
            backoff_factor=self.retry_backoff / 2,  # urllib3 doubles it from the second retry on
            status_forcelist=(500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        session = requests.Session()
        adapter = _Adapter(max_retries=retry)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    # -- accounts ----------------------------------------------------------------------------------

    def _account_plan(self, client: _Client, say: Callable[[str], None]) -> _Plan:
        plan = _Plan("Account")
        for column, path in self.account_fields.items():
            option = f"fields.{column}"
            plan.add(
                column, path, option if column in self.explicit_fields else f"{option} (default)"
            )
        plan.options.setdefault(self.account_id_field.lower(), "account_id_field")
        client.check_fields(
            plan, explicit=self.explicit_fields, extra={"account_id_field": self.account_id_field}
        )
        if plan.skipped:
            say(
                "Account has no field "
                + ", ".join(f"{f} (for {c})" for c, f in plan.skipped.items())
                + ": left out; map them with [sources.fields]"
            )
        if "arr" not in plan.columns and "mrr" not in plan.columns:
            raise SourceError(
                f"source '{self.name}': Salesforce's Account has no field "
                f"{self.account_fields.get('arr', 'ARR__c')} for arr (annual recurring revenue). "
                "Set fields.arr (or fields.mrr) in this source's entry of expansion.toml to the "
                "API name of the Account field holding it (Setup > Object Manager > Account > "
                "Fields & Relationships)."
            )
        return plan

    def _read_accounts(
        self,
        client: _Client,
        plan: _Plan,
        *,
        since: datetime | None = None,
        ids: list[str] | None = None,
    ) -> list[_Account]:
        fields = _unique(["Id", self.account_id_field, *plan.columns.values()])
        conditions = [f"({self.account_where})"] if self.account_where else []
        if since is not None:
            conditions.append(f"LastModifiedDate >= {_soql_datetime(since)}")
        accounts: list[_Account] = []
        for chunk_conditions in _with_ids(conditions, "Id", ids):
            soql = _select(fields, "Account", chunk_conditions)
            for record in client.records(soql, plan, "Account"):
                row = {"account_id": _value(record, self.account_id_field)}
                for column, path in plan.columns.items():
                    row[column] = _value(record, path)
                accounts.append(_Account(str(record.get("Id")), row))
        return accounts

    def _changed_by_subscriptions(self, client: _Client, since: datetime) -> set[str]:
        """Accounts whose Assets (or Opportunities) changed since the cursor."""
        if self.subscriptions_from == "none":
            return set()
        obj = "Asset" if self.subscriptions_from == "assets" else "Opportunity"
        conditions = [f"LastModifiedDate >= {_soql_datetime(since)}", "AccountId != null"]
        soql = _select(["AccountId"], obj, conditions)
        found = set()
        for record in client.records(soql, _Plan(obj), obj):
            found.add(str(record.get("AccountId")))
        return found

    # -- subscriptions ---------------------------------------------------------------------------

    def _read_subscriptions(
        self,
        client: _Client,
        accounts: dict[str, Any],
        *,
        full: bool,
        say: Callable[[str], None],
    ) -> tuple[list[dict], str]:
        assets = self.subscriptions_from == "assets"
        obj = "Asset" if assets else "OpportunityLineItem"
        account_path = "AccountId" if assets else "Opportunity.AccountId"
        product_path = f"Product2.{self.product_id_field}"
        plan = _Plan(obj)
        plan.add("product_id", product_path, "product_id_field")
        if assets:
            if self.asset_arr_field:
                plan.add("arr", self.asset_arr_field, "asset_arr_field")
            if self.asset_price_field:
                plan.add("price", self.asset_price_field, "asset_price_field")
            explicit = {
                c
                for c, option in (("arr", "asset_arr_field"), ("price", "asset_price_field"))
                if self.option(option) not in (None, "")
            }
            client.check_fields(plan, explicit=explicit)
            if "arr" in plan.skipped:
                say(f"Asset has no field {self.asset_arr_field}: arr is Price x Quantity")
            where = self.asset_where
        else:
            plan.add("arr", self.line_item_arr_field, "line_item_arr_field")
            where = self.line_item_where
        fields = _unique(
            [
                "Id",
                account_path,
                "Product2Id",
                "Quantity",
                *plan.columns.values(),
            ]
        )
        # An Asset need not have a product (Product2Id is optional: competitor assets often have
        # none); it is no subscription, so it is left out in the query and counted.
        conditions = (
            [f"{account_path} != null", "Product2Id != null"]
            if assets
            else ["Opportunity.IsWon = true"]
        )
        if where:
            conditions.append(f"({where})")
        if full:
            batches = [conditions]
        elif accounts:
            batches = list(_with_ids(conditions, account_path, sorted(accounts)))
        else:
            batches = []
        say(f"reading Salesforce {obj} records")
        if assets:
            self._count_assets_without_product(client, batches, accounts, say)
        totals: dict[tuple[str, str], dict[str, Any]] = {}
        outside = 0
        for batch in batches:
            for record in client.records(_select(fields, obj, batch), plan, obj):
                sf_account = _value(record, account_path)
                if sf_account not in accounts:
                    outside += 1
                    continue
                product = _value(record, product_path) or _value(record, "Product2Id")
                quantity = _number(_value(record, "Quantity"))
                arr = (
                    _number(_value(record, plan.columns["arr"])) if "arr" in plan.columns else None
                )
                if arr is None and "price" in plan.columns:
                    price = _number(_value(record, plan.columns["price"]))
                    if price is not None:
                        arr = round(price * (quantity if quantity is not None else 1), 2)
                key = (accounts[sf_account], product)
                row = totals.setdefault(
                    key,
                    {"account_id": key[0], "product_id": product, "quantity": None, "arr": None},
                )
                row["quantity"] = _add(row["quantity"], quantity)
                row["arr"] = _add(row["arr"], arr)
        if outside:
            say(f"{outside} {obj} records of accounts not read (see account_where) were left out")
        for row in totals.values():
            if row["arr"] is not None:
                row["arr"] = round(row["arr"], 2)
        return [_tidy_row(r) for r in totals.values()], obj

    def _count_assets_without_product(
        self,
        client: _Client,
        batches: list[list[str]],
        accounts: dict[str, Any],
        say: Callable[[str], None],
    ) -> int:
        """Say how many Assets of the accounts read have no product and were left out."""
        skipped = 0
        for batch in batches:
            conditions = [c if c != "Product2Id != null" else "Product2Id = null" for c in batch]
            soql = _select(["Id", "AccountId"], "Asset", conditions)
            for record in client.records(soql, _Plan("Asset"), "Asset"):
                skipped += _value(record, "AccountId") in accounts
        if skipped:
            say(
                f"{_times(skipped, 'Asset', 'Assets')} with no product (Product2Id empty, e.g. "
                "a competitor's) left out: they are no subscription"
            )
        return skipped

    # -- catalog -----------------------------------------------------------------------------------

    def _read_catalog(self, client: _Client, say: Callable[[str], None]) -> list[dict]:
        plan = _Plan("Product2")
        for column, path in self.product_fields.items():
            option = f"product_fields.{column}"
            plan.add(
                column,
                path,
                option if column in self.explicit_product_fields else f"{option} (default)",
            )
        plan.options.setdefault(self.product_id_field.lower(), "product_id_field")
        client.check_fields(
            plan,
            explicit=self.explicit_product_fields,
            extra={"product_id_field": self.product_id_field},
        )
        if plan.skipped:
            say(
                "Product2 has no field "
                + ", ".join(f"{f} (for {c})" for c, f in plan.skipped.items())
                + ": left out; map them with [sources.product_fields]"
            )
        say("reading Salesforce products")
        fields = _unique(["Id", self.product_id_field, *plan.columns.values()])
        products = []
        for record in client.records(_select(fields, "Product2", []), plan, "Product2"):
            row = {"product_id": _value(record, self.product_id_field) or record.get("Id")}
            for column, path in plan.columns.items():
                row[column] = _value(record, path)
            row["_id"] = record.get("Id")
            products.append(row)
        column = self.list_price_column
        if products and column and column not in plan.columns:
            prices: dict[str, Any] = {}
            soql = _select(
                ["Product2Id", "UnitPrice"],
                "PricebookEntry",
                ["Pricebook2.IsStandard = true", "IsActive = true"],
            )
            for record in client.records(soql, _Plan("PricebookEntry"), "PricebookEntry"):
                prices.setdefault(str(record.get("Product2Id")), _value(record, "UnitPrice"))
            for row in products:
                row[column] = prices.get(str(row["_id"]))
        for row in products:
            row.pop("_id")
        return [_tidy_row(r) for r in products]

    # -- errors ------------------------------------------------------------------------------------

    def _api_error(self, exc: Any, what: str, plan: _Plan | None) -> SourceError:
        from simple_salesforce.exceptions import (
            SalesforceExpiredSession,
            SalesforceMalformedRequest,
            SalesforceRefusedRequest,
            SalesforceResourceNotFound,
        )

        code, message = _error_details(exc.content)
        status = exc.status
        head = f"source '{self.name}': "
        kind, variable = getattr(self, "auth", ("token", self.var("ACCESS_TOKEN")))
        if isinstance(exc, SalesforceExpiredSession):
            if kind == "token":
                return SourceError(
                    f"{head}Salesforce rejected the session in {variable} ({status}): {message}. "
                    f"Access tokens expire: get a new one (e.g. `sf org display --target-org "
                    f"<alias>` or your OAuth flow) and put it in {variable}."
                )
            return SourceError(
                f"{head}Salesforce rejected the session of {variable} ({status}): {message}. "
                "Check that the user is active and allowed to use the API."
            )
        if isinstance(exc, SalesforceRefusedRequest):
            if code == "REQUEST_LIMIT_EXCEEDED":
                return SourceError(
                    f"{head}Salesforce's API request limit is exceeded ({status} {code}) while "
                    f"reading {what}: {message}. The org's 24-hour API allowance is used up; "
                    "sync again once it recovers (Setup > System Overview shows API usage), or "
                    "ask Salesforce to raise it."
                )
            return SourceError(
                f"{head}Salesforce refused to let this user read {what} ({status} {code}): "
                f"{message}. The user needs the 'API Enabled' permission and read access to "
                f"{what}."
            )
        if isinstance(exc, SalesforceMalformedRequest):
            if code == "INVALID_FIELD":
                return self._field_error(what, message, plan)
            if code == "INVALID_TYPE":
                hint = (
                    " Set subscriptions_from to the object your org uses (assets, "
                    "opportunity_line_items or none)."
                    if what in ("Asset", "OpportunityLineItem", "Opportunity")
                    else ""
                )
                return SourceError(
                    f"{head}Salesforce has no object {what} visible to this user ({status} "
                    f"{code}): {message}.{hint}"
                )
            option = _WHERE_OPTIONS.get(what)
            hint = f" Check the {option} option." if option and getattr(self, option) else ""
            return SourceError(
                f"{head}Salesforce rejected the query for {what} ({status} {code}): {message}.{hint}"
            )
        if isinstance(exc, SalesforceResourceNotFound):
            return SourceError(
                f"{head}Salesforce answered 404 for {what} ({code}: {message}). Check "
                f"{self.var('INSTANCE_URL')} and the api_version option ({self.api_version})."
            )
        if isinstance(status, int) and status >= 500:
            return SourceError(
                f"{head}Salesforce failed with {status} while reading {what}, after "
                f"{_times(self.max_retries, 'retry', 'retries')}: {message}. This is usually temporary: sync again "
                "later (status.salesforce.com lists incidents)."
            )
        return SourceError(f"{head}Salesforce answered {status} while reading {what}: {message}.")

    def _field_error(self, what: str, message: str, plan: _Plan | None) -> SourceError:
        head = f"source '{self.name}': "
        match = _NO_COLUMN.search(message)
        name = match.group(1) if match else None
        entity = match.group(2) if match else what
        if match is None and (rel := _NO_RELATIONSHIP.search(message)):
            name = rel.group(1)
        option = None
        if plan is not None and name:
            lowered = name.lower()
            for path, configured in plan.options.items():
                segments = path.split(".")
                if lowered == path or lowered in segments:
                    option = configured
                    break
        where = _WHERE_OPTIONS.get(what)
        if option is None and name and where and name.lower() in getattr(self, where).lower():
            option = where
        field_text = f"{entity}.{name}" if name else f"a field of {what}"
        if option and option.endswith("_where"):
            return SourceError(
                f"{head}Salesforce has no field {field_text} (INVALID_FIELD), used in {option}. "
                f"Fix the condition in {option} (Setup > Object Manager > {entity} > Fields & "
                "Relationships lists the fields' API names)."
            )
        if option:
            option = option.removesuffix(" (default)")
            return SourceError(
                f"{head}Salesforce has no field {field_text} (INVALID_FIELD), used for {option}. "
                f"Set {option} in this source's entry of expansion.toml to the API name of your "
                f"field (Setup > Object Manager > {entity} > Fields & Relationships)"
                + (', or to "" to leave it out.' if _can_drop(option) else ".")
            )
        return SourceError(
            f"{head}Salesforce has no field {field_text} (INVALID_FIELD): {message}. The user may "
            "lack field-level access to it."
        )

    def _transport_error(self, exc: BaseException, what: str) -> SourceError:
        import requests

        head = f"source '{self.name}': "
        # requests wraps urllib3's MaxRetryError, whose message repeats the whole query URL.
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        text = _squash(reason if reason is not None else exc).lstrip(": ")
        if isinstance(exc, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY" in text.upper():
            return SourceError(
                f"{head}the TLS certificate of Salesforce could not be verified while reading "
                f"{what} ({text}). Behind a TLS-inspecting proxy, point REQUESTS_CA_BUNDLE at "
                "its CA bundle."
            )
        if isinstance(exc, requests.exceptions.Timeout) or "timed out" in str(exc).lower():
            return SourceError(
                f"{head}Salesforce did not answer within {self.timeout} s while reading {what} "
                f"(tried {_times(self.max_retries + 1, 'time', 'times')}). Sync again later, or raise the timeout "
                "option."
            )
        if isinstance(
            exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError
        ):
            return self._malformed(what, text)
        if isinstance(exc, requests.exceptions.ConnectionError):
            return SourceError(
                f"{head}could not reach Salesforce at {self._host()} while reading {what} (tried {_times(self.max_retries + 1, 'time', 'times')}): {text}. Check "
                f"{self.var('INSTANCE_URL')} and the network."
            )
        if isinstance(exc, ValueError):  # includes requests' JSONDecodeError
            return self._malformed(what, text)
        return SourceError(f"{head}reading {what} from Salesforce failed: {text}")

    def _malformed(self, what: str, detail: str) -> SourceError:
        return SourceError(
            f"source '{self.name}': Salesforce returned a malformed page for {what} ({detail}). "
            "Nothing was written; sync again (a proxy or a dropped connection can cut a page "
            "short)."
        )


class _Client:
    """Runs describes and queries, turning every failure into a SourceError."""

    def __init__(self, connector: SalesforceConnector, sf: Any) -> None:
        self.connector = connector
        self.sf = sf

    def call(self, what: str, plan: _Plan | None, fn: Callable[..., Any], *args, **kwargs) -> Any:
        import requests
        from simple_salesforce.exceptions import SalesforceError

        try:
            return fn(*args, **kwargs)
        except SalesforceError as exc:
            raise self.connector._api_error(exc, what, plan) from exc
        except requests.exceptions.JSONDecodeError as exc:
            raise self.connector._malformed(what, f"not JSON: {exc}") from exc
        except (requests.exceptions.RequestException, ValueError) as exc:
            raise self.connector._transport_error(exc, what) from exc

    def describe(self, obj: str) -> dict[str, str]:
        """The fields of ``obj`` this user can see: lower-cased name -> API name."""
        result = self.call(obj, None, lambda: getattr(self.sf, obj).describe())
        fields = result.get("fields") if isinstance(result, dict) else None
        if not isinstance(fields, list):
            raise self.connector._malformed(obj, "describe without a fields list")
        return {
            str(f.get("name", "")).lower(): str(f.get("name"))
            for f in fields
            if isinstance(f, dict)
        }

    def check_fields(
        self, plan: _Plan, *, explicit: set[str], extra: Mapping[str, str] | None = None
    ) -> None:
        """Drop default fields the object lacks; fail on configured ones, naming them all."""
        plain = {c: p for c, p in plan.columns.items() if "." not in p}
        extra_plain = {o: p for o, p in (extra or {}).items() if "." not in p}
        if not plain and not extra_plain:
            return
        known = self.describe(plan.obj)
        missing = []
        for column, path in plain.items():
            if path.lower() in known:
                continue
            if column in explicit:
                missing.append((plan.options[path.lower()].removesuffix(" (default)"), path))
            else:
                plan.skipped[column] = path
                del plan.columns[column]
        missing += [(o, p) for o, p in extra_plain.items() if p.lower() not in known]
        if missing:
            listed = ", ".join(f"{plan.obj}.{p} (used for {o})" for o, p in missing)
            drop = ' or to "" to leave it out' if all(_can_drop(o) for o, _ in missing) else ""
            raise SourceError(
                f"source '{self.connector.name}': Salesforce has no field {listed} "
                "(INVALID_FIELD). Set "
                + ", ".join(o for o, _ in missing)
                + " in this source's entry of expansion.toml to the API name of your field "
                f"(Setup > Object Manager > {plan.obj} > Fields & Relationships){drop}."
            )

    def records(self, soql: str, plan: _Plan, what: str) -> Iterator[dict]:
        """Every record of a query, following nextRecordsUrl until done."""
        page = self.call(what, plan, self.sf.query, soql)
        while True:
            if not isinstance(page, dict) or not isinstance(page.get("records"), list):
                raise self.connector._malformed(what, "no records list")
            yield from (r for r in page["records"] if isinstance(r, dict))
            if page.get("done", True) is True:
                return
            next_url = page.get("nextRecordsUrl")
            if not isinstance(next_url, str) or not next_url.startswith("/"):
                raise self.connector._malformed(what, "done is false but nextRecordsUrl is missing")
            page = self.call(what, plan, self.sf.query_more, next_url, identifier_is_url=True)


# -- helpers -----------------------------------------------------------------------------------


def _can_drop(option: str) -> bool:
    """Whether ``option = ""`` is allowed (a column left out)."""
    return option.startswith(("fields.", "product_fields.")) or option in (
        "asset_arr_field",
        "asset_price_field",
    )


def _select(fields: list[str], obj: str, conditions: list[str]) -> str:
    soql = f"SELECT {', '.join(fields)} FROM {obj}"
    return soql + (f" WHERE {' AND '.join(conditions)}" if conditions else "")


def _with_ids(conditions: list[str], path: str, ids: list[str] | None) -> Iterator[list[str]]:
    if ids is None:
        yield conditions
        return
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ", ".join(_soql_string(i) for i in ids[start : start + _ID_CHUNK])
        yield [*conditions, f"{path} IN ({chunk})"]


def _soql_string(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _soql_datetime(moment: datetime) -> str:
    """A SOQL datetime literal (no quotes), UTC: the moment's whole second, rounded down
    (SOQL datetimes have no fractions), so ``>=`` it keeps everything at or after the moment:
    2024-05-01T12:00:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> datetime:
    """This machine's clock (a function, so tests can move it)."""
    return datetime.now(UTC)


def _unique(fields: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for name in fields:
        if name and name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return out


def _value(record: Any, path: str) -> Any:
    """A (relationship) field of a record; Salesforce answers with its own spelling of names."""
    value = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        if part in value:
            value = value[part]
            continue
        lowered = part.lower()
        value = next((v for k, v in value.items() if k.lower() == lowered), None)
    return None if isinstance(value, dict) else value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).replace(",", ""))
    except ValueError:
        return None


def _add(total: float | None, value: float | None) -> float | None:
    if value is None:
        return total
    return value if total is None else total + value


def _tidy(value: Any) -> Any:
    """Whole floats as ints (Salesforce sends number fields as 1200.0)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _tidy_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _tidy(v) for k, v in row.items()}


def _table(rows: list[dict], columns: tuple[str, ...], origin: str):
    import pandas as pd

    frame = pd.DataFrame(
        [_tidy_row(r) for r in rows], columns=list(dict.fromkeys(columns)), dtype=object
    )
    return raw_table(frame, origin=origin)


def _times(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _squash(text: Any, limit: int = 300) -> str:
    text = re.sub(r"<[^>]+>", " ", str(text))
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error_details(content: Any) -> tuple[str, str]:
    """(errorCode, message) of a Salesforce error body: [{"errorCode", "message"}] or text.

    A query error repeats the query and points at the column ("SELECT ...^ ERROR at Row:1:
    Column:8 No such column ..."): only the explanation is kept. No trailing period.
    """
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        message = re.split(r"ERROR at Row:\d+:Column:\d+", str(first.get("message", "")))[-1]
        return str(first.get("errorCode", "")), _squash(message).rstrip(".")
    if isinstance(content, dict):
        code = content.get("errorCode", content.get("error", ""))
        message = content.get("message", content.get("error_description", ""))
        return str(code), _squash(message).rstrip(".")
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return "", _squash(content).rstrip(".") or "no details"
