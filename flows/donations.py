"""Donation rosters by text: the GIVE menu of what the next cycle still needs, pledges by
number and quantity ("1 5", "5 weekly"), DONE on the day, and answers to gap asks and to the
weekly check of a standing pledge. Pure; imports only ``flows``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from flows import catalog
from flows.engine import (
    Context,
    Effect,
    NeedView,
    Outcome,
    Reply,
    SessionState,
)
from flows.parsing import fold_accents, normalize, parse_yes
from flows.sms import fits_menu_budget

MAX_QUANTITY = 9999
_WEEKLY = r"(?:weekly|every ?week|each ?week|semanal|cada ?semana|हर ?हफ्ते)"
# A letter, or a Devanagari letter or vowel sign (signs are not \w in ``re``): "kg", "किलो".
_LETTER = r"(?:[^\W\d]|[\u0900-\u0963\u0971-\u097f])"
_UNIT = rf"(?:(?!{_WEEKLY}){_LETTER}{{1,12}}\.?)"
_DECIMAL = re.compile(r"\d[.,]\d")  # "5.5" is not menu number 5 and quantity 5
_QUANTITY = re.compile(rf"^(\d{{1,4}})\s*{_UNIT}?\s*({_WEEKLY})?$")
_CHOICE_AND_QUANTITY = re.compile(rf"^(\d{{1,2}})\s+(\d{{1,4}})\s*{_UNIT}?\s*({_WEEKLY})?$")


# ----- effects and results -----------------------------------------------------------------
@dataclass(frozen=True)
class PledgeNeed(Effect):
    cycle_need_id: int
    quantity: int
    weekly: bool = False


@dataclass(frozen=True)
class DropPledge(Effect):
    pledge_id: int


@dataclass(frozen=True)
class MarkDone(Effect):
    pass


@dataclass(frozen=True)
class AnswerStanding(Effect):
    """YES / NO to the weekly check of a standing pledge."""

    standing_id: int
    yes: bool


@dataclass(frozen=True)
class PledgeFacts:
    item: str = ""
    unit: str = ""
    when: str = ""
    place: str = ""

    def params(self) -> dict[str, object]:
        return {"item": self.item, "unit": self.unit, "when": self.when, "place": self.place}


@dataclass(frozen=True)
class PledgeResult:
    outcome: Literal["pledged", "capped", "full", "closed"]
    facts: PledgeFacts = PledgeFacts()
    quantity: int = 0
    weekly: bool = False

    def reply(self) -> Reply:
        key = f"give.{self.outcome}" + ("_weekly" if self.weekly and self.quantity else "")
        if self.outcome in ("full", "closed"):
            key = f"give.{self.outcome}"
        return Reply(key, {**self.facts.params(), "quantity": self.quantity})


@dataclass(frozen=True)
class DoneResult:
    outcome: Literal["delivered", "nothing_today"]
    count: int = 0

    def reply(self) -> Reply:
        return Reply(f"done.{self.outcome}", {"count": self.count})


@dataclass(frozen=True)
class StandingResult:
    outcome: Literal["pledged", "skipped", "gone"]
    facts: PledgeFacts = PledgeFacts()
    quantity: int = 0

    def reply(self) -> Reply:
        return Reply(f"standing.{self.outcome}", {**self.facts.params(), "quantity": self.quantity})


# ----- parsers -----------------------------------------------------------------------------
def _clean(text: str) -> str:
    return fold_accents(normalize(text))


def parse_quantity(text: str) -> tuple[int, bool] | None:
    """``5``, ``5 kg``, ``5 weekly`` → (5, weekly?)."""
    match = _QUANTITY.match(_clean(text))
    if match is None or not 0 < int(match.group(1)) <= MAX_QUANTITY:
        return None
    return int(match.group(1)), match.group(2) is not None


def parse_choice_and_quantity(text: str) -> tuple[int, int, bool] | None:
    """``1 5`` (menu number, quantity), optionally with a unit and ``weekly``."""
    if _DECIMAL.search(text):
        return None
    match = _CHOICE_AND_QUANTITY.match(_clean(text))
    if match is None or not 0 < int(match.group(2)) <= MAX_QUANTITY:
        return None
    return int(match.group(1)), int(match.group(2)), match.group(3) is not None


# ----- handlers ----------------------------------------------------------------------------
def _line(language: str, number: int, need: NeedView) -> str:
    return catalog.render(
        language,
        "give.line",
        {
            "n": number,
            "item": need.item,
            "missing": need.missing,
            "target": need.target,
            "unit": need.unit,
        },
    )


def show_needs(context: Context) -> Outcome:
    """GIVE: the next cycle's needs that are still short, numbered."""
    needs = [n for n in context.lookup.open_needs() if n.missing > 0]
    if not needs:
        return Outcome(SessionState(), (Reply("give.none"),))
    params = context.params()
    text = ""
    shown = 0
    for end in range(1, len(needs) + 1):
        lines = "\n".join(_line(context.language, i, n) for i, n in enumerate(needs[:end], 1))
        candidate = catalog.render(
            context.language, "give.menu", {**params, "lines": lines, "when": needs[0].when}
        )
        if not fits_menu_budget(candidate) and shown:
            break
        text, shown = candidate, end
    data = {
        "ids": [n.id for n in needs[:shown]],
        "needs": {str(n.id): _need_data(n) for n in needs[:shown]},
        "params": {"count": shown},
    }
    session = SessionState("give", "menu", data, context.now + timedelta(hours=24))
    return Outcome(session, (Reply("raw", {"text": text}),))


