"""The Tier 1 digest against the local Slack emulator: content, what changed, exactly once,
resume after a crash, rate limits and permanent errors.

Runs in-process (the bot's digest module with a real WebClient pointed at the emulator) on a
copy of the sample portfolio; ``expansion digest`` as a subprocess is covered at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from bot_harness import EXPANSION, TEAM, TOKEN
from slack_emulator import validate_blocks
from slack_sdk import WebClient

from bot import digest as bot_digest
from bot.app import web_client
from bot.runtime import Runtime
from bot.settings import Settings
from expansion import digest, pipeline, store
from expansion.schedule import Schedule

AS_OF = pipeline.SAMPLE_AS_OF
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WEEKLY = Schedule(cadence="weekly", at_time="09:00", timezone="UTC", weekday=0)
TIER1 = [
    "ACC-1011-seat_expansion-73",
    "ACC-1001-seat_expansion-73",
    "ACC-1001-usage_expansion-58",
    "ACC-1015-seat_expansion-73",
    "ACC-1027-seat_expansion-73",
    "ACC-1002-seat_expansion-73",
    "ACC-1008-usage_expansion-69",
    "ACC-1027-new_department-41",
    "ACC-1006-usage_expansion-58",
]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The sample portfolio synced and scored once; each test gets a copy of the file."""
    path = tmp_path_factory.mktemp("digest") / "template.db"
    engine = store.connect(f"sqlite:///{path}")
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    pipeline.score(engine, as_of=AS_OF)
    engine.dispose()
    return path


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


def target(channel: str, schedule: Schedule = WEEKLY) -> bot_digest.Target:
    return bot_digest.Target(team_id=TEAM, channel=channel, schedule=schedule)


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


def run(runtime, client, channel, **kwargs) -> bot_digest.Report:
    kwargs.setdefault("now", MONDAY)
    return bot_digest.run(runtime, client, target(channel), pace=0, **kwargs)


def run_on_the_clock(runtime, client, channel) -> bot_digest.Report:
    """A run claimed now, for the tests of interrupted runs: its lease is renewed on the wall
    clock, and a claim stamped with the fixed Monday would be more than half a day old (given
    up, not resumed) once the calendar passed it."""
    return run(runtime, client, channel, now=datetime.now(UTC))


# --------------------------------------------------------------------------- content


def test_parent_cards_and_threaded_deep_dives(runtime, client, slack, channel):
    report = run(runtime, client, channel)
    assert report.status == "posted"
    messages = posted(slack, channel)
    assert len(messages) == report.run.messages == report.posted
    for m in messages:
        assert validate_blocks(m["blocks"]) == []

    parent, *rest = messages
    head = text_of(parent)
    assert "Expansion digest: All accounts, week of 23 Nov 2026" in head
    assert "*9 Tier 1* opportunities across 7 accounts" in head
    assert "NRR projection *137%*" in head
    assert "first digest" in head
    assert parent.get("thread_ts") is None

    cards = [m for m in rest if not m.get("thread_ts")]
    assert [i for m in cards for i in card_ids(m)] == TIER1  # best first, all of them
    threads = [m for m in rest if m.get("thread_ts")]
    # The top 5 accounts' deep-dives, each under the message holding the account's first card.
    first_card = {}
    for m in cards:
        for opp in card_ids(m):
            first_card.setdefault(opp.split("-")[0] + "-" + opp.split("-")[1], m["ts"])
    dived = {}
    for m in threads:
        if m["text"].startswith("Deep dive:"):
            name = m["text"].removeprefix("Deep dive: ").split(" (")[0]
            dived.setdefault(name, m["thread_ts"])
    assert list(dived) == [
        "Stratus Cloud Security",
        "Helios Health Systems",
        "Bluefin Analytics",
        "Summit Outdoor Gear",
        "Northwind Logistics",
    ]
    assert dived["Stratus Cloud Security"] == first_card["ACC-1011"]
    assert dived["Helios Health Systems"] == first_card["ACC-1001"]
    assert dived["Northwind Logistics"] == first_card["ACC-1002"]
    assert all(m["thread_ts"] in {c["ts"] for c in cards} for m in threads)


def test_a_deep_dive_click_on_a_digest_card_links_to_the_threaded_one(
    runtime, client, slack, channel
):
    from bot import deep_dive

    run(runtime, client, channel)
    card_message = next(m for m in posted(slack, channel) if "ACC-1011-" in str(m["blocks"]))
    before = len(posted(slack, channel))
    ts, new = deep_dive.post_once(
        runtime,
        client,
        channel=channel,
        account_id="ACC-1011",
        thread_ts=card_message["ts"],
    )
    assert not new and ts is not None
    assert len(posted(slack, channel)) == before


