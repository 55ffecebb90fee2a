"""``/expansion team``, the Assign modal's suggested owners and ``/expansion workload``, end to
end over the real server and the Slack emulator (tests in order: each builds on the last)."""

from __future__ import annotations

import itertools
import json

from bot_harness import all_text, click, find_action

from expansion import pipeline, store, team, workflow
from expansion.numbers import money
from expansion.pipeline import SAMPLE_AS_OF

_keys = itertools.count()


def run(bot, slack, text: str, user: str = "UADMIN") -> dict:
    key = f"team{next(_keys)}"
    reply = bot.command(text, command="/expansion", user=user, channel="CTEAM", response_key=key)
    assert reply.status == 200 and reply.seconds < 3
    [response] = slack.wait_for_responses(key, 1, timeout=20)
    assert response.status == 200
    assert response.body["response_type"] == "ephemeral"
    return response.body


def text_of(body: dict) -> str:
    return all_text(body["blocks"])


def book(bot):
    engine = store.connect(bot.env["EXPANSION_DB_URL"], upgrade=False)
    try:
        return pipeline.find(engine, "", as_of=SAMPLE_AS_OF)
    finally:
        engine.dispose()


def test_team_add_list_remove_is_admin_only(bot, slack):
    refused = text_of(run(bot, slack, "team add <@U2|rep> AE 5", user="U1"))
    assert "Only an admin of this bot can change the team" in refused
    assert "nothing was changed" in refused

    assert "Added <@U2>: AE, capacity 5 open opportunities." in text_of(
        run(bot, slack, "team add <@U2|rep> AE 5")
    )
    # By e-mail: the Slack user is found by it (maya.chen@example.com is UMAYA).
    assert "Added <@UMAYA>: CSM, capacity 10" in text_of(
        run(bot, slack, "team add maya.chen@example.com CSM")
    )
    assert "Added <@U1>: CSM, capacity 3" in text_of(run(bot, slack, "team add <@U1> 3 csm"))
    assert "Updated <@U2>: AE, capacity 4" in text_of(run(bot, slack, "team add U2 AE 4"))

    assert "as plain text" in text_of(run(bot, slack, "team add @rep AE 5"))
    assert "Role must be one of CSM, AE, other" in text_of(run(bot, slack, "team add U2 boss 3"))
    assert "whole number from 0 to 1000" in text_of(run(bot, slack, "team add U2 AE 5000"))
    hostile = text_of(run(bot, slack, "team remove <!here>"))
    assert "&lt;!here&gt;" in hostile and "<!here>" not in hostile

    listed = text_of(run(bot, slack, "team", user="U1"))
    assert "*Team* (3)" in listed
    assert "<@U2> · rep@example.com · AE · capacity 4 · added in Slack" in listed
    assert "<@UMAYA> · maya.chen@example.com · CSM · capacity 10" in listed

    assert "Only an admin" in text_of(run(bot, slack, "team remove <@U1>", user="U1"))
    assert "Removed someone@example.com from the team" in text_of(
        run(bot, slack, "team remove <@U1>")
    )
    assert "<@U1>" not in text_of(run(bot, slack, "team list"))
    assert "Added <@U1>: CSM, capacity 3" in text_of(run(bot, slack, "team add <@U1> CSM 3"))


def _open_assign(bot, slack, *, user: str, key: str) -> tuple[dict, dict, dict]:
    """Ask for Maya's accounts, click Assign… on the first card; the card's record and the
    modal as filled in (after its loading view)."""
    answer_key = f"{key}-list"
    assert bot.command("owner maya.chen@example.com", user=user, response_key=answer_key).status
    [answer] = slack.wait_for_responses(answer_key, 1, timeout=20)
    element, block = find_action(answer.body["blocks"], "assign_owner")
    assert element["type"] == "button" and element["text"]["text"] in ("Assign…", "Reassign…")
    before = len(slack.calls_to("views.update"))
    reply = bot.block_action(click(element, block), user=user, ephemeral=True, response_key=key)
    assert reply.status == 200 and reply.seconds < 3
    [update] = slack.wait_for_calls("views.update", before + 1, timeout=20)[before:]
    assert update.ok, update.response
    opportunity_id = json.loads(block["block_id"])["o"]
    opp = book(bot).opportunities.set_index("opportunity_id").loc[opportunity_id]
    return opp, slack.modals[update.params["view_id"]], block


