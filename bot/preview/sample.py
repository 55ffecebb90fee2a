"""Everything the bot sends, built by the bot's own code from the bundled sample book.

The sample portfolio is synced into a temporary SQLite database and scored as of
:data:`expansion.pipeline.SAMPLE_AS_OF` (as the tests do); the messages come from the same
functions the listeners and the digest call. Where the bot posts through Slack (the assignment
DM), a recording client stands in for Slack and keeps what would have been posted.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from expansion import digest, pipeline, store, team, workflow
from expansion.connectors import SourceConfig
from expansion.crm import CrmSettings
from expansion.schedule import Schedule
from expansion.store import CrmRecord, DigestRun

from .. import blocks, cards, deep_dive, digest_post, home, lists, team_blocks
from .. import team as bot_team
from ..blocks import ListRef, parse_card_block_id
from ..runtime import Runtime
from ..settings import Settings
from .page import Preview

TEAM = "TPREVIEW"
CHANNEL = "CPREVIEW"
VIEWER = "UMAYA"
#: Display names for the user ids the sample messages mention, and the e-mails of those who
#: own accounts in the sample book (so owners show as @mentions, as in a workspace).
USERS = {VIEWER: "maya", "UALEX": "alex", "UJORDAN": "jordan", "USOFIA": "sofia"}
EMAILS = {
    VIEWER: "maya.chen@example.com",
    "UJORDAN": "jordan.patel@example.com",
    "USOFIA": "sofia.ramirez@example.com",
}
DIGEST_AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WEEKLY = Schedule(cadence="weekly", at_time="09:00", timezone="UTC", weekday=0)


class RecordingClient:
    """The few Web API calls the bot's senders make, answered locally and recorded."""

    def __init__(self) -> None:
        self.posted: list[dict] = []
        self.views: list[dict] = []
        self._ts = itertools.count(1)

    def users_lookupByEmail(self, email: str) -> dict:
        from slack_sdk.errors import SlackApiError

        for uid, known in EMAILS.items():
            if known == email.lower():
                return {"ok": True, "user": {"id": uid, "profile": {"email": known}}}
        raise SlackApiError("users_not_found", {"ok": False, "error": "users_not_found"})

    def users_info(self, user: str) -> dict:
        return {"ok": True, "user": {"id": user, "profile": {"email": EMAILS.get(user)}}}

    def views_open(self, trigger_id: str, view: dict) -> dict:
        self.views.append(view)
        return {"ok": True, "view": {**view, "id": "VPREVIEW", "hash": "1"}}

    def views_update(self, view_id: str, view: dict, hash: str | None = None) -> dict:
        self.views.append(view)
        return {"ok": True, "view": {**view, "id": view_id}}

    def conversations_open(self, users: str) -> dict:
        return {"channel": {"id": f"D{users}"}}

    def conversations_info(self, channel: str) -> dict:
        return {"ok": True, "channel": {"id": channel, "is_ext_shared": False}}

    def chat_postMessage(self, **message) -> dict:
        ts = f"1700000000.{next(self._ts):06d}"
        self.posted.append({**message, "ts": ts})
        return {"ok": True, "ts": ts, "channel": message.get("channel")}

    def chat_getPermalink(self, channel: str, message_ts: str) -> dict:
        return {"permalink": f"https://slack.example/archives/{channel}/p{message_ts}"}


def _many(prefix: str, title: str, messages: list[dict], where: str) -> list[Preview]:
    return [
        Preview(f"{prefix}-{n}", f"{title} ({n} of {len(messages)})", m, where, USERS)
        for n, m in enumerate(messages, 1)
    ]


def build(workdir: Path, source: Path = pipeline.SAMPLE_PORTFOLIO) -> list[Preview]:
    """Every previewed message and view, in the order the index lists them."""
    engine = store.connect(f"sqlite:///{workdir / 'preview.db'}")
    try:
        pipeline.sync_folder(engine, source, source="sample")
        pipeline.score(engine, as_of=pipeline.SAMPLE_AS_OF)
        settings = Settings(
            bot_token="xoxb-preview", signing_secret="preview", fixed_as_of=pipeline.SAMPLE_AS_OF
        )
        return _build(Runtime(engine=engine, settings=settings))
    finally:
        engine.dispose()


