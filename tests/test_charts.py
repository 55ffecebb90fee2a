"""The charts (expansion/charts.py): valid PNGs of the expected size, drawn fast, the same bytes
for the same data, a layout guarded by golden images, the palette kept, figures that add up,
the Tier 1 trend read from digest_items, and the playbook's chart files.

Regenerate the golden images deliberately with ``UPDATE_GOLDEN=1`` (and look at them); the
README's picture (docs/charts/) is written by the same test.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from bot_harness import EXPANSION
from matplotlib.testing.compare import compare_images
from PIL import Image

from expansion import charts, digest, store
from expansion.charts import Bar, ChartData, Point
from expansion.playbook import chart_path, write_playbook

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "charts"
DOCS = ROOT / "docs" / "charts"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Root-mean-square difference (0-255 scale) a golden comparison tolerates: font hinting and
# antialiasing may move a pixel's shade between FreeType builds; a moved bar or label does not pass.
TOLERANCE = 3.0

#: A fixed book of figures, independent of the scoring (the golden images draw exactly these).
FIXED = ChartData(
    subtitle="Week of 23 Nov 2026 · as of 16 Nov 2026",
    by_tier=[
        Bar("Tier 1", 687_000, 481_000),
        Bar("Tier 2", 405_400, 242_929),
        Bar("Tier 3", 193_745, 85_839),
        Bar("Tier 4", 6_000, 2_139),
        Bar("Tier 5", 0, 0),
    ],
    by_type=[
        Bar("Seat Expansion", 392_640, 273_633),
        Bar("New Department", 220_440, 151_989),
        Bar("Tier Upgrade", 144_000, 76_320),
        Bar("Add-on / Module", 81_216, 37_799),
        Bar("New Use Case", 50_700, 20_841),
        Bar("Other types", 99_669, 49_474),
    ],
    trend=[
        Point(label, value)
        for label, value in zip(
            [
                "7 Sep",
                "14 Sep",
                "21 Sep",
                "28 Sep",
                "5 Oct",
                "12 Oct",
                "19 Oct",
                "26 Oct",
                "2 Nov",
                "9 Nov",
                "16 Nov",
                "23 Nov",
            ],
            [310e3, 295e3, 420e3, 405e3, 398e3, 512e3, 530e3, 498e3, 601e3, 655e3, 640e3, 687e3],
            strict=True,
        )
    ],
)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        image.verify()  # a complete, valid PNG (checksums included)
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _hex(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


# --------------------------------------------------------------------------- pictures


@pytest.mark.parametrize("kind", ["pipeline", "trend"])
def test_each_chart_is_a_valid_png_of_its_size_drawn_fast(kind):
    render = {
        "pipeline": lambda: charts.render_pipeline(FIXED),
        "trend": lambda: charts.render_trend(FIXED.trend),
    }[kind]
    render()  # the first chart of a process loads the font
    started = time.perf_counter()
    data = render()
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{kind} took {elapsed:.2f}s"
    width, height = png_size(data)
    pixels = decoded(data)
    assert pixels.shape == (height, width, 3)
    assert width == 800  # a phone shows it full width: 800 px scaled to ~360 keeps 15pt legible
    assert (height == 450) if kind == "trend" else (900 <= height <= 1000)
    assert render() == data  # the same data draws the same bytes (no date, no software tag)
    assert b"tEXt" not in data and b"tIME" not in data


@pytest.mark.parametrize("kind", ["pipeline", "trend"])
def test_the_layout_matches_the_golden_image(kind, tmp_path):
    data = charts.render_pipeline(FIXED) if kind == "pipeline" else charts.render_trend(FIXED.trend)
    actual = tmp_path / f"{kind}.png"
    actual.write_bytes(data)
    golden = GOLDEN / f"{kind}.png"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        shutil.copy(actual, golden)
    assert golden.exists(), "run with UPDATE_GOLDEN=1 once, and look at the image"
    assert compare_images(str(golden), str(actual), tol=TOLERANCE) is None


def test_a_moved_bar_fails_the_golden_comparison(tmp_path):
    """The tolerance is not so loose that a different chart passes."""
    bars = list(FIXED.by_tier)
    bars[0] = Bar("Tier 1", 300_000, 481_000)  # a shorter first bar, same labels otherwise
    other = ChartData(FIXED.subtitle, bars, FIXED.by_type, FIXED.trend)
    actual = tmp_path / "pipeline.png"
    actual.write_bytes(charts.render_pipeline(other))
    assert compare_images(str(GOLDEN / "pipeline.png"), str(actual), tol=TOLERANCE) is not None


def test_the_readme_picture_is_the_test_suites_own(sample_result, tmp_path):
    """docs/charts/pipeline.png is the sample book's chart as this code draws it."""
    data = charts.chart_data(sample_result.opportunities, subtitle="Sample book, as of 16 Nov 2026")
    actual = tmp_path / "pipeline.png"
    actual.write_bytes(charts.render_pipeline(data))
    shown = DOCS / "pipeline.png"
    if os.environ.get("UPDATE_GOLDEN"):
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(actual, shown)
    assert compare_images(str(shown), str(actual), tol=TOLERANCE) is None


