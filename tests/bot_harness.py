"""Run ``expansion serve`` as a real HTTP server against the Slack emulator, and talk to it
the way Slack does: signed slash commands, block_actions and events over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from slack_emulator import SlackEmulator
from slack_sdk.signature import SignatureVerifier

EXPANSION = shutil.which("expansion", path=str(Path(sys.executable).parent)) or "expansion"
SECRET = "test-signing-secret"
TOKEN = "xoxb-test"
TEAM = "T0001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    status: int
    body: str
    seconds: float


class BotServer:
    """One ``expansion serve`` subprocess; its log is kept in ``log_path``."""

    def __init__(
        self,
        emulator: SlackEmulator,
        db_url: str,
        workdir: Path,
        *,
        admins: str = "UADMIN",
        as_of: str = "2026-11-16",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.emulator = emulator
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "serve.log"
        self.env = {
            **os.environ,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": emulator.api_url,
            # The emulator's response_urls are the only ones the bot may post to.
            "SLACK_RESPONSE_URL_HOSTS": emulator.url,
            "EXPANSION_DB_URL": db_url,
            "EXPANSION_AS_OF": as_of,
            "EXPANSION_ADMINS": admins,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            **(extra_env or {}),
        }
        if "SLACK_APP_TOKEN" not in (extra_env or {}):
            self.env.pop("SLACK_APP_TOKEN", None)
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float = 30.0) -> BotServer:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [EXPANSION, "serve"],
            env=self.env,
            cwd=self.workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"expansion serve exited:\n{self.log()}")
            try:
                if self.get("/healthz").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"expansion serve did not become healthy:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # ------------------------------------------------------------------ HTTP

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self._send(urllib.request.Request(self.url + path, headers=headers or {}))

    def post(
        self,
        body: str,
        *,
        content_type: str,
        timestamp: int | None = None,
        secret: str = SECRET,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """POST ``body`` to /slack/events, signed with ``secret`` at ``timestamp`` (now)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = signature or SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
        request = urllib.request.Request(
            self.url + "/slack/events",
            data=body.encode(),
            method="POST",
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": sig,
                **(headers or {}),
            },
        )
        return self._send(request)

    @staticmethod
    def _send(request: urllib.request.Request) -> Reply:
        start = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read().decode()
                return Reply(response.status, text, time.monotonic() - start)
        except urllib.error.HTTPError as exc:
            text = exc.read().decode()
            exc.close()
            return Reply(exc.code, text, time.monotonic() - start)

    # ------------------------------------------------------------------ Slack payloads

    def command(
        self,
        text: str,
        *,
        user: str = "U1",
        channel: str = "C1",
        response_key: str = "cmd",
        command: str = "/find-expansion-opportunities",
        team: str = TEAM,
        **sign,
    ) -> Reply:
        """A signed slash command, answered through the emulator's response_url ``response_key``."""
        form = {
            "token": "legacy",
            "team_id": team,
            "team_domain": "example",
            "channel_id": channel,
            "channel_name": "expansion",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0001",
            "response_url": self.emulator.response_url(response_key),
            "trigger_id": self.emulator.trigger_id(),
        }
        return self.post(
            urllib.parse.urlencode(form), content_type="application/x-www-form-urlencoded", **sign
        )

    def block_action(
        self,
        action: dict,
        *,
        user: str = "U1",
        channel: str = "C1",
        message: dict | None = None,
        message_ts: str | None = None,
        ephemeral: bool = False,
        response_key: str = "act",
        home: bool = False,
        modal: dict | None = None,
        user_team: str = TEAM,
    ) -> Reply:
        """A signed block_actions payload for ``action``, clicked on a message, the Home tab, or
        in an open modal (``modal``: the view as the emulator holds it); ``user_team``: the
        clicker's own organisation (another one: a guest in a Slack Connect channel)."""
        payload: dict = {
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "example"},
            "user": {"id": user, "username": user.lower(), "team_id": user_team},
            "api_app_id": "A0001",
            "trigger_id": self.emulator.trigger_id(),
            "actions": [{"action_ts": str(time.time()), **action}],
        }
        if modal is not None:
            payload["container"] = {"type": "view", "view_id": modal["id"]}
            payload["view"] = modal
        elif home:
            payload["container"] = {"type": "view", "view_id": "V1"}
            payload["view"] = {"id": "V1", "type": "home"}
        else:
            payload["container"] = {
                "type": "message",
                "message_ts": message_ts or "1700000000.000001",
                "channel_id": channel,
                "is_ephemeral": ephemeral,
            }
            payload["channel"] = {"id": channel, "name": "expansion"}
            payload["response_url"] = self.emulator.response_url(response_key)
            if message is not None:
                payload["message"] = message
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self.post(body, content_type="application/x-www-form-urlencoded")

    def view_submission(self, view: dict, values: dict, *, user: str = "U1") -> Reply:
        """A signed view_submission of modal ``view`` (as the emulator holds it) with the input
        ``values`` (``{block_id: {action_id: {...}}}``, as Slack puts them in ``state``)."""
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "example"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "api_app_id": "A0001",
            "trigger_id": self.emulator.trigger_id(),
            "view": {**view, "state": {"values": values}},
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self.post(body, content_type="application/x-www-form-urlencoded")

    def event(self, event: dict, *, event_id: str | None = None) -> Reply:
        """A signed Events API callback (a new ``event_id`` unless given: the bot runs each
        event once)."""
        envelope = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A0001",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:12].upper()}",
            "event_time": int(time.time()),
        }
        return self.post(json.dumps(envelope), content_type="application/json")


def find_action(blocks: list[dict], action_id: str, *, index: int = 0) -> tuple[dict, dict]:
    """The ``index``-th element with ``action_id`` and the actions block holding it."""
    found = [
        (element, block)
        for block in blocks
        if block.get("type") == "actions"
        for element in block["elements"]
        if element.get("action_id", "").split(":")[0] == action_id
    ]
    assert len(found) > index, f"no {action_id} #{index} in blocks"
    return found[index]


def click(element: dict, block: dict, **extra) -> dict:
    """The ``actions[0]`` entry Slack sends when ``element`` is used."""
    action = {
        "type": element["type"],
        "action_id": element["action_id"],
        "block_id": block.get("block_id", ""),
    }
    if "value" in element:
        action["value"] = element["value"]
    action.update(extra)
    return action


def all_text(blocks: list[dict]) -> str:
    """Every text string in ``blocks``, joined: for asserting on what a user reads."""
    out: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    out.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return "\n".join(out)
