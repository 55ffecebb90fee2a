"""A local Slack Web API emulator for tests.

`SlackEmulator` runs a small threaded HTTP server on ``127.0.0.1`` (ephemeral port) that answers
the Web API methods the bot uses the way Slack does, closely enough for the real
``slack_sdk.WebClient(base_url=emulator.api_url)`` and bolt-python's ``App`` to work against it,
``files_upload_v2`` included. It records every call, enforces Slack's Block Kit limits (see
``/work/shared/SLACK.md``), and can be told to fail the next calls to a method (rate limits,
server errors, Slack error codes). Several workspaces can share it, each with its own bot token
(``add_workspace``), and ``oauth.v2.access`` exchanges codes registered with
``register_oauth_code`` for a new workspace's bot token, the way an OAuth install does.

Typical use::

    with SlackEmulator() as slack:
        client = WebClient(token=slack.token, base_url=slack.api_url)
        client.chat_postMessage(channel="C1", text="hi")
        assert slack.calls_to("chat.postMessage")[0].params["text"] == "hi"

Only the standard library is used.
"""

from __future__ import annotations

import binascii
import contextlib
import json
import mimetypes
import threading
import time
import traceback
from base64 import b64decode
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import HTTP
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo

from local_server import LocalServer, RoutingHandler

__all__ = [
    "BLOCK_TYPES",
    "ELEMENT_TYPES",
    "MAX_BLOCKS_TEXT_CHARS",
    "MAX_MESSAGE_TEXT_CHARS",
    "Call",
    "Response",
    "SlackEmulator",
    "Upload",
    "blocks_text_length",
    "iter_text_strings",
    "validate_blocks",
]

#: Slack rejects a message whose blocks hold more text than this (``msg_blocks_too_long``).
MAX_BLOCKS_TEXT_CHARS = 12_000
#: Slack rejects (here) a message ``text`` longer than this (``msg_too_long``).
MAX_MESSAGE_TEXT_CHARS = 40_000
#: Blocks allowed in a message / in a Home tab or modal.
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
#: A response_url accepts this many posts.
MAX_RESPONSE_URL_POSTS = 5
#: A trigger id opens one modal, within this many seconds of the interaction.
TRIGGER_SECONDS = 3.0
#: Modal title / close / submit, private_metadata, callback_id lengths.
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
#: Elements that take an accessibility_label, and its length.
LABELLED_ELEMENTS = frozenset({"button", "workflow_button", "icon_button"})
MAX_ACCESSIBILITY_LABEL = 75

BOT_ID = "B0001"
APP_ID = "A0001"
TEAM_NAME = "Example"
TEAM_URL = "https://example.slack.com/"

BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
ELEMENT_TYPES = frozenset(
    {
        "button",
        "channels_select",
        "checkboxes",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "email_text_input",
        "external_select",
        "feedback_buttons",
        "file_input",
        "icon_button",
        "image",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "number_input",
        "overflow",
        "plain_text_input",
        "radio_buttons",
        "rich_text_input",
        "static_select",
        "timepicker",
        "url_text_input",
        "users_select",
        "workflow_button",
    }
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})

#: What an OAuth install grants unless register_oauth_code is told otherwise.
DEFAULT_OAUTH_SCOPES = (
    "commands,chat:write,chat:write.public,users:read,users:read.email,im:write,files:write,"
    "channels:read,groups:read"
)

# Methods authenticated by the app-level token / by the OAuth client id and secret (HTTP Basic
# auth or client_id/client_secret parameters) instead of a bot token.
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
_CLIENT_AUTH_METHODS = frozenset({"oauth.v2.access"})

# Parameters that slack_sdk (or a raw form post) may send as JSON strings.
_JSON_PARAMS = ("blocks", "attachments", "view", "files")
# Elements carrying option objects, with the most options Slack allows.
_OPTION_LIMITS = {
    "static_select": 100,
    "multi_static_select": 100,
    "overflow": 5,
    "radio_buttons": 10,
    "checkboxes": 10,
}


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass
class Call:
    """One Web API call as the emulator saw and answered it.

    ``params`` merges the query string and the body (form, JSON or multipart); parameters named
    blocks/attachments/view/files that arrived as JSON strings are decoded. ``headers`` are the
    request headers with canonical names (``Content-Type``, ``Authorization``). ``response`` is
    the JSON the emulator answered (empty when the answer was not JSON, e.g. a simulated 503).
    ``team_id`` is the workspace of the bot token that authenticated the call; None when no
    known bot token did (app-token and OAuth calls, auth errors, simulated failures).
    """

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    status: int
    response: dict[str, Any] = field(default_factory=dict)
    team_id: str | None = None

    @property
    def ok(self) -> bool:
        """True when the call got HTTP 200 and ``"ok": true``."""
        return self.status == 200 and bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        """The Slack error code answered, if any."""
        error = self.response.get("error")
        return error if isinstance(error, str) else None


@dataclass
class Response:
    """One POST to a response_url: its key, its JSON body and the HTTP status answered."""

    key: str
    body: dict[str, Any]
    status: int = 200


@dataclass
class Upload:
    """A file shared through files.getUploadURLExternal + upload + files.completeUploadExternal.

    ``content`` holds the exact bytes POSTed to the upload URL (the file part for multipart).
    """

    file_id: str
    filename: str
    title: str
    content: bytes
    channel_id: str | None
    thread_ts: str | None
    initial_comment: str | None

    @property
    def text(self) -> str:
        """The content decoded as UTF-8."""
        return self.content.decode("utf-8")


@dataclass
class _Reply:
    """An HTTP answer: status, body, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_json(cls, payload: dict[str, Any], status: int = 200, **headers: str) -> _Reply:
        """A JSON reply."""
        body = json.dumps(payload).encode("utf-8")
        return cls(status, body, headers=dict(headers), payload=payload)

    @classmethod
    def of_text(cls, text: str, status: int = 200, content_type: str = "text/plain") -> _Reply:
        """A plain-text (or HTML) reply."""
        return cls(status, text.encode("utf-8"), content_type=f"{content_type}; charset=utf-8")


@dataclass
class _Failure:
    """A planned failure for one call."""

    status: int
    retry_after: int
    error: str | None


@dataclass
class _PendingUpload:
    """A file announced by files.getUploadURLExternal, maybe already uploaded."""

    filename: str
    length: int
    content: bytes | None = None


@dataclass
class _OAuthCode:
    """A code register_oauth_code made exchangeable (once) through oauth.v2.access."""

    client_id: str
    team_id: str
    team_name: str
    bot_token: str
    user_id: str
    scopes: str


class SlackError(Exception):
    """Raised by a method handler to answer ``{"ok": false, "error": ...}`` (HTTP 200)."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


