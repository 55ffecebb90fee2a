"""What every listener needs: the database, the settings, and the engine's answers for a scope."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from expansion import pipeline
from expansion.pipeline import FindResult
from expansion.scope import Scope

from .permissions import OwnerDirectory
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Shared by all listeners of one app."""

    engine: sa.Engine
    settings: Settings
    directory: OwnerDirectory = field(default_factory=OwnerDirectory)
    # Set by the in-process scheduler: re-read the subscriptions now (other processes poll).
    subscriptions_changed: Callable[[], None] | None = None

    def notify_subscriptions_changed(self) -> None:
        if self.subscriptions_changed is not None:
            try:
                self.subscriptions_changed()
            except Exception:  # the periodic re-read catches up
                log.warning("could not reschedule digests now", exc_info=True)

    def find(self, scope: str | Scope = "", **kwargs) -> FindResult:
        """The engine's answer for ``scope`` at the configured as-of date."""
        return pipeline.find(
            self.engine,
            scope,
            as_of=self.settings.as_of(),
            config=self.settings.scoring,
            **kwargs,
        )

    def account(self, account_id: str) -> FindResult:
        """One account, by id (names could read as scope words)."""
        return self.find(Scope(text=account_id, account_ids=(account_id,)))

    def opportunity(self, opportunity_id: str) -> dict | None:
        """One opportunity of the latest scoring, whatever its outcome, as a card record."""
        return pipeline.opportunity(
            self.engine, opportunity_id, as_of=self.settings.as_of(), config=self.settings.scoring
        )

    def warm_up(self) -> None:
        """Score now, so the first command answers from stored results."""
        try:
            pipeline.score(self.engine, as_of=self.settings.as_of(), config=self.settings.scoring)
        except Exception:  # an empty database is fine at start-up; commands explain it
            log.warning("warm-up scoring skipped", exc_info=True)
