"""What a channel may see: money as figures, or as bands (per-channel "redact").

Everything the bot posts where several people read it (a digest, a shared list, a card redrawn
in the channel, a deep-dive in a thread) goes through :func:`view_of` first:

- A channel with ``/expansion settings redact on`` sees bands (``$50–100K``) instead of ARR,
  expected value and pipeline figures; ``redact off`` sees figures.
- A channel nobody set is redacted when it is shared with another organisation (Slack Connect:
  ``conversations.info`` says ``is_ext_shared``), and when Slack will not say (an error, a
  missing scope): the safe side. Anything else shows figures. The answer is cached per channel
  for :data:`INFO_TTL` seconds; a failure is not cached.
- A direct message (``D...``) shows figures, as do ephemeral answers: they reach one person.

A :class:`View` does two things at the two choke points of a post: :meth:`View.building` wraps
building the message (every money formatter of :mod:`expansion.numbers` answers bands inside
it, so bands are computed from the exact figures) and :meth:`View.guard` bands any dollar figure
left in the payload's text (engine sentences quote prices such as ``$480``) just before it is
sent, so a builder that forgets cannot leak a figure. Not to be confused with
:mod:`expansion.redact`, which masks secrets in logs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from expansion import numbers, workflow

from . import blocks
from .replies import actor

log = logging.getLogger(__name__)

#: How long a channel's conversations.info answer is trusted (a channel can become shared).
INFO_TTL = 60.0
#: Keys of a message payload whose strings are not read by people (ids, values, URLs).
_STRUCTURAL = frozenset(
    {
        "action_id",
        "block_id",
        "value",
        "url",
        "image_url",
        "type",
        "style",
        "ts",
        "thread_ts",
        "channel",
        "initial_user",
        "private_metadata",
        "callback_id",
        "external_id",
        "slack_file",
        "id",
    }
)


class ChannelDirectory:
    """Channel id -> whether it is shared with another organisation (``conversations.info``),
    cached for :data:`INFO_TTL` seconds. ``None``: Slack would not say."""

    def __init__(self, ttl: float = INFO_TTL) -> None:
        self.ttl = ttl
        self._cache: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def ext_shared(self, client: WebClient | None, channel: str) -> bool | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(channel)
        if cached and cached[1] > now:
            return cached[0]
        if client is None:
            return None
        try:
            info = client.conversations_info(channel=channel)["channel"]
        except SlackApiError as exc:
            log.warning(
                "conversations.info %s failed (%s): money is banded there",
                channel,
                exc.response.get("error"),
            )
            return None
        except Exception:  # a connection error, a client without the method: the safe side
            log.warning("conversations.info %s failed: money is banded there", channel)
            return None
        # Shared with another organisation, or an invitation to share it pending.
        shared = bool(info.get("is_ext_shared") or info.get("is_pending_ext_shared"))
        with self._lock:
            self._cache[channel] = (shared, now + self.ttl)
        return shared


def workspace_of(runtime) -> str:
    """The workspace key of channel settings: the runtime's team ("" with one workspace)."""
    return runtime.team_id or ""


def is_direct(channel: str) -> bool:
    """A direct message with one person (Slack's ``D...`` ids)."""
    return channel.startswith("D")


def redacts(setting: bool | None, ext_shared: bool | None) -> bool:
    """The rule: an admin's setting wins; unset, a shared channel (or one Slack would not
    describe, ``None``) is redacted and any other is not."""
    if setting is not None:
        return setting
    return ext_shared is not False


@dataclass(frozen=True)
class View:
    """How a channel sees money. ``redact``: bands instead of figures; ``why`` says so."""

    channel: str
    redact: bool
    why: str = ""

    @contextmanager
    def building(self) -> Iterator[None]:
        """Build the channel's messages inside this block: money comes out as bands when the
        channel is redacted (figures otherwise)."""
        with numbers.banded(self.redact):
            yield

    def guard(self, message: dict) -> dict:
        """``message`` as it may be posted here: every dollar figure in its text banded when the
        channel is redacted (logged, as a builder should have banded it), else as it is."""
        if not self.redact:
            return message
        leaked: list[str] = []
        guarded = _band_payload(message, leaked)
        if leaked:
            log.info("banded %d figures left in a message to %s", len(leaked), self.channel)
        return guarded


