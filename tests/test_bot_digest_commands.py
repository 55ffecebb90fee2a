"""``/expansion digest here|off|list`` end to end over the real server."""

from __future__ import annotations

import itertools

_keys = itertools.count()


def run(bot, slack, text: str, user: str = "UADMIN", channel: str = "CDIG") -> str:
    key = f"dig{next(_keys)}"
    reply = bot.command(text, command="/expansion", user=user, channel=channel, response_key=key)
    assert reply.status == 200 and reply.seconds < 3
    [response] = slack.wait_for_responses(key, 1, timeout=20)
    assert response.status == 200
    return response.body["text"]


def test_subscribe_list_and_unsubscribe(bot, slack):
    slack.add_user("UADMIN", email="admin@example.com", name="admin", tz="Europe/Berlin")
    text = run(bot, slack, "digest here weekly mon 09:00 enterprise max 10")
    assert "Subscribed: every Monday at 09:00 (Europe/Berlin), enterprise, top 10 Tier 1" in text
    announce = [c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == "CDIG"]
    assert announce and "subscribed this channel" in announce[-1].params["text"]
    listed = run(bot, slack, "digest list", user="U1")
    assert "<#CDIG>: every Monday at 09:00 (Europe/Berlin), enterprise, top 10" in listed
    assert "no longer get the digest" in run(bot, slack, "digest off")
    assert "No channel gets the digest yet" in run(bot, slack, "digest list")


def test_only_admins_change_subscriptions(bot, slack):
    text = run(bot, slack, "digest here daily 08:00", user="U1")
    assert "Only an admin of this bot" in text and "nothing was changed" in text
    assert "EXPANSION_ADMINS" not in text
    assert "No channel gets the digest yet" in run(bot, slack, "digest list")


def test_bad_input_says_what_to_type(bot, slack):
    assert "Unknown day `funday`" in run(bot, slack, "digest here weekly funday 09:00")
    assert "Invalid time" in run(bot, slack, "digest here weekly mon 25:99")
    assert "Unknown time zone `Mars/Base`" in run(bot, slack, "digest here daily 08:00 Mars/Base")
    assert "Unknown digest command `sometimes`" in run(bot, slack, "digest sometimes")


def test_a_channel_the_bot_is_not_in_is_refused(bot, slack):
    slack.fail_next("chat.postMessage", status=200, error="not_in_channel")
    text = run(bot, slack, "digest here daily 08:00", channel="CPRIVATE")
    assert "/invite" in text and "Nothing was changed" in text
    assert "CPRIVATE" not in run(bot, slack, "digest list")


def test_preview_shows_the_next_digest_to_the_requester_only(bot, slack):
    key = "preview1"
    before = len(slack.calls_to("chat.postMessage"))
    reply = bot.command(
        "digest preview", command="/expansion", user="U1", channel="CPREVIEW", response_key=key
    )
    assert reply.status == 200 and reply.seconds < 3
    responses = slack.wait_for_responses(key, 4, timeout=30)
    assert all(r.body["response_type"] == "ephemeral" for r in responses)
    # The parent's notification names the top play.
    assert (
        responses[0].body["text"].startswith("Tier 1 this week: Northwind Logistics, add 120 seats")
    )
    # The sample's three Tier 1 deals are at two accounts: Northwind's card, then Helios' two
    # cards in one message (an account's cards stay together), all shown.
    assert [r.body["text"].split(":")[0] for r in responses[1:3]] == [
        "Tier 1 this week (1 of 3)",
        "Tier 1 this week (2-3 of 3)",
    ]
    note = responses[-1].body["text"]
    assert "nothing was posted" in note and "no subscription" in note
    assert "deep-dives of 2 accounts" in note and "left out" not in note
    assert len(slack.calls_to("chat.postMessage")) == before  # nothing in the channel


