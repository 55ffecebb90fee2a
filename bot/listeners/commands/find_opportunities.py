"""``/find-expansion-opportunities [scope] [min-propensity] [public]``."""

from __future__ import annotations

from slack_sdk import WebClient

from ... import lists, sharing
from ...replies import send
from ...runtime import Runtime


def find_opportunities(command: dict, body: dict, client: WebClient, respond, context) -> None:
    rt: Runtime = context["runtime"]
    ref = lists.parse_command(command.get("text", ""))
    if ref.public and ref.scope.strip():
        sharing.post_public(rt, client, body, respond, ref)
        return
    for message in lists.answer(rt, ref, ephemeral=True, client=client):
        send(respond, **message, response_type="ephemeral")
