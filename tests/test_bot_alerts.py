"""New-Tier-1 alerts, end to end: `/expansion sync` on the real server alerts each owner once
(one DM for several opportunities), a subscribed channel gets its scope's, an opt-out gets
nothing, an owner with no Slack user is skipped and logged, customer text is escaped; the
nightly pass sends daily summaries; two passes racing (threads, processes; SQLite and
PostgreSQL) post each alert once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from bot_harness import TOKEN, BotServer, all_text
from slack_sdk.errors import SlackApiError

from bot import alerts as bot_alerts
from bot.app import web_client
from bot.runtime import Runtime
from bot.scheduler import DigestScheduler
from bot.settings import Settings
from expansion import alerts, pipeline, store
from expansion.config import config_from_mapping
from expansion.errors import ConfigError

AS_OF = pipeline.SAMPLE_AS_OF
HOSTILE = "Helios <!channel> & <@U2> Health"
WORKER = Path(__file__).with_name("alerts_worker.py")


def book(folder: Path, *, unhealthy: bool) -> Path:
    """The sample book with Helios renamed to hostile text; ``unhealthy``: Helios and Northwind
    (the sample's three Tier 1s) are in trouble, so they have no opportunity at all."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(pipeline.SAMPLE_PORTFOLIO, folder)
    accounts = pd.read_csv(folder / "accounts.csv", dtype=str, keep_default_na=False)
    accounts.loc[accounts["Account ID"] == "ACC-1001", "Account Name"] = HOSTILE
    if unhealthy:
        accounts.loc[accounts["Account ID"].isin(["ACC-1001", "ACC-1002"]), "Health Score"] = "30"
    accounts.to_csv(folder / "accounts.csv", index=False)
    return folder


def dms(slack, user: str) -> list[dict]:
    with slack._lock:
        return [m for (c, _), m in sorted(slack.messages.items()) if c == f"D{user}"]


def in_channel(slack, channel: str) -> list[dict]:
    with slack._lock:
        return [m for (c, _), m in sorted(slack.messages.items()) if c == channel]


def said(response) -> str:
    """A response_url post's text and blocks, as one string."""
    return str(response.body.get("text", "")) + all_text(response.body.get("blocks", []))


def mrkdwn(node) -> str:
    """Every mrkdwn text of a message (what Slack parses for mentions and links; plain_text,
    such as a picker's placeholder, is shown as it is)."""
    if isinstance(node, dict):
        own = node["text"] if node.get("type") == "mrkdwn" else ""
        return own + "".join(mrkdwn(v) for v in node.values())
    if isinstance(node, list):
        return "".join(mrkdwn(v) for v in node)
    return ""


def card_ids(message: dict) -> list[str]:
    return [b["block_id"] for b in message["blocks"] if b["type"] == "actions"]


# --------------------------------------------------------------------------- the real server


@pytest.fixture(scope="module")
def server(slack, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("alerts")
    live = workdir / "live"
    book(live, unhealthy=True)
    (workdir / "expansion.toml").write_text(
        f'[[sources]]\nname = "crm-files"\ntype = "files"\npath = "{live}"\n\n'
        '[alerts]\ndefault = "on"\n'
    )
    url = f"sqlite:///{workdir / 'bot.db'}"
    engine = store.connect(url)
    pipeline.sync_folder(engine, live, source="crm-files")
    pipeline.score(engine, as_of=AS_OF)  # what the first alert pass compares with
    engine.dispose()
    server = BotServer(
        slack,
        url,
        workdir,
        extra_env={
            "EXPANSION_CONFIG": str(workdir / "expansion.toml"),
            "EXPANSION_SCHEDULER": "off",
        },
    ).start()
    server.live = live
    server.db_url = url
    yield server
    server.stop()


def sync(server, slack, key: str) -> None:
    assert (
        server.command("sync", command="/expansion", user="UADMIN", response_key=key).status == 200
    )
    slack.wait_for(
        lambda: any("Sync finished" in said(r) for r in slack.responses_to(key)), timeout=60
    )


def test_alerts_end_to_end(server, slack):
    # Non-admins cannot subscribe a channel; admins can, and the channel is told.
    server.command("alerts here enterprise", command="/expansion", user="U1", response_key="a0")
    (refused,) = slack.wait_for_responses("a0")
    assert "Only an admin" in said(refused)
    server.command(
        "alerts here enterprise",
        command="/expansion",
        user="UADMIN",
        channel="CALERTS",
        response_key="a1",
    )
    (answer,) = slack.wait_for_responses("a1")
    assert "Subscribed" in said(answer)
    assert "subscribed this channel to new Tier 1 alerts" in in_channel(slack, "CALERTS")[0]["text"]

    # Helios (Maya's) and Northwind (Jordan's, no Slack user) recover: three new Tier 1s.
    book(server.live, unhealthy=False)
    sync(server, slack, "s1")
    slack.wait_for(lambda: len(in_channel(slack, "CALERTS")) == 2, timeout=30)
    slack.wait_for(lambda: len(dms(slack, "UMAYA")) == 1, timeout=30)
    (dm,) = dms(slack, "UMAYA")
    # One DM, both of Maya's new Tier 1s, with their buttons.
    assert len(card_ids(dm)) == 2
    assert all("ACC-1001" in block_id for block_id in card_ids(dm))
    text = mrkdwn(dm["blocks"]) + dm["text"]
    assert "2 new Tier 1 opportunities" in text
    assert "<!channel>" not in text and "<@U2>" not in text  # customer text is inert
    assert "Helios &lt;!channel&gt; &amp; &lt;@U2&gt; Health" in text
    assert any(
        e["action_id"].startswith("claim")
        for b in dm["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    )
    channel_alert = in_channel(slack, "CALERTS")[1]
    assert len(card_ids(channel_alert)) == 3  # Northwind's too: the channel is not its owner
    assert "<!channel>" not in mrkdwn(channel_alert["blocks"]) + channel_alert["text"]
    log = server.log()
    assert "jordan.patel@example.com, whom no Slack user matches: not alerted" in log
    assert not dms(slack, "U2") and not dms(slack, "U1")

    # Syncing the same data again alerts nobody a second time.
    sync(server, slack, "s2")
    engine = store.connect(server.db_url)
    try:
        slack.wait_for(
            lambda: (
                len(alerts.deliveries(engine)) == 5
                and all(d.status == "sent" for d in alerts.deliveries(engine))
            ),
            timeout=30,
        )
    finally:
        engine.dispose()
    assert len(dms(slack, "UMAYA")) == 1 and len(in_channel(slack, "CALERTS")) == 2

    # App Home shows Maya her choice; she turns alerts off.
    server.event({"type": "app_home_opened", "user": "UMAYA", "tab": "home"})
    slack.wait_for(lambda: "UMAYA" in slack.home_views, timeout=30)
    view = slack.home_views["UMAYA"]
    (choice,) = [b for b in view["blocks"] if b.get("block_id") == "alerts_choice"]
    assert choice["accessory"]["initial_option"]["value"] == "on"
    select = choice["accessory"]
    off = next(o for o in select["options"] if o["value"] == "off")
    server.block_action(
        {
            "type": "static_select",
            "action_id": "alerts_mode",
            "block_id": "alerts_choice",
            "selected_option": off,
        },
        user="UMAYA",
        home=True,
    )
    engine = store.connect(server.db_url)
    try:
        slack.wait_for(
            lambda: alerts.preferences(engine, team_id="").get("UMAYA") == "off", timeout=30
        )
    finally:
        engine.dispose()

    # Helios drops out and comes back: a new change, but Maya opted out; the channel still hears.
    book(server.live, unhealthy=True)
    sync(server, slack, "s3")
    book(server.live, unhealthy=False)
    sync(server, slack, "s4")
    slack.wait_for(lambda: len(in_channel(slack, "CALERTS")) == 3, timeout=30)
    assert len(dms(slack, "UMAYA")) == 1

    # Unsubscribed, the channel gets nothing more.
    server.command(
        "alerts off", command="/expansion", user="UADMIN", channel="CALERTS", response_key="a2"
    )
    assert "no longer" in said(slack.wait_for_responses("a2")[0])


# --------------------------------------------------------------------------- in-process passes


def runtime_for(url: str, slack, *, default: str = "on") -> Runtime:
    settings = Settings(
        bot_token=TOKEN,
        signing_secret="s",
        api_url=slack.api_url,
        fixed_as_of=AS_OF,
        alerts_default=default,
    )
    return Runtime(engine=store.connect(url), settings=settings)


def two_books(url: str, tmp_path: Path) -> None:
    """Scored once with Helios and Northwind unhealthy, then synced recovered (not scored)."""
    engine = store.connect(url)
    pipeline.sync_folder(engine, book(tmp_path / "a", unhealthy=True), source="crm")
    pipeline.score(engine, as_of=AS_OF)
    pipeline.sync_folder(engine, book(tmp_path / "b", unhealthy=False), source="crm")
    engine.dispose()


def test_daily_summary_waits_for_the_nightly_pass(tmp_path, slack):
    slack.reset()
    url = f"sqlite:///{tmp_path / 'daily.db'}"
    two_books(url, tmp_path)
    runtime = runtime_for(url, slack, default="daily")
    client = web_client(TOKEN, slack.api_url)
    report = bot_alerts.after_sync(runtime, client, summary=False)  # e.g. /expansion sync
    assert report.changes == 3 and report.held == 2 and report.dms == 0
    assert not dms(slack, "UMAYA")
    scheduler = DigestScheduler(runtime, client)
    scheduler.nightly()  # re-scores (nothing changed), then the summaries
    (dm,) = dms(slack, "UMAYA")
    assert len(card_ids(dm)) == 2 and "today" in all_text(dm["blocks"])
    scheduler.nightly()  # a second nightly run: nothing new, nothing sent again
    assert len(dms(slack, "UMAYA")) == 1
    assert [d.status for d in alerts.deliveries(runtime.engine)] == ["sent", "sent"]
    runtime.engine.dispose()


def test_a_failed_post_is_retried_at_the_next_pass(tmp_path, slack):
    slack.reset()
    url = f"sqlite:///{tmp_path / 'retry.db'}"
    two_books(url, tmp_path)
    runtime = runtime_for(url, slack)
    client = web_client(TOKEN, slack.api_url)
    slack.fail_next("chat.postMessage", status=200, error="service_unavailable")
    assert bot_alerts.after_sync(runtime, client, summary=False).failed == 1
    assert not dms(slack, "UMAYA")
    assert {d.status for d in alerts.deliveries(runtime.engine)} == {"pending"}
    assert bot_alerts.after_sync(runtime, client, summary=False).dms == 1
    assert len(dms(slack, "UMAYA")) == 1
    runtime.engine.dispose()


def test_a_pass_stopped_by_slack_is_done_again(tmp_path, slack):
    """Slack refuses the owner lookups: nothing is claimed or recorded, and the next pass
    (compared with the same run) alerts Maya."""
    slack.reset()
    url = f"sqlite:///{tmp_path / 'lookups.db'}"
    two_books(url, tmp_path)
    runtime = runtime_for(url, slack)
    client = web_client(TOKEN, slack.api_url)
    slack.fail_next("users.lookupByEmail", status=200, error="fatal_error", count=10)
    with pytest.raises(SlackApiError):
        bot_alerts.after_sync(runtime, client, summary=False)
    assert not dms(slack, "UMAYA") and alerts.deliveries(runtime.engine) == []
    slack.reset()
    runtime.directory = type(runtime.directory)()  # a fresh process's cache
    report = bot_alerts.after_sync(runtime, client, summary=False)
    assert report.changes == 3 and report.dms == 1
    assert len(card_ids(dms(slack, "UMAYA")[0])) == 2
    runtime.engine.dispose()


def race(url: str, slack, tmp_path: Path) -> None:
    slack.reset()
    two_books(url, tmp_path)
    runtimes = [runtime_for(url, slack) for _ in range(2)]
    gate = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(runtime: Runtime) -> None:
        try:
            gate.wait()
            bot_alerts.after_sync(runtime, web_client(TOKEN, slack.api_url), summary=False)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in runtimes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    (dm,) = dms(slack, "UMAYA")
    assert len(card_ids(dm)) == 2
    assert [d.status for d in alerts.deliveries(runtimes[0].engine)] == ["sent", "sent"]
    for runtime in runtimes:
        runtime.engine.dispose()


def test_two_passes_racing_post_once_sqlite(tmp_path, slack):
    race(f"sqlite:///{tmp_path / 'race.db'}", slack, tmp_path)


def test_two_passes_racing_post_once_postgres(pg_url, slack, tmp_path):
    race(pg_url, slack, tmp_path)


def processes(url: str, slack, tmp_path: Path) -> None:
    """Two scheduler processes run the nightly alert pass at once: one DM."""
    slack.reset()
    two_books(url, tmp_path)
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": slack.api_url,
        "EXPANSION_DB_URL": url,
        "EXPANSION_AS_OF": AS_OF.isoformat(),
    }
    env.pop("EXPANSION_CONFIG", None)
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["dms"] for r in reports) == [0, 1], reports
    (dm,) = dms(slack, "UMAYA")
    assert len(card_ids(dm)) == 2


def test_two_scheduler_processes_alert_once_sqlite(tmp_path, slack):
    processes(f"sqlite:///{tmp_path / 'procs.db'}", slack, tmp_path)


def test_two_scheduler_processes_alert_once_postgres(pg_url, slack, tmp_path):
    processes(pg_url, slack, tmp_path)


# --------------------------------------------------------------------------- the engine


def test_moved_up_into_tier1_and_the_first_scoring(tmp_path):
    engine = store.connect(f"sqlite:///{tmp_path / 'moves.db'}")
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    strict = config_from_mapping({"tier_thresholds": [8.3, 6.0, 4.0, 2.0]})
    first = alerts.detect(engine, as_of=AS_OF, config=strict)
    assert first.compared_with is None and first.changes == []  # nothing to compare with
    found = alerts.detect(engine, as_of=AS_OF)  # default thresholds: Helios's two move up
    assert found.compared_with == first.run_id
    assert sorted((c.opportunity_id, c.was) for c in found.changes) == [
        ("ACC-1001-new_department-88", 2),
        ("ACC-1001-seat_expansion-73", 2),
    ]
    assert {c.key for c in found.changes} == {f"2>1@{first.run_id}"}
    assert {c.owner for c in found.changes} == {"maya.chen@example.com"}
    again = alerts.detect(engine, as_of=AS_OF)  # the same run, looked at again: compared with it
    assert again.compared_with == first.run_id or again.changes == []
    engine.dispose()


def test_claims_are_unique_and_pending_rows_wait(tmp_path):
    engine = store.connect(f"sqlite:///{tmp_path / 'claims.db'}")
    change = alerts.Change("O-1", "A-1", "x@example.com", 2, "2>1@7")
    held = alerts.claim(
        engine, team_id="", recipient="U1", kind="dm", changes=[change], holder="h1", deliver=False
    )
    assert held == []
    mine = alerts.claim(
        engine, team_id="", recipient="U1", kind="dm", changes=[change], holder="h2"
    )
    assert [(r.opportunity_id, r.status) for r in mine] == [("O-1", "claimed")]
    assert (
        alerts.claim(engine, team_id="", recipient="U1", kind="dm", changes=[change], holder="h3")
        == []
    )
    alerts.sent(engine, mine, holder="h2", ts="1.0")
    assert [d.status for d in alerts.deliveries(engine)] == ["sent"]
    engine.dispose()


def test_alerts_default_in_expansion_toml(tmp_path):
    toml = tmp_path / "expansion.toml"
    toml.write_text('[alerts]\ndefault = "daily summary"\n')
    assert alerts.default_mode(toml) == "daily"
    toml.write_text('[alerts]\ndefault = "sometimes"\n')
    with pytest.raises(ConfigError, match="on, daily summary"):
        alerts.default_mode(toml)
    toml.write_text('[alerts]\ndefualt = "on"\n')
    with pytest.raises(ConfigError, match="unknown"):
        alerts.default_mode(toml)
    toml.write_text("")
    assert alerts.default_mode(toml) == "on"


def test_an_alert_of_many_stays_within_slacks_limits(sample_result):
    from slack_emulator import validate_blocks

    from bot import blocks

    ids = sample_result.opportunities["opportunity_id"].head(15)
    records = [{**r, "was": 2} for r in sample_result.opportunity_records(ids)]
    message = blocks.alert_message(records, scope="enterprise")
    assert len(message["blocks"]) <= 50 and validate_blocks(message["blocks"]) == []
    assert len(card_ids(message)) == blocks.ALERT_CARDS
    assert "…and 5 more" in all_text(message["blocks"])
    assert "15 new Tier 1 opportunities* in enterprise (15 moved up" in all_text(message["blocks"])


def test_the_bot_reads_the_alerts_default(tmp_path):
    toml = tmp_path / "expansion.toml"
    toml.write_text('[alerts]\ndefault = "off"\n')
    env = {"SLACK_BOT_TOKEN": "xoxb-x", "EXPANSION_CONFIG": str(toml)}
    assert Settings.from_env(env, http=False).alerts_default == "off"
    toml.write_text('[alerts]\ndefault = "weekly"\n')
    with pytest.raises(ConfigError, match=r"\[alerts\] default"):
        Settings.from_env(env, http=False)


def test_a_redacted_channel_gets_its_alerts_in_bands(tmp_path, slack):
    """Channel alerts are channel posts: a Slack Connect channel (nobody set it) reads bands,
    an ordinary channel the figures, the owner's DM the figures."""
    from expansion.numbers import figures_in

    slack.reset()
    url = f"sqlite:///{tmp_path / 'redacted.db'}"
    two_books(url, tmp_path)
    runtime = runtime_for(url, slack)
    client = web_client(TOKEN, slack.api_url)
    slack.set_channel("CPARTNER", is_ext_shared=True)
    for channel in ("CPARTNER", "CINSIDE"):
        alerts.subscribe(runtime.engine, team_id="", channel=channel, scope="", created_by="U1")
    report = bot_alerts.after_sync(runtime, client, summary=False)
    assert report.channel_posts == 2 and report.dms == 1
    partner = json.dumps(in_channel(slack, "CPARTNER")[-1], ensure_ascii=False)
    inside = json.dumps(in_channel(slack, "CINSIDE")[-1], ensure_ascii=False)
    assert figures_in(partner) == [] and "$" in partner and "–" in partner
    assert figures_in(inside)
    assert figures_in(json.dumps(dms(slack, "UMAYA")[-1]))
    runtime.engine.dispose()
