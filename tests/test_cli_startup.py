"""The CLI starts light: help loads neither pandas, SQLAlchemy, numpy, pyarrow nor Slack.

Deterministic (which modules a fresh interpreter loaded), not a timing assertion: the startup
time itself is measured for docs/performance.md.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pandas", "sqlalchemy", "numpy", "pyarrow", "slack_sdk", "slack_bolt")

# In a fresh interpreter: run the console script's entry point with --help for the app and for
# every command and sub-command typer knows (new commands are covered without editing this),
# then report each help's exit code and which heavy packages got imported.
PROBE = """
import json, sys, contextlib, io

import typer

from bot.cli import app, main

def paths(command, prefix):
    yield prefix
    for name in sorted(getattr(command, "commands", {})):
        yield from paths(command.commands[name], [*prefix, name])

results = {}
for path in paths(typer.main.get_command(app), []):
    sys.argv = ["expansion", *path, "--help"]
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        else:
            code = 0
    results[" ".join(path)] = [code, "Usage:" in text.getvalue()]
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
print(json.dumps({"helps": results, "heavy": heavy}))
"""


def test_help_of_every_command_imports_no_heavy_package():
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    helps = report["helps"]
    # The probe really walked the commands and each printed its help.
    assert {"", "sync", "find", "score", "serve", "digest", "db", "db upgrade"} <= set(helps)
    assert all(result == [0, True] for result in helps.values()), helps
    assert report["heavy"] == [], f"--help imported {report['heavy']}"


def test_console_script_help_in_a_fresh_process_imports_no_heavy_package():
    """``python -X importtime`` lists every module the real entry point loaded for --help."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "from bot.cli import main; main()", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout and "find" in done.stdout
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "typer" in imported  # the listing is real
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_no_help_text_loses_a_word_to_rich_markup():
    """Typer renders help with rich: "[scoring]" was read as a style tag and vanished
    ("expansion.toml with  overrides.")."""
    import re

    import typer

    from bot.cli import app

    def walk(command):
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    lost = []
    for command in walk(typer.main.get_command(app)):
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        lost += [t for t in texts if re.search(r"(?<!\\)\[[a-z][a-z_.]*\]", t)]
    assert not lost, lost


FIND = """
import sys
from pathlib import Path
from bot.cli import main
sys.argv = ["expansion", "find", "--db", sys.argv[1], "--format", "json", "--as-of", "2026-11-16"]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print("alembic loaded:", "alembic" in sys.modules, file=sys.stderr)
"""


def test_a_database_at_the_latest_migration_is_used_without_loading_alembic(tmp_path):
    """Every command connects; one whose database is up to date does not import Alembic (its
    import and migration scripts were 0.1-0.3 s of each command). The heads it reads from the
    scripts are Alembic's own."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from expansion import pipeline, store

    config = Config()
    config.set_main_option("script_location", str(store.connections.MIGRATIONS))
    assert store.connections._script_heads() == set(ScriptDirectory.from_config(config).get_heads())

    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = store.connect(url)  # a new database: migrated by Alembic
    pipeline.sync_folder(engine, pipeline.SAMPLE_PORTFOLIO, source="sample")
    engine.dispose()
    done = subprocess.run(
        [sys.executable, "-c", FIND, url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "alembic loaded: False" in done.stderr
    assert json.loads(done.stdout)["opportunities"]
