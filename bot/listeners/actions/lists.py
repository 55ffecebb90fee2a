"""Buttons on a list: scope picker, paging, share in channel, download playbook, export CSV,
the digest's *Review all*, and App Home's buttons that show a list."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from ... import channels, charts, lists, sharing
from ...blocks import ListRef, action_pattern
from ...errors import lazy_listener
from ...replies import from_shared_message, send, tell
from ...runtime import Runtime


def _ref(action: dict) -> ListRef:
    return ListRef.decode(action.get("value")) or ListRef()


def pick_scope(action: dict, client: WebClient, respond, context) -> None:
    rt: Runtime = context["runtime"]
    ref = ListRef(scope=action["value"])
    send(
        respond,
        **lists.answer(rt, ref, ephemeral=True, client=client)[0],
        replace_original=True,
    )


def list_page(body: dict, action: dict, client: WebClient, respond, context) -> None:
    rt: Runtime = context["runtime"]
    ref = _ref(action)
    if from_shared_message(body):
        container = body["container"]
        view = channels.view_of(rt, client, container["channel_id"])
        with view.building():
            message = lists.answer(rt, ref, ephemeral=False, client=client)[0]
        client.chat_update(
            channel=container["channel_id"], ts=container["message_ts"], **view.guard(message)
        )
    else:
        message = lists.answer(rt, ref, ephemeral=True, client=client)[0]
        send(respond, **message, replace_original=True)


def home_find(body: dict, action: dict, client: WebClient, context) -> None:
    """A button on App Home: the list it names, in the user's DM with the bot."""
    rt: Runtime = context["runtime"]
    ref = ListRef(scope=action.get("value") or "all accounts")
    tell(body, client, None, lists.answer(rt, ref, ephemeral=False, client=client)[0])


def share_list(body: dict, action: dict, client: WebClient, respond, context) -> None:
    rt: Runtime = context["runtime"]
    if sharing.post_public(rt, client, body, respond, _ref(action)):
        tell(body, client, respond, "Shared in this channel.")


def chart_share(body: dict, client: WebClient, respond, context) -> None:
    """*Share in channel* under an ``/expansion chart`` answer: the charts, uploaded."""
    charts.share(context["runtime"], client, body, respond)


def download_playbook(body: dict, action: dict, client: WebClient, respond, context) -> None:
    rt: Runtime = context["runtime"]
    sharing.upload(rt, client, body, respond, _ref(action), kind="playbook")


def export_csv(body: dict, action: dict, client: WebClient, respond, context) -> None:
    rt: Runtime = context["runtime"]
    sharing.upload(rt, client, body, respond, _ref(action), kind="csv")


def digest_review_all(body: dict, action: dict, client: WebClient, respond, context) -> None:
    """The digest's *Review all*: the whole list of the digest's scope, page 1, as
    ``/find-expansion-opportunities <scope>`` answers it, shown only to the person who
    clicked (with its paging, exports and *Share in channel*)."""
    rt: Runtime = context["runtime"]
    ref = ListRef(scope=_ref(action).scope or "all accounts", page=1, public=False)
    tell(body, client, respond, lists.answer(rt, ref, ephemeral=True)[0])


def register(app: App, runtime: Runtime) -> None:
    lazy_listener(app.action(action_pattern("pick_scope")), pick_scope, runtime)
    lazy_listener(app.action(action_pattern("list_page")), list_page, runtime)
    lazy_listener(app.action(action_pattern("home_find")), home_find, runtime)
    lazy_listener(app.action("share_list"), share_list, runtime)
    lazy_listener(app.action(charts.SHARE_ACTION), chart_share, runtime)
    lazy_listener(app.action("download_playbook"), download_playbook, runtime)
    lazy_listener(app.action("export_csv"), export_csv, runtime)
    lazy_listener(app.action("digest_review_all"), digest_review_all, runtime)
