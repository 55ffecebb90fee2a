"""A local Salesforce REST API fake for tests.

`SalesforceFake` runs a small threaded HTTPS server on ``127.0.0.1`` (ephemeral port, a
self-signed certificate made at start) that answers what a read-only integration asks of
Salesforce, in Salesforce's documented JSON, closely enough for the real ``simple_salesforce``
client to work against it:

* ``GET /services/data/vXX.X/query?q=<SOQL>``: ``{"totalSize", "done", "nextRecordsUrl",
  "records": [{"attributes": {"type", "url"}, ...fields, "Owner": {"attributes", "Email"}}]}``,
  ``page_size`` records per page (3 by default, so paging is exercised);
* ``GET /services/data/vXX.X/query/<locator>-<offset>``: the following pages (``nextRecordsUrl``);
* ``GET /services/data/vXX.X/sobjects/<Object>/describe``: the object's fields.
* ``POST /services/Soap/u/XX.X``: the SOAP login of username + password + security token
  (``add_login``; ``route_login(session)`` sends ``login.salesforce.com`` here).

simple_salesforce always speaks HTTPS, hence the certificate: point requests at it with
``fake.trust(monkeypatch)`` (sets ``REQUESTS_CA_BUNDLE``) and give the connector
``fake.env()`` (``SALESFORCE_INSTANCE_URL`` + ``SALESFORCE_ACCESS_TOKEN``).

SOQL understood: ``SELECT <fields and relationship paths> FROM <Object> [WHERE ...]
[ORDER BY <field> [ASC|DESC]] [LIMIT n]``, conditions joined by AND / OR with parentheses, the
operators ``= != <> < > <= >= IN NOT IN``, string, number, boolean, null, date and datetime
literals. Strings compare case-insensitively, as in SOQL. Unknown fields and relationships answer
400 INVALID_FIELD with Salesforce's own wording, unknown objects 400 INVALID_TYPE, a quoted
datetime 400 INVALID_FIELD; a bad or missing ``Authorization: Bearer`` 401 INVALID_SESSION_ID.

Failure injection: ``fail_next(path_prefix, status)`` (5xx, 401, 403 REQUEST_LIMIT_EXCEEDED...;
status 0 drops the connection), ``delay_next`` (for timeouts), ``truncate_next`` (a page cut in
the middle of its JSON). ``requests`` records every call; ``queries`` the SOQL received.

``seed_from_portfolio(folder)`` fills the org from a portfolio folder (Users, Accounts, Product2
with a standard price book, Assets, won and lost Opportunities with line items) so that a pull
gives back the folder's accounts, subscriptions and catalog; ``touch_account`` changes an
account and moves its LastModifiedDate on. Time: a change is stamped with ``clock()`` (the real
time unless a test replaces it) in whole seconds, like Salesforce's LastModifiedDate, so
several changes may share a second. Seeded records are dated ``SEED_AGE`` (a day) before the
seeding, a second apart, so an incremental pull whose cursor lags a few minutes behind "now"
does not read them again.

Typical use::

    with SalesforceFake() as sf:
        sf.trust(monkeypatch)
        sf.seed_from_portfolio(SAMPLE)
        connector = SalesforceConnector(SourceConfig("crm", "salesforce"), sf.env())
        pull = connector.pull(None)

Only the standard library (and ``cryptography``, which simple_salesforce depends on, for the
certificate) is used.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import re
import ssl
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local_server import LocalServer, RoutingHandler

__all__ = [
    "API_VERSION",
    "ROUND_TRIP_FIELDS",
    "ROUND_TRIP_PRODUCT_FIELDS",
    "SEED_AGE",
    "Request",
    "SalesforceFake",
    "SoqlError",
]

API_VERSION = "59.0"
DEFAULT_TOKEN = "00DFAKE0000000001!AQ4AQFakeSessionToken"
#: How long before the seeding seed_from_portfolio dates its records.
SEED_AGE = dt.timedelta(days=1)

#: Where ``seed_from_portfolio`` writes each accounts column (the Account's own fields, standard
#: or custom). ``account_id`` goes to AccountNumber, ``owner`` is the owner User's Email.
#: Given as the connector's ``fields`` option, every accounts column round-trips.
ROUND_TRIP_FIELDS: dict[str, str] = {
    "name": "Name",
    "arr": "ARR__c",
    "segment": "Segment__c",
    "industry": "Industry",
    "region": "BillingCountry",
    "plan": "Plan__c",
    "licensed_seats": "Licensed_Seats__c",
    "active_seats": "Active_Seats__c",
    "employee_count": "NumberOfEmployees",
    "employee_growth_pct": "Employee_Growth_Pct__c",
    "health_score": "Health_Score__c",
    "nps": "NPS__c",
    "csat": "CSAT__c",
    "support_tickets_90d": "Support_Tickets_90d__c",
    "engagement": "Engagement__c",
    "contacts": "Contacts__c",
    "departments_engaged": "Departments_Engaged__c",
    "contract_term": "Contract_Term__c",
    "contract_start": "Contract_Start_Date__c",
    "renewal_date": "Renewal_Date__c",
    "last_renewal_date": "Last_Renewal_Date__c",
    "status": "Customer_Status__c",
    "channel": "Channel__c",
}
#: Where ``seed_from_portfolio`` writes each catalog column on Product2 (product_id: ProductCode).
ROUND_TRIP_PRODUCT_FIELDS: dict[str, str] = {
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

# Contract column kinds -> Salesforce field types.
_FIELD_TYPES = {
    "money": "currency",
    "count": "double",
    "number": "double",
    "percent": "double",
    "date": "date",
    "period": "date",
    "bool": "boolean",
}
_ID_PREFIX = {
    "Account": "001",
    "User": "005",
    "Opportunity": "006",
    "OpportunityLineItem": "00k",
    "Asset": "02i",
    "Product2": "01t",
    "Pricebook2": "01s",
    "PricebookEntry": "01u",
}
_COMMON = {
    "Id": "id",
    "CreatedDate": "datetime",
    "LastModifiedDate": "datetime",
    "SystemModstamp": "datetime",
    "IsDeleted": "boolean",
}
# object -> standard fields (name -> type); references end in Id and have a relationship below.
_STANDARD: dict[str, dict[str, str]] = {
    "User": {"Name": "string", "Email": "email", "Username": "string", "IsActive": "boolean"},
    "Account": {
        "Name": "string",
        "AccountNumber": "string",
        "Type": "picklist",
        "Industry": "picklist",
        "BillingCountry": "string",
        "NumberOfEmployees": "int",
        "AnnualRevenue": "currency",
        "OwnerId": "reference",
    },
    "Product2": {
        "Name": "string",
        "ProductCode": "string",
        "Family": "picklist",
        "IsActive": "boolean",
        "Description": "textarea",
        "QuantityUnitOfMeasure": "picklist",
    },
    "Pricebook2": {"Name": "string", "IsActive": "boolean", "IsStandard": "boolean"},
    "PricebookEntry": {
        "Name": "string",
        "Pricebook2Id": "reference",
        "Product2Id": "reference",
        "UnitPrice": "currency",
        "IsActive": "boolean",
        "UseStandardPrice": "boolean",
    },
    "Asset": {
        "Name": "string",
        "AccountId": "reference",
        "Product2Id": "reference",
        "Quantity": "double",
        "Price": "currency",
        "Status": "picklist",
        "PurchaseDate": "date",
        "UsageEndDate": "date",
    },
    "Opportunity": {
        "Name": "string",
        "AccountId": "reference",
        "StageName": "picklist",
        "IsWon": "boolean",
        "IsClosed": "boolean",
        "CloseDate": "date",
        "Amount": "currency",
        "Type": "picklist",
        "OwnerId": "reference",
        "CreatedById": "reference",
        "LastModifiedById": "reference",
    },
    "OpportunityLineItem": {
        "Name": "string",
        "OpportunityId": "reference",
        "Product2Id": "reference",
        "PricebookEntryId": "reference",
        "Quantity": "double",
        "UnitPrice": "currency",
        "TotalPrice": "currency",
    },
}
# object -> relationship name -> (reference field, target object)
_RELATIONSHIPS: dict[str, dict[str, tuple[str, str]]] = {
    "Account": {"Owner": ("OwnerId", "User")},
    "PricebookEntry": {
        "Pricebook2": ("Pricebook2Id", "Pricebook2"),
        "Product2": ("Product2Id", "Product2"),
    },
    "Asset": {"Account": ("AccountId", "Account"), "Product2": ("Product2Id", "Product2")},
    "Opportunity": {"Account": ("AccountId", "Account")},
    "OpportunityLineItem": {
        "Opportunity": ("OpportunityId", "Opportunity"),
        "Product2": ("Product2Id", "Product2"),
        "PricebookEntry": ("PricebookEntryId", "PricebookEntry"),
    },
}

_SUPPORTED_VERSIONS = {f"{v}.0" for v in range(20, 63)}
_VERSIONED = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")


class SoqlError(Exception):
    """A query Salesforce would refuse: (errorCode, message), answered as 400."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Request:
    """One request the fake received."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int = 0

    @property
    def soql(self) -> str | None:
        return self.params.get("q")


@dataclass
class _Plan:
    """A planned answer to the next request(s) under a path prefix."""

    prefix: str
    kind: str  # fail | delay | truncate
    status: int = 0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    contains: str | None = None


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False

    @classmethod
    def of_json(cls, payload: Any, status: int = 200) -> _Reply:
        return cls(status, json.dumps(payload).encode())

    @classmethod
    def error(cls, status: int, code: str, message: str) -> _Reply:
        return cls.of_json([{"message": message, "errorCode": code}], status)


# --------------------------------------------------------------------------------------------
# SOQL
# --------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:\\.|[^'\\])*')
      | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
      | (?P<date>\d{4}-\d{2}-\d{2})(?![\dT])
      | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
      | (?P<op>!=|<>|<=|>=|=|<|>|\(|\)|,)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "NULL", "TRUE", "FALSE"}


@dataclass
class _Literal:
    kind: str  # string | number | boolean | null | date | datetime
    value: Any


@dataclass
class _Query:
    obj: str
    fields: list[str]
    where: Any  # nested tuples: ("and"/"or", a, b) | ("cmp", path, op, literal|list)
    order: tuple[str, bool] | None
    limit: int | None


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[pos:].strip()[:20]}'")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def parse_soql(soql: str) -> _Query:
    """Parse the subset of SOQL described in the module docstring."""
    match = re.match(
        r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<obj>\w+)(?P<rest>.*)$", soql, re.S | re.I
    )
    if not match:
        raise SoqlError("MALFORMED_QUERY", "unexpected token: expected SELECT ... FROM ...")
    fields = [f.strip() for f in match.group("fields").split(",")]
    if any(not re.fullmatch(r"[A-Za-z_][\w.]*", f) for f in fields):
        raise SoqlError(
            "MALFORMED_QUERY", f"the fake does not understand '{match.group('fields')}'"
        )
    rest = match.group("rest").strip()
    limit = None
    order = None
    limit_match = re.search(r"\s*\bLIMIT\s+(\d+)\s*$", rest, re.I)
    if limit_match:
        limit = int(limit_match.group(1))
        rest = rest[: limit_match.start()].strip()
    order_match = re.search(
        r"\s*\bORDER\s+BY\s+([\w.]+)(?:\s+(ASC|DESC))?(?:\s+NULLS\s+(?:FIRST|LAST))?\s*$",
        rest,
        re.I,
    )
    if order_match:
        order = (order_match.group(1), (order_match.group(2) or "ASC").upper() == "DESC")
        rest = rest[: order_match.start()].strip()
    where = None
    if rest:
        if not re.match(r"^WHERE\s", rest, re.I):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{rest.split()[0]}'")
        tokens = _tokenize(rest[5:])
        parser = _WhereParser(tokens)
        where = parser.expression()
        if parser.pos != len(tokens):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{tokens[parser.pos][1]}'")
    return _Query(match.group("obj"), fields, where, order, limit)


class _WhereParser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end":
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        kind, text = self.peek()
        if kind == "word" and text.upper() == word:
            self.pos += 1
            return True
        return False

    def expression(self) -> Any:
        node = self.conjunction()
        while self.keyword("OR"):
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Any:
        node = self.factor()
        while self.keyword("AND"):
            node = ("and", node, self.factor())
        return node

    def factor(self) -> Any:
        if self.keyword("NOT"):
            return ("not", self.factor())
        if self.peek() == ("op", "("):
            self.take()
            node = self.expression()
            if self.take() != ("op", ")"):
                raise SoqlError("MALFORMED_QUERY", "expected ')'")
            return node
        kind, path = self.take()
        if kind != "word" or path.upper() in _KEYWORDS:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{path}'")
        negate = self.keyword("NOT")
        if self.keyword("IN"):
            if self.take() != ("op", "("):
                raise SoqlError("MALFORMED_QUERY", "expected '(' after IN")
            values = [self.literal()]
            while self.peek() == ("op", ","):
                self.take()
                values.append(self.literal())
            if self.take() != ("op", ")"):
                raise SoqlError("MALFORMED_QUERY", "expected ')' after the IN list")
            return ("cmp", path, "NOT IN" if negate else "IN", values)
        if negate:
            raise SoqlError("MALFORMED_QUERY", "expected IN after NOT")
        op_kind, op = self.take()
        if op_kind != "op" or op in "(),":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{op}'")
        return ("cmp", path, "!=" if op == "<>" else op, self.literal())

    def literal(self) -> _Literal:
        kind, text = self.take()
        if kind == "string":
            return _Literal("string", re.sub(r"\\(.)", r"\1", text[1:-1]))
        if kind == "number":
            return _Literal("number", float(text))
        if kind in ("date", "datetime"):
            return _Literal(kind, text)
        if kind == "word" and text.upper() in ("TRUE", "FALSE"):
            return _Literal("boolean", text.upper() == "TRUE")
        if kind == "word" and text.upper() == "NULL":
            return _Literal("null", None)
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'")


def _parse_moment(text: str) -> dt.datetime:
    text = text.replace("Z", "+00:00")
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _sf_datetime(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: SalesforceFake, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
        # The TLS handshake happens on the first read, in the request's own thread.
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that hang up (timeouts, failed handshakes)."""


