"""Block Kit -> static HTML that approximates how Slack shows a message, a modal or a Home view.

Only for looking at the bot's messages (docs, reviews, screenshots): it is not Slack's renderer.
Slack's mrkdwn is read the way Slack reads it: ``<...>`` are control sequences (links, mentions,
dates), ``&amp;`` ``&lt;`` ``&gt;`` are the escaped characters, ``*bold*``, ``_italic_``,
``~strike~``, `` `code` ``, triple-backtick blocks and ``>`` quotes are formatting. Everything
else is text, and every piece of text is HTML-escaped before it reaches the page.
"""

from __future__ import annotations

import html
import re

#: Block types this renderer draws; anything else shows as a visible "unsupported" box.
BLOCK_TYPES = frozenset(
    {"section", "context", "header", "divider", "actions", "image", "input", "rich_text"}
)
UNSUPPORTED = "unsupported"

_CONTROL = re.compile(r"<([^<>\n]*)>")
_CODE = re.compile(r"`([^`\n]+)`")
_SLACK_ENTITY = re.compile(r"&(amp|lt|gt);")
_MARK = "\ue000{}\ue001"
_MARK_RE = re.compile("\ue000(\\d+)\ue001")
# Slack formats *x* only when the markers sit at word edges and hug the text.
_STYLES = [
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"), "b"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"), "i"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"), "s"),
]


def e(text: object) -> str:
    """HTML-escaped text (quotes too: it goes in attributes as well)."""
    return html.escape(str(text), quote=True)


def slack_unescape(text: str) -> str:
    """Slack's three entities back to characters (one pass: ``&amp;lt;`` stays ``&lt;``)."""
    return _SLACK_ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)


