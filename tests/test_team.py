"""The team (``users`` table), owner suggestions and workload: the pure functions on a
handcrafted book, and the table on a real SQLite file."""

from __future__ import annotations

import pandas as pd
import pytest

from expansion import team
from expansion.errors import TeamError


def _book(rows: list[tuple]) -> pd.DataFrame:
    """(opportunity_id, assignee, tier, expected_value, active)"""
    return pd.DataFrame(
        rows, columns=["opportunity_id", "assignee", "tier", "expected_value", "active"]
    )


def _team(rows: list[tuple]) -> pd.DataFrame:
    """(email, slack_user_id, name, role, capacity)"""
    frame = pd.DataFrame(rows, columns=["email", "slack_user_id", "name", "role", "capacity"])
    return frame.assign(active=True).reindex(columns=team.MEMBER_COLUMNS)


ACCOUNTS = pd.DataFrame(
    [
        ("A1", "owner@x.com", "enterprise"),
        ("A2", "ava@x.com", "enterprise"),
        ("A3", "ava@x.com", "enterprise"),
        ("A4", "ava@x.com", "enterprise"),
        ("A5", "ava@x.com", "enterprise"),
        ("A6", "carl@x.com", "smb"),
        ("A7", "bea@x.com", "enterprise"),
    ],
    columns=["account_id", "owner", "segment"],
)

TEAM = _team(
    [
        ("owner@x.com", "UOWN", "Olive Owner", "CSM", 10),
        ("ava@x.com", "UAVA", "Ava AE", "AE", 10),
        ("bea@x.com", "UBEA", "Bea AE", "AE", 10),
        ("carl@x.com", "UCARL", "Carl CSM", "CSM", 10),
        ("full@x.com", "UFULL", "Fred Full", "AE", 2),
        ("nobody@x.com", None, "No Slack", "AE", 10),
    ]
)

BOOK = _book(
    [
        ("o1", "UAVA", 1, 40_000.0, True),
        ("o2", "UAVA", 1, 50_000.0, True),
        ("o3", "UAVA", 1, 30_000.0, True),
        ("o4", "UAVA", 2, 9_000.0, False),  # closed: not open pipeline
        ("o5", "UBEA", 3, 5_000.0, True),
        ("o6", "UFULL", 1, 1_000.0, True),
        ("o7", "UFULL", 2, 1_000.0, True),
        ("o8", None, 1, 99_000.0, True),  # unassigned
        ("o9", "UOTHER", 2, 7_000.0, True),  # assigned to someone not in the team
    ]
)


def test_a_big_deal_ranks_the_owner_then_aes_by_familiarity_then_room():
    opp = {"account_id": "A1", "owner": "owner@x.com", "expansion_arr": 64_000}
    out = team.suggest_owners(opp, BOOK, ACCOUNTS, TEAM, owner_user="UOWN")
    # Both AEs own enterprise accounts: Bea (9 free) before Ava (7 free, more of them); the
    # CSM after the AEs; Fred, at capacity, last.
    assert list(out["slack_user_id"]) == ["UOWN", "UBEA", "UAVA", "UCARL", "UFULL"]
    reasons = dict(zip(out["slack_user_id"], out["reason"], strict=True))
    assert reasons["UOWN"] == (
        "account owner; nothing open; owns 1 enterprise account; involve an AE (>$50K)"
    )
    assert reasons["UAVA"] == (
        "3 open (3 Tier 1), $120K EV; owns 4 enterprise accounts; AE for a $64K deal"
    )
    assert reasons["UBEA"] == "1 open, $5K EV; owns 1 enterprise account; AE for a $64K deal"
    assert reasons["UFULL"].endswith("AE for a $64K deal; at capacity (2 of 2)")
    # The person without a Slack id cannot be assigned in Slack: not suggested.
    assert "nobody@x.com" not in set(out["email"])
    assert list(out["at_capacity"]) == [False, False, False, False, True]


def test_a_small_deal_prefers_csms_and_room_over_load():
    opp = {"account_id": "A6", "owner": "carl@x.com", "expansion_arr": 12_000}
    out = team.suggest_owners(opp, BOOK, ACCOUNTS, TEAM, owner_user="UCARL")
    # owner first; then the other CSM; then the AEs by room: Bea (9 free) before Ava (7 free);
    # Fred at capacity last. Nobody else owns smb accounts.
    assert list(out["slack_user_id"]) == ["UCARL", "UOWN", "UBEA", "UAVA", "UFULL"]
    assert (
        out.loc[0, "reason"] == "account owner; nothing open; owns 1 smb account; CSM-led $12K deal"
    )
    assert out.loc[1, "reason"] == "nothing open; CSM-led $12K deal"


def test_an_owner_at_capacity_goes_last_and_says_so():
    tight = TEAM.copy()
    tight.loc[tight["slack_user_id"] == "UOWN", "capacity"] = 0
    opp = {"account_id": "A1", "owner": "owner@x.com", "expansion_arr": 10_000}
    out = team.suggest_owners(opp, BOOK, ACCOUNTS, tight, owner_user="UOWN")
    # The people at capacity (the owner and Fred) come after everyone with room.
    assert list(out["at_capacity"]) == [False, False, False, True, True]
    owner = out[out["slack_user_id"] == "UOWN"].iloc[0]
    assert owner.name >= 3 and owner["at_capacity"]
    assert owner["reason"] == (
        "account owner; nothing open; owns 1 enterprise account; CSM-led $10K deal; "
        "at capacity (0 of 0)"
    )
    over = team.suggest_owners(opp, BOOK, ACCOUNTS, TEAM.assign(capacity=1), owner_user="UOWN")
    assert "over capacity (2 of 1)" in set(over["reason"].str.extract(r"(over capacity.*)$")[0])


