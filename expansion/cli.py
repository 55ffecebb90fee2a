"""The ``expansion`` command line.

Every command takes ``--db URL`` (env ``EXPANSION_DB_URL``, default ``sqlite:///expansion.db``)
and ``--as-of YYYY-MM-DD`` (env ``EXPANSION_AS_OF``, default today), so every result can be
reproduced.

Startup is kept light: ``expansion --help`` must not load pandas, SQLAlchemy or the engine, so
each command imports what it uses inside its body (tests/test_cli_startup.py checks this).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table

from .errors import ConfigError, ExpansionError, NoDataError, TeamError
from .samples import SAMPLE_AS_OF, SAMPLE_PORTFOLIO

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from . import pipeline
    from .connectors import SourceConfig

app = typer.Typer(
    help="Find, score and explain the expansion revenue in your customer base.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
crm_app = typer.Typer(
    help="Write opportunities back to HubSpot or Salesforce (\\[crm] in expansion.toml).",
    no_args_is_help=True,
)


@app.callback()
def _workspace(
    team: Annotated[
        str | None,
        typer.Option(
            "--team",
            envvar="EXPANSION_TEAM",
            help="Slack workspace id (T0123...) whose data to use, when one database serves "
            "several workspaces (the bot's multi-workspace install).",
        ),
    ] = None,
) -> None:
    """Find, score and explain the expansion revenue in your customer base."""
    if team:
        from . import store

        try:
            store.team_partition(store.database_url(), team)  # say a bad id before any work
        except ExpansionError as exc:
            fail(exc)
        os.environ["EXPANSION_TEAM"] = team


app.add_typer(db_app, name="db")
app.add_typer(crm_app, name="crm")
team_app = typer.Typer(
    help="The people the bot's Assign button suggests (role, capacity), and their workload.",
    no_args_is_help=True,
)
app.add_typer(team_app, name="team")

# Customer text (names, headers, rejected values, paths, errors) reaches these consoles: every
# piece of it goes through ``esc`` (or ``_cells``) so rich never reads it as markup, and emoji
# codes (":thumbs_up:") are never replaced.
out = Console(width=None if Console().is_terminal else 160, emoji=False)
err = Console(stderr=True, emoji=False)


def _cells(*values: object) -> list[str]:
    """Table cells as given: each value escaped for rich."""
    return [esc(str(value)) for value in values]


def parse_as_of(value: str | None) -> date:
    """An ``--as-of`` value as a date (today when not given); a usage error when it is not one."""
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a date; write YYYY-MM-DD") from None


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="EXPANSION_DB_URL",
        help="SQLAlchemy database URL.",
        show_default="sqlite:///expansion.db",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        envvar="EXPANSION_AS_OF",
        help="Score as of this date (YYYY-MM-DD).",
        show_default="today",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", envvar="EXPANSION_CONFIG", help="expansion.toml with \\[scoring] overrides."
    ),
]


def fail(exc: ExpansionError) -> None:
    """Print the engine's message for ``exc`` on stderr and exit with its ``exit_code``."""
    err.print(f"[bold red]error:[/] {esc(str(exc))}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except ExpansionError as exc:  # pragma: no cover - commands catch their own
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(exc.exit_code)


# --------------------------------------------------------------------------- commands


@app.command()
def sync(
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="A folder of exports (accounts.csv, usage.jsonl, ...) or the name of a source "
            "in expansion.toml. Without it, every configured source is synced.",
        ),
    ] = None,
    db: DbOption = None,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
    name: Annotated[
        str, typer.Option("--name", help="Source name for a folder; a sync replaces its rows.")
    ] = "files",
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail the whole sync on any rejected row.")
    ] = False,
    rejects: Annotated[
        Path, typer.Option("--rejects", help="Where to write the rejects report (CSV).")
    ] = Path("expansion-rejects.csv"),
    full: Annotated[
        bool,
        typer.Option("--full", help="Pull everything, not only what changed (drops deletions)."),
    ] = False,
    allow_empty: Annotated[
        bool,
        typer.Option("--allow-empty", help="Accept a source that now gives no rows for a table."),
    ] = False,
) -> None:
    """Sync sources into the database (each in one transaction), then re-score."""
    from . import pipeline, store
    from .config import load_config
    from .connectors import SourceConfig, for_team, load_sources
    from .limits import load_limits

    try:
        engine = store.connect(db)
        configured = for_team(load_sources(config), os.environ.get("EXPANSION_TEAM") or None)
        if source is None:
            if not configured:
                raise ConfigError(
                    "Nothing to sync: give --source DIR, or configure [[sources]] in "
                    "expansion.toml (see `expansion sources`)."
                )
            chosen = configured
        else:
            named = [c for c in configured if c.name == source]
            chosen = named or [
                SourceConfig(name=name, type="files", options={"path": source}, role="files")
            ]
        done = pipeline.sync_all(
            engine,
            chosen,
            as_of=parse_as_of(as_of),
            config=load_config(config),
            strict=strict,
            full=full,
            allow_empty=allow_empty,
            limits=load_limits(config),
            rejects_path=lambda item: (
                rejects if len(chosen) == 1 else _per_source(rejects, item.name)
            ),
            progress=_progress,
        )
        errors = [o.error for o in done.outcomes if o.error is not None]
        if len(chosen) == 1 and errors:  # one source: its error is the command's
            raise errors[0]
        if done.score_error is not None:
            raise done.score_error
        crm_lines: list[str] = []
        if done.reports:
            from . import crm

            crm_lines = crm.after_sync(
                engine,
                [r.run.source for r in done.reports],
                as_of=parse_as_of(as_of),
                config=load_config(config),
                path=config,
            )
    except ExpansionError as exc:
        fail(exc)
    for report in done.reports:
        _print_sync(report)
    for line in crm_lines:
        out.print(esc(line), highlight=False, soft_wrap=True)
    _print_conflicts(engine)
    for failed in done.failures:
        err.print(
            f"[bold red]error:[/] source '{esc(failed.source.name)}' failed and kept its previous "
            f"data: {esc(failed.reason)}",
            highlight=False,
            soft_wrap=True,
        )
    if done.failures:
        raise typer.Exit(1)


