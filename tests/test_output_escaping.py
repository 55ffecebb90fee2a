"""Customer text in what the product writes stays text.

Markdown (playbook, find list, account deep-dive): never a link, an image, HTML, a broken table
or a heading of its own, checked by parsing it with markdown-it-py (CommonMark, GFM tables,
strikethrough and GitHub's bare-URL linkify), not by looking for characters. CSV files a person
opens in a spreadsheet (the export, expansion-rejects.csv): never a formula.
"""

from __future__ import annotations

import csv
import re
import shutil

import pandas as pd
import pytest
from markdown_it import MarkdownIt

from expansion import pipeline, store
from expansion.escape import Markdown, markdown, spreadsheet_cell
from expansion.playbook import render_account, render_find_markdown, render_playbook

MD = MarkdownIt("commonmark", {"linkify": True}).enable(["table", "strikethrough", "linkify"])

LINK = "[Click here](https://evil.example)"
HOSTILE_NAMES = {
    "ACC-1001": LINK,
    "ACC-1002": "<script>alert(1)</script> Northwind | Logistics",
    "ACC-1003": "Quantica\n# Injected heading",
    "ACC-1004": "*Bold* _em_ `code` ~~gone~~ ![img](https://evil.example/x.png) &lt;b&gt;",
    "ACC-1005": "- www.evil.example\r\n---",
}
# Signal details end up in evidence lines, table cells and (new offices) in headings.
HOSTILE_SIGNAL = "Opening <b>two</b> hospitals\n## Injected | column [x](https://evil.example)"
FORBIDDEN = {"link_open", "image", "html_inline", "html_block", "code_inline", "em_open"}
FORBIDDEN |= {"strong_open", "s_open", "blockquote_open"}


def _literal(text: str) -> str:
    """What a value must render as: one line, its blanks collapsed like Markdown's."""
    return " ".join(text.split())


def _inline_tokens(tokens):
    for token in tokens:
        yield token
        yield from token.children or []


@pytest.mark.parametrize(
    "text",
    [
        *HOSTILE_NAMES.values(),
        HOSTILE_SIGNAL,
        "# heading",
        "> quote",
        "1. item",
        "+ item",
        "===",
        "    indented code",
        "\\[not a link\\](x)",
        "a_b __init__ _x_",
        "<https://evil.example>",
        "https://evil.example/?a=1|2",
    ],
)
def test_an_escaped_value_is_one_paragraph_of_its_own_text(text):
    escaped = markdown(text)
    for context in ("{}", "- {}", "### {}", "| a |\n|---|\n| {} |"):
        tokens = MD.parse(context.format(escaped))
        assert _blocks(tokens) == _blocks(MD.parse(context.format("x"))), context
        types = {t.type for t in _inline_tokens(tokens)}
        assert not types & FORBIDDEN, (context, types)
        inline = [t for t in tokens if t.type == "inline"]
        content = "".join(c.content for c in inline[-1].children if c.type in ("text", "softbreak"))
        assert content == _literal(text), (context, content)


def _blocks(tokens) -> list[str]:
    """The document's block structure: paragraphs, headings, lists, tables, rules..."""
    return [t.type for t in tokens if t.type != "inline"]


def test_numbers_and_plain_text_are_unchanged():
    for value in (3, 7.5, -12, "$1,234", "-3.5%", "api_calls 92% of limit", "Johnson & Johnson"):
        assert markdown(value) == str(value)
    assert markdown(None) == "" and markdown(float("nan")) == ""
    assert markdown(Markdown("**kept**")) == "**kept**"
    assert markdown(markdown("<x> [y]")) == markdown("<x> [y]")  # never escaped twice


@pytest.fixture(scope="module")
def hostile_result(tmp_path_factory):
    """The sample portfolio with hostile account names and a hostile signal, synced and scored."""
    folder = tmp_path_factory.mktemp("hostile") / "portfolio"
    shutil.copytree(pipeline.SAMPLE_PORTFOLIO, folder)
    accounts = pd.read_csv(folder / "accounts.csv", dtype=str, keep_default_na=False)
    accounts["Account Name"] = (
        accounts["Account ID"].map(HOSTILE_NAMES).fillna(accounts["Account Name"])
    )
    accounts.to_csv(folder / "accounts.csv", index=False, quoting=csv.QUOTE_ALL)
    signals = pd.read_csv(folder / "signals.csv", dtype=str, keep_default_na=False)
    signals.loc[signals["account_id"] == "ACC-1001", "detail"] = HOSTILE_SIGNAL
    signals.to_csv(folder / "signals.csv", index=False, quoting=csv.QUOTE_ALL)
    engine = store.connect(f"sqlite:///{folder.parent / 'hostile.db'}")
    report = pipeline.sync_folder(engine, folder, source="crm")
    assert report.rejected == 0
    pipeline.score(engine, as_of=pipeline.SAMPLE_AS_OF)
    yield pipeline.find(engine, "", as_of=pipeline.SAMPLE_AS_OF)
    engine.dispose()


