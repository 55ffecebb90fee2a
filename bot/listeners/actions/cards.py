"""Buttons on a card: Deep dive, Assign owner, and the overflow menu."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from ... import cards, deep_dive
from ...blocks import action_pattern
from ...errors import guarded
from ...replies import actor, dm_channel, from_home, from_shared_message, send, tell
from ...runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    @app.action(action_pattern("deep_dive"))
    @guarded
    def open_deep_dive(ack, body: dict, action: dict, client: WebClient, respond) -> None:
        ack()
        account_id = action["value"]
        if from_shared_message(body) or from_home(body):
            if from_home(body):
                # Home has no thread: post in the DM, once per scoring date.
                channel, thread_ts = dm_channel(client, actor(body)), None
                place = f"home:{runtime.settings.as_of().isoformat()}"
            else:
                container = body["container"]
                channel = container["channel_id"]
                thread_ts = place = container.get("thread_ts") or container["message_ts"]
            first, posted = deep_dive.post_once(
                runtime,
                client,
                channel=channel,
                account_id=account_id,
                thread_ts=thread_ts,
                place=place,
            )
            if not posted:
                where = (
                    f"<{deep_dive.permalink(client, channel, first)}|open it>"
                    if first
                    else "it is being posted right now"
                )
                tell(body, client, respond, f"The deep-dive is already there: {where}.")
            return
        for message in deep_dive.messages(runtime, account_id):
            send(respond, **message, response_type="ephemeral", replace_original=False)

    @app.action(action_pattern("assign_owner"))
    @guarded
    def assign_owner(ack, body: dict, action: dict, client: WebClient, respond) -> None:
        ack()
        cards.change(
            runtime,
            client,
            body,
            respond,
            block_id=action["block_id"],
            what="assign",
            assignee=action.get("selected_user"),
        )

    @app.action(action_pattern("opportunity_outcome"))
    @guarded
    def opportunity_outcome(ack, body: dict, action: dict, client: WebClient, respond) -> None:
        ack()
        cards.change(
            runtime,
            client,
            body,
            respond,
            block_id=action["block_id"],
            what=action["selected_option"]["value"],
        )
