"""What the connector tests share about incremental cursors: reading them, checking the lag
rule, and a clock a test moves by hand."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_lagged_cursor(cursor: str, before: datetime, after: datetime, minutes: float) -> None:
    """The cursor is the pull's start (between before and after) less the lag, in full."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", cursor), cursor
    lag = timedelta(minutes=minutes)
    assert before - lag <= moment(cursor) <= after - lag


class Clock:
    """A clock a test moves by hand, shared by a fake (its writes) and the connector."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