# --------------------------------------------------------------------------------------------
# Block Kit validation
# --------------------------------------------------------------------------------------------


def iter_text_strings(value: Any) -> Iterator[str]:
    """Every string under a ``"text"`` key in blocks (or any JSON value), in document order."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                yield item
            else:
                yield from iter_text_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_text_strings(item)


def blocks_text_length(value: Any) -> int:
    """Total characters of every string under a ``"text"`` key, recursively."""
    return sum(len(text) for text in iter_text_strings(value))


def validate_blocks(blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Check ``blocks`` against Slack's Block Kit limits.

    Returns human-readable problems (empty when Slack would accept the blocks), each ending with
    a ``[json-pointer:/blocks/...]`` location like Slack's own messages. Structural problems make
    Slack answer ``invalid_blocks``; a total text length above ``MAX_BLOCKS_TEXT_CHARS`` makes it
    answer ``msg_blocks_too_long`` (reported here as a problem starting with that code).
    """
    problems = _BlockValidator().run(blocks, max_blocks=max_blocks)
    total = blocks_text_length(blocks)
    if total > MAX_BLOCKS_TEXT_CHARS:
        problems.append(
            f"msg_blocks_too_long: blocks hold {total} characters of text, "
            f"more than {MAX_BLOCKS_TEXT_CHARS} [json-pointer:/blocks]"
        )
    return problems


