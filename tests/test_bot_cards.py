"""Card actions end to end: the account-plan modal, claiming, assigning owners, outcomes,
deep-dive threads, and App Home."""

from __future__ import annotations

import itertools
import json
import re

import pandas as pd
import pytest
from bot_harness import all_text, click, find_action

from expansion import pipeline, store, workflow
from expansion.pipeline import SAMPLE_AS_OF

_keys = itertools.count()


def ask(bot, slack, text: str, **kw) -> dict:
    key = f"cards{next(_keys)}"
    assert bot.command(text, response_key=key, **kw).status == 200
    [response] = slack.wait_for_responses(key, 1, timeout=20)
    assert response.status == 200, response
    return response.body


def post_public(bot, slack, text: str, channel: str) -> tuple[str, dict]:
    """Post a list in ``channel`` with ``public``; its ts and message as the emulator holds it."""

    def posted():
        return [c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == channel]

    assert bot.command(f"{text} public", channel=channel).status == 200
    slack.wait_for(lambda: len(posted()) >= 1, timeout=20)
    call = posted()[0]
    assert call.ok, call.response
    ts = call.response["ts"]
    return ts, slack.messages[(channel, ts)]


def card_of(blocks: list[dict], account: str) -> tuple[int, list[dict]]:
    """Index (among cards) and blocks (section, context, actions) of the first card of account."""
    n = 0
    for i, block in enumerate(blocks):
        if block.get("type") == "actions" and block.get("block_id", "").startswith("{"):
            if account in all_text(blocks[i - 2 : i]):
                return n, blocks[i - 2 : i + 1]
            n += 1
    raise AssertionError(f"no card for {account}")


def legacy_deep_dive(blocks: list[dict], index: int = 0) -> tuple[dict, dict]:
    """The "Deep dive" button cards had before the account plan, rebuilt on the ``index``-th
    card: messages posted then still carry it, and it still posts the deep-dive in the thread."""
    element, block = find_action(blocks, "open_plan", index=index)
    legacy = {**element, "action_id": "deep_dive:" + element["action_id"].split(":")[1]}
    return legacy, block


def engine_of(bot):
    return store.connect(bot.env["EXPANSION_DB_URL"], upgrade=False)


def test_legacy_deep_dive_posts_in_the_thread_once_then_links_to_it(bot, slack):
    ts, message = post_public(bot, slack, "enterprise", "CDIVE")
    element, block = legacy_deep_dive(message["blocks"])
    before = len(slack.calls_to("chat.postMessage"))
    reply = bot.block_action(click(element, block), channel="CDIVE", message_ts=ts, message=message)
    assert reply.status == 200 and reply.seconds < 3
    slack.wait_for(lambda: len(slack.calls_to("chat.postMessage")) > before)
    posts = slack.calls_to("chat.postMessage")[before:]
    assert all(p.params["thread_ts"] == ts and p.params["channel"] == "CDIVE" for p in posts)
    assert "Deep dive:" in all_text(posts[0].params["blocks"])

    slack.wait_for(lambda: len(slack.calls_to("chat.postMessage")) == before + len(posts))
    bot.block_action(
        click(element, block), channel="CDIVE", message_ts=ts, message=message, response_key="dd2"
    )
    [again] = slack.wait_for_responses("dd2", 1, timeout=20)
    assert "already there" in again.body["text"]
    assert "https://example.slack.com/archives/CDIVE/p" in again.body["text"]
    assert len(slack.calls_to("chat.postMessage")) == before + len(posts), "not posted twice"


def test_legacy_deep_dive_on_a_private_answer_answers_privately(bot, slack):
    answer = ask(bot, slack, "enterprise")
    element, block = legacy_deep_dive(answer["blocks"])
    before = len(slack.calls_to("chat.postMessage"))
    bot.block_action(click(element, block), ephemeral=True, response_key="ddp")
    [first, *_] = slack.wait_for_responses("ddp", 1, timeout=20)
    assert first.status == 200
    assert first.body["response_type"] == "ephemeral"
    assert "Deep dive:" in all_text(first.body["blocks"])
    assert len(slack.calls_to("chat.postMessage")) == before


