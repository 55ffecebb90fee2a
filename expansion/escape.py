"""Escaping customer text for the formats the product writes: spreadsheets (CSV) and Markdown.

Customer text (account names, signal notes, product names, rejected cells) comes from CRM and
file exports and may hold anything. Every writer of those formats goes through this module:

* :func:`spreadsheet_cell` for every cell of a CSV a person may open in a spreadsheet (the
  opportunity export, ``expansion-rejects.csv``);
* :func:`markdown` for every value a Markdown template interpolates (the playbook, the find list,
  an account's deep-dive): ``expansion.playbook`` applies it to every ``{{ ... }}`` by default.

Slack mrkdwn has its own escaping (``bot.blocks.escape``); rich console output uses
``rich.markup.escape``.
"""

from __future__ import annotations

import re

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: Line end of every CSV a person may open (RFC 4180's CRLF). With it, the csv writers quote
#: any cell holding a carriage return or a line break; with a bare "\n" a lone "\r" inside a
#: cell is left unquoted and splits its row in two.
SPREADSHEET_LINE_END = "\r\n"
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def spreadsheet_cell(value):
    """``value``, made inert for a spreadsheet: text starting with ``= + - @``, a tab or a carriage
    return is run as a formula (``=HYPERLINK(...)``, DDE), so it gets a leading ``'``.

    A plain number (``-1``, ``+5.5``) is no formula and is kept as it is; anything that is not
    text is returned unchanged.
    """
    if (
        isinstance(value, str)
        and value[:1] in _FORMULA_START
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


class Markdown(str):
    """Text that is already Markdown (escaped customer text, or the product's own formatting):
    :func:`markdown` passes it through unchanged."""


# Inline characters that start Markdown syntax: the backslash itself (so escapes stay escapes),
# code spans, emphasis, links and images, raw HTML and autolinks, table cells, strikethrough.
_INLINE = re.compile(r"([\\`*\[\]<|~])")
# '_' only where it could open or close emphasis: "api_calls" stays as it is.
_UNDERSCORES = re.compile(r"_+")
# '&' only where it would start an entity (&lt; &#91;): "Johnson & Johnson" stays as it is.
_ENTITY = re.compile(r"&(?=#?\w+;)")
# Bare URLs that GitHub-flavoured renderers turn into links: "https://", "www.".
_BARE_LINK = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*)(://)|\b(www)(\.)")
# Block syntax at the start of a line (a heading, a quote, a list item, a rule or underline):
# meaningful wherever a value starts a line or a list item's text.
_LINE_START = re.compile(r"^(?:(#|>|[-+=](?=[\s\-+=]|$))|(\d{1,9})([.)])(?=\s|$))")


# Anything any of the rules below would change: without one, a value is already literal text.
_SPECIAL = re.compile(r"[\\`*\[\]<|~_&\r\n]|://|(?i:\bwww\.)")


def markdown(value) -> Markdown:
    """``value`` as literal Markdown text on one line: it renders as exactly this text (the
    backslash escapes do not show), never as a link, image, HTML, emphasis, code, a table column,
    a heading, a list or a quote. Line breaks become spaces; surrounding blanks are dropped.

    Numbers and :class:`Markdown` values are returned as they are; ``None`` and NaN as ``""``.
    """
    if isinstance(value, Markdown):
        return value
    if value is None or value != value:  # None, NaN: an empty cell
        return Markdown("")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Markdown(value)
    text = str(value)
    if not _SPECIAL.search(text) and text == text.strip() and not _LINE_START.match(text):
        return Markdown(text)  # most values: nothing to escape (one scan instead of six)
    text = re.sub(r"[\r\n]+", " ", text).strip()
    text = _INLINE.sub(r"\\\1", text)
    text = _UNDERSCORES.sub(_underscores, text)
    text = _ENTITY.sub(r"\\&", text)
    text = _BARE_LINK.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"{m[3]}\\{m[4]}", text)
    # A digit cannot be escaped: "1. item" becomes "1\. item".
    return Markdown(_LINE_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", text))


def _underscores(match: re.Match[str]) -> str:
    """A run of '_' between two letters or digits is kept; any other is escaped."""
    run = match[0]
    text = match.string
    before = text[match.start() - 1] if match.start() else " "
    after = text[match.end()] if match.end() < len(text) else " "
    if before.isalnum() and after.isalnum():
        return run
    return run.replace("_", "\\_")