def test_assign_lists_the_suggested_owners_first_with_reasons(bot, slack):
    opp, modal, _ = _open_assign(bot, slack, user="UADMIN", key="sugg")
    assert "Loading" not in all_text(modal["blocks"])
    [radio] = [b for b in modal["blocks"] if b.get("block_id") == "suggested"]
    options = radio["element"]["options"]
    people = [o["value"] for o in options]
    # The account owner first; then, for a deal above $50K the AE before the CSM with room.
    assert people[0] == "UMAYA"
    assert options[0]["description"]["text"].startswith("account owner;")
    big = opp["expansion_arr"] > team.AE_HANDOFF_ARR
    assert people[1:] == (["U2", "U1"] if big else ["U1", "U2"])
    ae = next(o for o in options if o["value"] == "U2")["description"]["text"]
    if big:
        assert f"AE for a {money(opp['expansion_arr'])} deal" in ae
    # Maya owns her accounts in this segment: said in her reason.
    assert f"{opp['segment']} account" in options[0]["description"]["text"]
    assert all(
        len(o["text"]["text"]) <= 75 and len(o["description"]["text"]) <= 75 for o in options
    )
    assert options[0]["text"]["text"] == "maya · CSM"
    # Anyone else comes after the suggestions.
    ids = [b.get("block_id") for b in modal["blocks"]]
    assert ids.index("suggested") < ids.index("anyone")


def test_the_modal_insists_on_someone_then_assigns_and_redraws(bot, slack):
    _, modal, block = _open_assign(bot, slack, user="UADMIN", key="pick")
    nothing = bot.view_submission(modal, {}, user="UADMIN")
    assert nothing.status == 200
    assert json.loads(nothing.body) == {
        "response_action": "errors",
        "errors": {"suggested": "Pick who should take it."},
    }
    before_dms = len(slack.calls_to("conversations.open"))
    # A suggestion clicked, then someone picked under "anyone else": that person wins
    # (radio buttons cannot be cleared).
    done = bot.view_submission(
        modal,
        {
            "suggested": {"pick": {"type": "radio_buttons", "selected_option": {"value": "U1"}}},
            "anyone": {"user": {"type": "users_select", "selected_user": "U2"}},
        },
        user="UADMIN",
    )
    assert done.status == 200 and done.seconds < 3 and not done.body
    # The list the card was on is drawn again in place (through the click's response_url).
    [redrawn] = slack.wait_for_responses("pick", 1, timeout=20)
    assert redrawn.body["replace_original"] is True
    assert "assigned to <@U2> by <@UADMIN>" in all_text(redrawn.body["blocks"])
    slack.wait_for(lambda: len(slack.calls_to("conversations.open")) > before_dms, timeout=20)
    engine = store.connect(bot.env["EXPANSION_DB_URL"], upgrade=False)
    try:
        trail = workflow.events(engine, json.loads(block["block_id"])["o"])
    finally:
        engine.dispose()
    assert trail[["action", "actor", "assignee"]].values.tolist()[-1] == ["assign", "UADMIN", "U2"]


def test_only_who_may_assign_gets_the_suggestions(bot, slack):
    _, modal, _ = _open_assign(bot, slack, user="U1", key="refuse")
    text = all_text(modal["blocks"])
    assert "Only the account owner (<@UMAYA>) or an admin of this bot can assign" in text
    assert "submit" not in modal and "suggested" not in json.dumps(modal["blocks"])