def test_admin_assigns_card_updates_in_place_and_assignee_gets_a_dm(bot, slack):
    ts, message = post_public(bot, slack, "enterprise", "CASSIGN")
    index, _blocks = card_of(message["blocks"], "Stratus Cloud Security")
    element, block = find_action(message["blocks"], "assign_owner", index=index)
    before_updates = len(slack.calls_to("chat.update"))
    bot.block_action(
        click(element, block, selected_user="U2"),
        user="UADMIN",
        channel="CASSIGN",
        message_ts=ts,
        message=message,
    )
    [update] = slack.wait_for_calls("chat.update", before_updates + 1, timeout=20)[before_updates:]
    assert update.params["ts"] == ts
    _, new_card = card_of(update.params["blocks"], "Stratus Cloud Security")
    assert "assigned to <@U2> by <@UADMIN>" in all_text(new_card)
    assert len(update.params["blocks"]) == len(message["blocks"]), "only the card changed"

    slack.wait_for(
        lambda: any(c.params.get("channel") == "DU2" for c in slack.calls_to("chat.postMessage"))
    )
    dm = next(c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == "DU2")
    assert "<@UADMIN> assigned you" in all_text(dm.params["blocks"])
    assert "Stratus Cloud Security" in all_text(dm.params["blocks"])
    dm_text = all_text(dm.params["blocks"])
    if "Deep dive: <https://example.slack.com/archives/" not in dm_text:
        # No deep-dive posted anywhere yet: it goes in the DM's thread.
        assert "deep-dive is in the thread of this message" in dm_text
        slack.wait_for(
            lambda: any(
                c.params.get("thread_ts") == dm.response["ts"]
                for c in slack.calls_to("chat.postMessage")
            )
        )

    opportunity_id = json.loads(block["block_id"])["o"]
    engine = engine_of(bot)
    trail = workflow.events(engine, opportunity_id)
    engine.dispose()
    assert trail[["action", "actor", "assignee"]].values.tolist()[-1] == ["assign", "UADMIN", "U2"]


def test_the_account_owner_may_assign_and_others_are_refused(bot, slack):
    # Helios Health Systems belongs to maya.chen@example.com, who is UMAYA in Slack.
    answer = ask(bot, slack, "owner maya.chen@example.com")
    element, block = find_action(answer["blocks"], "assign_owner")
    opportunity_id = json.loads(block["block_id"])["o"]

    bot.block_action(
        click(element, block, selected_user="U2"), user="U1", ephemeral=True, response_key="no"
    )
    [refusal] = slack.wait_for_responses("no", 1, timeout=20)
    # The owner is named as a Slack mention (maya.chen@example.com is UMAYA), and no setting.
    assert "Only the account owner (<@UMAYA>) or an admin" in refusal.body["text"]
    assert "Nothing was changed" in refusal.body["text"]
    assert "EXPANSION_ADMINS" not in refusal.body["text"]
    engine = engine_of(bot)
    assert workflow.events(engine, opportunity_id).empty

    bot.block_action(
        click(element, block, selected_user="UMAYA"),
        user="UMAYA",
        ephemeral=True,
        response_key="yes",
    )
    [redrawn] = slack.wait_for_responses("yes", 1, timeout=20)
    assert redrawn.body["replace_original"] is True
    assert "claimed by <@UMAYA>" in all_text(redrawn.body["blocks"])
    assert workflow.states(engine, [opportunity_id]).loc[opportunity_id, "assignee"] == "UMAYA"
    engine.dispose()
    lookups = [c.params["email"] for c in slack.calls_to("users.lookupByEmail")]
    assert lookups.count("maya.chen@example.com") == 1, "owner lookups are cached"


