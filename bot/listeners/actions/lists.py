"""Buttons on a list: scope picker, paging, share in channel, download playbook, export CSV,
the digest's *Review all*, and App Home's buttons that show a list."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from ... import channels, charts, lists, sharing
from ...blocks import ListRef, action_pattern
from ...errors import ack_then
from ...replies import from_shared_message, send, tell
from ...runtime import Runtime


def _ref(action: dict) -> ListRef:
    return ListRef.decode(action.get("value")) or ListRef()


def register(app: App, runtime: Runtime) -> None:
    @ack_then(app.action(action_pattern("pick_scope")), runtime)
    def pick_scope(action: dict, client: WebClient, respond, context) -> None:
        rt = runtime.for_request(context)
        ref = ListRef(scope=action["value"])
        send(
            respond,
            **lists.answer(rt, ref, ephemeral=True, client=client)[0],
            replace_original=True,
        )

    @ack_then(app.action(action_pattern("list_page")), runtime)
    def list_page(body: dict, action: dict, client: WebClient, respond, context) -> None:
        rt = runtime.for_request(context)
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

    @ack_then(app.action(action_pattern("home_find")), runtime)
    def home_find(body: dict, action: dict, client: WebClient, context) -> None:
        """A button on App Home: the list it names, in the user's DM with the bot."""
        rt = runtime.for_request(context)
        ref = ListRef(scope=action.get("value") or "all accounts")
        tell(body, client, None, lists.answer(rt, ref, ephemeral=False, client=client)[0])

    @ack_then(app.action("share_list"), runtime)
    def share_list(body: dict, action: dict, client: WebClient, respond, context) -> None:
        rt = runtime.for_request(context)
        if sharing.post_public(rt, client, body, respond, _ref(action)):
            tell(body, client, respond, "Shared in this channel.")

    @ack_then(app.action(charts.SHARE_ACTION), runtime)
    def chart_share(body: dict, client: WebClient, respond, context) -> None:
        """*Share in channel* under an ``/expansion chart`` answer: the charts, uploaded."""
        charts.share(runtime.for_request(context), client, body, respond)

    @ack_then(app.action("download_playbook"), runtime)
    def download_playbook(body: dict, action: dict, client: WebClient, respond, context) -> None:
        rt = runtime.for_request(context)
        sharing.upload(rt, client, body, respond, _ref(action), kind="playbook")

    @ack_then(app.action("export_csv"), runtime)
    def export_csv(body: dict, action: dict, client: WebClient, respond, context) -> None:
        rt = runtime.for_request(context)
        sharing.upload(rt, client, body, respond, _ref(action), kind="csv")

    @ack_then(app.action("digest_review_all"), runtime)
    def digest_review_all(body: dict, action: dict, client: WebClient, respond, context) -> None:
        """The digest's *Review all*: the whole list of the digest's scope, page 1, as
        ``/find-expansion-opportunities <scope>`` answers it, shown only to the person who
        clicked (with its paging, exports and *Share in channel*)."""
        rt = runtime.for_request(context)
        ref = ListRef(scope=_ref(action).scope or "all accounts", page=1, public=False)
        tell(body, client, respond, lists.answer(rt, ref, ephemeral=True)[0])