def _need_data(need: NeedView) -> dict[str, object]:
    return {"item": need.item, "unit": need.unit, "missing": need.missing}


def in_menu(context: Context, session: SessionState, text: str) -> Outcome | None:
    """A reply while the GIVE menu or the quantity question is open; None if not one."""
    ids: list[int] = list(session.data.get("ids", []))
    needs: Mapping[str, Mapping[str, object]] = session.data.get("needs", {})
    if session.state == "quantity":
        quantity = parse_quantity(text)
        need_id = int(session.data.get("need", 0))
        if quantity is None:
            answer, pending = parse_yes(text), context.pending
            if answer is not None and pending is not None and (pending.kind != "gap" or not answer):
                return None  # YES / NO answers the question we texted since
            return Outcome(
                session, (Reply("give.ask_quantity", dict(needs.get(str(need_id), {}))),)
            )
        return Outcome(SessionState(), (), (PledgeNeed(need_id, quantity[0], quantity[1]),))
    both = parse_choice_and_quantity(text)
    if both is not None:
        number, amount, weekly = both
        if 1 <= number <= len(ids):
            return Outcome(SessionState(), (), (PledgeNeed(ids[number - 1], amount, weekly),))
        return Outcome(session, (Reply("give.pick_number", {"count": len(ids)}),))
    match = re.fullmatch(r"\s*#?(\d{1,2})[.)]?\s*", text)
    if match is None:
        # "1 0", "1 lots", "5.5": a menu reply gone wrong (unless it answers a gap ask)
        if re.match(r"\s*#?\d", text) and answer_gap(context, text) is None:
            return Outcome(session, (Reply("give.pick_number", {"count": len(ids)}),))
        return None
    number = int(match.group(1))
    if not 1 <= number <= len(ids):
        return Outcome(session, (Reply("give.pick_number", {"count": len(ids)}),))
    need_id = ids[number - 1]
    data = {**session.data, "need": need_id}
    asking = SessionState("give", "quantity", data, context.now + timedelta(hours=24))
    return Outcome(asking, (Reply("give.ask_quantity", dict(needs.get(str(need_id), {}))),))


def answer_gap(context: Context, text: str) -> Outcome | None:
    """A quantity in reply to a gap ask pledges it directly."""
    pending = context.pending
    if pending is None or pending.kind != "gap":
        return None
    quantity = parse_quantity(text)
    if quantity is None:
        return None
    return Outcome(SessionState(), (), (PledgeNeed(pending.id, quantity[0], quantity[1]),))


def answer_standing(context: Context, yes: bool) -> Outcome | None:
    pending = context.pending
    if pending is None or pending.kind != "standing":
        return None
    return Outcome(SessionState(), (), (AnswerStanding(pending.id, yes),))


def done(context: Context) -> Outcome:
    return Outcome(SessionState(), (), (MarkDone(),))