def test_workload_shows_each_persons_open_pipeline(bot, slack):
    result = book(bot).opportunities
    mine = result[result["assignee"] == "U2"]
    assert len(mine) == 1
    text = text_of(run(bot, slack, "workload", user="U1"))
    tier1 = int((mine["tier"] == 1).sum())
    ev = money(mine["expected_value"].sum())
    line = next(x for x in text.splitlines() if x.startswith("• <@U2>"))
    assert line.startswith(f"• <@U2> (AE): 1 open · {tier1} Tier 1 · {ev}")
    assert line.endswith("1 of 4 (25%)")
    assert "• <@UMAYA> (CSM): 0 open · 0 Tier 1 · $0 EV · 0 of 10 (0%)" in text
    unassigned = int(result["assignee"].isna().sum())
    assert f"Unassigned: {unassigned} open" in text
    # Full up: at capacity is flagged.
    run(bot, slack, "team add <@U2> AE 1")
    assert ":warning: at capacity" in next(
        x for x in text_of(run(bot, slack, "workload")).splitlines() if x.startswith("• <@U2>")
    )


def _submit(bot, slack, modal: dict, who: str, user: str = "UADMIN") -> None:
    done = bot.view_submission(
        modal,
        {"anyone": {"user": {"type": "users_select", "selected_user": who}}},
        user=user,
    )
    assert done.status == 200 and done.seconds < 3 and not done.body


def test_assigning_from_a_channel_message_redraws_it_in_place(bot, slack):
    channel = "CTEAMPUB"
    assert bot.command("enterprise public", channel=channel, user="UADMIN").status == 200

    def posted():
        return [c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == channel]

    slack.wait_for(lambda: len(posted()) >= 1, timeout=20)
    ts = posted()[0].response["ts"]
    message = slack.messages[(channel, ts)]
    element, block = find_action(message["blocks"], "assign_owner", index=2)
    before = len(slack.calls_to("views.update"))
    bot.block_action(
        click(element, block), user="UADMIN", channel=channel, message_ts=ts, message=message
    )
    [update] = slack.wait_for_calls("views.update", before + 1, timeout=20)[before:]
    modal = slack.modals[update.params["view_id"]]
    # Someone not suggested: picked in "anyone else".
    updates = len(slack.calls_to("chat.update"))
    _submit(bot, slack, modal, "UMAYA")
    [redraw] = slack.wait_for_calls("chat.update", updates + 1, timeout=20)[updates:]
    assert redraw.ok and redraw.params["ts"] == ts and redraw.params["channel"] == channel
    assert "assigned to <@UMAYA> by <@UADMIN>" in all_text(redraw.params["blocks"])
    # The channel's copy keeps the channel's footer (no "Share in channel" of a private answer).
    assert "Share in channel" not in all_text(redraw.params["blocks"])


def test_assigning_from_home_redraws_home(bot, slack):
    # Maya's Home shows her accounts' plays; as their owner she may assign them.
    bot.event({"type": "app_home_opened", "user": "UMAYA", "tab": "home"}, event_id="EvTeamH")
    slack.wait_for(lambda: "UMAYA" in slack.home_views, timeout=20)
    home = slack.home_views["UMAYA"]
    element, block = find_action(home["blocks"], "assign_owner")
    before = len(slack.calls_to("views.update"))
    bot.block_action(click(element, block), user="UMAYA", home=True)
    [update] = slack.wait_for_calls("views.update", before + 1, timeout=20)[before:]
    modal = slack.modals[update.params["view_id"]]
    assert [b for b in modal["blocks"] if b.get("block_id") == "suggested"]
    published = len(slack.calls_to("views.publish"))
    _submit(bot, slack, modal, "U1", user="UMAYA")
    slack.wait_for(lambda: len(slack.calls_to("views.publish")) > published, timeout=20)
    assert "<@U1>" in all_text(slack.home_views["UMAYA"]["blocks"])
