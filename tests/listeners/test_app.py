"""The listeners as the app runs them, without the HTTP server: the middleware that puts the
request's runtime in ``context["runtime"]``, the lazy copy of the context (answers computed in a
thread, ``EXPANSION_WORKERS=0``) and a worker's lazy-only dispatch (:mod:`bot.workers`)."""

from __future__ import annotations

import copy
import logging
import urllib.parse

import pytest
from bot_harness import all_text
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot.app import build_app
from bot.errors import guarded
from bot.runtime import RequestRuntime, Runtime
from bot.security import VERIFIED
from bot.settings import Settings
from bot.workers import LAZY_NAME, LAZY_ONLY
from bot.workspaces import REFUSAL, WORKSPACE
from expansion import pipeline, store


def through(middleware: RequestRuntime, context: dict) -> BoltContext:
    """``context`` after ``middleware``, which must pass the request on."""
    request = BoltRequest(body={"type": "block_actions"}, context=context, mode="socket_mode")
    passed = []

    def next_() -> BoltResponse:
        passed.append(True)
        return BoltResponse(status=200)

    middleware.process(req=request, resp=BoltResponse(status=200), next=next_)
    assert passed == [True]
    return request.context


def test_one_workspace_every_request_gets_the_apps_runtime(runtime):
    assert through(RequestRuntime(runtime), {})["runtime"] is runtime
    # An HTTP process whose answers are computed by the workers names no runtime.
    assert "runtime" not in through(RequestRuntime(runtime, acks_only=True), {})


def test_the_lazy_copy_of_a_context_shares_its_runtime(runtime):
    context = BoltContext(
        {"runtime": runtime, "team_id": "T0001", "logger": logging.getLogger("test")}
    )
    assert context.to_copyable()["runtime"] is runtime
    assert copy.deepcopy(runtime) is runtime


@pytest.fixture
def workspaces(tmp_path, slack) -> Runtime:
    """The root runtime of a multi-workspace install (OAuth)."""
    url = f"sqlite:///{tmp_path / 'main.db'}"
    settings = Settings(
        bot_token="",
        signing_secret="s",
        api_url=slack.api_url,
        fixed_as_of=pipeline.SAMPLE_AS_OF,
        db_url=url,
        client_id="111.222",
        client_secret="oauth-secret",
    )
    root = Runtime(engine=store.connect(url, team=""), settings=settings)
    yield root
    root.dispose()


def test_several_workspaces_each_request_gets_its_workspaces_runtime(workspaces):
    named = through(RequestRuntime(workspaces), {WORKSPACE: "T0A1"})["runtime"]
    assert named is workspaces.for_team("T0A1") and named.team_id == "T0A1"
    assert named.engine.url != workspaces.engine.url
    # No workspace named (the checks did not run): no runtime, and never the main database.
    assert "runtime" not in through(RequestRuntime(workspaces), {})


def test_a_listener_without_a_workspace_refuses_and_does_nothing(workspaces, slack, client):
    ran = []

    def listener(context) -> None:
        ran.append(context["runtime"])

    respond = Respond(response_url=slack.response_url("unit-no-workspace"))
    body = {"type": "block_actions", "user": {"id": "U1"}, "response_url": respond.response_url}
    guarded(listener, workspaces)(
        body=body,
        client=client,
        respond=respond,
        logger=logging.getLogger("test"),
        payload={},
        context=BoltContext({VERIFIED: True}),
        request=BoltRequest(body=body, mode="socket_mode"),
    )
    assert ran == []
    [refusal] = slack.responses_to("unit-no-workspace")
    assert refusal.body["text"] == REFUSAL


def slash_command(slack, key: str, text: str) -> str:
    return urllib.parse.urlencode(
        {
            "command": "/find-expansion-opportunities",
            "text": text,
            "team_id": slack.team_id,
            "user_id": "U1",
            "channel_id": "C1",
            "api_app_id": "A0001",
            "response_url": slack.response_url(key),
            "trigger_id": slack.trigger_id(),
        }
    )


@pytest.fixture(scope="module")
def app(runtime, slack):
    """The app of a process that answers itself (in a thread, or as a worker does)."""
    settings = Settings(
        bot_token=runtime.settings.bot_token,
        signing_secret="s",
        api_url=slack.api_url,
        fixed_as_of=pipeline.SAMPLE_AS_OF,
        response_url_hosts=(slack.url,),
    )
    return build_app(Runtime(engine=runtime.engine, settings=settings), verify_requests=False)


def test_in_a_thread_the_ack_comes_first_and_the_answer_after_it(app, slack):
    reply = app.dispatch(BoltRequest(body=slash_command(slack, "unit-thread", "enterprise")))
    assert reply.status == 200 and reply.body == ""
    [answer] = slack.wait_for_responses("unit-thread", 1, timeout=20)
    assert "Expansion opportunities: Enterprise" in all_text(answer.body["blocks"][:1])


def test_a_workers_lazy_only_dispatch_runs_the_named_listener(app, slack):
    body = slash_command(slack, "unit-worker", "smb")
    headers = {LAZY_ONLY: ["1"], LAZY_NAME: ["find_opportunities"]}
    app.dispatch(BoltRequest(body=body, headers=headers))
    # Run in the dispatching thread, as in a worker: answered before dispatch returns.
    [answer] = slack.responses_to("unit-worker")
    assert "Expansion opportunities: SMB" in all_text(answer.body["blocks"][:1])
    headers = {LAZY_ONLY: ["1"], LAZY_NAME: ["no_such_listener"]}
    app.dispatch(BoltRequest(body=slash_command(slack, "unit-nobody", "smb"), headers=headers))
    assert slack.responses_to("unit-nobody") == []
