"""Answer worker processes (bot.workers): the HTTP process acks, a worker answers.

Real processes throughout: ``expansion serve`` over HTTP against the Slack emulator, with its
worker stopped (SIGSTOP), killed, or not started at all (``EXPANSION_WORKERS=0``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest
from bot_harness import BotServer, all_text

from bot.settings import Settings
from expansion import pipeline, store
from expansion.errors import ConfigError

BASE_ENV = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}


def test_workers_setting_defaults_to_one_and_rejects_nonsense():
    assert Settings.from_env(BASE_ENV).workers == 1
    assert Settings.from_env({**BASE_ENV, "EXPANSION_WORKERS": "0"}).workers == 0
    assert Settings.from_env({**BASE_ENV, "EXPANSION_WORKERS": "4"}).workers == 4
    for bad in ("-1", "two", "9", "1.5"):
        with pytest.raises(ConfigError, match=r"EXPANSION_WORKERS must be .*0-8") as info:
            Settings.from_env({**BASE_ENV, "EXPANSION_WORKERS": bad})
        assert repr(bad) in str(info.value)


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workers")
    url = f"sqlite:///{workdir / 'bot.db'}"
    engine = store.connect(url)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    pipeline.score(engine, as_of=pipeline.SAMPLE_AS_OF)
    engine.dispose()
    return url, workdir


def start(slack, sample_db, name: str, **env) -> BotServer:
    url, workdir = sample_db
    folder = workdir / name
    folder.mkdir()
    return BotServer(slack, url, folder, extra_env={"EXPANSION_SCHEDULER": "off", **env}).start()


def worker_pids(server: BotServer) -> list[int]:
    return [int(p) for p in re.findall(r"answer worker 0 started \(pid (\d+)\)", server.log())]


def health(server: BotServer) -> tuple[int, dict]:
    reply = server.get("/healthz")
    return reply.status, json.loads(reply.body)


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_the_answer_comes_from_a_worker_and_the_ack_does_not_wait_for_it(slack, sample_db):
    server = start(slack, sample_db, "stopped")
    try:
        status, body = health(server)
        assert status == 200 and body["workers"] == {"ready": 1, "configured": 1}
        [pid] = worker_pids(server)
        assert pid != server.process.pid
        # With the worker frozen nothing can answer, yet the command is acked at once ...
        os.kill(pid, signal.SIGSTOP)
        try:
            reply = server.command("enterprise", response_key="frozen")
            assert reply.status == 200 and reply.seconds < 1.0
            time.sleep(0.5)
            assert slack.responses_to("frozen") == []
        finally:
            os.kill(pid, signal.SIGCONT)
        # ... and answered as soon as the worker runs again.
        [answer] = slack.wait_for_responses("frozen", 1, timeout=20)
        assert "Expansion opportunities: Enterprise" in all_text(answer.body["blocks"])
    finally:
        server.stop()
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10)


def test_a_dead_worker_is_restarted_and_the_bot_answers_again(slack, sample_db):
    server = start(slack, sample_db, "killed")
    try:
        [pid] = worker_pids(server)
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: "answer worker 0 exited (code -9)" in server.log())
        wait_until(lambda: len(worker_pids(server)) == 2 and health(server)[0] == 200)
        new_pid = worker_pids(server)[-1]
        assert new_pid != pid
        reply = server.command("enterprise", response_key="after-restart")
        assert reply.status == 200
        [answer] = slack.wait_for_responses("after-restart", 1, timeout=20)
        assert "Expansion opportunities: Enterprise" in all_text(answer.body["blocks"])
    finally:
        server.stop()


def test_no_workers_answers_in_the_http_process(slack, sample_db):
    server = start(slack, sample_db, "inline", EXPANSION_WORKERS="0")
    try:
        status, body = health(server)
        assert status == 200 and "workers" not in body
        assert worker_pids(server) == []
        reply = server.command("enterprise", response_key="inline")
        assert reply.status == 200
        [answer] = slack.wait_for_responses("inline", 1, timeout=20)
        assert "Expansion opportunities: Enterprise" in all_text(answer.body["blocks"])
    finally:
        server.stop()


def test_a_bad_workers_setting_stops_serve_with_the_reason(slack, sample_db):
    url, workdir = sample_db
    server = BotServer(slack, url, workdir, extra_env={"EXPANSION_WORKERS": "lots"})
    with pytest.raises(AssertionError, match="EXPANSION_WORKERS must be"):
        server.start(timeout=20)
    server.stop()