class _Handler(RoutingHandler):
    server: _Server
    # Keep-alive, as Salesforce does: a pull is one TLS handshake, not one per page.
    protocol_version = "HTTP/1.1"
    server_version = "SalesforceFake/1.0"
    timeout = 10  # an idle kept-alive connection is closed after this many seconds
    disable_nagle_algorithm = True  # headers and body leave at once (no delayed-ACK stalls)

    def _route(self, verb: str) -> None:
        fake = self.server.fake
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            reply = fake._handle(verb, self.path, dict(self.headers.items()), body)
        except Exception:
            trace = traceback.format_exc()
            with fake._lock:
                fake.errors.append(trace)
            reply = _Reply(500, f"fake error:\n{trace}".encode(), "text/plain")
        if reply.drop:
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("Sforce-Limit-Info", "api-usage=25/15000")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:  # the client gave up (a timeout test)
            pass


def _make_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost: (ca.pem, cert.pem, key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Salesforce fake CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_file.write_bytes(ca_cert.public_bytes(pem))
    cert_file.write_bytes(cert.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_file, cert_file, key_file


class SalesforceFake(LocalServer):
    """A local Salesforce org over HTTPS for tests (see the module docstring).

    ``records[object][id]`` holds each record's own fields (references as ``...Id`` values);
    ``fields[object]`` the fields the org has (name -> type). Everything is guarded by a lock.
    """

    def __init__(self, *, token: str = DEFAULT_TOKEN, page_size: int = 3) -> None:
        self.token = token
        self.tokens = {token}
        self.page_size = page_size
        self.fields: dict[str, dict[str, str]] = {
            obj: {**_COMMON, **fields} for obj, fields in _STANDARD.items()
        }
        self.relationships: dict[str, dict[str, tuple[str, str]]] = {
            obj: dict(rels) for obj, rels in _RELATIONSHIPS.items()
        }
        self.records: dict[str, dict[str, dict[str, Any]]] = {obj: {} for obj in _STANDARD}
        self.requests: list[Request] = []
        #: username -> password + security token accepted by the SOAP login.
        self.logins: dict[str, str] = {}
        self.errors: list[str] = []
        #: What seed_from_portfolio created: portfolio account_id / product_id / email -> Id.
        self.account_ids: dict[str, str] = {}
        self.product_ids: dict[str, str] = {}
        self.user_ids: dict[str, str] = {}
        #: "Now", for stamping changes: the real time unless a test replaces it.
        self.clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
        self._seed_clock: dt.datetime | None = None
        self._seq = 0
        self._locators: dict[str, list[dict[str, Any]]] = {}
        self._plans: deque[_Plan] = deque()
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.ca_file = ""
        #: Objects the integration may create and edit (others answer 403, as a profile without
        #: the permission does); the User API writes are stamped with; Opportunity stages
        #: (StageName's restricted picklist: label -> (IsClosed, IsWon)).
        self.writable: set[str] = {"Opportunity"}
        self.api_user = "005FAKE00000001AAA"
        self.stages: dict[str, tuple[bool, bool]] = {
            "Prospecting": (False, False),
            "Qualification": (False, False),
            "Needs Analysis": (False, False),
            "Proposal/Price Quote": (False, False),
            "Negotiation/Review": (False, False),
            "Closed Won": (True, True),
            "Closed Lost": (True, False),
        }

    # -- lifecycle ---------------------------------------------------------------------------

    server_name = "salesforce-fake"

    def _make_server(self) -> _Server:
        """Make a certificate, then an HTTPS server with it."""
        self._tmp = tempfile.TemporaryDirectory(prefix="salesforce-fake-")
        ca_file, cert_file, key_file = _make_certificate(Path(self._tmp.name))
        self.ca_file = str(ca_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return _Server(self, context)

    def _cleanup(self) -> None:
        """Remove the certificate."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>`` (what the connector's location() shows)."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>``: the instance URL."""
        return f"https://{self.host}"

    def env(self, prefix: str = "SALESFORCE_", *, token: str | None = None) -> dict[str, str]:
        """The connector's environment: instance URL and access token."""
        return {
            f"{prefix}INSTANCE_URL": self.url,
            f"{prefix}ACCESS_TOKEN": self.token if token is None else token,
        }

    def add_login(self, username: str, password: str, security_token: str = "") -> None:
        """Accept a username + password (+ security token) SOAP login."""
        with self._lock:
            self.logins[username] = password + security_token

    def route_login(self, session: Any) -> Any:
        """Send a requests ``session``'s logins (``https://login|test.salesforce.com``) here.

        simple_salesforce logs in at ``https://<domain>.salesforce.com``; this mounts an adapter
        that rewrites those URLs to the fake, and returns the session.
        """
        from requests.adapters import HTTPAdapter

        fake_url = self.url

        class _ToFake(HTTPAdapter):
            def send(self, request, **kwargs):
                request.url = re.sub(r"^https://[\w.-]+\.salesforce\.com", fake_url, request.url)
                return super().send(request, **kwargs)

        for domain in ("login", "test"):
            session.mount(f"https://{domain}.salesforce.com", _ToFake())
        return session

    def trust(self, monkeypatch: Any) -> None:
        """Make requests trust the fake's certificate (and never proxy 127.0.0.1)."""
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", self.ca_file)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")

    # -- the org -----------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        """The org's clock (``clock()``), in whole seconds like LastModifiedDate."""
        return self.clock().astimezone(dt.UTC).replace(microsecond=0)

    def _tick(self) -> str:
        """The stamp of a change: now; while seeding, a second after the previous one."""
        if self._seed_clock is not None:
            self._seed_clock += dt.timedelta(seconds=1)
            return _sf_datetime(self._seed_clock)
        return _sf_datetime(self.now())

    def add_field(self, obj: str, name: str, type: str = "string") -> None:
        """Give ``obj`` a (custom) field; a ``reference`` needs ``add_relationship`` too."""
        with self._lock:
            self.fields[obj][name] = type

    def remove_field(self, obj: str, name: str) -> None:
        """Take a field away (queries naming it then answer INVALID_FIELD)."""
        with self._lock:
            self.fields[obj].pop(name, None)
            for record in self.records[obj].values():
                record.pop(name, None)

    def add_relationship(self, obj: str, name: str, id_field: str, target: str) -> None:
        """A lookup: ``CSM__r`` through ``CSM__c`` to ``User``, say."""
        with self._lock:
            self.fields[obj].setdefault(id_field, "reference")
            self.relationships.setdefault(obj, {})[name] = (id_field, target)

    def insert(self, obj: str, **values: Any) -> str:
        """Create a record; returns its 18-character Id."""
        with self._lock:
            unknown = [n for n in values if n not in self.fields[obj]]
            if unknown:
                raise KeyError(f"{obj} has no field(s) {', '.join(unknown)}: add_field first")
            self._seq += 1
            record_id = f"{_ID_PREFIX.get(obj, 'a00')}{self._seq:012d}AAA"
            stamp = self._tick()
            self.records[obj][record_id] = {
                "Id": record_id,
                "CreatedDate": stamp,
                "LastModifiedDate": stamp,
                "SystemModstamp": stamp,
                "IsDeleted": False,
                **values,
            }
            return record_id

    def update(self, obj: str, record_id: str, **values: Any) -> str:
        """Change fields of a record and move its LastModifiedDate on; returns the new stamp."""
        with self._lock:
            record = self.records[obj][record_id]
            unknown = [n for n in values if n not in self.fields[obj]]
            if unknown:
                raise KeyError(f"{obj} has no field(s) {', '.join(unknown)}")
            record.update(values)
            stamp = self._tick()
            record["LastModifiedDate"] = record["SystemModstamp"] = stamp
            return stamp

    def touch_account(self, account: str, **values: Any) -> str:
        """Change an Account (by Id or by the portfolio's account_id) and bump LastModifiedDate."""
        with self._lock:
            record_id = self.account_ids.get(account, account)
            return self.update("Account", record_id, **values)

    def delete(self, obj: str, record_id: str) -> None:
        with self._lock:
            self.records[obj].pop(record_id)

    # -- seeding -----------------------------------------------------------------------------

    def seed_from_portfolio(
        self, folder: str | Path, *, asset_arr: bool = True, lost_opportunity: bool = True
    ) -> None:
        """Fill the org from a portfolio folder (validated by ``read_portfolio``).

        * one User per owner email; an account without owner has no OwnerId;
        * Accounts: AccountNumber = account_id, columns in ``ROUND_TRIP_FIELDS`` fields;
        * Product2 per catalog row (ProductCode = product_id, ``ROUND_TRIP_PRODUCT_FIELDS``),
          a standard Pricebook2 and an active PricebookEntry per product whose UnitPrice is its
          first price (per seat, annual, per unit);
        * one Asset per subscription: Quantity, Price = arr / quantity and, when ``asset_arr``,
          ARR__c = arr (an Asset custom field);
        * per account with subscriptions a won Opportunity (Closed Won) with a line item per
          subscription (Quantity, TotalPrice = arr), and, when ``lost_opportunity``, one lost
          opportunity of the first account with a line item that must not be read.

        Every record is dated from ``SEED_AGE`` before now on, a second apart.
        """
        tables = _portfolio_tables(str(Path(folder).resolve()))
        with self._lock:
            self._seed_clock = self.now() - SEED_AGE
            try:
                self._seed(tables, asset_arr=asset_arr, lost_opportunity=lost_opportunity)
            finally:
                self._seed_clock = None

    def _seed(self, tables: dict[str, Any], *, asset_arr: bool, lost_opportunity: bool) -> None:
        from expansion.contract import ACCOUNTS, CATALOG

        with self._lock:
            for column, name in ROUND_TRIP_FIELDS.items():
                if name not in self.fields["Account"]:
                    kind = ACCOUNTS.column(column).kind
                    self.add_field("Account", name, _FIELD_TYPES.get(kind, "string"))
            for column, name in ROUND_TRIP_PRODUCT_FIELDS.items():
                if name not in self.fields["Product2"]:
                    kind = CATALOG.column(column).kind
                    self.add_field("Product2", name, _FIELD_TYPES.get(kind, "string"))
            if asset_arr:
                self.add_field("Asset", "ARR__c", "currency")

            accounts = tables["accounts"]
            for email in sorted({e for e in accounts["owner"] if _present(e)}):
                self.user_ids[email] = self.insert(
                    "User",
                    Email=email,
                    Username=email,
                    Name=email.split("@")[0].replace(".", " ").title(),
                    IsActive=True,
                )
            for row in accounts.to_dict("records"):
                values = {
                    name: self._sf_value("Account", name, row[column])
                    for column, name in ROUND_TRIP_FIELDS.items()
                }
                owner = row.get("owner")
                if _present(owner):
                    values["OwnerId"] = self.user_ids[owner]
                self.account_ids[row["account_id"]] = self.insert(
                    "Account", AccountNumber=row["account_id"], Type="Customer", **values
                )

            standard = self.insert(
                "Pricebook2", Name="Standard Price Book", IsActive=True, IsStandard=True
            )
            catalog = tables.get("catalog")
            prices: dict[str, str] = {}
            for row in [] if catalog is None else catalog.to_dict("records"):
                values = {
                    name: self._sf_value("Product2", name, row[column])
                    for column, name in ROUND_TRIP_PRODUCT_FIELDS.items()
                }
                product = self.insert(
                    "Product2", ProductCode=row["product_id"], IsActive=True, **values
                )
                self.product_ids[row["product_id"]] = product
                price = next(
                    (
                        row[c]
                        for c in ("price_per_seat", "annual_price", "unit_price")
                        if _present(row[c])
                    ),
                    0.0,
                )
                prices[product] = self.insert(
                    "PricebookEntry",
                    Name=row["name"],
                    Pricebook2Id=standard,
                    Product2Id=product,
                    UnitPrice=float(price),
                    IsActive=True,
                    UseStandardPrice=False,
                )

            subscriptions = tables.get("subscriptions")
            rows = [] if subscriptions is None else subscriptions.to_dict("records")
            by_account: dict[str, list[dict]] = {}
            for row in rows:
                product = self._product(row["product_id"])
                quantity = float(row["quantity"]) if _present(row["quantity"]) else None
                arr = float(row["arr"]) if _present(row["arr"]) else None
                values = {
                    "Name": row["product_id"],
                    "AccountId": self.account_ids[row["account_id"]],
                    "Product2Id": product,
                    "Quantity": quantity,
                    "Price": None if arr is None else arr / (quantity or 1),
                    "Status": "Installed",
                }
                if asset_arr:
                    values["ARR__c"] = arr
                self.insert("Asset", **values)
                by_account.setdefault(row["account_id"], []).append(row)
            for account_id, items in by_account.items():
                opportunity = self.insert(
                    "Opportunity",
                    Name=f"{account_id} subscription",
                    AccountId=self.account_ids[account_id],
                    StageName="Closed Won",
                    IsWon=True,
                    IsClosed=True,
                    CloseDate="2024-01-15",
                    Amount=sum(float(r["arr"]) for r in items if _present(r["arr"])),
                    Type="Renewal",
                )
                for row in items:
                    product = self._product(row["product_id"])
                    quantity = float(row["quantity"]) if _present(row["quantity"]) else 1.0
                    arr = float(row["arr"]) if _present(row["arr"]) else 0.0
                    self.insert(
                        "OpportunityLineItem",
                        Name=row["product_id"],
                        OpportunityId=opportunity,
                        Product2Id=product,
                        PricebookEntryId=prices.get(product),
                        Quantity=quantity,
                        UnitPrice=arr / quantity,
                        TotalPrice=arr,
                    )
            if lost_opportunity and by_account:
                account_id = next(iter(by_account))
                lost = self.insert(
                    "Opportunity",
                    Name=f"{account_id} upsell (lost)",
                    AccountId=self.account_ids[account_id],
                    StageName="Closed Lost",
                    IsWon=False,
                    IsClosed=True,
                    CloseDate="2024-03-01",
                    Amount=99_000.0,
                    Type="Upsell",
                )
                product = self._product(by_account[account_id][0]["product_id"])
                self.insert(
                    "OpportunityLineItem",
                    Name="lost",
                    OpportunityId=lost,
                    Product2Id=product,
                    PricebookEntryId=prices.get(product),
                    Quantity=999.0,
                    UnitPrice=100.0,
                    TotalPrice=99_900.0,
                )

    def _product(self, product_id: str) -> str:
        if product_id not in self.product_ids:
            self.product_ids[product_id] = self.insert(
                "Product2", ProductCode=product_id, Name=product_id, IsActive=True
            )
        return self.product_ids[product_id]

    def _sf_value(self, obj: str, name: str, value: Any) -> Any:
        """A portfolio cell as Salesforce stores it: numbers as floats, dates as YYYY-MM-DD."""
        if not _present(value):
            return None
        kind = self.fields[obj].get(name, "string")
        if kind in ("double", "currency", "percent"):
            return float(value)
        if kind == "int":
            return int(value)
        if kind == "date":
            return value.strftime("%Y-%m-%d") if hasattr(value, "strftime") else str(value)[:10]
        if kind == "boolean":
            return bool(value)
        return str(value)

    # -- failure injection -------------------------------------------------------------------

    def fail_next(
        self,
        path_prefix: str,
        status: int,
        count: int = 1,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        contains: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests under ``path_prefix`` with ``status``.

        ``path_prefix`` is matched against the path with and without ``/services/data/vXX.X``
        (``"/query"`` covers queries and their next pages, ``"/query/"`` only the next pages,
        ``"/sobjects"`` describes); ``contains`` also requires that text in the SOQL. ``body``
        (JSON-able, or str/bytes) replaces the usual one: 401 INVALID_SESSION_ID, 403
        REQUEST_LIMIT_EXCEEDED, 400 MALFORMED_QUERY, 500 UNKNOWN_EXCEPTION, 502/503/504 an
        HTML page. Status 0 closes the connection without an answer.
        """
        with self._lock:
            for _ in range(count):
                self._plans.append(
                    _Plan(path_prefix, "fail", status, body, dict(headers or {}), contains=contains)
                )

    def delay_next(
        self, path_prefix: str, seconds: float, count: int = 1, *, contains: str | None = None
    ) -> None:
        """Answer the next ``count`` requests under ``path_prefix`` normally, ``seconds`` late."""
        with self._lock:
            for _ in range(count):
                self._plans.append(_Plan(path_prefix, "delay", seconds=seconds, contains=contains))

    def truncate_next(
        self, path_prefix: str = "/query", count: int = 1, *, contains: str | None = None
    ) -> None:
        """Cut the next ``count`` successful answers under ``path_prefix`` in half."""
        with self._lock:
            for _ in range(count):
                self._plans.append(_Plan(path_prefix, "truncate", contains=contains))

    def reset(self) -> None:
        """Forget recorded requests, errors, open query locators and failure plans."""
        with self._lock:
            self.requests.clear()
            self.errors.clear()
            self._locators.clear()
            self._plans.clear()

    # -- inspection --------------------------------------------------------------------------

    @property
    def queries(self) -> list[str]:
        """The SOQL of every query received, in order."""
        with self._lock:
            return [r.soql for r in self.requests if r.soql]

    def requests_to(self, path_prefix: str) -> list[Request]:
        """Requests whose path (with or without /services/data/vXX.X) starts with the prefix."""
        with self._lock:
            return [r for r in self.requests if _matches(r.path, path_prefix)]

    # -- answering ---------------------------------------------------------------------------

    def _take_plan(self, path: str, soql: str | None) -> list[_Plan]:
        """Plans for this request: the first of each kind that matches."""
        taken: list[_Plan] = []
        for plan in list(self._plans):
            if any(p.kind == plan.kind for p in taken):
                continue
            if not _matches(path, plan.prefix):
                continue
            if plan.contains and (not soql or plan.contains not in soql):
                continue
            if plan.kind == "truncate" and any(p.kind == "fail" for p in taken):
                continue
            taken.append(plan)
            self._plans.remove(plan)
        return taken

    def _handle(
        self, verb: str, raw_path: str, headers: dict[str, str], body: bytes = b""
    ) -> _Reply:
        split = urlsplit(raw_path)
        path = unquote(split.path)
        params = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        request = Request(verb, path, params, headers)
        with self._lock:
            self.requests.append(request)
            plans = self._take_plan(path, params.get("q"))
        fail = next((p for p in plans if p.kind == "fail"), None)
        delay = next((p for p in plans if p.kind == "delay"), None)
        truncate = next((p for p in plans if p.kind == "truncate"), None)
        if delay is not None:
            time.sleep(delay.seconds)
        if fail is not None:
            reply = _failure_reply(fail)
        else:
            login = re.fullmatch(r"/services/Soap/u/(\d+\.\d)/?", path)
            if login and verb == "POST":
                reply = self._soap_login(login.group(1), body)
            elif verb in ("PATCH", "POST") and "/sobjects/" in path:
                reply = self._write(verb, path, headers, body)
            else:
                reply = self._answer(verb, path, params, headers)
            if truncate is not None and reply.status == 200:
                reply.body = reply.body[: max(1, len(reply.body) // 2)]
            elif truncate is not None:  # not used up by an error: keep it for the next answer
                with self._lock:
                    self._plans.appendleft(truncate)
        request.status = reply.status
        return reply

    def _answer(
        self, verb: str, path: str, params: dict[str, str], headers: dict[str, str]
    ) -> _Reply:
        match = _VERSIONED.match(path)
        if verb != "GET" or not match:
            return _Reply.error(404, "NOT_FOUND", "The requested resource does not exist")
        version, rest = match.group(1), (match.group(2) or "/").rstrip("/") or "/"
        if version not in _SUPPORTED_VERSIONS:
            return _Reply.error(404, "NOT_FOUND", "The requested resource does not exist")
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if (
            not auth.startswith("Bearer ")
            or auth.removeprefix("Bearer ").strip() not in self.tokens
        ):
            return _Reply.error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        try:
            if rest in ("/query", "/queryAll"):
                if "q" not in params:
                    return _Reply.error(
                        400, "MALFORMED_QUERY", "A query string has to be specified"
                    )
                return _Reply.of_json(self._query(params["q"], version))
            if rest.startswith(("/query/", "/queryAll/")):
                return _Reply.of_json(self._more(rest.rsplit("/", 1)[1], version))
            describe = re.fullmatch(r"/sobjects/(\w+)/describe", rest)
            if describe:
                return self._describe(describe.group(1))
        except SoqlError as exc:
            return _Reply.error(400, exc.code, exc.message)
        return _Reply.error(404, "NOT_FOUND", "The requested resource does not exist")

    def _write(self, verb: str, path: str, headers: dict[str, str], body: bytes) -> _Reply:
        """``POST /sobjects/<Object>`` (create), ``PATCH /sobjects/<Object>/<Id>`` (update) and
        ``PATCH /sobjects/<Object>/<ExternalIdField>/<value>`` (upsert: 201 created with the
        Id, or 204 updated). Writes are stamped ``CreatedById`` / ``LastModifiedById`` =
        ``api_user``; StageName sets IsClosed and IsWon."""
        match = _VERSIONED.match(path)
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if not match or auth.removeprefix("Bearer ").strip() not in self.tokens:
            return _Reply.error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        parts = [p for p in (match.group(2) or "").split("/") if p][1:]
        obj = parts[0] if parts else ""
        with self._lock:
            if obj not in self.fields:
                return _Reply.error(404, "NOT_FOUND", "The requested resource does not exist")
            if obj not in self.writable:
                return _Reply.error(
                    403,
                    "INSUFFICIENT_ACCESS_OR_READONLY",
                    f"insufficient access rights on object id: you cannot create or edit {obj}",
                )
            try:
                values = json.loads(body or b"{}")
            except ValueError:
                return _Reply.error(400, "JSON_PARSER_ERROR", "Unexpected character")
            unknown = [n for n in values if n not in self.fields[obj]]
            if unknown:
                return _Reply.error(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{unknown[0]}' on sobject of type {obj}",
                )
            if "StageName" in values and obj == "Opportunity":
                if values["StageName"] not in self.stages:
                    return _Reply.error(
                        400,
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"Stage: bad value for restricted picklist field: {values['StageName']}",
                    )
                values["IsClosed"], values["IsWon"] = self.stages[values["StageName"]]
            stamp = {"LastModifiedById": self.api_user}
            if verb == "POST" and len(parts) == 1:
                record_id = self.insert(obj, CreatedById=self.api_user, **stamp, **values)
                return _Reply.of_json({"id": record_id, "success": True, "errors": []}, 201)
            if verb == "PATCH" and len(parts) == 2:
                if parts[1] not in self.records[obj]:
                    return _Reply.error(404, "NOT_FOUND", "The requested resource does not exist")
                self.update(obj, parts[1], **stamp, **values)
                return _Reply(204, b"")
            if verb == "PATCH" and len(parts) == 3:
                field_name, value = parts[1], parts[2]
                if field_name not in self.fields[obj]:
                    return _Reply.error(
                        404,
                        "NOT_FOUND",
                        "Provided external ID field does not exist or is not accessible: "
                        + field_name,
                    )
                found = [r["Id"] for r in self.records[obj].values() if r.get(field_name) == value]
                if len(found) > 1:
                    return _Reply.error(300, "MULTIPLE_CHOICES", "more than one record found")
                if found:
                    self.update(obj, found[0], **stamp, **values)
                    return _Reply(204, b"")
                record_id = self.insert(
                    obj, CreatedById=self.api_user, **stamp, **{field_name: value, **values}
                )
                return _Reply.of_json(
                    {"id": record_id, "success": True, "errors": [], "created": True}, 201
                )
        return _Reply.error(404, "NOT_FOUND", "The requested resource does not exist")

    def _soap_login(self, version: str, body: bytes) -> _Reply:
        """The SOAP ``login`` call of username + password (+ security token) logins."""
        text = body.decode("utf-8", "replace")
        fields = {
            tag: html.unescape(m.group(1))
            if (m := re.search(rf"<n1:{tag}>(.*?)</n1:{tag}>", text, re.S))
            else ""
            for tag in ("username", "password")
        }
        with self._lock:
            expected = self.logins.get(fields["username"])
            if expected is None or expected != fields["password"]:
                fault = (
                    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                    'xmlns:sf="urn:fault.partner.soap.sforce.com" '
                    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
                    "<soapenv:Fault><faultcode>sf:INVALID_LOGIN</faultcode><faultstring>"
                    "INVALID_LOGIN: Invalid username, password, security token; or user locked "
                    'out.</faultstring><detail><sf:LoginFault xsi:type="sf:LoginFault">'
                    "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>"
                    "Invalid username, password, security token; or user locked out."
                    "</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>"
                    "</soapenv:Body></soapenv:Envelope>"
                )
                return _Reply(500, fault.encode(), "text/xml;charset=UTF-8")
            self._seq += 1
            session = f"00DFAKE0000000001!AQ4AQLogin{self._seq:06d}"
            self.tokens.add(session)
        response = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            "<loginResponse><result>"
            f"<metadataServerUrl>{self.url}/services/Soap/m/{version}/00DFAKE0000000001"
            "</metadataServerUrl><passwordExpired>false</passwordExpired>"
            f"<sandbox>false</sandbox><serverUrl>{self.url}/services/Soap/u/{version}/"
            f"00DFAKE0000000001</serverUrl><sessionId>{session}</sessionId>"
            "<userId>005FAKE00000001AAA</userId></result></loginResponse>"
            "</soapenv:Body></soapenv:Envelope>"
        )
        return _Reply(200, response.encode(), "text/xml;charset=UTF-8")

    def _describe(self, obj: str) -> _Reply:
        with self._lock:
            if obj not in self.fields:
                return _Reply.error(404, "NOT_FOUND", "The requested resource does not exist")
            by_field = {
                idf: (rel, target) for rel, (idf, target) in self.relationships.get(obj, {}).items()
            }
            fields = []
            for name, kind in self.fields[obj].items():
                rel, target = by_field.get(name, (None, None))
                fields.append(
                    {
                        "name": name,
                        "label": name.removesuffix("__c").replace("_", " "),
                        "type": kind,
                        "custom": name.endswith("__c"),
                        "nillable": name != "Id",
                        "relationshipName": rel,
                        "referenceTo": [target] if target else [],
                        "externalId": name.endswith("__c") and kind == "string",
                        "picklistValues": [
                            {"value": stage, "label": stage, "active": True}
                            for stage in self.stages
                        ]
                        if (obj, name) == ("Opportunity", "StageName")
                        else [],
                    }
                )
        return _Reply.of_json(
            {"name": obj, "label": obj, "queryable": True, "custom": False, "fields": fields}
        )

    # -- SOQL evaluation ---------------------------------------------------------------------

    def _query(self, soql: str, version: str) -> dict[str, Any]:
        query = parse_soql(soql)
        with self._lock:
            obj = self._object(query.obj, soql)
            fields = [self._resolve(obj, path, soql) for path in query.fields]
            if query.where is not None:
                self._check_where(obj, query.where, soql)
            rows = [r for r in self.records[obj].values() if self._matches(obj, r, query.where)]
            rows.sort(key=lambda r: r["Id"])
            if query.order is not None:
                path = self._resolve(obj, query.order[0], soql)
                rows.sort(key=lambda r: _sort_key(self._get(obj, r, path)), reverse=query.order[1])
            if query.limit is not None:
                rows = rows[: query.limit]
            records = [self._render(obj, r, fields, version) for r in rows]
            self._seq += 1
            locator = f"01g{self._seq:012d}AAA"
            self._locators[locator] = records
        return self._page(locator, 0, version)

    def _more(self, key: str, version: str) -> dict[str, Any]:
        locator, _, offset = key.rpartition("-")
        with self._lock:
            if locator not in self._locators or not offset.isdigit():
                raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(locator, int(offset), version)

    def _page(self, locator: str, offset: int, version: str) -> dict[str, Any]:
        with self._lock:
            records = self._locators[locator]
            page = records[offset : offset + self.page_size]
            done = offset + self.page_size >= len(records)
            payload: dict[str, Any] = {"totalSize": len(records), "done": done}
            if not done:
                payload["nextRecordsUrl"] = (
                    f"/services/data/v{version}/query/{locator}-{offset + self.page_size}"
                )
            payload["records"] = page
            return payload

    def _object(self, name: str, soql: str) -> str:
        obj = next((o for o in self.fields if o.lower() == name.lower()), None)
        if obj is None:
            raise SoqlError(
                "INVALID_TYPE",
                f"\n{soql}\n^\nERROR at Row:1:Column:1\nsObject type '{name}' is not supported. "
                "If you are attempting to use a custom object, be sure to append the '__c' after "
                "the entity name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
            )
        return obj

    def _resolve(self, obj: str, path: str, soql: str) -> list[tuple[str, str]]:
        """A field path as [(object, canonical name)...], raising INVALID_FIELD like Salesforce."""
        parts = path.split(".")
        resolved: list[tuple[str, str]] = []
        current = obj
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                name = next((f for f in self.fields[current] if f.lower() == part.lower()), None)
                if name is None:
                    raise SoqlError(
                        "INVALID_FIELD",
                        f"\n{soql[:200]}\n^\nERROR at Row:1:Column:8\nNo such column '{part}' on "
                        f"entity '{current}'. If you are attempting to use a custom field, be "
                        "sure to append the '__c' after the custom field name. Please reference "
                        "your WSDL or the describe call for the appropriate names.",
                    )
                resolved.append((current, name))
            else:
                rels = self.relationships.get(current, {})
                rel = next((r for r in rels if r.lower() == part.lower()), None)
                if rel is None:
                    raise SoqlError(
                        "INVALID_FIELD",
                        f"\n{soql[:200]}\n^\nERROR at Row:1:Column:8\nDidn't understand "
                        f"relationship '{part}' in field path. If you are attempting to use a "
                        "custom relationship, be sure to append the '__r' after the custom "
                        "relationship name. Please reference your WSDL or the describe call for "
                        "the appropriate names.",
                    )
                resolved.append((current, rel))
                current = rels[rel][1]
        return resolved

    def _get(self, obj: str, record: dict[str, Any] | None, path: list[tuple[str, str]]) -> Any:
        for owner, name in path[:-1]:
            if record is None:
                return None
            id_field, target = self.relationships[owner][name]
            record = self.records[target].get(record.get(id_field))
        return None if record is None else record.get(path[-1][1])

    def _render(
        self, obj: str, record: dict[str, Any], fields: list[list[tuple[str, str]]], version: str
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": _attributes(obj, record["Id"], version)}
        for path in fields:
            self._render_path(out, obj, record, path, version)
        return out

    def _render_path(
        self,
        out: dict[str, Any],
        obj: str,
        record: dict[str, Any] | None,
        path: list[tuple[str, str]],
        version: str,
    ) -> None:
        owner, name = path[0]
        if len(path) == 1:
            out[name] = None if record is None else self._json_value(owner, name, record.get(name))
            return
        id_field, target = self.relationships[owner][name]
        related = None if record is None else self.records[target].get(record.get(id_field))
        if related is None:
            out[name] = None
            return
        nested = out.get(name)
        if not isinstance(nested, dict):
            nested = {"attributes": _attributes(target, related["Id"], version)}
            out[name] = nested
        self._render_path(nested, target, related, path[1:], version)

    def _json_value(self, obj: str, name: str, value: Any) -> Any:
        if value is None:
            return None
        kind = self.fields[obj].get(name)
        if kind in ("double", "currency", "percent"):
            return float(value)
        return value

    def _check_where(self, obj: str, node: Any, soql: str) -> None:
        if node[0] in ("and", "or"):
            self._check_where(obj, node[1], soql)
            self._check_where(obj, node[2], soql)
            return
        if node[0] == "not":
            self._check_where(obj, node[1], soql)
            return
        _, path, _op, literal = node
        resolved = self._resolve(obj, path, soql)
        owner, name = resolved[-1]
        kind = self.fields[owner][name]
        for item in literal if isinstance(literal, list) else [literal]:
            if kind == "datetime" and item.kind not in ("datetime", "null"):
                raise SoqlError(
                    "INVALID_FIELD",
                    f"\n{soql[:200]}\n^\nERROR at Row:1:Column:8\nvalue of filter criterion for "
                    f"field '{name}' must be of type dateTime and should not be enclosed in quotes",
                )
            if kind == "date" and item.kind not in ("date", "null"):
                raise SoqlError(
                    "INVALID_FIELD",
                    f"\n{soql[:200]}\n^\nERROR at Row:1:Column:8\nvalue of filter criterion for "
                    f"field '{name}' must be of type date and should not be enclosed in quotes",
                )
            if kind == "boolean" and item.kind not in ("boolean", "null"):
                raise SoqlError(
                    "INVALID_FIELD",
                    f"\n{soql[:200]}\n^\nERROR at Row:1:Column:8\nvalue of filter criterion for "
                    f"field '{name}' must be of type boolean and should not be enclosed in quotes",
                )

    def _matches(self, obj: str, record: dict[str, Any], node: Any) -> bool:
        if node is None:
            return True
        if node[0] == "and":
            return self._matches(obj, record, node[1]) and self._matches(obj, record, node[2])
        if node[0] == "or":
            return self._matches(obj, record, node[1]) or self._matches(obj, record, node[2])
        if node[0] == "not":
            return not self._matches(obj, record, node[1])
        _, path, op, literal = node
        resolved = self._resolve(obj, path, "")
        owner, name = resolved[-1]
        kind = self.fields[owner][name]
        value = self._get(obj, record, resolved)
        if op in ("IN", "NOT IN"):
            found = any(_compare(kind, value, "=", item) for item in literal)
            return found if op == "IN" else not found
        return _compare(kind, value, op, literal)


@functools.lru_cache(maxsize=4)
def _portfolio_tables(folder: str) -> dict[str, Any]:
    """A folder's validated tables, read once per test session (seeding only reads them)."""
    from expansion.ingest import read_portfolio

    return read_portfolio(folder).tables


def _attributes(obj: str, record_id: str, version: str) -> dict[str, str]:
    return {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{record_id}"}


def _compare(kind: str, value: Any, op: str, literal: _Literal) -> bool:
    if literal.kind == "null":
        return (value is None) if op == "=" else (value is not None) if op == "!=" else False
    if value is None:
        return op == "!="
    if kind == "datetime":
        left, right = _parse_moment(value), _parse_moment(literal.value)
    elif kind == "date":
        left, right = str(value)[:10], str(literal.value)[:10]
    elif literal.kind == "number" or kind in ("double", "currency", "percent", "int"):
        try:
            left, right = float(value), float(literal.value)
        except (TypeError, ValueError):
            return False
    elif literal.kind == "boolean":
        left, right = bool(value), bool(literal.value)
    else:
        left, right = str(value).casefold(), str(literal.value).casefold()
    return {
        "=": left == right,
        "!=": left != right,
        "<": left < right,
        ">": left > right,
        "<=": left <= right,
        ">=": left >= right,
    }[op]


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    return (1, value if isinstance(value, int | float) else str(value).casefold())


def _present(value: Any) -> bool:
    if value is None:
        return False
    try:
        if value != value:  # NaN, NaT
            return False
    except (TypeError, ValueError):  # pd.NA
        return False
    return str(value) not in ("", "<NA>", "NaT", "nan")


def _matches(path: str, prefix: str) -> bool:
    if path.startswith(prefix):
        return True
    match = _VERSIONED.match(path)
    return bool(match) and (match.group(2) or "/").startswith(prefix)


def _failure_reply(plan: _Plan) -> _Reply:
    if plan.status == 0:
        return _Reply(0, b"", drop=True)
    status = plan.status
    if plan.body is not None:
        body = plan.body
        if isinstance(body, bytes | str):
            data = body.encode() if isinstance(body, str) else body
            kind = "application/json;charset=UTF-8" if data[:1] in (b"[", b"{") else "text/html"
            return _Reply(status, data, kind, plan.headers)
        reply = _Reply.of_json(body, status)
        reply.headers.update(plan.headers)
        return reply
    defaults = {
        400: ("MALFORMED_QUERY", "unexpected token: 'FROM'"),
        401: ("INVALID_SESSION_ID", "Session expired or invalid"),
        403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
        404: ("NOT_FOUND", "The requested resource does not exist"),
        500: (
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: "
            "1234567-8901 (-1234567)",
        ),
    }
    if status in defaults:
        reply = _Reply.error(status, *defaults[status])
    else:
        html = (
            f"<html><head><title>{status} Service Unavailable</title></head><body><h1>"
            "Service Unavailable</h1><p>The server is temporarily unable to service your "
            "request.</p></body></html>"
        )
        reply = _Reply(status, html.encode(), "text/html")
    reply.headers.update(plan.headers)
    return reply
