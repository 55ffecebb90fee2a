"""``app_home_opened``: the listener called directly."""

from __future__ import annotations

from bot_harness import all_text

from bot.listeners.events import app_home_opened


def test_the_home_tab_is_published_for_the_one_who_opened_it(slack, client, context):
    publishes = len(slack.calls_to("views.publish"))
    app_home_opened(
        event={"type": "app_home_opened", "user": "UMAYA", "tab": "home"},
        client=client,
        context=context,
    )
    [call] = slack.calls_to("views.publish")[publishes:]
    assert call.ok and call.params["user_id"] == "UMAYA"
    text = all_text(slack.home_views["UMAYA"]["blocks"])
    assert text.startswith("Yours this week (")
    assert "Helios Health Systems" in text.split("The team this week")[0]


def test_the_messages_tab_publishes_nothing(slack, client, context):
    publishes = len(slack.calls_to("views.publish"))
    app_home_opened(
        event={"type": "app_home_opened", "user": "U1", "tab": "messages"},
        client=client,
        context=context,
    )
    assert len(slack.calls_to("views.publish")) == publishes
