"""docs/architecture.md draws the layers that ``lint-imports`` checks (``[tool.importlinter]``
in pyproject.toml): every engine module has a layer, and the picture names every one of them."""

from __future__ import annotations

import pkgutil
import re
import tomllib
from pathlib import Path

import expansion

ROOT = Path(__file__).resolve().parents[1]


def _engine_layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (layers,) = [
        c["layers"] for c in contracts if c["type"] == "layers" and "expansion.cli" in c["layers"]
    ]
    return [[m.strip() for m in re.split(r"[|:]", layer)] for layer in layers]


def test_every_engine_module_has_a_layer():
    layered = {module for layer in _engine_layers() for module in layer}
    modules = {
        f"expansion.{info.name}"
        for info in pkgutil.iter_modules(expansion.__path__)
        if info.name not in ("__main__", "migrations")
    }
    assert modules == layered, (
        "place a new module in a layer (pyproject.toml, docs/architecture.md)"
    )


def test_the_picture_draws_every_layer_in_order():
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    tree = doc.split("```")[1]
    lines = [line for line in tree.splitlines() if line.startswith(("├── ", "└── "))]
    rows = []
    for layer in _engine_layers():
        names = [m.removeprefix("expansion.") for m in layer]
        row = next(
            (i for i, line in enumerate(lines) if re.search(rf"\b{re.escape(names[0])}\b", line)),
            None,
        )
        assert row is not None, f"docs/architecture.md does not draw {names[0]}"
        assert all(re.search(rf"\b{re.escape(n)}\b", lines[row]) for n in names), lines[row]
        rows.append(row)
    assert rows == sorted(rows), "the layers are drawn in another order than pyproject's"