def _per_source(path: Path, name: str) -> Path:
    """``expansion-rejects.csv`` -> ``expansion-rejects-crm.csv``: one report per source."""
    return path.with_name(f"{path.stem}-{name}{path.suffix}")


@contextlib.contextmanager
def _progress(item: SourceConfig) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr while ``item`` syncs; yields the step callback."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{item.name}: connecting", total=None)

        def step(message: str) -> None:
            progress.update(task, advance=1, description=f"{item.name}: {message}")

        yield step


def _print_conflicts(engine) -> None:
    from . import store
    from .merge import conflict_counts

    try:
        conflicts = store.conflicts(engine)
    except NoDataError:
        return
    if conflicts.empty:
        return
    out.print(
        f"[yellow]{len(conflicts)} values disagree between sources[/] (the merge rule picked "
        "one; `expansion sources` lists them): " + esc(conflict_counts(conflicts)),
        highlight=False,
    )


@app.command()
def sources(
    db: DbOption = None,
    config: ConfigOption = None,
    conflicts: Annotated[
        int, typer.Option("--conflicts", help="How many disagreeing values to list.")
    ] = 20,
) -> None:
    """The configured sources, their last sync, and where sources disagree."""
    from . import store
    from .connectors import for_team, load_sources

    try:
        engine = store.connect(db)
        configured = for_team(load_sources(config), os.environ.get("EXPANSION_TEAM") or None)
    except ExpansionError as exc:
        fail(exc)
    table = Table(title="Sources")
    for column in ("source", "type", "role", "last sync", "status", "rows", "rejected", "note"):
        table.add_column(column)
    for source_name, last in store.latest_syncs(engine, [c.name for c in configured]):
        item = next((c for c in configured if c.name == source_name), None)
        kind = item.type if item else (last["kind"] if last is not None else "")
        role = item.role if item else (last["role"] if last is not None else "")
        if last is None:
            table.add_row(*_cells(source_name, kind, role, "never", "", "", "", ""))
            continue
        note = ""
        if last["status"] == "failed":
            note = str(last["error"] or "")[:160]
        elif bool(last["incremental"]):
            note = f"incremental since {last['cursor']}"
        if item is None:
            note = (note + " " if note else "") + "(not in expansion.toml)"
        table.add_row(
            *_cells(
                source_name,
                kind,
                role,
                str(last["finished_at"] or last["started_at"])[:19],
                last["status"],
                last["rows_accepted"],
                last["rows_rejected"],
                note,
            )
        )
    out.print(table)
    try:
        found = store.conflicts(engine)
    except NoDataError:
        return
    if found.empty:
        out.print("[green]No conflicts between sources.[/]")
        return
    out.print(f"[yellow]{len(found)} values disagree between sources[/]; the winner is used:")
    for r in found.head(conflicts).itertuples(index=False):
        out.print(
            f"  {r.table} {r.key} {r.column}: {r.winner}={r.value!r} over "
            f"{r.other_source}={r.other_value!r}",
            markup=False,
            highlight=False,
        )


