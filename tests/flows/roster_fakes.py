"""Test doubles for shift flows: a fixed ``Lookup`` and a shell that answers effects with
Results the way ``service/`` does, without a database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from flows.engine import CommitmentView, Effect, Result, ShiftView
from flows.shifts import (
    AnswerCallOut,
    AttendanceResult,
    CallOutResult,
    CheckIn,
    CheckOut,
    ClaimResult,
    ClaimShift,
    ConfirmAssignment,
    ConfirmResult,
    DropAssignment,
    DropResult,
    ShiftFacts,
)


@dataclass
class FakeLookup:
    """Returns fixed lists, in the order given (the shell sorts soonest first)."""

    shifts: Sequence[ShiftView] = ()
    items: Sequence[CommitmentView] = ()
    calls: list[str] = field(default_factory=list)

    def open_shifts(self) -> Sequence[ShiftView]:
        self.calls.append("open_shifts")
        return tuple(self.shifts)

    def commitments(self) -> Sequence[CommitmentView]:
        self.calls.append("commitments")
        return tuple(self.items)


def shift(id: int, title: str = "Kitchen", place: str = "Hall", left: int = 2) -> ShiftView:
    return ShiftView(id, title, place, "Sat 28/11 09:00", left)


def commitment(
    id: int, title: str = "Kitchen", status: str = "confirmed", position: int | None = None
) -> CommitmentView:
    return CommitmentView(id, title, "Hall", "Sat 28/11 09:00", status, position)


def facts(view: ShiftView | CommitmentView) -> ShiftFacts:
    return ShiftFacts(title=view.title, when=view.when, place=view.place)


@dataclass
class FakeShell:
    """Answers each effect that has a result, from the lookup's data (happy paths)."""

    lookup: FakeLookup

    def results(self, effects: Sequence[Effect]) -> list[Result]:
        out: list[Result] = []
        shifts = {s.id: s for s in self.lookup.shifts}
        items = {c.id: c for c in self.lookup.items}
        first = next(iter(items.values()), None)
        for effect in effects:
            match effect:
                case ClaimShift(shift_id=shift_id):
                    view = shifts.get(shift_id)
                    out.append(
                        ClaimResult("confirmed", facts(view)) if view else ClaimResult("closed")
                    )
                case DropAssignment(assignment_id=assignment_id):
                    item = items.get(assignment_id)
                    out.append(
                        DropResult("dropped", facts(item)) if item else DropResult("not_found")
                    )
                case ConfirmAssignment(assignment_id=assignment_id):
                    item = items.get(assignment_id)
                    out.append(
                        ConfirmResult("confirmed", facts(item))
                        if item
                        else ConfirmResult("not_found")
                    )
                case AnswerCallOut(yes=yes):
                    shift_facts = facts(first) if first else ShiftFacts()
                    out.append(CallOutResult("confirmed" if yes else "declined", shift_facts))
                case CheckIn():
                    out.append(
                        AttendanceResult("checked_in", facts(first))
                        if first
                        else AttendanceResult("no_shift")
                    )
                case CheckOut():
                    out.append(
                        AttendanceResult("checked_out", facts(first), "3.5")
                        if first
                        else AttendanceResult("not_in")
                    )
        return out
