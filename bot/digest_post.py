"""Posting the Tier 1 digest of one channel: plan it, claim it, post it exactly once.

The order of a run: claim ``(team, channel, period)`` (a second scheduler, a retried job or a
second ``expansion digest`` finds the claim and posts nothing), store the planned messages,
then post them in order, paced to about one per second, recording each ``ts`` as Slack accepts
it. A run that stopped halfway (a crash, Slack 5xx or 429 beyond the client's retries) is
resumed by the scheduler's next sweep from the first message without a ``ts``. A permanent Slack
error (not in the channel, channel gone, token revoked) marks the run failed with the reason,
shown by ``/expansion digest list``; other channels are not affected.
"""

from __future__ import annotations

import logging
import time
import urllib.error
from dataclasses import dataclass
from datetime import UTC, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from expansion import charts, digest, workflow
from expansion.digest import PlannedMessage
from expansion.errors import ExpansionError
from expansion.playbook import account_context
from expansion.schedule import Schedule
from expansion.store import DigestRun

from . import blocks, channels, digest_blocks, sources
from . import charts as slack_charts
from .runtime import Runtime

log = logging.getLogger(__name__)

DEEP_DIVES = 5
CLOSEST = 5
DEFAULT_PACE = 1.0
DEEP_DIVE_KIND = "deep_dive"  # the kind deep_dive.post_once claims, so a click links to ours
# Slack errors that come back with HTTP 200 and still mean "try again later".
TRANSIENT = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}

#: What a permanent Slack error means for a digest, and what to do about it.
REASONS = {
    "not_in_channel": "I am not in the channel: invite me with /invite @Expansion",
    "channel_not_found": "channel not found: deleted, or private without me in it",
    "is_archived": "the channel is archived",
    "invalid_auth": "Slack rejected the bot token: reinstall the app",
    "token_revoked": "the bot token was revoked: reinstall the app",
    "account_inactive": "the bot token belongs to a deactivated app: reinstall it",
    "restricted_action": "the workspace does not let me post there",
    "missing_scope": "the app lacks a scope (chat:write): reinstall it from manifest.yml",
}


def describe_error(error: str | None) -> str:
    """A stored run error in words (``not_in_channel`` -> what to do)."""
    if not error:
        return "unknown error"
    code = error.split(":", 1)[0].strip()
    return REASONS.get(code, error)


@dataclass(frozen=True)
class Target:
    """Where a digest goes and what it holds."""

    team_id: str
    channel: str
    schedule: Schedule


@dataclass
class Report:
    """How one digest attempt ended: ``posted``, ``skipped`` (claimed already), ``failed``,
    ``interrupted`` (to be resumed) or ``dry-run``."""

    status: str
    run: DigestRun | None = None
    posted: int = 0
    error: str | None = None
    messages: list[PlannedMessage] | None = None