def _build(runtime: Runtime) -> list[Preview]:
    items: list[Preview] = []
    slack = RecordingClient()

    def answer(runtime: Runtime, ref: ListRef, *, ephemeral: bool) -> list[dict]:
        return lists.answer(runtime, ref, ephemeral=ephemeral, client=slack)

    items.append(
        Preview(
            "scope-picker",
            "Slash command without a scope",
            answer(runtime, ListRef(scope=""), ephemeral=True)[0],
            "only visible to you",
            USERS,
        )
    )
    for scope, public in (("enterprise", True), ("all", False)):
        for page in (1, 2) if not public else (1,):
            ref = ListRef(scope=scope, page=page, public=public)
            (message,) = answer(runtime, ref, ephemeral=not public)
            items.append(
                Preview(
                    f"list-{scope}-page-{page}",
                    f"List answer: {scope}, page {page}",
                    message,
                    "in a channel" if public else "only visible to you",
                    USERS,
                )
            )

    result = runtime.find("all")
    top = result.opportunity_records(result.opportunities["opportunity_id"].head(3))
    account = top[0]["account_name"]
    items += _many(
        "deep-dive",
        f"Deep-dive: {account}",
        answer(runtime, ListRef(scope=account), ephemeral=True),
        "only visible to you",
    )

    # The account plan a card opens (a modal), from the first card of the enterprise list.
    first = top[0]
    click = {
        "trigger_id": "1.2.3",
        "container": {"type": "message", "channel_id": CHANNEL, "message_ts": "1700000000.1"},
    }
    deep_dive.open_plan(runtime, slack, click, first["account_id"], first["opportunity_id"])  # type: ignore[arg-type]
    items.append(
        Preview(
            "account-plan",
            f"Account plan (modal): {account}",
            slack.views[-1],
            "a modal over the channel",
            USERS,
        )
    )

    sched = WEEKLY
    run = DigestRun(
        team_id=TEAM,
        channel=CHANNEL,
        period=digest.period_of(sched.cadence, sched.local_day(DIGEST_AT)),
        scope=sched.scope,
        max_cards=sched.max_cards,
    )
    planned, _ = digest_post.plan(runtime, run, RecordingClient())
    parent, *thread = planned
    cards_in_thread = [m.payload for m in thread if m.kind == "cards"]
    items.append(
        Preview(
            "digest",
            "Digest: the channel message and its thread of cards",
            parent.payload,
            "in a channel, with its thread open",
            USERS,
            replies=cards_in_thread,
            more_replies=len(thread) - len(cards_in_thread),  # the deep-dives
        )
    )
    items.append(Preview("digest-parent", "Digest: parent", parent.payload, "in a channel", USERS))
    seq = {"cards": 0, digest_post.DEEP_DIVE_KIND: 0}
    for message in thread:
        seq[message.kind] += 1
        n = seq[message.kind]
        if message.kind == "cards":
            items.append(
                Preview(
                    f"digest-cards-{n}",
                    f"Digest: cards of {message.key}, thread message {n}",
                    message.payload,
                    "in the digest's thread",
                    USERS,
                )
            )
        else:
            items.append(
                Preview(
                    f"digest-deep-dive-{n}",
                    f"Digest: deep-dive of {message.key}, message {n}",
                    message.payload,
                    "in the digest's thread, after the cards",
                    USERS,
                )
            )

    # Home: the viewer with three opportunities assigned, and someone with none.
    for opp in top:
        workflow.assign(
            runtime.engine,
            workflow.Opportunity(opp["opportunity_id"], opp["account_id"]),
            assignee=VIEWER,
            actor="UALEX",
        )
    items.append(
        Preview(
            "home",
            "App Home with assigned cards",
            home.with_alerts(runtime, VIEWER, home.view(runtime, VIEWER, slack)),  # type: ignore[arg-type]
            "Home tab",
            USERS,
        )
    )
    items.append(
        Preview(
            "home-empty",
            "App Home, nothing assigned",
            home.view(runtime, "UNOBODY", slack),  # type: ignore[arg-type]
            "Home tab",
            USERS,
        )
    )

    # A new-Tier-1 alert: the sample's Tier 1s, as if two moved up from Tier 2 and one is new.
    tier1 = result.opportunities[result.opportunities["tier"] == 1]["opportunity_id"].head(3)
    moved = runtime.card_records(result, tier1, slack)  # type: ignore[arg-type]
    for record, was in zip(moved, [2, 2, None], strict=False):
        record["was"] = was
    alert = blocks.alert_message(moved)
    items.append(Preview("alert-dm", "New Tier 1 alert (DM)", alert, "in a DM", USERS))

    client = RecordingClient()
    assigned = runtime.opportunity(top[0]["opportunity_id"], client)
    cards.notify_assignee(runtime, client, assigned, assigned_by="UALEX")  # type: ignore[arg-type]
    dm, *thread = client.posted
    items.append(Preview("assigned-dm", "Assignment DM", dm, "in a DM", USERS))
    items += _many(
        "assigned-dm-deep-dive", "Assignment DM: deep-dive", thread, "in the DM's thread"
    )
    items.append(_crm_list(runtime, answer))

    # The Assign modal (suggested owners first) and the workload, with a small team.
    for email, uid, name, role, capacity in [
        ("alex@example.com", "UALEX", "alex", "AE", 3),
        (EMAILS["UJORDAN"], "UJORDAN", "jordan", "CSM", 10),
        (EMAILS["USOFIA"], "USOFIA", "sofia", "AE", 8),
    ]:
        team.add_member(
            runtime.engine, email=email, role=role, capacity=capacity, slack_user_id=uid, name=name
        )
    other = runtime.opportunity(top[1]["opportunity_id"], client)
    suggested = bot_team.suggestions(runtime, client, other)  # type: ignore[arg-type]
    place = team_blocks.AssignPlace(block_id="{}")
    items.append(
        Preview(
            "assign-modal",
            "Assign: suggested owners first",
            team_blocks.assign_view(other, suggested, place),  # type: ignore[arg-type]
            "a modal, from a card's Assign…",
            USERS,
        )
    )
    opportunities = runtime.find("").opportunities
    load = team.workload(opportunities, team.members(runtime.engine))
    unassigned = opportunities[opportunities["assignee"].isna()]
    items.append(
        Preview(
            "workload",
            "/expansion workload",
            team_blocks.workload_message(
                load,
                unassigned=len(unassigned),
                unassigned_ev=float(unassigned["expected_value"].sum()),
            ),
            "ephemeral, to whoever asks",
            USERS,
        )
    )
    return items


