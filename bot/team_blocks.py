"""How the team, the workload and the Assign modal look (Block Kit), every customer or person
value escaped: the team list (``/expansion team``), the workload (``/expansion workload``) and
the Assign modal whose suggestions come from :func:`expansion.team.suggest_owners`."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import pandas as pd

from expansion.numbers import money, pct
from expansion.team import AE_HANDOFF_ARR

from .blocks import clip, context, deal_arr, deal_words, escape, plain, section, user

ASSIGN_CALLBACK = "assign_owner"
SUGGESTED_BLOCK = "suggested"
SUGGESTED_ACTION = "pick"
ANYONE_BLOCK = "anyone"
ANYONE_ACTION = "user"
#: Radio buttons take at most 10 options (Slack).
MAX_SUGGESTIONS = 10
SECTION_CHARS = 2900


def _present(value) -> bool:
    return (
        value is not None and not (isinstance(value, float) and math.isnan(value)) and value != ""
    )


def _sections(lines: list[str], *, limit: int = 45) -> list[dict]:
    """``lines`` packed into sections of at most :data:`SECTION_CHARS` characters."""
    out: list[dict] = []
    chunk: list[str] = []
    for line in lines:
        if chunk and len("\n".join([*chunk, line])) > SECTION_CHARS:
            out.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(clip(line, SECTION_CHARS))
    if chunk:
        out.append(section("\n".join(chunk)))
    if len(out) > limit:
        out = [*out[: limit - 1], context("The list goes on: `expansion team` has all of it.")]
    return out


def who(row) -> str:
    """A person: an @mention when their Slack id is known, else their name or e-mail."""
    if _present(row.get("slack_user_id")):
        return user(row["slack_user_id"])
    if _present(row.get("name")):
        return escape(row["name"])
    return escape(row.get("email") or "someone")


def team_message(members: pd.DataFrame) -> dict:
    """``/expansion team``: who can be suggested as an owner, with role and capacity."""
    if members.empty:
        text = (
            "Nobody is in the team yet. Admins add people with `/expansion team add @person "
            "CSM 10` (role CSM, AE or other; capacity = most open opportunities), or every "
            "account owner of the CRM with `/expansion team import`."
        )
        return {"text": text, "blocks": [section(text)]}
    lines = [f"*Team* ({len(members)}): the people the Assign control suggests"]
    for row in members.to_dict("records"):
        origin = "from the CRM" if row.get("origin") == "crm" else "added in Slack"
        extra = "" if _present(row.get("slack_user_id")) else " (no Slack user with this e-mail)"
        lines.append(
            f"• {who(row)} · {escape(row['email'])}{extra} · {escape(row['role'])} · "
            f"capacity {int(row['capacity'])} · {origin}"
        )
    return {"text": f"Team: {len(members)} people", "blocks": _sections(lines)}


def workload_message(load: pd.DataFrame, *, unassigned: int, unassigned_ev: float) -> dict:
    """``/expansion workload``: each person's open expansion pipeline, most expected value first."""
    head = (
        "*Open expansion pipeline by person* (assigned, open; capacity = most open opportunities)"
    )
    lines = [head]
    if load.empty:
        lines.append("Nobody has open assigned opportunities and the team is empty.")
    for row in load.to_dict("records"):
        parts = [
            f"{int(row['open'])} open",
            f"{int(row['tier1'])} Tier 1",
            f"{money(row['open_ev'])} EV",
        ]
        used = row.get("used")
        if _present(row.get("capacity")):
            cap = int(row["capacity"])
            share = "" if used is None or not math.isfinite(used) else f" ({pct(used)})"
            parts.append(f"{int(row['open'])} of {cap}{share}")
            if int(row["open"]) > cap:
                parts.append(":warning: over capacity")
            elif int(row["open"]) == cap:
                parts.append(":warning: at capacity")
        else:
            parts.append("not in the team")
        role = f" ({escape(row['role'])})" if _present(row.get("role")) else ""
        lines.append(f"• {who(row)}{role}: " + " · ".join(parts))
    lines.append(
        f"Unassigned: {unassigned} open, {money(unassigned_ev)} EV. "
        "Assign from a card's *Assign…* button; suggestions come first."
    )
    return {"text": "Open expansion pipeline by person", "blocks": _sections(lines)}


# --------------------------------------------------------------------------- the Assign modal


