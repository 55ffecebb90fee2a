"""``/slack/events`` as an attacker sees it: unsigned, malformed, oversized and replayed requests
against the real server (tests/bot_harness.py), with the Slack emulator and a local server
standing in for an attacker's response_url to prove nothing went out."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse

import pytest
from bot_harness import SECRET, TEAM
from local_server import LocalServer, RoutingHandler
from slack_sdk.signature import SignatureVerifier


class Sink(LocalServer):
    """Records every request made to it: the attacker's response_url."""

    server_name = "sink"

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def _make_server(self):
        from http.server import ThreadingHTTPServer

        sink = self

        class Handler(RoutingHandler):
            def _route(self, verb: str) -> None:
                with sink._lock:
                    sink.requests.append((verb, self.path))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture(scope="module")
def sink():
    with Sink() as server:
        yield server


def sentinel(bot, slack, key: str) -> None:
    """A good signed command, answered: everything sent before it was handled already."""
    assert bot.command("help", command="/expansion", response_key=key).status == 200
    slack.wait_for_responses(key, 1, timeout=20)


def command_form(response_url: str, **extra) -> str:
    form = {
        "team_id": TEAM,
        "channel_id": "C1",
        "user_id": "U1",
        "command": "/find-expansion-opportunities",
        "text": "enterprise",
        "response_url": response_url,
        "trigger_id": "1.2.3",
        **extra,
    }
    return urllib.parse.urlencode(form)