def _print_sync(report: pipeline.SyncReport) -> None:
    table = Table(title=esc(f"Sync of {report.run.location} (source '{report.run.source}')"))
    for column in ("table", "file", "read", "accepted", "rejected"):
        table.add_column(
            column, justify="right" if column in ("read", "accepted", "rejected") else "left"
        )
    for row in report.portfolio.summary().itertuples(index=False):
        table.add_row(*_cells(row.table, Path(row.file).name, row.read, row.accepted, row.rejected))
    out.print(table)
    for tbl, headers in report.portfolio.ignored_columns.items():
        out.print(f"[dim]{esc(f'{tbl}: ignored unknown columns: ' + ', '.join(headers))}[/]")
    if report.rejected:
        rejects = report.portfolio.rejects
        out.print(
            f"[yellow]{report.run.rows_rejected} rows rejected[/] "
            f"(report: {esc(str(report.rejects_path))}). First ones:"
        )
        for r in rejects.head(10).itertuples(index=False):
            out.print(
                f"  {r.file} row {r.row}: {r.reason}"
                + (f" (value '{r.value}')" if r.value else ""),
                markup=False,
                highlight=False,
            )
    else:
        out.print("[green]All rows accepted.[/]")


@app.command()
def score(
    db: DbOption = None,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
) -> None:
    """Score the stored portfolio and keep the results (find and the bot read them)."""
    from . import pipeline, store
    from .config import load_config

    try:
        engine = store.connect(db)
        run_id = pipeline.score(
            engine, as_of=parse_as_of(as_of), config=load_config(config), force=True
        )
    except ExpansionError as exc:
        fail(exc)
    out.print(f"Scored as of {parse_as_of(as_of)} (run {run_id}).")


@app.command()
def find(
    scope: Annotated[
        list[str] | None, typer.Argument(help="e.g. enterprise 60 / renewing in Q4 / owner x@y.com")
    ] = None,
    db: DbOption = None,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
    min_propensity: Annotated[int | None, typer.Option("--min-propensity", min=0, max=100)] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json, markdown or csv")] = "table",
    target: Annotated[
        float | None, typer.Option("--target", help="Expansion ARR target for coverage.")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help="Only the N best opportunities (the summary still covers the whole scope).",
        ),
    ] = None,
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            help="Only these fields of each opportunity, comma-separated, in this order "
            "(json and csv), e.g. account_name,type,expansion_arr.",
        ),
    ] = None,
) -> None:
    """List scored opportunities in a scope, best first."""
    if fmt not in ("table", "json", "markdown", "csv"):
        raise typer.BadParameter("--format must be table, json, markdown or csv")
    chosen = _field_list(fields, fmt)
    from . import pipeline, store
    from .config import load_config
    from .playbook import render_csv, render_find_markdown

    try:
        engine = store.connect(db)
        result = pipeline.find(
            engine,
            " ".join(scope or []),
            as_of=parse_as_of(as_of),
            config=load_config(config),
            min_propensity=min_propensity,
            target=target,
            keep=False,
        )
    except ExpansionError as exc:
        fail(exc)
    if chosen:
        valid = result.opportunity_fields()
        unknown = [name for name in chosen if name not in valid]
        if unknown:
            raise typer.BadParameter(
                f"unknown field(s) {', '.join(unknown)}. Valid fields: {', '.join(valid)}.",
                param_hint="'--fields'",
            )
    found = len(result.opportunities)
    if limit is not None and found > limit:
        result = dataclasses.replace(result, opportunities=result.opportunities.head(limit))
    if fmt == "json":
        result.write_json(sys.stdout, fields=chosen)
    elif fmt == "markdown":
        sys.stdout.write(render_find_markdown(result))
        if len(result.opportunities) < found:
            sys.stdout.write(
                f"\n_Showing the {len(result.opportunities)} best of {found} opportunities "
                "(--limit)._\n"
            )
    elif fmt == "csv":
        sys.stdout.write(render_csv(result, fields=chosen))
    else:
        _print_summary(result)
        _print_table(result, limit=None)
        if len(result.opportunities) < found:
            out.print(
                f"Showing the {len(result.opportunities)} best of {found} opportunities (--limit).",
                markup=False,
            )