def test_at_most_six_colours_from_the_colour_blind_safe_palette():
    """Every strongly coloured pixel is one of the palette's colours (antialiased edges aside):
    blue for pipeline, orange for expected value; the rest is white, greys and ink."""
    for data in (charts.render_pipeline(FIXED), charts.render_trend(FIXED.trend)):
        pixels = decoded(data).reshape(-1, 3).astype(int)
        saturated = pixels[(pixels.max(axis=1) - pixels.min(axis=1)) > 60]
        colours, counts = np.unique(saturated, axis=0, return_counts=True)
        main = {tuple(int(v) for v in c) for c, n in zip(colours, counts, strict=True) if n > 400}
        assert main <= {_hex(charts.PIPELINE), _hex(charts.EXPECTED)}, main
        assert _hex(charts.PIPELINE) in main
        greys = pixels[(pixels.max(axis=1) - pixels.min(axis=1)) <= 60]
        assert len(greys) + len(saturated) == len(pixels)


def test_money_with_dollar_signs_is_drawn_as_text_not_tex():
    """Two "$" in one label would be TeX to matplotlib: values are drawn as plain text."""
    data = ChartData("$1 and $2", [Bar("Tier 1", 1_500, 900)], [Bar("$x$", 1_500, 900)])
    png_size(charts.render_pipeline(data))


def test_an_empty_scope_still_draws():
    data = charts.chart_data(
        pd.DataFrame(columns=["tier", "type_label", "expansion_arr", "expected_value"]),
        subtitle="",
    )
    assert data.empty and data.by_type == []
    png_size(charts.render_pipeline(data))
    png_size(charts.render_trend([]))


# --------------------------------------------------------------------------- figures


def test_the_bars_add_up_to_the_open_opportunities(sample_result):
    opps = sample_result.opportunities
    open_ = opps[opps["active"]]
    data = charts.chart_data(opps, subtitle="")
    assert [b.label for b in data.by_tier] == [f"Tier {t}" for t in range(1, 6)]
    for bar, tier in zip(data.by_tier, range(1, 6), strict=True):
        rows = open_[open_["tier"] == tier]
        assert bar.pipeline == pytest.approx(rows["expansion_arr"].sum())
        assert bar.expected == pytest.approx(rows["expected_value"].sum())
    assert len(data.by_type) <= charts.MAX_TYPES + 1
    assert sum(b.pipeline for b in data.by_type) == pytest.approx(open_["expansion_arr"].sum())
    shown = [b.pipeline for b in data.by_type if b.label != "Other types"]
    assert shown == sorted(shown, reverse=True)
    assert charts.tier1_pipeline(opps) == pytest.approx(data.by_tier[0].pipeline)
    assert ChartData.from_dict(data.to_dict()) == data


@pytest.fixture(params=["sqlite", "postgres"])
def any_engine(request, db_url):
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else db_url
    engine = store.connect(url)
    yield engine
    engine.dispose()


