"""Block Kit preview: every message, deep-dive and Home view the bot sends, from the bundled
sample book, as static HTML pages that approximate Slack's look (``python -m bot.preview``).

``scripts/screenshots`` turns the pages into PNG with headless Chromium; docs/slack.md shows them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .page import Preview, render_index, render_page

DEFAULT_OUT = Path("build/slack-preview")

__all__ = ["Preview", "main", "write"]


def write(items: list[Preview], out: Path) -> Path:
    """One ``<name>.html`` per item and ``index.html`` in ``out``; returns the index's path."""
    out.mkdir(parents=True, exist_ok=True)
    for item in items:
        (out / f"{item.name}.html").write_text(render_page(item), encoding="utf-8")
    index = out / "index.html"
    index.write_text(render_index(items), encoding="utf-8")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.preview",
        description="Render every message and view the bot sends (sample book) to HTML pages.",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)
    from .sample import build_in_tempdir

    items = build_in_tempdir()
    index = write(items, args.out)
    print(f"{len(items)} pages written; open {index}")
    return 0
