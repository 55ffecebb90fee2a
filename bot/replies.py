"""Answering the person who clicked or typed, wherever the request came from.

A request from a message carries a ``response_url`` (answers only that person sees); one from the
App Home tab does not, so those answers go to the user's DM with the bot.
"""

from __future__ import annotations

from collections.abc import Callable

from slack_sdk import WebClient

from . import blocks


def actor(body: dict) -> str:
    """The Slack user id behind a command or an interaction."""
    return body.get("user_id") or body.get("user", {}).get("id", "")


def channel_of(body: dict) -> str | None:
    """The channel a command was typed in or a message was clicked in."""
    return (
        body.get("channel_id")
        or body.get("channel", {}).get("id")
        or body.get("container", {}).get("channel_id")
    )


def from_shared_message(body: dict) -> bool:
    """True when the click was on a message everyone in the channel sees."""
    container = body.get("container", {})
    return container.get("type") == "message" and not container.get("is_ephemeral", False)


def thread_of(body: dict) -> tuple[str, str]:
    """Channel and thread of a click on a shared message (the message itself starts one)."""
    container = body["container"]
    return container["channel_id"], container.get("thread_ts") or container["message_ts"]


def from_modal(body: dict) -> bool:
    """True when the click was in a modal (the account plan)."""
    return body.get("view", {}).get("type") == "modal"


def from_home(body: dict) -> bool:
    return not from_modal(body) and (
        body.get("container", {}).get("type") == "view"
        or body.get("view", {}).get("type") == "home"
    )


def dm_channel(client: WebClient, user_id: str) -> str:
    """The bot's DM channel with ``user_id``."""
    return client.conversations_open(users=user_id)["channel"]["id"]


class ResponseUrlError(RuntimeError):
    """Slack refused a post to a response_url (expired, used up, or invalid blocks)."""


def send(respond: Callable, **payload) -> None:
    """Post to the request's response_url and fail loudly if Slack refuses it."""
    result = respond(**payload)
    status = getattr(result, "status_code", 200)
    if status != 200:
        raise ResponseUrlError(f"response_url answered {status}: {getattr(result, 'body', '')}")


def tell(body: dict, client: WebClient, respond: Callable | None, message: str | dict) -> None:
    """Show ``message`` (safe mrkdwn, or a message dict) to the acting user only."""
    payload = blocks.notice(message) if isinstance(message, str) else message
    if respond is not None and body.get("response_url"):
        send(respond, **payload, response_type="ephemeral", replace_original=False)
        return
    user = actor(body)
    channel = channel_of(body)
    if channel and not from_home(body):
        client.chat_postEphemeral(channel=channel, user=user, **payload)
    else:
        client.chat_postMessage(channel=dm_channel(client, user), **payload)
