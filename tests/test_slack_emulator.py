"""Tests for the local Slack Web API emulator, driven through the real slack_sdk clients."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen
from zoneinfo import ZoneInfo

import pytest
from slack_bolt import App, BoltRequest
from slack_emulator import (
    MAX_BLOCKS_TEXT_CHARS,
    Call,
    Response,
    SlackEmulator,
    Upload,
    blocks_text_length,
    validate_blocks,
)
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

Block = dict[str, Any]


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    """A running emulator, stopped after the test."""
    with SlackEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(slack: SlackEmulator) -> WebClient:
    """A real WebClient pointed at the emulator with the bot token."""
    return WebClient(token="xoxb-test", base_url=slack.api_url, timeout=5)


def http(
    url: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """A raw HTTP request with urllib; returns status, headers and body (errors included)."""
    request = Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def plain(text: str) -> Block:
    """A plain_text object."""
    return {"type": "plain_text", "text": text}


def mrkdwn(text: str) -> Block:
    """A mrkdwn text object."""
    return {"type": "mrkdwn", "text": text}


def section(text: str = "hello", **extra: Any) -> Block:
    """A section block."""
    return {"type": "section", "text": mrkdwn(text), **extra}


def button(text: str = "Go", **extra: Any) -> Block:
    """A button element."""
    return {"type": "button", "text": plain(text), **extra}


def option(text: str = "one", value: str = "1") -> Block:
    """An option object."""
    return {"text": plain(text), "value": value}


def actions(*elements: Block, **extra: Any) -> Block:
    """An actions block."""
    return {"type": "actions", "elements": list(elements), **extra}


def confirm(title: str = "Sure?", text: str = "Really?", yes: str = "Yes", no: str = "No") -> Block:
    """A confirmation dialog object."""
    return {"title": plain(title), "text": mrkdwn(text), "confirm": plain(yes), "deny": plain(no)}


def assert_slack_error(error: pytest.ExceptionInfo[SlackApiError], code: str) -> None:
    """The SlackApiError carries the given Slack error code."""
    assert error.value.response["error"] == code


# --------------------------------------------------------------------------------------------
# Lifecycle and addresses
# --------------------------------------------------------------------------------------------


def test_addresses_and_lifecycle() -> None:
    emulator = SlackEmulator()
    with pytest.raises(RuntimeError):
        _ = emulator.api_url
    assert emulator.start() is emulator
    port = emulator.port
    assert emulator.url == f"http://127.0.0.1:{port}"
    assert emulator.api_url == f"http://127.0.0.1:{port}/api/"
    assert emulator.response_url() == f"http://127.0.0.1:{port}/response/r1"
    assert emulator.response_url("cmd") == f"http://127.0.0.1:{port}/response/cmd"
    with pytest.raises(RuntimeError):
        emulator.start()
    emulator.stop()
    emulator.stop()  # idempotent
    with pytest.raises(URLError):
        urlopen(f"http://127.0.0.1:{port}/api/auth.test", timeout=1)


def test_unknown_paths_are_404(slack: SlackEmulator) -> None:
    assert http(f"{slack.url}/nowhere")[0] == 404
    assert http(f"{slack.url}/upload/F404", data=b"x")[0] == 404


# --------------------------------------------------------------------------------------------
# Auth, tokens and request encodings
# --------------------------------------------------------------------------------------------


def test_auth_test(client: WebClient, slack: SlackEmulator) -> None:
    response = client.auth_test()
    assert response["ok"] is True
    assert response["team_id"] == "T0001"
    assert response["user_id"] == "UBOT"
    assert response["bot_id"] == "B0001"
    assert response["url"].startswith("https://")
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    [call] = slack.calls_to("auth.test")
    assert isinstance(call, Call)
    assert call.status == 200 and call.ok
    assert call.headers["Authorization"] == "Bearer xoxb-test"


def test_custom_identity() -> None:
    with SlackEmulator(token="xoxb-other", team_id="T9", bot_user_id="U9") as emulator:
        response = WebClient(token="xoxb-other", base_url=emulator.api_url).auth_test()
        assert (response["team_id"], response["user_id"]) == ("T9", "U9")


def test_wrong_or_missing_token(slack: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as wrong:
        WebClient(token="xoxb-wrong", base_url=slack.api_url).chat_postMessage(
            channel="C1", text="hi"
        )
    assert_slack_error(wrong, "invalid_auth")
    assert wrong.value.response.status_code == 200
    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=slack.api_url).auth_test()
    assert_slack_error(missing, "not_authed")
    assert [call.error for call in slack.calls] == ["invalid_auth", "not_authed"]
    assert slack.messages == {}


def test_token_as_form_param_and_get_query_string(slack: SlackEmulator) -> None:
    form = urlencode({"token": "xoxb-test"}).encode()
    status, headers, body = http(
        f"{slack.api_url}auth.test",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200 and json.loads(body)["ok"] is True
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    # urllib sends "Content-type"; the emulator records canonical header names
    assert slack.calls[0].headers["Content-Type"] == "application/x-www-form-urlencoded"

    slack.add_user("U1", name="ana")
    status, _, body = http(f"{slack.api_url}users.info?user=U1&token=xoxb-test")
    assert status == 200 and json.loads(body)["user"]["id"] == "U1"
    assert slack.calls_to("users.info")[0].params == {"user": "U1", "token": "xoxb-test"}


def test_unknown_method(client: WebClient, slack: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as error:
        client.api_call("nothing.here")
    assert_slack_error(error, "unknown_method")
    assert slack.calls_to("nothing.here")[0].status == 404


def test_form_encoded_json_params_are_decoded(client: WebClient, slack: SlackEmulator) -> None:
    blocks = [section("from a form")]
    client.api_call(
        "chat.postMessage",
        params={"channel": "C1", "text": "fallback", "blocks": json.dumps(blocks)},
    )
    [call] = slack.calls_to("chat.postMessage")
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert call.params["blocks"] == blocks
    [message] = slack.messages.values()
    assert message["blocks"] == blocks


def test_invalid_json_body(slack: SlackEmulator) -> None:
    status, _, body = http(
        f"{slack.api_url}auth.test",
        data=b"[not json",
        headers={"Content-Type": "application/json", "Authorization": "Bearer xoxb-test"},
    )
    assert status == 200 and json.loads(body)["error"] == "invalid_json"


# --------------------------------------------------------------------------------------------
# Workspaces and OAuth installs
# --------------------------------------------------------------------------------------------


def test_workspaces_have_their_own_tokens(slack: SlackEmulator) -> None:
    slack.add_workspace("T0002", "xoxb-second", team_name="Second")
    slack.add_workspace("T0003", "xoxb-third")
    assert slack.tokens == {"xoxb-test": "T0001", "xoxb-second": "T0002", "xoxb-third": "T0003"}
    first = WebClient(token="xoxb-test", base_url=slack.api_url).auth_test()
    second_client = WebClient(token="xoxb-second", base_url=slack.api_url)
    second = second_client.auth_test()
    third = WebClient(token="xoxb-third", base_url=slack.api_url).auth_test()
    assert (first["team_id"], first["team"]) == ("T0001", "Example")
    assert (second["team_id"], second["team"]) == ("T0002", "Second")
    assert (third["team_id"], third["team"]) == ("T0003", "T0003")  # unnamed: the id
    for answer in (second, third):  # the rest as for the first workspace
        assert (answer["user_id"], answer["bot_id"], answer["url"]) == (
            first["user_id"],
            first["bot_id"],
            first["url"],
        )
        assert answer["is_enterprise_install"] is False

    posted = second_client.chat_postMessage(channel="C1", text="hi")
    assert posted["message"]["team"] == "T0002"
    assert slack.messages[("C1", posted["ts"])]["team"] == "T0002"
    home = second_client.views_publish(user_id="U1", view={"type": "home", "blocks": []})
    assert home["view"]["team_id"] == "T0002"
    assert [call.team_id for call in slack.calls] == ["T0001", "T0002", "T0003", "T0002", "T0002"]

    with pytest.raises(SlackApiError) as unknown:
        WebClient(token="xoxb-fourth", base_url=slack.api_url).auth_test()
    assert_slack_error(unknown, "invalid_auth")
    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=slack.api_url).auth_test()
    assert_slack_error(missing, "not_authed")
    assert [call.team_id for call in slack.calls[-2:]] == [None, None]


def test_add_workspace_checks(slack: SlackEmulator) -> None:
    slack.add_workspace("T0001", "xoxb-test-2")  # a second token for the first workspace
    slack.add_workspace("T0001", "xoxb-test")  # again: no change, the name is kept
    answer = WebClient(token="xoxb-test-2", base_url=slack.api_url).auth_test()
    assert (answer["team_id"], answer["team"]) == ("T0001", "Example")
    with pytest.raises(ValueError):
        slack.add_workspace("T0002", "xoxb-test")  # belongs to T0001
    with pytest.raises(ValueError):
        slack.add_workspace("T0002", "xapp-test")  # the app-level token
    with pytest.raises(ValueError):
        slack.add_workspace("T0002", "")
    slack.reset()
    assert slack.tokens["xoxb-test-2"] == "T0001"  # workspaces survive reset


def test_oauth_v2_access_installs_a_workspace(slack: SlackEmulator) -> None:
    slack.register_oauth_code("code-1", team_id="T0002", team_name="Acme", bot_token="xoxb-acme")
    installer = WebClient(base_url=slack.api_url)
    answer = installer.oauth_v2_access(
        client_id="111.222", client_secret="oauth-secret", code="code-1"
    )
    assert answer.data == {
        "ok": True,
        "app_id": "A0001",
        "authed_user": {"id": "UINSTALLER"},
        "scope": (
            "commands,chat:write,chat:write.public,users:read,users:read.email,im:write,files:write,"
            "channels:read,groups:read"
        ),
        "token_type": "bot",
        "access_token": "xoxb-acme",
        "bot_user_id": "UBOT",
        "team": {"id": "T0002", "name": "Acme"},
        "enterprise": None,
        "is_enterprise_install": False,
    }
    [call] = slack.calls_to("oauth.v2.access")
    assert call.ok and call.team_id is None
    assert call.headers["Authorization"].startswith("Basic ")  # how slack_sdk sends the secret
    assert call.params == {"code": "code-1"}
    assert slack.tokens["xoxb-acme"] == "T0002"

    acme = WebClient(token=answer["access_token"], base_url=slack.api_url)
    assert (acme.auth_test()["team_id"], acme.auth_test()["team"]) == ("T0002", "Acme")
    posted = acme.chat_postMessage(channel="C9", text="installed")
    assert slack.messages[("C9", posted["ts"])]["team"] == "T0002"
    assert slack.calls_to("chat.postMessage")[0].team_id == "T0002"


def test_oauth_v2_access_with_form_credentials_and_custom_grant(slack: SlackEmulator) -> None:
    slack.register_oauth_code(
        "code-2",
        team_id="T0003",
        bot_token="xoxb-form",
        user_id="UADMIN",
        scopes="chat:write",
        client_id="9.9",
        client_secret="s9",
    )
    form = urlencode(
        {"client_id": "9.9", "client_secret": "s9", "code": "code-2", "redirect_uri": "x"}
    )
    status, _, body = http(
        f"{slack.api_url}oauth.v2.access",
        data=form.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    answer = json.loads(body)
    assert status == 200 and answer["ok"] is True
    assert (answer["authed_user"], answer["scope"]) == ({"id": "UADMIN"}, "chat:write")
    assert answer["team"] == {"id": "T0003", "name": ""}
    assert WebClient(token="xoxb-form", base_url=slack.api_url).auth_test()["team_id"] == "T0003"


def test_oauth_v2_access_errors(slack: SlackEmulator) -> None:
    slack.register_oauth_code("once", team_id="T0002", bot_token="xoxb-once")
    slack.register_oauth_code("other-app", team_id="T0004", bot_token="xoxb-x", client_id="3.4")
    installer = WebClient(base_url=slack.api_url)

    def exchange(code: str, client_id: str = "111.222", secret: str = "oauth-secret") -> str:
        with pytest.raises(SlackApiError) as error:
            installer.oauth_v2_access(client_id=client_id, client_secret=secret, code=code)
        return str(error.value.response["error"])

    assert exchange("once", secret="wrong") == "bad_client_secret"
    assert exchange("once", client_id="999.999") == "invalid_client_id"
    assert exchange("nope") == "invalid_code"
    assert exchange("other-app") == "invalid_code"  # issued to another client
    with pytest.raises(SlackApiError) as unauthenticated:
        installer.api_call("oauth.v2.access", data={"code": "once"})
    assert_slack_error(unauthenticated, "invalid_client_id")
    assert "xoxb-once" not in slack.tokens  # failed exchanges install nothing
    installer.oauth_v2_access(client_id="111.222", client_secret="oauth-secret", code="once")
    assert exchange("once") == "invalid_code"  # a code is used once
    assert slack.tokens["xoxb-once"] == "T0002"
    assert [call.error for call in slack.calls_to("oauth.v2.access")] == [
        "bad_client_secret",
        "invalid_client_id",
        "invalid_code",
        "invalid_code",
        "invalid_client_id",
        None,
        "invalid_code",
    ]
    with pytest.raises(SlackApiError) as bot_token:  # a bot token is not a client secret
        WebClient(token="xoxb-test", base_url=slack.api_url).api_call(
            "oauth.v2.access", data={"code": "x"}
        )
    assert_slack_error(bot_token, "invalid_client_id")

    with pytest.raises(ValueError):
        slack.register_oauth_code("c", team_id="T0002", bot_token="x", client_secret="other")
    with pytest.raises(ValueError):
        slack.register_oauth_code("c", team_id="T0009", bot_token="xoxb-test")


# --------------------------------------------------------------------------------------------
# chat.*
# --------------------------------------------------------------------------------------------


def test_post_message_records_and_increasing_ts(client: WebClient, slack: SlackEmulator) -> None:
    blocks = [section("*hi*")]
    first = client.chat_postMessage(channel="C1", text="hi", blocks=blocks)
    reply = client.chat_postMessage(channel="C1", text="reply", thread_ts=first["ts"])
    assert first["channel"] == "C1"
    assert first["ts"] == "1700000000.000100"
    assert float(reply["ts"]) > float(first["ts"])
    assert first["message"]["text"] == "hi"
    assert first["message"]["blocks"] == blocks
    assert slack.messages[("C1", first["ts"])] == {
        "type": "message",
        "user": "UBOT",
        "bot_id": "B0001",
        "app_id": "A0001",
        "team": "T0001",
        "ts": first["ts"],
        "text": "hi",
        "blocks": blocks,
        "thread_ts": None,
    }
    assert slack.messages[("C1", reply["ts"])]["thread_ts"] == first["ts"]
    assert slack.calls_to("chat.postMessage")[0].params["blocks"] == blocks


def test_post_message_errors(client: WebClient, slack: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as no_channel:
        client.api_call("chat.postMessage", json={"text": "hi"})
    assert_slack_error(no_channel, "channel_not_found")
    with pytest.raises(SlackApiError) as no_text:
        client.api_call("chat.postMessage", json={"channel": "C1"})
    assert_slack_error(no_text, "no_text")
    with pytest.raises(SlackApiError) as too_long:
        client.chat_postMessage(channel="C1", text="x" * 40_001)
    assert_slack_error(too_long, "msg_too_long")
    client.chat_postMessage(channel="C1", text="x" * 40_000)
    assert len(slack.messages) == 1


def test_post_message_rejects_invalid_blocks(client: WebClient, slack: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel="C1", text="t", blocks=[section()] * 51)
    assert_slack_error(error, "invalid_blocks")
    assert any("at most 50 blocks" in problem for problem in error.value.response["errors"])
    assert error.value.response["response_metadata"]["messages"]
    with pytest.raises(SlackApiError) as too_long:
        client.chat_postMessage(channel="C1", text="t", blocks=[section("y" * 2500)] * 5)
    assert_slack_error(too_long, "msg_blocks_too_long")
    with pytest.raises(SlackApiError) as bad_format:
        client.api_call("chat.postMessage", params={"channel": "C1", "blocks": "[oops"})
    assert_slack_error(bad_format, "invalid_blocks_format")
    assert slack.messages == {}


def test_post_ephemeral(client: WebClient, slack: SlackEmulator) -> None:
    response = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert response["message_ts"].startswith("1700000000.")
    assert slack.calls_to("chat.postEphemeral")[0].params["user"] == "U1"
    assert slack.messages == {}
    with pytest.raises(SlackApiError) as error:
        client.chat_postEphemeral(channel="C1", user="U1", text="t", blocks=[{"type": "nope"}])
    assert_slack_error(error, "invalid_blocks")


def test_update(client: WebClient, slack: SlackEmulator) -> None:
    blocks = [section("before")]
    posted = client.chat_postMessage(channel="C1", text="before", blocks=blocks)
    response = client.chat_update(channel="C1", ts=posted["ts"], text="after")
    assert (response["channel"], response["ts"]) == ("C1", posted["ts"])
    message = slack.messages[("C1", posted["ts"])]
    assert message["text"] == "after"
    assert message["blocks"] == blocks  # kept when not given, like Slack
    client.chat_update(channel="C1", ts=posted["ts"], text="again", blocks=[])
    assert slack.messages[("C1", posted["ts"])]["blocks"] == []
    with pytest.raises(SlackApiError) as unknown:
        client.chat_update(channel="C1", ts="1.2", text="x")
    assert_slack_error(unknown, "message_not_found")
    with pytest.raises(SlackApiError) as invalid:
        client.chat_update(channel="C1", ts=posted["ts"], text="t", blocks=[{"type": "header"}])
    assert_slack_error(invalid, "invalid_blocks")
    assert slack.messages[("C1", posted["ts"])]["text"] == "again"


def test_get_permalink(client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C1", text="hi")
    response = client.chat_getPermalink(channel="C1", message_ts=posted["ts"])
    assert response["permalink"] == (
        f"https://example.slack.com/archives/C1/p{posted['ts'].replace('.', '')}"
    )
    with pytest.raises(SlackApiError) as error:
        client.chat_getPermalink(channel="C2", message_ts=posted["ts"])
    assert_slack_error(error, "message_not_found")


# --------------------------------------------------------------------------------------------
# conversations, users, views, Socket Mode
# --------------------------------------------------------------------------------------------


def test_conversations_open(client: WebClient) -> None:
    assert client.conversations_open(users="U1")["channel"]["id"] == "DU1"
    assert client.conversations_open(users=["U2"])["channel"]["id"] == "DU2"
    with pytest.raises(SlackApiError) as error:
        client.api_call("conversations.open", params={})
    assert_slack_error(error, "users_list_not_supplied")


def test_users_info_and_lookup(client: WebClient, slack: SlackEmulator) -> None:
    slack.add_user("U1", email="Ana@Example.com", name="ana", tz="Europe/Paris", is_admin=True)
    slack.add_user("U2")
    user = client.users_info(user="U1")["user"]
    expected_offset = datetime.now(ZoneInfo("Europe/Paris")).utcoffset()
    assert expected_offset is not None
    assert user["id"] == "U1"
    assert user["name"] == user["real_name"] == "ana"
    assert user["tz"] == "Europe/Paris"
    assert user["tz_offset"] == int(expected_offset.total_seconds())
    assert user["is_admin"] is True
    assert user["profile"]["email"] == "Ana@Example.com"
    assert user["profile"]["display_name"] == user["profile"]["real_name"] == "ana"
    other = client.users_info(user="U2")["user"]
    assert other["tz"] == "America/New_York" and other["tz_offset"] in (-18000, -14400)
    assert "email" not in other["profile"] and other["is_admin"] is False
    assert client.users_info(user="UBOT")["user"]["is_bot"] is True
    with pytest.raises(SlackApiError) as missing:
        client.users_info(user="U404")
    assert_slack_error(missing, "user_not_found")

    assert client.users_lookupByEmail(email="ana@example.com")["user"]["id"] == "U1"
    with pytest.raises(SlackApiError) as nobody:
        client.users_lookupByEmail(email="who@example.com")
    assert_slack_error(nobody, "users_not_found")


def test_add_user_rejects_unknown_time_zone(slack: SlackEmulator) -> None:
    with pytest.raises(KeyError):
        slack.add_user("U1", tz="Mars/Olympus")


def test_views_publish(client: WebClient, slack: SlackEmulator) -> None:
    view = {"type": "home", "blocks": [section("home")] * 100}
    response = client.views_publish(user_id="U1", view=view)
    view_id = response["view"]["id"]
    assert view_id.startswith("V")
    assert slack.home_views["U1"]["blocks"] == view["blocks"]
    again = client.views_publish(user_id="U1", view={"type": "home", "blocks": []})
    assert again["view"]["id"] == view_id
    assert slack.home_views["U1"]["blocks"] == []

    with pytest.raises(SlackApiError) as too_many:
        client.views_publish(user_id="U1", view={"type": "home", "blocks": [section()] * 101})
    assert_slack_error(too_many, "invalid_blocks")
    assert "at most 100 blocks" in too_many.value.response["errors"][0]
    with pytest.raises(SlackApiError) as not_home:
        client.views_publish(user_id="U1", view={"type": "modal", "blocks": []})
    assert_slack_error(not_home, "invalid_arguments")
    assert slack.home_views["U1"]["blocks"] == []


def test_apps_connections_open_needs_app_token(slack: SlackEmulator) -> None:
    client = WebClient(base_url=slack.api_url)
    response = client.apps_connections_open(app_token="xapp-test")
    assert response["url"] == f"ws://127.0.0.1:{slack.port}/socket"
    with pytest.raises(SlackApiError) as error:
        client.apps_connections_open(app_token="xoxb-test")
    assert_slack_error(error, "invalid_auth")
    with pytest.raises(SlackApiError) as app_token_elsewhere:
        WebClient(token="xapp-test", base_url=slack.api_url).auth_test()
    assert_slack_error(app_token_elsewhere, "invalid_auth")


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def test_files_upload_v2_with_content(client: WebClient, slack: SlackEmulator) -> None:
    posted = client.chat_postMessage(channel="C1", text="parent")
    response = client.files_upload_v2(
        channel="C1",
        content="# Report\nünïcode\n",
        filename="x.md",
        title="The report",
        initial_comment="here you go",
        thread_ts=posted["ts"],
    )
    assert response["file"]["title"] == "The report"
    assert response["file"]["name"] == "x.md"
    [upload] = slack.uploads
    assert upload == Upload(
        file_id=response["file"]["id"],
        filename="x.md",
        title="The report",
        content="# Report\nünïcode\n".encode(),
        channel_id="C1",
        thread_ts=posted["ts"],
        initial_comment="here you go",
    )
    assert upload.text == "# Report\nünïcode\n"
    assert [call.method for call in slack.calls] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    assert slack.calls[1].params["length"] == str(len(upload.content))


def test_files_upload_v2_with_bytes_keeps_them_exactly(
    client: WebClient, slack: SlackEmulator
) -> None:
    data = bytes(range(256)) + b"\r\n--boundary\r\n\x00"
    response = client.files_upload_v2(channel="C2", file=data, filename="blob.bin")
    [upload] = slack.uploads
    assert upload.content == data
    assert upload.title == "blob.bin"  # slack_sdk defaults the title to the filename
    assert upload.channel_id == "C2" and upload.thread_ts is None
    assert response["file"]["size"] == len(data)


def test_multipart_upload_stores_the_file_part(client: WebClient, slack: SlackEmulator) -> None:
    reserved = client.files_getUploadURLExternal(filename="a.txt", length=5)
    assert reserved["file_id"].startswith("F")
    assert reserved["upload_url"] == f"{slack.url}/upload/{reserved['file_id']}"
    boundary = "XyZ"
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n"
    )
    status, _, answer = http(
        reserved["upload_url"],
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert (status, answer) == (200, b"OK - 5")
    files = [{"id": reserved["file_id"], "title": "A"}]
    client.files_completeUploadExternal(files=files, channels=["C3"])
    assert slack.uploads[0].content == b"hello"
    assert slack.uploads[0].channel_id == "C3"


def test_complete_upload_errors(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as unknown:
        client.files_completeUploadExternal(files=[{"id": "F404"}], channel_id="C1")
    assert_slack_error(unknown, "file_not_found")
    reserved = client.files_getUploadURLExternal(filename="a.txt", length=1)
    with pytest.raises(SlackApiError) as not_uploaded:
        client.files_completeUploadExternal(files=[{"id": reserved["file_id"]}])
    assert_slack_error(not_uploaded, "file_not_found")


# --------------------------------------------------------------------------------------------
# response_url
# --------------------------------------------------------------------------------------------


def test_response_url_posts(slack: SlackEmulator) -> None:
    webhook = WebhookClient(slack.response_url("cmd"))
    answer = webhook.send(text="working on it", response_type="ephemeral")
    assert (answer.status_code, answer.body) == (200, "ok")
    bad = webhook.send(text="x", blocks=[{"type": "section", "text": plain("")}])
    assert (bad.status_code, bad.body) == (400, "invalid_blocks")
    empty = webhook.send_dict({"response_type": "ephemeral"})
    assert (empty.status_code, empty.body) == (400, "no_text")
    assert webhook.send_dict({"delete_original": True}).status_code == 200
    assert slack.responses_to("cmd") == [
        Response("cmd", {"text": "working on it", "response_type": "ephemeral"}, 200),
        Response("cmd", {"text": "x", "blocks": [{"type": "section", "text": plain("")}]}, 400),
        Response("cmd", {"response_type": "ephemeral"}, 400),
        Response("cmd", {"delete_original": True}, 200),
    ]
    assert slack.responses_to("other") == []
    assert slack.calls == []  # response_url posts are not Web API calls


def test_response_url_accepts_five_posts(slack: SlackEmulator) -> None:
    webhook = WebhookClient(slack.response_url())
    statuses = [webhook.send(text=f"post {n}").status_code for n in range(6)]
    assert statuses == [200, 200, 200, 200, 200, 404]
    assert slack.responses_to("r1")[-1].status == 404
    too_long = WebhookClient(slack.response_url("long")).send(text="x" * 40_001)
    assert (too_long.status_code, too_long.body) == (400, "msg_too_long")


# --------------------------------------------------------------------------------------------
# Failure injection and retries
# --------------------------------------------------------------------------------------------


def test_rate_limit_then_retry_succeeds(slack: SlackEmulator) -> None:
    slack.fail_next("chat.postMessage", retry_after=0)
    client = WebClient(
        token="xoxb-test",
        base_url=slack.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    response = client.chat_postMessage(channel="C1", text="hi")
    assert response["ok"] is True
    calls = slack.calls_to("chat.postMessage")
    assert [call.status for call in calls] == [429, 200]
    assert calls[0].error == "ratelimited"
    assert len(slack.messages) == 1


def test_rate_limit_without_retry_handler(client: WebClient, slack: SlackEmulator) -> None:
    slack.fail_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel="C1", text="hi")
    assert error.value.response.status_code == 429
    assert error.value.response.headers["Retry-After"] == "7"
    assert_slack_error(error, "ratelimited")
    client.chat_postMessage(channel="C1", text="hi")  # the plan is used up


def test_server_error_and_error_codes(client: WebClient, slack: SlackEmulator) -> None:
    slack.fail_next("users.info", status=503)
    with pytest.raises(SlackApiError) as server_error:
        client.users_info(user="UBOT")
    assert server_error.value.response.status_code == 503
    assert "<html>" in server_error.value.response["error"]

    slack.fail_next("chat.postMessage", status=200, error="not_in_channel", count=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as not_in_channel:
            client.chat_postMessage(channel="C1", text="hi")
        assert_slack_error(not_in_channel, "not_in_channel")
    client.chat_postMessage(channel="C1", text="hi")
    statuses = [(call.status, call.error) for call in slack.calls_to("chat.postMessage")]
    assert statuses == [(200, "not_in_channel"), (200, "not_in_channel"), (200, None)]

    slack.fail_next("auth.test", status=400)
    with pytest.raises(SlackApiError) as bad_request:
        client.auth_test()
    assert bad_request.value.response.status_code == 400
    with pytest.raises(ValueError):
        slack.fail_next("auth.test", status=200)


# --------------------------------------------------------------------------------------------
# Waiting, reset
# --------------------------------------------------------------------------------------------


def test_wait_for_calls_made_in_another_thread(client: WebClient, slack: SlackEmulator) -> None:
    def later() -> None:
        time.sleep(0.05)
        client.chat_postMessage(channel="C1", text="one")
        client.chat_postMessage(channel="C1", text="two")

    worker = threading.Thread(target=later)
    worker.start()
    try:
        calls = slack.wait_for_calls("chat.postMessage", count=2, timeout=3)
    finally:
        worker.join()
    assert [call.params["text"] for call in calls] == ["one", "two"]

    webhook = WebhookClient(slack.response_url("k"))
    worker = threading.Thread(target=lambda: webhook.send(text="done"))
    worker.start()
    try:
        [response] = slack.wait_for_responses("k", timeout=3)
    finally:
        worker.join()
    assert response.body["text"] == "done"


def test_wait_for_timeout_lists_calls(client: WebClient, slack: SlackEmulator) -> None:
    client.chat_postMessage(channel="C1", text="seen")
    with pytest.raises(AssertionError) as error:
        slack.wait_for(lambda: False, timeout=0.05)
    assert "chat.postMessage -> 200 ok" in str(error.value)
    assert '"text": "seen"' in str(error.value)
    with pytest.raises(AssertionError, match="calls seen"):
        slack.wait_for_calls("views.publish", timeout=0.05)


def test_reset_keeps_users(client: WebClient, slack: SlackEmulator) -> None:
    slack.add_user("U1", email="a@example.com")
    before = client.chat_postMessage(channel="C1", text="hi")["ts"]
    client.views_publish(user_id="U1", view={"type": "home", "blocks": []})
    client.files_upload_v2(channel="C1", content="x", filename="x.txt")
    WebhookClient(slack.response_url()).send(text="hi")
    slack.fail_next("auth.test")
    slack.reset()
    assert slack.calls == [] and slack.responses == [] and slack.messages == {}
    assert slack.home_views == {} and slack.uploads == []
    assert client.auth_test()["ok"] is True  # failure plan cleared
    assert client.users_lookupByEmail(email="a@example.com")["user"]["id"] == "U1"
    after = client.chat_postMessage(channel="C1", text="x")["ts"]
    assert float(after) > float(before)  # ts keep increasing across resets


# --------------------------------------------------------------------------------------------
# bolt-python against the emulator
# --------------------------------------------------------------------------------------------


def test_bolt_app_slash_command(slack: SlackEmulator) -> None:
    secret = "s3cret"
    app = App(
        client=WebClient(token="xoxb-test", base_url=slack.api_url),
        signing_secret=secret,
    )

    @app.command("/expansion")
    def handle(ack: Any, respond: Any, say: Any, command: dict[str, Any]) -> None:
        ack()
        respond(text=f"looking up {command['text']}")
        say(text="public answer")

    body = urlencode(
        {
            "command": "/expansion",
            "text": "acme",
            "user_id": "U1",
            "channel_id": "C1",
            "team_id": "T0001",
            "trigger_id": "1.2.3",
            "response_url": slack.response_url("cmd"),
        }
    )
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    headers = {
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-request-timestamp": [timestamp],
        "x-slack-signature": [signature],
    }
    result = app.dispatch(BoltRequest(body=body, headers=headers))
    assert result.status == 200
    [response] = slack.wait_for_responses("cmd")
    assert response.body["text"] == "looking up acme"
    [call] = slack.wait_for_calls("chat.postMessage")
    assert (call.params["channel"], call.params["text"]) == ("C1", "public answer")
    assert slack.calls[0].method == "auth.test"  # bolt verifies the token at start-up


# --------------------------------------------------------------------------------------------
# Block Kit validation
# --------------------------------------------------------------------------------------------


def valid_message() -> list[Block]:
    """A message using most block and element kinds, every limit met exactly."""
    return [
        {"type": "header", "text": plain("h" * 150), "block_id": "b" * 255},
        section("s" * 3000, accessory=button("B" * 75, value="v" * 2000, url="u" * 3000)),
        {"type": "section", "fields": [mrkdwn("f" * 200) for _ in range(10)]},
        {"type": "context", "elements": [mrkdwn("c")] * 9 + [plain("p")]},
        actions(
            button("ok", action_id="a" * 255, confirm=confirm("t" * 100, "x" * 300, "y" * 30)),
            {
                "type": "static_select",
                "action_id": "pick",
                "placeholder": plain("Pick"),
                "options": [option("o" * 75, "v" * 150)]
                + [option(f"o{n}", str(n)) for n in range(99)],
            },
            {"type": "overflow", "action_id": "more", "options": [option()] * 5},
        ),
        actions(*[button(action_id=f"b{n}") for n in range(25)]),
        {"type": "divider"},
        {"type": "image", "image_url": "https://example.com/a.png", "alt_text": "chart"},
        {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": []}]},
    ]


def test_valid_blocks_pass() -> None:
    blocks = valid_message()
    assert validate_blocks(blocks) == []
    assert validate_blocks([section()] * 50) == []
    assert validate_blocks([section()] * 100, max_blocks=100) == []
    assert blocks_text_length([section("abc"), {"type": "header", "text": plain("de")}]) == 5


INVALID_BLOCKS: dict[str, tuple[list[Block], str]] = {
    "not_a_list": ({"type": "divider"}, "blocks must be an array"),  # type: ignore[dict-item]
    "too_many_blocks": ([{"type": "divider"}] * 51, "at most 50 blocks"),
    "unknown_block_type": ([{"type": "sektion"}], "unknown block type 'sektion'"),
    "missing_block_type": ([{"text": mrkdwn("x")}], "unknown block type None"),
    "unknown_element_type": ([actions({"type": "buton"})], "unknown element type 'buton'"),
    "header_mrkdwn": ([{"type": "header", "text": mrkdwn("h")}], "must be plain_text"),
    "header_too_long": (
        [{"type": "header", "text": plain("h" * 151)}],
        "header text must be at most 150 characters",
    ),
    "section_text_too_long": ([section("s" * 3001)], "section text must be at most 3000"),
    "section_empty": ([{"type": "section"}], "section must have text or fields"),
    "too_many_fields": (
        [{"type": "section", "fields": [mrkdwn("f")] * 11}],
        "section fields must have at most 10 items",
    ),
    "field_too_long": (
        [{"type": "section", "fields": [mrkdwn("f" * 2001)]}],
        "section field must be at most 2000",
    ),
    "too_many_context_elements": (
        [{"type": "context", "elements": [mrkdwn("c")] * 11}],
        "context elements must have at most 10 items",
    ),
    "too_many_actions": (
        [actions(*[button(action_id=f"b{n}") for n in range(26)])],
        "actions elements must have at most 25 items",
    ),
    "block_id_too_long": ([section(block_id="b" * 256)], "block_id must be at most 255"),
    "duplicate_block_id": (
        [section(block_id="same"), section(block_id="same")],
        "duplicate block_id 'same'",
    ),
    "action_id_too_long": ([actions(button(action_id="a" * 256))], "action_id must be at most 255"),
    "duplicate_action_id": (
        [actions(button(action_id="go")), section(accessory=button(action_id="go"))],
        "duplicate action_id 'go'",
    ),
    "button_text_too_long": ([actions(button("B" * 76))], "button text must be at most 75"),
    "button_value_too_long": (
        [actions(button(value="v" * 2001))],
        "button value must be at most 2000",
    ),
    "button_url_too_long": ([actions(button(url="u" * 3001))], "button url must be at most 3000"),
    "too_many_select_options": (
        [actions({"type": "static_select", "options": [option()] * 101})],
        "static_select options must have at most 100 items",
    ),
    "too_many_overflow_options": (
        [actions({"type": "overflow", "options": [option()] * 6})],
        "overflow options must have at most 5 items",
    ),
    "option_text_too_long": (
        [actions({"type": "static_select", "options": [option("o" * 76)]})],
        "option text must be at most 75",
    ),
    "option_value_too_long": (
        [actions({"type": "overflow", "options": [option(value="v" * 151)]})],
        "option value must be at most 150",
    ),
    "confirm_title_too_long": (
        [actions(button(confirm=confirm(title="t" * 101)))],
        "confirm title must be at most 100",
    ),
    "confirm_text_too_long": (
        [actions(button(confirm=confirm(text="t" * 301)))],
        "confirm text must be at most 300",
    ),
    "confirm_confirm_too_long": (
        [actions(button(confirm=confirm(yes="y" * 31)))],
        "confirm confirm must be at most 30",
    ),
    "confirm_deny_too_long": (
        [actions(button(confirm=confirm(no="n" * 31)))],
        "confirm deny must be at most 30",
    ),
    "empty_plain_text": ([section(accessory=button(""))], "must be more than 0 characters"),
    "text_object_without_text": (
        [{"type": "section", "text": {"type": "mrkdwn"}}],
        'section text is missing "text"',
    ),
    "plain_text_without_text": (
        [{"type": "context", "elements": [{"type": "plain_text"}]}],
        'context text is missing "text"',
    ),
    "blocks_text_too_long": (
        [section("x" * 3000)] * 4 + [section("x")],
        "msg_blocks_too_long",
    ),
}


@pytest.mark.parametrize(
    ("blocks", "expected"), list(INVALID_BLOCKS.values()), ids=list(INVALID_BLOCKS)
)
def test_invalid_blocks(blocks: list[Block], expected: str) -> None:
    problems = validate_blocks(blocks)
    assert any(expected in problem for problem in problems), problems
    assert all("[json-pointer:/blocks" in problem for problem in problems)


def test_problem_locations() -> None:
    [problem] = validate_blocks([section(), section("s" * 3001)])
    assert problem.endswith("[json-pointer:/blocks/1/text/text]")
    assert blocks_text_length([section("x" * 3000)] * 4) == MAX_BLOCKS_TEXT_CHARS


def test_conversations_info_says_which_channels_are_shared(slack: SlackEmulator) -> None:
    client = WebClient(token=slack.token, base_url=slack.api_url)
    plain = client.conversations_info(channel="CPLAIN")["channel"]
    assert plain["id"] == "CPLAIN" and plain["is_channel"] and not plain["is_ext_shared"]
    slack.set_channel("CCONNECT", is_ext_shared=True)
    slack.set_channel("GSECRET", is_private=True)
    shared = client.conversations_info(channel="CCONNECT")["channel"]
    assert shared["is_ext_shared"] and shared["is_shared"]
    secret = client.conversations_info(channel="GSECRET")["channel"]
    assert secret["is_private"] and secret["is_group"] and not secret["is_ext_shared"]
    assert client.conversations_info(channel="DU1")["channel"]["is_im"]
    with pytest.raises(SlackApiError) as missing:
        client.conversations_info(channel="not-a-channel")
    assert missing.value.response["error"] == "channel_not_found"
    slack.fail_next("conversations.info", status=200, error="missing_scope")
    with pytest.raises(SlackApiError) as refused:
        client.conversations_info(channel="CPLAIN")
    assert refused.value.response["error"] == "missing_scope"
