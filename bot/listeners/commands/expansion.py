"""``/expansion``: help now; the weekly digest settings build on it."""

from __future__ import annotations

from slack_sdk import WebClient

from ... import alerts, blocks, channels, charts, crm, sources, subscriptions, team
from ...replies import send
from ...runtime import Runtime

HELP = "\n".join(
    [
        "*Expansion*: the expansion revenue hiding in your customer base.",
        "• `/find-expansion-opportunities enterprise`: High-priority cards, then the rest",
        "• `/find-expansion-opportunities renewing this quarter 60`: any scope, minimum propensity",
        "• `/find-expansion-opportunities Acme Corp`: one account's deep-dive",
        "• add `public` to post the answer in the channel",
        "• on a card: *Deep dive*, *Assign owner*, and ⋯ for Snooze 30 days, Not a fit, Won, Lost",
        "• the *Home* tab lists the opportunities assigned to you",
        "• `/expansion digest here weekly mon 09:00 [time zone] [scope] [max N]`: subscribe this "
        "channel to the Tier 1 digest (also daily, monthly 1); `digest off`; `digest list` (admins "
        "change subscriptions)",
        "• `/expansion digest preview`: this channel's next digest, shown only to you",
        "• `/expansion chart [scope]`: pipeline and expected value by tier and type, as a "
        "picture (sent to you; *Share in channel* posts it)",
        "• `/expansion sync [source]`: pull the sources of expansion.toml now and re-score; "
        "`/expansion status`: each source's last sync and where sources disagree (admins)",
        "• `/expansion settings`: this channel's settings; `/expansion settings redact on|off`: "
        "money as bands (`$50–100K`) in what I post here (admins; Slack Connect channels are "
        "redacted unless set off)",
        "• `/expansion team`: who the Assign button suggests; admins: `team add @person "
        "CSM|AE|other [capacity]`, `team remove @person`, `team import` (the CRM's owners)",
        "• `/expansion workload`: each person's open expansion pipeline, to rebalance",
        "• on a card, *Create in HubSpot* (or Salesforce) writes it to the CRM once; "
        "`/expansion crm`: the CRM, its pipeline and stages, the last write-back errors (admins)",
        "• `/expansion alerts here [scope]`: this channel gets each new Tier 1 after every sync; "
        "`alerts off`; `alerts list` (admins); your own alerts: the *Home* tab",
    ]
)


def expansion(command: dict, client: WebClient, respond, context) -> None:
    rt: Runtime = context["runtime"]
    words = (command.get("text") or "help").split()
    word = words[0].lower()
    if word == "digest":
        subscriptions.handle(rt, client, command, respond, words[1:])
        return
    if word == "team":
        team.handle(rt, client, command, respond, words[1:])
        return
    if word == "workload":
        team.workload(rt, client, command, respond)
        return
    if word == "crm":
        crm.handle(rt, command, respond)
        return
    if word == "chart":
        charts.answer(rt, client, command, respond, " ".join(words[1:]))
        return
    if word == "alerts":
        alerts.handle(rt, client, command, respond, words[1:])
        return
    if word in ("sync", "status"):
        sources.handle(rt, command, respond, words, client=client)
        return
    if word == "settings":
        text = channels.settings_command(rt, client, command, words[1:])
        send(respond, **blocks.notice(text), response_type="ephemeral")
        return
    text = HELP
    if word != "help":
        text = f"Unknown subcommand `{blocks.escape(word)}`. Try `/expansion help`.\n\n" + HELP
    send(respond, **blocks.notice(text), response_type="ephemeral")