def raw_post(bot, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", bot.port, timeout=30)
    try:
        conn.request("POST", "/slack/events", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


# ------------------------------------------------------------------------- item 1: verification


def test_unverified_requests_are_401_and_nothing_is_called_or_posted(bot, slack, sink):
    form = "application/x-www-form-urlencoded"
    command = command_form(sink.url)
    action = urllib.parse.urlencode(
        {
            "payload": json.dumps(
                {
                    "type": "block_actions",
                    "team": {"id": TEAM},
                    "user": {"id": "U1", "team_id": TEAM},
                    "channel": {"id": "C1"},
                    "container": {"type": "message", "channel_id": "C1", "message_ts": "1.1"},
                    "response_url": sink.url,
                    "actions": [{"action_id": "deep_dive:x", "value": "ACC-1", "block_id": "b"}],
                }
            )
        }
    )
    event = json.dumps(
        {
            "type": "event_callback",
            "team_id": TEAM,
            "event_id": "EvFORGED",
            "event": {"type": "app_home_opened", "user": "U1", "tab": "home"},
        }
    )
    now = str(int(time.time()))
    good = SignatureVerifier(SECRET).generate_signature(timestamp=now, body=command)
    cases = [
        # (body, content type, headers)
        (command, form, {"X-Slack-Request-Timestamp": "abc"}),  # the reported one
        (command, form, {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": good}),
        (action, form, {"X-Slack-Request-Timestamp": "1e9", "X-Slack-Signature": "v0=00"}),
        (event, "application/json", {"X-Slack-Request-Timestamp": "-5"}),
        (command, form, {"X-Slack-Signature": good}),  # no timestamp
        (command, form, {"X-Slack-Request-Timestamp": now}),  # no signature
        (command, form, {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=zz"}),
        (command, form, {"X-Slack-Request-Timestamp": "9" * 40, "X-Slack-Signature": good}),
        (b"\xff\xfe" + command.encode(), form, {"X-Slack-Request-Timestamp": now}),
        (action, form, {"X-Slack-Request-Timestamp": str(int(now) - 3600)}),
    ]
    calls, log_size = len(slack.calls), len(bot.log())
    for body, content_type, headers in cases:
        data = body if isinstance(body, bytes) else body.encode()
        status, text = raw_post(bot, data, {"Content-Type": content_type, **headers})
        assert status == 401, (headers, status, text)
        assert "Traceback" not in text
    # Stale, wrong and lazy-only headers (Bolt's cross-process mechanism) through the harness.
    assert bot.command("enterprise", timestamp=int(time.time()) - 301).status == 401
    assert bot.command("x", signature="v0=" + "0" * 64).status == 401
    lazy = {"X-Slack-Bolt-Lazy-Only": "1", "X-Slack-Bolt-Lazy-Function-Name": "find_opportunities"}
    assert bot.command("x", secret="wrong", headers=lazy).status == 401
    # The error handler would have answered before the 401/500 was sent: nothing happened.
    assert len(slack.calls) == calls, slack.describe()
    assert sink.requests == []
    log = bot.log()[log_size:]
    assert "Traceback" not in log and "EvFORGED" not in log and "enterprise" not in log
    sentinel(bot, slack, "after-unsigned")
    assert sink.requests == []
    assert not [c for c in slack.calls[calls:] if c.method != "auth.test" and "C1" in str(c.params)]


def test_the_error_handler_answers_no_unverified_request(slack, sink):
    import logging

    from slack_bolt.context.respond import Respond
    from slack_sdk import WebClient

    from bot.errors import handle_error

    client = WebClient(token=slack.token, base_url=slack.api_url)
    body = {"response_url": sink.url, "channel_id": "C1", "user_id": "U1"}
    calls = len(slack.calls)
    handle_error(
        RuntimeError("boom"),
        body,
        client,
        Respond(response_url=sink.url),
        logging.getLogger("test"),
        context={},
    )
    assert sink.requests == [] and len(slack.calls) == calls


def test_a_response_url_off_slack_is_refused_even_when_signed(bot, slack, sink):
    calls = len(slack.calls)
    body = command_form(sink.url)
    reply = bot.post(body, content_type="application/x-www-form-urlencoded")
    assert reply.status == 400 and "response_url" in reply.body
    sentinel(bot, slack, "after-offslack")
    assert sink.requests == []
    assert not [c for c in slack.calls[calls:] if c.params.get("channel") == "C1"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("payload=not-json", "application/x-www-form-urlencoded"),
        ("payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),  # a JSON list
        ('{"type": "event_callback", "event": ', "application/json"),
        ("[1, 2, 3]", "application/json"),
    ],
)
def test_a_malformed_body_with_a_good_signature_is_400(bot, body, content_type):
    log_size = len(bot.log())
    reply = bot.post(body, content_type=content_type)
    assert reply.status == 400, reply
    assert "not a Slack payload" in reply.body
    assert "Traceback" not in bot.log()[log_size:]


# ------------------------------------------------------------------------- item 2: size


def test_a_body_over_the_limit_is_413_and_the_log_does_not_grow_by_it(bot, slack):
    big = ("text=" + "A" * (2 * 1024 * 1024)).encode()
    log_size = len(bot.log().encode())
    status, _ = raw_post(
        bot,
        big,
        {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": "1"},
    )
    assert status == 413
    # Chunked, with no Content-Length: refused once the limit is passed.
    conn = http.client.HTTPConnection("127.0.0.1", bot.port, timeout=30)
    try:
        chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))
        conn.request(
            "POST",
            "/slack/events",
            body=chunks,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            encode_chunked=True,
        )
        status = conn.getresponse().status
    except (BrokenPipeError, ConnectionResetError):
        status = 413  # the server closed the connection after answering 413 mid-upload
    finally:
        conn.close()
    assert status == 413
    sentinel(bot, slack, "after-big")
    assert len(bot.log().encode()) - log_size < 10_000
    assert "AAAAAAAAAA" not in bot.log()


def test_a_body_at_the_limit_is_still_read(bot, slack):
    # 1 MB exactly passes the size check (then the signature is checked as usual).
    body = command_form(slack.response_url("atlimit"))
    body += "&pad=" + "x" * (1024 * 1024 - len(body) - 5)
    assert len(body) == 1024 * 1024
    reply = bot.post(body, content_type="application/x-www-form-urlencoded")
    assert reply.status == 200
    slack.wait_for_responses("atlimit", 1, timeout=20)
