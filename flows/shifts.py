"""The shift roster kind: the SHIFTS menu (MORE pages on, a number signs up), IN / OUT,
PAUSE / RESUME, and the answers to reminders and call-outs, declared for
``flows.conversation`` as ``KIND``.

Effects whose outcome only the database can decide (a claim on the last place) come back as
Results whose replies are defined here too. Pure; imports ``flows`` modules but no other roster
kind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from flows import catalog
from flows.commitments import parse_drop
from flows.dates import DateStyle
from flows.engine import (
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
from flows.menus import Menu, item, list_menu, yes_no
from flows.parsing import parse_number, parse_yes, phrase_set
from flows.sms import fits_menu_budget

MAX_PAUSE = timedelta(days=365)


# ----- keywords ----------------------------------------------------------------------------
class ShiftIntent(StrEnum):
    SHIFTS = "shifts"
    MORE = "more"
    IN = "in"
    OUT = "out"
    PAUSE = "pause"
    RESUME = "resume"


class ShiftQuestion(StrEnum):
    """The questions a shift roster texts that a bare YES / NO / DROP answers."""

    REMINDER = "reminder"  # a reminder before a shift (id: the assignment)
    CALLOUT = "callout"  # an urgent call-out (id: the call-out)


SHIFTS_WORDS = phrase_set(["shifts", "shift", "turnos", "turno", "शिफ्ट"])
MORE_WORDS = phrase_set(["more", "mas", "और"])
IN_WORDS = phrase_set(["in", "check in", "checkin", "llegue", "entrada", "पहुंचा", "पहुँचा"])
OUT_WORDS = phrase_set(["out", "check out", "checkout", "salida", "गया"])
PAUSE_WORDS = phrase_set(["pause", "pausa", "break", "रुकें"])
RESUME_WORDS = phrase_set(["resume", "unpause", "reanudar", "seguir", "फिर से"])
KEYWORDS = (
    KeywordSpec(ShiftIntent.SHIFTS, SHIFTS_WORDS),
    KeywordSpec(ShiftIntent.MORE, MORE_WORDS),
    KeywordSpec(ShiftIntent.IN, IN_WORDS),
    KeywordSpec(ShiftIntent.OUT, OUT_WORDS),
    KeywordSpec(ShiftIntent.RESUME, RESUME_WORDS),
    KeywordSpec(ShiftIntent.PAUSE, PAUSE_WORDS, arguments=2),  # "PAUSE 2 weeks"
)


# ----- what the flows read: the lookup port and its views ----------------------------------
@dataclass(frozen=True)
class ShiftView:
    """An open shift as a menu line shows it (times already in the community's zone)."""

    id: int
    title: str
    place: str
    when: str
    spots_left: int


@runtime_checkable
class ShiftLookup(Protocol):
    """The shell's query for the SHIFTS menu: open shifts this volunteer may take."""

    def open_shifts(self) -> Sequence[ShiftView]: ...


class _NoShifts:
    def open_shifts(self) -> Sequence[ShiftView]:
        return ()


def _lookup(context: Context) -> ShiftLookup:
    return lookup_port(context, ShiftLookup, _NoShifts())


# ----- effects ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ClaimShift(Effect):
    shift_id: int


@dataclass(frozen=True)
class DropAssignment(Effect):
    assignment_id: int


@dataclass(frozen=True)
class CheckIn(Effect):
    pass


@dataclass(frozen=True)
class CheckOut(Effect):
    pass


@dataclass(frozen=True)
class ConfirmAssignment(Effect):
    """YES to a reminder."""

    assignment_id: int


@dataclass(frozen=True)
class AnswerCallOut(Effect):
    callout_id: int
    yes: bool


@dataclass(frozen=True)
class Pause(Effect):
    until: datetime | None  # None: until RESUME


@dataclass(frozen=True)
class Resume(Effect):
    pass


# ----- results (the shell fills them in; flows own their texts) --------------------------
@dataclass(frozen=True)
class ShiftFacts:
    title: str = ""
    when: str = ""
    place: str = ""

    def params(self) -> dict[str, object]:
        return {"title": self.title, "when": self.when, "place": self.place}


@dataclass(frozen=True)
class ClaimResult:
    outcome: Literal["confirmed", "waitlisted", "already", "closed"]
    shift: ShiftFacts = ShiftFacts()
    position: int = 0

    def reply(self) -> Reply:
        return Reply(f"shifts.{self.outcome}", {**self.shift.params(), "position": self.position})


@dataclass(frozen=True)
class DropResult:
    outcome: Literal["dropped", "not_found"]
    shift: ShiftFacts = ShiftFacts()

    def reply(self) -> Reply:
        key = "drop.done" if self.outcome == "dropped" else "drop.which"
        return Reply(key, self.shift.params())


@dataclass(frozen=True)
class AttendanceResult:
    outcome: Literal["checked_in", "checked_out", "already_in", "no_shift", "not_in"]
    shift: ShiftFacts = ShiftFacts()
    hours: str = ""

    def reply(self) -> Reply:
        return Reply(f"attendance.{self.outcome}", {**self.shift.params(), "hours": self.hours})


@dataclass(frozen=True)
class ConfirmResult:
    outcome: Literal["confirmed", "not_found"]
    shift: ShiftFacts = ShiftFacts()

    def reply(self) -> Reply:
        return Reply(f"reminder.{self.outcome}", self.shift.params())


CallOutOutcome = Literal["confirmed", "full", "declined", "already"]


@dataclass(frozen=True)
class CallOutResult:
    outcome: CallOutOutcome
    shift: ShiftFacts = ShiftFacts()

    def reply(self) -> Reply:
        return Reply(f"callout.{self.outcome}", self.shift.params())


# ----- formatting ------------------------------------------------------------------------
def format_when(local: datetime, style: DateStyle | str) -> str:
    """``Sat 28 Nov, 9:00`` (``Sat Nov 28, 9am`` in the US; ``tomorrow, 9am`` when the style
    knows today) in the volunteer's language; a bare language code: day first, 24-hour."""
    return (DateStyle(style) if isinstance(style, str) else style).when(local)


def menu_line(language: str, number: int, shift: ShiftView) -> str:
    """One menu line: the places left, or for a full shift how to join its waitlist."""
    key = "shifts.line" if shift.spots_left > 0 else "shifts.line_full"
    return catalog.render(
        language,
        key,
        {
            "n": number,
            "title": shift.title,
            "when": shift.when,
            "place": shift.place,
            "left": shift.spots_left,
        },
    )


def menu_order(shifts: Sequence[ShiftView]) -> list[ShiftView]:
    """Shifts with places first, full ones (a waitlist place) last; each in the lookup's order."""
    return sorted(shifts, key=lambda s: s.spots_left <= 0)


def menu_page(
    shifts: Sequence[ShiftView], start: int, language: str, params: Mapping[str, object]
) -> tuple[str, int]:
    """The menu text for ``shifts[start:]`` that fits in two segments, and how many it shows."""
    shown = 0
    text = ""
    for end in range(start + 1, len(shifts) + 1):
        lines = "\n".join(
            menu_line(language, i + 1, s) for i, s in enumerate(shifts[start:end], start=start)
        )
        key = "shifts.menu_more" if end < len(shifts) else "shifts.menu"
        candidate = catalog.render(language, key, {**params, "lines": lines})
        if not fits_menu_budget(candidate) and shown:
            break
        text, shown = candidate, end - start
    return text, shown


# ----- parsers ---------------------------------------------------------------------------
_DURATION = re.compile(
    r"^(\d{1,3})(d|day|days|dia|dias|w|wk|wks|week|weeks|semana|semanas|m|"
    r"month|months|mes|meses)$"
)
_UNIT_DAYS = {"d": 1, "w": 7, "m": 30, "s": 7}


def parse_duration(argument: str) -> timedelta | None:
    """``2w``, ``10days``, ``3 semanas`` (joined by the keyword parser) → a timedelta."""
    match = _DURATION.match(argument.strip().lower())
    if match is None:
        return None
    count, unit = int(match.group(1)), match.group(2)
    days = _UNIT_DAYS[
        "m" if unit.startswith("me") or unit.startswith("mo") or unit == "m" else unit[0]
    ]
    duration = timedelta(days=count * days)
    return duration if timedelta(0) < duration <= MAX_PAUSE else None


# ----- the SHIFTS menu --------------------------------------------------------------------
def _listed(number: int, context: Context, data: Data) -> bool:
    return 1 <= number <= len(data.get("ids", []))


def _claim(number: int, context: Context, data: Data) -> tuple[Effect, ...]:
    return (ClaimShift(list(data["ids"])[number - 1]),)


def _count(value: Any, context: Context, data: Data) -> Mapping[str, object]:
    return {"count": len(data.get("ids", []))}


# Entered with {"ids": the shift ids numbered so far, "next": the first one not shown yet}.
# A sign-up leaves it open: a further number is another choice while the session lives.
MENU = Flow(
    name="shifts",
    start="menu",
    restart=False,  # only SHIFTS and MORE open it, with a page
    renew_on_retry=False,  # the numbers mean the list shown; it goes stale a day after
    states=(
        State(
            name="menu",
            prompt="raw",  # the page, computed when it is shown
            reprompt=None,  # a text that is not a number is not for the menu
            transitions=(
                Transition(parse=parse_number, to=STAY, when=_listed, effects=_claim),
                Transition(parse=parse_number, to=STAY, say="shifts.pick_number", params=_count),
            ),
        ),
    ),
)


def show_menu(context: Context, start: int = 0) -> Outcome:
    """SHIFTS (start=0) or MORE: the next page of open shifts as a numbered menu."""
    shifts = menu_order(_lookup(context).open_shifts())
    if not shifts:
        return Outcome(IDLE, (Reply("shifts.none"),))
    if start >= len(shifts):
        start = 0
    text, shown = menu_page(shifts, start, context.language, context.params())
    data = {"ids": [s.id for s in shifts[: start + shown]], "next": start + shown}
    outcome = MENU.begin(context, data, {"text": text})
    page = list(enumerate(shifts[start : start + shown], start=start + 1))
    more = start + shown < len(shifts)
    return replace(outcome, menu=shifts_menu(context.language, page, text, more=more))


def shifts_menu(
    language: str, page: Sequence[tuple[int, ShiftView]], text: str, *, more: bool
) -> Menu | None:
    """The menu page as a list to tap: each item ``shift:<id>``, titled with its number."""
    items = tuple(
        item(
            f"shift:{shift.id}",
            number,
            shift.title,
            catalog.render(
                language,
                "shifts.item" if shift.spots_left > 0 else "shifts.item_full",
                {"when": shift.when, "place": shift.place, "left": shift.spots_left},
            ),
        )
        for number, shift in page
    )
    body = catalog.render(language, "shifts.pick_more" if more else "shifts.pick")
    return list_menu(language, body, items, text)


def reminder_buttons(language: str, text: str, assignment_id: int) -> Menu | None:
    """YES / NO buttons under a shift reminder (``reminder:<assignment id>``)."""
    return yes_no(language, text, f"reminder:{assignment_id}", f"reminder:{assignment_id}:no")


def call_out_buttons(language: str, text: str, callout_id: int) -> Menu | None:
    """YES / NO buttons under a call-out (``callout:<id>``)."""
    return yes_no(language, text, f"callout:{callout_id}", f"callout:{callout_id}:no")


# ----- answers to the questions we text ----------------------------------------------------
def _yes(text: str) -> bool | None:
    return True if parse_yes(text) is True else None


def _no(text: str) -> bool | None:
    return True if parse_yes(text) is False else None


def _confirm(value: bool, context: Context, data: Data) -> tuple[Effect, ...]:
    return (ConfirmAssignment(int(data["id"])),)


def _drop_assignment(value: bool, context: Context, data: Data) -> tuple[Effect, ...]:
    return (DropAssignment(int(data["id"])),)


def _answer_call_out(yes: bool, context: Context, data: Data) -> tuple[Effect, ...]:
    return (AnswerCallOut(int(data["id"]), yes),)


def _still_the_question(yes: bool, context: Context, data: Data) -> bool:
    """No question texted since this call-out (a later one takes the YES)."""
    pending = context.pending
    return pending is None or (pending.kind, pending.id) == (ShiftQuestion.CALLOUT, data["id"])


# The reminder before a shift (id: the assignment): YES confirms, NO asks to DROP, DROP drops.
REMINDER = Flow(
    name=ShiftQuestion.REMINDER,
    start="asked",
    states=(
        State(
            name="asked",
            prompt="reminder.text",
            reprompt=None,
            transitions=(
                Transition(parse=_yes, to=END, effects=_confirm),
                Transition(parse=_no, to=END, say="reminder.no"),
                Transition(parse=parse_drop, to=END, effects=_drop_assignment),
            ),
        ),
    ),
)
# An urgent call-out (id: the call-out): YES or NO, first come first served. Once answered, a
# further YES is answered again while the session lives (the shell says whether the place is
# already theirs, still open after a NO, or gone); a NO after a YES is not taken (DROP is).
CALL_OUT = Flow(
    name=ShiftQuestion.CALLOUT,
    start="asked",
    states=(
        State(
            name="asked",
            prompt="callout.ask",
            reprompt=None,
            transitions=(
                Transition(parse=parse_yes, to="answered", ask=False, effects=_answer_call_out),
            ),
        ),
        State(
            name="answered",
            prompt="callout.ask",
            reprompt=None,
            transitions=(
                Transition(parse=_yes, to=STAY, when=_still_the_question, effects=_answer_call_out),
            ),
        ),
    ),
)


# ----- commands (what the keywords do for a member) ------------------------------------------
def _shifts(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return show_menu(context)


def _more(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    start = int(session.data.get("next", 0)) if session.flow == MENU.name else 0
    return show_menu(context, start)


def _check_in(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(IDLE, (), (CheckIn(),))


def _check_out(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(IDLE, (), (CheckOut(),))


def _pause(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return pause(context, keyword.argument)


def _resume(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return resume(context)


def pause(context: Context, argument: str) -> Outcome:
    if not argument:
        return Outcome(IDLE, (Reply("pause.open"),), (Pause(None),))
    duration = parse_duration(argument)
    if duration is None:
        return Outcome(IDLE, (Reply("pause.usage"),))
    until = context.now + duration
    local = until.astimezone(ZoneInfo(context.zone))
    day = context.dates().day(local.date(), relative=False)
    return Outcome(
        IDLE,
        (Reply("pause.until", {"until": day}),),
        (Pause(until),),
    )


def resume(context: Context) -> Outcome:
    return Outcome(IDLE, (Reply("resume.done"),), (Resume(),))


def _tap_shift(context: Context, session: SessionState, value: str) -> Outcome | None:
    """A list item ``shift:<id>``: sign up for that very shift, if it is still open to the
    volunteer (the menu they tapped may be hours old)."""
    if not value.isdigit():
        return None
    shift_id = int(value)
    if all(shift.id != shift_id for shift in _lookup(context).open_shifts()):
        return Outcome(IDLE, (Reply("shifts.closed"),))
    return Outcome(IDLE, (), (ClaimShift(shift_id),))


def _answer_tap(value: str) -> tuple[int, bool] | None:
    """``12`` (the YES button) or ``12:no`` (the NO button) → (id, yes)."""
    number, _, answer = value.partition(":")
    if not number.isdigit() or answer not in ("", "no"):
        return None
    return int(number), answer == ""


def _tap_reminder(context: Context, session: SessionState, value: str) -> Outcome | None:
    """A reminder's button ``reminder:<assignment id>[:no]``: YES confirms that very place."""
    tapped = _answer_tap(value)
    if tapped is None:
        return None
    assignment_id, yes = tapped
    if not yes:
        return Outcome(session, (Reply("reminder.no"),))
    return Outcome(session, (), (ConfirmAssignment(assignment_id),))


def _tap_call_out(context: Context, session: SessionState, value: str) -> Outcome | None:
    """A call-out's button ``callout:<id>[:no]``: answers that very call-out, whatever was
    asked since."""
    tapped = _answer_tap(value)
    if tapped is None:
        return None
    callout_id, yes = tapped
    return Outcome(session, (), (AnswerCallOut(callout_id, yes),))


KIND = RosterKind(
    name="shifts",
    keywords=KEYWORDS,
    commands={
        ShiftIntent.SHIFTS: _shifts,
        ShiftIntent.MORE: _more,
        ShiftIntent.IN: _check_in,
        ShiftIntent.OUT: _check_out,
        ShiftIntent.PAUSE: _pause,
        ShiftIntent.RESUME: _resume,
    },
    flows=(MENU,),
    questions={ShiftQuestion.REMINDER: REMINDER, ShiftQuestion.CALLOUT: CALL_OUT},
    drops={"shift": DropAssignment},
    taps={"shift": _tap_shift, "reminder": _tap_reminder, "callout": _tap_call_out},
)
