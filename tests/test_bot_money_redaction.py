"""Money redacted per channel, end to end over the real server and the Slack emulator:
``/expansion settings redact on|off`` (admins only, audited), bands in what a redacted channel
reads (shared lists, cards redrawn there, deep-dives in its threads, digests), figures in
ephemeral answers and DMs, Slack Connect channels redacted by default, and a channel Slack will
not describe treated as redacted."""

from __future__ import annotations

import itertools
import json

from bot_harness import TOKEN, all_text, click, find_action

from expansion import store, workflow
from expansion.numbers import figures_in

_keys = itertools.count()
NORTHWIND_DEAL = "+$58K ARR"  # Northwind Logistics: +$57,600 on $198,000 ARR
NORTHWIND_BAND = "+$50–100K ARR"


def run(bot, slack, text: str, *, user: str = "UADMIN", channel: str) -> str:
    key = f"set{next(_keys)}"
    reply = bot.command(text, command="/expansion", user=user, channel=channel, response_key=key)
    assert reply.status == 200 and reply.seconds < 3
    [response] = slack.wait_for_responses(key, 1, timeout=20)
    assert response.body["response_type"] == "ephemeral"
    return response.body["text"]


def posts_to(slack, channel: str, method: str = "chat.postMessage") -> list[dict]:
    return [c.params for c in slack.calls_to(method) if c.params.get("channel") == channel and c.ok]


def text_of(params: dict) -> str:
    return json.dumps({k: params.get(k) for k in ("text", "blocks")}, ensure_ascii=False)


def assert_banded(params: dict) -> None:
    text = text_of(params)
    assert figures_in(text) == [], figures_in(text)
    assert "$" in text  # money is still said, as bands


def post_calls(slack, channel: str) -> list:
    return [
        c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == channel and c.ok
    ]


def post_public(bot, slack, channel: str, scope: str = "enterprise", user: str = "U1") -> dict:
    """``/find-expansion-opportunities <scope> public`` in ``channel``: what was posted (with
    its ``ts``)."""
    before = len(post_calls(slack, channel))
    key = f"pub{next(_keys)}"
    reply = bot.command(f"{scope} public", channel=channel, user=user, response_key=key)
    assert reply.status == 200 and reply.seconds < 3
    slack.wait_for(lambda: len(post_calls(slack, channel)) > before, timeout=20)
    call = post_calls(slack, channel)[before]
    return {**call.params, "ts": call.response["ts"]}


def test_settings_are_admin_only_and_audited(bot, slack):
    channel = "CSETTINGS"
    engine = store.connect(bot.env["EXPANSION_DB_URL"])
    try:
        shown = run(bot, slack, "settings", user="U1", channel=channel)
        assert "*exact figures*" in shown and "the default" in shown
        refused = run(bot, slack, "settings redact on", user="U1", channel=channel)
        assert "Only an admin of this bot" in refused and "nothing was changed" in refused
        assert workflow.channel_setting_events(engine, channel=channel) == []

        on = run(bot, slack, "settings redact on", channel=channel)
        assert "Redact is now *on* here (was not set)" in on and "*bands*" in on
        again = run(bot, slack, "settings redact on", channel=channel)
        assert "already *on*" in again
        off = run(bot, slack, "settings redact off", channel=channel)
        assert "Redact is now *off* here (was on)" in off

        events = workflow.channel_setting_events(engine, channel=channel)
        assert [(e.setting, e.old_value, e.new_value, e.actor) for e in events] == [
            ("redact", "", "on", "UADMIN"),
            ("redact", "on", "off", "UADMIN"),
        ]
        assert events[0].at <= events[1].at and events[0].team_id == ""
        stored = workflow.channel_setting(engine, team_id="", channel=channel)
        assert stored.redact is False and stored.updated_by == "UADMIN"

        shown = run(bot, slack, "settings", user="U1", channel=channel)
        assert "*exact figures* (redact off)" in shown
        assert "Last change: redact on → off by <@UADMIN>" in shown
        assert "Unknown setting" in run(bot, slack, "settings redact maybe", channel=channel)
        assert "in a channel" in run(bot, slack, "settings redact on", channel="DUADMIN")
        assert len(workflow.channel_setting_events(engine)) == 2
    finally:
        engine.dispose()


