"""The benchmark: ``python -m benchmarks.run`` (see docs/performance.md).

For each size it generates a synthetic book (``expansion generate``, fixed seed), then runs
each stage in its own process on a fresh SQLite database: sync (files -> database), score
(database -> opportunities persisted), ``find enterprise``, playbook rendering and digest
building, with each stage's peak memory (its process and any worker processes under it).
On the largest size up to 100k it measures the slash command over the real HTTP server and the
local Slack emulator; on 10k it checks the engine against the row-by-row reference in
:mod:`benchmarks.reference` and reports the speed-up.

It prints a table and writes ``benchmarks/results.md``. Figures are measurements, not
assertions: the test suite only runs this at 2k accounts as a smoke test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

AS_OF = date(2026, 11, 16)
STAGES = ("sync", "score", "find", "find-cli", "playbook", "digest")
#: From 1M accounts only what the 1M targets are about: the playbook of a 1M-account book is
#: a gigabyte of Markdown nobody reads, and the digest's cost is find's.
LARGE = 1_000_000
LARGE_STAGES = ("sync", "score", "find", "find-cli")
RESULTS = Path(__file__).parent / "results.md"

#: (size, stage or figure, limit, unit): the issue's targets on a 2-core machine.
TARGETS = [
    (100_000, "sync", 15.0, "s"),
    (100_000, "score", 5.0, "s"),
    (100_000, "find", 1.0, "s"),
    (100_000, "find-cli", 2.0, "s"),
    (1_000_000, "sync", 120.0, "s"),
    (1_000_000, "sync peak memory", 4096.0, "MB"),
    (1_000_000, "score", 60.0, "s"),
    (1_000_000, "score peak memory", 4096.0, "MB"),
]


@dataclass
class Measured:
    accounts: int
    stages: dict[str, dict] = field(default_factory=dict)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    total = memory_total_mb()
    memory = f"{total / 1024:.0f} GiB" if total else ""
    import numpy
    import pandas
    import sqlalchemy

    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": f"pandas {pandas.__version__}, numpy {numpy.__version__}, "
        f"SQLAlchemy {sqlalchemy.__version__}",
    }


def run_stage(
    stage: str, db_url: str, data: Path, as_of: date, *, memory_limit_mb: float | None = None
) -> dict:
    """One stage in a fresh process, with its wall time and peak memory.

    A stage that fails, or whose memory passes ``memory_limit_mb`` (it is stopped there, so a
    1M-account run cannot take the machine down), comes back as ``{"error": ...}``.
    """
    args = [stage, "--db", db_url, "--data", str(data), "--as-of", as_of.isoformat()]
    stopped: list[str] = []
    ticks = cpu_ticks()
    with tempfile.TemporaryFile() as err_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.stage", *args],
            stdout=subprocess.PIPE,
            stderr=err_file,
            cwd=Path(__file__).parent.parent,
        )
        tree_peak = [0.0]
        done = threading.Event()
        watch = threading.Thread(
            target=_watch_memory,
            args=(process.pid, done, memory_limit_mb, stopped, tree_peak),
            daemon=True,
        )
        watch.start()
        out = process.stdout.read().decode()
        process.stdout.close()
        # wait4 gives this child's own peak RSS (ru_maxrss, KiB on Linux); with worker
        # processes the peak is that of the whole process tree, sampled.
        _, status, usage = os.wait4(process.pid, 0)
        done.set()
        process.returncode = os.waitstatus_to_exitcode(status)
        watch.join()
        err_file.seek(0)
        err = err_file.read().decode(errors="replace")
    peak_mb = max(usage.ru_maxrss / 1024, tree_peak[0])
    steal = steal_percent(ticks, cpu_ticks())
    if stopped:
        return {"error": stopped[0], "peak_mb": peak_mb}
    if process.returncode != 0:
        lines = [line for line in err.strip().splitlines() if line.strip()]
        return {
            "error": f"failed (exit {process.returncode}): {lines[-1] if lines else 'no output'}",
            "peak_mb": peak_mb,
        }
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_mb"] = peak_mb
    if steal is not None:
        result["steal_percent"] = steal
    return result


def _watch_memory(
    pid: int, done: threading.Event, limit_mb: float | None, stopped: list[str], peak: list[float]
) -> None:
    """Until ``done``, sample the resident memory of process ``pid`` and every process under it
    (scoring's worker processes) into ``peak``; stop them all when the sum passes ``limit_mb``.
    (It never waits for the process: the caller reaps it, with its rusage.)"""
    while not done.is_set():
        pids = _process_tree(pid)
        total = sum(_rss_mb(member) for member in pids)
        peak[0] = max(peak[0], total)
        if limit_mb and total > limit_mb:
            stopped.append(f"stopped at the {limit_mb:,.0f} MB memory limit")
            for member in reversed(pids):
                with contextlib.suppress(OSError):
                    os.kill(member, 9)
            return
        time.sleep(0.05)


def _process_tree(root: int) -> list[int]:
    """``root`` and its descendants (Linux /proc), parents first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, i = [root], 0
    while i < len(tree):
        tree += children.get(tree[i], [])
        i += 1
    return tree


def _rss_mb(pid: int) -> float:
    return _proc_mb(f"/proc/{pid}/status", "VmRSS:") or 0.0


def _proc_mb(path: str, key: str) -> float | None:
    """A kB figure of a /proc file (``key`` starts its line) in MB; ``None`` when absent."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def memory_total_mb() -> float | None:
    """This machine's memory (``None`` where /proc/meminfo is not there)."""
    return _proc_mb("/proc/meminfo", "MemTotal")


def cpu_ticks() -> tuple[int, int] | None:
    """(all CPU time, CPU time the host took: "steal") so far, in clock ticks, from
    /proc/stat; ``None`` where it is not there. On a shared virtual machine, steal is the
    time this machine's cores waited for the host's: the sign of a busy host."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(fields), fields[7]) if len(fields) == 8 else None


def steal_percent(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of CPU time the host took between two :func:`cpu_ticks` readings."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    return 100 * (after[1] - before[1]) / (after[0] - before[0])


def quietness(before: tuple[int, int] | None, load: float | None) -> str:
    """How busy the machine was: its load when the run started and the host's steal since."""
    parts = []
    if load is not None:
        parts.append(f"load average {load:.2f} at the start")
    steal = steal_percent(before, cpu_ticks())
    if steal is not None:
        parts.append(f"CPU time taken by the host (steal) during the run {steal:.1f}%")
    return "; ".join(parts)


def generate(accounts: int, seed: int, folder: Path) -> None:
    """Write the book once per (size, seed)."""
    marker = folder / ".benchmark"
    if marker.exists() and marker.read_text() == f"{accounts} {seed}":
        return
    subprocess.run(
        [
            sys.executable,
            "-m",
            "expansion",
            "generate",
            "--accounts",
            str(accounts),
            "--seed",
            str(seed),
            "--out",
            str(folder),
            "--as-of",
            AS_OF.isoformat(),
            "--force",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    marker.write_text(f"{accounts} {seed}")


def measure_size(
    accounts: int,
    seed: int,
    workdir: Path,
    console: Console,
    *,
    memory_limit_mb: float | None = None,
) -> tuple[Measured, str]:
    folder = workdir / f"book-{accounts}"
    measured = Measured(accounts=accounts)
    console.print(f"[bold]{accounts:,} accounts[/]: generating…")
    generate(accounts, seed, folder)
    db = workdir / f"bench-{accounts}.db"
    for path in workdir.glob(f"bench-{accounts}.db*"):
        path.unlink()
    db_url = f"sqlite:///{db}"
    for stage in LARGE_STAGES if accounts >= LARGE else STAGES:
        console.print(f"  {stage}…")
        result = run_stage(stage, db_url, folder, AS_OF, memory_limit_mb=memory_limit_mb)
        measured.stages[stage] = result
        if "error" in result:  # the later stages need this one's output
            console.print(f"  [red]{stage} {result['error']}[/]")
            break
    return measured, db_url


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def _rate(stage: dict) -> str:
    if "rows_per_second" in stage:
        return f"{stage['rows']:,} rows, {stage['rows_per_second']:,.0f} rows/s"
    if "accounts_per_second" in stage:
        return (
            f"{stage['accounts']:,} accounts ({stage['opportunities']:,} opportunities), "
            f"{stage['accounts_per_second']:,.0f} accounts/s"
        )
    if "warm_seconds" in stage:
        return (
            f"{stage['opportunities']:,} opportunities, {stage['tier1']:,} Tier 1; warm "
            f"{_fmt_seconds(stage['warm_seconds'])} (run decoded), repeat "
            f"{_fmt_seconds(stage.get('repeat_seconds'))} (shared answer)"
        )
    if "json_bytes" in stage:
        return (
            f"whole process, {stage['json_bytes'] / 1e6:,.1f} MB of JSON; floor (a process "
            f"reading the stored run) {_fmt_seconds(stage['floor_seconds'])}: "
            f"{stage['seconds'] / stage['floor_seconds']:.1f}x the floor"
        )
    if "characters" in stage:
        return f"{stage['characters']:,} characters"
    if "messages" in stage:
        return f"{stage['messages']} messages"
    return ""


#: (figure, key in measure_slash's result, limit in ms).
SLASH_TARGETS = [("slash ack p99", "ack_p99_ms", 100), ("answer posted p95", "answer_p95_ms", 1500)]


def _stage_rows(sizes: list[Measured]) -> list[tuple[str, str, str, str, str]]:
    """(accounts, stage, time, peak memory, detail) for each stage that ran."""
    return [
        (
            f"{m.accounts:,}",
            stage,
            _fmt_seconds(m.stages[stage].get("seconds")),
            f"{m.stages[stage]['peak_mb']:,.0f} MB",
            m.stages[stage].get("error") or _rate(m.stages[stage]) + _stolen(m.stages[stage]),
        )
        for m in sizes
        for stage in STAGES
        if stage in m.stages
    ]


#: Steal above this share of a stage's CPU time is shown beside its figures.
NOTABLE_STEAL = 2.0


def _stolen(stage: dict) -> str:
    steal = stage.get("steal_percent")
    if steal is None or steal < NOTABLE_STEAL:
        return ""
    return f"; host took {steal:.0f}% of the CPU (steal): slower than on a quiet machine"


def verdicts(
    sizes: list[Measured], slash: dict | None, reference: dict | None
) -> list[tuple[str, str, str, str]]:
    """(target, limit, measured, verdict) for each target this run measured."""
    by_size = {m.accounts: m for m in sizes}
    rows = []
    for accounts, what, limit, unit in TARGETS:
        m = by_size.get(accounts)
        stage = what.split()[0]
        if m is None:
            continue
        if stage not in m.stages or "error" in m.stages[stage]:
            why = m.stages.get(stage, {}).get("error", "an earlier stage failed")
            rows.append(
                (f"{accounts:,}: {what}", f"<= {limit:g} {unit}", "-", f"not measured: {why}")
            )
            continue
        value = m.stages[stage]["peak_mb"] if "memory" in what else m.stages[stage]["seconds"]
        shown = f"{value:,.0f} MB" if unit == "MB" else _fmt_seconds(value)
        verdict = "met" if value <= limit else f"missed ({value / limit:.1f}x the target)"
        rows.append((f"{accounts:,}: {what}", f"<= {limit:g} {unit}", shown, verdict))
    if slash:
        for what, key, limit in SLASH_TARGETS:
            rows.append(
                (
                    f"{slash.get('accounts', 0):,}: {what}",
                    f"<= {limit} ms",
                    f"{slash[key]:.0f} ms",
                    "met" if slash[key] <= limit else "missed",
                )
            )
    if reference:
        ok = reference["speedup"] >= 20 and not reference["differences"]
        rows.append(
            (
                f"{reference['accounts']:,}: engine vs reference",
                ">= 20x, identical",
                f"{reference['speedup']:.0f}x",
                "met" if ok else "missed",
            )
        )
    return rows


def render(
    sizes: list[Measured],
    slash: dict | None,
    reference: dict | None,
    info: dict[str, str],
    seed: int,
    busy: str = "",
) -> str:
    """results.md; ``busy``: how busy the machine was (:func:`quietness`)."""
    lines = [
        "# Benchmark results",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks.run` "
        f"(generator seed {seed}, as of {AS_OF}, SQLite).",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items() if v) + ".",
        *(["", f"How busy it was: {busy}."] if busy else []),
        "",
        "| Accounts | Stage | Time | Peak memory | Detail |",
        "|---:|---|---:|---:|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in _stage_rows(sizes)]
    if slash:
        lines += [
            "",
            f"## Slash command (`/find-expansion-opportunities enterprise`, {slash.get('accounts', 0):,} accounts)",
            "",
            f"{slash['commands']} commands, {slash.get('concurrency', slash['commands'])} at once, "
            "over the real HTTP server and the local Slack emulator.",
            "",
            "| Figure | Value |",
            "|---|---:|",
            f"| ack p50 | {slash['ack_p50_ms']:.0f} ms |",
            f"| ack p99 | {slash['ack_p99_ms']:.0f} ms |",
            f"| answer posted p50 | {slash['answer_p50_ms']:.0f} ms |",
            f"| answer posted p95 | {slash['answer_p95_ms']:.0f} ms |",
            f"| first (cold) answer | {slash.get('cold_answer_ms', 0):.0f} ms |",
            f"| answered | {slash['answered']} of {slash['commands']} |",
        ]
        if slash.get("errors"):
            lines += ["", "Errors: " + "; ".join(slash["errors"][:5])]
    if reference:
        lines += [
            "",
            f"## Engine vs the row-by-row reference ({reference['accounts']:,} accounts)",
            "",
            f"Engine {_fmt_seconds(reference['engine_seconds'])}, reference "
            f"{_fmt_seconds(reference['reference_seconds'])}: **{reference['speedup']:.0f}x**; "
            + (
                "opportunities identical."
                if not reference["differences"]
                else "**opportunities differ**: " + "; ".join(reference["differences"][:5])
            ),
        ]
    met = verdicts(sizes, slash, reference)
    if met:
        lines += ["", "## Targets", "", "| Target | Limit | Measured | |", "|---|---:|---:|---|"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in met]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="account counts, comma-separated"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/expansion-benchmark"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--reference-size", type=int, default=10_000)
    parser.add_argument("--slash-size", type=int, default=100_000)
    parser.add_argument("--slash-commands", type=int, default=20)
    parser.add_argument("--no-slash", action="store_true", help="skip the slash-command run")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference check")
    parser.add_argument(
        "--memory-limit-mb",
        type=float,
        default=None,
        help="stop a stage whose memory passes this (default: 80%% of the machine's)",
    )
    args = parser.parse_args(argv)
    memory_limit_mb = args.memory_limit_mb or (memory_total_mb() or 0) * 0.8 or None
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    args.workdir.mkdir(parents=True, exist_ok=True)
    console = Console()
    info = machine()
    ticks, load = cpu_ticks(), (os.getloadavg()[0] if hasattr(os, "getloadavg") else None)

    measured: list[Measured] = []
    databases: dict[int, str] = {}
    for accounts in sizes:
        m, db_url = measure_size(
            accounts, args.seed, args.workdir, console, memory_limit_mb=memory_limit_mb
        )
        measured.append(m)
        if not any("error" in stage for stage in m.stages.values()):
            databases[accounts] = db_url  # scored: the slash run and the reference can use it

    slash = None
    slash_size = max([s for s in databases if s <= args.slash_size], default=None)
    if slash_size is not None and not args.no_slash:
        console.print(f"[bold]slash command[/] on {slash_size:,} accounts…")
        from benchmarks.slash import measure_slash

        slash = measure_slash(
            databases[slash_size],
            as_of=AS_OF.isoformat(),
            commands=args.slash_commands,
            concurrency=args.slash_commands,
            workdir=args.workdir / "slash",
        )
        slash["accounts"] = slash_size
        slash["concurrency"] = args.slash_commands

    reference = None
    reference_size = min(databases, key=lambda s: abs(s - args.reference_size), default=None)
    if reference_size and not args.no_reference:
        console.print(f"[bold]row-by-row reference[/] on {reference_size:,} accounts…")
        reference = _reference(databases[reference_size])
        reference["accounts"] = reference_size

    table = Table(title="Benchmark")
    for column in ("Accounts", "Stage", "Time", "Peak memory", "Detail"):
        table.add_column(column, justify="right" if column != "Detail" else "left")
    for row in _stage_rows(measured):
        table.add_row(*row)
    console.print(table)
    targets = Table(title="Targets")
    for column in ("Target", "Limit", "Measured", ""):
        targets.add_column(column)
    for row in verdicts(measured, slash, reference):
        targets.add_row(*row)
    console.print(targets)
    busy = quietness(ticks, load)
    console.print(f"How busy the machine was: {busy}")
    args.out.write_text(
        render(measured, slash, reference, info, args.seed, busy=busy), encoding="utf-8"
    )
    console.print(f"Wrote {args.out}")
    return 0


def _reference(db_url: str) -> dict:
    from benchmarks.reference import run_comparison
    from expansion import store
    from expansion.config import DEFAULT_CONFIG

    engine = store.connect(db_url)
    try:
        tables = store.load_tables(engine)
    finally:
        engine.dispose()
    return run_comparison(tables, AS_OF, DEFAULT_CONFIG)


if __name__ == "__main__":
    raise SystemExit(main())