def plan(
    runtime: Runtime, run: DigestRun, client: WebClient | None = None
) -> tuple[list[PlannedMessage], object]:
    """The messages of a digest, and the find result they were built from.

    One parent message (top level), then in its thread: one message of cards per account (best
    account first, an account's cards together), then the deep-dives of the top
    :data:`DEEP_DIVES` accounts. ``client`` resolves the owners the parent names to Slack users
    (without it, as in a dry run, their e-mails are shown).
    """
    result = runtime.find(run.scope)
    opps = result.opportunities
    changes = digest.what_changed(runtime.engine, digest.previous_run(runtime.engine, run), opps)
    open_tier1 = digest.tier1(opps, len(opps))
    chosen = open_tier1.head(run.max_cards)
    # As a card shows them: renewal date and the owner's Slack user (e-mail when none matches).
    cards = runtime.card_records(result, chosen["opportunity_id"], client)
    top = digest.top_accounts(chosen, DEEP_DIVES)
    ref = blocks.ListRef(scope=run.scope, page=1, public=True)
    closest = []
    if chosen.empty:  # no Tier 1: show what is nearest instead of silence
        closest = result.opportunity_records(
            opps.loc[opps["tier"] == 2, "opportunity_id"].head(CLOSEST)
        )
    assignee = open_tier1["assignee"].fillna("").astype(str)
    tier1_arr = float(open_tier1["expansion_arr"].fillna(0).sum())
    span = digest_blocks.span_of(run.period)
    parent = digest_blocks.parent(
        title=result.scope.describe(),
        period=digest.period_label(run.period),
        span=span,
        summary=result.summary,
        sources=sources.synced(runtime),
        as_of=result.as_of.isoformat(),
        changes=changes,
        plays=cards[: digest_blocks.START_WITH],
        tier1_total=len(open_tier1),
        tier1_arr=tier1_arr,
        unclaimed=int((assignee == "").sum()),
        shown=len(cards),
        deep_dives=len(top),
        closest=closest,
        ref=review_ref(run.scope),
    )
    # The parent's pictures: what the scope holds by tier and type, and the channel's trend.
    chart = charts.chart_data(
        opps,
        subtitle=f"{digest.period_label(run.period)} · as of {result.as_of:%d %b %Y}",
        trend=digest.tier1_trend(runtime.engine, run, tier1_arr),
    )
    pictures = None if chart.empty else {"data": chart.to_dict()}  # nothing open: no picture
    messages = [PlannedMessage(kind="parent", payload=parent, chart=pictures)]
    # Everything else is a reply in the parent's thread (seq 0): Slack threads do not nest.
    by_account: dict[str, list[dict]] = {}
    for card in cards:
        by_account.setdefault(card["account_id"], []).append(card)
    groups = list(by_account.values())
    start = 1
    for group in groups:
        for payload in digest_blocks.thread_messages(
            group, start=start, ref=ref, total=len(cards), span=span
        ):
            messages.append(
                PlannedMessage(
                    kind="cards", payload=payload, key=group[0]["account_id"], thread_seq=0
                )
            )
        start += len(group)
    for account in top:
        for payload in blocks.deep_dive_messages(account_context(result, account)):
            messages.append(
                PlannedMessage(kind=DEEP_DIVE_KIND, payload=payload, key=account, thread_seq=0)
            )
    return messages, result


def review_ref(scope: str) -> blocks.ListRef:
    """What the parent's *Review all* button lists: the digest's scope ("" is every account),
    page 1, answered only to the person who clicks."""
    return blocks.ListRef(scope=scope.strip() or "all accounts", page=1, public=False)


def run(
    runtime: Runtime,
    client: WebClient,
    target: Target,
    *,
    now: datetime | None = None,
    at: datetime | None = None,
    force: bool = False,
    dry_run: bool = False,
    holder: str | None = None,
    pace: float = DEFAULT_PACE,
    record_failure: bool = False,
    view: channels.View | None = None,
) -> Report:
    """The digest of ``target`` for the period of ``at`` (the scheduled time it is for; default
    ``now``) in the schedule's time zone: a digest due Monday 23:00 and caught up on Tuesday is
    still Monday's.

    A digest that cannot be built (the scope names no account any more, no data) raises
    :class:`ExpansionError`, or with ``record_failure`` (the scheduler) is recorded as a failed
    run, so ``/expansion digest list`` shows why.

    Money is shown as the channel may see it (:func:`bot.channels.view_of`, or ``view``).
    """
    now = now or datetime.now(UTC)
    view = view or channels.view_of(runtime, client, target.channel)
    sched = target.schedule
    period = digest.period_of(sched.cadence, sched.local_day(at or now))
    draft = DigestRun(
        team_id=target.team_id,
        channel=target.channel,
        period=period,
        scope=sched.scope,
        max_cards=sched.max_cards,
    )
    holder = holder or digest.holder_id()
    try:
        # Planned before the claim: a scope that no longer parses or an empty database is said
        # now, and the plan stored with the claim is what the data says at claim time.
        with view.building():
            messages, result = plan(runtime, draft, client)
    except ExpansionError as exc:
        if dry_run or not record_failure:
            raise
        claim = _claim(runtime, draft, holder=holder, force=force, now=now)
        if claim.ours:
            digest.finish(runtime.engine, claim.run, "failed", error=str(exc))
        return Report(status="failed", run=claim.run or claim.existing, error=str(exc))
    if dry_run:
        return Report(status="dry-run", messages=messages)
    claim = _claim(runtime, draft, holder=holder, force=force, now=now)
    if not claim.ours:
        return Report(status="skipped", run=claim.existing)
    digest.save_plan(
        runtime.engine, claim.run, messages, as_of=result.as_of, snapshot=result.opportunities
    )
    return post(runtime, client, claim.run, pace=pace, view=view)


