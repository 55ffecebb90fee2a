"""Which workspace's data answers a request, when the app is installed in several (OAuth).

Each workspace's data lives in its own partition (:meth:`bot.runtime.Runtime.for_team`), so the
workspace must be known for sure before anything is read or written. Bolt's authorization
looks the installation up by the documented rules (``enterprise_id`` + ``team_id``, or
``enterprise_id`` alone with ``is_enterprise_install`` for an Enterprise Grid org-wide
install); then :class:`WorkspaceCheck`, after it, names the partition:

* an org-wide install: the organisation (``enterprise_id``), whatever workspace of it asked;
* otherwise the team the payload itself names (``team_id``, ``team.id``, the first
  authorization's team, a view's ``app_installed_team_id``), which must be the team of the
  installation that authorized it. Bolt's fall-back to the acting *user's* team (for payloads
  with ``team: null``) is not a workspace: such a request is refused.

A request whose workspace cannot be named is answered with a message saying so, and nothing
else happens: it never reaches the main database nor creates a partition.

A click or a form from a person of *another* organisation (a Slack Connect channel: the
payload's ``user.team_id`` is neither the workspace nor its Enterprise Grid organisation) is
refused the same way: its answers (*Review all*, *Open account plan*) are private answers with
the exact figures, meant for the workspace's own people; they are never built for a guest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from slack_bolt.context import BoltContext
from slack_bolt.middleware import Middleware
from slack_bolt.middleware.authorization.internals import (
    _is_no_auth_required,
    _is_no_auth_test_call_required,
)
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.webhook import WebhookClient

log = logging.getLogger("bot.workspaces")

#: The context key holding the request's workspace (its partition's team or enterprise id).
WORKSPACE = "expansion_workspace"
REFUSAL = (
    ":warning: I can't tell which Slack workspace this request comes from, so I did nothing. "
    "Try again from a channel of your workspace; if it keeps happening, ask an admin to "
    "reinstall the app (/slack/install)."
)


def named_team(body: dict) -> str | None:
    """The team a payload names as its own (never the acting user's team)."""
    view = body.get("view")
    if isinstance(view, dict) and view.get("app_installed_team_id"):
        return str(view["app_installed_team_id"])
    team = body.get("team")
    if isinstance(team, str) and team:
        return team
    if isinstance(team, dict) and team.get("id"):
        return str(team["id"])
    authorizations = body.get("authorizations")
    if isinstance(authorizations, list) and authorizations:
        first = authorizations[0]
        if isinstance(first, dict) and first.get("team_id"):
            return str(first["team_id"])
    team_id = body.get("team_id")
    return str(team_id) if team_id else None


def workspace_of(context: BoltContext, body: dict) -> str | None:
    """The partition that answers this authorized request, or ``None`` if it cannot be named."""
    result = context.authorize_result
    if result is None:
        return None
    if context.is_enterprise_install:
        enterprise = context.enterprise_id
        if enterprise and result.enterprise_id in (None, enterprise):
            return enterprise
        return None
    team = named_team(body)
    return team if team and team == result.team_id else None


EXTERNAL_REFUSAL = (
    ":lock: Expansion answers the members of the workspace that installed it; this channel is "
    "shared with your organisation, so I did nothing. Ask your contact there for what you need."
)


def external_user(context: BoltContext, body: dict, workspace: str) -> str | None:
    """The acting user's organisation when it is another one than this workspace's (a guest
    from a Slack Connect channel), else ``None``. Only interactive payloads say (``user`` with
    its ``team_id``); a slash command comes from the workspace it names."""
    user = body.get("user")
    if not isinstance(user, dict) or not user.get("team_id"):
        return None
    own = {workspace, named_team(body), context.team_id, context.enterprise_id}
    team = str(user["team_id"])
    return None if team in own else team


def _tell(body: dict, text: str) -> None:
    """Say ``text`` to the person through the payload's response_url, off the ack's path."""
    url = body.get("response_url")
    if not isinstance(url, str) or not url:
        return

    def say() -> None:
        try:
            WebhookClient(url, timeout=10).send(
                text=text, response_type="ephemeral", replace_original=False
            )
        except Exception:  # the refusal is logged already; saying it is a courtesy
            log.warning("could not tell a guest their request was refused", exc_info=True)

    threading.Thread(target=say, name="refusal", daemon=True).start()


class WorkspaceCheck(Middleware):
    """After Bolt's authorization: the request's workspace, or a refusal."""

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        if _is_no_auth_required(req) or _is_no_auth_test_call_required(req):
            return next()
        workspace = workspace_of(req.context, req.body)
        if workspace is None:
            log.warning(
                "refused a request whose workspace cannot be told (team %s, enterprise %s, "
                "org-wide %s)",
                named_team(req.body),
                req.context.enterprise_id,
                bool(req.context.is_enterprise_install),
            )
            return BoltResponse(status=200, body=REFUSAL, headers={"X-Slack-No-Retry": "1"})
        req.context[WORKSPACE] = workspace
        return next()


class GuestCheck(Middleware):
    """Before any listener, with one workspace or several: a click or form of a person of
    another organisation (:func:`external_user`) is refused, said to them in one line."""

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        workspace = req.context.get(WORKSPACE) or named_team(req.body) or req.context.team_id
        guest = external_user(req.context, req.body, str(workspace or ""))
        if guest is None:
            return next()
        log.warning(
            "refused a %s from user %s of another organisation (%s) in workspace %s",
            req.body.get("type") or "request",
            (req.body.get("user") or {}).get("id"),
            guest,
            workspace,
        )
        _tell(req.body, EXTERNAL_REFUSAL)
        return BoltResponse(status=200, body="", headers={"X-Slack-No-Retry": "1"})
