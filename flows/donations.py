"""The donation roster kind: the GIVE menu of what the next cycle still needs, pledges by
number and quantity ("1 5", "5 weekly"), DONE on the day, and the answers to gap asks and to
the weekly check of a standing pledge, declared for ``flows.conversation`` as ``KIND``.
Pure; imports ``flows`` modules but no other roster kind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

from flows import catalog
from flows.engine import (
    DEFER,
    END,
    IDLE,
    STAY,
    Context,
    Data,
    Effect,
    Flow,
    Outcome,
    Reply,
    SessionState,
    State,
    Transition,
    lookup_port,
)
from flows.keywords import Keyword, KeywordSpec
from flows.kinds import RosterKind
from flows.menus import Menu, item, list_menu
from flows.parsing import fold_accents, normalize, parse_yes, phrase_set
from flows.sms import fits_menu_budget

MAX_QUANTITY = 9999
_WEEKLY = r"(?:weekly|every ?week|each ?week|semanal|cada ?semana|हर ?हफ्ते)"
# A letter, or a Devanagari letter or vowel sign (signs are not \w in ``re``): "kg", "किलो".
_LETTER = r"(?:[^\W\d]|[\u0900-\u0963\u0971-\u097f])"
_UNIT = rf"(?:(?!{_WEEKLY}){_LETTER}{{1,12}}\.?)"
_DECIMAL = re.compile(r"\d[.,]\d")  # "5.5" is not menu number 5 and quantity 5
_QUANTITY = re.compile(rf"^(\d{{1,4}})\s*{_UNIT}?\s*({_WEEKLY})?$")
_CHOICE_AND_QUANTITY = re.compile(rf"^(\d{{1,2}})\s+(\d{{1,4}})\s*{_UNIT}?\s*({_WEEKLY})?$")


class DonationQuestion(StrEnum):
    """The questions a donation roster texts that a bare answer answers."""

    GAP = "gap"  # a gap ask (id: the cycle need)
    STANDING = "standing"  # the weekly check of a standing pledge (id: the standing pledge)


GAP = DonationQuestion.GAP
STANDING = DonationQuestion.STANDING


# ----- keywords ----------------------------------------------------------------------------
class DonationIntent(StrEnum):
    GIVE = "give"
    DONE = "done"


GIVE_WORDS = phrase_set(["give", "donate", "needs", "dar", "donar", "दान"])
DONE_WORDS = phrase_set(["done", "delivered", "dropped off", "listo", "entregado", "हो गया"])
KEYWORDS = (
    KeywordSpec(DonationIntent.GIVE, GIVE_WORDS),
    KeywordSpec(DonationIntent.DONE, DONE_WORDS),
)


# ----- what the flows read: the lookup port and its views ----------------------------------
@dataclass(frozen=True)
class NeedView:
    """A donation need of the next cycle, as the GIVE menu shows it."""

    id: int  # the cycle need id
    item: str
    unit: str
    missing: int
    target: int
    when: str


@runtime_checkable
class DonationLookup(Protocol):
    """The shell's query for the GIVE menu: the next cycle's needs."""

    def open_needs(self) -> Sequence[NeedView]: ...


class _NoNeeds:
    def open_needs(self) -> Sequence[NeedView]:
        return ()


def _lookup(context: Context) -> DonationLookup:
    return lookup_port(context, DonationLookup, _NoNeeds())


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


# ----- the GIVE menu and its quantity question ---------------------------------------------
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


def _menu_number(text: str) -> int | None:
    match = re.fullmatch(r"\s*#?(\d{1,2})[.)]?\s*", text)
    return int(match.group(1)) if match else None


def _digit_led(text: str) -> str | None:
    """ "1 0", "1 lots", "5.5": a menu reply gone wrong (or a quantity for a gap ask)."""
    return text if re.match(r"\s*#?\d", text) else None


def _ids(data: Data) -> list[int]:
    return list(data.get("ids", []))


def _listed(number: int, context: Context, data: Data) -> bool:
    return 1 <= number <= len(_ids(data))


def _choice_listed(choice: tuple[int, int, bool], context: Context, data: Data) -> bool:
    return _listed(choice[0], context, data)


def _pledge_choice(
    choice: tuple[int, int, bool], context: Context, data: Data
) -> tuple[Effect, ...]:
    number, amount, weekly = choice
    return (PledgeNeed(_ids(data)[number - 1], amount, weekly),)


def _count(value: Any, context: Context, data: Data) -> Mapping[str, object]:
    return {"count": len(_ids(data))}


def _choose(number: int, context: Context, data: Data) -> Data:
    return {**data, "need": _ids(data)[number - 1]}


def _unchoose(quantity: tuple[int, bool], context: Context, data: Data) -> Data:
    return {key: value for key, value in data.items() if key != "need"}


def _not_a_gap_answer(value: object, context: Context, data: Data) -> bool:
    """A quantity beyond the menu answers a gap ask texted since, if one is open."""
    pending = context.pending
    text = str(value)
    return not (pending is not None and pending.kind == GAP and parse_quantity(text) is not None)


def _chosen_need(context: Context, data: Data) -> Mapping[str, object]:
    needs: Mapping[str, Mapping[str, object]] = data.get("needs", {})
    return dict(needs.get(str(int(data.get("need", 0))), {}))


def _pledge_chosen(quantity: tuple[int, bool], context: Context, data: Data) -> tuple[Effect, ...]:
    return (PledgeNeed(int(data.get("need", 0)), quantity[0], quantity[1]),)


def _answers_pending(answer: bool, context: Context, data: Data) -> bool:
    """YES / NO answers the question we texted since (a gap ask takes only NO)."""
    pending = context.pending
    return pending is not None and (pending.kind != GAP or not answer)


# Entered with {"ids": the need ids numbered, "needs": what the quantity question says of each}.
# A pledge leaves it open: a further number (and amount) is another pledge while it lives.
MENU = Flow(
    name="give",
    start="menu",
    restart=False,  # only GIVE opens it, with the needs it numbers
    renew_on_retry=False,  # the numbers mean the list shown; it goes stale a day after
    states=(
        State(
            name="menu",
            prompt="raw",  # the menu, computed when it is shown
            reprompt=None,  # words are not for the menu
            transitions=(
                Transition(
                    parse=parse_choice_and_quantity,
                    to=STAY,
                    when=_choice_listed,
                    effects=_pledge_choice,
                ),
                Transition(
                    parse=parse_choice_and_quantity,
                    to=STAY,
                    say="give.pick_number",
                    params=_count,
                ),
                Transition(parse=_menu_number, to="quantity", when=_listed, data=_choose),
                Transition(
                    parse=_menu_number,
                    to=STAY,
                    when=_not_a_gap_answer,
                    say="give.pick_number",
                    params=_count,
                ),
                Transition(
                    parse=_digit_led,
                    to=STAY,
                    when=_not_a_gap_answer,
                    say="give.pick_number",
                    params=_count,
                ),
            ),
        ),
        State(
            name="quantity",
            prompt="give.ask_quantity",
            reprompt="give.ask_quantity",
            params=_chosen_need,
            transitions=(
                Transition(
                    parse=parse_quantity,
                    to="menu",
                    ask=False,  # the menu stays open for another pledge
                    effects=_pledge_chosen,
                    data=_unchoose,
                ),
                Transition(parse=parse_yes, to=DEFER, when=_answers_pending),
            ),
        ),
    ),
)


def show_needs(context: Context) -> Outcome:
    """GIVE: the next cycle's needs that are still short, numbered."""
    needs = [n for n in _lookup(context).open_needs() if n.missing > 0]
    if not needs:
        return Outcome(IDLE, (Reply("give.none"),))
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
    }
    outcome = MENU.begin(context, data, {"text": text})
    return replace(outcome, menu=needs_menu(context.language, needs[:shown], text))