@pytest.mark.parametrize("outcome", ["snoozed", "not_a_fit", "won", "lost"])
def test_outcomes_update_the_card_and_leave_the_lists(bot, slack, outcome):
    ts, message = post_public(bot, slack, "mid-market", f"COUT{outcome}")
    element, block = find_action(message["blocks"], "opportunity_outcome", index=0)
    opportunity_id = json.loads(block["block_id"])["o"]
    before = len(slack.calls_to("chat.update"))
    bot.block_action(
        click(
            element,
            block,
            selected_option={"value": outcome, "text": {"type": "plain_text", "text": outcome}},
        ),
        user="UADMIN",
        channel=f"COUT{outcome}",
        message_ts=ts,
        message=message,
    )
    [update] = slack.wait_for_calls("chat.update", before + 1, timeout=20)[before:]
    text = all_text(update.params["blocks"])
    label = {
        "snoozed": "*Snoozed* until <!date^1797422400^{date_short}|Dec 16, 2026>",
        "not_a_fit": "*Not a fit*",
        "won": "*Won*",
        "lost": "*Lost*",
    }
    assert f"{label[outcome]} by <@UADMIN>" in text
    engine = engine_of(bot)
    listed = pipeline.find(engine, "mid-market", as_of=pipeline.SAMPLE_AS_OF)
    assert opportunity_id not in set(listed.opportunities["opportunity_id"])
    # Open again, so each outcome (and the tests after) meets the same list: mid-market has
    # fewer high-priority cards than there are outcomes.
    pipeline.record_outcome(
        engine, opportunity_id, "open", actor="UADMIN", as_of=pipeline.SAMPLE_AS_OF
    )
    listed = pipeline.find(engine, "mid-market", as_of=pipeline.SAMPLE_AS_OF)
    engine.dispose()
    assert opportunity_id in set(listed.opportunities["opportunity_id"])


def test_app_home_lists_my_opportunities(bot, slack):
    answer = ask(bot, slack, "healthy smb")
    element, block = find_action(answer["blocks"], "assign_owner")
    bot.block_action(
        click(element, block, selected_user="UHOME"),
        user="UADMIN",
        ephemeral=True,
        response_key="h",
    )
    slack.wait_for_responses("h", 1, timeout=20)
    reply = bot.event({"type": "app_home_opened", "user": "UHOME", "tab": "home"}, event_id="EvH1")
    assert reply.status == 200 and reply.seconds < 3
    slack.wait_for(lambda: "UHOME" in slack.home_views, timeout=20)
    view = slack.home_views["UHOME"]
    text = all_text(view["blocks"])
    assert "Yours this week (1)" in text and "accounts scanned" in text
    assert text.index("Yours this week") < text.index("The team this week")
    # The team's line counts the *other* plays (yours are above): "23 more Tier 1-2 plays".
    team_line = text.split("The team this week")[1]
    assert " more Tier 1-2 plays*" in team_line.split("\n")[1], team_line[:200]

    # Actions on Home redraw Home.
    element, block = find_action(view["blocks"], "opportunity_outcome")
    before = len(slack.calls_to("views.publish"))
    bot.block_action(
        click(
            element,
            block,
            selected_option={"value": "won", "text": {"type": "plain_text", "text": "Won"}},
        ),
        user="UHOME",
        home=True,
    )
    slack.wait_for(lambda: len(slack.calls_to("views.publish")) > before, timeout=20)
    assert "Yours this week (0)" in all_text(slack.home_views["UHOME"]["blocks"])
    assert "1 of your opportunities are snoozed or closed" in all_text(
        slack.home_views["UHOME"]["blocks"]
    )


def _option(value: str) -> dict:
    return {"selected_option": {"value": value, "text": {"type": "plain_text", "text": value}}}


def test_reassign_unassign_and_reopen_are_audited(bot, slack):
    answer = ask(bot, slack, "at 80% seat usage")
    element, block = find_action(answer["blocks"], "assign_owner", index=1)
    opportunity_id = json.loads(block["block_id"])["o"]
    for n, who in enumerate(("U1", "U2")):
        bot.block_action(
            click(element, block, selected_user=who),
            user="UADMIN",
            ephemeral=True,
            response_key=f"re{n}",
        )
        slack.wait_for_responses(f"re{n}", 1, timeout=20)
    menu, menu_block = find_action(answer["blocks"], "opportunity_outcome", index=1)
    for n, value in enumerate(("unassign", "snoozed", "open")):
        bot.block_action(
            click(menu, menu_block, **_option(value)),
            user="UADMIN",
            ephemeral=True,
            response_key=f"menu{n}",
        )
        [redrawn] = slack.wait_for_responses(f"menu{n}", 1, timeout=20)
        assert redrawn.status == 200
    engine = engine_of(bot)
    trail = workflow.events(engine, opportunity_id)
    state = workflow.states(engine, [opportunity_id]).loc[opportunity_id]
    engine.dispose()
    # (Earlier tests may have acted on the same opportunity: look at the last five events.)
    recent = trail.tail(5)
    assert recent["action"].tolist() == ["assign", "assign", "unassign", "snoozed", "open"]
    assert recent["assignee"].fillna("").tolist() == ["U1", "U2", "", "", ""]
    assert set(recent["actor"]) == {"UADMIN"}
    assert state.outcome == "open" and pd.isna(state.assignee)