def _claim(
    runtime: Runtime, draft: DigestRun, *, holder: str, force: bool, now: datetime
) -> digest.Claim:
    return digest.claim(
        runtime.engine,
        team_id=draft.team_id,
        channel=draft.channel,
        period=draft.period,
        scope=draft.scope,
        max_cards=draft.max_cards,
        holder=holder,
        force=force,
        now=now,
    )


def resume_interrupted(
    runtime: Runtime,
    client: WebClient,
    *,
    holder: str,
    pace: float = DEFAULT_PACE,
    now: datetime | None = None,
) -> list[Report]:
    """Take over and finish every run whose holder stopped renewing its lease."""
    reports = []
    for stale in digest.interrupted(runtime.engine, now=now):
        claim = digest.take_over(runtime.engine, stale, holder=holder, now=now)
        if claim.ours:
            log.info("resuming digest run %s (%s %s)", stale.id, stale.channel, stale.period)
            reports.append(post(runtime, client, claim.run, pace=pace))
    return reports


def post(
    runtime: Runtime,
    client: WebClient,
    run: DigestRun,
    *,
    pace: float,
    view: channels.View | None = None,
) -> Report:
    """Post what is missing of ``run``'s plan, in order; plan it first if it has none yet.

    What the channel may see of money is decided once, before anything is posted (``view``, or
    :func:`bot.channels.view_of` now): a plan stored with figures is banded as it is posted."""
    engine = runtime.engine
    view = view or channels.view_of(runtime, client, run.channel)
    try:
        messages = digest.plan_of(engine, run)
        if not messages:
            with view.building():
                planned, result = plan(runtime, run, client)
            messages = digest.save_plan(
                engine, run, planned, as_of=result.as_of, snapshot=result.opportunities
            )
    except ExpansionError as exc:  # no data, a scope that no longer parses: say so
        log.exception("digest run %s could not be planned", run.id)
        digest.finish(engine, run, "failed", error=f"could not build the digest: {exc}")
        return Report(status="failed", run=run, error=str(exc))
    ts = {m.seq: m.ts for m in messages}
    for message in messages:  # a chart to share under a parent posted before a crash
        if message.ts is not None and _chart_pending(message):
            _chart_in_thread(runtime, client, run, message, message.ts, view)
    skip_accounts: set[str] = set()
    posted = 0
    last = 0.0
    for message in messages:
        if message.ts is not None or message.key in skip_accounts:
            continue
        thread_ts = ts.get(message.thread_seq) if message.thread_seq is not None else None
        first_dive = message.kind == DEEP_DIVE_KIND and _first_of_account(message, messages)
        if first_dive and not _ours_to_post(runtime, run, message, thread_ts):
            skip_accounts.add(message.key)  # a "Deep dive" click posted it first: it is there
            continue
        wait = pace - (time.monotonic() - last)
        if last and wait > 0:
            time.sleep(wait)
        try:
            digest.renew(engine, run)  # a takeover is noticed before posting, not after
            response = _post_message(runtime, client, run, message, thread_ts, view)
        except digest.LeaseLostError:
            log.warning("digest run %s was taken over; stopping", run.id)
            return Report(status="interrupted", run=run, posted=posted, error="taken over")
        except SlackApiError as exc:
            status = exc.response.status_code
            error = str(exc.response.get("error") or f"HTTP {status}")
            if status == 429 or status >= 500 or error in TRANSIENT:
                digest.release(engine, run, error=f"{error}: Slack answered {status}, will resume")
                log.warning("digest run %s interrupted (%s); will resume", run.id, error)
                return Report(status="interrupted", run=run, posted=posted, error=error)
            digest.finish(engine, run, "failed", error=error)
            workflow.release_claims(engine, digest.claim_owner(run))
            log.warning("digest run %s failed: %s", run.id, error)
            return Report(status="failed", run=run, posted=posted, error=error)
        except (urllib.error.URLError, OSError) as exc:
            digest.release(engine, run, error=f"connection: {exc}; will resume")
            return Report(status="interrupted", run=run, posted=posted, error=str(exc))
        last = time.monotonic()
        ts[message.seq] = response["ts"]
        try:
            digest.record_message(
                engine,
                run,
                message.seq,
                response["ts"],
                post=_deep_dive_place(run, message, thread_ts) if first_dive else None,
            )
        except digest.LeaseLostError:
            log.warning("digest run %s was taken over; stopping", run.id)
            return Report(status="interrupted", run=run, posted=posted, error="taken over")
        posted += 1
        if _chart_pending(message):
            _chart_in_thread(runtime, client, run, message, response["ts"], view)
        _claim_threads(runtime, run, message, messages, response["ts"])
    digest.finish(engine, run, "posted")
    log.info("digest run %s posted (%s messages now)", run.id, posted)
    return Report(status="posted", run=digest.get_run(engine, int(run.id)), posted=posted)


