"""Digest schedules: ``weekly mon 09:00 [Europe/Berlin] [scope] [max N]`` and the stored
subscriptions built from them.

The grammar is shared by ``/expansion digest here ...``; every mistake raises
:class:`ScheduleError` saying what was wrong and what to type instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from .errors import ScheduleError
from .scope import parse_scope
from .store import DigestSubscription, upsert, utcnow

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
CADENCES = ("daily", "weekly", "monthly")
DEFAULT_MAX_CARDS = 25
EXAMPLE = "weekly mon 09:00 enterprise max 10"

_SUBS = DigestSubscription.__table__


@dataclass(frozen=True)
class Schedule:
    """When and what: cadence, day, local time, time zone, scope and how many cards."""

    cadence: str
    at_time: str
    timezone: str
    weekday: int | None = None
    monthday: int | None = None
    scope: str = ""
    max_cards: int = DEFAULT_MAX_CARDS

    def describe(self) -> str:
        """``every Monday at 09:00 (Europe/Berlin)``."""
        when = {
            "daily": "every day",
            "weekly": f"every {WEEKDAY_NAMES[self.weekday or 0]}",
            "monthly": f"on day {self.monthday} of every month",
        }[self.cadence]
        return f"{when} at {self.at_time} ({self.timezone})"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def cron_fields(self) -> dict:
        """The cron fields of this schedule (APScheduler ``CronTrigger`` keyword arguments)."""
        hour, minute = (int(x) for x in self.at_time.split(":"))
        fields: dict = {"hour": hour, "minute": minute, "second": 0, "timezone": self.zone}
        if self.cadence == "weekly":
            fields["day_of_week"] = WEEKDAYS[self.weekday or 0]
        elif self.cadence == "monthly":
            fields["day"] = self.monthday
        return fields

    def local_day(self, at: datetime) -> date:
        """The calendar day ``at`` falls on in the schedule's time zone."""
        return at.astimezone(self.zone).date()

    def previous_fire(self, now: datetime) -> datetime:
        """The latest scheduled time at or before ``now``, in UTC (instants in a repeated
        autumn hour never compare equal across zones, so UTC is the safe form to keep).

        A local time that does not exist on a spring-forward day (02:30 in Europe/Berlin on the
        last Sunday of March) resolves to the same instant the wall clock reaches after the gap
        (03:30), as Python's ``zoneinfo`` does; a time that occurs twice in autumn is the first.
        """
        zone = self.zone
        local = now.astimezone(zone)
        at = time.fromisoformat(self.at_time)
        day = local.date()
        for _ in range(62):
            if self._fires_on(day):
                candidate = _wall(day, at, zone)
                if candidate <= now:
                    return candidate
            day -= timedelta(days=1)
        raise AssertionError("no fire time in 62 days")  # pragma: no cover

    def _fires_on(self, day: date) -> bool:
        if self.cadence == "weekly":
            return day.weekday() == self.weekday
        if self.cadence == "monthly":
            return day.day == self.monthday
        return True


def _wall(day: date, at: time, zone: ZoneInfo) -> datetime:
    """``day`` at wall-clock ``at`` in ``zone``, as a UTC instant (gaps move forward)."""
    return datetime.combine(day, at).replace(tzinfo=zone).astimezone(UTC)


def _time(word: str) -> str | None:
    match = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", word)
    if not match or (match.group(2) is None and match.group(3) is None):
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if match.group(3):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match.group(3) == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


