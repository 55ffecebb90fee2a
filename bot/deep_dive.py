"""An account's deep-dive: the account-plan modal a card opens, and the deep-dive posted in a
thread (the digest's top accounts, an assignment DM, "Share in thread" from the modal) once per
thread, then a link to it on every later request."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from slack_sdk import WebClient

from expansion import workflow
from expansion.playbook import account_context

from . import blocks, channels
from .blocks import PlanPlace
from .replies import actor, dm_channel, from_home, from_shared_message, send, tell, thread_of
from .runtime import Runtime

log = logging.getLogger(__name__)

KIND = "deep_dive"
#: How long the analysis may take before the modal opens with a loading view first (Slack's
#: trigger id is good for 3 s from the click, and the ack and the hand-off took some of that).
PLAN_WAIT_SECONDS = 1.0


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
    view = channels.view_of(runtime, client, channel)
    try:
        with view.building():
            planned = messages(runtime, account_id)
        for message in planned:
            response = client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, **view.guard(message)
            )
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


# --------------------------------------------------------------------------- the account plan


def plan_view(runtime: Runtime, client: WebClient, place: PlanPlace, *, note: str = "") -> dict:
    """The account-plan modal of ``place``'s account (a notice when it left the data)."""
    result = runtime.account(place.account_id)
    if result.profiles.empty:
        return blocks._modal(
            [
                blocks.section(
                    f"Account {blocks.escape(place.account_id)} is not in the latest data any "
                    "more. Run the command again for fresh cards."
                )
            ],
            place,
        )
    ctx = account_context(result, place.account_id)
    owner_user = runtime.directory.resolve(client, [{"owner": ctx["p"].get("owner")}])[0]
    return blocks.plan_view(ctx, place, owner_user=owner_user["owner_user"], note=note)


def open_plan(
    runtime: Runtime, client: WebClient, body: dict, account_id: str, opportunity_id: str = ""
) -> None:
    """ "Open account plan" on a card: the deep-dive in a modal (``views.open`` with the click's
    trigger id), nothing posted anywhere. When the analysis takes longer than
    :data:`PLAN_WAIT_SECONDS`, the modal opens with a loading view and is filled in with
    ``views.update``, as Slack recommends."""
    channel, thread_ts = "", ""
    if from_shared_message(body):
        channel, thread_ts = thread_of(body)
    elif not from_home(body) and body.get("container", {}).get("channel_id"):
        channel = body["container"]["channel_id"]  # an ephemeral answer: no thread to use
    place = PlanPlace(account_id, opportunity_id, channel, thread_ts)
    trigger = body.get("trigger_id")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan") as pool:
        future = pool.submit(plan_view, runtime, client, place)
        try:
            view = future.result(timeout=PLAN_WAIT_SECONDS)
        except TimeoutError:
            opened = client.views_open(trigger_id=trigger, view=blocks.plan_loading_view(place))
            view = future.result()
            client.views_update(
                view_id=opened["view"]["id"], hash=opened["view"].get("hash"), view=view
            )
            return
    client.views_open(trigger_id=trigger, view=view)


def refresh_plan(runtime: Runtime, client: WebClient, body: dict, *, note: str = "") -> None:
    """Draw the open account plan again (after a change made in it), with ``note`` above its
    actions."""
    view = body.get("view") or {}
    place = PlanPlace.decode(view.get("private_metadata"))
    if place is None:
        return
    client.views_update(view_id=view["id"], view=plan_view(runtime, client, place, note=note))


def share_plan(runtime: Runtime, client: WebClient, body: dict) -> None:
    """ "Share in thread" in the modal: the deep-dive posted in the thread of the card it was
    opened from (once per thread; a second share links to the first), or in the channel when
    the card was only visible to the one who clicked. The modal says what happened."""
    place = PlanPlace.decode((body.get("view") or {}).get("private_metadata"))
    if place is None or not place.channel:
        return
    if place.thread_ts:
        first, posted = post_once(
            runtime,
            client,
            channel=place.channel,
            account_id=place.account_id,
            thread_ts=place.thread_ts,
        )
        where = "in the thread"
    else:
        first, posted = post_once(
            runtime,
            client,
            channel=place.channel,
            account_id=place.account_id,
            thread_ts=None,
            place=f"channel:{runtime.settings.as_of().isoformat()}",
        )
        where = "in the channel"
    link = permalink(client, place.channel, first) if first else None
    opened = f" <{link}|Open it>." if link else ""
    note = (
        f":white_check_mark: Shared {where}.{opened}"
        if posted
        else f"It is {where} already.{opened}"
    )
    refresh_plan(runtime, client, body, note=note)


def plan_request(action: dict, body: dict) -> tuple[str, str]:
    """(account id, opportunity id) of an "Open account plan" click."""
    try:
        opportunity_id, _ = blocks.parse_card_block_id(action.get("block_id") or "")
    except (ValueError, TypeError, KeyError):
        opportunity_id = ""
    return str(action.get("value") or ""), str(opportunity_id)
