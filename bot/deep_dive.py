"""Posting an account's deep-dive: once per thread, then a link to it on every later click."""

from __future__ import annotations

from collections.abc import Callable

from slack_sdk import WebClient

from expansion import workflow
from expansion.playbook import account_context

from . import blocks
from .replies import actor, dm_channel, from_home, from_shared_message, send, tell, thread_of
from .runtime import Runtime

KIND = "deep_dive"


def messages(runtime: Runtime, account_id: str) -> list[dict]:
    """The deep-dive of one account as ready-to-post messages."""
    result = runtime.account(account_id)
    if result.profiles.empty:
        return [
            blocks.notice(
                f"Account {blocks.escape(account_id)} is not in the latest data any more. "
                "Run the command again for fresh cards."
            )
        ]
    return blocks.deep_dive_messages(account_context(result, account_id))


def post_once(
    runtime: Runtime,
    client: WebClient,
    *,
    channel: str,
    account_id: str,
    thread_ts: str | None,
    place: str | None = None,
) -> tuple[str | None, bool]:
    """Post the deep-dive in ``channel`` (under ``thread_ts``) unless it is there already.

    ``place`` names where it counts as posted (default: the thread). Returns the ts of its first
    message and whether it was posted now. The claim row makes two clicks at once post one
    deep-dive; a post that fails before its first message gives the claim back.
    """
    where = {"channel": channel, "thread_ts": place or thread_ts, "kind": KIND, "key": account_id}
    if not workflow.claim_post(runtime.engine, **where):
        existing = workflow.find_post(runtime.engine, **where)
        return (existing.ts if existing else None), False
    first = None
    try:
        for message in messages(runtime, account_id):
            response = client.chat_postMessage(channel=channel, thread_ts=thread_ts, **message)
            if first is None:
                first = response["ts"]
                workflow.record_post(runtime.engine, **where, ts=first)
    finally:
        if first is None:
            workflow.release_post(runtime.engine, **where)
    return first, True


def permalink(client: WebClient, channel: str, ts: str) -> str:
    return client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]


def existing_link(runtime: Runtime, client: WebClient, account_id: str) -> str | None:
    """A link to the latest deep-dive of this account posted anywhere, if any."""
    post = workflow.latest_post(runtime.engine, kind=KIND, key=account_id)
    return permalink(client, post.channel, post.ts) if post and post.ts else None


def answer_click(
    runtime: Runtime, client: WebClient, body: dict, respond: Callable | None, account_id: str
) -> None:
    """ "Deep dive" on a card: in the card's thread, in the DM from Home, or privately."""
    if not (from_shared_message(body) or from_home(body)):
        # Ephemeral messages have no threads: answer the requester the same way.
        for message in messages(runtime, account_id):
            send(respond, **message, response_type="ephemeral", replace_original=False)
        return
    if from_home(body):
        # Home has no thread: post in the DM, once per scoring date.
        channel, thread_ts = dm_channel(client, actor(body)), None
        place = f"home:{runtime.settings.as_of().isoformat()}"
    else:
        channel, thread_ts = thread_of(body)
        place = thread_ts
    first, posted = post_once(
        runtime, client, channel=channel, account_id=account_id, thread_ts=thread_ts, place=place
    )
    if not posted:
        where = (
            f"<{permalink(client, channel, first)}|open it>"
            if first
            else ("it is being posted right now")
        )
        tell(body, client, respond, f"The deep-dive is already there: {where}.")
