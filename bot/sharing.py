"""Getting a list out of the requester's private view: into the channel, or as a file."""

from __future__ import annotations

from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from expansion.playbook import calibration_context, render_csv, render_playbook

from . import blocks, channels, lists
from .blocks import ListRef
from .replies import actor, channel_of, dm_channel, from_shared_message, tell, thread_of
from .runtime import Runtime

CANNOT_POST = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}


def post_public(
    runtime: Runtime, client: WebClient, body: dict, respond: Callable | None, ref: ListRef
) -> bool:
    """Post the list's first page in the channel; explain what to do if the bot cannot."""
    channel = channel_of(body)
    ref = ListRef(scope=ref.scope, page=1, public=True)
    view = channels.view_of(runtime, client, channel)
    try:
        with view.building():
            messages = lists.answer(runtime, ref, ephemeral=False, client=client)
        for message in messages:
            client.chat_postMessage(channel=channel, **view.guard(message))
    except SlackApiError as exc:
        if exc.response.get("error") not in CANNOT_POST:
            raise
        tell(
            body,
            client,
            respond,
            "I can't post in this channel "
            f"({blocks.escape(exc.response.get('error'))}). Invite me with `/invite @Expansion` "
            "and try again, or use the list privately.",
        )
        return False
    return True


def upload(
    runtime: Runtime,
    client: WebClient,
    body: dict,
    respond: Callable | None,
    ref: ListRef,
    *,
    kind: str,
) -> None:
    """Upload the scope's playbook (``kind="playbook"``) or CSV where the list is visible."""
    result = runtime.find(ref.scope)
    label = result.scope.describe()
    if kind == "playbook":
        calibration = calibration_context(
            runtime.engine, runtime.settings.scoring, as_of=runtime.settings.as_of()
        )
        content = render_playbook(result, portfolio_name=label, calibration=calibration)
        filename, title = "expansion-playbook.md", f"Expansion playbook: {label}"
    else:
        content = render_csv(result)
        filename, title = "expansion-opportunities.csv", f"Expansion opportunities: {label}"
    shared = from_shared_message(body)
    if shared and channels.view_of(runtime, client, thread_of(body)[0]).redact:
        # The file has every figure: in a channel that sees bands it goes to the requester only.
        shared = False
    if shared:
        channel, thread_ts = thread_of(body)
    else:
        # The list is private to the requester: so is the file.
        channel, thread_ts = dm_channel(client, actor(body)), None
    client.files_upload_v2(
        channel=channel,
        thread_ts=thread_ts,
        content=content,
        filename=filename,
        title=title,
        initial_comment=f"{title} (as of {result.as_of.isoformat()})",
    )
    if thread_ts is None:
        why = "" if not from_shared_message(body) else " (this channel sees money as bands)"
        tell(body, client, respond, f"Sent *{filename}* to you in a direct message from me{why}.")
