"""The bot's configuration, read once from the environment.

A missing token or secret stops start-up with one line naming the variable; nothing here is
ever logged (``repr`` hides the secrets).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from expansion.alerts import default_mode
from expansion.config import DEFAULT_CONFIG, ScoringConfig, load_config
from expansion.connectors import load_sources, sync_time
from expansion.crm import CrmSettings
from expansion.crm import configured as crm_configured
from expansion.crm import load_settings as load_crm_settings
from expansion.errors import ConfigError

from .security import MAX_REQUEST_BYTES, SLACK_RESPONSE_URL_HOSTS

SLACK_API_URL = "https://slack.com/api/"
# The bot scopes of manifest.yml, asked for by the multi-workspace install flow.
BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "users:read",
    "users:read.email",
    "im:write",
    "files:write",
    # conversations.info: is a channel shared with another organisation (Slack Connect)?
    "channels:read",
    "groups:read",
)

MAX_WORKERS = 8


@dataclass(frozen=True)
class Settings:
    """Everything ``expansion serve`` needs, from ``SLACK_*`` and ``EXPANSION_*`` variables."""

    bot_token: str = field(repr=False)
    signing_secret: str = field(repr=False)
    app_token: str | None = field(default=None, repr=False)
    api_url: str = SLACK_API_URL
    db_url: str | None = None
    fixed_as_of: date | None = None
    admins: frozenset[str] = frozenset()
    port: int = 3000
    host: str = "0.0.0.0"
    threads: int = 8
    #: Bolt listener threads: each acks as soon as it starts (see bot.app).
    listener_threads: int = 32
    #: Answer worker processes (``EXPANSION_WORKERS``): the HTTP process only verifies and acks,
    #: the workers compute and post the answers (see bot.workers). 0 answers in-process.
    workers: int = 1
    scoring: ScoringConfig = DEFAULT_CONFIG
    scheduler: bool = True
    digest_pace: float = 1.0
    nightly_at: str = "04:00"
    source: Path | None = None
    source_name: str = "files"
    # [[sources]] of expansion.toml: what `/expansion sync` and the nightly job pull.
    sources: tuple = ()
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    redirect_uri: str | None = None
    #: Largest request body accepted (``EXPANSION_MAX_REQUEST_BYTES``); larger is 413.
    max_request_bytes: int = MAX_REQUEST_BYTES
    #: Where a request's response_url may point (``SLACK_RESPONSE_URL_HOSTS``).
    response_url_hosts: tuple[str, ...] = SLACK_RESPONSE_URL_HOSTS
    #: ``EXPANSION_CONFIG`` (else ./expansion.toml when it exists): the file read at start-up.
    config_path: Path | None = None
    #: ``[crm]`` of expansion.toml: write-back is on (the cards' *Create in CRM*) when set.
    crm: CrmSettings | None = None
    #: New-Tier-1 alerts of a user who chose nothing (``[alerts] default`` in expansion.toml).
    alerts_default: str = "on"

    @property
    def multi_workspace(self) -> bool:
        """Installed by OAuth in any number of workspaces, each with its own token and data."""
        return bool(self.client_id)

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)

    def as_of(self) -> date:
        """The scoring date: ``EXPANSION_AS_OF`` when set, else today (UTC)."""
        return self.fixed_as_of or datetime.now(UTC).date()

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, http: bool = True, token: bool = True
    ) -> Settings:
        """Read the environment. ``http=False`` (the scheduler, ``expansion digest``) needs no
        signing secret; ``token=False`` (a dry run) needs no bot token either.

        Raises:
            ConfigError: a required variable is missing or a value is malformed.
        """
        env = os.environ if env is None else env

        def required(name: str, hint: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigError(f"{name} is not set: {hint}")
            return value

        client_id = env.get("SLACK_CLIENT_ID", "").strip() or None
        client_secret = env.get("SLACK_CLIENT_SECRET", "").strip() or None
        if client_id and not client_secret:
            required("SLACK_CLIENT_SECRET", "copy the Client Secret from Basic Information.")
        if client_secret and not client_id:
            required("SLACK_CLIENT_ID", "copy the Client ID from Basic Information.")
        if client_id and env.get("SLACK_APP_TOKEN", "").strip():
            raise ConfigError(
                "SLACK_CLIENT_ID (multi-workspace install) needs HTTP mode for the install "
                "pages: unset SLACK_APP_TOKEN and set SLACK_SIGNING_SECRET."
            )
        # Installed workspaces bring their own tokens; one workspace needs SLACK_BOT_TOKEN.
        token = token and not client_id
        bot_token = (
            required(
                "SLACK_BOT_TOKEN",
                "copy the Bot User OAuth Token (xoxb-...) from OAuth & Permissions.",
            )
            if token
            else env.get("SLACK_BOT_TOKEN", "").strip()
        )
        app_token = env.get("SLACK_APP_TOKEN", "").strip() or None
        if app_token and not app_token.startswith("xapp-"):
            raise ConfigError(
                "SLACK_APP_TOKEN must be an app-level token (xapp-...) with connections:write."
            )
        # Socket Mode connections are not signed; HTTP requests always are.
        signing_secret = env.get("SLACK_SIGNING_SECRET", "").strip()
        if http and not signing_secret and not app_token:
            required(
                "SLACK_SIGNING_SECRET",
                "copy the Signing Secret from Basic Information (or set SLACK_APP_TOKEN for Socket Mode).",
            )
        as_of = None
        if raw := env.get("EXPANSION_AS_OF", "").strip():
            try:
                as_of = date.fromisoformat(raw)
            except ValueError:
                raise ConfigError(
                    f"EXPANSION_AS_OF must be a date like 2026-11-16, got {raw!r}."
                ) from None
        port_text = env.get("PORT", "3000").strip() or "3000"
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"PORT must be a TCP port number, got {port_text!r}.")
        admins = frozenset(
            a.strip().strip("<>@") for a in env.get("EXPANSION_ADMINS", "").split(",") if a.strip()
        )
        config_path = env.get("EXPANSION_CONFIG", "").strip()
        scheduler = env.get("EXPANSION_SCHEDULER", "on").strip().lower() or "on"
        if scheduler not in ("on", "off"):
            raise ConfigError(f"EXPANSION_SCHEDULER must be on or off, got {scheduler!r}.")
        pace_text = env.get("EXPANSION_DIGEST_PACE", "1").strip() or "1"
        try:
            pace = float(pace_text)
        except ValueError:
            pace = -1.0
        if not 0 <= pace <= 60:
            raise ConfigError(
                f"EXPANSION_DIGEST_PACE must be seconds between digest messages (0-60), "
                f"got {pace_text!r}."
            )
        workers_text = env.get("EXPANSION_WORKERS", "1").strip() or "1"
        if not workers_text.isdigit() or not 0 <= int(workers_text) <= MAX_WORKERS:
            raise ConfigError(
                f"EXPANSION_WORKERS must be the number of answer processes (0-{MAX_WORKERS}; 0 "
                f"answers in the HTTP process), got {workers_text!r}."
            )
        toml = Path(config_path) if config_path else None
        nightly = env.get("EXPANSION_NIGHTLY_AT", "").strip() or sync_time(toml) or "04:00"
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", nightly):
            raise ConfigError(f"EXPANSION_NIGHTLY_AT must be HH:MM (UTC), got {nightly!r}.")
        source_text = env.get("EXPANSION_SOURCE", "").strip()
        if source_text and not Path(source_text).is_dir():
            raise ConfigError(
                f"EXPANSION_SOURCE must be a folder of exports (accounts.csv, ...); "
                f"{source_text!r} is not a folder."
            )
        api_url = env.get("SLACK_API_URL", "").strip() or SLACK_API_URL
        max_bytes_text = env.get("EXPANSION_MAX_REQUEST_BYTES", "").strip() or str(
            MAX_REQUEST_BYTES
        )
        if not max_bytes_text.isdigit() or not 1024 <= int(max_bytes_text) <= 100 * 1024 * 1024:
            raise ConfigError(
                "EXPANSION_MAX_REQUEST_BYTES must be the largest request body to accept, in "
                f"bytes (1024-104857600; default {MAX_REQUEST_BYTES}), got {max_bytes_text!r}."
            )
        hosts = tuple(
            h.strip() for h in env.get("SLACK_RESPONSE_URL_HOSTS", "").split(",") if h.strip()
        )
        for host in hosts:
            if not re.fullmatch(r"(https?://)?[A-Za-z0-9.-]+(:[0-9]{1,5})?", host):
                raise ConfigError(
                    "SLACK_RESPONSE_URL_HOSTS must list host names (hooks.slack.com) or origins "
                    f"(http://127.0.0.1:8080), comma-separated; got {host!r}."
                )
        return cls(
            bot_token=bot_token,
            signing_secret=signing_secret,
            app_token=app_token,
            api_url=api_url if api_url.endswith("/") else api_url + "/",
            db_url=env.get("EXPANSION_DB_URL", "").strip() or None,
            fixed_as_of=as_of,
            admins=admins,
            port=int(port_text),
            host=env.get("HOST", "0.0.0.0").strip() or "0.0.0.0",
            scoring=load_config(Path(config_path)) if config_path else load_config(),
            sources=tuple(load_sources(Path(config_path) if config_path else None)),
            scheduler=scheduler == "on",
            workers=int(workers_text),
            digest_pace=pace,
            nightly_at=nightly,
            source=Path(source_text) if source_text else None,
            source_name=env.get("EXPANSION_SOURCE_NAME", "").strip() or "files",
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=env.get("SLACK_REDIRECT_URI", "").strip() or None,
            max_request_bytes=int(max_bytes_text),
            response_url_hosts=hosts or SLACK_RESPONSE_URL_HOSTS,
            config_path=toml,
            crm=load_crm_settings(toml) if crm_configured(toml) else None,
            alerts_default=default_mode(toml),
        )
