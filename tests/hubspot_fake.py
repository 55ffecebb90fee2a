"""A local HubSpot CRM API for tests.

`HubSpotFake` runs a small threaded HTTP server on ``127.0.0.1`` (ephemeral port) answering the
CRM endpoints the HubSpot connector calls, with HubSpot's documented JSON shapes, closely enough
for the official client (``hubspot.Client.create(access_token=..., host=fake.url)``):

- ``GET  /crm/v3/objects/{type}``              list: ``results[]``, ``paging.next.after``
- ``POST /crm/v3/objects/{type}/search``       ``filterGroups`` (OR of ANDed filters), ``sorts``,
  ``properties``, ``limit``, ``after`` (an offset); ``total``; at most ``search_limit`` results
  per query (HubSpot: 10,000), a 400 past it
- ``POST /crm/v3/objects/{type}/batch/read``   ``inputs[].id``; 207 with ``errors`` for missing ids
- ``POST /crm/v4/associations/{from}/{to}/batch/read``  ``inputs[].id`` / ``.after``; ``to[]``
  paged per record; 207 with ``errors`` for records without associations
- ``GET  /crm/v3/owners/``                     owners with ``email``; ``archived`` filter

Records look like HubSpot's: ``{"id": "101", "properties": {...strings...}, "createdAt",
"updatedAt", "archived"}``; requested properties without a value come back as ``null``. Pages
hold ``page_size`` records (default 2) whatever the client asks for, so paging is exercised.

Every request needs ``Authorization: Bearer <token>`` (else 401 with HubSpot's
``INVALID_AUTHENTICATION`` body) and the read scope of what it reads (``scopes``; else 403
``MISSING_SCOPES`` naming the scope). Failures can be planned per path prefix:
``fail_next`` (429 with ``Retry-After``, 5xx...), ``truncate_next`` (a JSON body cut in half)
and ``delay_next`` (a slow answer). Every request is recorded in ``requests``.

``seed_from_portfolio(folder)`` loads a portfolio folder (the bundled sample by default) as
companies, owners, closed-won deals with line items, and products, so that a HubSpot pull with
``connector_options()`` gives back the folder's accounts, subscriptions and catalog. Only the
standard library (and the project's reader, for seeding) is used.

Time: a write (``add``, ``touch``...) is stamped with ``clock()`` (the real time by default;
a test may replace it), to the millisecond and always after the previous write. Seeded records
are dated ``SEED_AGE`` (a day) before the seeding, a minute apart, so an incremental pull
whose cursor lags a few minutes behind "now" does not read them again. ``search_lag`` makes
searches leave out records modified less than that long ago, like HubSpot's search index,
which trails edits (batch reads and lists are always current).
"""

from __future__ import annotations

import functools
import json
import math
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local_server import LocalServer, RoutingHandler

import expansion
from expansion.connectors.hubspot import DEFAULT_PRODUCT_PROPERTIES, DEFAULT_PROPERTIES
from expansion.contract import ACCOUNTS

__all__ = [
    "ACCOUNT_ID_PROPERTY",
    "OBJECT_TYPES",
    "PORTFOLIO_PROPERTIES",
    "SAMPLE_PORTFOLIO",
    "SCOPES",
    "SEED_AGE",
    "HubSpotFake",
    "Request",
]

