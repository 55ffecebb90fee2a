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
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt.context import BoltContext
from slack_bolt.middleware import Middleware
from slack_bolt.middleware.authorization.internals import (
    _is_no_auth_required,
    _is_no_auth_test_call_required,
)
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

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