def needs_menu(language: str, needs: Sequence[NeedView], text: str) -> Menu | None:
    """The GIVE menu as a list to tap: each item ``need:<cycle need id>``, with its number."""
    items = tuple(
        item(
            f"need:{need.id}",
            number,
            need.item,
            catalog.render(
                language,
                "give.item",
                {"missing": need.missing, "target": need.target, "unit": need.unit},
            ),
        )
        for number, need in enumerate(needs, 1)
    )
    when = needs[0].when if needs else ""
    return list_menu(language, catalog.render(language, "give.pick", {"when": when}), items, text)


def _tap_need(context: Context, session: SessionState, value: str) -> Outcome | None:
    """A list item ``need:<id>``: ask how much for that very need, if the next cycle still
    needs it (the menu tapped may be hours old); the amount then pledges it."""
    if not value.isdigit():
        return None
    need = next((n for n in _lookup(context).open_needs() if n.id == int(value)), None)
    if need is None or need.missing <= 0:
        return Outcome(IDLE, (Reply("give.closed"),))
    data = {"ids": [need.id], "needs": {str(need.id): _need_data(need)}, "need": need.id}
    return MENU.enter("quantity", context, data)


def _need_data(need: NeedView) -> dict[str, object]:
    return {"item": need.item, "unit": need.unit, "missing": need.missing}


# ----- answers to the questions we text ----------------------------------------------------
def _no(text: str) -> bool | None:
    return True if parse_yes(text) is False else None


def _pledge_asked(quantity: tuple[int, bool], context: Context, data: Data) -> tuple[Effect, ...]:
    return (PledgeNeed(int(data["id"]), quantity[0], quantity[1]),)


def _answer_standing(yes: bool, context: Context, data: Data) -> tuple[Effect, ...]:
    return (AnswerStanding(int(data["id"]), yes),)


# A gap ask (id: the cycle need): a quantity pledges it, NO declines.
GAP_ASK = Flow(
    name=DonationQuestion.GAP,
    start="asked",
    states=(
        State(
            name="asked",
            prompt="gap.ask",
            reprompt=None,
            transitions=(
                Transition(parse=parse_quantity, to=END, effects=_pledge_asked),
                Transition(parse=_no, to=END, say="gap.declined"),
            ),
        ),
    ),
)
# The weekly check of a standing pledge (id: the standing pledge): YES brings it, NO skips.
STANDING_CHECK = Flow(
    name=DonationQuestion.STANDING,
    start="asked",
    states=(
        State(
            name="asked",
            prompt="standing.ask",
            reprompt=None,
            transitions=(Transition(parse=parse_yes, to=END, effects=_answer_standing),),
        ),
    ),
)


# ----- commands ----------------------------------------------------------------------------
def _give(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return show_needs(context)


def _done(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(IDLE, (), (MarkDone(),))


KIND = RosterKind(
    name="donations",
    keywords=KEYWORDS,
    commands={DonationIntent.GIVE: _give, DonationIntent.DONE: _done},
    flows=(MENU,),
    questions={GAP: GAP_ASK, STANDING: STANDING_CHECK},
    drops={"pledge": DropPledge},
    taps={"need": _tap_need},
)