def test_a_redacted_channel_gets_bands_while_private_answers_and_dms_keep_figures(bot, slack):
    channel = "CREDACTED"
    assert "now *on*" in run(bot, slack, "settings redact on", channel=channel)

    # The answer only the requester sees keeps the figures.
    key = f"eph{next(_keys)}"
    bot.command("enterprise", channel=channel, user="UADMIN", response_key=key)
    [answer] = slack.wait_for_responses(key, 1, timeout=20)
    assert answer.body["response_type"] == "ephemeral"
    assert NORTHWIND_DEAL in all_text(answer.body["blocks"])
    assert "+$58K" in answer.body["text"]

    # Shared in the channel: bands, in the blocks and the notification text.
    element, block = find_action(answer.body["blocks"], "share_list")
    before = len(posts_to(slack, channel))
    bot.block_action(click(element, block), user="UADMIN", channel=channel, ephemeral=True)
    slack.wait_for(lambda: len(posts_to(slack, channel)) > before, timeout=20)
    shared = posts_to(slack, channel)[before]
    assert_banded(shared)
    assert NORTHWIND_BAND in all_text(shared["blocks"])
    assert "(+$50–100K)" in shared["text"] and "$58K" not in shared["text"]

    # `public` posts the same way.
    public = post_public(bot, slack, channel)
    assert_banded(public)

    # Assigning a card in the channel redraws it there with bands; the assignee's DM keeps the
    # figures.
    ts = public["ts"]
    message = slack.messages[(channel, ts)]
    element, block = find_action(message["blocks"], "assign_owner")
    updates = len(posts_to(slack, channel, "chat.update"))
    bot.block_action(
        click(element, block, selected_user="UMAYA"),
        user="UADMIN",
        channel=channel,
        message_ts=ts,
        message=message,
    )
    slack.wait_for(lambda: len(posts_to(slack, channel, "chat.update")) > updates, timeout=20)
    redrawn = posts_to(slack, channel, "chat.update")[updates]
    assert_banded(redrawn)
    assert "assigned to <@UMAYA> by <@UADMIN>" in all_text(redrawn["blocks"])
    slack.wait_for(lambda: posts_to(slack, "DUMAYA"), timeout=20)
    dm = posts_to(slack, "DUMAYA")[0]
    assert NORTHWIND_DEAL in all_text(dm["blocks"]) and "+$58K" in dm["text"]

    # A deep-dive posted in the channel's thread (the Deep dive button on a shared card): bands.
    plan, _ = find_action(message["blocks"], "open_plan")  # the first card: Northwind
    deep = {"type": "button", "action_id": "deep_dive:1", "value": plan["value"], "block_id": "x"}
    before = len(posts_to(slack, channel))
    bot.block_action(deep, user="U1", channel=channel, message_ts=ts, message=message)
    slack.wait_for(lambda: len(posts_to(slack, channel)) > before, timeout=20)
    dives = [p for p in posts_to(slack, channel)[before:] if p.get("thread_ts") == ts]
    assert dives and dives[0]["text"].startswith("Deep dive: ")
    for dive in dives:
        assert_banded(dive)
    assert "*ARR:* $100–250K" in all_text(dives[0]["blocks"])

    # The playbook and the CSV have every figure: from a redacted channel they go to the DM.
    uploads = len(slack.uploads)
    element, block = find_action(shared["blocks"], "download_playbook")
    key = f"dl{next(_keys)}"
    bot.block_action(
        click(element, block), user="U1", channel=channel, message_ts=ts, response_key=key
    )
    [note] = slack.wait_for_responses(key, 1, timeout=20)
    assert "direct message" in note.body["text"] and "bands" in note.body["text"]
    slack.wait_for(lambda: len(slack.uploads) > uploads, timeout=20)
    assert slack.uploads[uploads].channel_id == "DU1"


def test_slack_connect_channels_are_redacted_unless_an_admin_sets_them_off(bot, slack):
    slack.set_channel("CCONNECT", is_ext_shared=True)
    assert_banded(post_public(bot, slack, "CCONNECT"))
    asked = [c for c in slack.calls_to("conversations.info") if c.params["channel"] == "CCONNECT"]
    assert asked and asked[0].ok
    shown = run(bot, slack, "settings", user="U1", channel="CCONNECT")
    assert "*bands*" in shown and "Slack Connect" in shown

    # An ordinary channel of the workspace sees figures.
    assert NORTHWIND_DEAL in all_text(post_public(bot, slack, "CINTERNAL")["blocks"])

    # An admin's explicit "off" wins over the default.
    assert "now *off*" in run(bot, slack, "settings redact off", channel="CCONNECT")
    assert NORTHWIND_DEAL in all_text(post_public(bot, slack, "CCONNECT")["blocks"])


