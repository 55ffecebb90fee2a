"""Talking tracks per opportunity type: pitch, key points, approach, objections, risks.

Seed 002 asks for pitches framed around the customer's outcome, not the revenue captured;
each line here is filled with the opportunity's own figures (``{account}``, ``{evidence}``...).
"""

from __future__ import annotations

import re
from typing import Any

# The evidence line of the customer's own ask (expansion.triggers writes it first).
_ASKED = re.compile(r"^Asked (?P<date>\S+): (?P<ask>.+?)(?: \(stated budget (?P<budget>[^)]+)\))?$")

PLAYS: dict[str, dict[str, Any]] = {
    "seat_expansion": {
        "opening": "Your team has grown into the product faster than the licence has: {evidence}.",
        "points": [
            "Everyone who needs it gets access without sharing logins or waiting for a seat to free up",
            "{quantity} more seats keeps the team at a comfortable utilisation as hiring continues",
            "Their own numbers: {evidence_2}",
        ],
        "approach": [
            "{owner}: license audit with the champion this week (who is active, who is waiting)",
            "{owner}: share the utilisation trend and the hiring plan in a 30-minute call",
            "{owner}: send a seat true-up proposal for {quantity} seats, co-termed to {renewal}",
            "{owner}: confirm the order and run onboarding for the new users",
        ],
        "objections": [
            (
                "We can reassign inactive seats instead",
                "Show the active-seat list: utilisation is already {seat_util}",
            ),
            (
                "Budget is locked until renewal",
                "Offer co-terming to {renewal} so they pay only the pro-rated amount",
            ),
        ],
        "risks": ["Hiring freezes would shrink the need: confirm the hiring plan before proposing"],
    },
    "new_department": {
        "opening": "{department} looks like the next team that would get value from what {account} already runs on us.",
        "points": [
            "The same workflows that work for the current teams, without a second tool",
            "{roughly}{quantity} seats for {department}{as_asked}, priced from their current plan",
            "Signal: {evidence}",
        ],
        "approach": [
            "{owner}: map the department with the champion and get an intro to its lead",
            "{owner}: demo to the lead of {department} with their own use cases",
            "{owner}: run a 2-week trial for a handful of users in {department}",
            "{owner}: proposal for {quantity} seats; involve the AE if above $50K",
        ],
        "objections": [
            (
                "That team has its own tools",
                "Position consolidation and shared visibility across teams",
            ),
            (
                "Not this budget year",
                "Agree a start date tied to their planning cycle and pre-approve pricing",
            ),
        ],
        "risks": ["No internal sponsor in the new department: secure one before proposing"],
    },
    "tier_upgrade": {
        "opening": "You are reaching for what {product} was built for: {evidence}.",
        "points": [
            "{product} removes the limits they are reaching for and unlocks the features they asked about",
            "ROI: compare the cost of the limits (workarounds, blocked users) with the price difference",
            "Their own data: {evidence_2}",
        ],
        "approach": [
            "{owner}: ROI analysis from their usage and the features they tried",
            "{owner}: demo of {product} features mapped to their requests",
            "{owner}: proposal with upgrade pricing, co-termed to {renewal}",
            "{owner}: executive sign-off; bring the AE for deals above $50K",
        ],
        "objections": [
            (
                "The jump in price is steep",
                "Phase it: upgrade at renewal with a credit for the remaining term",
            ),
            (
                "We only need one feature",
                "Price the add-on path if one exists; otherwise show the limits they hit",
            ),
        ],
        "risks": ["Price sensitivity at renewal: lead with value, not with the list price"],
    },
    "usage_expansion": {
        "opening": "Your usage is heading for the ceiling: {evidence}.",
        "points": [
            "Raising capacity now avoids throttling in the middle of their busiest period",
            "Predictable cost versus overage surprises",
            "Trend: {evidence_2}",
        ],
        "approach": [
            "{owner}: send the usage trend with the projected date of hitting the limit",
            "{owner}: offer the capacity increase ({product}) as a simple order form",
            "{owner}: confirm the order; set an alert at 80% of the new limit",
        ],
        "objections": [
            (
                "We will optimise our usage",
                "Share where usage comes from; growth is organic, not waste",
            ),
            (
                "Can we pay as we go?",
                "Offer the committed tier as cheaper than overage at their run-rate",
            ),
        ],
        "risks": ["Usage may be seasonal: check the trend over a full year before sizing"],
    },
    "add_on": {
        "opening": "You asked for this: {evidence}.",
        "points": [
            "{product} answers that need inside the platform they already use",
            "Time saved versus today's workaround",
            "Pilot results from their own data after two weeks",
        ],
        "approach": [
            "{owner}: use-case workshop with the requester",
            "{owner}: 2-week pilot of {product}",
            "{owner}: review pilot results and send the proposal",
            "{owner}: rollout plan with enablement",
        ],
        "objections": [
            ("We have a workaround", "Quantify the hours the workaround costs each month"),
            ("Not a priority right now", "Tie it to the initiative or request that raised it"),
        ],
        "risks": ["The requester may not own budget: identify the decision maker early"],
    },
    "new_use_case": {
        "opening": "{account}'s initiative is exactly where the platform can help: {evidence}.",
        "points": [
            "{product} supports the initiative directly, with less integration work than a new tool",
            "Success criteria agreed up front, measured in a scoped pilot",
            "References from customers who ran the same initiative",
        ],
        "approach": [
            "{owner}: discovery call with the initiative's owner",
            "{owner}: scoped pilot with success criteria",
            "{owner}: business case for the initiative's budget holder",
            "{owner}: proposal and rollout plan",
        ],
        "objections": [
            ("We are evaluating other vendors", "Offer a side-by-side pilot on their own data"),
            ("The project is not funded yet", "Help them build the business case"),
        ],
        "risks": ["Initiatives slip: confirm timeline and budget before investing in a pilot"],
    },
    "competitive_displacement": {
        "opening": "You are paying for two tools where one would do: {evidence}.",
        "points": [
            "One platform, one contract, data in one place",
            "Consolidation saves part of the competitor spend",
            "Migration support included in the proposal",
        ],
        "approach": [
            "{owner}: map what the competitor tool is used for",
            "{owner}: consolidation business case against their current spend",
            "{owner}: migration plan with services",
            "{owner}: time the proposal to the competitor's renewal",
        ],
        "objections": [
            ("Users like the other tool", "Run a side-by-side on their top three workflows"),
            ("Switching costs are high", "Include migration services and a parallel-run period"),
        ],
        "risks": ["An entrenched competitor: long cycle, needs an executive sponsor"],
    },
    "professional_services": {
        "opening": "You asked for help with this project: {evidence}.",
        "points": [
            "Experts who have done it before shorten the project",
            "Fixed scope and price",
            "Faster time to value from what they already pay for",
        ],
        "approach": [
            "{owner}: scoping call with the project owner",
            "{owner}: statement of work for {product}",
            "{owner}: kick-off within two weeks of signature",
        ],
        "objections": [
            (
                "We can do it ourselves",
                "Compare internal effort and risk with a fixed-price engagement",
            ),
            ("No services budget", "Bundle into the renewal or phase the work"),
        ],
        "risks": ["Scope creep: agree deliverables in writing"],
    },
    "support_upgrade": {
        "opening": "Your team is leaning on support a lot: {evidence}.",
        "points": [
            "{product}: faster response times and a named contact",
            "Fewer escalations for the team's critical workflows",
            "Proactive health checks",
        ],
        "approach": [
            "{owner}: review the ticket history with the customer",
            "{owner}: propose {product} with SLA terms",
            "{owner}: add it at or before the {renewal} renewal",
        ],
        "objections": [
            (
                "Support should be included",
                "Show what the standard tier covers and what premium adds",
            ),
            ("Tickets will go down", "Offer a quarterly review of ticket volume"),
        ],
        "risks": ["High ticket volume can signal product frustration: check health first"],
    },
}