@pytest.fixture(scope="module")
def hostile_docs(hostile_result) -> dict[str, str]:
    docs = {
        "playbook": render_playbook(
            hostile_result, portfolio_name="Hostile <b>[x](https://evil.example)"
        ),
        "find": render_find_markdown(hostile_result),
    }
    for account_id in HOSTILE_NAMES:
        docs[account_id] = render_account(hostile_result, account_id)
    return docs


def test_hostile_customer_text_renders_as_text_everywhere(hostile_docs):
    for name, text in hostile_docs.items():
        tokens = MD.parse(text)
        inline = list(_inline_tokens(tokens))
        # The templates' own **bold** labels are the only emphasis (customer text showing in
        # full, stars included, is checked below).
        assert not {t.type for t in inline} & (FORBIDDEN - {"link_open", "strong_open"}), name
        # Owners' e-mail addresses may be linkified as mailto:, nothing else.
        links = [str(t.attrs.get("href")) for t in inline if t.type == "link_open"]
        assert all(h.startswith("mailto:") for h in links), (name, links)
        headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
        assert not [h for h in headings if h.startswith("Injected")], (name, headings)
        assert "hr" not in {t.type for t in tokens} or name == "playbook", name
        _tables_keep_their_columns(name, text, tokens)


def _tables_keep_their_columns(name: str, text: str, tokens) -> None:
    """A '|' in customer text must not add a cell. GFM drops cells past the header's count, so
    count the unescaped pipes of each row's source line."""
    lines = text.splitlines()
    for i, token in enumerate(tokens):
        if token.type == "tr_open" and token.map:
            row = [t.type for t in tokens[i:] if t.type in ("th_open", "td_open", "tr_close")]
            cells = row.index("tr_close")
            source = lines[token.map[0]]
            pipes = len(source.replace("\\|", "").strip().strip("|").split("|"))
            assert pipes == cells, (name, source)


