"""``/expansion sync`` and ``/expansion status`` over the real server, with a CRM folder and a
SQL warehouse configured in expansion.toml."""

from __future__ import annotations

import itertools

import pytest
from bot_harness import BotServer
from test_connectors import crm_files, sources_toml, warehouse

from expansion import store

_keys = itertools.count()


@pytest.fixture(scope="module")
def server(slack, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sources")
    wh_url = f"sqlite:///{workdir / 'wh.db'}"
    warehouse(wh_url)
    crm = crm_files(workdir)
    config = workdir / "expansion.toml"
    config.write_text(sources_toml(crm), encoding="utf-8")
    url = f"sqlite:///{workdir / 'bot.db'}"
    store.connect(url).dispose()
    server = BotServer(
        slack,
        url,
        workdir,
        extra_env={"EXPANSION_CONFIG": str(config), "WH_URL": wh_url},
    ).start()
    yield server
    server.stop()


def say(server, slack, text: str, user: str = "UADMIN") -> list[str]:
    key = f"src{next(_keys)}"
    reply = server.command(text, command="/expansion", user=user, channel="CSRC", response_key=key)
    assert reply.status == 200 and reply.seconds < 3
    return [r.body["text"] for r in slack.wait_for_responses(key, 1, timeout=60)]


def test_only_admins(server, slack):
    for words in ("status", "sync"):
        text = say(server, slack, words, user="U1")[0]
        assert "Only an admin of this bot" in text
        assert "EXPANSION_ADMINS" not in text  # no setting names in messages


def test_sync_then_status_then_find(server, slack):
    key = f"src{next(_keys)}"
    server.command("sync", command="/expansion", user="UADMIN", channel="CSRC", response_key=key)
    texts = [r.body["text"] for r in slack.wait_for_responses(key, 2, timeout=60)]
    assert texts[0].startswith("Syncing crm, warehouse")
    assert texts[1].startswith("*Sync finished*")
    # 44 accounts, 69 subscriptions, 12 products, 78 signals, 93 departments
    assert "*crm* (full): 296 rows" in texts[1]
    assert "*warehouse* (full): 2006 rows" in texts[1]  # usage 1208 + features 798
    status = say(server, slack, "status")[0]
    assert ":white_check_mark: *crm*" in status and ":white_check_mark: *warehouse*" in status
    key = f"src{next(_keys)}"
    server.command("enterprise", user="UADMIN", channel="CSRC", response_key=key)
    assert "Helios Health Systems" in str(slack.wait_for_responses(key, 1, timeout=60)[0].body)


def test_unknown_source_names_the_configured_ones(server, slack):
    text = say(server, slack, "sync nowhere")[0]
    assert "Unknown source nowhere" in text and "crm, warehouse" in text