#: The seat pitch when the need comes from hiring rather than from the seats in use.
GROWING_OPENING = "Your team is growing faster than the licence: {evidence}."


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "n/a"


def play(opportunity: dict, evidence: list[str]) -> dict:
    """The talking track for one opportunity, filled with its own numbers."""
    spec = PLAYS[opportunity["type"]]
    renewal = opportunity.get("renewal_date") or "their renewal"
    seat_util = opportunity.get("seat_utilization")
    values = _Blank(
        account=opportunity.get("account_name") or opportunity.get("account_id"),
        evidence=evidence[0] if evidence else opportunity.get("description", ""),
        evidence_2=evidence[1]
        if len(evidence) > 1
        else (evidence[0] if evidence else "see the evidence"),
        owner=opportunity.get("owner") or "Account owner",
        product=opportunity.get("product_name") or opportunity.get("product_id") or "the offer",
        quantity=_quantity(opportunity.get("quantity")),
        department=opportunity.get("department") or "the new team",
        renewal=str(renewal)[:10],
        seat_util=f"{seat_util * 100:.0f}%"
        if isinstance(seat_util, (int, float)) and seat_util == seat_util
        else "high",
    )
    asked = _ASKED.match(evidence[0]) if evidence else None
    values["roughly"] = "" if asked else "Roughly "
    values["as_asked"] = ", as they asked" if asked else ""
    opening = spec["opening"]
    if opportunity["type"] == "seat_expansion" and not {"seat_ceiling", "limit_hit"} & set(
        str(opportunity.get("triggers") or "").split(",")
    ):
        # Sized from hiring, not from seats in use: the team is growing, not out of seats.
        opening = GROWING_OPENING
    opening = _sentence(opening.format_map(values))
    approach = [a.format_map(values) for a in spec["approach"]]
    if asked:
        # Their own ask leads: open with what they asked for, in their words, and answer it
        # first (no discovery, audit or trial before the proposal they asked for).
        ask = asked["ask"].rstrip(". ")
        budget = f"; their budget: {asked['budget']}" if asked["budget"] else ""
        opening = (
            f"Following up on the request of {asked['date']} ({ask}{budget}): "
            "here is how we would set it up."
        )
        what = (
            f"{values['quantity']} seats"
            if opportunity["type"] in ("seat_expansion", "new_department")
            and opportunity.get("quantity") == opportunity.get("quantity")
            and opportunity.get("quantity")
            else values["product"]
        )
        approach = [
            f"{values['owner']}: send the proposal they asked for ({what}) this week",
            f"{values['owner']}: walk the requester through it and agree the start date, "
            f"co-termed to {values['renewal']}",
            approach[-1],
        ]
    return {
        "opening": opening,
        "points": [p.format_map(values) for p in spec["points"]],
        "approach": approach,
        "objections": [(q.format_map(values), a.format_map(values)) for q, a in spec["objections"]],
        "risks": [r.format_map(values) for r in spec["risks"]],
    }


def _sentence(text: str) -> str:
    """A sentence starts with a capital, whatever a placeholder put first ("the new office")."""
    return text[:1].upper() + text[1:]


def _quantity(value) -> str:
    if value is None or value != value:
        return "the right number of"
    return f"{round(float(value)):,}"