def parse_schedule(text: str, *, default_timezone: str, as_of: date) -> Schedule:
    """Parse ``<daily|weekly DAY|monthly N> <HH:MM> [time zone] [scope] [max N]``.

    Raises:
        ScheduleError: naming what is wrong and what to type instead.
    """
    words = text.split()
    if not words or words[0].lower() not in CADENCES:
        raise ScheduleError(
            f"Say how often: daily, weekly or monthly, e.g. `{EXAMPLE}`."
            + (f" (got `{words[0]}`)" if words else "")
        )
    cadence = words.pop(0).lower()
    weekday = monthday = None
    if cadence == "weekly":
        day = words.pop(0).lower() if words else ""
        if day[:3] not in WEEKDAYS or not WEEKDAY_NAMES[WEEKDAYS.index(day[:3])].lower().startswith(
            day
        ):
            raise ScheduleError(
                f"Unknown day `{day or '(none)'}`: weekly needs a day, one of "
                f"{', '.join(WEEKDAYS)}, e.g. `{EXAMPLE}`."
            )
        weekday = WEEKDAYS.index(day[:3])
    elif cadence == "monthly":
        day = words.pop(0) if words else ""
        if not day.isdigit() or not 1 <= int(day) <= 28:
            raise ScheduleError(
                f"Unknown day of the month `{day or '(none)'}`: use 1 to 28 (every month has "
                "them), e.g. `monthly 1 09:00`."
            )
        monthday = int(day)
    at = _time(words.pop(0).lower()) if words else None
    if at is None:
        raise ScheduleError(
            f"Invalid time: use 24-hour HH:MM (09:00, 17:30) or 9am / 5:30pm, e.g. `{EXAMPLE}`."
        )
    timezone = default_timezone
    if words and ("/" in words[0] or words[0].upper() in ("UTC", "GMT")):
        timezone = words.pop(0)
        if timezone.upper() in ("UTC", "GMT"):
            timezone = "UTC"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(
                f"Unknown time zone `{timezone}`: use an IANA name such as Europe/Berlin, "
                "America/New_York or UTC, or leave it out to use yours."
            ) from None
    max_cards = DEFAULT_MAX_CARDS
    if len(words) >= 2 and words[-2].lower() == "max":
        if not words[-1].isdigit() or not 1 <= int(words[-1]) <= 50:
            raise ScheduleError(f"`max {words[-1]}`: the number of cards must be 1 to 50.")
        max_cards = int(words[-1])
        words = words[:-2]
    scope = " ".join(words)
    if scope:
        parse_scope(scope, as_of=as_of)  # raises ScopeError with the accepted forms
    return Schedule(
        cadence=cadence,
        at_time=at,
        timezone=timezone,
        weekday=weekday,
        monthday=monthday,
        scope=scope,
        max_cards=max_cards,
    )


def subscribe(
    engine: sa.Engine, *, team_id: str, channel: str, schedule: Schedule, created_by: str
) -> None:
    """Subscribe ``channel`` (replacing its previous schedule)."""
    values = {
        "cadence": schedule.cadence,
        "weekday": schedule.weekday,
        "monthday": schedule.monthday,
        "at_time": schedule.at_time,
        "timezone": schedule.timezone,
        "scope": schedule.scope,
        "max_cards": schedule.max_cards,
        "created_by": created_by,
        # A changed schedule counts from now: the sweep never catches up a time set in the past.
        "created_at": utcnow(),
    }
    with engine.begin() as conn:
        upsert(conn, _SUBS, {"team_id": team_id, "channel": channel}, values)


def unsubscribe(engine: sa.Engine, *, team_id: str, channel: str) -> bool:
    """Remove ``channel``'s subscription; ``False`` if it had none."""
    with engine.begin() as conn:
        result = conn.execute(
            _SUBS.delete().where((_SUBS.c.team_id == team_id) & (_SUBS.c.channel == channel))
        )
    return bool(result.rowcount)


def subscriptions(engine: sa.Engine, *, team_id: str | None = None) -> list[DigestSubscription]:
    """Every subscription (of one workspace when ``team_id`` is given), by channel."""
    query = sa.select(_SUBS).order_by(_SUBS.c.channel)
    if team_id is not None:
        query = query.where(_SUBS.c.team_id == team_id)
    with engine.connect() as conn:
        return [DigestSubscription(**row) for row in conn.execute(query).mappings()]


def subscription(
    engine: sa.Engine, channel: str, *, team_id: str | None = None
) -> DigestSubscription | None:
    """The subscription of ``channel`` (in ``team_id`` when given), if any."""
    query = sa.select(_SUBS).where(_SUBS.c.channel == channel).order_by(_SUBS.c.id)
    if team_id is not None:
        query = query.where(_SUBS.c.team_id == team_id)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return DigestSubscription(**row) if row else None


def schedule_of(sub: DigestSubscription) -> Schedule:
    """The schedule a stored subscription holds."""
    return Schedule(
        cadence=sub.cadence,
        at_time=sub.at_time,
        timezone=sub.timezone,
        weekday=sub.weekday,
        monthday=sub.monthday,
        scope=sub.scope,
        max_cards=sub.max_cards,
    )
