"""Test doubles for shift and donation flows: a fixed ``Lookup`` and a shell that answers
effects with Results the way ``service/`` does, without a database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from flows.commitments import CommitmentView
from flows.donations import (
    AnswerStanding,
    DoneResult,
    DropPledge,
    MarkDone,
    NeedView,
    PledgeFacts,
    PledgeNeed,
    PledgeResult,
    StandingResult,
)
from flows.engine import Effect, Outcome, Result
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
    ShiftView,
)


@dataclass
class FakeLookup:
    """Returns fixed lists, in the order given (the shell sorts soonest first)."""

    shifts: Sequence[ShiftView] = ()
    items: Sequence[CommitmentView] = ()
    needs: Sequence[NeedView] = ()
    calls: list[str] = field(default_factory=list)
    # Call-outs whose place this volunteer holds (a second YES is "already").
    callout_places: set[int] = field(default_factory=set)

    def open_shifts(self) -> Sequence[ShiftView]:
        self.calls.append("open_shifts")
        return tuple(self.shifts)

    def commitments(self) -> Sequence[CommitmentView]:
        self.calls.append("commitments")
        return tuple(self.items)

    def open_needs(self) -> Sequence[NeedView]:
        self.calls.append("open_needs")
        return tuple(self.needs)


def shift(id: int, title: str = "Kitchen", place: str = "Hall", left: int = 2) -> ShiftView:
    return ShiftView(id, title, place, "Sat 28/11 09:00", left)


def commitment(
    id: int, title: str = "Kitchen", status: str = "confirmed", position: int | None = None
) -> CommitmentView:
    return CommitmentView(id, title, "Hall", "Sat 28/11 09:00", status, position)


def need(
    id: int, item: str = "Rice", unit: str = "kg", missing: int = 12, target: int = 20
) -> NeedView:
    return NeedView(id, item, unit, missing, target, "Sat 28/11")


def pledge(id: int, title: str = "5 kg Rice", place: str = "Church hall") -> CommitmentView:
    return CommitmentView(id, title, place, "Sat 28/11", "pledged", kind="pledge")


DROP_OFF = "Church hall"


def pledge_facts(view: NeedView) -> PledgeFacts:
    return PledgeFacts(item=view.item, unit=view.unit, when=view.when, place=DROP_OFF)


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
        first = next((c for c in items.values() if c.kind == "shift"), None)
        needs = {n.id: n for n in self.lookup.needs}
        pledges = [c for c in items.values() if c.kind == "pledge"]
        for effect in effects:
            match effect:
                case ClaimShift(shift_id=shift_id):
                    shift_view = shifts.get(shift_id)
                    if shift_view is None:
                        out.append(ClaimResult("closed"))
                    elif shift_view.spots_left == 0:
                        out.append(ClaimResult("waitlisted", facts(shift_view), 1))
                    else:
                        out.append(ClaimResult("confirmed", facts(shift_view)))
                case DropAssignment(assignment_id=assignment_id):
                    item = items.get(assignment_id)
                    out.append(
                        DropResult("dropped", facts(item))
                        if item is not None and item.kind == "shift"
                        else DropResult("not_found")
                    )
                case PledgeNeed(cycle_need_id=need_id, quantity=quantity, weekly=weekly):
                    need_view = needs.get(need_id)
                    if need_view is None:
                        out.append(PledgeResult("closed"))
                    elif need_view.missing == 0:
                        out.append(PledgeResult("full", pledge_facts(need_view)))
                    else:
                        pledged: Literal["pledged", "capped"] = (
                            "pledged" if quantity <= need_view.missing else "capped"
                        )
                        granted = min(quantity, need_view.missing)
                        out.append(PledgeResult(pledged, pledge_facts(need_view), granted, weekly))
                case DropPledge(pledge_id=pledge_id):
                    item = items.get(pledge_id)
                    out.append(
                        DropResult("dropped", facts(item))
                        if item is not None and item.kind == "pledge"
                        else DropResult("not_found")
                    )
                case MarkDone():
                    out.append(
                        DoneResult("delivered", len(pledges))
                        if pledges
                        else DoneResult("nothing_today")
                    )
                case AnswerStanding(yes=yes):
                    standing_view = next(iter(needs.values()), None)
                    if standing_view is None:
                        out.append(StandingResult("gone"))
                    else:
                        answered: Literal["pledged", "skipped"] = "pledged" if yes else "skipped"
                        out.append(StandingResult(answered, pledge_facts(standing_view), 4))
                case ConfirmAssignment(assignment_id=assignment_id):
                    item = items.get(assignment_id)
                    out.append(
                        ConfirmResult("confirmed", facts(item))
                        if item
                        else ConfirmResult("not_found")
                    )
                case AnswerCallOut(callout_id=callout_id, yes=yes):
                    shift_facts = facts(first) if first else ShiftFacts()
                    if not yes:
                        out.append(CallOutResult("declined", shift_facts))
                    elif callout_id in self.lookup.callout_places:
                        out.append(CallOutResult("already", shift_facts))
                    else:
                        self.lookup.callout_places.add(callout_id)
                        out.append(CallOutResult("confirmed", shift_facts))
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


@dataclass
class Turn:
    """What one inbound text produced."""

    outcome: Outcome
    texts: list[str]

    @property
    def keys(self) -> list[str]:
        return [reply.key for reply in self.outcome.replies]

    @property
    def effects(self) -> list[Effect]:
        return list(self.outcome.effects)

    @property
    def text(self) -> str:
        assert len(self.texts) == 1, self.texts
        return self.texts[0]

    @property
    def silent(self) -> bool:
        return not self.texts and not self.effects
