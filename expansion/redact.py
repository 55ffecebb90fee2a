"""Redaction: keep secrets out of every error text that is stored, logged or shown.

Error texts travel far: a failed sync's cause is stored in ``sync_runs.error``, printed by
``expansion sync`` and ``expansion sources``, posted by ``/expansion status``, and written to
the log. They are built from what drivers and remote APIs say, which may quote a connection
URL or echo a token. :func:`redact` is the one function everything goes through:

* secrets this process read from the environment (a CRM token, a password, the password of a
  warehouse URL), wherever they appear, even as a fragment (``remember`` registers them);
* the user information of any URL (``postgresql://user:pw@host`` -> ``postgresql://***@host``);
* ``Bearer``/``OAuth`` credentials and ``Authorization:`` headers;
* Slack tokens (``xoxb-``, ``xoxp-``, ``xapp-``... ), HubSpot private app tokens (``pat-...``)
  and Salesforce session ids (``00D...!...``);
* credential-like parameters (``?api_key=``, ``&access_token=``, ``password=`` in a libpq
  connection string, ``"client_secret": "..."`` in JSON).

Redacting is idempotent (``redact(redact(x)) == redact(x)``) and keeps everything else of the
text, so the message still says what went wrong.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

MASK = "***"
#: Shorter remembered values are not masked on their own: they would mask ordinary words.
MIN_SECRET_LENGTH = 6

_known: set[str] = set()
_lock = threading.Lock()

_CREDENTIAL_NAME = (
    r"[A-Za-z0-9_.\-]*(?:token|secret|passw(?:or)?d|pwd|api[_\-]?key|apikey|private[_\-]?key"
    r"|credentials?(?:_base64)?|signature|sig|auth)"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://userinfo@host: the user information up to the last '@' before the host, so a
    # password holding an unencoded '@' is masked whole.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#'\"<>]+@"), rf"\1{MASK}@"),
    # Authorization: Bearer abc / Basic abc / OAuth abc / a bare token
    (
        re.compile(
            r"(?i)(\bauthorization\b[\"']?\s*[:=]\s*[\"']?)"
            r"(?:(?:bearer|basic|oauth|token|digest)\s+[^\s\"',;]+|[A-Za-z0-9\-._~+/=!]{16,})"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"(?i)\b(bearer|oauth)\s+(?!\*\*\*)[A-Za-z0-9\-._~+/=!]{8,}"), rf"\1 {MASK}"),
    # Slack tokens, HubSpot private app tokens, Salesforce session ids.
    (re.compile(r"\b(xox[a-z](?:\.xox[a-z])?|xapp)-[A-Za-z0-9\-]+"), rf"\1-{MASK}"),
    (re.compile(r"\bpat-[a-z]{2,3}\d*-[0-9a-fA-F\-]{16,}"), f"pat-{MASK}"),
    (re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]+"), MASK),
    # "access_token": "..." in JSON bodies echoed by an API.
    (
        re.compile(rf"(?i)([\"']{_CREDENTIAL_NAME}[\"']\s*:\s*[\"'])(?!\*\*\*)[^\"']*"),
        rf"\1{MASK}",
    ),
    # ?api_key=... &access_token=... password=... (query strings, libpq connection strings)
    (re.compile(rf"(?i)(?<![\w\-])({_CREDENTIAL_NAME})=(?!\*\*\*)[^&\s\"'#<>,;)]+"), rf"\1={MASK}"),
)


def remember(*secrets: str | None) -> None:
    """Mask these values (read from the environment, never shown) in every later ``redact``."""
    with _lock:
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET_LENGTH:
                _known.add(secret)


def url_secrets(url: str) -> list[str]:
    """The password of a connection URL, and its pieces split at unencoded ``@`` ``:`` ``/``.

    A password holding an unencoded ``@`` makes URL parsers take its tail for the host name,
    which the driver's error then quotes ("failed to resolve host 't-pass@db'"): each piece
    is a secret of its own.
    """
    _, sep, rest = url.partition("://")
    if not sep:
        return []
    authority = rest.split("?", 1)[0]
    if "@" not in authority:
        return []
    userinfo = authority.rsplit("@", 1)[0]
    _, colon, password = userinfo.partition(":")
    if not colon or not password:
        return []
    pieces = [p for p in re.split(r"[@:/]", password) if p]
    return [password, *pieces]


def redact(text: object, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret masked (see the module docstring); ``secrets`` adds values to
    mask this once."""
    out = "" if text is None else str(text)
    with _lock:
        known = {*_known, *(s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH)}
    # Longest first: a password is masked whole before its pieces are looked for.
    for secret in sorted(known, key=len, reverse=True):
        if secret in out:
            out = out.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        out = pattern.sub(replacement, out)
    return out


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message and traceback before it is written.

    Installed on the log handlers (``bot.server.configure_logging``), so a library that logs a
    connection URL or a request with its token still writes no secret.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
