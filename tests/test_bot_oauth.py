"""Multi-workspace: the OAuth install flow over the real server, and each workspace's data,
subscriptions and token kept apart (SLACK_CLIENT_ID / SLACK_CLIENT_SECRET set)."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import pytest
import sqlalchemy as sa
from bot_harness import BotServer
from slack_emulator import SlackEmulator

from expansion import pipeline, schedule, store

CLIENT_ID, CLIENT_SECRET = "111.222", "oauth-secret"
T1, T2 = "T0A1", "T0B2"


@pytest.fixture(scope="module")
def slack():
    with SlackEmulator() as emulator:
        emulator.add_user("UADMIN", email="admin@example.com", name="admin", tz="UTC")
        emulator.add_user("U1", email="someone@example.com", name="someone")
        emulator.register_oauth_code("code-1", team_id=T1, team_name="Acme", bot_token="xoxb-t1")
        emulator.register_oauth_code("code-2", team_id=T2, team_name="Beta", bot_token="xoxb-t2")
        yield emulator


@pytest.fixture(scope="module")
def server(slack, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("oauth")
    url = f"sqlite:///{workdir / 'main.db'}"
    # Workspace 1 has synced its portfolio; workspace 2 has not synced anything yet.
    engine = store.connect(url, team=T1)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    engine.dispose()
    server = BotServer(
        slack,
        url,
        workdir,
        extra_env={
            "SLACK_CLIENT_ID": CLIENT_ID,
            "SLACK_CLIENT_SECRET": CLIENT_SECRET,
            "SLACK_BOT_TOKEN": "",
        },
    ).start()
    yield server
    server.stop()


def install(server: BotServer, code: str) -> str:
    page = server.get("/slack/install")
    assert page.status == 200, page.body
    link = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page.body)
    assert link, page.body
    query = urllib.parse.parse_qs(urllib.parse.urlparse(link.group(1).replace("&amp;", "&")).query)
    assert query["client_id"] == [CLIENT_ID]
    assert "chat:write" in query["scope"][0] and "users:read.email" in query["scope"][0]
    state = query["state"][0]
    done = server.get(
        f"/slack/oauth_redirect?code={code}&state={state}",
        headers={"Cookie": f"slack-app-oauth-state={state}"},
    )
    return done


def test_install_flow_stores_each_workspace(server, slack):
    for code in ("code-1", "code-2"):
        done = install(server, code)
        assert done.status == 200, done.body
    engine = sa.create_engine(server.env["EXPANSION_DB_URL"])
    with engine.connect() as conn:
        bots = conn.execute(sa.text("SELECT team_id, bot_token FROM slack_bots ORDER BY team_id"))
        assert [tuple(r) for r in bots] == [(T1, "xoxb-t1"), (T2, "xoxb-t2")]
    engine.dispose()
    exchange = slack.calls_to("oauth.v2.access")
    assert len(exchange) == 2 and all(c.ok for c in exchange)


def test_a_forged_state_installs_nothing(server, slack):
    done = server.get(
        "/slack/oauth_redirect?code=code-x&state=forged",
        headers={"Cookie": "slack-app-oauth-state=forged"},
    )
    assert done.status in (400, 401, 403)
    assert not [c for c in slack.calls_to("oauth.v2.access") if c.params.get("code") == "code-x"]


def answer(server, slack, team: str, text: str, key: str, command: str) -> str:
    reply = server.command(text, team=team, response_key=key, command=command, user="UADMIN")
    assert reply.status == 200 and reply.seconds < 3
    [response] = slack.wait_for_responses(key, 1, timeout=30)[:1]
    return str(response.body)


def test_each_workspace_sees_only_its_own_data(server, slack):
    one = answer(server, slack, T1, "enterprise", "t1find", "/find-expansion-opportunities")
    assert "Helios Health Systems" in one
    two = answer(server, slack, T2, "enterprise", "t2find", "/find-expansion-opportunities")
    assert "Helios" not in two and "expansion sync" in two  # "nothing synced yet" guidance
    # Each workspace's calls used its own bot token.
    teams = {c.team_id for c in slack.calls if c.method == "auth.test"}
    assert {T1, T2} <= teams


def test_subscriptions_are_per_workspace(server, slack):
    reply = server.command(
        "digest here daily 08:00 UTC",
        team=T2,
        channel="CBETA",
        response_key="t2sub",
        command="/expansion",
        user="UADMIN",
    )
    assert reply.status == 200
    assert "Subscribed" in str(slack.wait_for_responses("t2sub", 1, timeout=30)[0].body)
    announce = [c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == "CBETA"]
    assert announce and announce[-1].team_id == T2
    listed_1 = answer(server, slack, T1, "digest list", "t1list", "/expansion")
    assert "CBETA" not in listed_1 and "No channel gets the digest yet" in listed_1
    listed_2 = answer(server, slack, T2, "digest list", "t2list", "/expansion")
    assert "CBETA" in listed_2
    url = server.env["EXPANSION_DB_URL"]
    for team, expected in ((T1, []), (T2, ["CBETA"])):
        engine = store.connect(url, team=team)
        assert [s.channel for s in schedule.subscriptions(engine)] == expected
        engine.dispose()


def test_the_scheduler_posts_each_workspace_digest_with_its_own_token(slack, tmp_path):
    from datetime import UTC, datetime, timedelta

    from slack_sdk.oauth.installation_store import Installation

    from bot.app import installation_store
    from bot.runtime import Runtime
    from bot.scheduler import DigestScheduler
    from bot.settings import Settings
    from expansion import digest

    url = f"sqlite:///{tmp_path / 'main.db'}"
    settings = Settings(
        bot_token="",
        signing_secret="s",
        api_url=slack.api_url,
        fixed_as_of=pipeline.SAMPLE_AS_OF,
        digest_pace=0,
        db_url=url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    root = Runtime(engine=store.connect(url, team=""), settings=settings)
    slack.add_workspace("T0C3", "xoxb-t3")
    installation_store(root).save(
        Installation(app_id="A0001", team_id="T0C3", bot_token="xoxb-t3", user_id="UINSTALLER")
    )
    tenant = root.for_team("T0C3")
    pipeline.sync_folder(tenant.engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    at = (datetime.now(UTC) - timedelta(minutes=20)).strftime("%H:%M")
    plan = schedule.parse_schedule(
        f"daily {at} UTC max 2", default_timezone="UTC", as_of=pipeline.SAMPLE_AS_OF
    )
    schedule.subscribe(
        tenant.engine, team_id="T0C3", channel="CGAMMA", schedule=plan, created_by="UADMIN"
    )
    subs = schedule._SUBS
    with tenant.engine.begin() as conn:
        conn.execute(subs.update().values(created_at=datetime.now(UTC) - timedelta(hours=1)))
    scheduler = DigestScheduler(root, client=None)
    assert [team for team, _ in scheduler.workspaces()] == ["T0C3"]
    scheduler.sweep()
    (run,) = digest.runs(tenant.engine, channel="CGAMMA")
    assert run.status == "posted" and run.team_id == "T0C3"
    posts = [c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == "CGAMMA"]
    assert len(posts) == run.messages and {c.team_id for c in posts} == {"T0C3"}
    assert digest.runs(root.engine) == []  # nothing in the main database
    root.dispose()


# --------------------------------------------------------------------------- unknown workspace


def _install(server: BotServer, slack, *, token: str, team: str | None, enterprise=None) -> None:
    from slack_sdk.oauth.installation_store import Installation
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

    slack.add_workspace(team or enterprise, token)
    engine = sa.create_engine(server.env["EXPANSION_DB_URL"])
    SQLAlchemyInstallationStore(client_id=CLIENT_ID, engine=engine).save(
        Installation(
            app_id="A0001",
            enterprise_id=enterprise,
            team_id=team,
            bot_token=token,
            user_id="UINSTALLER",
            is_enterprise_install=team is None,
        )
    )
    engine.dispose()


def _command(server: BotServer, slack, key: str, **fields) -> object:
    form = {
        "channel_id": "C1",
        "user_id": "UADMIN",
        "command": "/find-expansion-opportunities",
        "text": "enterprise",
        "response_url": slack.response_url(key),
        "trigger_id": "1.2.3",
        **fields,
    }
    return server.post(
        urllib.parse.urlencode(form), content_type="application/x-www-form-urlencoded"
    )


def test_a_command_naming_only_an_enterprise_is_refused(server, slack):
    # An org-wide install exists for E0GRID, but this request says it is not one and names no
    # team: Bolt finds the org's token, and no workspace can be told.
    _install(server, slack, token="xoxb-grid", team=None, enterprise="E0GRID")
    reply = _command(server, slack, "entonly", enterprise_id="E0GRID")
    assert reply.status == 200 and "can't tell which Slack workspace" in reply.body
    answer(server, slack, T1, "help", "after-entonly", "/expansion")  # handled in order
    assert slack.responses_to("entonly") == []


def test_a_click_with_a_null_team_creates_no_partition(server, slack):
    import json

    _install(server, slack, token="xoxb-t9", team="T0C9")
    partition = Path(server.workdir) / "main.t0c9.db"
    payload = {
        "type": "block_actions",
        "team": None,
        "user": {"id": "UADMIN", "team_id": "T0C9"},
        "channel": {"id": "C1"},
        "container": {"type": "message", "channel_id": "C1", "message_ts": "1.2"},
        "response_url": slack.response_url("nullteam"),
        "trigger_id": "1.2.4",
        "actions": [
            {"action_id": "pick_scope:0", "value": "enterprise", "block_id": "scope_picker"}
        ],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    reply = server.post(body, content_type="application/x-www-form-urlencoded")
    assert reply.status == 200 and "can't tell which Slack workspace" in reply.body
    answer(server, slack, T1, "help", "after-nullteam", "/expansion")
    assert slack.responses_to("nullteam") == []
    assert not partition.exists()


def test_an_org_wide_install_answers_from_the_organisation_data(server, slack):
    # Bolt's documented rule: enterprise_id + is_enterprise_install finds the org's install;
    # the organisation's data answers whichever of its workspaces asks.
    _install(server, slack, token="xoxb-org", team=None, enterprise="E0ORG")
    engine = store.connect(server.env["EXPANSION_DB_URL"], team="E0ORG")
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    engine.dispose()
    reply = _command(
        server,
        slack,
        "orgwide",
        team_id="T0ORGWS",
        enterprise_id="E0ORG",
        is_enterprise_install="true",
    )
    assert reply.status == 200 and reply.body == ""
    [response] = slack.wait_for_responses("orgwide", 1, timeout=30)
    assert "Helios Health Systems" in str(response.body)
    assert not (Path(server.workdir) / "main.t0orgws.db").exists()