def test_the_trend_reads_the_channels_digests(any_engine):
    """Each earlier posted digest of the channel and scope is a point (its open Tier 1 items'
    ARR); a digest stored before items kept their ARR is left out, not drawn as zero."""
    engine = any_engine
    with engine.begin() as conn:
        runs = store.DigestRun.__table__
        items = store.DigestItem.__table__
        for n, (period, status, scope, channel) in enumerate(
            [
                ("2026-W45", "posted", "", "C1"),  # before the chart: items without ARR
                ("2026-W46", "posted", "", "C1"),
                ("2026-W47", "failed", "", "C1"),  # not posted: no point
                ("2026-W47+x", "posted", "enterprise", "C1"),  # another scope
                ("2026-W47", "posted", "", "C2"),  # another channel
                ("2026-W47+y", "posted", "", "C1"),  # a forced rerun: empty, a real zero
            ],
            start=1,
        ):
            conn.execute(
                runs.insert().values(
                    id=n, team_id="T", channel=channel, period=period, scope=scope, status=status
                )
            )
        rows = [
            (1, 1, None, None),
            (2, 1, 100_000.0, True),
            (2, 1, 50_000.0, True),
            (2, 1, 70_000.0, False),  # won since: not open
            (2, 2, 90_000.0, True),  # Tier 2
            (3, 1, 1e6, True),
            (4, 1, 1e6, True),
            (5, 1, 1e6, True),
        ]
        for i, (run_id, tier, arr, active) in enumerate(rows):
            conn.execute(
                items.insert().values(
                    run_id=run_id,
                    opportunity_id=f"O{i}",
                    account_id="A",
                    tier=tier,
                    score=1.0,
                    expansion_arr=arr,
                    active=active,
                )
            )
    current = store.DigestRun(team_id="T", channel="C1", period="2026-W48", scope="")
    trend = digest.tier1_trend(engine, current, 200_000.0)
    assert trend == [Point("9 Nov", 150_000.0), Point("16 Nov", 0.0), Point("23 Nov", 200_000.0)]
    assert len(digest.tier1_trend(engine, current, 1.0, points=2)) == 2
    assert digest.short_label("2026-11") == "Nov 2026"
    assert digest.short_label("2026-11-24") == "24 Nov"


def test_the_migration_adds_the_columns(engine):
    columns = {c["name"] for c in sa.inspect(engine).get_columns("digest_items")}
    assert {"expansion_arr", "active"} <= columns


# --------------------------------------------------------------------------- playbook


def test_the_playbook_links_its_chart_beside_it(sample_result, tmp_path):
    out = tmp_path / "my playbook.md"
    written = write_playbook(sample_result, out, portfolio_name="Sample")
    assert written == [out, chart_path(out)] and chart_path(out).name == "my playbook-pipeline.png"
    png_size(chart_path(out).read_bytes())
    text = out.read_text(encoding="utf-8")
    assert "![Pipeline and expected value by tier and by opportunity type]" in text
    assert "(my%20playbook-pipeline.png)" in text  # relative, and a valid link with a space
    assert text.index("](my%20playbook-pipeline.png)") < text.index("## Executive Summary")


def test_expansion_playbook_writes_the_chart(sample_engine, tmp_path):
    url = str(sample_engine.url)
    result = subprocess.run(
        [EXPANSION, "playbook", "enterprise", "--db", url, "--as-of", str(date(2026, 11, 16))],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "expansion-playbook-pipeline.png" in result.stdout
    png_size((tmp_path / "expansion-playbook-pipeline.png").read_bytes())
    assert "](expansion-playbook-pipeline.png)" in (tmp_path / "expansion-playbook.md").read_text()


def test_charts_drawn_in_threads_at_once_are_the_same():
    """Answer workers draw in threads: no pyplot, no shared figure state."""
    from concurrent.futures import ThreadPoolExecutor

    expected = charts.render_pipeline(FIXED)
    with ThreadPoolExecutor(4) as pool:
        drawn = list(pool.map(lambda _: charts.render_pipeline(FIXED), range(8)))
    assert all(d == expected for d in drawn)
