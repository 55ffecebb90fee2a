"""A sync or a migration in a process of its own, for the concurrency tests.

    python sync_worker.py sync URL FOLDER SOURCE [--wait-go] [--pause-before SQL]
    python sync_worker.py migrate URL [--pause-after SQL]

``--wait-go`` prints ``ready`` once everything is imported and connected and waits for a line
on stdin, so several workers can be released at once. ``--pause-before SQL`` / ``--pause-after
SQL`` print ``paused`` just before / after the first statement starting with ``SQL`` and wait
for a line on stdin: the test then acts at exactly that point. A sync prints the rows it
accepted per table as JSON on its last line.
"""

from __future__ import annotations

import json
import sys

import sqlalchemy as sa

from expansion import pipeline, store


def _wait(message: str) -> None:
    print(message, flush=True)
    if not sys.stdin.readline():
        raise SystemExit("stdin closed before the go")


def _pause_at(prefix: str, event: str) -> None:
    done = []

    def hook(conn, cursor, statement, *args):
        if not done and statement.lstrip().upper().startswith(prefix.upper()):
            done.append(True)
            _wait("paused")

    sa.event.listen(sa.Engine, event, hook)


def main(argv: list[str]) -> None:
    mode, url, *rest = argv
    options = dict(zip(rest[::2], rest[1::2], strict=False)) if mode == "migrate" else {}
    if mode == "migrate":
        if "--pause-after" in options:
            _pause_at(options["--pause-after"], "after_cursor_execute")
        store.connect(url).dispose()
        print(json.dumps({"migrated": True}), flush=True)
        return
    folder, source, *flags = rest
    engine = store.connect(url)
    if "--pause-before" in flags:
        _pause_at(flags[flags.index("--pause-before") + 1], "before_cursor_execute")
    if "--wait-go" in flags:
        _wait("ready")
    report = pipeline.sync_folder(engine, folder, source=source)
    engine.dispose()
    print(json.dumps(report.portfolio.accepted), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