def test_a_guest_from_another_organisation_gets_nothing_from_a_shared_channel(bot, slack):
    """In a Slack Connect channel the partner's people see the banded digest; *Review all* or
    *Open account plan* would answer them privately with the exact figures. A click from a user
    of another organisation is refused in one line, and nothing is built for them."""
    slack.set_channel("CGUESTS", is_ext_shared=True)
    posted = post_public(bot, slack, "CGUESTS")
    element, block = find_action(posted["blocks"], "open_plan")
    opens = len(slack.calls_to("views.open"))
    for user_team in ("TPARTNER", "T0001"):
        reply = bot.block_action(
            click(element, block),
            user="U2",
            channel="CGUESTS",
            message=posted,
            message_ts=posted["ts"],
            response_key=f"guest-{user_team}",
            user_team=user_team,
        )
        assert reply.status == 200 and reply.seconds < 3
    [refused] = slack.wait_for_responses("guest-TPARTNER", 1, timeout=20)
    assert refused.body["response_type"] == "ephemeral"
    assert "shared with your organisation, so I did nothing" in refused.body["text"]
    # The workspace's own user gets the account plan; the guest's click opened nothing.
    slack.wait_for(lambda: len(slack.calls_to("views.open")) > opens, timeout=20)
    assert len(slack.calls_to("views.open")) == opens + 1


def test_a_channel_slack_will_not_describe_is_redacted(bot, slack):
    slack.fail_next("conversations.info", status=200, error="missing_scope")
    assert_banded(post_public(bot, slack, "CNOINFO"))
    # A failure is not remembered: once Slack answers, the channel sees figures.
    assert NORTHWIND_DEAL in all_text(post_public(bot, slack, "CNOINFO")["blocks"])
    failed = [c for c in slack.calls_to("conversations.info") if c.params["channel"] == "CNOINFO"]
    assert [c.ok for c in failed] == [False, True]


def test_digests_in_redacted_and_slack_connect_channels_are_banded(bot, slack):
    """A whole digest (parent, card messages, deep-dives in its thread) in a channel with
    redact on and in a Slack Connect channel nobody set; the same digest elsewhere has figures."""
    from bot import digest_post
    from bot.app import web_client
    from bot.runtime import Runtime
    from bot.settings import Settings
    from expansion import pipeline
    from expansion.schedule import Schedule

    run(bot, slack, "settings redact on", channel="CDIGREDACT")
    slack.set_channel("CDIGCONNECT", is_ext_shared=True)
    engine = store.connect(bot.env["EXPANSION_DB_URL"])
    settings = Settings(
        bot_token=TOKEN,
        signing_secret="s",
        api_url=slack.api_url,
        fixed_as_of=pipeline.SAMPLE_AS_OF,
    )
    weekly = Schedule(cadence="weekly", at_time="09:00", timezone="UTC", weekday=0)
    runtime = Runtime(engine=engine, settings=settings)
    try:
        for channel in ("CDIGREDACT", "CDIGCONNECT", "CDIGPLAIN"):
            report = digest_post.run(
                runtime,
                web_client(TOKEN, slack.api_url),
                digest_post.Target(team_id="T0001", channel=channel, schedule=weekly),
                pace=0,
            )
            assert report.status == "posted"
    finally:
        engine.dispose()
    for channel in ("CDIGREDACT", "CDIGCONNECT"):
        posts = posts_to(slack, channel)
        assert len(posts) >= 4 and any(p.get("thread_ts") for p in posts)
        assert any(p["text"].startswith("Deep dive: ") for p in posts)
        for params in posts:
            assert_banded(params)
        assert "+$58K" not in posts[0]["text"] and "(+$50–100K)" in posts[0]["text"]
    plain = "\n".join(text_of(p) for p in posts_to(slack, "CDIGPLAIN"))
    assert NORTHWIND_DEAL in plain and figures_in(plain)
    # The parent's chart is drawn as the channel may see money: its image's alt text (drawn
    # with the same labels as the bars) has bands in a redacted channel, figures elsewhere.
    blocks_of = {c: posts_to(slack, c)[0]["blocks"] for c in ("CDIGREDACT", "CDIGPLAIN")}
    alts = {
        c: " ".join(b["alt_text"] for b in blocks if b["type"] == "image")
        for c, blocks in blocks_of.items()
    }
    assert alts["CDIGREDACT"] and not figures_in(alts["CDIGREDACT"]), alts["CDIGREDACT"]
    assert "–" in alts["CDIGREDACT"]
    assert figures_in(alts["CDIGPLAIN"]), alts["CDIGPLAIN"]