def _band_payload(node: Any, leaked: list[str], key: str = "") -> Any:
    if isinstance(node, dict):
        return {k: _band_payload(v, leaked, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_band_payload(v, leaked, key) for v in node]
    if isinstance(node, str) and key not in _STRUCTURAL:
        found = numbers.figures_in(node)
        if found:
            leaked += found
            return numbers.band_figures(node)
    return node


def view_of(runtime, client: WebClient | None, channel: str) -> View:
    """How ``channel`` sees money now (see the module's rules)."""
    if not channel:
        return View("", True, "no channel named")
    if is_direct(channel):
        return View(channel, False, "a direct message")
    stored = workflow.channel_setting(
        runtime.engine, team_id=workspace_of(runtime), channel=channel
    )
    setting = stored.redact if stored else None
    if setting is not None:
        return View(channel, bool(setting), f"redact {'on' if setting else 'off'}")
    shared = runtime.channels.ext_shared(client, channel)
    if shared is None:
        return View(channel, True, "Slack would not describe the channel")
    return View(channel, shared, "a Slack Connect channel" if shared else "the default")


# --------------------------------------------------------------------------- /expansion settings

SETTINGS_USAGE = "`/expansion settings` or `/expansion settings redact on|off`"


def settings_command(runtime, client: WebClient, command: dict, words: list[str]) -> str:
    """``/expansion settings [redact on|off]`` typed in a channel: the answer (safe mrkdwn),
    for the requester only. Changing a setting takes an admin of the bot, and is audited."""
    channel, user = command.get("channel_id") or "", actor(command)
    args = [w.lower() for w in words]
    if not channel or is_direct(channel):
        return "Channel settings are set in a channel: type the command there."
    if not args:
        return describe(runtime, client, channel)
    if args[0] != "redact" or len(args) != 2 or args[1] not in ("on", "off"):
        shown = blocks.escape(" ".join(words))
        return f"Unknown setting `{shown}`. Use {SETTINGS_USAGE}."
    if user not in runtime.settings.admins:
        return (
            "Only an admin of this bot can change this channel's settings; nothing was changed. "
            "Ask the person who installed it."
        )
    redact = args[1] == "on"
    old, new = workflow.set_channel_redact(
        runtime.engine, team_id=workspace_of(runtime), channel=channel, redact=redact, actor=user
    )
    if old == new:
        return f"Redact is already *{args[1]}* here; nothing was changed.\n" + describe(
            runtime, client, channel
        )
    log.info("channel %s: redact %s -> %s by %s", channel, old, new, user)
    return f"Redact is now *{args[1]}* here (was {_said(old)}).\n" + describe(
        runtime, client, channel
    )


def _said(value: bool | None) -> str:
    return "not set" if value is None else ("on" if value else "off")


def describe(runtime, client: WebClient | None, channel: str) -> str:
    """This channel's settings and what they mean, with the last change."""
    view = view_of(runtime, client, channel)
    shown = (
        "*bands* (`$50–100K`) instead of ARR, expected value and pipeline figures"
        if view.redact
        else "*exact figures*"
    )
    lines = [
        f"*Settings of <#{channel}>*",
        f"• Money in what I post here: {shown} ({blocks.escape(view.why)}).",
        "• Answers only you see and direct messages always show the figures.",
    ]
    events = workflow.channel_setting_events(
        runtime.engine, team_id=workspace_of(runtime), channel=channel
    )
    if events:
        last = events[-1]
        lines.append(
            f"• Last change: redact {_said(_value(last.old_value))} → "
            f"{_said(_value(last.new_value))} by {blocks.user(last.actor)} on "
            f"{blocks.slack_date(last.at)}."
        )
    lines.append(f"Admins change it with {SETTINGS_USAGE}.")
    return "\n".join(lines)


def _value(text: str) -> bool | None:
    return None if not text else text == "on"