def test_next_page_on_a_channel_message_updates_it(bot, slack):
    ts, message = post_public(bot, slack, "all accounts", "CPAGE")
    element, block = find_action(message["blocks"], "list_page")
    before = len(slack.calls_to("chat.update"))
    bot.block_action(click(element, block), channel="CPAGE", message_ts=ts, message=message)
    [update] = slack.wait_for_calls("chat.update", before + 1, timeout=20)[before:]
    assert update.params["channel"] == "CPAGE" and update.params["ts"] == ts
    assert "Page 2 of" in all_text(update.params["blocks"])


def test_legacy_deep_dive_from_home_goes_to_the_dm_once(bot, slack):
    view = {"blocks": []}
    answer = ask(bot, slack, "enterprise")
    element, block = legacy_deep_dive(answer["blocks"], index=2)
    view["blocks"] = [block]

    def to_dm():
        return [
            c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == "DUHOME2"
        ]

    def complete() -> bool:  # every message of the deep-dive ("Deep dive: X (n/N)") is there
        calls = to_dm()
        if not calls:
            return False
        total = re.search(r"\((\d+)/(\d+)\)$", calls[0].params["text"])
        return len(calls) >= (int(total.group(2)) if total else 1)

    bot.block_action(click(element, block), user="UHOME2", home=True)
    slack.wait_for(complete, timeout=20)
    posted = len(to_dm())
    assert "Deep dive:" in all_text(to_dm()[0].params["blocks"])
    bot.block_action(click(element, block), user="UHOME2", home=True)
    slack.wait_for(lambda: len(to_dm()) == posted + 1, timeout=20)
    assert "already there" in all_text(to_dm()[-1].params["blocks"])


def test_open_account_plan_opens_a_modal_and_shares_it_in_the_thread(bot, slack):
    ts, message = post_public(bot, slack, "enterprise", "CPLAN")
    element, block = find_action(message["blocks"], "open_plan")
    posts_before = len(slack.calls_to("chat.postMessage"))
    opens_before = len(slack.calls_to("views.open"))
    reply = bot.block_action(click(element, block), channel="CPLAN", message_ts=ts, message=message)
    assert reply.status == 200 and reply.seconds < 3
    calls = slack.wait_for_calls("views.open", opens_before + 1, timeout=20)[opens_before:]
    assert calls[0].ok, calls[0].response
    slack.wait_for(
        lambda: "Loading" not in all_text(slack.modals[calls[0].response["view"]["id"]]["blocks"]),
        timeout=20,
    )
    modal = slack.modals[calls[0].response["view"]["id"]]
    assert modal["type"] == "modal" and len(modal["blocks"]) <= 100
    text = all_text(modal["blocks"])
    assert "Deep dive:" in text and "Recommended pitch" in text
    assert "score" in text.lower() and "propensity" in text, "the scores live in the plan"
    # Nothing went to the channel; the plan ends with its actions.
    assert len(slack.calls_to("chat.postMessage")) == posts_before
    assert modal["blocks"][-1]["type"] == "actions"
    share, share_block = find_action(modal["blocks"], "share_plan")
    assert share["text"]["text"] == "Share in thread" and share.get("accessibility_label")

    updates = len(slack.calls_to("views.update"))
    bot.block_action(click(share, share_block), user="U1", modal=modal)
    slack.wait_for(
        lambda: any(
            c.params.get("thread_ts") == ts and c.params.get("channel") == "CPLAN"
            for c in slack.calls_to("chat.postMessage")
        ),
        timeout=20,
    )
    slack.wait_for(lambda: len(slack.calls_to("views.update")) > updates, timeout=20)
    slack.wait_for(
        lambda: "Shared in the thread" in all_text(slack.modals[modal["id"]]["blocks"]),
        timeout=20,
    )
    threaded = [c for c in slack.calls_to("chat.postMessage") if c.params.get("thread_ts") == ts]
    assert "Deep dive:" in all_text(threaded[0].params["blocks"])

    # Sharing again links to the first instead of posting twice.
    posted = len(slack.calls_to("chat.postMessage"))
    bot.block_action(click(share, share_block), user="U1", modal=slack.modals[modal["id"]])
    slack.wait_for(
        lambda: "in the thread already" in all_text(slack.modals[modal["id"]]["blocks"]),
        timeout=20,
    )
    assert len(slack.calls_to("chat.postMessage")) == posted


