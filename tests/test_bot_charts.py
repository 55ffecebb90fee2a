"""``/expansion chart [scope]`` end to end over the real server and the Slack emulator: the
pictures go to the requester's DM, the figures and *Share in channel* are answered ephemerally
(fast: the ack comes first), and *Share in channel* uploads the chart into the channel."""

from __future__ import annotations

import io

from bot_harness import all_text, click, find_action
from PIL import Image

from expansion import numbers, pipeline, store


def chart(bot, slack, text: str, key: str, *, user: str = "U1", channel: str = "CCHART") -> dict:
    reply = bot.command(text, command="/expansion", user=user, channel=channel, response_key=key)
    assert reply.status == 200 and reply.seconds < 3  # rendering is never inside the ack
    [response] = slack.wait_for_responses(key, 1, timeout=30)
    assert response.status == 200
    return response.body


def uploads_since(slack, before: int) -> list:
    with slack._lock:
        return list(slack.uploads[before:])


def test_chart_goes_to_the_dm_with_the_figures_and_a_share_button(bot, slack):
    before = len(slack.uploads)
    answer = chart(bot, slack, "chart enterprise", "chart1")
    assert answer["response_type"] == "ephemeral"
    text = all_text(answer["blocks"])
    assert "Pipeline chart of Enterprise" in text and "direct message" in text
    # The figures in words, as the engine sums the scope's open opportunities.
    engine = store.connect(bot.env["EXPANSION_DB_URL"])
    try:
        result = pipeline.find(engine, "enterprise", as_of=pipeline.SAMPLE_AS_OF)
    finally:
        engine.dispose()
    opps = result.opportunities[result.opportunities["active"]]
    tier1 = opps[opps["tier"] == 1]
    assert f"*Tier 1*: {numbers.money(tier1['expansion_arr'].sum())} pipeline" in text
    (upload,) = uploads_since(slack, before)  # the scope has no digest: no trend
    assert upload.channel_id == "DU1" and upload.filename == "expansion-pipeline.png"
    assert "Enterprise" in (upload.initial_comment or "")
    with Image.open(io.BytesIO(upload.content)) as image:
        assert image.format == "PNG" and image.size[0] == 800
    find_action(answer["blocks"], "chart_share")


def test_share_uploads_the_chart_into_the_channel(bot, slack):
    answer = chart(bot, slack, "chart enterprise", "chart2", channel="CSHARECHART")
    element, block = find_action(answer["blocks"], "chart_share")
    before = len(slack.uploads)
    reply = bot.block_action(
        click(element, block), user="U1", channel="CSHARECHART", ephemeral=True, response_key="cs"
    )
    assert reply.status == 200
    [done] = slack.wait_for_responses("cs", 1, timeout=30)
    assert "Shared the chart in this channel" in done.body["text"]
    (shared,) = uploads_since(slack, before)
    assert shared.channel_id == "CSHARECHART"
    assert shared.initial_comment.startswith("<@U1> shared the expansion pipeline of Enterprise")


def test_share_where_the_bot_cannot_post_says_so(bot, slack):
    answer = chart(bot, slack, "chart", "chart3", channel="CNOTIN")
    element, block = find_action(answer["blocks"], "chart_share")
    before = len(slack.uploads)
    slack.fail_next("files.completeUploadExternal", status=200, error="not_in_channel")
    bot.block_action(
        click(element, block), user="U1", channel="CNOTIN", ephemeral=True, response_key="cn"
    )
    [told] = slack.wait_for_responses("cn", 1, timeout=30)
    assert "/invite @Expansion" in told.body["text"]
    assert uploads_since(slack, before) == []


def test_a_bad_scope_is_explained(bot, slack):
    answer = chart(bot, slack, "chart zzqx flurb", "chart4")
    assert "zzqx flurb" in all_text(answer.get("blocks") or []) + answer.get("text", "")


def test_help_lists_chart(bot, slack):
    answer = chart(bot, slack, "help", "chart5")
    assert "/expansion chart [scope]" in answer["text"]


def test_a_refused_upload_still_answers_with_the_figures(bot, slack):
    before = len(slack.uploads)
    slack.fail_next("files.getUploadURLExternal", status=200, error="missing_scope")
    answer = chart(bot, slack, "chart enterprise", "chart6")
    text = all_text(answer["blocks"])
    assert "could not send the picture (missing_scope)" in text
    assert "*Tier 1*:" in text and "pipeline" in text
    assert uploads_since(slack, before) == []