def test_the_hostile_names_show_in_full_in_the_playbook(hostile_result):
    text = render_playbook(hostile_result, portfolio_name="Customer portfolio")
    html = MD.render(text)
    for value in HOSTILE_NAMES.values():
        shown = _literal(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert shown.replace('"', "&quot;") in html, value
    # The account-by-account heading is the whole name on one line.
    assert "<h3>Quantica # Injected heading</h3>" in html


def test_the_sample_playbook_renders_as_before_apart_from_the_fixes(sample_result):
    """Escaping changes no rendered output of the sample except the name that used to vanish
    ('Smith & Sons <Holdings>' rendered as 'Smith & Sons ')."""
    text = render_playbook(sample_result, portfolio_name="Sample")
    html = MD.render(text)
    assert "Smith &amp; Sons &lt;Holdings&gt;" in html
    assert "<holdings>" not in html.lower().replace("&lt;holdings&gt;", "")
    assert "custom_fields" in text and "\\_" not in text  # intraword underscores stay readable


def test_spreadsheet_cells_are_neutralised_but_numbers_kept():
    assert spreadsheet_cell('=HYPERLINK("https://evil.example","x")').startswith("'=")
    for formula in ("+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"):
        assert spreadsheet_cell(formula) == "'" + formula
    for kept in ("-1", "+5.5", "-1e3", "Acme", 42, None):
        assert spreadsheet_cell(kept) == kept


def test_the_rejects_file_never_holds_a_formula(engine, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    formula = '=HYPERLINK("https://evil.example","Click")'
    rows = [
        ["account_id", "name", "arr"],
        ["A1", "Acme", "1000"],
        ["A2", "Formula Ltd", formula],
        ["A3", "@SUM(A1)", "-5"],
    ]
    with open(folder / "accounts.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    rejects = tmp_path / "expansion-rejects.csv"
    report = pipeline.sync_folder(engine, folder, rejects_path=rejects)
    assert report.rejected == 2
    with open(rejects, newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert "'" + formula in cells and formula not in cells
    assert "-5" in cells  # a plain negative number is no formula and stays readable
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]


def test_a_carriage_return_in_a_cell_stays_in_its_row(engine, tmp_path):
    """A lone "\r" in a rejected value (an export from an old Mac tool) must not split the
    rejects report's row: the report, like every CSV a person opens, is written with CRLF line
    ends, so such a cell is quoted. (The sync fuzz test found this.)"""
    folder = tmp_path / "exports"
    folder.mkdir()
    rows = [
        ["account_id", "name", "arr"],
        ["A1", "Acme", "1000"],
        ["A2", "Old Mac", "12\r34 dollars"],
    ]
    with open(folder / "accounts.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    rejects = tmp_path / "expansion-rejects.csv"
    report = pipeline.sync_folder(engine, folder, rejects_path=rejects)
    assert report.rejected == 1
    written = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert len(written) == 1
    assert written.loc[0, "value"] == "12\r34 dollars"


def test_each_playbook_field_is_its_own_list_item(sample_result):
    """A block tag at a line's end ate its newline: every Tier 2 entry read
    '(expected $23,040)- **Type**: New Department' as one line."""
    text = render_playbook(sample_result, portfolio_name="Sample")
    glued = [line for line in text.splitlines() if re.search(r"\S- \*\*[A-Z]", line)]
    assert not glued, glued[:3]
    tier2 = text.split("## Tier 2 Opportunities")[1].split("\n## ")[0]
    for field in ("Score", "Expansion ARR", "Type", "Timing", "Key Signal", "Next Step", "Owner"):
        starts = len(re.findall(rf"^- \*\*{field}\*\*: ", tier2, flags=re.M))
        assert starts == tier2.count("\n### "), field


def test_an_account_more_than_half_expanded_says_so(sample_result):
    """Northwind's deals add up to more than its ARR: the summary says it, not only the sum."""
    text = render_playbook(sample_result, portfolio_name="Sample")
    northwind = text.split("### Northwind Logistics\n")[1].split("\n### ")[0]
    assert "(+116% of today's ARR: every deal at once; size each with the customer)" in northwind
    helios = text.split("### Helios Health Systems\n")[1].split("\n### ")[0]
    assert "of today's ARR" not in helios  # $352K on $1.2M


def test_the_summary_names_the_account_before_its_first_action(sample_result):
    """'…then agree the start date at Northwind Logistics' read as if the date were agreed
    at their office: the account comes first, then what to do."""
    text = render_playbook(sample_result, portfolio_name="Sample")
    assert (
        "The single highest-impact action this week, at Northwind Logistics "
        "(ACC-1002-seat_expansion-30, $57,600): send the proposal they asked for (120 seats), "
        "then agree the start date." in text
    )


def test_a_seat_count_says_how_it_was_reached(sample_result):
    """'Add 268 seats' with only 'catalog: $840 per seat per year' left a VP asking where 268
    came from: the pricing line gives the arithmetic, then the cut for the team deals."""
    text = render_account(sample_result, "ACC-1001")
    seats = text.split("ACC-1001-seat_expansion-73")[1].split("\n### ")[0]
    assert (
        "| Pricing | catalog: $840 per seat per year x 416 seats (1,164 active, +18% headcount, "
        "at 85% use = 1,616 seats needed); 268 after the 148 seats this account's team deals "
        "hold |" in seats
    )
    assert "Add 268 seats" in seats


def test_every_sentence_of_a_deep_dive_reads_whole(sample_result):
    """'the new office looks like…' opened a sentence in lower case, 'demo to the the new
    office lead' doubled the article, and a deal sized from hiring said the team had 'grown
    into the product faster than the licence' although no seat was short."""
    accounts = sample_result.opportunities["account_id"].unique()
    for account_id in accounts:
        text = render_account(sample_result, account_id)
        assert not re.search(r"\b(the|a|an) \1\b", text, flags=re.I), account_id
        for opening in re.findall(r"^\*\*The Opportunity:\*\*\n(.+)$", text, flags=re.M):
            # A sentence after a full stop starts with a capital ("Inc. already" is a name).
            for word, start in re.findall(r"(\w+)[.!?] (\w)", opening):
                assert start.isupper() or word in ("Inc", "Co", "Ltd", "Corp"), opening
    helios = render_account(sample_result, "ACC-1001")
    office = helios.split("ACC-1001-new_department-80")[1].split("\n### ")[0]
    assert "The new office looks like the next team" in office
    assert "demo to the lead of the new office" in office
    clinical = helios.split("ACC-1001-seat_expansion-3:")[1].split("\n### ")[0]
    assert "Your team is growing faster than the licence: Hiring 2026-09-22" in clinical
    assert "grown into the product" not in clinical


def test_a_tier_upgrade_says_the_price_difference_it_is_sized_from(sample_result):
    """Northwind's $144,000 upgrade said only 'tier price difference at current seats'."""
    text = render_account(sample_result, "ACC-1002")
    upgrade = text.split("ACC-1002-tier_upgrade-89")[1].split("\n### ")[0]
    assert (
        "| Pricing | catalog: Enterprise $840 - Professional $480 per seat per year x 400 seats |"
        in upgrade
    )
    assert "| Estimated Expansion ARR | $144,000 |" in upgrade  # (840 - 480) x 400