def test_a_used_or_unknown_trigger_id_is_refused_by_the_emulator(slack):
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=slack.token, base_url=slack.api_url)
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Account plan"}, "blocks": []}
    trigger = slack.trigger_id()
    assert client.views_open(trigger_id=trigger, view=view)["ok"]
    for bad, error in ((trigger, "expired_trigger_id"), ("1.2.3", "invalid_trigger_id")):
        with pytest.raises(SlackApiError) as failed:
            client.views_open(trigger_id=bad, view=view)
        assert failed.value.response["error"] == error
    too_many = {**view, "blocks": [{"type": "divider"}] * 101}
    with pytest.raises(SlackApiError) as failed:
        client.views_open(trigger_id=slack.trigger_id(), view=too_many)
    assert "at most 100 blocks" in str(failed.value.response["errors"])


def test_claim_assigns_to_me_and_is_refused_politely_to_others(bot, slack):
    # Helios Health Systems belongs to maya.chen@example.com (UMAYA): she may claim its plays.
    answer = ask(bot, slack, "owner maya.chen@example.com")
    block = next(
        b
        for b in answer["blocks"]
        if b["type"] == "actions"
        and any(e["action_id"].startswith("claim:") for e in b["elements"])
    )
    claim = next(e for e in block["elements"] if e["action_id"].startswith("claim:"))
    assert claim.get("style") == "primary"
    opportunity_id = json.loads(block["block_id"])["o"]
    engine = engine_of(bot)

    bot.block_action(click(claim, block), user="U1", ephemeral=True, response_key="claim-no")
    [refusal] = slack.wait_for_responses("claim-no", 1, timeout=20)
    assert refusal.body["text"].startswith("You can't claim *Helios Health Systems")
    assert "the account owner (<@UMAYA>)" in refusal.body["text"]
    assert "Nothing was changed" in refusal.body["text"]
    assert workflow.states(engine, [opportunity_id]).empty or pd.isna(
        workflow.states(engine, [opportunity_id]).loc[opportunity_id, "assignee"]
    )

    def dms() -> int:
        return sum(1 for c in slack.calls_to("chat.postMessage") if c.params["channel"] == "DUMAYA")

    dms_before = dms()
    bot.block_action(click(claim, block), user="UMAYA", ephemeral=True, response_key="claim-yes")
    [redrawn] = slack.wait_for_responses("claim-yes", 1, timeout=20)
    assert redrawn.body["replace_original"] is True
    assert "claimed by <@UMAYA>" in all_text(redrawn.body["blocks"])
    assert workflow.states(engine, [opportunity_id]).loc[opportunity_id, "assignee"] == "UMAYA"
    assert dms() == dms_before, "no DM to tell you what you just did"
    pipeline.assign(engine, opportunity_id, assignee=None, actor="UADMIN", as_of=SAMPLE_AS_OF)
    engine.dispose()


def test_home_leads_with_the_plays_i_own(bot, slack):
    reply = bot.event({"type": "app_home_opened", "user": "UMAYA", "tab": "home"})
    assert reply.status == 200
    slack.wait_for(lambda: "UMAYA" in slack.home_views, timeout=20)
    view = slack.home_views["UMAYA"]
    text = all_text(view["blocks"])
    assert text.startswith("Yours this week (")
    assert "Yours this week (0)" not in text
    assert "Helios Health Systems" in text.split("The team this week")[0]
    assert "owner <@UMAYA>" in text
    assert any(
        e["action_id"].startswith("open_plan:")
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    )
