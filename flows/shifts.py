"""Shift rosters by text: the SHIFTS menu, sign-up by number, MY, DROP n, IN / OUT, answers
to reminders and call-outs, and PAUSE / RESUME.

Effects whose outcome only the database can decide (a claim on the last place) come back as
Results whose replies are defined here too. Pure; imports only ``flows``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from flows import catalog
from flows.donations import DropPledge
from flows.engine import (
    CommitmentView,
    Context,
    Effect,
    Outcome,
    Reply,
    SessionState,
    ShiftView,
)
from flows.sms import fits_menu_budget

MAX_PAUSE = timedelta(days=365)


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
def format_when(local: datetime, language: str) -> str:
    """``Sat 28/11 09:00`` with the weekday in the volunteer's language (GSM-7 safe)."""
    days = catalog.render(language, "days").split(",")
    day = days[local.weekday()] if len(days) == 7 else ""
    return f"{day} {local.day}/{local.month} {local:%H:%M}".strip()


def menu_page(
    shifts: Sequence[ShiftView], start: int, language: str, params: Mapping[str, object]
) -> tuple[str, int]:
    """The menu text for ``shifts[start:]`` that fits in two segments, and how many it shows."""
    shown = 0
    text = ""
    for end in range(start + 1, len(shifts) + 1):
        lines = "\n".join(
            catalog.render(
                language,
                "shifts.line",
                {
                    "n": i + 1,
                    "title": s.title,
                    "when": s.when,
                    "place": s.place,
                    "left": s.spots_left,
                },
            )
            for i, s in enumerate(shifts[start:end], start=start)
        )
        key = "shifts.menu_more" if end < len(shifts) else "shifts.menu"
        candidate = catalog.render(language, key, {**params, "lines": lines})
        if not fits_menu_budget(candidate) and shown:
            break
        text, shown = candidate, end - start
    return text, shown


# ----- parsers ---------------------------------------------------------------------------
def parse_number(text: str) -> int | None:
    match = re.fullmatch(r"\s*#?(\d{1,3})[.)]?\s*", text)
    return int(match.group(1)) if match else None


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


# ----- handlers (routed from flows.conversation) ----------------------------------------
def show_menu(context: Context, start: int = 0) -> Outcome:
    """SHIFTS (start=0) or MORE: the next page of open shifts as a numbered menu."""
    shifts = list(context.lookup.open_shifts())
    if not shifts:
        return Outcome(SessionState(), (Reply("shifts.none"),))
    if start >= len(shifts):
        start = 0
    text, shown = menu_page(shifts, start, context.language, context.params())
    data = {
        "ids": [s.id for s in shifts[: start + shown]],
        "next": start + shown,
        "params": {"count": start + shown},
    }
    session = SessionState("shifts", "menu", data, context.now + timedelta(hours=24))
    return Outcome(session, (Reply("raw", {"text": text}),))


def choose(context: Context, session: SessionState, number: int) -> Outcome:
    """A number while the menu is open: claim that shift, or ask again."""
    ids = list(session.data.get("ids", []))
    if 1 <= number <= len(ids):
        return Outcome(SessionState(), (), (ClaimShift(ids[number - 1]),))
    return Outcome(session, (Reply("shifts.pick_number", {"count": len(ids)}),))


def list_commitments(context: Context) -> Outcome:
    items = list(context.lookup.commitments())
    if not items:
        return Outcome(SessionState(), (Reply("my.none"),))
    lines = [
        catalog.render(
            context.language,
            "my.line_waitlist" if item.status == "waitlisted" else "my.line",
            {
                "n": i,
                "title": item.title,
                "when": item.when,
                "place": item.place,
                "position": item.position or "",
            },
        )
        for i, item in enumerate(items, start=1)
    ]
    # Like the SHIFTS menu, the list fits in two segments: the soonest commitments first.
    shown = 1
    for end in range(2, len(lines) + 1):
        text = catalog.render(
            context.language, "my.list", {**context.params(), "lines": "\n".join(lines[:end])}
        )
        if not fits_menu_budget(text):
            break
        shown = end
    return Outcome(SessionState(), (Reply("my.list", {"lines": "\n".join(lines[:shown])}),))


def drop(context: Context, argument: str) -> Outcome:
    """DROP n (n from MY), or a bare DROP answering a reminder or with one commitment."""
    items = list(context.lookup.commitments())
    number = parse_number(argument) if argument else None
    if number is not None:
        if 1 <= number <= len(items):
            return Outcome(SessionState(), (), (_drop(items[number - 1]),))
        return Outcome(SessionState(), (Reply("drop.which"),))
    if context.pending is not None and context.pending.kind == "reminder":
        return Outcome(SessionState(), (), (DropAssignment(context.pending.id),))
    if len(items) == 1:
        return Outcome(SessionState(), (), (_drop(items[0]),))
    return Outcome(SessionState(), (Reply("drop.which"),))


def _drop(item: CommitmentView) -> Effect:
    if item.kind == "pledge":
        return DropPledge(item.id)
    return DropAssignment(item.id)


def answer_pending(context: Context, yes: bool) -> Outcome | None:
    """YES / NO to the last reminder or call-out, if one is waiting."""
    pending = context.pending
    if pending is None:
        return None
    if pending.kind == "callout":
        return Outcome(SessionState(), (), (AnswerCallOut(pending.id, yes),))
    if pending.kind == "reminder":
        if yes:
            return Outcome(SessionState(), (), (ConfirmAssignment(pending.id),))
        return Outcome(SessionState(), (Reply("reminder.no"),))
    return None


def pause(context: Context, argument: str) -> Outcome:
    if not argument:
        return Outcome(SessionState(), (Reply("pause.open"),), (Pause(None),))
    duration = parse_duration(argument)
    if duration is None:
        return Outcome(SessionState(), (Reply("pause.usage"),))
    until = context.now + duration
    local = until.astimezone(ZoneInfo(context.zone))
    return Outcome(
        SessionState(),
        (Reply("pause.until", {"until": f"{local.day}/{local.month}"}),),
        (Pause(until),),
    )


def resume(context: Context) -> Outcome:
    return Outcome(SessionState(), (Reply("resume.done"),), (Resume(),))
