"""The Tier 1 digest against the local Slack emulator: content, what changed, exactly once,
resume after a crash, rate limits and permanent errors.

Runs in-process (the bot's digest module with a real WebClient pointed at the emulator) on a
copy of the sample portfolio with a few more customer asks (``ASKS``); ``expansion digest`` as a
subprocess is covered at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from bot_harness import EXPANSION, TEAM, TOKEN
from slack_emulator import validate_blocks
from slack_sdk import WebClient

from bot import blocks, digest_post
from bot.app import web_client
from bot.runtime import Runtime
from bot.settings import Settings
from expansion import digest, pipeline, store
from expansion.schedule import Schedule

AS_OF = pipeline.SAMPLE_AS_OF
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WEEKLY = Schedule(cadence="weekly", at_time="09:00", timezone="UTC", weekday=0)
# The sample has three Tier 1 deals (Tier 1 takes a stated ask with a budget and a timeline).
# The digest is about a book with many: these customers' asks, each with a head count or a
# named product, a budget and a timeline, give it about ten Tier 1 deals over nine accounts,
# Cobalt Energy Partners with two, all of them enterprise or mid-market.
ASKS = "".join(
    [
        "ACC-1011,expansion_intent,2026-11-12,CTO asked for a quote for 60 more Engineering seats for the ShadowMap team in Q1,Engineering,60,28800\n",
        "ACC-1003,expansion_intent,2026-11-11,Head of Risk asked for a proposal for 80 seats for the Risk team ahead of the 2027 SOC 2 audit,Risk,80,38400\n",
        "ACC-1006,expansion_intent,2026-11-10,Field Operations director asked for a quote for 90 more seats for the grid crews starting in Q1,Field Operations,90,75600\n",
        "ACC-1006,expansion_intent,2026-11-13,Asset Management asked for a quote for 120 more seats for the digital twin rollout in Q1,Asset Management,120,100800\n",
        "ACC-1008,expansion_intent,2026-11-12,VP Engineering asked for a proposal for 60 more Engineering seats in Q1 2027,Engineering,60,50400\n",
        "ACC-1027,expansion_intent,2026-11-12,E-commerce lead asked for a quote for 40 more seats before the December peak,E-commerce,40,19200\n",
        "ACC-1022,expansion_intent,2026-11-13,Head of Lending asked for a proposal for 60 more Lending seats in Q1,Lending,60,28800\n",
    ]
)


@dataclass
class Book:
    """What the digest's book holds, read from the engine (best first): the digest is checked
    against these, not against numbers copied from an earlier run."""

    everything: pipeline.FindResult
    enterprise: pipeline.FindResult
    smb: pipeline.FindResult

    @property
    def tier1(self) -> list[dict]:
        opps = self.everything.opportunities
        return opps[opps["tier"] == 1][
            ["opportunity_id", "account_id", "account_name", "type_label"]
        ].to_dict(orient="records")

    @property
    def ids(self) -> list[str]:
        return [o["opportunity_id"] for o in self.tier1]

    def accounts(self) -> list[str]:
        """Account ids of the Tier 1 deals, best first, each once."""
        return list(dict.fromkeys(o["account_id"] for o in self.tier1))

    def name(self, opportunity_id: str) -> str:
        opps = self.everything.opportunities.set_index("opportunity_id")
        return opps.loc[opportunity_id, "account_name"]

    def what(self, opportunity_id: str) -> str:
        """An opportunity as the digest's "what changed" lines name it."""
        opps = self.everything.opportunities.set_index("opportunity_id")
        row = opps.loc[opportunity_id]
        return f"*{row['account_name']}* · {row['type_label']}"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The sample portfolio plus :data:`ASKS`, synced and scored once; each test gets a copy of
    the file."""
    folder = tmp_path_factory.mktemp("portfolio") / "portfolio"
    shutil.copytree(pipeline.SAMPLE_PORTFOLIO, folder)
    signals = folder / "signals.csv"
    assert signals.read_text().endswith("\n")
    with signals.open("a") as f:
        f.write(ASKS)
    path = tmp_path_factory.mktemp("digest") / "template.db"
    engine = store.connect(f"sqlite:///{path}")
    pipeline.sync_folder(engine, folder, source="sample")
    pipeline.score(engine, as_of=AS_OF)
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def book(template) -> Book:
    engine = store.connect(f"sqlite:///{template}")
    try:
        book = Book(*(pipeline.find(engine, s, as_of=AS_OF) for s in ("", "enterprise", "smb")))
    finally:
        engine.dispose()
    # The book these tests need: many Tier 1 deals over more accounts than the five deep-dives,
    # one account with two of them apart, more than two in enterprise, none in smb.
    assert 8 <= len(book.tier1) <= 12 and len(book.accounts()) > digest_post.DEEP_DIVES
    order = [o["account_id"] for o in book.tier1]
    where = {a: [i for i, x in enumerate(order) if x == a] for a in order}
    assert any(at[-1] - at[0] > 1 for at in where.values()), order
    assert (book.enterprise.opportunities["tier"] == 1).sum() > 2
    assert not (book.smb.opportunities["tier"] == 1).any()
    assert (book.smb.opportunities["tier"] == 2).any()
    return book


@pytest.fixture
def db_url(template, tmp_path) -> str:
    path = tmp_path / "digest.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def runtime(db_url, slack):
    settings = Settings(
        bot_token=TOKEN, signing_secret="s", api_url=slack.api_url, fixed_as_of=AS_OF
    )
    engine = store.connect(db_url)
    yield Runtime(engine=engine, settings=settings)
    engine.dispose()


@pytest.fixture
def client(slack) -> WebClient:
    return web_client(TOKEN, slack.api_url)


@pytest.fixture
def channel(request) -> str:
    """A channel of its own per test (the emulator is shared by the module)."""
    import hashlib

    return "C" + hashlib.sha1(request.node.name.encode()).hexdigest()[:10].upper()


def target(channel: str, schedule: Schedule = WEEKLY) -> digest_post.Target:
    return digest_post.Target(team_id=TEAM, channel=channel, schedule=schedule)


def posted(slack, channel: str) -> list[dict]:
    """Messages in ``channel``, oldest first."""
    with slack._lock:
        items = [m for (c, _), m in slack.messages.items() if c == channel]
    return sorted(items, key=lambda m: float(m["ts"]))


def card_ids(message: dict) -> list[str]:
    return [
        b["block_id"].split('"o": "')[1].split('"')[0]
        for b in message["blocks"]
        if b["type"] == "actions" and b.get("block_id", "").startswith('{"o"')
    ]


def text_of(message: dict) -> str:
    from bot_harness import all_text

    return all_text(message["blocks"])


def run(runtime, client, channel, **kwargs) -> digest_post.Report:
    kwargs.setdefault("now", MONDAY)
    return digest_post.run(runtime, client, target(channel), pace=0, **kwargs)


def run_on_the_clock(runtime, client, channel) -> digest_post.Report:
    """A run claimed now, for the tests of interrupted runs: its lease is renewed on the wall
    clock, and a claim stamped with the fixed Monday would be more than half a day old (given
    up, not resumed) once the calendar passed it."""
    return run(runtime, client, channel, now=datetime.now(UTC))


# --------------------------------------------------------------------------- content


def top_level(messages: list[dict]) -> list[dict]:
    return [m for m in messages if not m.get("thread_ts")]


def thread_of(messages: list[dict], parent: dict) -> list[dict]:
    return [m for m in messages if m.get("thread_ts") == parent["ts"]]


def test_one_message_in_the_channel_and_its_cards_in_the_thread(
    runtime, client, slack, channel, book
):
    report = run(runtime, client, channel)
    assert report.status == "posted"
    messages = posted(slack, channel)
    assert len(messages) == report.run.messages == report.posted
    for m in messages:
        assert validate_blocks(m["blocks"]) == []

    (parent,) = top_level(messages)  # exactly one top-level message per run
    replies = thread_of(messages, parent)
    assert len(replies) == len(messages) - 1  # everything else is in its thread
    head = text_of(parent)
    tier1 = book.everything.opportunities
    tier1 = tier1[tier1["tier"] == 1]
    arr = blocks.money(tier1["expansion_arr"].sum())
    # One headline figure, the plays to start with and who owns them, the unclaimed count.
    assert parent["blocks"][0]["text"]["text"] == (
        f"{len(book.tier1)} Tier 1 plays this week, +{arr} ARR"
    )
    assert "Start with these 3:" in head
    assert f"{len(book.tier1)} of {len(book.tier1)} unclaimed" in head
    assert "pipeline" not in head and "expected value" not in head  # not three figures
    assert "Expansion digest · All accounts · week of 23 Nov 2026" in head
    assert "first digest" not in head and "What changed" not in head
    # One primary button: Review all.
    buttons = [e for b in parent["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b.get("style")) for b in buttons] == [("digest_review_all", "primary")]
    # The notification names the top play and how many more.
    top = book.everything.opportunity_records([book.ids[0]])[0]
    assert parent["text"].startswith(f"Tier 1 this week: {top['account_name']}, ")
    assert f"(+{blocks.money(top['expansion_arr'])}); {len(book.tier1) - 1} more" in parent["text"]

    cards = [m for m in replies if not m["text"].startswith("Deep dive:")]
    dives = [m for m in replies if m["text"].startswith("Deep dive:")]
    assert cards and dives and replies == cards + dives  # the cards first, then the dives
    # Every Tier 1 card, each account's cards in one message, accounts best first.
    seen = [card_ids(m) for m in cards]
    assert sorted(i for ids in seen for i in ids) == sorted(book.ids)
    account = {o["opportunity_id"]: o["account_id"] for o in book.tier1}
    assert [{account[i] for i in ids} for ids in seen] == [{a} for a in book.accounts()]
    for ids in seen:
        assert ids == [i for i in book.ids if i in ids]  # best first within the account
    # The deep-dives of the top accounts, in the thread, in card order.
    names = {o["account_id"]: o["account_name"] for o in book.tier1}
    dived = list(dict.fromkeys(m["text"].removeprefix("Deep dive: ").split(" (")[0] for m in dives))
    assert dived == [names[a] for a in book.accounts()[: digest_post.DEEP_DIVES]]


def test_an_account_with_two_cards_apart_gets_one_message(runtime, client, slack, channel, book):
    order = [o["account_id"] for o in book.tier1]
    split = next(a for a in order if order.index(a) + 1 < len(order) - order[::-1].index(a) - 1)
    run(runtime, client, channel)
    holding = [m for m in posted(slack, channel) if any(f"{split}-" in i for i in card_ids(m))]
    assert len(holding) == 1
    assert len(card_ids(holding[0])) == order.count(split)
    assert sum(b["type"] == "divider" for b in holding[0]["blocks"]) == order.count(split) - 1


def test_an_account_too_big_for_one_message_is_split_between_cards(book):
    from bot import digest_blocks

    base = book.everything.opportunity_records([book.ids[0]])[0]
    long = {**base, "evidence": ["x" * 240] * 3, "description": "y" * 400}
    group = [{**long, "opportunity_id": f"{base['opportunity_id']}-{n}"} for n in range(40)]
    ref = blocks.ListRef(scope="", page=1, public=True)
    messages = digest_blocks.thread_messages(group, start=1, ref=ref, total=40, span="this week")
    assert len(messages) > 1
    assert [i for m in messages for i in card_ids(m)] == [g["opportunity_id"] for g in group]
    for m in messages:
        assert validate_blocks(m["blocks"]) == []
        assert blocks.text_size(m["blocks"]) <= blocks.MAX_MESSAGE_CHARS
        cards = len(card_ids(m))
        # Whole cards (each ends with its actions), a divider between them, none at the end.
        assert sum(b["type"] == "divider" for b in m["blocks"]) == cards - 1
        assert m["blocks"][-1]["type"] == "actions"
    assert messages[-1]["text"].endswith(f"({len(messages)}/{len(messages)})")


def test_owners_are_mentioned_when_slack_knows_their_email(runtime, client, slack, channel, book):
    owners = [o["owner"] for o in book.everything.opportunity_records(book.ids[:3])]
    assert "maya.chen@example.com" in owners  # the emulator's UMAYA
    unknown = next(o for o in owners if o != "maya.chen@example.com")
    run(runtime, client, channel)
    head = text_of(posted(slack, channel)[0])
    assert "<@UMAYA>" in head and "maya.chen@example.com" not in head
    assert unknown in head  # nobody in Slack has it: the e-mail
    # Once someone has that e-mail (in any case), the next digest mentions them.
    slack.add_user("UJORDAN", email=unknown.upper(), name="jordan")
    fresh = Runtime(engine=runtime.engine, settings=runtime.settings)  # a new process' cache
    digest_post.run(fresh, client, target(channel), now=MONDAY, force=True, pace=0)
    head = text_of(top_level(posted(slack, channel))[-1])
    assert "<@UJORDAN>" in head and unknown not in head, head


def test_a_deep_dive_click_on_a_digest_card_links_to_the_threaded_one(
    runtime, client, slack, channel, book
):
    from bot import deep_dive

    account = book.accounts()[0]
    run(runtime, client, channel)
    (parent,) = top_level(posted(slack, channel))
    before = len(posted(slack, channel))
    # A click on a card in the thread answers in that thread (thread_of: the parent's ts).
    ts, new = deep_dive.post_once(
        runtime, client, channel=channel, account_id=account, thread_ts=parent["ts"]
    )
    assert not new and ts is not None
    assert len(posted(slack, channel)) == before
    dive = next(m for m in posted(slack, channel) if m["ts"] == ts)
    assert dive["thread_ts"] == parent["ts"] and dive["text"].startswith("Deep dive:")


def test_closed_opportunities_are_left_out(runtime, client, slack, channel, book):
    tier1 = book.ids
    # The best deal of an account with only one Tier 1: snoozing it takes the account out.
    accounts = [i.rsplit("-", 2)[0] for i in tier1]
    only = next(i for i, a in zip(tier1, accounts, strict=True) if accounts.count(a) == 1)
    won = tier1[-1] if tier1[-1] != only else tier1[-2]
    for opp, outcome in ((only, "snoozed"), (won, "won")):
        pipeline.record_outcome(runtime.engine, opp, outcome, actor="UADMIN", as_of=AS_OF)
    run(runtime, client, channel)
    messages = posted(slack, channel)
    ids = [i for m in messages for i in card_ids(m)]
    assert sorted(ids) == sorted(i for i in tier1 if i not in (only, won))
    assert f"{len(tier1) - 2} Tier 1 plays" in text_of(messages[0])
    assert not any(book.name(only) in m["text"] for m in messages)


def test_max_cards_and_scope(runtime, client, slack, channel, book):
    schedule = Schedule(
        cadence="daily", at_time="08:00", timezone="UTC", scope="enterprise", max_cards=2
    )
    report = digest_post.run(runtime, client, target(channel, schedule), now=MONDAY, pace=0)
    messages = posted(slack, channel)
    assert report.run.period == "2026-11-23"
    head = text_of(messages[0])
    assert "Expansion digest · Enterprise · Mon 23 Nov 2026" in head
    enterprise = book.enterprise.opportunities
    enterprise = enterprise.loc[enterprise["tier"] == 1, "opportunity_id"].tolist()
    assert f"{len(enterprise)} Tier 1 plays today" in head
    assert "The thread has the top 2 cards" in head
    assert sorted(i for m in messages for i in card_ids(m)) == sorted(enterprise[:2])


def test_no_tier1_gets_the_pipeline_not_silence(runtime, client, slack, channel, book):
    schedule = Schedule(cadence="weekly", at_time="09:00", timezone="UTC", weekday=0, scope="smb")
    digest_post.run(runtime, client, target(channel, schedule), now=MONDAY, pace=0)
    messages = posted(slack, channel)
    assert len(messages) == 1
    head = text_of(messages[0])
    assert messages[0]["text"] == "No Tier 1 plays this week in SMB"
    assert "Nothing new in Tier 1 this time" in head
    tier2 = book.smb.summary["tiers"]["2"]["count"]
    assert tier2 == (book.smb.opportunities["tier"] == 2).sum() > 0
    assert f"Tier 2: {tier2} (" in head and "Closest to Tier 1" in head


# --------------------------------------------------------------------------- what changed


def test_what_changed_since_the_last_digest(runtime, client, slack, channel, book):
    engine = runtime.engine
    tier1 = book.ids
    first = run(runtime, client, channel).run
    head = text_of(posted(slack, channel)[0])
    assert "What changed" not in head and "first digest" not in head  # nothing to compare with
    # Between the digests: an assignment and outcomes recorded from Slack...
    pipeline.assign(engine, tier1[1], assignee="UMAYA", actor="UADMIN", as_of=AS_OF)
    pipeline.record_outcome(engine, tier1[3], "won", actor="UMAYA", as_of=AS_OF)
    pipeline.record_outcome(engine, tier1[7], "snoozed", actor="UADMIN", as_of=AS_OF)
    pipeline.record_outcome(engine, tier1[6], "lost", actor="UADMIN", as_of=AS_OF)
    # ...and a re-scoring that moved tiers (rewrite what the first digest saw).
    tier2 = pipeline.find(engine, "", as_of=AS_OF).opportunities
    tier2 = tier2[tier2["tier"] == 2]["opportunity_id"].tolist()
    items = digest.ITEMS
    with engine.begin() as conn:
        conn.execute(
            items.update()
            .where(items.c.run_id == first.id, items.c.opportunity_id == tier1[8])
            .values(tier=2)
        )
        conn.execute(
            items.update()
            .where(items.c.run_id == first.id, items.c.opportunity_id == tier2[0])
            .values(tier=1)
        )
        conn.execute(
            items.update()
            .where(items.c.run_id == first.id, items.c.opportunity_id == tier2[1])
            .values(tier=3)
        )
    second = run(runtime, client, channel, now=MONDAY + timedelta(days=7))
    assert second.run.period == "2026-W49"
    head = text_of(posted(slack, channel)[first.messages])
    assert "What changed since Mon 23 Nov" in head
    assert f":new: New Tier 1 (1): {book.what(tier1[8])} (was Tier 2)" in head
    assert f":arrow_down: Moved down (1): {book.what(tier2[0])}: Tier 1 → Tier 2" in head
    assert f":arrow_up: Moved up (1): {book.what(tier2[1])}: Tier 3 → Tier 2" in head
    assert f":bust_in_silhouette: Assigned (1): {book.what(tier1[1])} → <@UMAYA>" in head
    assert f":trophy: Won (1): {book.what(tier1[3])} (by <@UMAYA>)" in head
    assert f":x: Lost (1): {book.what(tier1[6])} (by <@UADMIN>)" in head
    assert f":zzz: Snoozed (1): {book.what(tier1[7])} (by <@UADMIN>)" in head


def test_nothing_changed_says_so(runtime, client, slack, channel):
    run(runtime, client, channel)
    second = run(runtime, client, channel, now=MONDAY + timedelta(days=7))
    head = text_of(posted(slack, channel)[-second.run.messages])
    assert "Nothing: no tier moves, assignments or outcomes." in head


# --------------------------------------------------------------------------- exactly once


def test_once_per_period_unless_forced(runtime, client, slack, channel):
    first = run(runtime, client, channel)
    count = len(posted(slack, channel))
    again = run(runtime, client, channel, now=MONDAY + timedelta(hours=30))  # same ISO week
    assert again.status == "skipped" and again.run.id == first.run.id
    assert len(posted(slack, channel)) == count
    forced = run(runtime, client, channel, force=True)
    assert forced.status == "posted" and forced.run.forced
    assert len(posted(slack, channel)) == 2 * count


def test_dry_run_posts_nothing_and_claims_nothing(runtime, client, slack, channel, book):
    report = run(runtime, client, channel, dry_run=True)
    # The parent, a message of cards per account (best first), then the top accounts' dives,
    # all of them replies to the parent.
    top = book.accounts()[: digest_post.DEEP_DIVES]
    kinds = [m.kind for m in report.messages]
    assert report.status == "dry-run"
    head = ["parent"] + ["cards"] * len(book.accounts())
    assert kinds[: len(head)] == head
    assert [m.key for m in report.messages[1 : len(head)]] == book.accounts()
    dives = report.messages[len(head) :]
    assert dives and {m.kind for m in dives} == {digest_post.DEEP_DIVE_KIND}
    # One deep-dive per account (a long one in a few messages, together), in card order.
    keys = [m.key for m in dives]
    assert list(dict.fromkeys(keys)) == top and len(set(keys)) == len(top)
    assert keys == sorted(keys, key=top.index)
    assert {m.thread_seq for m in report.messages[1:]} == {0}
    assert report.messages[0].thread_seq is None
    assert posted(slack, channel) == []
    assert digest.runs(runtime.engine, channel=channel) == []


class Crash(BaseException):
    """The process dies (not an Exception: nothing may catch it)."""


class CrashingClient(WebClient):
    """Dies right after Slack accepted the ``after``-th message."""

    def __init__(self, *args, after: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.left = after

    def chat_postMessage(self, **kwargs):
        response = super().chat_postMessage(**kwargs)
        self.left -= 1
        if self.left == 0:
            raise Crash()
        return response


def test_a_crash_midway_is_resumed_without_duplicates(runtime, client, slack, channel):
    crashing = CrashingClient(token=TOKEN, base_url=slack.api_url, after=4)
    with pytest.raises(Crash):
        run_on_the_clock(runtime, crashing, channel)
    (stuck,) = digest.runs(runtime.engine, channel=channel)
    assert stuck.status == "running" and stuck.posted == 3  # the 4th was posted, not recorded
    # Within the lease nobody takes over; after it, the sweep resumes the run.
    assert digest_post.resume_interrupted(runtime, client, holder="other", pace=0) == []
    later = datetime.now(UTC) + digest.LEASE + timedelta(seconds=1)
    (report,) = digest_post.resume_interrupted(runtime, client, holder="other", pace=0, now=later)
    assert report.status == "posted" and report.run.attempts == 2
    messages = posted(slack, channel)
    texts = [m["text"] for m in messages]
    # Everything is there, in order; only the one message in flight at the crash repeats.
    expected = [m.payload["text"] for m in digest.plan_of(runtime.engine, report.run)]
    assert len(messages) == len(expected) + 1
    assert texts[:3] + texts[4:] == expected and texts[3] == texts[4]
    (parent,) = top_level(messages)
    assert len(thread_of(messages, parent)) == len(messages) - 1


class DyingClient(WebClient):
    """Dies when asked to post its ``at``-th message, before Slack sees it."""

    def __init__(self, *args, at: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.left = at

    def chat_postMessage(self, **kwargs):
        self.left -= 1
        if self.left == 0:
            raise Crash()
        return super().chat_postMessage(**kwargs)


def test_a_crash_between_the_parent_and_its_thread_resumes_in_the_same_thread(
    runtime, client, slack, channel
):
    with pytest.raises(Crash):
        run_on_the_clock(runtime, DyingClient(token=TOKEN, base_url=slack.api_url, at=2), channel)
    (parent,) = posted(slack, channel)
    later = datetime.now(UTC) + digest.LEASE + timedelta(seconds=1)
    (report,) = digest_post.resume_interrupted(runtime, client, holder="b", pace=0, now=later)
    assert report.status == "posted"
    messages = posted(slack, channel)
    assert top_level(messages) == [parent]  # no second parent
    planned = digest.plan_of(runtime.engine, report.run)
    assert [m["text"] for m in thread_of(messages, parent)] == [
        m.payload["text"] for m in planned[1:]
    ]  # every reply once, in order, under the first parent


def test_a_failed_thread_post_is_resumed_without_duplicates(runtime, client, slack, channel):
    flaky = web_client(TOKEN, slack.api_url)
    flaky.__class__ = FlakyClient
    flaky.emulator, flaky.left = slack, 3  # the parent and one reply, then the 2nd reply fails
    report = run_on_the_clock(runtime, flaky, channel)
    assert report.status == "interrupted" and report.posted == 2
    (parent,) = posted(slack, channel)[:1]
    # The run was given back at once: a rerun (or the scheduler's next sweep) takes it over and
    # posts what is missing, in the same thread.
    resumed = run(runtime, client, channel, now=datetime.now(UTC))
    assert resumed.status == "posted" and resumed.run.id == report.run.id
    assert resumed.run.attempts == 2
    messages = posted(slack, channel)
    assert top_level(messages) == [parent]
    replies = [m["text"] for m in thread_of(messages, parent)]
    assert len(replies) == len(set(replies)) == resumed.run.messages - 1


def test_a_crash_before_the_first_post_is_resumed(runtime, client, slack, channel):
    crashing = CrashingClient(token=TOKEN, base_url=slack.api_url, after=1)
    with pytest.raises(Crash):
        run_on_the_clock(runtime, crashing, channel)
    later = datetime.now(UTC) + digest.LEASE + timedelta(seconds=1)
    (report,) = digest_post.resume_interrupted(runtime, client, holder="b", pace=0, now=later)
    assert report.status == "posted"
    assert len(posted(slack, channel)) == report.run.messages + 1


# --------------------------------------------------------------------------- Slack errors


def test_rate_limit_bursts_are_waited_out(runtime, client, slack, channel):
    slack.fail_next("chat.postMessage", status=429, retry_after=1, count=2)
    report = run(runtime, client, channel)
    assert report.status == "posted"
    assert len(posted(slack, channel)) == report.run.messages
    assert sum(1 for c in slack.calls_to("chat.postMessage") if c.status == 429) >= 2


class FlakyClient(WebClient):
    """Slack starts answering 503 (beyond the retries) after ``after`` messages."""

    def __init__(self, *args, emulator, after: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.emulator, self.left = emulator, after

    def chat_postMessage(self, **kwargs):
        self.left -= 1
        if self.left == 0:
            self.emulator.fail_next("chat.postMessage", status=503, count=3)
        return super().chat_postMessage(**kwargs)


def test_server_errors_beyond_retries_interrupt_then_resume(runtime, slack, channel):
    flaky = web_client(TOKEN, slack.api_url)
    flaky.__class__ = FlakyClient
    flaky.emulator, flaky.left = slack, 3
    report = run_on_the_clock(runtime, flaky, channel)
    assert report.status == "interrupted" and report.posted == 2
    (stuck,) = digest.runs(runtime.engine, channel=channel)
    assert stuck.status == "running" and "will resume" in stuck.error
    # Released at once: the next sweep picks it up without waiting for the lease.
    (resumed,) = digest_post.resume_interrupted(
        runtime, web_client(TOKEN, slack.api_url), holder="b", pace=0
    )
    assert resumed.status == "posted"
    texts = [m["text"] for m in posted(slack, channel)]
    assert len(texts) == len(set(texts)) == resumed.run.messages


def test_a_permanent_error_fails_the_run_and_not_the_others(runtime, client, slack, channel):
    gone = channel + "GONE"
    slack.channel_errors[gone] = "not_in_channel"
    failed = run(runtime, client, gone)
    assert failed.status == "failed" and failed.error == "not_in_channel"
    (stored,) = digest.runs(runtime.engine, channel=gone)
    assert stored.status == "failed" and stored.error == "not_in_channel"
    assert "invite me" in digest_post.describe_error(stored.error)
    # The failed period is not retried by itself; other channels are unaffected.
    assert run(runtime, client, gone).status == "skipped"
    assert run(runtime, client, channel).status == "posted"


# --------------------------------------------------------------------------- processes


def _digest_process(db_url: str, slack, channel: str, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": slack.api_url,
        "EXPANSION_DB_URL": db_url,
        "EXPANSION_AS_OF": AS_OF.isoformat(),
        "EXPANSION_DIGEST_PACE": "0",
    }
    return subprocess.Popen(
        [EXPANSION, "digest", "--channel", channel, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def race(db_url: str, slack, channel: str) -> list[str]:
    procs = [_digest_process(db_url, slack, channel) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    return outputs


def test_two_processes_racing_post_once(db_url, slack, channel):
    outputs = race(db_url, slack, channel)
    assert sum("Posted the digest" in o for o in outputs) == 1, outputs
    assert sum("Nothing posted" in o for o in outputs) == 1, outputs
    messages = posted(slack, channel)
    (parent,) = top_level(messages)
    replies = thread_of(messages, parent)
    assert len(replies) == len(messages) - 1 > 0
    assert len({m["text"] for m in replies}) == len(replies)  # each thread message once


def test_digest_command_dry_run_prints_block_kit(db_url, slack, channel):
    proc = _digest_process(db_url, slack, channel, "--dry-run", "--scope", "enterprise")
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out
    import json

    doc = json.loads(out)
    assert doc["messages"][0]["kind"] == "parent"
    parent = doc["messages"][0]
    assert " Tier 1 plays this week, +$" in parent["blocks"][0]["text"]["text"]
    assert "Expansion digest · Enterprise" in json.dumps(parent["blocks"], ensure_ascii=False)
    assert posted(slack, channel) == []


def test_digest_command_bad_scope(db_url, slack, channel):
    proc = _digest_process(db_url, slack, channel, "--scope", "galactic")
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 2 and "galactic" in out
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(digest.RUNS)).scalar() == 0
    engine.dispose()


@pytest.mark.skipif(
    not os.environ.get("EXPANSION_TEST_POSTGRES_URL"),
    reason="EXPANSION_TEST_POSTGRES_URL is not set",
)
def test_two_processes_racing_on_postgres(pg_url, slack, channel):
    engine = store.connect(pg_url)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    pipeline.score(engine, as_of=AS_OF)
    engine.dispose()
    outputs = race(pg_url, slack, channel)
    assert sum("Posted the digest" in o for o in outputs) == 1, outputs
    messages = posted(slack, channel)
    (parent,) = top_level(messages)
    replies = thread_of(messages, parent)
    assert len(replies) == len(messages) - 1 > 0
    assert len({m["text"] for m in replies}) == len(replies)


# --------------------------------------------------------------------------- review findings


def test_a_takeover_gives_the_run_a_new_holder_and_keeps_the_old_posts(runtime, client, channel):
    crashing = CrashingClient(token=TOKEN, base_url=client.base_url, after=2)
    with pytest.raises(Crash):
        run_on_the_clock(runtime, crashing, channel)
    (old,) = digest.runs(runtime.engine, channel=channel)
    later = datetime.now(UTC) + digest.LEASE + timedelta(seconds=1)
    claim = digest.take_over(runtime.engine, old, holder=old.holder.split("/")[0], now=later)
    assert claim.ours and claim.run.holder != old.holder  # same process, still a new holder
    # The old poster finishing its in-flight message keeps the ts, then learns it lost the run.
    with pytest.raises(digest.LeaseLostError):
        digest.record_message(runtime.engine, old, 1, "1700000999.000001")
    assert digest.plan_of(runtime.engine, claim.run)[1].ts == "1700000999.000001"
    digest.finish(runtime.engine, old, "failed", error="late")  # not the holder: no effect
    assert digest.get_run(runtime.engine, old.id).status == "running"


def test_a_late_digest_belongs_to_the_period_it_was_due(runtime, client, channel):
    daily = Schedule(cadence="daily", at_time="23:00", timezone="UTC")
    due = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    report = digest_post.run(
        runtime, client, target(channel, daily), now=due + timedelta(hours=2), at=due, pace=0
    )
    assert report.run.period == "2026-11-23"


def test_transient_errors_in_a_200_answer_are_resumed_not_failed(runtime, client, slack, channel):
    slack.fail_next("chat.postMessage", status=200, error="internal_error")
    report = run_on_the_clock(runtime, client, channel)
    assert report.status == "interrupted"
    (resumed,) = digest_post.resume_interrupted(runtime, client, holder="b", pace=0)
    assert resumed.status == "posted"


def test_deep_dives_are_claimed_with_the_parent(runtime, client, slack, channel, book):
    from bot import deep_dive
    from expansion import workflow

    # Dies right after the parent: no card and no deep-dive is posted yet.
    crashing = CrashingClient(token=TOKEN, base_url=slack.api_url, after=2)
    with pytest.raises(Crash):
        run_on_the_clock(runtime, crashing, channel)
    account = book.accounts()[0]
    parent = posted(slack, channel)[0]
    where = {"channel": channel, "thread_ts": parent["ts"], "kind": "deep_dive"}
    for top in book.accounts()[: digest_post.DEEP_DIVES]:
        claim = workflow.find_post(runtime.engine, **where, key=top)
        assert claim is not None and claim.owner.startswith("digest:") and claim.ts is None
    # A click on a card meanwhile links to (or waits for) the digest's deep-dive.
    ts, new = deep_dive.post_once(
        runtime, client, channel=channel, account_id=account, thread_ts=parent["ts"]
    )
    assert (ts, new) == (None, False)
    later = datetime.now(UTC) + digest.LEASE + timedelta(seconds=1)
    (report,) = digest_post.resume_interrupted(runtime, client, holder="b", pace=0, now=later)
    assert report.status == "posted"
    claim = workflow.find_post(runtime.engine, **where, key=account)
    assert claim.ts is not None
    dive = next(m for m in posted(slack, channel) if m["ts"] == claim.ts)
    assert dive["thread_ts"] == parent["ts"] and dive["text"].startswith("Deep dive: ")


def test_a_failed_digest_gives_its_deep_dive_claims_back(runtime, slack, channel):
    from expansion import workflow

    class Revoked(WebClient):
        left = 3

        def chat_postMessage(self, **kwargs):
            self.left -= 1
            if self.left == 0:
                slack.channel_errors[channel] = "is_archived"
            return super().chat_postMessage(**kwargs)

    report = run(runtime, Revoked(token=TOKEN, base_url=slack.api_url), channel)
    assert report.status == "failed" and report.error == "is_archived"
    owner = digest.claim_owner(report.run)
    with runtime.engine.connect() as conn:
        left = conn.execute(
            sa.select(sa.func.count())
            .select_from(workflow._POSTS)
            .where(workflow._POSTS.c.owner == owner)
        ).scalar()
    assert left == 0


def test_an_interrupted_run_is_given_up_after_half_a_day(runtime, client, channel):
    crashing = CrashingClient(token=TOKEN, base_url=client.base_url, after=2)
    with pytest.raises(Crash):
        run_on_the_clock(runtime, crashing, channel)
    (old,) = digest.runs(runtime.engine, channel=channel)
    much_later = datetime.now(UTC) + digest.GIVE_UP + timedelta(minutes=1)
    assert not digest.take_over(runtime.engine, old, holder="x", now=much_later).ours
    gone = digest.get_run(runtime.engine, old.id)
    assert gone.status == "failed" and gone.error.startswith("gave up")


def test_what_changed_compares_with_the_same_scope(runtime, client, slack, channel):
    run(runtime, client, channel)  # all accounts
    enterprise = Schedule(
        cadence="weekly", at_time="09:00", timezone="UTC", weekday=0, scope="enterprise"
    )
    digest_post.run(runtime, client, target(channel, enterprise), now=MONDAY, force=True, pace=0)
    parents = top_level(posted(slack, channel))
    assert len(parents) == 2
    head = text_of(parents[1])
    assert "Enterprise" in head
    # The first of this scope: not a flood of "moved" against the all-accounts digest.
    assert "What changed" not in head


def test_digest_command_prints_the_channel_as_given(db_url, slack, channel):
    odd = channel + "[/x]"  # rich would read "[/x]" as a closing tag and raise MarkupError
    for expected in (f"Posted the digest to {odd}:", f"Nothing posted: the digest of {odd}"):
        proc = _digest_process(db_url, slack, odd)
        out = proc.communicate(timeout=120)[0]
        assert proc.returncode == 0, out
        assert expected in out


# --------------------------------------------------------------------------- charts


def uploads_since(slack, before: int) -> list:
    with slack._lock:
        return list(slack.uploads[before:])


def images_of(message: dict) -> list[dict]:
    return [b for b in message["blocks"] if b["type"] == "image"]


def test_the_parent_shows_the_chart_uploaded_once(runtime, client, slack, channel, book):
    before = len(slack.uploads)
    report = run(runtime, client, channel)
    assert report.status == "posted"
    (upload,) = uploads_since(slack, before)  # a first digest: no trend to draw yet
    assert upload.channel_id is None  # uploaded privately, shown by the image block
    assert upload.content.startswith(b"\x89PNG\r\n\x1a\n") and upload.filename.endswith(".png")
    (parent,) = top_level(posted(slack, channel))
    (image,) = images_of(parent)
    assert image["slack_file"] == {"id": upload.file_id}
    # Between the words and the button; its alt text says the figures.
    kinds = [b["type"] for b in parent["blocks"]]
    assert kinds.index("image") == kinds.index("actions") - 1
    tier1 = book.everything.opportunities
    tier1 = tier1[tier1["tier"] == 1]
    assert f"Tier 1 {blocks.money(tier1['expansion_arr'].sum())}" in image["alt_text"]
    # The stored plan remembers the file, so nothing is uploaded again.
    stored = digest.plan_of(runtime.engine, report.run)[0]
    assert [f["id"] for f in stored.chart["files"]] == [upload.file_id]
    assert "files" not in stored.payload and "_chart" not in stored.payload


def test_the_second_digest_adds_the_tier1_trend(runtime, client, slack, channel):
    run(runtime, client, channel)
    before = len(slack.uploads)
    report = run(runtime, client, channel, force=True)
    pictures = uploads_since(slack, before)
    assert [u.filename for u in pictures] == [
        "expansion-pipeline.png",
        "expansion-tier1-trend.png",
    ]
    parent = top_level(posted(slack, channel))[-1]
    assert [i["slack_file"]["id"] for i in images_of(parent)] == [u.file_id for u in pictures]
    plan = digest.plan_of(runtime.engine, report.run)[0]
    trend = plan.chart["data"]["trend"]
    assert len(trend) == 2 and trend[0]["pipeline"] == trend[1]["pipeline"] > 0


def test_a_refused_upload_posts_the_digest_without_the_chart(runtime, client, slack, channel):
    before = len(slack.uploads)
    slack.fail_next("files.getUploadURLExternal", status=200, error="missing_scope")
    report = run(runtime, client, channel)
    assert report.status == "posted"  # never the digest's failure
    assert uploads_since(slack, before) == []
    messages = posted(slack, channel)
    assert len(messages) == report.run.messages
    (parent,) = top_level(messages)
    assert images_of(parent) == []
    assert digest.plan_of(runtime.engine, report.run)[0].chart["refused"] == "missing_scope"


def test_refused_image_blocks_put_the_chart_in_the_thread(runtime, client, slack, channel):
    before = len(slack.uploads)
    slack.fail_next("chat.postMessage", status=200, error="invalid_blocks")
    report = run(runtime, client, channel)
    assert report.status == "posted"
    (parent,) = top_level(posted(slack, channel))
    assert images_of(parent) == []
    private, shared = uploads_since(slack, before)
    assert private.channel_id is None
    assert (shared.channel_id, shared.thread_ts) == (channel, parent["ts"])
    assert shared.content == private.content
    chart = digest.plan_of(runtime.engine, report.run)[0].chart
    assert chart["in_thread"] == [shared.file_id]
    # A rerun of the period posts nothing and shares nothing again.
    assert run(runtime, client, channel).status == "skipped"
    assert len(slack.uploads) == before + 2


def test_a_crash_after_the_upload_does_not_upload_again(runtime, client, slack, channel):
    before = len(slack.uploads)
    with pytest.raises(Crash):  # the chart is uploaded, the parent never reaches Slack
        run_on_the_clock(runtime, DyingClient(token=TOKEN, base_url=slack.api_url, at=1), channel)
    (upload,) = uploads_since(slack, before)
    assert posted(slack, channel) == []
    later = datetime.now(UTC) + digest.LEASE + timedelta(seconds=1)
    (report,) = digest_post.resume_interrupted(runtime, client, holder="b", pace=0, now=later)
    assert report.status == "posted"
    assert uploads_since(slack, before) == [upload]  # exactly once
    (parent,) = top_level(posted(slack, channel))
    assert [i["slack_file"]["id"] for i in images_of(parent)] == [upload.file_id]


def test_a_rate_limited_upload_interrupts_and_resumes(runtime, client, slack, channel):
    before = len(slack.uploads)
    slack.fail_next("files.getUploadURLExternal", status=503, count=3)
    report = run_on_the_clock(runtime, client, channel)
    assert report.status == "interrupted" and report.posted == 0
    assert posted(slack, channel) == []
    (resumed,) = digest_post.resume_interrupted(runtime, client, holder="b", pace=0)
    assert resumed.status == "posted"
    (upload,) = uploads_since(slack, before)
    (parent,) = top_level(posted(slack, channel))
    assert [i["slack_file"]["id"] for i in images_of(parent)] == [upload.file_id]
