"""Secrets never reach what is stored, logged or shown: warehouse URLs, CRM errors, log lines."""

from __future__ import annotations

import io
import logging

import pytest
from salesforce_fake import SalesforceFake
from test_connectors import QUERIES

from bot.runtime import Runtime
from bot.server import configure_logging
from bot.settings import Settings
from bot.sources import status
from expansion import pipeline, store
from expansion.connectors import SourceConfig, SourceError, connector_for
from expansion.redact import MASK, RedactingFilter, redact, url_secrets


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("connect postgresql://bob:pw@db.example:5432/x failed", "bob:pw", "db.example:5432/x"),
        ("postgresql+psycopg://u:s3cr@t-pass@127.0.0.1/db", "t-pass", "127.0.0.1/db"),
        ("Authorization: Bearer abcdefghijklmnop123", "abcdefghijklmnop", "Authorization"),
        ("401 from the API: bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJhbGci", "401"),
        ("invalid_auth for xoxb-1234-5678-AbCdEf", "1234-5678", "invalid_auth"),
        ("app token xapp-1-A0123-456-abcdef rejected", "A0123", "rejected"),
        ("GET https://api.example/v1?api_key=SEKRET1&page=2", "SEKRET1", "page=2"),
        ("GET https://x.example/cb?access_token=tok123&state=ok", "tok123", "state=ok"),
        ("host=db password=hunter22 user=reader", "hunter22", "user=reader"),
        ('{"client_secret": "abc123xyz", "error": "bad"}', "abc123xyz", '"error": "bad"'),
        ("token pat-na1-11111111-2222-3333-4444-555555555555 expired", "1111", "expired"),
        ("session 00D5g000004ABCD!AQ4AQFakeSessionId expired", "AQ4AQ", "expired"),
    ],
)
def test_redact_masks_secrets_and_keeps_the_rest(text, secret, kept):
    out = redact(text)
    assert secret not in out and MASK in out and kept in out
    assert redact(out) == out  # idempotent: stored text can be redacted again when shown


def test_redact_leaves_ordinary_text_alone():
    text = (
        "HubSpot rejected the token in HUBSPOT_ACCESS_TOKEN (401); owner maya.chen@example.com "
        "is on the Basic plan; authorization failed: the user lacks access"
    )
    assert redact(text) == text


def test_url_secrets_are_the_password_and_its_pieces():
    assert url_secrets("postgresql://u:s3cr@t-pa55@db/x") == ["s3cr@t-pa55", "s3cr", "t-pa55"]
    assert url_secrets("sqlite:////tmp/a@b.db") == []
    assert url_secrets("postgresql://u@db/x") == []


def _status_text(engine, config) -> str:
    settings = Settings(bot_token="xoxb-test", signing_secret="s", sources=(config,))
    return status(Runtime(engine=engine, settings=settings))


def test_a_warehouse_password_with_an_unencoded_at_sign_never_leaks(engine):
    """The password 's3cr@t-pa55word' makes the URL's host 't-pa55word@127.0.0.1': the driver's
    error quoted it into sync_runs.error and /expansion status."""
    url = "postgresql+psycopg://reader:s3cr@t-pa55word@127.0.0.1:1/none"
    config = SourceConfig("warehouse", "sql", {"queries": QUERIES}, role="warehouse")
    with pytest.raises(SourceError) as caught:
        pipeline.sync_source(engine, config, env={"WAREHOUSE_URL": url})
    message = str(caught.value)
    assert "unencoded '@'" in message and "%40" in message  # says what to do
    run = store.sync_runs(engine, limit=1).iloc[0]
    shown = [message, run["error"], run["location"], _status_text(engine, config)]
    for text in shown:
        for piece in ("s3cr", "pa55word"):
            assert piece not in text, text
    assert connector_for(config, {"WAREHOUSE_URL": url}).location() == "$WAREHOUSE_URL"


def test_a_crm_error_that_echoes_the_token_is_stored_and_shown_redacted(engine, monkeypatch):
    token = "00D000000000001!AQFakeAccessToken.Echoed-by-the-org"
    with SalesforceFake(token=token) as fake:
        fake.trust(monkeypatch)
        fake.seed_from_portfolio(pipeline.SAMPLE_PORTFOLIO)
        fake.fail_next(
            "/query",
            400,
            body=[
                {
                    "errorCode": "MALFORMED_QUERY",
                    "message": f"bad request (session {token}, Authorization: Bearer {token})",
                }
            ],
        )
        config = SourceConfig("crm", "salesforce", {"retry_backoff": 0.01}, role="crm")
        with pytest.raises(SourceError) as caught:
            pipeline.sync_source(engine, config, env=fake.env())
    run = store.sync_runs(engine, limit=1).iloc[0]
    shown = [str(caught.value), run["error"], _status_text(engine, config)]
    assert "rejected the query" in shown[0]  # the cause is still said
    for text in shown:
        assert "AQFakeAccessToken" not in text and "Echoed-by-the-org" not in text, text


def test_a_token_the_connector_read_is_masked_wherever_an_error_quotes_it(engine):
    """Not shaped like any known token: masked because the connector read it as a secret."""
    config = SourceConfig("crm", "hubspot", {}, role="crm")
    connector = connector_for(config, {"HUBSPOT_ACCESS_TOKEN": "plainsecretvalue42"})
    connector.secret("HUBSPOT_ACCESS_TOKEN", "the token")
    run = store.SyncRun(source="crm", location="x", kind="hubspot", role="crm")
    store.record_failed_sync(engine, run, "the API said: unknown key plainsecretvalue42")
    assert store.sync_runs(engine, limit=1).iloc[0]["error"] == f"the API said: unknown key {MASK}"


def test_log_lines_and_tracebacks_are_redacted(monkeypatch):
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
    configure_logging()
    assert any(isinstance(f, RedactingFilter) for f in handler.filters)
    log = logging.getLogger("expansion.test")
    try:
        raise RuntimeError("connect postgresql://u:hunter22@db/x")
    except RuntimeError:
        log.exception("sync failed with token %s", "xoxb-1111-2222-SECRETSECRET")
    written = out.getvalue()
    assert "sync failed with token xoxb-***" in written and "RuntimeError" in written
    assert "hunter22" not in written and "SECRETSECRET" not in written