def test_closed_opportunities_are_left_out(runtime, client, slack, channel):
    for opp, outcome in (("ACC-1011-seat_expansion-73", "snoozed"), (TIER1[8], "won")):
        pipeline.record_outcome(runtime.engine, opp, outcome, actor="UADMIN", as_of=AS_OF)
    run(runtime, client, channel)
    messages = posted(slack, channel)
    ids = [i for m in messages for i in card_ids(m)]
    assert ids == [i for i in TIER1 if i not in (TIER1[0], TIER1[8])]
    assert "*7 Tier 1*" in text_of(messages[0])
    assert not any("Stratus" in m["text"] for m in messages)


def test_max_cards_and_scope(runtime, client, slack, channel):
    schedule = Schedule(
        cadence="daily", at_time="08:00", timezone="UTC", scope="enterprise", max_cards=2
    )
    report = bot_digest.run(runtime, client, target(channel, schedule), now=MONDAY, pace=0)
    messages = posted(slack, channel)
    assert report.run.period == "2026-11-23"
    head = text_of(messages[0])
    assert "Expansion digest: Enterprise, Mon 23 Nov 2026" in head
    assert "*6 Tier 1*" in head and "top 2 Tier 1 cards follow" in head
    assert len([i for m in messages for i in card_ids(m)]) == 2


def test_no_tier1_gets_the_pipeline_not_silence(runtime, client, slack, channel):
    schedule = Schedule(cadence="weekly", at_time="09:00", timezone="UTC", weekday=0, scope="smb")
    bot_digest.run(runtime, client, target(channel, schedule), now=MONDAY, pace=0)
    messages = posted(slack, channel)
    assert len(messages) == 1
    head = text_of(messages[0])
    assert "Nothing new in Tier 1 this time" in head
    assert "Tier 2: 6" in head and "Closest to Tier 1" in head


# --------------------------------------------------------------------------- what changed