class _BlockValidator:
    """Walks a list of blocks and collects problems."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.block_ids: set[str] = set()
        self.action_ids: set[str] = set()

    def add(self, path: str, message: str) -> None:
        """Record one problem at a JSON pointer."""
        self.problems.append(f"{message} [json-pointer:{path}]")

    def run(self, blocks: Any, *, max_blocks: int, root: str = "/blocks") -> list[str]:
        """Validate a blocks array and return the problems found."""
        if not isinstance(blocks, list):
            self.add(root, "blocks must be an array")
            return self.problems
        if len(blocks) > max_blocks:
            self.add(root, f"must contain at most {max_blocks} blocks (found {len(blocks)})")
        for index, block in enumerate(blocks):
            self.block(block, f"{root}/{index}")
        return self.problems

    # -- helpers -----------------------------------------------------------------------------

    def length(self, value: Any, path: str, what: str, limit: int) -> None:
        """Check that an optional string is a string of at most ``limit`` characters."""
        if value is None:
            return
        if not isinstance(value, str):
            self.add(path, f"{what} must be a string")
        elif len(value) > limit:
            self.add(path, f"{what} must be at most {limit} characters (found {len(value)})")

    def unique_id(self, value: Any, path: str, what: str, seen: set[str]) -> None:
        """Check a block_id / action_id: a string of at most 255 characters, not repeated."""
        if value is None:
            return
        if not isinstance(value, str) or not value:
            self.add(path, f"{what} must be a non-empty string")
            return
        if len(value) > 255:
            self.add(path, f"{what} must be at most 255 characters (found {len(value)})")
        if value in seen:
            self.add(path, f"duplicate {what} {value!r}")
        seen.add(value)

    def text_object(
        self,
        obj: Any,
        path: str,
        what: str,
        limit: int,
        *,
        plain_only: bool = False,
        required: bool = True,
    ) -> None:
        """Check a plain_text / mrkdwn text object."""
        if obj is None:
            if required:
                self.add(path, f"{what} is required")
            return
        if not isinstance(obj, dict):
            self.add(path, f"{what} must be a text object")
            return
        kind = obj.get("type")
        if kind not in TEXT_TYPES:
            self.add(f"{path}/type", f"{what} has unknown text type {kind!r}")
        elif plain_only and kind != "plain_text":
            self.add(f"{path}/type", f"{what} must be plain_text, not {kind}")
        text = obj.get("text")
        if not isinstance(text, str):
            self.add(f"{path}/text", f'{what} is missing "text"')
        elif not text:
            self.add(f"{path}/text", f"{what} must be more than 0 characters")
        elif len(text) > limit:
            self.add(
                f"{path}/text", f"{what} must be at most {limit} characters (found {len(text)})"
            )

    def items(self, value: Any, path: str, what: str, limit: int) -> list[Any]:
        """Check that ``value`` is an array of at most ``limit`` items and return it."""
        if not isinstance(value, list):
            self.add(path, f"{what} must be an array")
            return []
        if len(value) > limit:
            self.add(path, f"{what} must have at most {limit} items (found {len(value)})")
        return value

    # -- blocks ------------------------------------------------------------------------------

    def block(self, block: Any, path: str) -> None:
        """Check one block."""
        if not isinstance(block, dict):
            self.add(path, "block must be an object")
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.add(f"{path}/type", f"unknown block type {kind!r}")
            return
        self.unique_id(block.get("block_id"), f"{path}/block_id", "block_id", self.block_ids)
        check = getattr(self, f"block_{kind}", None)
        if check is not None:
            check(block, path)

    def block_section(self, block: dict[str, Any], path: str) -> None:
        """section: text 3000, fields 10 x 2000, optional accessory."""
        if "text" not in block and "fields" not in block:
            self.add(path, "section must have text or fields")
        self.text_object(block.get("text"), f"{path}/text", "section text", 3000, required=False)
        if "fields" in block:
            fields = self.items(block["fields"], f"{path}/fields", "section fields", 10)
            for index, item in enumerate(fields):
                self.text_object(item, f"{path}/fields/{index}", "section field", 2000)
        if "accessory" in block:
            self.element(block["accessory"], f"{path}/accessory")

    def block_header(self, block: dict[str, Any], path: str) -> None:
        """header: plain_text of at most 150 characters."""
        self.text_object(block.get("text"), f"{path}/text", "header text", 150, plain_only=True)

    def block_context(self, block: dict[str, Any], path: str) -> None:
        """context: at most 10 image / text elements."""
        elements = self.items(block.get("elements"), f"{path}/elements", "context elements", 10)
        for index, element in enumerate(elements):
            where = f"{path}/elements/{index}"
            if isinstance(element, dict) and element.get("type") in TEXT_TYPES:
                self.text_object(element, where, "context text", 3000)
            elif isinstance(element, dict) and element.get("type") == "image":
                self.element(element, where)
            else:
                kind = element.get("type") if isinstance(element, dict) else None
                self.add(where, f"unknown context element type {kind!r}")

    def block_actions(self, block: dict[str, Any], path: str) -> None:
        """actions: at most 25 interactive elements."""
        elements = self.items(block.get("elements"), f"{path}/elements", "actions elements", 25)
        for index, element in enumerate(elements):
            self.element(element, f"{path}/elements/{index}")

    def block_image(self, block: dict[str, Any], path: str) -> None:
        """image block: image_url or slack_file, alt_text, optional title."""
        self.image(block, path)
        self.text_object(block.get("title"), f"{path}/title", "image title", 2000, required=False)

    def block_input(self, block: dict[str, Any], path: str) -> None:
        """input: plain_text label 2000, one element, optional hint 2000."""
        self.text_object(block.get("label"), f"{path}/label", "input label", 2000, plain_only=True)
        self.text_object(block.get("hint"), f"{path}/hint", "input hint", 2000, required=False)
        if "element" not in block:
            self.add(f"{path}/element", "input element is required")
        else:
            self.element(block["element"], f"{path}/element")

    def block_markdown(self, block: dict[str, Any], path: str) -> None:
        """markdown: text of at most 12000 characters."""
        text = block.get("text")
        if not isinstance(text, str) or not text:
            self.add(f"{path}/text", "markdown text is required")
        else:
            self.length(text, f"{path}/text", "markdown text", 12_000)

    def block_rich_text(self, block: dict[str, Any], path: str) -> None:
        """rich_text: an array of elements (not checked further)."""
        self.items(block.get("elements"), f"{path}/elements", "rich_text elements", 10_000)

    # -- elements ----------------------------------------------------------------------------

    def image(self, obj: dict[str, Any], path: str) -> None:
        """image block or element: image_url (3000) or slack_file, and alt_text (2000)."""
        if "image_url" not in obj and "slack_file" not in obj:
            self.add(path, "image needs image_url or slack_file")
        self.length(obj.get("image_url"), f"{path}/image_url", "image_url", 3000)
        alt_text = obj.get("alt_text")
        if not isinstance(alt_text, str) or not alt_text:
            self.add(f"{path}/alt_text", "image alt_text is required")
        else:
            self.length(alt_text, f"{path}/alt_text", "image alt_text", 2000)

    def element(self, element: Any, path: str) -> None:
        """Check one interactive (or image) element."""
        if not isinstance(element, dict):
            self.add(path, "element must be an object")
            return
        kind = element.get("type")
        if kind not in ELEMENT_TYPES:
            self.add(f"{path}/type", f"unknown element type {kind!r}")
            return
        action_id = element.get("action_id")
        self.unique_id(action_id, f"{path}/action_id", "action_id", self.action_ids)
        if "accessibility_label" in element:
            if kind not in LABELLED_ELEMENTS:
                self.add(f"{path}/accessibility_label", f"{kind} takes no accessibility_label")
            label = element["accessibility_label"]
            if not isinstance(label, str) or not label:
                self.add(f"{path}/accessibility_label", "accessibility_label must be a string")
            else:
                self.length(
                    label,
                    f"{path}/accessibility_label",
                    "accessibility_label",
                    MAX_ACCESSIBILITY_LABEL,
                )
        if "confirm" in element:
            self.confirm(element["confirm"], f"{path}/confirm")
        if "placeholder" in element:
            self.text_object(element["placeholder"], f"{path}/placeholder", "placeholder", 150)
        if kind == "image":
            self.image(element, path)
        elif kind in ("button", "workflow_button"):
            self.text_object(
                element.get("text"), f"{path}/text", "button text", 75, plain_only=True
            )
            self.length(element.get("value"), f"{path}/value", "button value", 2000)
            self.length(element.get("url"), f"{path}/url", "button url", 3000)
        if kind in _OPTION_LIMITS:
            self.options_element(element, kind, path)

    def options_element(self, element: dict[str, Any], kind: str, path: str) -> None:
        """Check the options / option_groups of a select, overflow, radio or checkboxes."""
        limit = _OPTION_LIMITS[kind]
        if "options" in element:
            options = self.items(element["options"], f"{path}/options", f"{kind} options", limit)
            if not options:
                self.add(f"{path}/options", f"{kind} options must not be empty")
            for index, option in enumerate(options):
                self.option(option, f"{path}/options/{index}")
        elif "option_groups" in element and kind.endswith("static_select"):
            groups = self.items(element["option_groups"], f"{path}/option_groups", "groups", 100)
            for index, group in enumerate(groups):
                where = f"{path}/option_groups/{index}"
                if not isinstance(group, dict):
                    self.add(where, "option group must be an object")
                    continue
                label = group.get("label")
                self.text_object(label, f"{where}/label", "group label", 75, plain_only=True)
                options = self.items(group.get("options"), f"{where}/options", "group options", 100)
                for number, option in enumerate(options):
                    self.option(option, f"{where}/options/{number}")
        else:
            self.add(path, f"{kind} needs options")
        if "initial_option" in element:
            self.option(element["initial_option"], f"{path}/initial_option")
        for index, option in enumerate(element.get("initial_options") or []):
            self.option(option, f"{path}/initial_options/{index}")

    def option(self, option: Any, path: str) -> None:
        """option object: text 75, value 150, description 75, url 3000."""
        if not isinstance(option, dict):
            self.add(path, "option must be an object")
            return
        self.text_object(option.get("text"), f"{path}/text", "option text", 75)
        value = option.get("value")
        if value is None:
            self.add(f"{path}/value", "option value is required")
        self.length(value, f"{path}/value", "option value", 150)
        description = option.get("description")
        self.text_object(
            description, f"{path}/description", "option description", 75, required=False
        )
        self.length(option.get("url"), f"{path}/url", "option url", 3000)

    def confirm(self, confirm: Any, path: str) -> None:
        """confirmation dialog: title 100, text 300, confirm 30, deny 30."""
        if not isinstance(confirm, dict):
            self.add(path, "confirm must be an object")
            return
        self.text_object(
            confirm.get("title"), f"{path}/title", "confirm title", 100, plain_only=True
        )
        self.text_object(confirm.get("text"), f"{path}/text", "confirm text", 300)
        for key in ("confirm", "deny"):
            self.text_object(
                confirm.get(key), f"{path}/{key}", f"confirm {key}", 30, plain_only=True
            )


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


def _header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split a header like ``multipart/form-data; boundary=x`` into its value and params."""
    message = Message()
    message["content-type"] = value
    params = message.get_params() or []
    main = params[0][0].lower() if params else ""
    return main, {key.lower(): str(val) for key, val in params[1:]}