#: The bundled sample portfolio (what seed_from_portfolio loads by default).
SAMPLE_PORTFOLIO = Path(expansion.__file__).parent / "sample" / "portfolio"
OBJECT_TYPES = ("companies", "deals", "line_items", "products")
#: The read scope of each object type (owners included).
SCOPES = {
    "companies": "crm.objects.companies.read",
    "deals": "crm.objects.deals.read",
    "line_items": "crm.objects.line_items.read",
    "products": "crm.objects.products.read",
    "owners": "crm.objects.owners.read",
}
#: Write scopes (deals and the deal property schema), granted by default like the read scopes.
WRITE_SCOPES = {"deals": "crm.objects.deals.write", "schemas": "crm.schemas.deals.write"}
#: The default deal pipeline of a new HubSpot account.
DEFAULT_PIPELINE = {
    "id": "default",
    "label": "Sales Pipeline",
    "displayOrder": 0,
    "archived": False,
    "stages": [
        {
            "id": stage,
            "label": label,
            "displayOrder": n,
            "archived": False,
            "metadata": {"isClosed": str(stage.startswith("closed")).lower(), "probability": p},
        }
        for n, (stage, label, p) in enumerate(
            [
                ("appointmentscheduled", "Appointment Scheduled", "0.2"),
                ("qualifiedtobuy", "Qualified To Buy", "0.4"),
                ("presentationscheduled", "Presentation Scheduled", "0.6"),
                ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"),
                ("contractsent", "Contract Sent", "0.9"),
                ("closedwon", "Closed Won", "1.0"),
                ("closedlost", "Closed Lost", "0.0"),
            ]
        )
    ],
}
#: Deal properties every HubSpot account has (a create or update naming another one that was
#: not created through the properties API is refused with HubSpot's 400).
STANDARD_DEAL_PROPERTIES = (
    "amount",
    "closedate",
    "createdate",
    "dealname",
    "dealstage",
    "pipeline",
    "hubspot_owner_id",
    "hs_lastmodifieddate",
    "hs_object_id",
    "hs_updated_by_user_id",
    "closed_lost_reason",
    "dealtype",
    "description",
)
#: Company property holding the portfolio's account id when seeded.
ACCOUNT_ID_PROPERTY = "account_id"
#: accounts column -> company property the seed writes it to: the connector's default property
#: where it has one, the column's own name otherwise (``owner`` goes to hubspot_owner_id).
PORTFOLIO_PROPERTIES: dict[str, str] = {
    column: DEFAULT_PROPERTIES.get(column, column)
    for column in ACCOUNTS.column_names
    if column not in ("account_id", "owner")
}
#: Properties a record returns when none were asked for / besides the ones asked for.
DEFAULT_RETURNED = {
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    "line_items": (
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_product_id",
        "name",
        "price",
        "quantity",
    ),
    "products": (
        "createdate",
        "description",
        "hs_lastmodifieddate",
        "hs_object_id",
        "name",
        "price",
    ),
}
ALWAYS_RETURNED = ("createdate", "hs_lastmodifieddate", "hs_object_id")
#: HUBSPOT_DEFINED association type ids (v4), by (from, to).
ASSOCIATION_TYPES = {
    ("companies", "deals"): 342,
    ("deals", "companies"): 341,
    ("deals", "line_items"): 19,
    ("line_items", "deals"): 20,
}
FIRST_IDS = {"companies": 101, "deals": 5001, "line_items": 70001, "products": 9001}
#: How long before the seeding seed_from_portfolio dates its records.
SEED_AGE = timedelta(days=1)


