"""A hostile account name through the digest and the assignment DM, as the emulator receives
them: every ``text`` fallback is escaped like the blocks, so Slack's notifications cannot ping a
channel, mention a user or show a forged link. And Assign owner takes one Slack user only."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import pytest
from bot_harness import TOKEN, BotServer, click, find_action

from bot import digest_post
from bot.app import web_client
from bot.runtime import Runtime
from bot.settings import Settings
from expansion import pipeline, schedule, store, workflow

HOSTILE = "<!channel> Northwind <@U0ADMIN> <https://evil.example|Click me>"
INERT = "&lt;!channel&gt; Northwind &lt;@U0ADMIN&gt; &lt;https://evil.example|Click me&gt;"
LIVE = ("<!channel>", "<@U0ADMIN>", "<https://evil", "<!here>")
HOSTILE_ROOT: list = []  # where the module's exports folder is


@pytest.fixture(scope="module")
def hostile_url(tmp_path_factory) -> str:
    """The sample portfolio with its top Tier 1 account renamed to something hostile."""
    root = tmp_path_factory.mktemp("hostile")
    HOSTILE_ROOT.append(root)
    folder = root / "portfolio"
    shutil.copytree(pipeline.SAMPLE_PORTFOLIO, folder)
    accounts = folder / "accounts.csv"
    accounts.write_text(accounts.read_text().replace("Helios Health Systems", HOSTILE))
    url = f"sqlite:///{root / 'hostile.db'}"
    engine = store.connect(url)
    pipeline.sync_folder(engine, folder, source="sample")
    pipeline.score(engine, as_of=pipeline.SAMPLE_AS_OF)
    names = set(pipeline.find(engine, "all", as_of=pipeline.SAMPLE_AS_OF).profiles["name"])
    engine.dispose()
    assert HOSTILE in names
    return url


def texts_of(params: dict) -> list[str]:
    """The ``text`` fallback and every mrkdwn text of a message."""
    out = [params.get("text") or ""]

    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(params.get("blocks") or [])
    return out


def assert_inert(params: dict) -> None:
    for text in texts_of(params):
        assert not any(live in text for live in LIVE), text


def test_the_digest_text_fallbacks_are_escaped(hostile_url, slack):
    settings = Settings(
        bot_token=TOKEN,
        signing_secret="s",
        api_url=slack.api_url,
        fixed_as_of=pipeline.SAMPLE_AS_OF,
    )
    engine = store.connect(hostile_url)
    runtime = Runtime(engine=engine, settings=settings)
    plan = schedule.parse_schedule(
        "weekly mon 09:00 UTC", default_timezone="UTC", as_of=pipeline.SAMPLE_AS_OF
    )
    try:
        report = digest_post.run(
            runtime,
            web_client(TOKEN, slack.api_url),
            digest_post.Target(team_id="T0001", channel="CHOSTILE", schedule=plan),
            pace=0,
            now=datetime(2026, 11, 16, 9, 5, tzinfo=UTC),
        )
    finally:
        engine.dispose()
    assert report.status == "posted", report
    posts = [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == "CHOSTILE"]
    assert len(posts) == report.run.messages
    for call in posts:
        assert_inert(call.params)
    fallbacks = "\n".join(c.params["text"] for c in posts)
    assert INERT in fallbacks, fallbacks  # the card messages name the account, escaped
    # The data line names the source and when it synced, not the server's folder.
    everything = json.dumps([c.params for c in posts])
    assert "portfolio" not in everything and str(HOSTILE_ROOT[0]) not in everything
    assert "Data: sample (synced <!date^" in json.dumps(posts[0].params["blocks"])


def test_the_digest_notification_names_the_hostile_top_play_escaped(hostile_url, slack, tmp_path):
    """With the hostile account's deal on top, the parent's notification names it, escaped."""
    copy = tmp_path / "top.db"
    shutil.copy(hostile_url.removeprefix("sqlite:///"), copy)
    engine = store.connect(f"sqlite:///{copy}")
    runtime = Runtime(
        engine=engine,
        settings=Settings(
            bot_token=TOKEN,
            signing_secret="s",
            api_url=slack.api_url,
            fixed_as_of=pipeline.SAMPLE_AS_OF,
        ),
    )
    try:
        opps = runtime.find("").opportunities
        tier1 = opps[opps["tier"] == 1]
        for row in tier1[tier1["account_name"] != HOSTILE].itertuples():  # a few, not a hot path
            pipeline.record_outcome(
                engine, row.opportunity_id, "snoozed", actor="UADMIN", as_of=pipeline.SAMPLE_AS_OF
            )
        plan = schedule.parse_schedule(
            "weekly mon 09:00 UTC", default_timezone="UTC", as_of=pipeline.SAMPLE_AS_OF
        )
        report = digest_post.run(
            runtime,
            web_client(TOKEN, slack.api_url),
            digest_post.Target(team_id="T0001", channel="CHOSTILETOP", schedule=plan),
            pace=0,
            now=datetime(2026, 11, 16, 9, 5, tzinfo=UTC),
        )
    finally:
        engine.dispose()
    assert report.status == "posted"
    posts = [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == "CHOSTILETOP"]
    parent = posts[0].params
    assert "thread_ts" not in parent or not parent["thread_ts"]
    assert parent["text"].startswith(f"Tier 1 this week: {INERT}, ")
    assert_inert(parent)


@pytest.fixture(scope="module")
def hostile_bot(slack, hostile_url, tmp_path_factory):
    server = BotServer(slack, hostile_url, tmp_path_factory.mktemp("hostile-bot")).start()
    yield server
    server.stop()


def hostile_card(bot, slack, key: str) -> tuple[dict, dict]:
    assert bot.command("enterprise", user="UADMIN", response_key=key).status == 200
    [answer] = slack.wait_for_responses(key, 1, timeout=20)
    assert_inert(answer.body)
    blocks = answer.body["blocks"]
    for index in range(len(blocks)):
        element, block = find_action(blocks, "assign_owner", index=index)
        if "Northwind &lt;@U0ADMIN&gt;" in json.dumps(blocks[blocks.index(block) - 2]):
            return element, block
    raise AssertionError("no card for the hostile account")


def test_the_assignment_dm_text_is_escaped(hostile_bot, slack):
    element, block = hostile_card(hostile_bot, slack, "hostile-list")
    hostile_bot.block_action(
        click(element, block, selected_user="U2"),
        user="UADMIN",
        ephemeral=True,
        response_key="hostile-assign",
    )
    slack.wait_for(
        lambda: any(c.params.get("channel") == "DU2" for c in slack.calls_to("chat.postMessage")),
        timeout=20,
    )
    dm = next(c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == "DU2")
    assert dm.params["text"].startswith(f"Assigned to you: Tier 1: {INERT}, ")
    assert_inert(dm.params)


BAD_USERS = ["U2,U3", "U2 U3", "<!channel>", "C0123", "u2", "U2>", ""]


@pytest.mark.parametrize("n", range(len(BAD_USERS)), ids=BAD_USERS)
def test_assign_owner_refuses_anything_but_one_user_id(hostile_bot, slack, n):
    value = BAD_USERS[n]
    element, block = hostile_card(hostile_bot, slack, f"bad-user-list-{n}")
    opportunity_id = json.loads(block["block_id"])["o"]
    key = f"bad-user-{n}"
    hostile_bot.block_action(
        click(element, block, selected_user=value),
        user="UADMIN",
        ephemeral=True,
        response_key=key,
    )
    [answer] = slack.wait_for_responses(key, 1, timeout=20)
    assert "takes one Slack user" in answer.body["text"]
    assert "Nothing was changed" in answer.body["text"]
    engine = store.connect(hostile_bot.env["EXPANSION_DB_URL"], upgrade=False)
    try:
        trail = workflow.events(engine, opportunity_id)
    finally:
        engine.dispose()
    assert value not in set(trail["assignee"].dropna()), trail
