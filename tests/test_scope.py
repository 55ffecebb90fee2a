"""The scope grammar shared by `expansion find` and the slash command."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from expansion.errors import ScopeError
from expansion.scope import parse_scope, resolve_accounts

AS_OF = date(2026, 11, 16)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("enterprise", {"segments": ("enterprise",)}),
        ("Enterprise accounts", {"segments": ("enterprise",)}),
        ("mid-market 60", {"segments": ("mid-market",), "min_propensity": 60}),
        ("smb >70", {"segments": ("smb",), "min_propensity": 70}),
        ("all accounts", {"everything": True}),
        ("accounts at 80% seat usage", {"min_seat_usage": 80.0}),
        ("owner maya@example.com", {"owner": "maya@example.com"}),
        ("owner <@U123ABC>", {"owner": "U123ABC"}),
        ("healthy enterprise", {"healthy": True, "segments": ("enterprise",)}),
    ],
)
def test_forms(text, expected):
    scope = parse_scope(text, as_of=AS_OF)
    for key, value in expected.items():
        assert getattr(scope, key) == value


def test_renewing_in_days():
    scope = parse_scope("enterprise renewing in 90 days", as_of=AS_OF)
    assert (scope.renewal_start, scope.renewal_end) == (AS_OF, date(2027, 2, 14))
    assert scope.describe() == "Enterprise, renewing in 90 days"


def test_renewing_in_quarter_rolls_to_next_year_when_past():
    assert parse_scope("renewing in Q4", as_of=AS_OF).renewal_end == date(2026, 12, 31)
    q1 = parse_scope("renewing in Q1", as_of=AS_OF)
    assert (q1.renewal_start, q1.renewal_end) == (date(2027, 1, 1), date(2027, 3, 31))


def test_renewing_this_quarter():
    scope = parse_scope("renewing this quarter", as_of=AS_OF)
    assert (scope.renewal_start, scope.renewal_end) == (AS_OF, date(2026, 12, 31))


def test_leftover_text_is_an_account_query():
    assert parse_scope("Northwind Logistics", as_of=AS_OF).account_query == "Northwind Logistics"


def test_bad_propensity_and_bad_renewal_are_errors():
    with pytest.raises(ScopeError, match="0-100"):
        parse_scope("enterprise 250", as_of=AS_OF)
    with pytest.raises(ScopeError, match="renewing in 90 days"):
        parse_scope("renewing sometime soon", as_of=AS_OF)


PROFILES = pd.DataFrame(
    {"account_id": ["A1", "A2", "A3"], "name": ["Northwind Logistics", "Northwind Air", "Acme"]}
)


def test_account_resolution():
    assert resolve_accounts(parse_scope("acme", as_of=AS_OF), PROFILES).account_ids == ("A3",)
    assert resolve_accounts(parse_scope("Acme", as_of=AS_OF), PROFILES).account_ids == ("A3",)
    with pytest.raises(ScopeError, match="matches 2 accounts") as info:
        resolve_accounts(parse_scope("northwind", as_of=AS_OF), PROFILES)
    assert info.value.candidates == ["Northwind Air", "Northwind Logistics"]
    with pytest.raises(ScopeError, match="Accepted forms"):
        resolve_accounts(parse_scope("gibberish words", as_of=AS_OF), PROFILES)
