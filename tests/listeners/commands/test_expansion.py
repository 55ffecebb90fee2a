"""``/expansion``: the listener called directly."""

from __future__ import annotations

from bot.listeners.commands.expansion import HELP, expansion


def answers(slack, respond) -> list[dict]:
    return [r.body for r in slack.responses_to(respond.response_url.rsplit("/", 1)[1])]


def test_help_is_the_default(slack, client, respond, context):
    expansion(
        command={"text": "", "user_id": "U1", "channel_id": "C1"},
        client=client,
        respond=respond,
        context=context,
    )
    [answer] = answers(slack, respond)
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == HELP


def test_an_unknown_subcommand_is_named_escaped(slack, client, respond, context):
    expansion(
        command={"text": "<!channel> please", "user_id": "U1", "channel_id": "C1"},
        client=client,
        respond=respond,
        context=context,
    )
    [answer] = answers(slack, respond)
    assert answer["text"].startswith("Unknown subcommand `&lt;!channel&gt;`.")
    assert "<!channel>" not in answer["text"]