@dataclass(frozen=True)
class AssignPlace:
    """Where the Assign button was clicked, kept in the modal's ``private_metadata`` so the
    card can be redrawn there: the card's block id, the channel and message, whether the
    message was ephemeral or the Home tab, and the click's response_url."""

    block_id: str
    channel: str = ""
    message_ts: str = ""
    ephemeral: bool = False
    home: bool = False
    response_url: str = ""

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> AssignPlace | None:
        try:
            data = json.loads(text or "")
            return cls(**data) if isinstance(data, dict) else None
        except (ValueError, TypeError):
            return None


def _modal(blocks: list[dict], place: AssignPlace, *, submit: bool) -> dict:
    view = {
        "type": "modal",
        "callback_id": ASSIGN_CALLBACK,
        "title": plain("Assign owner", 24),
        "close": plain("Cancel" if submit else "Close", 24),
        "private_metadata": place.encode(),
        "blocks": blocks,
    }
    if submit:
        view["submit"] = plain("Assign", 24)
    return view


def assign_loading_view(place: AssignPlace) -> dict:
    return _modal(
        [section(":hourglass_flowing_sand: Finding who has room for it…")], place, submit=False
    )


def assign_notice_view(place: AssignPlace, text: str) -> dict:
    """The modal saying why nothing can be assigned (``text`` is safe mrkdwn)."""
    return _modal([section(text)], place, submit=False)


def suggestion_label(row) -> str:
    """A suggestion's option text: name and role (plain text, at most 75 characters)."""
    name = row.get("name") if _present(row.get("name")) else row.get("email")
    name = str(name or row.get("slack_user_id"))
    role = row.get("role") if _present(row.get("role")) else ""
    tags = [t for t in (role, "at capacity" if row.get("at_capacity") else "") if t]
    return clip(name, 75 - sum(len(t) + 3 for t in tags)) + "".join(f" · {t}" for t in tags)


def assign_view(opp: dict, suggestions: pd.DataFrame, place: AssignPlace) -> dict:
    """The Assign modal: the suggested owners first (radio buttons, each with its reason),
    then anyone else (a users_select)."""
    name = clip(escape(opp["account_name"]), 150)
    blocks: list[dict] = [
        section(f"*{name}*: {escape(deal_words(opp))} · *{deal_arr(opp)}*"),
    ]
    rows = suggestions.head(MAX_SUGGESTIONS).to_dict("records")
    if rows:
        blocks.append(
            {
                "type": "input",
                "block_id": SUGGESTED_BLOCK,
                "optional": True,
                "label": plain("Suggested owners", 2000),
                "element": {
                    "type": "radio_buttons",
                    "action_id": SUGGESTED_ACTION,
                    "options": [
                        {
                            "text": plain(suggestion_label(r), 75),
                            "value": str(r["slack_user_id"])[:150],
                            "description": plain(clip(str(r["reason"]), 75), 75),
                        }
                        for r in rows
                    ],
                },
            }
        )
    blocks.append(
        {
            "type": "input",
            "block_id": ANYONE_BLOCK,
            "optional": True,
            "label": plain("Or anyone else (instead)" if rows else "Assign to", 2000),
            "element": {
                "type": "users_select",
                "action_id": ANYONE_ACTION,
                "placeholder": plain("Pick a person", 150),
            },
        }
    )
    why = (
        "Suggested: the account owner, then by role for the deal (above "
        f"{money(AE_HANDOFF_ARR)} involve an AE), accounts owned in this segment and room under "
        "each person's capacity; people at capacity last. `/expansion workload` shows everyone's."
    )
    if not rows:
        why = (
            "No suggestions yet: admins add people with `/expansion team add @person CSM 10` "
            "or import the CRM's account owners with `/expansion team import`."
        )
    blocks.append(context(why))
    return _modal(blocks, place, submit=True)


def chosen(view: dict) -> tuple[str | None, str | None]:
    """(suggested, anyone else): the Slack ids picked in a submitted Assign modal."""
    values = (view.get("state") or {}).get("values") or {}
    picked = ((values.get(SUGGESTED_BLOCK) or {}).get(SUGGESTED_ACTION) or {}).get(
        "selected_option"
    ) or {}
    other = ((values.get(ANYONE_BLOCK) or {}).get(ANYONE_ACTION) or {}).get("selected_user")
    return picked.get("value"), other


def assign_errors(view: dict) -> dict[str, str] | None:
    """The modal's input errors (block id -> message), or ``None`` when someone is picked
    (anyone else, when picked, wins over a suggestion: radio buttons cannot be cleared)."""
    suggested, other = chosen(view)
    if not suggested and not other:
        has_suggestions = any(
            b.get("block_id") == SUGGESTED_BLOCK for b in view.get("blocks") or []
        )
        return {(SUGGESTED_BLOCK if has_suggestions else ANYONE_BLOCK): "Pick who should take it."}
    return None