def _field_list(fields: str | None, fmt: str) -> list[str] | None:
    """``--fields a,b`` as names, in order, each once (checked against the data after the find)."""
    if fields is None:
        return None
    if fmt not in ("json", "csv"):
        raise typer.BadParameter(
            "--fields works with --format json or csv", param_hint="'--fields'"
        )
    names = list(dict.fromkeys(name.strip() for name in fields.split(",") if name.strip()))
    if not names:
        raise typer.BadParameter(
            "give field names separated by commas, e.g. account_name,type,expansion_arr",
            param_hint="'--fields'",
        )
    return names


@app.command()
def playbook(
    scope: Annotated[list[str] | None, typer.Argument(help="Scope, as for find.")] = None,
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the playbook.")] = Path(
        "expansion-playbook.md"
    ),
    db: DbOption = None,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
    target: Annotated[float | None, typer.Option("--target")] = None,
    name: Annotated[
        str, typer.Option("--name", help="Portfolio name in the header.")
    ] = "Customer portfolio",
) -> None:
    """Write expansion-playbook.md for a scope."""
    from . import pipeline, store
    from .config import load_config
    from .playbook import calibration_context, write_playbook

    try:
        engine = store.connect(db)
        result = pipeline.find(
            engine,
            " ".join(scope or []),
            as_of=parse_as_of(as_of),
            config=load_config(config),
            target=target,
            keep=False,
        )
        calibration = calibration_context(engine, load_config(config), as_of=parse_as_of(as_of))
    except ExpansionError as exc:
        fail(exc)
    written = write_playbook(result, out_path, portfolio_name=name, calibration=calibration)
    out.print(
        f"Wrote {esc(str(out_path))} ({result.summary['opportunities']} opportunities) and its "
        f"chart {esc(str(written[1]))}."
    )


@app.command()
def account(
    name: Annotated[list[str], typer.Argument(help="Account name or id.")],
    db: DbOption = None,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
) -> None:
    """Print one account's expansion profile and opportunities (the deep-dive)."""
    from . import pipeline, store
    from .config import load_config
    from .playbook import render_account

    try:
        engine = store.connect(db)
        result = pipeline.find(
            engine, " ".join(name), as_of=parse_as_of(as_of), config=load_config(config), keep=False
        )
    except ExpansionError as exc:
        fail(exc)
    if len(result.scope.account_ids) != 1:
        fail(
            NoDataError(
                f"'{' '.join(name)}' is not one account name; try `expansion find {' '.join(name)}`"
            )
        )
    sys.stdout.write(render_account(result, result.scope.account_ids[0]))


@app.command()
def demo(
    db: DbOption = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="As-of date.", show_default=str(SAMPLE_AS_OF)),
    ] = None,
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the playbook.")] = Path(
        "expansion-playbook.md"
    ),
) -> None:
    """Load the bundled sample portfolio, score it, show Tier 1 and write expansion-playbook.md."""
    from . import pipeline, store
    from .config import DEFAULT_CONFIG
    from .connectors import SourceConfig
    from .playbook import calibration_context, write_playbook

    when = parse_as_of(as_of) if as_of else SAMPLE_AS_OF
    try:
        engine = store.connect(db)
        sample = SourceConfig(name="sample", type="files", options={"path": str(SAMPLE_PORTFOLIO)})
        with _progress(sample) as step:
            report = pipeline.sync_source(
                engine, sample, rejects_path=Path(os.devnull), progress=step
            )
        result = pipeline.find(engine, "", as_of=when)
        calibration = calibration_context(engine, DEFAULT_CONFIG, as_of=when)
    except ExpansionError as exc:
        fail(exc)
    out.print(
        f"Loaded the sample portfolio: {report.run.rows_accepted} rows from "
        f"{len(report.portfolio.files)} files ({', '.join(sorted(Path(f).suffix for f in report.portfolio.files.values()))})."
    )
    _print_summary(result)
    _print_table(result, tier=1)
    written = write_playbook(
        result,
        out_path,
        portfolio_name="Sample portfolio (bundled demo)",
        calibration=calibration,
    )
    out.print(
        f"\nWrote [bold]{esc(str(out_path))}[/] and its chart {esc(str(written[1]))}. Next: "
        "`expansion find enterprise`, "
        "`expansion account <name>`."
    )


