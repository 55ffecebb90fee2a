"""A rendered message, modal or Home view as a standalone HTML page, and the index of them all.

The page is styled after Slack's message pane: 680 px wide on a desktop, and the phone layout
(375 px) whenever the window is narrower than 480 px, or with ``#phone`` at the end of the
address in a desktop browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import render
from .render import e

#: Phone rules, written once and applied both under the media query and under ``#phone``.
_PHONE = """
{p} .pane {{ max-width: 375px; padding: 12px 12px 16px; }}
{p} .avatar {{ width: 32px; height: 32px; font-size: 15px; }}
{p} .msg {{ gap: 8px; }}
{p} .section.with-accessory {{ flex-direction: column; }}
{p} .actions .btn, {p} .actions .select {{ flex: 1 1 auto; }}
{p} .header {{ font-size: 17px; }}
{p} pre {{ font-size: 11px; }}
"""

CSS = (
    """
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: #1d1c1d; font: 15px/1.46668 -apple-system,
  BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif; }
.pane { max-width: 680px; padding: 16px 20px 24px; }
.where { font-size: 12px; color: #616061; margin-bottom: 10px; }
.notification { font-size: 13px; background: #f8f8f8; border: 1px solid #e2e2e2;
  border-radius: 8px; padding: 8px 10px; margin-bottom: 14px; color: #454245; }
.notification b.k { color: #1d1c1d; }
.msg { display: flex; gap: 10px; align-items: flex-start; }
.avatar { flex: 0 0 auto; width: 36px; height: 36px; border-radius: 6px; background: #4a154b;
  color: #fff; font-weight: 700; display: flex; align-items: center; justify-content: center; }
.body { flex: 1 1 auto; min-width: 0; }
.who { font-weight: 900; } .who .app { font-size: 10px; font-weight: 700; color: #616061;
  background: #e8e8e8; border-radius: 2px; padding: 1px 3px; margin-left: 4px; }
.who .time { font-weight: 400; font-size: 12px; color: #616061; margin-left: 6px; }
.replies { font-size: 13px; color: #1264a3; font-weight: 700; margin: 6px 0 0 46px; }
.thread { border-top: 1px solid #e2e2e2; margin-top: 14px; padding-top: 8px; }
.thread-title { font-weight: 900; font-size: 15px; margin-bottom: 10px; }
.thread .msg { margin-bottom: 14px; }
.view-title { display: flex; justify-content: space-between; align-items: center;
  font-weight: 900; font-size: 18px; padding-bottom: 10px; border-bottom: 1px solid #e2e2e2;
  margin-bottom: 8px; }
.block { margin: 4px 0; overflow-wrap: anywhere; }
.header { font-size: 18px; font-weight: 900; margin: 8px 0 4px; }
.context { font-size: 12px; color: #616061; display: flex; flex-wrap: wrap; gap: 4px 8px;
  align-items: center; }
.context .ctx-img { width: 16px; height: 16px; border-radius: 3px; }
hr.divider { border: 0; border-top: 1px solid #dddddd; margin: 12px 0; }
.section.with-accessory { display: flex; gap: 12px; justify-content: space-between; }
.section .main { flex: 1 1 auto; min-width: 0; }
.accessory.img img { width: 88px; height: 88px; border-radius: 6px; object-fit: cover; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin-top: 4px; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.btn { font: inherit; font-size: 13px; font-weight: 700; line-height: 1; height: 28px;
  padding: 0 12px; border-radius: 4px; border: 1px solid #bbbabb; background: #fff;
  color: #1d1c1d; display: inline-flex; align-items: center; text-decoration: none; }
.btn-primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.btn-danger { background: #fff; border-color: #e01e5a; color: #e01e5a; }
.btn.overflow { padding: 0 8px; font-size: 16px; }
.confirm-mark { font-size: 10px; margin-left: 4px; opacity: .7; }
.select, span.input { font-size: 13px; height: 28px; padding: 0 8px; border: 1px solid #bbbabb;
  border-radius: 4px; display: inline-flex; align-items: center; gap: 8px; min-width: 140px;
  justify-content: space-between; background: #fff; }
.select .placeholder, span.input { color: #868686; }
.block.input { display: block; }
.block.input .label { font-weight: 700; margin-bottom: 4px; }
.block.input .hint { font-size: 12px; color: #616061; }
.choices { display: block; width: 100%; }
.choice { display: block; margin: 6px 0; }
.choice-desc { font-size: 13px; color: #616061; margin-left: 1.3em; }
.image img { max-width: 100%; border-radius: 6px; background: #f4f4f4; min-height: 40px; }
.image-title { font-size: 13px; color: #616061; }
a { color: #1264a3; text-decoration: none; }
.mention { color: #1264a3; background: #e8f5fa; border-radius: 3px; padding: 0 2px; }
.date { border-bottom: 1px dotted #868686; }
code { font: 12px Monaco, Menlo, Consolas, "Courier New", monospace; color: #c01343;
  background: #f8f8f8; border: 1px solid #e2e2e2; border-radius: 3px; padding: 1px 3px; }
pre { font: 12px/1.5 Monaco, Menlo, Consolas, "Courier New", monospace; background: #f8f8f8;
  border: 1px solid #e2e2e2; border-radius: 4px; padding: 8px; margin: 4px 0;
  white-space: pre-wrap; overflow-wrap: anywhere; }
blockquote { margin: 2px 0; padding-left: 12px; border-left: 4px solid #dddddd; }
.unsupported { color: #e01e5a; border: 1px dashed #e01e5a; padding: 4px; }
.index li { margin: 4px 0; } .index .meta { color: #616061; font-size: 12px; }
"""
    + "@media (max-width: 480px) {"
    + _PHONE.format(p="")
    + "}\n"
    + _PHONE.format(p="#phone:target")
)


@dataclass
class Preview:
    """One thing the bot sends, as Slack would get it."""

    name: str  #: file name without ``.html``
    title: str  #: what it is, for the index
    payload: dict  #: the message (``text`` + ``blocks``) or view (``type`` home / modal)
    where: str = "in a channel"  #: where a reader sees it
    users: dict[str, str] = field(default_factory=dict)
    #: Replies in the message's thread, drawn under it as Slack's thread pane shows them.
    replies: list[dict] = field(default_factory=list)
    #: Further replies in the thread that are not drawn (each has a page of its own).
    more_replies: int = 0

    @property
    def is_view(self) -> bool:
        return self.payload.get("type") in {"home", "modal"}


def _message(body: str) -> str:
    return (
        '<div class="msg"><div class="avatar">E</div><div class="body">'
        '<div class="who">Expansion<span class="app">APP</span>'
        '<span class="time">9:00 AM</span></div>'
        f"{body}</div></div>"
    )


def render_page(item: Preview) -> str:
    """The page of one message or view."""
    payload = item.payload
    body = render.blocks(payload.get("blocks") or [], item.users)
    if item.is_view:
        title = render.text_object(payload.get("title"), item.users) or "Home"
        buttons = " ".join(
            f'<button class="btn{" btn-primary" if key == "submit" else ""}">'
            f"{render.text_object(payload[key], item.users)}</button>"
            for key in ("close", "submit")
            if payload.get(key)
        )
        content = f'<div class="view-title"><span>{title}</span><span>{buttons}</span></div>{body}'
        note = ""
    else:
        content = _message(body)
        if item.replies:
            count = len(item.replies) + item.more_replies
            content += (
                f'<div class="replies">{count} {"reply" if count == 1 else "replies"}</div>'
                '<div class="thread"><div class="thread-title">Thread</div>'
                + "".join(
                    _message(render.blocks(r.get("blocks") or [], item.users)) for r in item.replies
                )
                + (
                    f'<div class="where">…and {item.more_replies} more replies, not drawn here '
                    "(each has a page of its own)</div>"
                    if item.more_replies
                    else ""
                )
                + "</div>"
            )
        note = (
            '<div class="notification"><b class="k">Notification:</b> '
            f"{e(render.slack_unescape(payload.get('text') or '(no text)'))}</div>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(item.title)}</title><style>{CSS}</style></head>"
        f'<body><div id="phone"><div class="pane"><div class="where">{e(item.title)} · '
        f"{e(item.where)} · {len(payload.get('blocks') or [])} blocks</div>{note}{content}"
        "</div></div></body></html>"
    )


def render_index(items: list[Preview]) -> str:
    rows = "".join(
        f'<li><a href="{e(i.name)}.html">{e(i.title)}</a> '
        f'(<a href="{e(i.name)}.html#phone">phone</a>) '
        f'<span class="meta">{e(i.where)} · {len(i.payload.get("blocks") or [])} blocks</span></li>'
        for i in items
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Slack message preview</title><style>{CSS}</style></head>"
        '<body><div class="pane index"><div class="header">What the bot sends '
        f"(sample book)</div><ol>{rows}</ol></div></body></html>"
    )
