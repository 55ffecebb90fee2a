"""manifest.yml is importable: valid against Slack's own manifest schema, and it declares exactly
what the bot uses (commands, events, scopes)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = Path(__file__).parent / "schemas" / "slack-manifest.schema.1.0.0.json"
BOT_SCOPES = {
    "commands",
    "chat:write",
    "chat:write.public",
    "users:read",
    "users:read.email",
    "im:write",
    "files:write",
    "channels:read",
    "groups:read",
}


def _manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_is_valid_against_slacks_schema():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(_manifest(), schema)


def test_manifest_declares_what_the_bot_uses():
    manifest = _manifest()
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert commands == {"/find-expansion-opportunities", "/expansion"}
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES
    # The multi-workspace install flow asks for exactly the manifest's scopes.
    from bot.settings import BOT_SCOPES as INSTALL_SCOPES

    assert set(INSTALL_SCOPES) == BOT_SCOPES and len(INSTALL_SCOPES) == len(BOT_SCOPES)
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]


def test_the_app_registers_every_command_in_the_manifest():
    source = "\n".join(p.read_text() for p in (ROOT / "bot" / "listeners").rglob("*.py"))
    for command in _manifest()["features"]["slash_commands"]:
        assert f'"{command["command"]}"' in source
