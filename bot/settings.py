"""The bot's configuration, read once from the environment.

A missing token or secret stops start-up with one line naming the variable; nothing here is
ever logged (``repr`` hides the secrets).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from expansion.config import DEFAULT_CONFIG, ScoringConfig, load_config
from expansion.errors import ConfigError

SLACK_API_URL = "https://slack.com/api/"


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
    scoring: ScoringConfig = DEFAULT_CONFIG

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)

    def as_of(self) -> date:
        """The scoring date: ``EXPANSION_AS_OF`` when set, else today (UTC)."""
        return self.fixed_as_of or datetime.now(UTC).date()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the environment.

        Raises:
            ConfigError: a required variable is missing or a value is malformed.
        """
        env = os.environ if env is None else env

        def required(name: str, hint: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigError(f"{name} is not set: {hint}")
            return value

        bot_token = required(
            "SLACK_BOT_TOKEN", "copy the Bot User OAuth Token (xoxb-...) from OAuth & Permissions."
        )
        app_token = env.get("SLACK_APP_TOKEN", "").strip() or None
        if app_token and not app_token.startswith("xapp-"):
            raise ConfigError(
                "SLACK_APP_TOKEN must be an app-level token (xapp-...) with connections:write."
            )
        # Socket Mode connections are not signed; HTTP requests always are.
        signing_secret = env.get("SLACK_SIGNING_SECRET", "").strip()
        if not signing_secret and not app_token:
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
        api_url = env.get("SLACK_API_URL", "").strip() or SLACK_API_URL
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
        )
