"""Money bands (expansion/numbers.py): what a channel that may not see figures reads instead."""

from __future__ import annotations

import itertools
import threading

import pytest

from expansion import numbers
from expansion.numbers import (
    MONEY_BANDS,
    band_figures,
    banded,
    figures_in,
    money,
    money_band,
    money_exact,
    signed_money,
)


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0, "under $10K"),
        (480, "under $10K"),
        (0.0005, "under $10K"),
        (9_999.99, "under $10K"),
        (10_000, "$10–25K"),
        (57_600, "$50–100K"),
        (99_600, "$50–100K"),  # money() would say $100K: the band is of the figure, not of that
        (100_000, "$100–250K"),
        (687_000, "$500K–1M"),
        (1_200_000, "$1–2.5M"),
        (2_500_000, "$2.5–5M"),
        (99_999_999, "$50–100M"),
        (250_000_000, "$100M+"),
        (-5_000, "-under $10K"),
        (-72_000, "-$50–100K"),
        (None, "n/a"),
        (float("nan"), "n/a"),
    ],
)
def test_money_band(value, band):
    assert money_band(value) == band


def test_bands_cover_every_amount_once_in_order():
    lows = [low for low, _ in MONEY_BANDS]
    assert lows == sorted(lows) and len(set(lows)) == len(lows) and lows[0] == 0
    labels = [label for _, label in MONEY_BANDS]
    assert len(set(labels)) == len(labels)
    for (low, label), (high, _) in itertools.pairwise(MONEY_BANDS):
        assert money_band(low) == label and money_band(high - 0.01) == label
    # Every band is one a reader can tell from the text: band_figures keeps it as it is.
    for label in labels:
        assert band_figures(f"pipeline {label} ARR") == f"pipeline {label} ARR"
        assert figures_in(label) == []


def test_banded_switches_every_money_function_and_only_inside():
    assert (money(57_600), signed_money(57_600), money_exact(57_600)) == (
        "$58K",
        "+$58K",
        "$57,600",
    )
    with banded():
        assert numbers.is_banded()
        assert money(57_600) == "$50–100K"
        assert signed_money(57_600) == "+$50–100K"
        assert signed_money(-57_600) == "-$50–100K"
        assert money_exact(1_200_000) == "$1–2.5M"
        assert money(None) == "n/a"
        with banded(False):
            assert money(57_600) == "$58K"
        assert money(57_600) == "$50–100K"
    assert not numbers.is_banded() and money(57_600) == "$58K"


def test_banded_holds_for_its_own_thread_only():
    seen = []
    with banded():
        thread = threading.Thread(target=lambda: seen.append(money(57_600)))
        thread.start()
        thread.join()
        assert money(57_600) == "$50–100K"
    assert seen == ["$58K"]


def test_band_figures_replaces_every_dollar_figure_and_keeps_bands():
    text = (
        "+$57,600 on $198,000 ARR = 29%; catalog: $480 per seat per year x 120 seats; "
        "$0.0005 per call; pipeline $1.2M, deal $9.6K, big $3B. Already $50–100K, "
        "under $10K and $100M+."
    )
    out = band_figures(text)
    assert out == (
        "+$50–100K on $100–250K ARR = 29%; catalog: under $10K per seat per year x 120 seats; "
        "under $10K per call; pipeline $1–2.5M, deal under $10K, big $100M+. Already $50–100K, "
        "under $10K and $100M+."
    )
    assert figures_in(out) == []
    assert figures_in(text) == [
        "$57,600",
        "$198,000",
        "$480",
        "$0.0005",
        "$1.2M",
        "$9.6K",
        "$3B",
    ]
    # Not money: numbers without a dollar sign, a dollar sign without a number, words after it.
    plain = "120 seats, 29%, US$ prices, $Kelvin, 2026-11-16"
    assert band_figures(plain) == plain
    # A suffix is K, M or B alone: "$5Kelvin" is $5 and a word.
    assert band_figures("$5Kelvin") == "under $10KKelvin"
