"""join_groups is groupby(...).agg(sep.join) without a Python call per group."""

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from expansion.frames import join_groups

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
