"""Customer text in the CLI's rich output is printed as given, never read as markup."""

from __future__ import annotations

import shutil

import sqlalchemy as sa
from test_cli import cli

from expansion import pipeline, store

AS_OF = "2026-11-16"
# Closing a tag that is not open is rich's MarkupError; [b] would silently turn text bold.
NAME = "[/x] Quantica [b]:thumbs_up:"


def _hostile_copy(folder):
    """The sample portfolio with markup in an account name, a header, a rejected value."""
    shutil.copytree(pipeline.SAMPLE_PORTFOLIO, folder)
    accounts = folder / "accounts.csv"
    lines = accounts.read_text().splitlines()
    lines[0] += ",[/x]"
    lines[1:] = [line + ",note" for line in lines[1:]]
    lines[1] = lines[1].replace("Helios Health Systems", NAME)
    broken = lines[2].split(",")
    lines.append(",".join(["ACC-9999", "[/y] Broken", "[/x]", *broken[3:]]))
    accounts.write_text("\n".join(lines) + "\n")


def test_markup_in_customer_text_is_printed_as_given(tmp_path):
    folder = tmp_path / "exports[" / "x]"  # the folder's path holds "[/x]" too
    _hostile_copy(folder)
    db = f"sqlite:///{tmp_path / 'x.db'}"

    done = cli(
        "sync", "--source", str(folder), "--name", "crm[b]", "--db", db, "--as-of", AS_OF,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "source 'crm[b]'" in done.stdout
    assert "exports[/x]" in "".join(done.stdout.split())  # the title may wrap
    assert "ignored unknown columns: [/x]" in done.stdout
    assert "(value '[/x]')" in done.stdout
    engine = store.connect(db)
    runs = store.sync_runs(engine)
    assert list(runs["status"]) == ["succeeded"]  # and the exit code says so

    done = cli("find", "--db", db, "--as-of", AS_OF, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert NAME in done.stdout

    # A second source that disagrees on the name: the conflicts list quotes both.
    other = tmp_path / "other"
    shutil.copytree(pipeline.SAMPLE_PORTFOLIO, other)
    done = cli(
        "sync", "--source", str(other), "--name", "files[/x]", "--db", db, "--as-of", AS_OF,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = cli("sources", "--db", db, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "files[/x]" in done.stdout and "crm[b]" in done.stdout
    assert repr(NAME) in done.stdout

    done = cli("playbook", "--out", "play[b].md", "--db", db, "--as-of", AS_OF, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Wrote play[b].md" in done.stdout
    with engine.connect() as conn:
        names = conn.execute(sa.text("SELECT name FROM accounts WHERE account_id = 'ACC-1001'"))
        assert set(names.scalars()) == {NAME, "Helios Health Systems"}
    engine.dispose()


def test_an_error_holding_markup_is_printed_as_given(tmp_path):
    folder = tmp_path / "no[/x]where"
    done = cli("sync", "--source", str(folder), "--db", f"sqlite:///{tmp_path / 'x.db'}",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert "no[/x]where: no such folder" in done.stderr
