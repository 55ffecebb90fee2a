"""join_groups is groupby(...).agg(sep.join) without a Python call per group; per_distinct
is a transform applied to every value, computed per distinct value; the engine's account
codes sort like the ids they stand for."""

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from expansion.engine import _account_codes, best_first
from expansion.frames import join_groups, per_distinct, sorted_by

keys = st.sampled_from(["a", "b", "c", None])
values = st.sampled_from(["x", "y", "zz", "aa", "y"])
rows = st.lists(st.tuples(keys, st.sampled_from(["p", "q"]), values), max_size=40)

VARIANTS = [
    ({}, lambda s: ", ".join(s)),
    ({"unique": True}, lambda s: ", ".join(dict.fromkeys(s))),
    ({"ordered": True}, lambda s: ", ".join(sorted(s))),
    ({"unique": True, "ordered": True}, lambda s: ", ".join(sorted(set(s)))),
    ({"unique": True, "limit": 2}, lambda s: ", ".join(list(dict.fromkeys(s))[:2])),
]


@settings(max_examples=30, deadline=None)
@given(rows)
def test_join_groups_matches_groupby_agg(data):
    frame = pd.DataFrame(data, columns=["k", "j", "v"]).astype(object)
    for kwargs, join in VARIANTS:
        got = join_groups(frame["v"], frame["k"], sep=", ", **kwargs)
        want = frame.dropna(subset=["k"]).groupby("k")["v"].agg(join)
        assert got.to_dict() == want.to_dict(), kwargs
        assert got.index.name == "k"
        got2 = join_groups(frame["v"], [frame["k"], frame["j"]], sep=", ", **kwargs)
        want2 = frame.dropna(subset=["k"]).groupby(["k", "j"])["v"].agg(join)
        assert got2.to_dict() == want2.to_dict(), kwargs
        assert list(got2.index.names) == ["k", "j"]


def test_join_groups_of_nothing_is_empty():
    empty = pd.Series([], dtype=object)
    assert join_groups(empty, empty.rename("k"), sep=",").empty


texts = st.lists(st.sampled_from(["a  b", " c", "d ", "", None, "é\tf"]), max_size=30)


@settings(max_examples=30, deadline=None)
@given(texts, st.sampled_from(["str", object]))
def test_per_distinct_is_the_transform_of_every_value(data, dtype):
    values = pd.Series(data, dtype=dtype, index=range(10, 10 + len(data)))

    def tidy(s):
        return s.str.replace(r"\s+", " ", regex=True).str.strip()

    got = per_distinct(values, tidy)
    want = tidy(values)
    assert got.index.equals(values.index)
    assert got.isna().tolist() == want.isna().tolist()
    assert got.dropna().tolist() == want.dropna().tolist()


ids = st.lists(st.sampled_from(["ACC-2", "ACC-10", "acc-1", "Zeta", "é", None]), max_size=20)


@settings(max_examples=30, deadline=None)
@given(ids, ids, st.sampled_from(["str", object]))
def test_account_codes_sort_and_join_like_the_ids(first, second, dtype):
    tables = {
        "accounts": pd.DataFrame({"account_id": pd.Series(first, dtype=dtype), "n": 1}),
        "usage": pd.DataFrame({"account_id": pd.Series(second, dtype=dtype)}),
        "catalog": pd.DataFrame({"product_id": ["p"]}),
    }
    coded, names = _account_codes(tables)
    assert list(names) == sorted(set(first + second) - {None})
    for name in ("accounts", "usage"):
        kept = [i for i in tables[name]["account_id"] if i is not None and i == i]
        assert [names[c] for c in coded[name]["account_id"]] == kept
    assert coded["catalog"] is tables["catalog"]


scored = st.lists(
    st.tuples(
        st.sampled_from([1.0, 2.5, 8.0, float("nan")]),
        st.sampled_from([0.0, 10.0, -1.0, float("nan")]),
        st.sampled_from(["b", "a", "A-1", "é", "a-10", "a-9"]),
    ),
    max_size=40,
)


@settings(max_examples=50, deadline=None)
@given(scored)
def test_best_first_sorts_like_sort_values(rows):
    frame = pd.DataFrame(rows, columns=["score", "expected_value", "opportunity_id"])
    frame["opportunity_id"] = frame["opportunity_id"].astype("str")
    want = frame.sort_values(
        ["score", "expected_value", "opportunity_id"], ascending=[False, False, True], kind="stable"
    )
    assert list(best_first(frame).index) == list(want.index)


keyed = st.lists(
    st.tuples(
        st.sampled_from(["ACC-2", "ACC-10", "é", None]),
        st.sampled_from(["seats", "api", None]),
        st.sampled_from([pd.Timestamp("2026-01-01"), pd.Timestamp("2025-12-01"), pd.NaT]),
        st.integers(0, 3),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(keyed, st.sampled_from(["str", object]), st.booleans())
def test_sorted_by_sorts_like_sort_values(rows, dtype, presorted):
    frame = pd.DataFrame(rows, columns=["account_id", "metric", "period", "n"])
    frame = frame.astype({"account_id": dtype, "metric": dtype})
    keys = ["account_id", "metric", "period"]
    if presorted:
        frame = frame.sort_values(keys, kind="stable")
    want = frame.sort_values(keys, kind="stable")
    assert list(sorted_by(frame, keys).index) == list(want.index)