def test_list_shows_the_next_and_the_last_run_with_failures(bot, slack):
    from expansion import digest, store

    slack.add_user("UADMIN", email="admin@example.com", name="admin", tz="UTC")
    run(bot, slack, "digest here daily 07:30 UTC", channel="CFAILED")
    engine = store.connect(bot.env["EXPANSION_DB_URL"])
    claim = digest.claim(
        engine,
        team_id="T0001",
        channel="CFAILED",
        period="2026-11-23",
        scope="",
        max_cards=25,
        holder="test",
    )
    digest.finish(engine, claim.run, "failed", error="not_in_channel")
    engine.dispose()
    listed = run(bot, slack, "digest list")
    assert "<#CFAILED>: every day at 07:30 (UTC)" in listed
    assert "Next: " in listed and "07:30" in listed
    assert "Last: *failed*" in listed and "invite me with /invite @Expansion" in listed
    run(bot, slack, "digest off", channel="CFAILED")


def test_replicas_on_postgresql_share_state_and_one_leads_the_scheduler(pg_url, tmp_path_factory):
    """Two ``expansion serve`` replicas on one PostgreSQL: a subscription made through one is
    listed by the other, and exactly one of them runs the scheduler."""
    import time

    from bot_harness import BotServer
    from slack_emulator import SlackEmulator

    from expansion import pipeline, store

    engine = store.connect(pg_url)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    engine.dispose()
    with SlackEmulator() as emulator:
        emulator.add_user("UADMIN", email="admin@example.com", name="admin", tz="UTC")
        replicas = [
            BotServer(emulator, pg_url, tmp_path_factory.mktemp(f"replica{i}")).start()
            for i in range(2)
        ]
        try:
            text = run(replicas[0], emulator, "digest here weekly fri 16:00", channel="CREPL")
            assert "Subscribed" in text
            listed = run(replicas[1], emulator, "digest list", channel="COTHER")
            assert "<#CREPL>: every Friday at 16:00 (UTC)" in listed
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                leaders = [r for r in replicas if "scheduler: leading" in r.log()]
                if leaders:
                    break
                time.sleep(0.2)
            time.sleep(1)
            assert len([r for r in replicas if "scheduler: leading" in r.log()]) == 1
        finally:
            for replica in replicas:
                replica.stop()


def test_review_all_answers_the_clicker_with_the_whole_list(bot, slack):
    """The digest parent's one button, clicked on the posted parent over the real server: the
    full list of the digest's scope, page 1, only to the person who clicked."""
    from bot_harness import TOKEN, click, find_action

    from bot import digest_post
    from bot.app import web_client
    from bot.runtime import Runtime
    from bot.settings import Settings
    from expansion import pipeline, store
    from expansion.schedule import Schedule

    engine = store.connect(bot.env["EXPANSION_DB_URL"])
    settings = Settings(
        bot_token=TOKEN,
        signing_secret="s",
        api_url=slack.api_url,
        fixed_as_of=pipeline.SAMPLE_AS_OF,
    )
    weekly = Schedule(cadence="weekly", at_time="09:00", timezone="UTC", weekday=0)
    try:
        report = digest_post.run(
            Runtime(engine=engine, settings=settings),
            web_client(TOKEN, slack.api_url),
            digest_post.Target(team_id="T0001", channel="CREVIEW", schedule=weekly),
            pace=0,
        )
    finally:
        engine.dispose()
    assert report.status == "posted"
    parent = next(
        c.params
        for c in slack.calls_to("chat.postMessage")
        if c.params["channel"] == "CREVIEW" and not c.params.get("thread_ts")
    )
    parent_blocks = parent["blocks"]
    if isinstance(parent_blocks, str):
        import json

        parent_blocks = json.loads(parent_blocks)
    element, block = find_action(parent_blocks, "digest_review_all")
    assert element["style"] == "primary" and element["text"]["text"] == "Review all"
    before = len(slack.calls_to("chat.postMessage"))
    reply = bot.block_action(
        click(element, block), user="U2", channel="CREVIEW", response_key="review"
    )
    assert reply.status == 200 and reply.seconds < 3
    [response] = slack.wait_for_responses("review", 1, timeout=20)
    body = response.body
    assert body["response_type"] == "ephemeral" and body.get("replace_original") is False
    assert body["text"].startswith("Expansion opportunities, All accounts: Tier 1: ")
    footer = {e["action_id"] for e in find_action(body["blocks"], "export_csv")[1]["elements"]}
    assert "share_list" in footer  # the clicker may share it; nothing is posted for them
    assert len(slack.calls_to("chat.postMessage")) == before