def test_what_changed_since_the_last_digest(runtime, client, slack, channel):
    engine = runtime.engine
    first = run(runtime, client, channel).run
    # Between the digests: an assignment and outcomes recorded from Slack...
    pipeline.assign(engine, TIER1[1], assignee="UMAYA", actor="UADMIN", as_of=AS_OF)
    pipeline.record_outcome(engine, TIER1[3], "won", actor="UMAYA", as_of=AS_OF)
    pipeline.record_outcome(engine, TIER1[7], "snoozed", actor="UADMIN", as_of=AS_OF)
    pipeline.record_outcome(engine, TIER1[6], "lost", actor="UADMIN", as_of=AS_OF)
    # ...and a re-scoring that moved tiers (rewrite what the first digest saw).
    tier2 = pipeline.find(engine, "", as_of=AS_OF).opportunities
    tier2 = tier2[tier2["tier"] == 2]["opportunity_id"].tolist()
    items = digest.ITEMS
    with engine.begin() as conn:
        conn.execute(
            items.update()
            .where(items.c.run_id == first.id, items.c.opportunity_id == TIER1[8])
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
    assert ":new: New Tier 1 (1): *Cobalt Energy Partners* · Usage Expansion (was Tier 2)" in head
    assert ":arrow_down: Moved down (1)" in head and "Tier 1 → Tier 2" in head
    assert ":arrow_up: Moved up (1)" in head and "Tier 3 → Tier 2" in head
    assert ":bust_in_silhouette: Assigned (1): *Helios Health Systems*" in head
    assert "→ <@UMAYA>" in head
    assert ":trophy: Won (1): *Bluefin Analytics*" in head and "(by <@UMAYA>)" in head
    assert ":x: Lost (1): *Atlas Aerospace*" in head
    assert ":zzz: Snoozed (1): *Summit Outdoor Gear*" in head


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


def test_dry_run_posts_nothing_and_claims_nothing(runtime, client, slack, channel):
    report = run(runtime, client, channel, dry_run=True)
    assert report.status == "dry-run" and len(report.messages) == 12
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
    assert bot_digest.resume_interrupted(runtime, client, holder="other", pace=0) == []
    later = datetime.now(UTC) + digest.LEASE + timedelta(seconds=1)
    (report,) = bot_digest.resume_interrupted(runtime, client, holder="other", pace=0, now=later)
    assert report.status == "posted" and report.run.attempts == 2
    messages = posted(slack, channel)
    texts = [m["text"] for m in messages]
    # Everything is there, in order; only the one message in flight at the crash repeats.
    expected = [m.payload["text"] for m in digest.plan_of(runtime.engine, report.run)]
    assert len(messages) == len(expected) + 1
    assert texts[:3] + texts[4:] == expected and texts[3] == texts[4]


def test_a_crash_before_the_first_post_is_resumed(runtime, client, slack, channel):
    crashing = CrashingClient(token=TOKEN, base_url=slack.api_url, after=1)
    with pytest.raises(Crash):
        run_on_the_clock(runtime, crashing, channel)
    later = datetime.now(UTC) + digest.LEASE + timedelta(seconds=1)
    (report,) = bot_digest.resume_interrupted(runtime, client, holder="b", pace=0, now=later)
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
    (resumed,) = bot_digest.resume_interrupted(
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
    assert "invite me" in bot_digest.describe_error(stored.error)
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
    parents = [m for m in posted(slack, channel) if m["text"].startswith("Expansion digest")]
    assert len(parents) == 1


def test_digest_command_dry_run_prints_block_kit(db_url, slack, channel):
    proc = _digest_process(db_url, slack, channel, "--dry-run", "--scope", "enterprise")
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out
    import json

    doc = json.loads(out)
    assert doc["messages"][0]["kind"] == "parent"
    assert doc["messages"][0]["blocks"][0]["text"]["text"].startswith(
        "Expansion digest: Enterprise"
    )
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
    parents = [m for m in posted(slack, channel) if m["text"].startswith("Expansion digest")]
    assert len(parents) == 1


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
    report = bot_digest.run(
        runtime, client, target(channel, daily), now=due + timedelta(hours=2), at=due, pace=0
    )
    assert report.run.period == "2026-11-23"


def test_transient_errors_in_a_200_answer_are_resumed_not_failed(runtime, client, slack, channel):
    slack.fail_next("chat.postMessage", status=200, error="internal_error")
    report = run_on_the_clock(runtime, client, channel)
    assert report.status == "interrupted"
    (resumed,) = bot_digest.resume_interrupted(runtime, client, holder="b", pace=0)
    assert resumed.status == "posted"


def test_deep_dives_are_claimed_with_their_cards(runtime, client, slack, channel):
    from bot import deep_dive
    from expansion import workflow

    crashing = CrashingClient(token=TOKEN, base_url=slack.api_url, after=6)  # parent + 5 cards
    with pytest.raises(Crash):
        run_on_the_clock(runtime, crashing, channel)
    first_card = posted(slack, channel)[1]
    where = {"channel": channel, "thread_ts": first_card["ts"], "kind": "deep_dive"}
    claim = workflow.find_post(runtime.engine, **where, key="ACC-1011")
    assert claim is not None and claim.owner.startswith("digest:") and claim.ts is None
    # A click meanwhile links to (or waits for) the digest's deep-dive instead of posting one.
    ts, new = deep_dive.post_once(
        runtime, client, channel=channel, account_id="ACC-1011", thread_ts=first_card["ts"]
    )
    assert (ts, new) == (None, False)
    later = datetime.now(UTC) + digest.LEASE + timedelta(seconds=1)
    (report,) = bot_digest.resume_interrupted(runtime, client, holder="b", pace=0, now=later)
    assert report.status == "posted"
    claim = workflow.find_post(runtime.engine, **where, key="ACC-1011")
    assert claim.ts is not None
    dives = [m for m in posted(slack, channel) if m.get("thread_ts") == first_card["ts"]]
    assert dives and dives[0]["ts"] == claim.ts


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
    bot_digest.run(runtime, client, target(channel, enterprise), now=MONDAY, force=True, pace=0)
    head = text_of(next(m for m in posted(slack, channel) if "Enterprise" in m["text"]))
    assert "first digest" in head  # not a flood of "moved" against the all-accounts digest


def test_digest_command_prints_the_channel_as_given(db_url, slack, channel):
    odd = channel + "[/x]"  # rich would read "[/x]" as a closing tag and raise MarkupError
    for expected in (f"Posted the digest to {odd}:", f"Nothing posted: the digest of {odd}"):
        proc = _digest_process(db_url, slack, odd)
        out = proc.communicate(timeout=120)[0]
        assert proc.returncode == 0, out
        assert expected in out
