"""Listeners called directly, as Bolt's starter template tests them: no HTTP server, no Bolt
app. A listener is a module-level function of ``bot/listeners/``; it is given what Bolt would
give it (the payload, a ``WebClient`` on the Slack emulator, ``respond`` on one of the
emulator's response_urls) and a context holding the request's runtime, which the app's
middleware (:class:`bot.runtime.RequestRuntime`) sets in production."""

from __future__ import annotations

import pytest
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.runtime import Runtime
from bot.settings import Settings
from expansion import pipeline, store


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """The sample portfolio, synced and scored in a database of this module's own (listeners
    write to it: claims, alert choices)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('listeners') / 'book.db'}"
    engine = store.connect(url)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    pipeline.score(engine, as_of=pipeline.SAMPLE_AS_OF)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def runtime(book, slack) -> Runtime:
    settings = Settings(
        bot_token=slack.token,
        signing_secret="s",
        api_url=slack.api_url,
        fixed_as_of=pipeline.SAMPLE_AS_OF,
        admins=frozenset({"UADMIN"}),
    )
    return Runtime(engine=book, settings=settings)


@pytest.fixture
def context(runtime) -> BoltContext:
    return BoltContext({"runtime": runtime})


@pytest.fixture(scope="module")
def client(slack) -> WebClient:
    return WebClient(token=slack.token, base_url=slack.api_url)


@pytest.fixture
def respond(slack, request):
    """``respond`` on a response_url of the emulator named after the test."""
    return Respond(response_url=slack.response_url(request.node.name))
