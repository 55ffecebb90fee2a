"""``/slack/events`` as an attacker sees it: unsigned, malformed, oversized and replayed requests
against the real server (tests/bot_harness.py), with the Slack emulator and a local server
standing in for an attacker's response_url to prove nothing went out."""

from __future__ import annotations

import http.client
import io
import json
import threading
import time
import urllib.parse

import pytest
from bot_harness import SECRET, TEAM, BotServer, click, find_action
from local_server import LocalServer, RoutingHandler
from slack_sdk.signature import SignatureVerifier

from expansion import store, workflow


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


def status_of(bot, head: bytes, body: bytes = b"") -> int:
    """Send ``head`` and ``body`` on a raw connection and stop; the status the server answers.

    Nothing is sent after ``body``, so the server has read all of it when it answers and the
    answer cannot be lost to a reset.
    """
    import socket

    with socket.create_connection(("127.0.0.1", bot.port), timeout=30) as sock:
        sock.sendall(head + body)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


def test_a_body_over_the_limit_is_413_before_it_is_read_and_not_logged(bot, slack):
    limit = 1024 * 1024
    log_size = len(bot.log().encode())
    head = (
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nX-Slack-Request-Timestamp: 1\r\n"
    )
    # 100 MB announced: refused on the headers alone, not a byte of the body read.
    assert status_of(bot, head + b"Content-Length: 104857600\r\n\r\n") == 413
    # Chunked, no length: refused once one byte past the limit has arrived.
    data = b"A" * (limit + 1)
    chunked = b"%x\r\n" % len(data) + data
    assert status_of(bot, head + b"Transfer-Encoding: chunked\r\n\r\n", chunked) == 413
    sentinel(bot, slack, "after-big")
    assert len(bot.log().encode()) - log_size < 10_000
    assert "AAAAAAAAAA" not in bot.log()


def test_the_guard_reads_a_body_without_a_length_only_up_to_the_limit():
    from bot.security import guard

    class Counting(io.BytesIO):
        consumed = 0

        def read(self, size=-1):
            out = super().read(size)
            self.consumed += len(out)
            return out

    stream = Counting(b"x" * (5 * 1024 * 1024))
    seen = {}
    reached = []
    app = guard(lambda e, s: reached.append(e), signing_secret=SECRET, path="/slack/events")
    body = app(
        {"REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events", "wsgi.input": stream},
        lambda status, headers: seen.setdefault("status", status),
    )
    assert seen["status"].startswith("413") and b"1048576 bytes" in b"".join(body)
    assert stream.consumed <= 1024 * 1024 + 1 and not reached


def test_a_body_at_the_limit_is_still_read(bot, slack):
    # 1 MB exactly passes the size check (then the signature is checked as usual).
    body = command_form(slack.response_url("atlimit"))
    body += "&pad=" + "x" * (1024 * 1024 - len(body) - 5)
    assert len(body) == 1024 * 1024
    reply = bot.post(body, content_type="application/x-www-form-urlencoded")
    assert reply.status == 200
    slack.wait_for_responses("atlimit", 1, timeout=20)


# ------------------------------------------------------------------------- item 3: replays


def drops(bot) -> int:
    return bot.log().count("dropped a repeated delivery")


def won_events(bot, opportunity_id: str) -> list[str]:
    engine = store.connect(bot.env["EXPANSION_DB_URL"], upgrade=False)
    try:
        trail = workflow.events(engine, opportunity_id)
    finally:
        engine.dispose()
    return [a for a in trail["action"] if a == "won"]


def outcome_click(bot, slack, key: str) -> tuple[dict, str]:
    """A Won click on the first card of a private enterprise answer, and its opportunity."""
    assert bot.command("enterprise", user="UADMIN", response_key=key).status == 200
    [answer] = slack.wait_for_responses(key, 1, timeout=20)
    element, block = find_action(answer.body["blocks"], "opportunity_outcome", index=0)
    return click(element, block, selected_option={"value": "won"}), json.loads(block["block_id"])[
        "o"
    ]