def test_an_owner_outside_the_team_is_still_suggested_first():
    opp = {"account_id": "A1", "owner": "stranger@x.com", "expansion_arr": 10_000}
    out = team.suggest_owners(opp, BOOK, ACCOUNTS, TEAM, owner_user="USTRANGER")
    assert out.loc[0, "slack_user_id"] == "USTRANGER"
    assert out.loc[0, "reason"] == "account owner; nothing open"
    assert team.suggest_owners(opp, BOOK, ACCOUNTS, TEAM.iloc[0:0]).empty


def test_workload_counts_open_assigned_pipeline_per_person():
    out = team.workload(BOOK, TEAM).set_index("slack_user_id")
    assert out.loc["UAVA", ["open", "tier1", "open_ev"]].tolist() == [3, 3, 120_000.0]
    assert out.loc["UAVA", "used"] == pytest.approx(0.3)
    assert out.loc["UFULL", "used"] == pytest.approx(1.0)
    # Someone outside the team with open assignments is shown too, without a capacity.
    assert out.loc["UOTHER", "in_team"] == False  # noqa: E712
    assert pd.isna(out.loc["UOTHER", "used"])
    # Nothing open is still listed for team members; most EV first.
    assert out.loc["UOWN", "open"] == 0
    assert out.index[0] == "UAVA"


def test_the_table_on_postgresql(pg_url):
    """The same table operations on PostgreSQL (the migration, upsert, booleans)."""
    from expansion import store

    engine = store.connect(pg_url)
    try:
        test_the_table_adds_updates_removes_and_imports(engine)
    finally:
        engine.dispose()


def test_the_table_adds_updates_removes_and_imports(engine):
    assert team.add_member(engine, email="Ava@X.com", role="ae", capacity="8", slack_user_id="UAVA")
    assert not team.add_member(engine, email="ava@x.com", role="AE", capacity=9, name="Ava")
    got = team.members(engine)
    assert got[["email", "role", "capacity", "name", "slack_user_id"]].values.tolist() == [
        ["ava@x.com", "AE", 9, "Ava", "UAVA"]
    ]
    added = team.import_owners(engine, ["ava@x.com", "b@x.com", "B@x.com", "not an email", None])
    assert added == ["b@x.com"]
    assert team.remove_member(engine, slack_user_id="UAVA") == "ava@x.com"
    assert team.remove_member(engine, slack_user_id="UAVA") is None
    assert list(team.members(engine)["email"]) == ["b@x.com"]
    # A removed person is not brought back by an import; adding them again does.
    assert team.import_owners(engine, ["ava@x.com"]) == []
    team.add_member(engine, email="ava@x.com", role="AE")
    assert set(team.members(engine)["email"]) == {"ava@x.com", "b@x.com"}
    team.remember_slack_ids(engine, {"b@x.com": "UB"})
    assert team.members(engine).set_index("email").loc["b@x.com", "slack_user_id"] == "UB"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"email": "a@x.com", "role": "boss"}, "Role must be one of CSM, AE, other"),
        ({"email": "a@x.com", "role": "CSM", "capacity": "-1"}, "whole number from 0 to 1000"),
        ({"email": "a@x.com", "role": "CSM", "capacity": "lots"}, "whole number"),
        ({"email": "not-an-email", "role": "CSM"}, "is not an e-mail address"),
    ],
)
def test_bad_values_are_refused_with_what_to_fix(engine, kwargs, message):
    with pytest.raises(TeamError, match=message):
        team.add_member(engine, **kwargs)
    assert team.members(engine).empty


def test_the_command_line_adds_imports_lists_and_shows_workload(tmp_path):
    """``expansion team ...`` as a user runs it (a real subprocess)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from expansion import pipeline, store, workflow

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = store.connect(url)
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    result = pipeline.find(engine, "", as_of=pipeline.SAMPLE_AS_OF)
    first = result.opportunities.iloc[0]
    workflow.assign(
        engine,
        workflow.Opportunity(first["opportunity_id"], first["account_id"]),
        assignee="UAVA",
        actor="UADMIN",
    )
    engine.dispose()
    exe = str(Path(sys.executable).parent / "expansion")
    env = {**os.environ, "EXPANSION_DB_URL": url, "EXPANSION_AS_OF": "2026-11-16", "COLUMNS": "200"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [exe, "team", *args], env=env, capture_output=True, text=True, timeout=120
        )

    assert cli("add", "Ava@X.com", "AE", "2", "--slack-id", "UAVA").stdout.strip() == (
        "Added ava@x.com."
    )
    bad = cli("add", "ava@x.com", "boss")
    assert bad.returncode == 2 and "Role must be one of CSM, AE, other" in bad.stderr
    imported = cli("import")
    assert imported.returncode == 0 and "maya.chen@example.com" in imported.stdout
    listed = cli("list").stdout
    assert "ava@x.com" in listed and "maya.chen@example.com" in listed and "nan" not in listed
    load = cli("workload").stdout
    ava = next(line for line in load.splitlines() if "UAVA" in line)
    tier1 = str(int(first["tier"] == 1))
    assert [c.strip() for c in ava.strip("│ ").split("│")][:5] == [
        "UAVA",
        "ava@x.com",
        "AE",
        "1",
        tier1,
    ]
    assert "50%" in ava
    assert cli("remove", "nobody@x.com").returncode == 2
