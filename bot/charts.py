"""Charts in Slack: the engine's PNGs (``expansion.charts``) uploaded and shown.

- The digest's parent message shows them in image blocks (``slack_file``) of files uploaded
  without a channel first (``files_upload_v2``); see ``bot/digest_post.py`` for when that is refused.
- ``/expansion chart [scope]`` answers ephemerally with the figures in words and a *Share in
  channel* button, and sends the pictures to the requester in a direct message: an ephemeral
  message cannot carry an uploaded file, and a file uploaded without a channel is visible only
  where it is shared. *Share in channel* uploads the same charts into the channel.

Rendering happens in the lazy part of a listener or in the scheduler, never inside Slack's
3-second acknowledgement (about 0.2 s a chart).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from expansion import charts
from expansion.charts import ChartData
from expansion.numbers import money

from . import blocks, channels
from .replies import actor, channel_of, dm_channel, send, tell
from .runtime import Runtime
from .sharing import CANNOT_POST

log = logging.getLogger(__name__)

SHARE_ACTION = "chart_share"


@dataclass(frozen=True)
class Picture:
    """One chart ready to upload: its PNG, file name, title and alt text."""

    filename: str
    title: str
    png: bytes
    alt: str


def pictures(data: ChartData) -> list[Picture]:
    """The pipeline chart, and the Tier 1 trend when there are at least two digests to join."""
    out = [
        Picture(
            "expansion-pipeline.png",
            "Expansion pipeline by tier and type",
            charts.render_pipeline(data),
            describe_pipeline(data),
        )
    ]
    if len(data.trend) >= 2:
        out.append(
            Picture(
                "expansion-tier1-trend.png",
                "Tier 1 pipeline, digest by digest",
                charts.render_trend(data.trend),
                describe_trend(data),
            )
        )
    return out


def describe_pipeline(data: ChartData) -> str:
    """The pipeline chart in words (its alt text): every bar's figures."""
    tiers = "; ".join(
        f"{b.label} {money(b.pipeline)} ({money(b.expected)} expected)"
        for b in data.by_tier
        if b.pipeline or b.expected
    )
    types = "; ".join(f"{b.label} {money(b.pipeline)}" for b in data.by_type)
    text = f"Bar chart of pipeline and expected value. By tier: {tiers or 'none'}."
    if types:
        text += f" By type: {types}."
    return blocks.clip(text, 2000)


def describe_trend(data: ChartData) -> str:
    points = ", ".join(f"{p.label} {money(p.pipeline)}" for p in data.trend)
    return blocks.clip(f"Line chart of Tier 1 pipeline by digest: {points}.", 2000)


def upload(
    client: WebClient,
    files: list[Picture],
    *,
    channel: str | None = None,
    thread_ts: str | None = None,
    comment: str | None = None,
) -> list[dict]:
    """Upload ``files`` in one ``files_upload_v2`` call (no channel: private to the bot until a
    message shows them). Returns ``[{"id", "alt", "title"}]`` in order."""
    response = client.files_upload_v2(
        file_uploads=[
            {"content": f.png, "filename": f.filename, "title": f.title, "alt_txt": f.alt}
            for f in files
        ],
        channel=channel,
        thread_ts=thread_ts,
        initial_comment=comment,
    )
    ids = [f["id"] for f in response.get("files") or []]
    return [{"id": i, "alt": f.alt, "title": f.title} for i, f in zip(ids, files, strict=False)]


def image_blocks(uploaded: list[dict]) -> list[dict]:
    """Image blocks showing uploaded files (``slack_file``) with their alt text (no block
    title: the picture has its own, and the parent's words stay what to do)."""
    return [
        {"type": "image", "slack_file": {"id": f["id"]}, "alt_text": blocks.clip(f["alt"], 2000)}
        for f in uploaded
    ]


# --------------------------------------------------------------------------- /expansion chart


def scope_data(runtime: Runtime, scope: str) -> tuple[ChartData, str]:
    """The chart data of a scope (no trend: that is a channel's digests) and its description."""
    result = runtime.find(scope)
    label = result.scope.describe()
    data = charts.chart_data(result.opportunities, subtitle=f"As of {result.as_of:%d %b %Y}")
    return data, label


def summary_text(data: ChartData) -> str:
    """The chart's figures in one mrkdwn line per tier (for the ephemeral answer)."""
    lines = [
        f"• *{b.label}*: {money(b.pipeline)} pipeline, {money(b.expected)} expected"
        for b in data.by_tier
        if b.pipeline or b.expected
    ]
    return "\n".join(lines) or "No open opportunities in this scope."


def answer(
    runtime: Runtime, client: WebClient, command: dict, respond: Callable, scope: str
) -> None:
    """``/expansion chart [scope]``: the pictures to the requester's DM, the figures and a
    *Share in channel* button ephemerally where they asked."""
    data, label = scope_data(runtime, scope)
    user = command["user_id"]
    where = "sent to you in a direct message from me"
    try:
        upload(
            client,
            pictures(data),
            channel=dm_channel(client, user),
            comment=f"Expansion pipeline: {blocks.escape(label)}",
        )
    except SlackApiError as exc:
        if exc.response.status_code == 429 or exc.response.status_code >= 500:
            raise
        # No files:write, files disabled...: the figures in words still answer the question.
        error = blocks.escape(exc.response.get("error"))
        log.warning("/expansion chart: the picture was not uploaded (%s)", error)
        where = f"I could not send the picture ({error}); here are its figures"
    share = blocks.button("Share in channel", SHARE_ACTION, json.dumps({"s": scope}))
    share["accessibility_label"] = blocks.clip(f"Share the pipeline chart of {label}", 75)
    send(
        respond,
        text=blocks.clip(f"Pipeline chart of {blocks.escape(label)}: {where}.", 3000),
        blocks=[
            blocks.section(
                f"*Pipeline chart of {blocks.escape(label)}*: {where}.\n{summary_text(data)}"
            ),
            {"type": "actions", "block_id": "chart_share", "elements": [share]},
        ],
        response_type="ephemeral",
    )


def share(runtime: Runtime, client: WebClient, body: dict, respond: Callable | None) -> None:
    """*Share in channel*: upload the scope's charts into the channel the answer was in."""
    value = body["actions"][0].get("value") or "{}"
    scope = str(json.loads(value).get("s", ""))
    data, label = scope_data(runtime, scope)
    channel = channel_of(body)
    if not channel:
        tell(body, client, respond, "I can only share a chart in a channel.")
        return
    # Drawn as the channel may see money: bands on every bar of a redacted channel.
    with channels.view_of(runtime, client, channel).building():
        shown = pictures(data)
    try:
        upload(
            client,
            shown,
            channel=channel,
            comment=f"<@{actor(body)}> shared the expansion pipeline of {blocks.escape(label)}",
        )
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error not in CANNOT_POST:
            raise
        tell(
            body,
            client,
            respond,
            f"I can't share files in this channel ({blocks.escape(error)}). Invite me with "
            "`/invite @Expansion` and try again.",
        )
        return
    tell(body, client, respond, "Shared the chart in this channel.")