def _control(inner: str, users: dict[str, str]) -> str:
    """One ``<...>`` sequence as HTML: link, user/channel mention, special mention or date."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        uid = target[1:]
        name = users.get(uid) or label or uid
        return f'<span class="mention">@{e(slack_unescape(name))}</span>'
    if target.startswith("#"):
        name = label or target[1:]
        return f'<span class="mention">#{e(slack_unescape(name))}</span>'
    if target.startswith("!date^"):
        parts = target.split("^")
        title = f"date {parts[1] if len(parts) > 1 else ''} as {'^'.join(parts[2:])}"
        return f'<span class="date" title="{e(title)}">{e(slack_unescape(label))}</span>'
    if target.startswith("!subteam^"):
        return f'<span class="mention">{e(slack_unescape(label or "@group"))}</span>'
    if target.startswith("!"):
        return f'<span class="mention">@{e(slack_unescape(label or target[1:]))}</span>'
    url = slack_unescape(target)
    text = slack_unescape(label) if label else url.removeprefix("mailto:")
    if not re.match(r"(https?|mailto|slack):", url):
        return e(f"<{inner}>")  # not a link Slack would make: shown as typed
    return f'<a href="{e(url)}">{_styles(e(text))}</a>'


def _styles(escaped: str) -> str:
    for pattern, tag in _STYLES:
        escaped = pattern.sub(lambda m, t=tag: f"<{t}>{m.group(1)}</{t}>", escaped)
    return escaped


def _inline(text: str, users: dict[str, str]) -> str:
    """One line of mrkdwn (no code blocks) as HTML."""
    marks: list[str] = []

    def keep(rendered: str) -> str:
        marks.append(rendered)
        return _MARK.format(len(marks) - 1)

    text = _CONTROL.sub(lambda m: keep(_control(m.group(1), users)), text)
    text = _CODE.sub(lambda m: keep(f"<code>{e(slack_unescape(m.group(1)))}</code>"), text)
    text = _styles(e(slack_unescape(text)))
    # Placeholders are replaced once: a mark's own HTML never holds another mark.
    return _MARK_RE.sub(lambda m: marks[int(m.group(1))], text)


def _lines(text: str, users: dict[str, str]) -> str:
    out: list[str] = []
    quote: list[str] = []
    for line in text.split("\n"):
        if line.startswith(">"):  # a raw ">" (an escaped "&gt;" is text, not a quote)
            quote.append(_inline(line[1:].removeprefix(" "), users))
            continue
        if quote:
            out.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
            quote = []
        out.append(_inline(line, users) + "<br>")
    if quote:
        out.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
    joined = "".join(out)
    return joined.removesuffix("<br>")


def mrkdwn(text: str, users: dict[str, str] | None = None) -> str:
    """Slack mrkdwn as HTML."""
    users = users or {}
    parts = re.split(r"```(.*?)```", text, flags=re.S)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<pre>{e(slack_unescape(part.strip(chr(10))))}</pre>")
        elif part:
            out.append(_lines(part, users))
    return "".join(out)


def text_object(obj: dict | None, users: dict[str, str] | None = None) -> str:
    """A ``plain_text`` or ``mrkdwn`` text object as HTML (``None``: nothing)."""
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn(obj.get("text", ""), users)
    return e(obj.get("text", ""))


# --------------------------------------------------------------------------- elements


def _confirm_attr(element: dict) -> str:
    confirm = element.get("confirm")
    if not confirm:
        return ""
    title = confirm.get("title", {}).get("text", "")
    body = confirm.get("text", {}).get("text", "")
    return f' data-confirm="{e(title)}: {e(body)}"'


def _label(element: dict) -> str:
    label = element.get("accessibility_label")
    return f' aria-label="{e(label)}"' if label else ""


def element(el: dict, users: dict[str, str] | None = None) -> str:
    """An interactive element (or an image in a context) as HTML."""
    users = users or {}
    kind = el.get("type")
    if kind == "button":
        style = el.get("style")
        cls = "btn" + (f" btn-{style}" if style in ("primary", "danger") else "")
        label = text_object(el.get("text"), users)
        marker = ' <span class="confirm-mark" title="asks to confirm">?</span>'
        marker = marker if el.get("confirm") else ""
        if el.get("url"):
            return f'<a class="{cls}" href="{e(el["url"])}"{_label(el)}>{label} ↗</a>'
        return f'<button class="{cls}"{_label(el)}{_confirm_attr(el)}>{label}{marker}</button>'
    if kind == "overflow":
        options = " · ".join(text_object(o.get("text"), users) for o in el.get("options", []))
        return (
            f'<button class="btn overflow" title="{e(html.unescape(options))}"'
            f"{_label(el)}{_confirm_attr(el)}>⋯</button>"
        )
    if kind in {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_users_select",
    }:
        shown = _select_value(el, users)
        return (
            f'<span class="select"{_label(el)}><span class="value">{shown}</span>'
            '<span class="caret">▾</span></span>'
        )
    if kind == "datepicker":
        shown = e(el.get("initial_date") or "") or text_object(el.get("placeholder"), users)
        return f'<span class="select">📅 {shown}</span>'
    if kind in {"checkboxes", "radio_buttons"}:
        # Stacked as Slack shows them, each option's description under it.
        box = "☐" if kind == "checkboxes" else "○"
        rows = []
        for o in el.get("options", []):
            desc = text_object(o.get("description"), users) if o.get("description") else ""
            desc = f'<div class="choice-desc">{desc}</div>' if desc else ""
            rows.append(
                f'<div class="choice">{box} {text_object(o.get("text"), users)}{desc}</div>'
            )
        return f'<div class="choices">{"".join(rows)}</div>'
    if kind == "image":
        return f'<img class="ctx-img" src="{e(el.get("image_url", ""))}" alt="{e(el.get("alt_text", ""))}">'
    if kind in {"plain_text_input", "email_text_input", "number_input", "url_text_input"}:
        return f'<span class="input">{text_object(el.get("placeholder"), users)}</span>'
    if kind in {"mrkdwn", "plain_text"}:
        return text_object(el, users)
    return f'<span class="{UNSUPPORTED}">unsupported element: {e(kind)}</span>'


def _select_value(el: dict, users: dict[str, str]) -> str:
    if el.get("initial_option"):
        return text_object(el["initial_option"].get("text"), users)
    if el.get("initial_user"):
        uid = el["initial_user"]
        return f'<span class="mention">@{e(users.get(uid, uid))}</span>'
    if el.get("initial_options"):
        return ", ".join(text_object(o.get("text"), users) for o in el["initial_options"])
    return f'<span class="placeholder">{text_object(el.get("placeholder"), users)}</span>'


# --------------------------------------------------------------------------- blocks


def block(b: dict, users: dict[str, str] | None = None) -> str:
    """One block as HTML."""
    users = users or {}
    kind = b.get("type")
    if kind == "section":
        body = (
            f'<div class="text">{text_object(b.get("text"), users)}</div>' if b.get("text") else ""
        )
        if b.get("fields"):
            fields = "".join(
                f'<div class="field">{text_object(f, users)}</div>' for f in b["fields"]
            )
            body += f'<div class="fields">{fields}</div>'
        accessory = b.get("accessory")
        if accessory:
            side = element(accessory, users)
            cls = "accessory img" if accessory.get("type") == "image" else "accessory"
            return (
                f'<div class="block section with-accessory"><div class="main">{body}</div>'
                f'<div class="{cls}">{side}</div></div>'
            )
        return f'<div class="block section">{body}</div>'
    if kind == "context":
        items = "".join(f"<span>{element(el, users)}</span>" for el in b.get("elements", []))
        return f'<div class="block context">{items}</div>'
    if kind == "header":
        return f'<div class="block header">{text_object(b.get("text"), users)}</div>'
    if kind == "divider":
        return '<hr class="block divider">'
    if kind == "actions":
        items = "".join(element(el, users) for el in b.get("elements", []))
        return f'<div class="block actions">{items}</div>'
    if kind == "image":
        title = text_object(b.get("title"), users)
        caption = f'<div class="image-title">{title}</div>' if title else ""
        return (
            f'<div class="block image">{caption}<img src="{e(b.get("image_url", ""))}" '
            f'alt="{e(b.get("alt_text", ""))}"></div>'
        )
    if kind == "input":
        label = text_object(b.get("label"), users)
        hint = text_object(b.get("hint"), users)
        hint = f'<div class="hint">{hint}</div>' if hint else ""
        return (
            f'<div class="block input"><div class="label">{label}</div>'
            f"{element(b.get('element', {}), users)}{hint}</div>"
        )
    if kind == "rich_text":
        return f'<div class="block section">{e(_rich_text_plain(b))}</div>'
    return f'<div class="block {UNSUPPORTED}">unsupported block: {e(kind)}</div>'


def _rich_text_plain(node) -> str:
    if isinstance(node, dict):
        return str(node.get("text", "")) + "".join(
            _rich_text_plain(v) for v in node.get("elements", [])
        )
    return ""


def blocks(items: list[dict], users: dict[str, str] | None = None) -> str:
    return "\n".join(block(b, users) for b in items)
