"""A roster kind plugs in without editing flows.engine, flows.conversation or flows.keywords.

A toy carpool kind, declared here the way flows/shifts.py declares shifts: its keyword (SEATS,
ASIENTOS), its lookup port, a menu flow whose number emits ``ClaimSeat``, the answer to a
question it texts ("ride": is your seat still needed?) and how DROP n drops a seat MY lists.
``conversation.compose`` puts it next to the shipped kinds and checks the composed table.
Its catalog texts are supplied by the test (a real kind adds them to flows/catalog/*.json),
so nothing shipped changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

import pytest

from flows import catalog, conversation, donations, shifts
from flows.commitments import CommitmentView
from flows.conversation import Conversation, compose
from flows.engine import (
    END,
    IDLE,
    STAY,
    Context,
    Data,
    Effect,
    Flow,
    FlowDefinitionError,
    Outcome,
    PendingQuestion,
    Reply,
    SessionState,
    State,
    Transition,
    VolunteerStatus,
)
from flows.keywords import Keyword, KeywordSpec
from flows.kinds import RosterKind
from flows.parsing import parse_number, parse_yes, phrase_set
from flows.shifts import ClaimShift
from tests.flows.roster_fakes import FakeLookup, commitment, need, shift

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)

# The toy kind's catalog entries, as it would add them to en.json and es.json.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "carpool.menu": "Rides with free seats:\n{lines}\nReply a number to take a seat.",
        "carpool.line": "{n}) {driver}, {when} ({seats} free)",
        "carpool.none": "No rides have free seats now. Text SHIFTS for shifts.",
        "carpool.pick_number": "Please reply a number from 1 to {count}, or SEATS for the list.",
        "carpool.seated": "You have a seat with {driver}, {when}. Text MY to see it.",
        "carpool.full": "Sorry, that ride is full now. Text SEATS for the list.",
        "carpool.ask": "Do you still need your seat with {driver}, {when}? Reply YES or NO.",
        "carpool.kept": "OK, your seat is kept. Text MY to see it.",
    },
    "es": {
        "carpool.menu": "Viajes con asientos libres:\n{lines}\nResponde un numero.",
        "carpool.line": "{n}) {driver}, {when} ({seats} libres)",
        "carpool.none": "No hay asientos libres ahora. Envia SHIFTS para turnos.",
        "carpool.pick_number": "Responde un numero del 1 al {count}, o SEATS para la lista.",
        "carpool.seated": "Tienes asiento con {driver}, {when}. Envia MY para verlo.",
        "carpool.full": "Lo siento, ese viaje ya esta lleno. Envia SEATS para la lista.",
        "carpool.ask": "Sigues necesitando tu asiento con {driver}, {when}? Responde YES o NO.",
        "carpool.kept": "Vale, guardamos tu asiento. Envia MY para verlo.",
    },
}


# ----- the toy kind, declared as a module of flows/ would declare it ------------------------
class CarpoolIntent(StrEnum):
    SEATS = "seats"


@dataclass(frozen=True)
class RideView:
    id: int
    driver: str
    when: str
    seats: int


@runtime_checkable
class CarpoolLookup(Protocol):
    def open_rides(self) -> Sequence[RideView]: ...


@dataclass(frozen=True)
class ClaimSeat(Effect):
    ride_id: int


@dataclass(frozen=True)
class DropSeat(Effect):
    seat_id: int


@dataclass(frozen=True)
class ReleaseSeat(Effect):
    """NO to "do you still need your seat?"."""

    seat_id: int


@dataclass(frozen=True)
class SeatResult:
    outcome: Literal["seated", "full"]
    driver: str = ""
    when: str = ""

    def reply(self) -> Reply:
        return Reply(f"carpool.{self.outcome}", {"driver": self.driver, "when": self.when})


def _rides(context: Context) -> Sequence[RideView]:
    lookup = context.lookup
    return lookup.open_rides() if isinstance(lookup, CarpoolLookup) else ()


def _listed(number: int, context: Context, data: Data) -> bool:
    return 1 <= number <= len(data.get("ids", []))


def _claim(number: int, context: Context, data: Data) -> tuple[Effect, ...]:
    return (ClaimSeat(data["ids"][number - 1]),)


def _count(value: Any, context: Context, data: Data) -> Mapping[str, object]:
    return {"count": len(data.get("ids", []))}


def _no(text: str) -> bool | None:
    return True if parse_yes(text) is False else None


def _yes(text: str) -> bool | None:
    return True if parse_yes(text) is True else None


def _release(value: bool, context: Context, data: Data) -> tuple[Effect, ...]:
    return (ReleaseSeat(int(data["id"])),)


def carpool_kind() -> RosterKind:
    """Built after the test supplied the catalog texts (a Flow checks its keys when built)."""
    menu = Flow(
        name="carpool",
        start="menu",
        restart=False,
        renew_on_retry=False,
        states=(
            State(
                name="menu",
                prompt="carpool.menu",
                reprompt=None,
                transitions=(
                    Transition(parse=parse_number, to=END, when=_listed, effects=_claim),
                    Transition(
                        parse=parse_number, to=STAY, say="carpool.pick_number", params=_count
                    ),
                ),
            ),
        ),
    )
    still_needed = Flow(
        name="ride",
        start="asked",
        states=(
            State(
                name="asked",
                prompt="carpool.ask",
                reprompt=None,
                transitions=(
                    Transition(parse=_yes, to=END, say="carpool.kept"),
                    Transition(parse=_no, to=END, effects=_release),
                ),
            ),
        ),
    )

    def seats(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
        rides = list(_rides(context))
        if not rides:
            return Outcome(IDLE, (Reply("carpool.none"),))
        lines = "\n".join(
            catalog.render(
                context.language,
                "carpool.line",
                {"n": n, "driver": r.driver, "when": r.when, "seats": r.seats},
            )
            for n, r in enumerate(rides, start=1)
        )
        return menu.begin(context, {"ids": [r.id for r in rides]}, {"lines": lines})

    return RosterKind(
        name="carpool",
        keywords=(KeywordSpec(CarpoolIntent.SEATS, phrase_set(["seats", "seat", "asientos"])),),
        commands={CarpoolIntent.SEATS: seats},
        flows=(menu,),
        questions={"ride": still_needed},
        drops={"seat": DropSeat},
    )


# ----- the shell's part: a lookup with rides, texts supplied, results ------------------------
@dataclass
class CarpoolFakeLookup(FakeLookup):
    rides: Sequence[RideView] = ()
    ride_calls: list[str] = field(default_factory=list)

    def open_rides(self) -> Sequence[RideView]:
        self.ride_calls.append("open_rides")
        return tuple(self.rides)


RIDES = (RideView(501, "Ana", "Sat 28/11 08:30", 3), RideView(502, "Ben", "Sat 28/11 09:15", 1))


@pytest.fixture
def carpool(monkeypatch: pytest.MonkeyPatch) -> Iterator[RosterKind]:
    shipped = catalog.load

    def load(language: str) -> Mapping[str, str]:
        return {**shipped(language), **TEXTS.get(language, {})}

    monkeypatch.setattr(catalog, "load", load)
    yield carpool_kind()


@pytest.fixture
def composed(carpool: RosterKind) -> Conversation:
    return compose([*conversation.KINDS, carpool])


@dataclass
class Phone:
    conversation: Conversation
    context: Context
    lookup: CarpoolFakeLookup
    session: SessionState = IDLE

    def sends(self, text: str) -> tuple[Outcome, list[str]]:
        outcome = self.conversation.step(self.context, self.session, text)
        rides = {r.id: r for r in self.lookup.rides}
        results = [
            SeatResult("seated", rides[e.ride_id].driver, rides[e.ride_id].when)
            for e in outcome.effects
            if isinstance(e, ClaimSeat)
        ]
        self.session = outcome.session
        return outcome, list(outcome.render(self.context, results))


def phone(
    composed: Conversation,
    *,
    status: VolunteerStatus = VolunteerStatus.ACTIVE,
    language: str = "en",
    items: tuple[CommitmentView, ...] = (),
    pending: PendingQuestion | None = None,
) -> Phone:
    lookup = CarpoolFakeLookup(shifts=(shift(11),), items=items, needs=(need(41),), rides=RIDES)
    context = Context(status, "Maria", language, "Riverside", "sms", NOW, "+1", lookup, pending)
    return Phone(composed, context, lookup)


# ----- the transcript --------------------------------------------------------------------------
def test_keyword_menu_number_effect(composed: Conversation) -> None:
    volunteer = phone(composed)
    outcome, texts = volunteer.sends("SEATS")
    assert texts == [
        "Rides with free seats:\n"
        "1) Ana, Sat 28/11 08:30 (3 free)\n"
        "2) Ben, Sat 28/11 09:15 (1 free)\n"
        "Reply a number to take a seat."
    ]
    assert (volunteer.session.flow, volunteer.session.state) == ("carpool", "menu")
    assert volunteer.session.data["ids"] == [501, 502]

    outcome, texts = volunteer.sends("3")  # beyond the menu: asked again, the menu stays
    assert texts == ["Please reply a number from 1 to 2, or SEATS for the list."]
    assert outcome.effects == ()
    assert volunteer.session.flow == "carpool"

    outcome, texts = volunteer.sends("2")
    assert outcome.effects == (ClaimSeat(502),)
    assert texts == ["You have a seat with Ben, Sat 28/11 09:15. Text MY to see it."]
    assert volunteer.session == IDLE
    assert volunteer.sends("1")[0].replies == (Reply("unknown"),)  # the menu is closed


def test_the_keyword_in_another_language_and_the_menu_in_it(composed: Conversation) -> None:
    _, texts = phone(composed, language="es").sends("Asientos!")
    assert texts[0].startswith("Viajes con asientos libres:\n1) Ana, Sat 28/11 08:30 (3 libres)")


def test_the_menu_asks_the_lookup_only_when_asked(composed: Conversation) -> None:
    volunteer = phone(composed, status=VolunteerStatus.NEW)
    outcome, _ = volunteer.sends("SEATS")
    assert outcome.replies == (Reply("onboarding.ask_name"),)  # consent first, like any kind
    assert volunteer.lookup.ride_calls == []
    volunteer = phone(composed, status=VolunteerStatus.OPTED_OUT)
    outcome, texts = volunteer.sends("SEATS")
    assert texts == [] and outcome.effects == ()  # an opted-out number hears nothing
    assert volunteer.lookup.ride_calls == []


def test_the_shipped_kinds_still_work_next_to_it(composed: Conversation) -> None:
    volunteer = phone(composed)
    volunteer.sends("SEATS")
    volunteer.sends("SHIFTS")  # a keyword leaves the carpool menu
    assert volunteer.session.flow == "shifts"
    assert volunteer.sends("1")[0].effects == (ClaimShift(11),)
    volunteer.sends("GIVE")
    assert volunteer.sends("1 5")[0].effects == (donations.PledgeNeed(41, 5, False),)


def test_its_commitments_are_listed_and_dropped_by_my_and_drop(composed: Conversation) -> None:
    seat = CommitmentView(77, "Seat with Ana", "Depot", "Sat 28/11 08:30", "booked", kind="seat")
    volunteer = phone(composed, items=(commitment(31), seat))
    _, texts = volunteer.sends("MY")
    assert "2) Seat with Ana, Sat 28/11 08:30, Depot" in texts[0]
    assert volunteer.sends("DROP 2")[0].effects == (DropSeat(77),)
    assert volunteer.sends("DROP 1")[0].effects == (shifts.DropAssignment(31),)


def test_its_question_is_answered(composed: Conversation) -> None:
    asked = phone(composed, pending=PendingQuestion("ride", 77))
    assert asked.sends("NO")[0].effects == (ReleaseSeat(77),)
    asked = phone(composed, pending=PendingQuestion("ride", 77))
    assert asked.sends("yes")[1] == ["OK, your seat is kept. Text MY to see it."]
    assert asked.sends("5")[0].replies == (Reply("unknown"),)  # not an answer to a ride question


# ----- the composed table ------------------------------------------------------------------
def test_route_completeness_holds_for_the_composed_table(composed: Conversation) -> None:
    assert CarpoolIntent.SEATS in composed.intents
    assert set(composed.intents) == {*conversation.INTENTS, CarpoolIntent.SEATS}
    expected = {(status, intent) for status in VolunteerStatus for intent in composed.intents}
    assert set(composed.routes) == expected
    assert "carpool" in composed.flows and "ride" in composed.questions
    assert composed.classify("seats") == Keyword(CarpoolIntent.SEATS)


def test_the_shipped_conversation_is_untouched(composed: Conversation) -> None:
    assert conversation.classify("SEATS") is None
    assert CarpoolIntent.SEATS not in conversation.INTENTS
    assert (VolunteerStatus.ACTIVE, CarpoolIntent.SEATS) not in conversation.ROUTES


def _kind(carpool: RosterKind, **changes: Any) -> RosterKind:
    fields = {
        "name": carpool.name,
        "keywords": carpool.keywords,
        "commands": carpool.commands,
        "flows": carpool.flows,
        "questions": carpool.questions,
        "drops": carpool.drops,
    }
    return RosterKind(**{**fields, **changes})


def _seats(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(IDLE)


BROKEN: dict[str, tuple[Callable[[RosterKind], RosterKind], str]] = {
    "keyword without a command": (
        lambda kind: _kind(
            kind,
            keywords=(*kind.keywords, KeywordSpec("lift", phrase_set(["lift"]))),
        ),
        r"no handler for \[.*lift",
    ),
    "command without a keyword": (
        lambda kind: _kind(kind, commands={**kind.commands, "lift": _seats}),
        "a command for 'lift', no keyword",
    ),
    "a word another keyword has": (
        lambda kind: _kind(
            kind, keywords=(KeywordSpec(CarpoolIntent.SEATS, phrase_set(["seats", "give"])),)
        ),
        "'give' means both 'give' and 'seats'",
    ),
    "an opt-out word": (
        lambda kind: _kind(
            kind, keywords=(KeywordSpec(CarpoolIntent.SEATS, phrase_set(["seats", "quit"])),)
        ),
        "'quit' cannot be a keyword",
    ),
    "an intent another kind has": (
        lambda kind: _kind(
            kind,
            keywords=(KeywordSpec("give", phrase_set(["lift"])),),
            commands={"give": _seats},
        ),
        "intent 'give' is donations's already",
    ),
    "a question another kind answers": (
        lambda kind: _kind(kind, questions={"reminder": kind.questions["ride"]}),
        r"question \['reminder'\] declared twice",
    ),
    "a commitment another kind drops": (
        lambda kind: _kind(kind, drops={"pledge": DropSeat}),
        r"commitment kind \['pledge'\] declared twice",
    ),
    "a flow named like another": (
        lambda kind: _kind(kind, flows=(replace(kind.flows[0], name="shifts"),)),
        "two flows are named 'shifts'",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_kind_fails_when_composed(carpool: RosterKind, case: str) -> None:
    break_it, message = BROKEN[case]
    with pytest.raises(FlowDefinitionError, match=message):
        compose([*conversation.KINDS, break_it(carpool)])


def test_a_flow_of_the_kind_is_checked_when_built() -> None:
    # without its catalog texts, the toy kind's menu cannot be built
    with pytest.raises(FlowDefinitionError, match=r"carpool\.menu"):
        carpool_kind()