def _parse_multipart(body: bytes, boundary: str) -> dict[str, Any]:
    """Parse a multipart/form-data body: text fields become str, file parts stay bytes."""
    fields: dict[str, Any] = {}
    delimiter = b"--" + boundary.encode("latin-1")
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n")
        head, _, data = chunk.partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = BytesHeaderParser(policy=HTTP).parsebytes(head + b"\r\n\r\n")
        disposition = headers.get("content-disposition", "")
        _, params = _header_params(f"x/x; {disposition.partition(';')[2]}")
        name = params.get("name", "")
        if "filename" in params:
            fields[name] = data
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields


def _canonical_header(name: str) -> str:
    """``content-type`` / ``Content-type`` -> ``Content-Type``."""
    return "-".join(part.capitalize() for part in name.split("-"))


def _first_file_part(body: bytes, boundary: str) -> bytes:
    """The content of the ``file`` part (or the first binary part) of a multipart body."""
    fields = _parse_multipart(body, boundary)
    if isinstance(fields.get("file"), bytes):
        return fields["file"]
    for value in fields.values():
        if isinstance(value, bytes):
            return value
    return body


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its emulator."""

    daemon_threads = True

    def __init__(self, emulator: SlackEmulator) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.emulator = emulator


class _Handler(RoutingHandler):
    """Routes requests to the emulator."""

    server: _Server
    protocol_version = "HTTP/1.0"
    server_version = "SlackEmulator/1.0"

    def _read_body(self) -> bytes:
        """Read the request body (Content-Length or chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _route(self, verb: str) -> None:
        """Dispatch on the path and write the reply."""
        emulator = self.server.emulator
        try:
            split = urlsplit(self.path)
            path = unquote(split.path)
            body = self._read_body() if verb == "POST" else b""
            headers = {_canonical_header(name): value for name, value in self.headers.items()}
            content_type = self.headers.get("Content-Type", "")
            if path.startswith("/api/"):
                method = path.removeprefix("/api/")
                reply = emulator._handle_api(method, split.query, body, content_type, headers)
            elif path.startswith("/upload/") and verb == "POST":
                reply = emulator._handle_upload(path.removeprefix("/upload/"), body, content_type)
            elif path.startswith("/response/") and verb == "POST":
                reply = emulator._handle_response_url(
                    path.removeprefix("/response/"), body, content_type
                )
            else:
                reply = _Reply.of_text("not found", 404)
        except Exception:
            trace = traceback.format_exc()
            with emulator._lock:
                emulator._errors.append(trace)
            reply = _Reply.of_text(f"emulator error:\n{trace}", 500)
        self._write(reply)

    def _write(self, reply: _Reply) -> None:
        """Send a reply."""
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)


# --------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------