def _transient(exc: SlackApiError) -> bool:
    status = exc.response.status_code
    return status == 429 or status >= 500 or exc.response.get("error") in TRANSIENT


def _post_message(
    runtime: Runtime,
    client: WebClient,
    run: DigestRun,
    message: PlannedMessage,
    thread_ts: str | None,
    view: channels.View,
):
    """Post one planned message; the parent with its charts (uploaded first, once).

    Money is as the channel may see it: the payload goes through ``view.guard`` and the
    pictures are drawn inside ``view.building()`` (bands on every bar of a redacted channel).

    A chart is never why a digest fails: when the upload is refused (no ``files:write``, files
    disabled...) the parent goes without it; when Slack refuses the image blocks, the parent
    goes without them and the charts are shared in its thread (:func:`_chart_in_thread`).
    Slack's transient errors interrupt the run, to be resumed, as for any post.
    """
    payload = view.guard(message.payload)
    with view.building():
        images = view.guard({"blocks": _chart_images(runtime, client, run, message)})["blocks"]
    post = {"channel": run.channel, "thread_ts": thread_ts, "unfurl_links": False}
    if images:
        kept = payload["blocks"][: digest_blocks.MAX_BLOCKS - len(images)]
        at = next(
            (i for i, b in enumerate(kept) if b.get("block_id") == "digest_parent"), len(kept)
        )
        try:
            return client.chat_postMessage(
                **post,
                unfurl_media=False,
                **{**payload, "blocks": kept[:at] + images + kept[at:]},
            )
        except SlackApiError as exc:
            if _transient(exc) or exc.response.get("error") != "invalid_blocks":
                raise
            log.warning(
                "digest run %s: Slack refused the chart's image blocks; "
                "posting it in the thread instead",
                run.id,
            )
            assert message.chart is not None
            message.chart["in_thread"] = "pending"
            digest.record_chart(runtime.engine, run, message)
    return client.chat_postMessage(**post, unfurl_media=False, **payload)