def _crm_list(runtime: Runtime, answer) -> Preview:
    """A list page with CRM write-back on (``[crm]`` and a HubSpot source): the first card's
    opportunity is in HubSpot (*Open in HubSpot*), the second's write failed (*Retry*), the
    others offer *Create in HubSpot*. Nothing is sent to HubSpot: the records are stored here."""
    crm_runtime = Runtime(
        engine=runtime.engine,
        settings=replace(
            runtime.settings,
            crm=CrmSettings(portal_id="4242"),
            sources=(SourceConfig("crm", "hubspot"),),
        ),
    )
    ref = ListRef(scope="mid-market", page=1, public=True)
    (page,) = answer(crm_runtime, ref, ephemeral=False)
    ids = [
        parse_card_block_id(b["block_id"])[0]
        for b in page["blocks"]
        if b.get("type") == "actions" and b["block_id"][:1] == "{"
    ]
    link = "https://app.hubspot.com/contacts/4242/record/0-3/18342087"
    with runtime.engine.begin() as conn:
        for oid, status in ((ids[0], "written"), (ids[1], "failed")):
            conn.execute(
                CrmRecord.__table__.insert().values(
                    opportunity_id=oid,
                    account_id=oid.split("-")[0],
                    source="crm",
                    crm="hubspot",
                    status=status,
                    crm_id="18342087" if status == "written" else None,
                    url=link if status == "written" else None,
                    error=None if status == "written" else "HubSpot failed (503)",
                )
            )
    (message,) = answer(crm_runtime, ref, ephemeral=False)
    return Preview(
        "list-crm",
        "List answer with CRM write-back on (Open / Retry / Create in HubSpot)",
        message,
        "in a channel",
        USERS,
    )


def build_in_tempdir(source: Path = pipeline.SAMPLE_PORTFOLIO) -> list[Preview]:
    with tempfile.TemporaryDirectory(prefix="slack-preview-") as tmp:
        return build(Path(tmp), source)