@dataclass
class Request:
    """One request as the fake saw and answered it."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int = 0


@dataclass
class _Plan:
    """A planned misbehaviour for one request."""

    kind: str  # "fail", "truncate" or "delay"
    status: int = 0
    retry_after: int | None = None
    seconds: float = 0.0
    skip: int = 0


@dataclass
class _Reply:
    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: HubSpotFake) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timed out) before the answer was written is not an error."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class _Handler(RoutingHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    server_version = "HubSpotFake/1.0"

    def _route(self, verb: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        request = Request(
            method=verb,
            path=unquote(split.path),
            query=parse_qs(split.query, keep_blank_values=True),
            body=None,
            headers={k.title(): v for k, v in self.headers.items()},
        )
        try:
            if raw:
                try:
                    request.body = json.loads(raw)
                except ValueError:
                    request.body = raw.decode("utf-8", "replace")
            reply, truncate = fake._answer(request)
        except Exception:
            trace = traceback.format_exc()
            with fake._lock:
                fake.errors.append(trace)
            reply, truncate = _Reply(500, text=f"fake error:\n{trace}"), False
        request.status = reply.status
        with fake._lock:
            fake.requests.append(request)
        if reply.text is not None:
            body, content_type = reply.text.encode(), "text/html; charset=utf-8"
        else:
            body, content_type = (
                json.dumps(reply.payload).encode(),
                "application/json;charset=utf-8",
            )
        if truncate:
            body = body[: max(1, len(body) // 2)]
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _Refusal(Exception):
    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


class HubSpotFake(LocalServer):
    """A local HubSpot CRM API (see the module docstring). Use as a context manager."""

    def __init__(
        self,
        *,
        token: str = "pat-na1-test-token",
        page_size: int = 2,
        search_limit: int = 10_000,
        scopes: Iterable[str] | None = None,
    ) -> None:
        self.token = token
        self.page_size = page_size
        self.search_limit = search_limit
        self.scopes: set[str] = set(
            [*SCOPES.values(), *WRITE_SCOPES.values()] if scopes is None else scopes
        )
        #: Deal pipelines (GET /crm/v3/pipelines/deals) and custom deal properties by name.
        self.pipelines: list[dict[str, Any]] = [json.loads(json.dumps(DEFAULT_PIPELINE))]
        self.deal_properties: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in OBJECT_TYPES}
        self.links: dict[tuple[str, str], dict[str, list[str]]] = {}
        self.owners: dict[str, dict[str, Any]] = {}
        self.requests: list[Request] = []
        self.errors: list[str] = []
        self._plans: list[tuple[str, deque[_Plan]]] = []
        self._lock = threading.RLock()
        #: "Now", for stamping writes: the real time unless a test replaces it.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        #: Searches leave out records modified less than this long ago (HubSpot's index lag).
        self.search_lag = timedelta(0)
        self._last_write: datetime | None = None
        self._seed_clock: datetime | None = None
        self._ids = dict(FIRST_IDS)
        self._owner_id = 70_000_001
        #: account_id -> company id, filled by seed_from_portfolio.
        self.seeded_companies: dict[str, str] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    server_name = "hubspot-fake"

    def _make_server(self) -> _Server:
        return _Server(self)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the connector's ``host`` option."""
        return f"http://127.0.0.1:{self.port}"

    # -- data --------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The fake's "now" (``clock()``), to the millisecond like HubSpot's timestamps."""
        moment = self.clock().astimezone(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def tick(self) -> datetime:
        """The time of the next write: now, but always after the previous write (every write
        happens at its own time); while seeding, a minute after the previous seeded record."""
        with self._lock:
            if self._seed_clock is not None:
                self._seed_clock += timedelta(minutes=1)
                return self._seed_clock
            moment = self.now()
            if self._last_write is not None and moment <= self._last_write:
                moment = self._last_write + timedelta(milliseconds=1)
            self._last_write = moment
            return moment

    def add(self, object_type: str, properties: dict[str, Any] | None = None) -> str:
        """Create a record; returns its id. Values are stored as HubSpot's strings."""
        with self._lock:
            record_id = str(self._ids[object_type])
            self._ids[object_type] += 1
            moment = _iso(self.tick())
            props = {k: _text(v) for k, v in (properties or {}).items()}
            props = {k: v for k, v in props.items() if v is not None}
            props.update(createdate=moment, hs_lastmodifieddate=moment, hs_object_id=record_id)
            self.objects[object_type][record_id] = {
                "id": record_id,
                "properties": props,
                "createdAt": moment,
                "updatedAt": moment,
                "archived": False,
            }
            return record_id

    def touch(self, object_type: str, record_id: str, **properties: Any) -> str:
        """Change a record's properties (None clears one) and bump its hs_lastmodifieddate;
        returns the new timestamp."""
        with self._lock:
            record = self.objects[object_type][str(record_id)]
            for key, value in properties.items():
                text = _text(value)
                if text is None:
                    record["properties"].pop(key, None)
                else:
                    record["properties"][key] = text
            moment = _iso(self.tick())
            record["properties"]["hs_lastmodifieddate"] = moment
            record["updatedAt"] = moment
            return moment

    def touch_company(self, company_id: str, **properties: Any) -> str:
        return self.touch("companies", company_id, **properties)

    def delete(self, object_type: str, record_id: str) -> None:
        """Archive a record (it disappears from lists, searches and batch reads)."""
        with self._lock:
            self.objects[object_type].pop(str(record_id))

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        """Associate two records (both directions, like HubSpot)."""
        with self._lock:
            for a, a_id, b, b_id in (
                (from_type, from_id, to_type, to_id),
                (to_type, to_id, from_type, from_id),
            ):
                targets = self.links.setdefault((a, b), {}).setdefault(str(a_id), [])
                if str(b_id) not in targets:
                    targets.append(str(b_id))

    def add_owner(
        self, email: str, *, first_name: str = "", last_name: str = "", archived: bool = False
    ) -> str:
        with self._lock:
            owner_id = str(self._owner_id)
            self._owner_id += 1
            moment = _iso(self.tick())
            local = email.split("@")[0].split(".")
            self.owners[owner_id] = {
                "id": owner_id,
                "email": email,
                "type": "PERSON",
                "firstName": first_name or local[0].title(),
                "lastName": last_name or (local[-1].title() if len(local) > 1 else ""),
                "userId": int(owner_id) - 60_000_000,
                "userIdIncludingInactive": int(owner_id) - 60_000_000,
                "createdAt": moment,
                "updatedAt": moment,
                "archived": archived,
                "teams": [],
            }
            return owner_id

    def add_company(self, **properties: Any) -> str:
        return self.add("companies", properties)

    def add_product(self, **properties: Any) -> str:
        return self.add("products", properties)

    def add_deal(
        self,
        company_id: str | None,
        *,
        stage: str = "closedwon",
        line_items: Iterable[dict[str, Any]] = (),
        **properties: Any,
    ) -> str:
        """A deal in ``stage`` associated with the company, with its line items."""
        properties.setdefault("pipeline", "default")
        deal_id = self.add("deals", {"dealstage": stage, **properties})
        if company_id is not None:
            self.associate("companies", company_id, "deals", deal_id)
        for item in line_items:
            self.add_line_item(deal_id, **item)
        return deal_id

    def add_line_item(self, deal_id: str, **properties: Any) -> str:
        item_id = self.add("line_items", properties)
        self.associate("deals", deal_id, "line_items", item_id)
        return item_id

    # -- seeding -----------------------------------------------------------------------------

    def seed_from_portfolio(self, folder: str | Path | None = None) -> dict[str, str]:
        """Load a portfolio folder (default: the bundled sample) as HubSpot records.

        - every owner email -> an owner;
        - every catalog row -> a product: ``hs_sku`` = product_id, ``price`` (seat, annual or
          unit price), ``recurringbillingfrequency`` = annually (not for usage products), and
          the other columns in the connector's default product properties;
        - every account -> a company (lifecyclestage customer): ``account_id`` in the
          ``account_id`` property, owner as ``hubspot_owner_id``, every other column in
          ``PORTFOLIO_PROPERTIES[column]``;
        - an account's subscriptions -> one closed-won deal with one annual line item per row
          (``hs_sku``, ``hs_product_id``, ``quantity``, ``amount`` = ARR, ``price``).

        Every record is dated from ``SEED_AGE`` before now on, a minute apart.

        Returns account_id -> company id.
        """
        with self._lock:
            self._seed_clock = self.now() - SEED_AGE
            try:
                return self._seed(_portfolio_tables(folder))
            finally:
                self._seed_clock = None

    def _seed(self, tables: dict[str, Any]) -> dict[str, str]:
        owners = {
            email: self.add_owner(email)
            for email in sorted({o for o in tables["accounts"]["owner"] if _text(o)})
        }
        products: dict[str, str] = {}
        names: dict[str, str] = {}
        if "catalog" in tables:
            for row in tables["catalog"].to_dict("records"):
                price = next(
                    (
                        row[c]
                        for c in ("price_per_seat", "annual_price", "unit_price")
                        if _text(row.get(c)) is not None
                    ),
                    None,
                )
                props = {
                    "hs_sku": row["product_id"],
                    "price": price,
                    "recurringbillingfrequency": None if row.get("kind") == "usage" else "annually",
                }
                for column, prop in DEFAULT_PRODUCT_PROPERTIES.items():
                    props[prop] = row.get(column)
                products[row["product_id"]] = self.add_product(**props)
                names[row["product_id"]] = row["name"]
        companies: dict[str, str] = {}
        for row in tables["accounts"].to_dict("records"):
            props = {
                ACCOUNT_ID_PROPERTY: row["account_id"],
                "lifecyclestage": "customer",
                "hubspot_owner_id": owners.get(row["owner"]) if _text(row["owner"]) else None,
            }
            for column, prop in PORTFOLIO_PROPERTIES.items():
                props[prop] = row[column]
            companies[row["account_id"]] = self.add_company(**props)
        self.seeded_companies.update(companies)
        subscriptions = tables.get("subscriptions")
        if subscriptions is not None:
            accounts = tables["accounts"].set_index("account_id")
            for account_id, rows in subscriptions.groupby("account_id", sort=False):
                items = []
                for row in rows.to_dict("records"):
                    quantity = row["quantity"] if _text(row["quantity"]) is not None else 1
                    arr = row["arr"]
                    items.append(
                        {
                            "name": names.get(row["product_id"], row["product_id"]),
                            "hs_sku": row["product_id"],
                            "hs_product_id": products.get(row["product_id"]),
                            "quantity": quantity,
                            "amount": arr,
                            "price": None
                            if _text(arr) is None
                            else float(arr) / float(quantity or 1),
                            "recurringbillingfrequency": "annually",
                        }
                    )
                start = accounts.loc[account_id, "contract_start"]
                self.add_deal(
                    companies[account_id],
                    dealname=f"{accounts.loc[account_id, 'name']} subscription",
                    amount=sum(float(i["amount"]) for i in items if _text(i["amount"])),
                    closedate=None if _text(start) is None else f"{_text(start)}T00:00:00.000Z",
                    line_items=items,
                )
        return companies

    def connector_options(self, **overrides: Any) -> dict[str, Any]:
        """Options of a ``hubspot`` source reading everything ``seed_from_portfolio`` wrote:
        host, the account id property and every accounts column's property."""
        return {
            "host": self.url,
            "account_id_property": ACCOUNT_ID_PROPERTY,
            "properties": dict(PORTFOLIO_PROPERTIES),
            **overrides,
        }

    # -- failures ----------------------------------------------------------------------------

    def _plan(self, path_prefix: str, plan: _Plan, count: int) -> None:
        if count < 1 or plan.skip < 0:
            raise ValueError("count must be >= 1 and skip >= 0")
        plans = [plan] + [replace(plan, skip=0) for _ in range(count - 1)]
        with self._lock:
            for prefix, queue in self._plans:
                if prefix == path_prefix:
                    queue.extend(plans)
                    return
            self._plans.append((path_prefix, deque(plans)))

    def fail_next(
        self,
        path_prefix: str,
        status: int,
        retry_after: int | None = None,
        count: int = 1,
        *,
        skip: int = 0,
    ) -> None:
        """Answer the next ``count`` requests whose path starts with ``path_prefix`` with
        ``status`` (429: HubSpot's rate-limit body, with ``Retry-After`` when given; 500: a JSON
        error; other 5xx: an HTML page, like a load balancer; 401/403: HubSpot's bodies).
        ``skip`` lets that many matching requests through first (e.g. to fail page 2)."""
        if not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx")
        plan = _Plan("fail", status=status, retry_after=retry_after, skip=skip)
        self._plan(path_prefix, plan, count)

    def truncate_next(self, path_prefix: str, count: int = 1, *, skip: int = 0) -> None:
        """Cut the next answers' JSON bodies in half (a correct Content-Length, broken JSON)."""
        self._plan(path_prefix, _Plan("truncate", skip=skip), count)

    def delay_next(
        self, path_prefix: str, seconds: float, count: int = 1, *, skip: int = 0
    ) -> None:
        """Answer the next requests only after ``seconds`` (to provoke client timeouts)."""
        self._plan(path_prefix, _Plan("delay", seconds=seconds, skip=skip), count)

    def reset(self) -> None:
        """Forget recorded requests, errors and planned failures (data is kept)."""
        with self._lock:
            self.requests.clear()
            self.errors.clear()
            self._plans.clear()

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[Request]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path.startswith(path_prefix) and (method is None or r.method == method)
            ]

    def _take_plan(self, path: str) -> _Plan | None:
        with self._lock:
            for prefix, queue in self._plans:
                if path.startswith(prefix) and queue:
                    if queue[0].skip > 0:
                        queue[0].skip -= 1
                        return None
                    return queue.popleft()
        return None

    # -- answering ---------------------------------------------------------------------------

    def _answer(self, request: Request) -> tuple[_Reply, bool]:
        plan = self._take_plan(request.path)
        if plan is not None and plan.kind == "delay":
            time.sleep(plan.seconds)
        try:
            self._authenticate(request)
            if plan is not None and plan.kind == "fail":
                return self._failure(plan, request), False
            with self._lock:
                reply = self._dispatch(request)
        except _Refusal as refusal:
            return refusal.reply, False
        return reply, plan is not None and plan.kind == "truncate"

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        if header != f"Bearer {self.token}":
            message = (
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview"
                if not header
                else "The OAuth token used to make this call expired 0 second(s) ago."
                if header.startswith("Bearer expired")
                else "Authentication credentials not found."
            )
            raise _Refusal(
                _Reply(
                    401,
                    _error(message, "INVALID_AUTHENTICATION"),
                )
            )

    def _require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise _Refusal(_missing_scopes([scope]))

    def _require(self, *object_types: str) -> None:
        missing = [SCOPES[t] for t in object_types if SCOPES[t] not in self.scopes]
        if missing:
            raise _Refusal(_missing_scopes(missing))

    def _failure(self, plan: _Plan, request: Request) -> _Reply:
        status = plan.status
        headers = {"Retry-After": str(plan.retry_after)} if plan.retry_after is not None else {}
        if status == 429:
            payload = {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "TEN_SECONDLY_ROLLING",
            }
            return _Reply(429, payload, headers)
        if status == 401:
            return _Reply(
                401, _error("Authentication credentials not found.", "INVALID_AUTHENTICATION")
            )
        if status == 403:
            return _missing_scopes([_scope_of(request.path)])
        if status == 500:
            return _Reply(500, _error("internal error", "INTERNAL_ERROR"), headers)
        if status >= 500:
            page = f"<html><body><h1>{status}</h1>The server is unavailable.</body></html>"
            return _Reply(status, headers=headers, text=page)
        return _Reply(status, _error(f"planned failure {status}", "VALIDATION_ERROR"), headers)

    def _dispatch(self, request: Request) -> _Reply:
        parts = [p for p in request.path.split("/") if p]
        verb = request.method
        if parts[:3] == ["crm", "v3", "owners"] and verb == "GET" and len(parts) == 3:
            self._require("owners")
            return self._list_owners(request)
        if parts[:3] == ["crm", "v3", "pipelines"] and len(parts) == 4 and verb == "GET":
            self._require("deals")
            results = self.pipelines if parts[3] == "deals" else []
            return _Reply(200, {"results": json.loads(json.dumps(results))})
        if parts[:4] == ["crm", "v3", "properties", "deals"]:
            return self._deal_property(request, parts[4:])
        if parts[:4] == ["crm", "v3", "objects", "deals"] and (
            (len(parts) == 4 and verb == "POST") or (len(parts) == 5 and verb in ("PATCH", "GET"))
        ):
            if verb == "GET":
                self._require("deals")
                record = self.objects["deals"].get(parts[4])
                if record is None:
                    return _Reply(404, _error("Object not found", "OBJECT_NOT_FOUND"))
                return _Reply(
                    200, self._record("deals", record, _multi(request.query.get("properties")))
                )
            self._require_scope(WRITE_SCOPES["deals"])
            return self._write_deal(request, parts[4] if len(parts) == 5 else None)
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) >= 4:
            object_type = parts[3]
            if object_type not in self.objects:
                return _Reply(
                    404,
                    _error(f"Unable to infer object type from: {object_type}", "OBJECT_NOT_FOUND"),
                )
            self._require(object_type)
            if len(parts) == 4 and verb == "GET":
                return self._list(object_type, request)
            if parts[4:] == ["search"] and verb == "POST":
                return self._search(object_type, request)
            if parts[4:] == ["batch", "read"] and verb == "POST":
                return self._batch_read(object_type, request)
        if (
            parts[:3] == ["crm", "v4", "associations"]
            and parts[5:] == ["batch", "read"]
            and verb == "POST"
        ):
            from_type, to_type = parts[3], parts[4]
            if from_type not in self.objects or to_type not in self.objects:
                return _Reply(404, _error("Unknown object type", "OBJECT_NOT_FOUND"))
            self._require(from_type, to_type)
            return self._associations(from_type, to_type, request)
        return _Reply(404, _error(f"Not found: {verb} {request.path}", "OBJECT_NOT_FOUND"))

    def _unknown_properties(self, names: Iterable[str]) -> list[str]:
        return [
            n for n in names if n not in STANDARD_DEAL_PROPERTIES and n not in self.deal_properties
        ]

    def _write_deal(self, request: Request, deal_id: str | None) -> _Reply:
        """POST /crm/v3/objects/deals (with ``associations``) or PATCH .../deals/{id}. Writes
        through the API clear ``hs_updated_by_user_id`` (an app, not a person, edited it)."""
        body = request.body if isinstance(request.body, dict) else {}
        props = body.get("properties") or {}
        unknown = self._unknown_properties(props)
        if unknown:
            return _Reply(
                400,
                _error(
                    f'Property values were not valid: [{{"isValid":false,"message":"Property '
                    f'\\"{unknown[0]}\\" does not exist","error":"PROPERTY_DOESNT_EXIST",'
                    f'"name":"{unknown[0]}"}}]',
                    "VALIDATION_ERROR",
                ),
            )
        for name, spec in self.deal_properties.items():
            value = props.get(name)
            if spec.get("hasUniqueValue") and value:
                clash = [
                    r
                    for r in self.objects["deals"].values()
                    if r["properties"].get(name) == str(value) and r["id"] != deal_id
                ]
                if clash:
                    return _Reply(
                        409,
                        _error(
                            f"A deal with {name}={value} already exists. Existing ID: "
                            f"{clash[0]['id']}",
                            "CONFLICT",
                        ),
                    )
        if deal_id is None:
            pipeline = props.get("pipeline") or "default"
            stages = [s["id"] for p in self.pipelines if p["id"] == pipeline for s in p["stages"]]
            if not stages or props.get("dealstage") not in stages:
                return _Reply(
                    400,
                    _error(
                        f"{props.get('dealstage')} is not a valid deal stage of pipeline "
                        f"{pipeline}",
                        "VALIDATION_ERROR",
                    ),
                )
            new_id = self.add("deals", props)
            for association in body.get("associations") or []:
                to = str((association.get("to") or {}).get("id"))
                if to in self.objects["companies"]:
                    self.associate("deals", new_id, "companies", to)
            return _Reply(201, self._record("deals", self.objects["deals"][new_id], list(props)))
        if deal_id not in self.objects["deals"]:
            return _Reply(404, _error("Object not found", "OBJECT_NOT_FOUND"))
        self.touch("deals", deal_id, hs_updated_by_user_id=None, **props)
        return _Reply(200, self._record("deals", self.objects["deals"][deal_id], list(props)))

    def _deal_property(self, request: Request, rest: list[str]) -> _Reply:
        """GET /crm/v3/properties/deals/{name}; POST /crm/v3/properties/deals."""
        if request.method == "GET" and len(rest) == 1:
            self._require("deals")
            spec = self.deal_properties.get(rest[0])
            if spec is None and rest[0] not in STANDARD_DEAL_PROPERTIES:
                return _Reply(
                    404,
                    _error(f"Unable to find property {rest[0]} on deals", "OBJECT_NOT_FOUND"),
                )
            return _Reply(200, spec or {"name": rest[0], "type": "string"})
        if request.method == "POST" and not rest:
            self._require_scope(WRITE_SCOPES["schemas"])
            body = request.body if isinstance(request.body, dict) else {}
            name = str(body.get("name") or "")
            if name in self.deal_properties or name in STANDARD_DEAL_PROPERTIES:
                return _Reply(409, _error(f"Property {name} already exists", "CONFLICT"))
            self.deal_properties[name] = dict(body)
            return _Reply(201, dict(body))
        return _Reply(
            404, _error(f"Not found: {request.method} {request.path}", "OBJECT_NOT_FOUND")
        )

    def add_deal_property(self, name: str, *, unique: bool = True) -> None:
        """A custom deal property (as ``expansion crm setup`` would create it)."""
        with self._lock:
            self.deal_properties[name] = {"name": name, "type": "string", "hasUniqueValue": unique}

    def _limit(self, value: Any, maximum: int) -> int:
        try:
            limit = int(value)
        except (TypeError, ValueError):
            limit = 10
        return max(1, min(limit, maximum, self.page_size))

    def _record(self, object_type: str, record: dict, properties: list[str] | None) -> dict:
        names = list(properties) if properties else list(DEFAULT_RETURNED[object_type])
        names += [n for n in ALWAYS_RETURNED if n not in names]
        props = record["properties"]
        return {
            "id": record["id"],
            "properties": {name: props.get(name) for name in names},
            "createdAt": record["createdAt"],
            "updatedAt": record["updatedAt"],
            "archived": record["archived"],
        }

    def _list(self, object_type: str, request: Request) -> _Reply:
        query = request.query
        limit = self._limit(query.get("limit", ["10"])[0], 100)
        properties = _multi(query.get("properties"))
        if query.get("archived", ["false"])[0].lower() == "true":
            records: list[dict] = []
        else:
            records = sorted(self.objects[object_type].values(), key=lambda r: int(r["id"]))
        after = query.get("after", [None])[0]
        if after:
            if not after.isdigit():
                return _Reply(400, _error(f"Invalid paging cursor: {after}", "VALIDATION_ERROR"))
            records = [r for r in records if int(r["id"]) >= int(after)]
        page, rest = records[:limit], records[limit:]
        payload: dict[str, Any] = {
            "results": [self._record(object_type, r, properties) for r in page]
        }
        if rest:
            nxt = rest[0]["id"]
            payload["paging"] = {
                "next": {"after": nxt, "link": f"{self.url}{request.path}?after={nxt}"}
            }
        return _Reply(200, payload)

    def _search(self, object_type: str, request: Request) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        limit = self._limit(body.get("limit", 10), 200)
        requested = body.get("limit", 10)
        try:
            offset = int(body.get("after") or 0)
        except (TypeError, ValueError):
            return _Reply(400, _error("after must be an integer offset", "VALIDATION_ERROR"))
        if offset + int(requested or 10) > self.search_limit:
            return _Reply(
                400,
                _error(
                    f"There was a problem with the request. The maximum number of results "
                    f"a search can page through is {self.search_limit}.",
                    "VALIDATION_ERROR",
                ),
            )
        groups = body.get("filterGroups") or []
        indexed = _iso(self.now() - self.search_lag)
        records = [
            r
            for r in sorted(self.objects[object_type].values(), key=lambda r: int(r["id"]))
            if (not self.search_lag or r["properties"]["hs_lastmodifieddate"] <= indexed)
            and (not groups or any(_matches(r, g.get("filters") or []) for g in groups))
        ]
        for sort in reversed(body.get("sorts") or []):
            name = sort["propertyName"] if isinstance(sort, dict) else str(sort).lstrip("-")
            descending = (
                sort.get("direction") == "DESCENDING"
                if isinstance(sort, dict)
                else str(sort).startswith("-")
            )
            records.sort(
                key=lambda r, n=name: _sort_key(r["properties"].get(n)), reverse=descending
            )
        total = len(records)
        page = records[offset : offset + limit]
        payload: dict[str, Any] = {
            "total": total,
            "results": [self._record(object_type, r, body.get("properties")) for r in page],
        }
        if offset + limit < total:
            payload["paging"] = {"next": {"after": str(offset + limit)}}
        return _Reply(200, payload)

    def _batch_read(self, object_type: str, request: Request) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        inputs = body.get("inputs") or []
        if len(inputs) > 100:
            return _Reply(400, _error("Batch input limit is 100.", "VALIDATION_ERROR"))
        started = _iso(datetime.now(UTC))
        results, missing = [], []
        for item in inputs:
            record = self.objects[object_type].get(str(item.get("id")))
            if record is None:
                missing.append(str(item.get("id")))
            else:
                results.append(self._record(object_type, record, body.get("properties")))
        payload: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": _iso(datetime.now(UTC)),
        }
        if missing:
            payload["numErrors"] = 1
            payload["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {object_type} objects, they may be deleted or not exist. Check that ids are valid.",
                    "context": {"ids": missing},
                }
            ]
        return _Reply(207 if missing else 200, payload)

    def _associations(self, from_type: str, to_type: str, request: Request) -> _Reply:
        body = request.body if isinstance(request.body, dict) else {}
        inputs = body.get("inputs") or []
        if len(inputs) > 1000:
            return _Reply(400, _error("Batch input limit is 1000.", "VALIDATION_ERROR"))
        links = self.links.get((from_type, to_type), {})
        type_id = ASSOCIATION_TYPES.get((from_type, to_type), 1)
        started = _iso(datetime.now(UTC))
        results, errors = [], []
        for item in inputs:
            source = str(item.get("id"))
            targets = [t for t in links.get(source, []) if t in self.objects[to_type]]
            if not targets:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "message": f"No {to_type} is associated with {from_type} {source}.",
                        "context": {"fromObjectId": [source]},
                    }
                )
                continue
            offset = int(item.get("after") or 0)
            page = targets[offset : offset + self.page_size]
            result: dict[str, Any] = {
                "from": {"id": source},
                "to": [
                    {
                        "toObjectId": int(t),
                        "associationTypes": [
                            {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}
                        ],
                    }
                    for t in page
                ],
            }
            if offset + self.page_size < len(targets):
                result["paging"] = {"next": {"after": str(offset + self.page_size), "link": None}}
            results.append(result)
        payload: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": _iso(datetime.now(UTC)),
        }
        if errors:
            payload["numErrors"] = len(errors)
            payload["errors"] = errors
        return _Reply(207 if errors else 200, payload)

    def _list_owners(self, request: Request) -> _Reply:
        query = request.query
        limit = self._limit(query.get("limit", ["100"])[0], 500)
        archived = query.get("archived", ["false"])[0].lower() == "true"
        email = query.get("email", [None])[0]
        owners = [
            o
            for o in sorted(self.owners.values(), key=lambda o: int(o["id"]))
            if o["archived"] == archived and (email is None or o["email"] == email)
        ]
        offset = int(query.get("after", ["0"])[0] or 0)
        page = owners[offset : offset + limit]
        payload: dict[str, Any] = {"results": [dict(o) for o in page]}
        if offset + limit < len(owners):
            payload["paging"] = {"next": {"after": str(offset + limit)}}
        return _Reply(200, payload)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _portfolio_tables(folder: str | Path | None) -> dict[str, Any]:
    """The validated tables of a portfolio folder (read once per folder state)."""
    path = Path(SAMPLE_PORTFOLIO if folder is None else folder).resolve()
    state = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in path.iterdir() if p.is_file()))
    return _read_portfolio(str(path), state)