def _chart_images(
    runtime: Runtime, client: WebClient, run: DigestRun, message: PlannedMessage
) -> list[dict]:
    """The image blocks of ``message``'s chart, uploading its pictures first unless an earlier
    attempt did (the file ids are stored), or was refused."""
    chart = message.chart
    if chart is None or "refused" in chart:
        return []
    if "files" not in chart:
        data = charts.ChartData.from_dict(chart["data"])
        try:
            chart["files"] = slack_charts.upload(client, slack_charts.pictures(data))
        except SlackApiError as exc:
            if _transient(exc):
                raise
            chart["refused"] = str(exc.response.get("error") or exc.response.status_code)
        except SlackRequestError as exc:  # the upload URL refused the bytes
            chart["refused"] = str(exc)[:200]
        if "refused" in chart:
            log.warning(
                "digest run %s: the chart was not uploaded (%s); posting without it",
                run.id,
                chart["refused"],
            )
        digest.record_chart(runtime.engine, run, message)
    if chart.get("in_thread") or not chart.get("files"):
        return []
    return slack_charts.image_blocks(chart["files"])


def _chart_pending(message: PlannedMessage) -> bool:
    return message.chart is not None and message.chart.get("in_thread") == "pending"


def _chart_in_thread(
    runtime: Runtime,
    client: WebClient,
    run: DigestRun,
    message: PlannedMessage,
    ts: str,
    view: channels.View,
) -> None:
    """Share the parent's charts in its thread (Slack refused them as image blocks). Once: the
    outcome is stored; a failure is logged, never the digest's."""
    assert message.chart is not None
    data = charts.ChartData.from_dict(message.chart["data"])
    try:
        with view.building():
            pictures = slack_charts.pictures(data)
        files = slack_charts.upload(client, pictures, channel=run.channel, thread_ts=ts)
        message.chart["in_thread"] = [f["id"] for f in files]
    except (SlackApiError, SlackRequestError, urllib.error.URLError, OSError) as exc:
        error = exc.response.get("error") if isinstance(exc, SlackApiError) else str(exc)
        log.warning(
            "digest run %s: the chart could not be shared in the thread (%s)", run.id, error
        )
        message.chart["in_thread"] = f"failed: {error}"[:200]
    digest.record_chart(runtime.engine, run, message)


def _claim_threads(
    runtime: Runtime,
    run: DigestRun,
    card_message: PlannedMessage,
    messages: list[PlannedMessage],
    ts: str,
) -> None:
    """Claim the deep-dives that will thread under a just-posted message (the parent), as a
    "Deep dive" click on a card in its thread would, so a click before the digest gets there
    links to ours instead of posting."""
    for m in messages:
        opens = m.kind == DEEP_DIVE_KIND and m.thread_seq == card_message.seq
        if opens and _first_of_account(m, messages):
            place = _deep_dive_place(run, m, ts)
            workflow.claim_post(runtime.engine, **place, owner=digest.claim_owner(run))


def _first_of_account(message: PlannedMessage, messages: list[PlannedMessage]) -> bool:
    first = next(m for m in messages if m.kind == DEEP_DIVE_KIND and m.key == message.key)
    return first.seq == message.seq


def _deep_dive_place(run: DigestRun, message: PlannedMessage, thread_ts: str | None) -> dict:
    return {
        "channel": run.channel,
        "thread_ts": thread_ts or "",
        "kind": DEEP_DIVE_KIND,
        "key": message.key,
    }


def _ours_to_post(
    runtime: Runtime, run: DigestRun, message: PlannedMessage, thread_ts: str | None
) -> bool:
    """Whether this run posts the account's deep-dive: its claim is ours (made when the card was
    posted, or now if that was lost in a crash), not a click's."""
    place = _deep_dive_place(run, message, thread_ts)
    owner = digest.claim_owner(run)
    if workflow.claim_post(runtime.engine, **place, owner=owner):
        return True
    existing = workflow.find_post(runtime.engine, **place)
    return existing is not None and existing.owner == owner and existing.ts is None
