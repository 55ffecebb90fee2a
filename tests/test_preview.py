"""The Block Kit preview (bot.preview): every sample message renders, text stays text, mrkdwn
reads as Slack reads it, and the CLI writes its pages. No browser needed."""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot import blocks
from bot.preview import main, render
from bot.preview.page import Preview, render_page
from bot.preview.sample import build

ROOT = Path(__file__).resolve().parents[1]


class _Text(HTMLParser):
    """What a browser shows as text (no tags, entities decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.parts.append(data)


def shown(markup: str) -> tuple[str, list[str]]:
    parser = _Text()
    parser.feed(markup)
    return "".join(parser.parts), parser.tags


@pytest.fixture(scope="module")
def items(tmp_path_factory) -> list[Preview]:
    return build(tmp_path_factory.mktemp("preview"))


def _elements(node):
    if isinstance(node, dict):
        if "elements" in node and isinstance(node["elements"], list):
            yield from node["elements"]
        if isinstance(node.get("accessory"), dict):
            yield node["accessory"]
        for value in node.values():
            yield from _elements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _elements(value)


def test_every_sample_message_renders_every_block_it_has(items):
    names = {i.name for i in items}
    for wanted in ("scope-picker", "list-enterprise-page-1", "deep-dive-1", "digest-parent"):
        assert wanted in names
    assert {"home", "home-empty", "assigned-dm", "digest-cards-1", "digest"} <= names
    seen: set[str] = set()
    for item in items:
        page = render_page(item)
        assert "unsupported block" not in page and "unsupported element" not in page, item.name
        item_blocks = item.payload["blocks"]
        assert item_blocks, item.name
        seen |= {b["type"] for b in item_blocks}
        # one rendered block per block, in a page the HTML parser reads through
        in_thread = sum(len(r["blocks"]) for r in item.replies)
        assert page.count('class="block ') == len(item_blocks) + in_thread, item.name
        text, _ = shown(page)
        for b in item_blocks:
            if b["type"] == "header":
                assert b["text"]["text"] in text, item.name
        for el in _elements(item_blocks):
            if el.get("type") == "button":
                assert render.slack_unescape(el["text"]["text"]) in text, item.name
    assert {"section", "context", "header", "divider", "actions"} <= seen <= render.BLOCK_TYPES


def test_customer_text_renders_as_text():
    evil = "<script>alert(1)</script> & <b>Acme</b> <!channel> <@U123>"
    message = blocks.list_message(
        title=evil,
        summary={"accounts_analyzed": 1, "opportunities": 1, "tiers": {}, "priorities": {}},
        sources=[blocks.Source(evil)],
        as_of="2026-11-16",
        opportunities=[
            {
                "opportunity_id": "ACC-1-seat_expansion-1",
                "account_id": "ACC-1",
                "account_name": evil,
                "segment": evil,
                "arr": 1.0,
                "type_label": evil,
                "description": evil,
                "evidence": [evil],
                "suggested_action": evil,
                "tier": 1,
                "score": 9.0,
                "propensity": 90,
                "close_probability": 0.5,
                "expansion_arr": 1.0,
                "expected_value": 1.0,
                "priority": "high",
                "owner": evil,
            }
        ],
        ref=blocks.ListRef(scope="x"),
        ephemeral=True,
    )
    page = render_page(Preview("evil", "evil", message))
    text, tags = shown(page)
    assert "script" not in tags
    assert "<script>" not in page and "<b>Acme</b>" not in page
    assert text.count("<script>alert(1)</script> & <b>Acme</b> <!channel> <@U123>") >= 3
    # plain_text (header, buttons) is escaped too
    raw = {"type": "header", "text": {"type": "plain_text", "text": "<i>x</i> & y"}}
    assert render.block(raw) == '<div class="block header">&lt;i&gt;x&lt;/i&gt; &amp; y</div>'


def test_mrkdwn_reads_like_slack():
    text = (
        "*Bluefin Analytics* · _69% likely_ · <https://crm.example/a?id=1&amp;t=2|Account plan> "
        "· act by <!date^1795996800^{date_short}|Nov 30> · <@UMAYA> :tada: · `storage_gb` "
        "and snake_case_name · 3 &lt; 4 &amp;&amp; 5 &gt; 4\n> quoted *line*"
    )
    assert render.mrkdwn(text, {"UMAYA": "maya"}) == (
        "<b>Bluefin Analytics</b> · <i>69% likely</i> · "
        '<a href="https://crm.example/a?id=1&amp;t=2">Account plan</a> · act by '
        '<span class="date" title="date 1795996800 as {date_short}">Nov 30</span> · '
        '<span class="mention">@maya</span> :tada: · <code>storage_gb</code> and '
        "snake_case_name · 3 &lt; 4 &amp;&amp; 5 &gt; 4<br>"
        "<blockquote>quoted <b>line</b></blockquote>"
    )
    # an unknown user shows its id; a code block keeps its text as typed
    assert render.mrkdwn("<@U9>") == '<span class="mention">@U9</span>'
    assert render.mrkdwn("```a *b* <c>```") == "<pre>a *b* &lt;c&gt;</pre>"
    # a "link" to anything but http(s)/mailto is not made a link
    assert "href" not in render.mrkdwn("<javascript:alert(1)|x>")


def test_buttons_selects_and_overflow():
    actions = {
        "type": "actions",
        "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Claim"}, "style": "primary"},
            {"type": "button", "text": {"type": "plain_text", "text": "Lost"}, "style": "danger"},
            {
                "type": "static_select",
                "placeholder": {"type": "plain_text", "text": "Pick"},
                "options": [{"text": {"type": "plain_text", "text": "A"}, "value": "a"}],
                "initial_option": {"text": {"type": "plain_text", "text": "A"}, "value": "a"},
                "accessibility_label": "Stage of Acme",
            },
            {
                "type": "overflow",
                "options": [{"text": {"type": "plain_text", "text": "Won"}, "value": "won"}],
                "confirm": {
                    "title": {"type": "plain_text", "text": "Mark won?"},
                    "text": {"type": "plain_text", "text": "Sure"},
                },
            },
        ],
    }
    out = render.block(actions)
    assert '<button class="btn btn-primary">Claim</button>' in out
    assert '<button class="btn btn-danger">Lost</button>' in out
    assert 'aria-label="Stage of Acme"' in out and '<span class="value">A</span>' in out
    assert 'title="Won"' in out and 'data-confirm="Mark won?: Sure"' in out
    fields = {"type": "section", "fields": [{"type": "mrkdwn", "text": "*ARR*\n$64K"}]}
    assert '<div class="field"><b>ARR</b><br>$64K</div>' in render.block(fields)
    assert "unsupported block: video" in render.block({"type": "video"})


def test_cli_writes_a_page_per_message_and_the_index(tmp_path, capsys):
    assert main(["--out", str(tmp_path)]) == 0
    index = (tmp_path / "index.html").read_text()
    pages = sorted(p.name for p in tmp_path.glob("*.html") if p.name != "index.html")
    assert len(pages) >= 12 and "digest-parent.html" in pages
    for name in pages:
        assert f'href="{name}"' in index
    assert "open" in capsys.readouterr().out


def test_screenshots_say_what_to_install_without_chromium(tmp_path):
    env = {**os.environ, "CHROMIUM": str(tmp_path / "no-such-chromium")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshots"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert "apt-get install -y chromium" in done.stderr
    assert not list(tmp_path.glob("*.png"))