@functools.lru_cache(maxsize=8)
def _read_portfolio(path: str, state: tuple) -> dict[str, Any]:
    from expansion.ingest import read_portfolio

    return read_portfolio(path).tables


def _error(message: str, category: str) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }


def _missing_scopes(scopes: list[str]) -> _Reply:
    return _Reply(
        403,
        {
            "status": "error",
            "message": "This app hasn't been granted all required scopes to make this call. "
            "Read more about required scopes here: https://developers.hubspot.com/scopes.",
            "correlationId": str(uuid.uuid4()),
            "errors": [
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": scopes},
                }
            ],
            "links": {"scopes": "https://developers.hubspot.com/scopes"},
            "category": "MISSING_SCOPES",
        },
    )


def _scope_of(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if parts[:3] == ["crm", "v3", "owners"]:
        return SCOPES["owners"]
    for part in parts[3:5]:
        if part in SCOPES:
            return SCOPES[part]
    return SCOPES["companies"]


def _multi(values: list[str] | None) -> list[str] | None:
    """``properties=a&properties=b`` or ``properties=a,b``."""
    if not values:
        return None
    return [p for v in values for p in v.split(",") if p]


def _text(value: Any) -> str | None:
    """A value as HubSpot stores it: a string (numbers without a needless ``.0``; dates ISO)."""
    if value is None:
        return None
    try:
        if value != value:  # NaN, NaT, pd.NA
            return None
    except (TypeError, ValueError):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return _text(value.to_pydatetime())
    if isinstance(value, float) or type(value).__name__.startswith(("float", "int")):
        number = float(value)
        if not math.isfinite(number):
            return None
        number = round(number, 6)
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value)
    return text if text != "" else None


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _comparable(value: Any) -> float | str | None:
    """Numbers and timestamps (ISO or epoch milliseconds) as numbers; text lowercased."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text.lower()
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp() * 1000


def _sort_key(value: Any) -> tuple[int, float | str]:
    key = _comparable(value)
    if key is None:
        return (2, "")
    return (0, key) if isinstance(key, float) else (1, key)


def _matches(record: dict, filters: list[dict]) -> bool:
    props = record["properties"]
    for flt in filters:
        name = flt.get("propertyName")
        operator = flt.get("operator", "EQ")
        actual = _comparable(props.get(name))
        if operator == "HAS_PROPERTY":
            ok = actual is not None
        elif operator == "NOT_HAS_PROPERTY":
            ok = actual is None
        elif operator in ("IN", "NOT_IN"):
            values = [_comparable(v) for v in flt.get("values") or []]
            ok = (actual in values) == (operator == "IN")
        elif actual is None:
            ok = operator == "NEQ"
        elif _comparable(flt.get("value")) is None:
            ok = False
        else:
            wanted = _comparable(flt.get("value"))
            if operator == "BETWEEN":
                high = _comparable(flt.get("highValue"))
                ok = _compare(actual, wanted) >= 0 and _compare(actual, high) <= 0
            else:
                order = _compare(actual, wanted)
                ok = {
                    "EQ": order == 0,
                    "NEQ": order != 0,
                    "LT": order < 0,
                    "LTE": order <= 0,
                    "GT": order > 0,
                    "GTE": order >= 0,
                }.get(operator, False)
        if not ok:
            return False
    return True


def _compare(a: float | str | None, b: float | str | None) -> int:
    if a is None or b is None:
        return 2  # matches nothing: BETWEEN without highValue
    if type(a) is not type(b):
        a, b = str(a), str(b)
    return (a > b) - (a < b)
