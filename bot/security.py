"""What reaches ``/slack/events`` is checked before anything acts on it.

Anyone on the internet can POST to the endpoint. So, in this order, and before Bolt parses a byte:

1. **Size**: a body over ``EXPANSION_MAX_REQUEST_BYTES`` (1 MB; Slack's payloads are a few KB)
   is answered 413 without being read whole (waitress refuses it even earlier, see
   :mod:`bot.server`).
2. **Signature**: ``X-Slack-Signature`` must be Slack's HMAC of the timestamp and the body
   (slack_sdk's :class:`~slack_sdk.signature.SignatureVerifier`), and the timestamp a number
   within 5 minutes of now. Anything else (missing, malformed, stale, wrong) is 401: nothing is
   parsed, nothing is called, and the log gets one line without the body.
3. **Shape**: a signed body that is not a Slack payload (form or JSON object) is 400.

Inside Bolt, :class:`RequestCheck` (Bolt's ``before_authorize`` slot, where its own signature
check would be) checks the signature again (so the app is safe behind any adapter), refuses a
``response_url`` that is not Slack's (``SLACK_RESPONSE_URL_HOSTS``: the bot never posts to an
address a request names unless it is Slack's), and only then marks the request
:data:`VERIFIED`. The error handler (:func:`bot.errors.handle_error`) answers nobody for a
request without that mark.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from slack_bolt.middleware import Middleware
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import parse_body
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger("bot.security")

#: Default of ``EXPANSION_MAX_REQUEST_BYTES``.
MAX_REQUEST_BYTES = 1024 * 1024
#: Default of ``SLACK_RESPONSE_URL_HOSTS``: where Slack's response_urls point.
SLACK_RESPONSE_URL_HOSTS = ("hooks.slack.com",)
#: Slack rejects requests whose timestamp is further than this from now; so do we.
MAX_CLOCK_SKEW_SECONDS = 5 * 60
#: The context key :class:`RequestCheck` sets once a request is verified.
VERIFIED = "expansion_verified"
# Bolt dispatches a request carrying these headers to one lazy function only (its AWS Lambda
# mechanism, used by bot.workers between processes); never honoured from the network.
_LAZY_ENVIRON_KEYS = ("HTTP_X_SLACK_BOLT_LAZY_ONLY", "HTTP_X_SLACK_BOLT_LAZY_FUNCTION_NAME")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def signature_problem(
    verifier: SignatureVerifier, body: bytes | str, timestamp: str | None, signature: str | None
) -> str | None:
    """``None`` when Slack signed ``body``; else what is wrong with the request (for the log)."""
    if not timestamp:
        return "no X-Slack-Request-Timestamp header"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "X-Slack-Request-Timestamp is not a number"
    if abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        return "X-Slack-Request-Timestamp is more than 5 minutes from now"
    if not signature:
        return "no X-Slack-Signature header"
    try:
        valid = verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except (ValueError, TypeError, UnicodeDecodeError):
        valid = False
    return None if valid else "the signature does not match the body"


def response_url_allowed(url: str, hosts: Iterable[str]) -> bool:
    """True when ``url`` is on one of ``hosts``.

    An entry is a host name (``hooks.slack.com``: https only, any port-less URL on it) or an
    origin (``http://127.0.0.1:8123``: exactly that scheme, host and port).
    """
    try:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return False
    if parts.username is not None or parts.password is not None:
        return False
    for entry in hosts:
        entry = entry.strip().lower().rstrip("/")
        if "://" in entry:
            if origin == entry:
                return True
        elif parts.scheme == "https" and host == entry and port in (None, 443):
            return True
    return False


def _reply(start_response: Callable, status: str, message: str) -> list[bytes]:
    payload = json.dumps({"ok": False, "error": message}).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            # A refused request must not be retried by Slack.
            ("X-Slack-No-Retry", "1"),
        ],
    )
    return [payload]


def _read_bounded(environ: dict, limit: int) -> bytes | None:
    """The request body, or ``None`` when it is longer than ``limit`` (never read past it)."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length_text = (environ.get("CONTENT_LENGTH") or "").strip()
    if length_text:
        if not length_text.isdigit():
            return None
        length = int(length_text)
        if length > limit:
            return None
        return stream.read(length)
    # No length (chunked): the server de-chunked it; read one byte past the limit at most.
    chunks, total = [], 0
    while total <= limit:
        chunk = stream.read(min(64 * 1024, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return None if total > limit else b"".join(chunks)


def guard(
    app: Callable, *, signing_secret: str, path: str, max_bytes: int = MAX_REQUEST_BYTES
) -> Callable:
    """Wrap the Bolt WSGI handler ``app``: size, signature and shape checks on POSTs to
    ``path``, the body limit on every request (see the module docstring)."""
    verifier = SignatureVerifier(signing_secret)

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        for key in _LAZY_ENVIRON_KEYS:
            environ.pop(key, None)
        remote = environ.get("REMOTE_ADDR", "?")
        body = _read_bounded(environ, max_bytes)
        if body is None:
            log.warning(
                "refused a request from %s: body over %s bytes (EXPANSION_MAX_REQUEST_BYTES)",
                remote,
                max_bytes,
            )
            return _reply(
                start_response,
                "413 Payload Too Large",
                f"request body over {max_bytes} bytes",
            )
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != path:
            return app(environ, start_response)
        problem = signature_problem(
            verifier,
            body,
            environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
            environ.get("HTTP_X_SLACK_SIGNATURE"),
        )
        if problem:
            log.warning(
                "refused an unsigned request from %s (%s bytes): %s", remote, len(body), problem
            )
            return _reply(
                start_response,
                "401 Unauthorized",
                f"invalid request signature: {problem}",
            )
        try:
            content_type = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip() or None
            parsed: dict | Exception = parse_body(body.decode("utf-8"), content_type)
        except (ValueError, UnicodeDecodeError) as exc:
            parsed = exc
        if not isinstance(parsed, dict):
            log.warning(
                "refused a signed request from %s: the body is not a Slack payload (%s)",
                remote,
                type(parsed).__name__,
            )
            return _reply(
                start_response,
                "400 Bad Request",
                "the body is not a Slack payload (a form or a JSON object)",
            )
        return app(environ, start_response)

    return application


class RequestCheck(Middleware):
    """Bolt middleware in the ``before_authorize`` slot: verified, then a Slack response_url.

    ``signing_secret`` ``None`` trusts the transport (Socket Mode, or a worker process whose
    requests the HTTP process verified).
    """

    def __init__(self, signing_secret: str | None, response_url_hosts: Iterable[str]) -> None:
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self.hosts = tuple(response_url_hosts)

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        if self.verifier is not None and req.mode == "http":
            problem = signature_problem(
                self.verifier,
                req.raw_body,
                _header(req.headers, "x-slack-request-timestamp"),
                _header(req.headers, "x-slack-signature"),
            )
            if problem:
                log.warning("refused an unsigned request: %s", problem)
                return BoltResponse(status=401, body={"error": "invalid request signature"})
        url = req.context.response_url
        if url and not response_url_allowed(url, self.hosts):
            log.warning(
                "refused a request whose response_url is not on %s (SLACK_RESPONSE_URL_HOSTS)",
                ", ".join(self.hosts),
            )
            return BoltResponse(
                status=400,
                body={"error": "response_url is not Slack's"},
                headers={"X-Slack-No-Retry": "1"},
            )
        req.context[VERIFIED] = True
        return next()


def _header(headers: Mapping[str, Iterable[str]], name: str) -> str | None:
    values = list(headers.get(name) or [])
    return values[0] if values else None
