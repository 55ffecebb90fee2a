"""Safety and failure end to end: signatures, escaping, retries, errors with a reference, start-up."""

from __future__ import annotations

import os
import re
import subprocess
import time

import sqlalchemy as sa
from bot_harness import EXPANSION, SECRET, TOKEN, BotServer, click

from bot.server import healthz, wsgi_app
from expansion import pipeline, store


def test_forged_and_stale_requests_get_401_and_do_nothing(bot, slack):
    before = len(slack.calls)
    forged = bot.command("enterprise", response_key="forged", secret="not-the-secret")
    assert forged.status == 401
    stale = bot.command("enterprise", response_key="stale", timestamp=int(time.time()) - 6 * 60)
    assert stale.status == 401
    unsigned = bot.command("enterprise", response_key="unsigned", signature="v0=deadbeef")
    assert unsigned.status == 401
    time.sleep(0.5)
    assert not slack.responses_to("forged") and not slack.responses_to("stale")
    assert not slack.responses_to("unsigned")
    assert len(slack.calls) == before


def mrkdwn_texts(node) -> str:
    """Every mrkdwn text in a payload: where Slack would turn <...> into mentions and links."""
    out = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            out.append(node["text"])
        for value in node.values():
            out.append(mrkdwn_texts(value))
    elif isinstance(node, list):
        out += [mrkdwn_texts(v) for v in node]
    return "\n".join(t for t in out if t)


def test_customer_data_cannot_ping_a_channel_or_forge_a_link(bot, slack):
    # The sample holds "Smith & Sons <Holdings>"; scope text is echoed back too.
    bot.command("Smith & Sons", response_key="esc")
    answers = slack.wait_for_responses("esc", 1, timeout=20)
    text = mrkdwn_texts([a.body["blocks"] for a in answers])
    assert "Smith &amp; Sons &lt;Holdings&gt;" in text
    assert "<Holdings>" not in text
    header = answers[0].body["blocks"][0]["text"]
    assert header == {
        "type": "plain_text",
        "text": "Deep dive: Smith & Sons <Holdings>",
        "emoji": True,
    }
    bot.command("<!channel> <https://evil.example|click>", response_key="esc2")
    [answer] = slack.wait_for_responses("esc2", 1, timeout=20)
    text = mrkdwn_texts(answer.body["blocks"])
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in text


def test_rate_limits_are_retried_after_retry_after(bot, slack):
    slack.fail_next("chat.postMessage", status=429, retry_after=0)
    start = len(slack.calls_to("chat.postMessage"))
    assert bot.command("smb public", channel="CRATE").status == 200
    slack.wait_for(
        lambda: any(
            c.ok and c.params.get("channel") == "CRATE" for c in slack.calls_to("chat.postMessage")
        ),
        timeout=20,
    )
    calls = [
        c for c in slack.calls_to("chat.postMessage")[start:] if c.params.get("channel") == "CRATE"
    ]
    assert [c.status for c in calls] == [429, 200]


def test_server_errors_are_retried(bot, slack):
    slack.fail_next("chat.postMessage", status=503)
    assert bot.command("smb public", channel="C5XX").status == 200
    slack.wait_for(
        lambda: any(
            c.ok and c.params.get("channel") == "C5XX" for c in slack.calls_to("chat.postMessage")
        ),
        timeout=20,
    )


def test_an_unexpected_error_gives_a_reference_that_is_in_the_log(slack, tmp_path):
    url = f"sqlite:///{tmp_path / 'broken.db'}"
    engine = store.connect(url)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    pipeline.score(engine, as_of=pipeline.SAMPLE_AS_OF)
    server = BotServer(slack, url, tmp_path).start()
    try:
        with engine.begin() as conn:  # the database breaks under the running bot
            conn.execute(sa.text("DROP TABLE opportunity_states"))
        reply = server.command("enterprise", response_key="boom")
        assert reply.status == 200 and reply.seconds < 3
        [answer] = slack.wait_for_responses("boom", 1, timeout=20)
        match = re.search(r"Something went wrong \(ref ([0-9A-F]{6})\)", answer.body["text"])
        assert match, answer.body
        assert answer.body["response_type"] == "ephemeral"
        log = server.log()
        assert f"listener failed (ref {match.group(1)})" in log
        assert "Traceback" in log and "opportunity_states" in log
    finally:
        server.stop()
        engine.dispose()


def test_tokens_and_secrets_never_reach_the_log(bot):
    log = bot.log()
    assert log, "the server logs"
    assert TOKEN not in log and SECRET not in log


def test_healthz_over_http_and_when_the_database_is_down(bot, tmp_path):
    reply = bot.get("/healthz")
    assert reply.status == 200 and '"ok": true' in reply.body
    assert bot.get("/nope").status == 404
    down = sa.create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    status, body = healthz(down)
    assert status == 503 and body["database"] == "unreachable"
    seen = {}
    wsgi_app(down, None)({"PATH_INFO": "/healthz"}, lambda s, h: seen.setdefault("status", s))
    assert seen["status"].startswith("503")


def test_missing_settings_stop_start_up_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "EXPANSION_"))}
    run = subprocess.run(
        [EXPANSION, "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "error: SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-...) from "
        "OAuth & Permissions."
    ]
    run = subprocess.run(
        [EXPANSION, "serve"],
        env={**env, "SLACK_BOT_TOKEN": "xoxb-1"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    [line] = run.stderr.strip().splitlines()
    assert line.startswith("error: SLACK_SIGNING_SECRET is not set")


def test_socket_mode_starts_without_a_public_url(slack, tmp_path):
    server = BotServer(
        slack,
        f"sqlite:///{tmp_path / 'socket.db'}",
        tmp_path,
        extra_env={"SLACK_APP_TOKEN": "xapp-test", "SLACK_SIGNING_SECRET": ""},
    )
    try:
        server.start()  # healthy: /healthz is served in Socket Mode too
        [call] = slack.wait_for_calls("apps.connections.open", 1, timeout=20)[:1]
        assert call.headers.get("Authorization") == "Bearer xapp-test"
        assert server.get("/slack/events").status == 404, "no HTTP endpoint in Socket Mode"
    finally:
        server.stop()


def test_error_refusal_and_help_for_the_expansion_command(bot, slack):
    bot.command("help", command="/expansion", response_key="help")
    [answer] = slack.wait_for_responses("help", 1, timeout=20)
    assert "/find-expansion-opportunities enterprise" in answer.body["text"]
    bot.command("frobnicate", command="/expansion", response_key="help2")
    [answer] = slack.wait_for_responses("help2", 1, timeout=20)
    assert "Unknown subcommand `frobnicate`" in answer.body["text"]


def test_a_card_from_an_older_scoring_says_so(bot, slack):
    stale_block = {
        "type": "actions",
        "block_id": '{"o": "ACC-9999-seat_expansion-1", "r": null}',
        "elements": [],
    }
    element = {"type": "overflow", "action_id": "opportunity_outcome:x"}
    bot.block_action(
        click(element, stale_block, selected_option={"value": "won"}),
        user="UADMIN",
        ephemeral=True,
        response_key="stalecard",
    )
    [answer] = slack.wait_for_responses("stalecard", 1, timeout=20)
    assert "not in the latest scoring" in answer.body["text"]