@app.command()
def generate(
    accounts: Annotated[
        int, typer.Option("--accounts", min=1, help="How many accounts the book has.")
    ],
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Same seed, same files, byte for byte.")
    ] = 42,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder to write the portfolio files into.")
    ] = Path("generated-portfolio"),
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="The date the book is as of: usage months end there, renewals follow it.",
            show_default=str(SAMPLE_AS_OF),
        ),
    ] = None,
    formats: Annotated[
        str,
        typer.Option(
            "--formats",
            help="auto: the sample's formats (usage.jsonl, features.xlsx) up to 2,000 accounts, "
            "csv above; sample: always the sample's; fast: always csv.",
        ),
    ] = "auto",
    force: Annotated[
        bool, typer.Option("--force", help="Replace the portfolio files of a non-empty --out.")
    ] = False,
) -> None:
    """Write a synthetic portfolio in the data contract (for demos, tests and benchmarks)."""
    from . import generate as generator

    if formats not in generator.FORMATS:
        raise typer.BadParameter(f"--formats must be one of {', '.join(generator.FORMATS)}")
    when = parse_as_of(as_of) if as_of else SAMPLE_AS_OF
    try:
        report = generator.generate(
            accounts, seed=seed, out=out_dir, as_of=when, formats=formats, force=force
        )
    except ExpansionError as exc:
        fail(exc)
    table = Table(
        title=f"Generated {report.accounts:,} accounts (seed {report.seed}, as of {report.as_of})"
    )
    table.add_column("table")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, rows in report.rows.items():
        table.add_row(*_cells(name, report.files[name], f"{rows:,}"))
    table.add_row("total", "", f"{report.total_rows:,}")
    out.print(table)
    out.print(
        f"Wrote {esc(str(report.out))} in {report.seconds:.1f} s. Next: "
        f"`expansion sync --source {esc(str(report.out))} --as-of {report.as_of}`, then "
        f"`expansion find --as-of {report.as_of}`."
    )


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None, as_of: AsOfOption = None) -> None:
    """Apply database migrations (also done automatically by every command)."""
    from . import store

    store.connect(db)
    out.print(f"Database {esc(store.database_url(db))} is up to date.")


# --------------------------------------------------------------------------- output


def _print_summary(result: pipeline.FindResult) -> None:
    from .playbook import money

    s = result.summary
    table = Table(
        title=esc(f"Expansion summary: {result.scope.describe()} (as of {result.as_of})"),
        show_header=False,
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("Accounts analysed", f"{s['accounts_analyzed']}"),
        ("Portfolio ARR", money(s["portfolio_arr"])),
        (
            "Opportunities",
            f"{s['opportunities']} across {s['accounts_with_opportunities']} accounts",
        ),
        ("Expansion ARR identified", money(s["expansion_arr"])),
        ("Expected value", money(s["expected_value"])),
        *[
            (f"Tier {t}", f"{s['tiers'][t]['count']} worth {money(s['tiers'][t]['expansion_arr'])}")
            for t in "12345"
        ],
        (
            "Projected NRR / GRR",
            f"{s['nrr']['nrr']:.1%} / {s['nrr']['grr']:.1%}" if s["nrr"]["nrr"] else "n/a",
        ),
        (
            "Stabilize first / activation / conversion",
            f"{s['stabilize_first']} / {s['activation_accounts']} / {s['conversion_candidates']}",
        ),
    ]
    if s.get("coverage"):
        rows.append(("Coverage vs target", f"{s['coverage']['pipeline_coverage']:.1f}x pipeline"))
    for label, value in rows:
        table.add_row(*_cells(label, value))
    out.print(table)