def test_the_same_signed_won_click_twice_records_one_event(bot, slack):
    action, opportunity_id = outcome_click(bot, slack, "replay-list")
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": "UADMIN", "team_id": TEAM},
        "channel": {"id": "C1"},
        "container": {
            "type": "message",
            "channel_id": "C1",
            "message_ts": "1700000000.000001",
            "is_ephemeral": True,
        },
        "response_url": slack.response_url("replay-won"),
        "trigger_id": "9.9.9",
        "actions": [{"action_ts": str(time.time()), **action}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    before, ts = drops(bot), int(time.time())
    for _ in range(2):  # the very same request, signature and all
        reply = bot.post(body, content_type="application/x-www-form-urlencoded", timestamp=ts)
        assert reply.status == 200
    slack.wait_for(
        lambda: drops(bot) > before or len(slack.responses_to("replay-won")) >= 2, timeout=20
    )
    slack.wait_for_responses("replay-won", 1, timeout=20)
    assert won_events(bot, opportunity_id) == ["won"]
    assert len(slack.responses_to("replay-won")) == 1


def test_won_clicked_twice_is_one_event(bot, slack):
    action, opportunity_id = outcome_click(bot, slack, "twice-list")
    for n in (1, 2):  # two clicks: each its own request (own action_ts and signature)
        bot.block_action(action, user="UADMIN", ephemeral=True, response_key=f"twice-{n}")
        slack.wait_for_responses(f"twice-{n}", 1, timeout=20)
    assert won_events(bot, opportunity_id) == ["won"]


def home_event(user: str, event_id: str) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": user, "tab": "home"},
        }
    )


def publishes(slack, user: str) -> int:
    return sum(1 for c in slack.calls_to("views.publish") if c.params.get("user_id") == user)


def test_an_event_delivered_three_times_publishes_once(bot, slack):
    before = drops(bot)
    for retry in (None, "1", "2"):
        headers = {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"}
        reply = bot.post(
            home_event("URETRY", "EvRETRY01"),
            content_type="application/json",
            headers=headers if retry else None,
        )
        assert reply.status == 200
    slack.wait_for(
        lambda: (
            (drops(bot) >= before + 2 and publishes(slack, "URETRY") >= 1)
            or publishes(slack, "URETRY") >= 3
        ),
        timeout=20,
    )
    assert publishes(slack, "URETRY") == 1
    assert "Slack retry 2" in bot.log()


def test_replicas_share_what_was_delivered(bot, slack, tmp_path):
    replica = BotServer(
        slack, bot.env["EXPANSION_DB_URL"], tmp_path, extra_env={"EXPANSION_SCHEDULER": "off"}
    ).start()
    try:
        assert (
            bot.post(home_event("UREPL", "EvREPL01"), content_type="application/json").status == 200
        )
        slack.wait_for(lambda: publishes(slack, "UREPL") >= 1, timeout=20)
        retry = replica.post(
            home_event("UREPL", "EvREPL01"),
            content_type="application/json",
            headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
        )
        assert retry.status == 200
        slack.wait_for(lambda: drops(replica) >= 1 or publishes(slack, "UREPL") >= 2, timeout=20)
        assert publishes(slack, "UREPL") == 1
    finally:
        replica.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_claim_is_seen_by_every_engine_and_forgotten_after_an_hour(backend, tmp_path, request):
    from datetime import UTC, datetime, timedelta

    from bot import deliveries

    url = (
        f"sqlite:///{tmp_path / 'd.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    one, two = store.connect(url), store.connect(url)
    try:
        now = datetime.now(UTC)
        assert deliveries.claim(one, "event:Ev1", now=now)
        assert not deliveries.claim(two, "event:Ev1", now=now + timedelta(minutes=5))
        assert deliveries.claim(two, "event:Ev2", now=now)
        later = now + deliveries.KEEP + timedelta(seconds=1)
        assert deliveries.claim(two, "event:Ev1", now=later), "an old claim is pruned"
    finally:
        one.dispose()
        two.dispose()


def test_a_claim_does_not_hold_an_answer_up_behind_a_long_sqlite_write(tmp_path):
    import sqlite3

    from bot import deliveries

    path = tmp_path / "busy.db"
    engine = store.connect(f"sqlite:///{path}")
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a sync holding the write lock
        start = time.monotonic()
        assert deliveries.claim(engine, "event:EvBUSY")  # runs rather than waits 30 s
        assert time.monotonic() - start < 15
        writer.execute("ROLLBACK")
        assert deliveries.claim(engine, "event:EvBUSY"), "not recorded while busy"
        assert not deliveries.claim(engine, "event:EvBUSY")
        with engine.connect() as conn:  # the pool's connection waits 30 s again afterwards
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        writer.close()
        engine.dispose()
