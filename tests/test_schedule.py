"""The digest schedule grammar: every form, and a clear message for every mistake."""

from __future__ import annotations

import pytest

from expansion import schedule
from expansion.errors import ScopeError
from expansion.schedule import ScheduleError, parse_schedule

AS_OF = schedule.date(2026, 11, 16)


def parse(text: str, tz: str = "America/New_York"):
    return parse_schedule(text, default_timezone=tz, as_of=AS_OF)


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("weekly mon 09:00", ("weekly", 0, None, "09:00", "America/New_York", "", 25)),
        ("weekly Friday 5:30pm", ("weekly", 4, None, "17:30", "America/New_York", "", 25)),
        ("daily 8am UTC", ("daily", None, None, "08:00", "UTC", "", 25)),
        (
            "monthly 1 09:00 Europe/Berlin enterprise max 10",
            ("monthly", None, 1, "09:00", "Europe/Berlin", "enterprise", 10),
        ),
        (
            "weekly tue 7:05 renewing this quarter 60",
            ("weekly", 1, None, "07:05", "America/New_York", "renewing this quarter 60", 25),
        ),
    ],
)
def test_forms(text, expect):
    s = parse(text)
    assert (s.cadence, s.weekday, s.monthday, s.at_time, s.timezone, s.scope, s.max_cards) == expect


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Say how often: daily, weekly or monthly"),
        ("fortnightly mon 09:00", "Say how often"),
        ("weekly funday 09:00", "Unknown day `funday`"),
        ("weekly 09:00", "Unknown day `09:00`"),
        ("monthly 31 09:00", "use 1 to 28"),
        ("weekly mon 25:00", "Invalid time"),
        ("weekly mon 13pm", "Invalid time"),
        ("weekly mon 9", "Invalid time"),
        ("weekly mon 09:00 Mars/Olympus", "Unknown time zone `Mars/Olympus`"),
        ("weekly mon 09:00 enterprise max 0", "must be 1 to 50"),
    ],
)
def test_mistakes_say_what_to_type(text, message):
    with pytest.raises(ScheduleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_a_bad_scope_is_a_scope_error():
    with pytest.raises(ScopeError):
        parse("weekly mon 09:00 renewing sometime")


def test_describe_and_store_round_trip(engine):
    s = parse("weekly mon 09:00 Europe/Berlin enterprise max 5")
    assert s.describe() == "every Monday at 09:00 (Europe/Berlin)"
    schedule.subscribe(engine, team_id="T1", channel="C1", schedule=s, created_by="U1")
    schedule.subscribe(
        engine, team_id="T1", channel="C1", schedule=parse("daily 08:00"), created_by="U2"
    )
    [sub] = schedule.subscriptions(engine, team_id="T1")
    assert (sub.cadence, sub.created_by) == ("daily", "U2"), "re-subscribing replaces"
    assert schedule.schedule_of(sub) == parse("daily 08:00")
    assert schedule.unsubscribe(engine, team_id="T1", channel="C1")
    assert not schedule.unsubscribe(engine, team_id="T1", channel="C1")
    assert schedule.subscriptions(engine) == []
