"""The coordinator commands as a pure flow: parsing (whole commands, never a volunteer's
words), numbered lines within the SMS budget, and the effects a send command emits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from flows import coordinators
from flows.coordinators import Command, Gap, PersonLine, ShiftFill
from flows.engine import Context, VolunteerStatus
from flows.sms import fits_menu_budget

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


@dataclass
class Lookup:
    shifts: list[ShiftFill] = field(default_factory=list)
    people: dict[int, list[PersonLine]] = field(default_factory=dict)
    gaps: tuple[str, Sequence[Gap]] = ("", ())

    def day_shifts(self) -> Sequence[ShiftFill]:
        return self.shifts

    def people_on(self, shift_id: int) -> Sequence[PersonLine]:
        return self.people.get(shift_id, [])

    def next_gaps(self) -> tuple[str, Sequence[Gap]]:
        return self.gaps


def context(lookup: Lookup, language: str = "en") -> Context:
    return Context(VolunteerStatus.ACTIVE, None, language, "Riverside", "sms", NOW, lookup=lookup)


def texts(lookup: Lookup, text: str, language: str = "en") -> list[str]:
    ctx = context(lookup, language)
    outcome = coordinators.step(ctx, text)
    assert outcome is not None, text
    return list(outcome.render(ctx))


@pytest.mark.parametrize(
    ("text", "command", "valid"),
    [
        ("TODAY", Command.TODAY, True),
        ("roster", Command.TODAY, True),
        ("Needs.", Command.NEEDS, True),
        ("who 2", Command.WHO, True),
        ("WHO", Command.WHO, False),
        ("CALLOUT 2 3 Bring gloves", Command.CALLOUT, True),
        ("callout two", Command.CALLOUT, False),
        ("CALLOUT 2 0", Command.CALLOUT, False),
        ("SAY Levee closed", Command.SAY, True),
        ("say", Command.SAY, False),
        ("YES 482193", Command.CONFIRM, True),
        ("si 482193", Command.CONFIRM, True),
    ],
)
def test_commands_parse(text: str, command: Command, valid: bool) -> None:
    parsed = coordinators.parse_command(text)
    assert parsed is not None and (parsed.command, parsed.valid) == (command, valid)


@pytest.mark.parametrize(
    "text", ["YES", "who is coming today?", "today is fine", "sayonara", "2", "SHIFTS", "yes 12"]
)
def test_a_volunteers_words_are_not_commands(text: str) -> None:
    assert coordinators.parse_command(text) is None
    assert coordinators.step(context(Lookup()), text) is None


def test_callout_text_keeps_its_case() -> None:
    parsed = coordinators.parse_command("CALLOUT 1 2   Bring GLOVES, please")
    assert parsed is not None and parsed.text == "Bring GLOVES, please"
    assert (parsed.n, parsed.need) == (1, 2)


@pytest.mark.parametrize("language", ["en", "es", "hi"])
def test_a_long_day_fits_the_budget_with_how_many_more(language: str) -> None:
    shifts = [
        ShiftFill(i, f"Sandbagging at levee {i}", "Fri 4 Dec 10:00", 3, 5, i % 3)
        for i in range(1, 31)
    ]
    [text] = texts(Lookup(shifts), "TODAY", language)
    assert fits_menu_budget(text)
    assert "1) Sandbagging at levee 1" in text
    assert "30) " not in text and "+" in text  # the rest are counted, not listed


def test_today_numbers_lines_and_who_uses_those_numbers() -> None:
    shifts = [
        ShiftFill(11, "Sandbags", "today 12pm", 3, 5, 2),
        ShiftFill(12, "Kitchen", "tomorrow 10am", 0, 2, 0),
    ]
    lookup = Lookup(shifts, {11: [PersonLine("Maria Lopez", "***0123")]})
    [today] = texts(lookup, "TODAY")
    assert "1) Sandbags, today 12pm: 3/5, 2 waitlisted" in today
    assert "2) Kitchen, tomorrow 10am: 0/2" in today
    [who] = texts(lookup, "WHO 1")
    assert "Maria ***0123" in who and "Lopez" not in who


def test_send_commands_emit_effects_and_no_text_of_their_own() -> None:
    lookup = Lookup([ShiftFill(11, "Sandbags", "today", 3, 5, 0)])
    outcome = coordinators.step(context(lookup), "CALLOUT 1 2 Bring gloves")
    assert outcome is not None
    assert outcome.effects == (coordinators.PrepareCallout(11, 2, "Bring gloves"),)
    assert outcome.replies == ()
    outcome = coordinators.step(context(lookup), "SAY Levee closed")
    assert outcome is not None and outcome.effects == (coordinators.PrepareSay("Levee closed"),)
    outcome = coordinators.step(context(lookup), "YES 482193")
    assert outcome is not None and outcome.effects == (coordinators.ConfirmCode("482193"),)
    [missing] = texts(lookup, "CALLOUT 4 2")
    assert "no shift 4" in missing