def _print_table(
    result: pipeline.FindResult, *, tier: int | None = None, limit: int | None = None
) -> None:
    from .playbook import money

    opps = result.opportunities
    if tier is not None:
        opps = opps[opps["tier"] == tier]
    if limit:
        opps = opps.head(limit)
    title = f"Tier {tier} opportunities" if tier else "Opportunities"
    table = Table(title=f"{title} ({len(opps)})")
    for column, justify in (
        ("Account", "left"),
        ("Type", "left"),
        ("Tier", "right"),
        ("Score", "right"),
        ("Prop.", "right"),
        ("Expansion ARR", "right"),
        ("Expected", "right"),
        ("Priority", "left"),
        ("Top signal", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")
    evidence = result.evidence_lists()
    for o in opps.itertuples():
        signal = evidence.get(o.opportunity_id, [""])[0]
        table.add_row(
            *_cells(
                o.account_name,
                o.type_label,
                o.tier,
                f"{o.score:.1f}",
                o.propensity,
                money(o.expansion_arr),
                money(o.expected_value),
                o.priority,
                signal,
            )
        )
    if not len(opps):
        out.print(f"No {title.lower()} in this scope.")
        return
    out.print(table)


# --------------------------------------------------------------------------- CRM write-back


@crm_app.command("setup")
def crm_setup(config: ConfigOption = None) -> None:
    """Check the pipeline and stage; create the HubSpot deal property for the opportunity id
    (or say which Salesforce field to create)."""
    from . import crm

    try:
        settings = crm.load_settings(config)
        source = crm.crm_source(settings, path=config)
        for line in crm.setup(settings=settings, source=source):
            out.print(esc(line), highlight=False, soft_wrap=True)
    except ExpansionError as exc:
        fail(exc)


@crm_app.command("status")
def crm_status(db: DbOption = None, config: ConfigOption = None) -> None:
    """Which CRM, the pipeline and stages, records written and the last write-back errors."""
    from . import crm, store

    try:
        settings = crm.load_settings(config)
        source = crm.crm_source(settings, path=config)
        written = crm.records(store.connect(db), source=source.name)
    except ExpansionError as exc:
        fail(exc)
    stages = settings.stages
    out.print(
        esc(
            f"{source.type} source '{source.name}': pipeline {settings.pipeline}, new records in "
            f"{stages['open']}, won = {', '.join(stages['won'])}, lost = "
            f"{', '.join(stages['lost'])}, create on assign: "
            f"{'yes' if settings.create_on_assign else 'no'}"
        ),
        highlight=False,
        soft_wrap=True,
    )
    ok = written[written["status"] == "written"]
    out.print(
        f"{len(ok)} records ({int((ok['origin'] == 'matched').sum())} matched hand-made deals, "
        f"{int(ok['unowned'].astype(bool).sum())} without an owner)",
        highlight=False,
    )
    for row in written[written["status"] == "failed"].head(10).itertuples():
        out.print(
            esc(f"failed {row.opportunity_id} at {row.error_at}: {row.error}"),
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def calibration(
    db: DbOption = None,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Close probability: predicted vs actual win rate per band and type, Brier score."""
    from . import calibration as cal
    from . import store
    from .config import load_config

    try:
        engine = store.connect(db)
        cfg = load_config(config)
        day = parse_as_of(as_of)
        result = cal.for_engine(engine, cfg, as_of=day)
        outcomes = cal.decided_outcomes(engine, as_of=day, cfg=cfg, until=cal.last_sync_at(engine))
        table = cal.report(outcomes, result, cfg)
    except ExpansionError as exc:
        fail(exc)
    if json_out:
        print(
            json.dumps(
                {
                    "calibrated": result.calibrated,
                    "decided": result.decided,
                    "minimum": result.minimum,
                    "stale": result.stale,
                    "note": result.note(),
                    "bands": result.bands,
                    "report": json.loads(table.to_json(orient="records")),
                },
                indent=2,
            )
        )
        return
    out.print(esc(result.note()), highlight=False, soft_wrap=True)
    if result.stale:
        out.print(
            f"{result.stale} open CRM records are 90+ days past their close date: "
            "reported, not counted as lost.",
            highlight=False,
        )
    for row in table.itertuples():
        out.print(
            esc(
                f"{row.band:>12} {row.type:<26} n={row.count:<4} predicted {row.predicted:.0%} "
                f"actual {row.actual:.0%}  Brier seed {row.brier_seed:.3f} -> {row.brier:.3f}"
            ),
            highlight=False,
        )


# --------------------------------------------------------------------------- team


@team_app.command("list")
def team_list(db: DbOption = None) -> None:
    """The team: e-mail, Slack id, name, role, capacity, where they came from."""
    from . import store, team

    members = team.members(store.connect(db))
    if members.empty:
        out.print("Nobody is in the team yet: `expansion team add` or `expansion team import`.")
        return
    table = Table("email", "slack id", "name", "role", "capacity", "from")
    for row in members.itertuples():
        table.add_row(
            *_cells(
                row.email,
                row.slack_user_id if isinstance(row.slack_user_id, str) else "",
                row.name if isinstance(row.name, str) else "",
                row.role,
                int(row.capacity),
                "CRM" if row.origin == "crm" else "Slack",
            )
        )
    out.print(table)


@team_app.command("add")
def team_add(
    email: Annotated[str, typer.Argument(help="Their e-mail (as the CRM names owners).")],
    role: Annotated[str, typer.Argument(help="CSM, AE or other.")],
    capacity: Annotated[int, typer.Argument(help="Most open assigned opportunities.")] = 10,
    slack_id: Annotated[str | None, typer.Option("--slack-id", help="Their Slack user id.")] = None,
    name: Annotated[str, typer.Option("--name", help="Their name.")] = "",
    db: DbOption = None,
) -> None:
    """Add a person to the team (or update their role and capacity)."""
    from . import store, team

    try:
        new = team.add_member(
            store.connect(db),
            email=email,
            role=role,
            capacity=capacity,
            slack_user_id=slack_id,
            name=name,
            actor="cli",
        )
    except ExpansionError as exc:
        fail(exc)
    out.print(esc(f"{'Added' if new else 'Updated'} {email.strip().lower()}."), highlight=False)


@team_app.command("remove")
def team_remove(
    email: Annotated[str, typer.Argument(help="Their e-mail.")], db: DbOption = None
) -> None:
    """Take a person out of suggestions (their assignments stay)."""
    from . import store, team

    try:
        removed = team.remove_member(store.connect(db), email=email, actor="cli")
    except ExpansionError as exc:
        fail(exc)
    if removed is None:
        fail(TeamError(f"{email} is not in the team."))
    out.print(esc(f"Removed {removed}."), highlight=False)


@team_app.command("import")
def team_import(
    db: DbOption = None,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
    capacity: Annotated[int, typer.Option(help="Capacity of each person added.")] = 10,
) -> None:
    """Add every account owner of the synced data as a CSM (those removed stay out)."""
    from . import pipeline, store, team
    from .config import load_config

    try:
        engine = store.connect(db)
        result = pipeline.find(engine, "", as_of=parse_as_of(as_of), config=load_config(config))
        added = team.import_owners(
            engine, result.profiles["owner"].tolist(), actor="cli", capacity=capacity
        )
    except ExpansionError as exc:
        fail(exc)
    out.print(esc(f"Added {len(added)}: {', '.join(added) or 'nobody new'}."), highlight=False)


@team_app.command("workload")
def team_workload(
    db: DbOption = None, as_of: AsOfOption = None, config: ConfigOption = None
) -> None:
    """Each person's open expansion pipeline: open, Tier 1, expected value, capacity used."""
    import pandas as pd

    from . import pipeline, store, team
    from .config import load_config
    from .numbers import money, pct

    try:
        engine = store.connect(db)
        result = pipeline.find(engine, "", as_of=parse_as_of(as_of), config=load_config(config))
        load = team.workload(result.opportunities, team.members(engine))
    except ExpansionError as exc:
        fail(exc)
    table = Table("slack id", "email", "role", "open", "Tier 1", "EV", "capacity", "used")
    for row in load.itertuples():
        used = "" if pd.isna(row.used) or row.used == float("inf") else pct(row.used)
        table.add_row(
            *_cells(
                row.slack_user_id,
                row.email if isinstance(row.email, str) else "",
                row.role if isinstance(row.role, str) else "",
                row.open,
                row.tier1,
                money(row.open_ev),
                "" if pd.isna(row.capacity) else int(row.capacity),
                used,
            )
        )
    out.print(table)