class SlackEmulator(LocalServer):
    """A local Slack Web API (plus upload and response_url endpoints) for tests.

    Start it (``start()`` or ``with``), point ``WebClient(base_url=emulator.api_url)`` at it,
    then inspect ``calls``, ``messages``, ``responses``, ``uploads`` and ``home_views``. All
    recorded state is guarded by a lock; the server handles each request in a daemon thread.

    ``token`` / ``team_id`` are the first workspace's bot token and id; ``tokens`` maps every
    accepted bot token to its workspace (see ``add_workspace`` and ``register_oauth_code``).
    """

    def __init__(
        self,
        *,
        token: str = "xoxb-test",
        team_id: str = "T0001",
        bot_user_id: str = "UBOT",
        app_token: str = "xapp-test",
    ) -> None:
        self.token = token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.app_token = app_token
        # Every accepted bot token -> its workspace's team id.
        self.tokens: dict[str, str] = {token: team_id}
        self.calls: list[Call] = []
        self.responses: list[Response] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        # Open modals by view id, and the trigger ids handed out (id -> when; None once used).
        self.modals: dict[str, dict[str, Any]] = {}
        self._triggers: dict[str, float | None] = {}
        self.uploads: list[Upload] = []
        self.users: dict[str, dict[str, Any]] = {}
        # chat.postMessage to these channels fails with the given error (e.g. not_in_channel).
        self.channel_errors: dict[str, str] = {}
        # What conversations.info says of a channel beyond the defaults (see set_channel).
        self.channels: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._team_names: dict[str, str] = {team_id: TEAM_NAME}
        self._oauth_clients: dict[str, str] = {}  # client id -> client secret
        self._oauth_codes: dict[str, _OAuthCode] = {}  # codes not exchanged yet
        # The workspace of the bot token of the call being answered (handlers run under the lock).
        self._caller_team: str | None = None
        self._failures: dict[str, deque[_Failure]] = {}
        self._pending: dict[str, _PendingUpload] = {}
        self._errors: list[str] = []
        self._ts_seq = 0
        self._id_seq = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "apps.connections.open": self._apps_connections_open,
            "oauth.v2.access": self._oauth_v2_access,
        }
        self._add_user(bot_user_id, email=None, name="bot", tz="UTC", is_admin=False, bot=True)

    # -- lifecycle ---------------------------------------------------------------------------

    server_name = "slack-emulator"

    def _make_server(self) -> _Server:
        return _Server(self)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:<port>/api/``: the base_url for WebClient / SLACK_API_URL."""
        return f"{self.url}/api/"

    def response_url(self, key: str = "r1") -> str:
        """A response_url to put in signed slash-command / interaction payloads."""
        return f"{self.url}/response/{key}"

    # -- test set-up -------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        email: str | None = None,
        name: str = "",
        tz: str = "America/New_York",
        is_admin: bool = False,
    ) -> None:
        """Register a workspace member for users.info / users.lookupByEmail."""
        self._add_user(user_id, email=email, name=name, tz=tz, is_admin=is_admin, bot=False)

    def add_workspace(self, team_id: str, token: str, *, team_name: str | None = None) -> None:
        """Accept bot token ``token`` for workspace ``team_id`` (named ``team_name``).

        Calls made with it answer for that workspace: auth.test's ``team_id`` / ``team``, the
        ``team`` of posted messages, ``Call.team_id``. A workspace may have several tokens; the
        name defaults to the one it already has, else to the team id. A token cannot move to
        another workspace, and the app-level token is not a bot token (ValueError).
        """
        with self._lock:
            self._check_bot_token(team_id, token)
            self.tokens[token] = team_id
            if team_name is not None:
                self._team_names[team_id] = team_name
            else:
                self._team_names.setdefault(team_id, team_id)

    def register_oauth_code(
        self,
        code: str,
        *,
        team_id: str,
        team_name: str = "",
        bot_token: str,
        user_id: str = "UINSTALLER",
        scopes: str = DEFAULT_OAUTH_SCOPES,
        client_id: str = "111.222",
        client_secret: str = "oauth-secret",
    ) -> None:
        """Let oauth.v2.access exchange ``code`` (once) for an install into ``team_id``.

        The exchange needs the app's ``client_id`` / ``client_secret`` (HTTP Basic auth, as
        slack_sdk sends them, or form parameters); it answers ``bot_token`` with ``scopes`` and
        ``user_id`` as the installing user, and registers the workspace like ``add_workspace``.
        One client id has one secret: registering it with another raises ValueError.
        """
        if not code:
            raise ValueError("register_oauth_code needs a code")
        with self._lock:
            self._check_bot_token(team_id, bot_token)
            if self._oauth_clients.get(client_id, client_secret) != client_secret:
                raise ValueError(f"client id {client_id!r} already has another secret")
            self._oauth_clients[client_id] = client_secret
            self._oauth_codes[code] = _OAuthCode(
                client_id=client_id,
                team_id=team_id,
                team_name=team_name,
                bot_token=bot_token,
                user_id=user_id,
                scopes=scopes,
            )

    def _check_bot_token(self, team_id: str, token: str) -> None:
        """ValueError unless ``token`` can be (or already is) a bot token of ``team_id``."""
        if not team_id or not token:
            raise ValueError("a workspace needs a team id and a bot token")
        if token == self.app_token or self.tokens.get(token, team_id) != team_id:
            raise ValueError(f"token {token!r} is already used elsewhere")

    def _add_user(
        self, user_id: str, *, email: str | None, name: str, tz: str, is_admin: bool, bot: bool
    ) -> None:
        """Build a Slack user object (the time zone must exist)."""
        offset = datetime.now(ZoneInfo(tz)).utcoffset()
        display = name or user_id.lower()
        profile: dict[str, Any] = {
            "real_name": display,
            "real_name_normalized": display,
            "display_name": display,
            "display_name_normalized": display,
        }
        if email is not None:
            profile["email"] = email
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": display,
            "deleted": False,
            "real_name": display,
            "tz": tz,
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": profile,
            "is_admin": is_admin,
            "is_owner": False,
            "is_bot": bot,
            "is_app_user": False,
        }
        with self._lock:
            self.users[user_id] = user

    def set_channel(
        self, channel_id: str, *, is_ext_shared: bool = False, is_private: bool = False
    ) -> None:
        """How conversations.info describes ``channel_id``: shared with another organisation
        (Slack Connect) or not, private or public. A channel never set is a public channel of
        the workspace, not shared."""
        with self._lock:
            self.channels[channel_id] = {"is_ext_shared": is_ext_shared, "is_private": is_private}

    def trigger_id(self) -> str:
        """A fresh trigger id for an interaction payload: ``views.open`` accepts it once, within
        :data:`TRIGGER_SECONDS` of now, as Slack does."""
        with self._lock:
            self._id_seq += 1
            trigger = f"{self._id_seq}.{int(time.time())}.{self._id_seq:032x}"
            self._triggers[trigger] = time.monotonic()
        return trigger

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        count: int = 1,
        error: str | None = None,
    ) -> None:
        """Make the next ``count`` calls to ``method`` fail.

        429 answers ``Retry-After: retry_after`` and ``{"ok": false, "error": "ratelimited"}``;
        5xx answers an HTML body; 200 needs ``error`` and answers ``{"ok": false, "error": ...}``;
        other statuses answer JSON with ``error`` (or ``"request_failed"``). Plans queue up.
        """
        if status == 200 and not error:
            raise ValueError("fail_next(status=200) needs an error code, e.g. 'channel_not_found'")
        if count < 1 or not 100 <= status <= 599:
            raise ValueError("count must be >= 1 and status a valid HTTP status")
        with self._lock:
            queue = self._failures.setdefault(method, deque())
            queue.extend(_Failure(status, retry_after, error) for _ in range(count))

    def reset(self) -> None:
        """Forget calls, responses, messages, views, uploads and failure plans.

        Users, workspaces (with their tokens) and OAuth codes not exchanged yet are kept.
        """
        with self._lock:
            self.calls.clear()
            self.responses.clear()
            self.messages.clear()
            self.home_views.clear()
            self.modals.clear()
            self._triggers.clear()
            self.uploads.clear()
            self._failures.clear()
            self._pending.clear()
            self._errors.clear()

    # -- inspection --------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        """Every call (successful or not) to a Web API method, in order."""
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def responses_to(self, key: str) -> list[Response]:
        """Every POST to ``response_url(key)``, in order."""
        with self._lock:
            return [response for response in self.responses if response.key == key]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll ``predicate`` until true; else raise AssertionError listing what was seen."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return
            if time.monotonic() >= deadline:
                raise AssertionError(f"condition not met within {timeout}s\n{self.describe()}")
            time.sleep(0.01)

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until ``method`` was called at least ``count`` times; return those calls."""
        self.wait_for(lambda: len(self.calls_to(method)) >= count, timeout)
        return self.calls_to(method)

    def wait_for_responses(self, key: str, count: int = 1, timeout: float = 5.0) -> list[Response]:
        """Wait until ``response_url(key)`` got at least ``count`` posts; return them."""
        self.wait_for(lambda: len(self.responses_to(key)) >= count, timeout)
        return self.responses_to(key)

    def describe(self) -> str:
        """A readable summary of the calls and response_url posts seen so far."""
        with self._lock:
            lines = [f"calls seen ({len(self.calls)}):"]
            for call in self.calls:
                outcome = "ok" if call.ok else (call.error or "failed")
                lines.append(f"  {call.method} -> {call.status} {outcome}  {_brief(call.params)}")
            lines.append(f"response_url posts ({len(self.responses)}):")
            for response in self.responses:
                lines.append(f"  {response.key} -> {response.status}  {_brief(response.body)}")
            for error in self._errors:
                lines.append(f"emulator error: {error}")
        return "\n".join(lines)

    # -- request handling (called from server threads) ---------------------------------------

    def _parse_params(self, query: str, body: bytes, content_type: str) -> dict[str, Any]:
        """Merge query-string and body parameters; decode JSON-string params."""
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        kind, options = _header_params(content_type) if content_type else ("", {})
        if body:
            if kind == "application/json":
                decoded = json.loads(body.decode(options.get("charset", "utf-8")))
                if not isinstance(decoded, dict):
                    raise ValueError("a JSON body must be an object")
                params.update(decoded)
            elif kind == "multipart/form-data" and "boundary" in options:
                params.update(_parse_multipart(body, options["boundary"]))
            else:
                params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        _decode_json_params(params)
        return params

    def _handle_api(
        self, method: str, query: str, body: bytes, content_type: str, headers: dict[str, str]
    ) -> _Reply:
        """Answer one Web API call and record it."""
        params: dict[str, Any] = {}
        parse_error = None
        try:
            params = self._parse_params(query, body, content_type)
        except ValueError:  # bad JSON, bad UTF-8
            parse_error = "invalid_json" if "json" in content_type else "invalid_form_data"
        with self._lock:
            queue = self._failures.get(method)
            failure = queue.popleft() if queue else None
            team_id: str | None = None
            if failure is not None:
                reply = _failure_reply(failure)
            elif parse_error is not None:
                reply = _Reply.of_json({"ok": False, "error": parse_error})
            elif method not in self._methods:
                reply = _Reply.of_json({"ok": False, "error": "unknown_method"}, 404)
            else:
                reply, team_id = self._call_method(method, params, headers)
            call = Call(method, params, headers, reply.status, reply.payload, team_id)
            self.calls.append(call)
        return reply

    def _call_method(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[_Reply, str | None]:
        """Authenticate the call, then run the method handler.

        Returns the reply and the workspace of the bot token used (None for app-token and
        OAuth client calls, and when authentication failed).
        """
        authorization = next(
            (value for name, value in headers.items() if name.lower() == "authorization"), ""
        )
        token = authorization[7:].strip() if authorization.startswith("Bearer ") else ""
        token = token or str(params.get("token") or "")
        team_id: str | None = None
        try:
            if method in _CLIENT_AUTH_METHODS:
                # Checked by the handler; HTTP Basic credentials win over form parameters.
                params = {**params, **_basic_credentials(authorization)}
            elif not token:
                raise SlackError("not_authed")
            elif method in _APP_TOKEN_METHODS:
                if token != self.app_token:
                    raise SlackError("invalid_auth")
            elif token not in self.tokens:
                raise SlackError("invalid_auth")
            else:
                team_id = self.tokens[token]
            self._caller_team = team_id
            try:
                payload = {"ok": True, **self._methods[method](params)}
            finally:
                self._caller_team = None
        except SlackError as failure:
            payload = {"ok": False, "error": failure.error, **failure.extra}
        return _Reply.of_json(payload), team_id

    def _handle_upload(self, file_id: str, body: bytes, content_type: str) -> _Reply:
        """Store the bytes POSTed to an upload URL (raw body or a multipart file part)."""
        kind, options = _header_params(content_type) if content_type else ("", {})
        content = body
        if kind == "multipart/form-data" and "boundary" in options:
            content = _first_file_part(body, options["boundary"])
        with self._lock:
            pending = self._pending.get(file_id)
            if pending is None:
                return _Reply.of_text("file_not_found", 404)
            pending.content = content
        return _Reply.of_text(f"OK - {len(content)}")

    def _handle_response_url(self, key: str, body: bytes, content_type: str) -> _Reply:
        """Record a response_url post, validating it like Slack."""
        kind, _ = _header_params(content_type) if content_type else ("", {})
        try:
            if kind == "application/x-www-form-urlencoded":
                body = dict(parse_qsl(body.decode("utf-8"))).get("payload", "").encode("utf-8")
            payload = json.loads(body.decode("utf-8"))
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            with self._lock:
                self.responses.append(Response(key, {"_raw": body.decode("utf-8", "replace")}, 400))
            return _Reply.of_text("invalid_payload", 400)
        _decode_json_params(payload)
        error = _message_error(payload, require_text=not payload.get("delete_original"))
        with self._lock:
            used = sum(1 for r in self.responses if r.key == key and r.status == 200)
            if used >= MAX_RESPONSE_URL_POSTS:
                error, status = "used_url", 404
            else:
                status = 400 if error else 200
            self.responses.append(Response(key, payload, status))
        return _Reply.of_text(error or "ok", status)

    # -- ids ---------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        """An increasing message timestamp like ``1700000000.000100``."""
        with self._lock:
            self._ts_seq += 100
            seconds, micros = divmod(self._ts_seq, 1_000_000)
        return f"{1_700_000_000 + seconds}.{micros:06d}"

    def _next_id(self, prefix: str) -> str:
        """A fresh Slack-like id such as ``F00000001``."""
        with self._lock:
            self._id_seq += 1
            return f"{prefix}{self._id_seq:08d}"

    # -- Web API methods (run under the lock; raise SlackError for ok=false) -----------------

    @property
    def _team(self) -> str:
        """The workspace of the bot token of the call being answered."""
        return self._caller_team or self.team_id

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        """auth.test: who the token belongs to (its own workspace)."""
        return {
            "url": TEAM_URL,
            "team": self._team_names.get(self._team, self._team),
            "user": "bot",
            "team_id": self._team,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """chat.postMessage: store the message under (channel, ts)."""
        channel = _required(params, "channel", "channel_not_found")
        if channel in self.channel_errors:
            raise SlackError(self.channel_errors[channel])
        _raise_message_error(params)
        self._check_slack_files(params.get("blocks") or [])
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": self._team,
            "ts": ts,
            "text": str(params.get("text") or ""),
            "blocks": params.get("blocks") or [],
            "thread_ts": _optional_str(params.get("thread_ts")),
        }
        if params.get("attachments"):
            message["attachments"] = params["attachments"]
        self.messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": _without_none(message)}

    def _check_slack_files(self, blocks: list[Any]) -> None:
        """An image block's ``slack_file`` must name a file uploaded (completed) here: Slack
        answers ``invalid_blocks`` for a file it does not have."""
        known = {u.file_id for u in self.uploads}
        for index, block in enumerate(blocks):
            file = block.get("slack_file") if isinstance(block, dict) else None
            if isinstance(file, dict) and file.get("id") not in known:
                raise SlackError(
                    "invalid_blocks",
                    errors=[f"invalid slack file [json-pointer:/blocks/{index}/slack_file]"],
                )

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        """chat.postEphemeral: nothing is stored beyond the call itself."""
        _required(params, "channel", "channel_not_found")
        _required(params, "user", "user_not_found")
        _raise_message_error(params)
        return {"message_ts": self._next_ts()}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        """chat.update: replace text (and blocks when given) of a stored message."""
        channel = _required(params, "channel", "channel_not_found")
        ts = _required(params, "ts", "message_not_found")
        message = self.messages.get((channel, ts))
        if message is None:
            raise SlackError("message_not_found")
        _raise_message_error(params)
        updated = dict(message)
        if "text" in params:
            updated["text"] = str(params.get("text") or "")
        if "blocks" in params:
            updated["blocks"] = params.get("blocks") or []
        if "attachments" in params:
            updated["attachments"] = params["attachments"]
        updated["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        self.messages[(channel, ts)] = updated
        return {
            "channel": channel,
            "ts": ts,
            "text": updated["text"],
            "message": _without_none(updated),
        }

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        """chat.getPermalink: a link to a stored message."""
        channel = _required(params, "channel", "channel_not_found")
        ts = _required(params, "message_ts", "message_not_found")
        if (channel, ts) not in self.messages:
            raise SlackError("message_not_found")
        permalink = f"{TEAM_URL}archives/{channel}/p{ts.replace('.', '')}"
        return {"channel": channel, "permalink": permalink}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """conversations.open: ``D<user_id>`` for one user, ``G...`` for several."""
        if params.get("channel"):
            return {"channel": {"id": str(params["channel"])}}
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("users_list_not_supplied")
        channel_id = f"D{users[0]}" if len(users) == 1 else "G" + "".join(sorted(users))[:20]
        return {"channel": {"id": channel_id}}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        """conversations.info: a channel (``C``/``G``: as :meth:`set_channel` made it, else a
        public channel of the workspace) or a direct message (``D``); anything else is
        ``channel_not_found``."""
        channel = _required(params, "channel", "channel_not_found")
        if channel.startswith("D"):
            return {
                "channel": {
                    "id": channel,
                    "is_im": True,
                    "is_channel": False,
                    "is_private": True,
                    "is_ext_shared": False,
                    "is_shared": False,
                    "user": channel[1:],
                }
            }
        if channel[:1] not in ("C", "G") or not channel[1:].isalnum():
            raise SlackError("channel_not_found")
        kind = self.channels.get(channel, {})
        shared = bool(kind.get("is_ext_shared"))
        private = bool(kind.get("is_private"))
        return {
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_channel": not private,
                "is_group": private,
                "is_im": False,
                "is_mpim": False,
                "is_private": private,
                "is_archived": False,
                "is_general": False,
                "is_shared": shared,
                "is_ext_shared": shared,
                "is_org_shared": False,
                "is_pending_ext_shared": False,
                "is_member": True,
                "context_team_id": self._team,
                "created": 1_700_000_000,
            }
        }

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        """users.info: a registered user (see add_user)."""
        user = self.users.get(str(params.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": json.loads(json.dumps(user))}

    def _users_lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        """users.lookupByEmail: case-insensitive match on profile.email."""
        email = str(params.get("email") or "").lower()
        for user in self.users.values():
            if email and str(user["profile"].get("email", "")).lower() == email:
                return {"user": json.loads(json.dumps(user))}
        raise SlackError("users_not_found")

    def _view_as_stored(self, view: dict[str, Any], view_id: str) -> dict[str, Any]:
        """A view as Slack returns it: the fields it adds to what the app sent."""
        return {
            **view,
            "id": view_id,
            "team_id": self._team,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "hash": f"{self._next_ts()}.{view_id}",
            "root_view_id": view_id,
            "previous_view_id": None,
            "state": {"values": {}},
        }

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        """views.publish: validate and keep the user's Home tab."""
        user_id = str(params.get("user_id") or "")
        view = params.get("view")
        if not user_id or not isinstance(view, dict) or view.get("type") != "home":
            raise SlackError("invalid_arguments")
        problems = _BlockValidator().run(
            view.get("blocks"), max_blocks=MAX_VIEW_BLOCKS, root="/view/blocks"
        )
        if problems:
            raise SlackError("invalid_blocks", **_problem_details(problems))
        previous = self.home_views.get(user_id)
        view_id = previous["id"] if previous else self._next_id("V")
        published = self._view_as_stored(view, view_id)
        self.home_views[user_id] = published
        return {"view": published}

    def _check_modal(self, view: Any) -> None:
        """A modal view as Slack checks it: type, title/close/submit, metadata, 100 blocks."""
        if not isinstance(view, dict) or view.get("type") != "modal":
            raise SlackError("invalid_arguments")
        validator = _BlockValidator()
        validator.text_object(
            view.get("title"), "/view/title", "title", MAX_VIEW_TITLE, plain_only=True
        )
        for key in ("close", "submit"):
            validator.text_object(
                view.get(key), f"/view/{key}", key, MAX_VIEW_TITLE, plain_only=True, required=False
            )
        validator.length(
            view.get("private_metadata"),
            "/view/private_metadata",
            "private_metadata",
            MAX_PRIVATE_METADATA,
        )
        validator.length(view.get("callback_id"), "/view/callback_id", "callback_id", 255)
        problems = validator.run(
            view.get("blocks"), max_blocks=MAX_VIEW_BLOCKS, root="/view/blocks"
        )
        if problems:
            raise SlackError("invalid_arguments", **_problem_details(problems))

    def _store_modal(self, view: dict[str, Any], view_id: str) -> dict[str, Any]:
        stored = self._view_as_stored(view, view_id)
        self.modals[view_id] = stored
        return stored

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """views.open: a modal for a trigger id handed out by :meth:`trigger_id`, once and within
        3 seconds (``invalid_trigger_id`` / ``expired_trigger_id`` otherwise)."""
        trigger = str(params.get("trigger_id") or params.get("interactivity_pointer") or "")
        if not trigger:
            raise SlackError("invalid_arguments")
        if trigger not in self._triggers:
            raise SlackError("invalid_trigger_id")
        issued = self._triggers[trigger]
        if issued is None or time.monotonic() - issued > TRIGGER_SECONDS:
            raise SlackError("expired_trigger_id")
        view = params.get("view")
        self._check_modal(view)
        self._triggers[trigger] = None
        return {"view": self._store_modal(view, self._next_id("V"))}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        """views.update: replace an open modal (by ``view_id``); a stale ``hash`` is refused
        with ``hash_conflict``."""
        view_id = str(params.get("view_id") or "")
        current = self.modals.get(view_id)
        if current is None:
            raise SlackError("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view = params.get("view")
        self._check_modal(view)
        return {"view": self._store_modal(view, view_id)}

    def _files_get_upload_url_external(self, params: dict[str, Any]) -> dict[str, Any]:
        """files.getUploadURLExternal: reserve a file id and an upload URL on this server."""
        filename = str(params.get("filename") or "")
        try:
            length = int(params.get("length", ""))
        except (TypeError, ValueError):
            length = -1
        if not filename or length < 0:
            raise SlackError("invalid_arguments")
        file_id = self._next_id("F")
        self._pending[file_id] = _PendingUpload(filename, length)
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, params: dict[str, Any]) -> dict[str, Any]:
        """files.completeUploadExternal: share uploaded files, recording them in ``uploads``."""
        files = params.get("files")
        if not isinstance(files, list) or not files:
            raise SlackError("invalid_arguments")
        pending: list[tuple[str, _PendingUpload, str]] = []
        for item in files:
            file_id = str(item.get("id") or "") if isinstance(item, dict) else ""
            upload = self._pending.get(file_id)
            if upload is None or upload.content is None:
                raise SlackError("file_not_found")
            pending.append((file_id, upload, str(item.get("title") or upload.filename)))
        channels = [c for c in str(params.get("channels") or "").split(",") if c]
        channel_id = _optional_str(params.get("channel_id")) or (channels[0] if channels else None)
        shared = []
        for file_id, upload, title in pending:
            del self._pending[file_id]
            content = upload.content or b""
            self.uploads.append(
                Upload(
                    file_id=file_id,
                    filename=upload.filename,
                    title=title,
                    content=content,
                    channel_id=channel_id,
                    thread_ts=_optional_str(params.get("thread_ts")),
                    initial_comment=_optional_str(params.get("initial_comment")),
                )
            )
            shared.append(
                {
                    "id": file_id,
                    "name": upload.filename,
                    "title": title,
                    "size": len(content),
                    "mimetype": mimetypes.guess_type(upload.filename)[0] or "text/plain",
                    "user": self.bot_user_id,
                    "permalink": f"{TEAM_URL}files/{self.bot_user_id}/{file_id}/{upload.filename}",
                }
            )
        return {"files": shared}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """apps.connections.open: a Socket Mode URL (nothing listens there)."""
        return {"url": f"ws://127.0.0.1:{self.port}/socket"}

    def _oauth_v2_access(self, params: dict[str, Any]) -> dict[str, Any]:
        """oauth.v2.access: exchange a registered code (once) for its workspace's bot token.

        ``params`` carries client_id/client_secret from HTTP Basic auth or the form. Errors:
        ``invalid_client_id``, ``bad_client_secret``, then ``invalid_code`` (unknown, already
        exchanged, or issued to another client).
        """
        client_id = str(params.get("client_id") or "")
        if client_id not in self._oauth_clients:
            raise SlackError("invalid_client_id")
        if str(params.get("client_secret") or "") != self._oauth_clients[client_id]:
            raise SlackError("bad_client_secret")
        code = str(params.get("code") or "")
        grant = self._oauth_codes.get(code)
        if grant is None or grant.client_id != client_id:
            raise SlackError("invalid_code")
        self.add_workspace(grant.team_id, grant.bot_token, team_name=grant.team_name or None)
        del self._oauth_codes[code]
        return {
            "app_id": APP_ID,
            "authed_user": {"id": grant.user_id},
            "scope": grant.scopes,
            "token_type": "bot",
            "access_token": grant.bot_token,
            "bot_user_id": self.bot_user_id,
            "team": {"id": grant.team_id, "name": grant.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
        }


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _failure_reply(failure: _Failure) -> _Reply:
    """The HTTP answer for a planned failure."""
    if failure.status == 429:
        payload = {"ok": False, "error": failure.error or "ratelimited"}
        return _Reply.of_json(payload, 429, **{"Retry-After": str(failure.retry_after)})
    if failure.status >= 500:
        html = f"<html><body><h1>{failure.status} Server Error</h1></body></html>"
        return _Reply.of_text(html, failure.status, "text/html")
    return _Reply.of_json({"ok": False, "error": failure.error or "request_failed"}, failure.status)


def _decode_json_params(params: dict[str, Any]) -> None:
    """Decode blocks/attachments/view/files sent as JSON strings (left as-is if not JSON)."""
    for name in _JSON_PARAMS:
        value = params.get(name)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                params[name] = json.loads(value)


def _basic_credentials(authorization: str) -> dict[str, str]:
    """``client_id`` / ``client_secret`` from an ``Authorization: Basic`` header, else {}."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return {}
    try:
        decoded = b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return {}
    client_id, colon, client_secret = decoded.partition(":")
    return {"client_id": client_id, "client_secret": client_secret} if colon else {}


def _required(params: dict[str, Any], name: str, error: str) -> str:
    """A required string parameter, else SlackError(error)."""
    value = params.get(name)
    if value is None or value == "":
        raise SlackError(error)
    return str(value)


def _optional_str(value: Any) -> str | None:
    """``None`` for missing/empty values, else the value as a string."""
    return None if value is None or value == "" else str(value)


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    """A copy without keys whose value is None."""
    return {key: value for key, value in data.items() if value is not None}


def _problem_details(problems: list[str]) -> dict[str, Any]:
    """The extra fields Slack adds to an invalid_blocks answer."""
    return {
        "errors": problems,
        "response_metadata": {"messages": [f"[ERROR] {problem}" for problem in problems]},
    }


def _message_error(params: dict[str, Any], *, require_text: bool = True) -> str | None:
    """Slack's error code for a message payload (text/blocks), or None when acceptable."""
    blocks = params.get("blocks")
    text = params.get("text")
    if require_text and not text and not blocks and not params.get("attachments"):
        return "no_text"
    if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT_CHARS:
        return "msg_too_long"
    if blocks is not None:
        if not isinstance(blocks, list):
            return "invalid_blocks_format"
        if _BlockValidator().run(blocks, max_blocks=MAX_MESSAGE_BLOCKS):
            return "invalid_blocks"
        if blocks_text_length(blocks) > MAX_BLOCKS_TEXT_CHARS:
            return "msg_blocks_too_long"
    return None


def _raise_message_error(params: dict[str, Any]) -> None:
    """Raise SlackError when a chat.* payload would be rejected."""
    error = _message_error(params)
    if error == "invalid_blocks":
        problems = _BlockValidator().run(params["blocks"], max_blocks=MAX_MESSAGE_BLOCKS)
        raise SlackError(error, **_problem_details(problems))
    if error is not None:
        raise SlackError(error)


def _brief(data: dict[str, Any], limit: int = 160) -> str:
    """A one-line, truncated JSON rendering for error messages."""
    text = json.dumps(data, default=repr)
    return text if len(text) <= limit else text[: limit - 3] + "..."
