"""Shift rosters by text (flows.shifts), read as transcripts with a fake roster.

SHIFTS shows a numbered menu, MORE pages on, a number signs up; MY lists commitments, DROP n
drops one; IN / OUT check in and out; YES / NO answer the last reminder or call-out;
PAUSE [2w] / RESUME take a break. Effects whose outcome only the database knows come back as
Results, whose replies flows.shifts defines.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flows import catalog
from flows.commitments import CommitmentView
from flows.conversation import step
from flows.engine import (
    IDLE,
    Context,
    Outcome,
    PendingQuestion,
    Reply,
    Result,
    SessionState,
    SetLanguage,
    VolunteerStatus,
    with_effects,
)
from flows.parsing import parse_number
from flows.shifts import (
    MAX_PAUSE,
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
    Pause,
    Resume,
    ShiftFacts,
    ShiftView,
    format_when,
    menu_page,
    parse_duration,
)
from flows.sms import Encoding, segment_info
from tests.flows.roster_fakes import FakeLookup, FakeShell, Turn, commitment, shift

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # a Friday
COMMUNITY = "Riverside Flood Crew"

THREE_SHIFTS = (
    shift(11, "Kitchen", "Community Hall", 2),
    shift(12, "Sandbags", "North levee", 5),
    shift(13, "Drivers", "Depot", 1),
)
TWO_COMMITMENTS = (
    commitment(31, "Kitchen"),
    commitment(32, "Drivers", "waitlisted", 3),
)


def long_shifts(count: int = 30) -> tuple[ShiftView, ...]:
    return tuple(
        ShiftView(
            100 + i,
            f"Sandbag filling and loading crew number {i + 1:02d}",  # 42 characters
            f"Lincoln Elementary School gym, door {i + 1}",
            "Sat 28/11 09:00",
            12,
        )
        for i in range(count)
    )


@dataclass
class Phone:
    """Plays the shell: steps, answers effects with results, renders, applies the effects."""

    context: Context
    lookup: FakeLookup
    session: SessionState = IDLE
    history: list[tuple[str, list[str]]] = field(default_factory=list)

    @classmethod
    def volunteer(
        cls,
        shifts: tuple[ShiftView, ...] = (),
        items: tuple[CommitmentView, ...] = (),
        *,
        status: VolunteerStatus = VolunteerStatus.ACTIVE,
        language: str = "en",
        pending: PendingQuestion | None = None,
        name: str | None = "Maria",
    ) -> Phone:
        lookup = FakeLookup(shifts, items)
        context = Context(
            status, name, language, COMMUNITY, "sms", NOW, "+12025550142", lookup, pending
        )
        return cls(context, lookup)

    def sends(self, text: str) -> Turn:
        outcome = step(self.context, self.session, text)
        results: list[Result] = FakeShell(self.lookup).results(outcome.effects)
        texts = list(outcome.render(self.context, results))
        self.context = with_effects(self.context, outcome.effects)
        for effect in outcome.effects:
            if isinstance(effect, Pause):
                self.context = replace(self.context, status=VolunteerStatus.PAUSED)
            elif isinstance(effect, Resume):
                self.context = replace(self.context, status=VolunteerStatus.ACTIVE)
            elif isinstance(effect, DropAssignment | ConfirmAssignment | AnswerCallOut):
                self.context = replace(self.context, pending=None)  # answered
        self.session = outcome.session
        self.history.append((text, texts))
        return Turn(outcome, texts)

    def waits(self, delta: timedelta) -> None:
        self.context = replace(self.context, now=self.context.now + delta)


def menu_numbers(text: str) -> list[int]:
    return [int(line.split(")")[0]) for line in text.splitlines() if line[:1].isdigit()]


# --- SHIFTS and sign-up by number ----------------------------------------------------------


def test_shifts_shows_a_numbered_menu_in_the_lookups_order() -> None:
    phone = Phone.volunteer(THREE_SHIFTS)
    turn = phone.sends("SHIFTS")
    assert turn.text == (
        "Open shifts:\n"
        "1) Kitchen, Sat 28/11 09:00, Community Hall (2 left)\n"
        "2) Sandbags, Sat 28/11 09:00, North levee (5 left)\n"
        "3) Drivers, Sat 28/11 09:00, Depot (1 left)\n"
        "Reply a number to sign up."
    )
    assert turn.effects == []
    assert phone.session.flow == "shifts"
    assert phone.session.data["ids"] == [11, 12, 13]
    assert phone.session.expires_at == NOW + timedelta(hours=24)


def test_spanish_menu() -> None:
    turn = Phone.volunteer(THREE_SHIFTS[:1], language="es").sends("turnos")
    assert turn.text == (
        "Turnos abiertos:\n"
        "1) Kitchen, Sat 28/11 09:00, Community Hall (quedan 2)\n"
        "Responde un numero para apuntarte."
    )


@pytest.mark.parametrize("number", [1, 2, 3])
def test_a_number_in_range_claims_that_shift(number: int) -> None:
    phone = Phone.volunteer(THREE_SHIFTS)
    phone.sends("SHIFTS")
    turn = phone.sends(str(number))
    assert turn.effects == [ClaimShift(THREE_SHIFTS[number - 1].id)]
    assert turn.keys == []  # the claim's result answers
    assert phone.session.flow == "shifts"  # the menu stays open for another sign-up
    title = THREE_SHIFTS[number - 1].title
    assert turn.text.startswith(f"You are on {title}, Sat 28/11 09:00 at ")
    assert turn.text.endswith("We will remind you. Text MY to see your shifts.")


@pytest.mark.parametrize("text", ["2.", "#2", "2)", " 2 ", "02", "# 2"])
def test_number_spellings(text: str) -> None:
    phone = Phone.volunteer(THREE_SHIFTS)
    phone.sends("SHIFTS")
    turn = phone.sends(text)
    if text == "# 2":  # a space after the hash is not a menu number
        assert turn.keys == ["unknown"]
    else:
        assert turn.effects == [ClaimShift(12)]


@pytest.mark.parametrize("number", ["0", "4", "99", "999"])
def test_a_number_out_of_range_asks_again_with_the_range(number: str) -> None:
    phone = Phone.volunteer(THREE_SHIFTS)
    phone.sends("SHIFTS")
    turn = phone.sends(number)
    assert turn.keys == ["shifts.pick_number"]
    assert turn.text == (
        "Please reply a number from 1 to 3, MORE for more shifts, or SHIFTS to see the list again."
    )
    assert turn.effects == []
    assert phone.session.flow == "shifts"  # the menu stays open
    assert phone.sends("3").effects == [ClaimShift(13)]


def test_a_number_without_an_open_menu_is_not_understood() -> None:
    phone = Phone.volunteer(THREE_SHIFTS)
    turn = phone.sends("2")
    assert turn.keys == ["unknown"]
    assert turn.effects == []


def test_the_menu_closes_after_a_day() -> None:
    phone = Phone.volunteer(THREE_SHIFTS)
    phone.sends("SHIFTS")
    phone.waits(timedelta(hours=24))
    assert phone.sends("2").keys == ["unknown"]


def test_the_menu_stays_open_after_a_sign_up_and_closes_after_another_keyword() -> None:
    phone = Phone.volunteer(THREE_SHIFTS, TWO_COMMITMENTS)
    phone.sends("SHIFTS")
    phone.sends("1")
    assert phone.sends("2").effects == [ClaimShift(12)]
    phone.sends("SHIFTS")
    assert phone.sends("MY").keys == ["my.list"]
    assert phone.sends("2").keys == ["unknown"]


def test_no_open_shifts() -> None:
    phone = Phone.volunteer()
    turn = phone.sends("SHIFTS")
    assert turn.keys == ["shifts.none"]
    assert turn.text == (
        "No open shifts for you right now. We will text you when one comes up. Text HELP for help."
    )
    assert phone.session == IDLE
    assert phone.sends("MORE").keys == ["shifts.none"]


def test_a_paused_volunteer_can_still_see_and_take_shifts() -> None:
    phone = Phone.volunteer(THREE_SHIFTS, status=VolunteerStatus.PAUSED)
    assert phone.sends("SHIFTS").keys == ["raw"]
    assert phone.sends("1").effects == [ClaimShift(11)]


# --- long menus and MORE -------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "es"])
def test_thirty_long_shifts_page_through_menus_of_at_most_two_segments(language: str) -> None:
    shifts = long_shifts(30)
    phone = Phone.volunteer(shifts, language=language)
    pages = [phone.sends("SHIFTS").text]
    while "MORE" in pages[-1]:
        pages.append(phone.sends("MORE").text)
        assert len(pages) <= 30

    numbers = [n for page in pages for n in menu_numbers(page)]
    assert numbers == list(range(1, 31))  # every shift once, numbering continues across pages
    assert len(pages) > 2
    for page in pages:
        info = segment_info(page)
        assert info.encoding is Encoding.GSM7
        assert info.segments <= 2, page
        assert menu_numbers(page)  # never an empty page
    assert "MORE" not in pages[-1]
    assert phone.session.data["ids"] == [s.id for s in shifts]


def test_more_continues_the_numbering_and_page_two_numbers_sign_up() -> None:
    shifts = long_shifts(30)
    phone = Phone.volunteer(shifts)
    first = phone.sends("SHIFTS")
    shown = menu_numbers(first.text)
    assert shown == list(range(1, len(shown) + 1))
    assert first.text.endswith("Reply a number to sign up, MORE for more.")

    second = phone.sends("more")
    page_two = menu_numbers(second.text)
    assert page_two[0] == len(shown) + 1  # e.g. 6, 7, ...
    assert page_two == list(range(page_two[0], page_two[0] + len(page_two)))

    assert phone.sends(str(page_two[-1])).effects == [ClaimShift(shifts[page_two[-1] - 1].id)]
    phone.sends("SHIFTS")
    phone.sends("MORE")
    assert phone.sends("1").effects == [ClaimShift(shifts[0].id)]  # page one still counts
    phone.sends("SHIFTS")
    phone.sends("MORE")
    turn = phone.sends(str(page_two[-1] + 1))  # on page three, not shown yet
    assert turn.keys == ["shifts.pick_number"]
    assert f"from 1 to {page_two[-1]}," in turn.text


def test_more_without_a_menu_shows_the_first_page_and_wraps_after_the_last() -> None:
    phone = Phone.volunteer(THREE_SHIFTS)
    assert menu_numbers(phone.sends("MORE").text) == [1, 2, 3]
    assert menu_numbers(phone.sends("MORE").text) == [1, 2, 3]  # all shown: start over


def test_menu_page_always_shows_at_least_one_shift() -> None:
    huge = (ShiftView(1, "T" * 300, "P" * 300, "Sat 28/11 09:00", 1),) * 2
    text, shown = menu_page(huge, 0, "en", {})
    assert shown == 1
    assert menu_numbers(text) == [1]


# --- MY and DROP ---------------------------------------------------------------------------


def test_my_lists_commitments_numbered_with_the_waitlist_position() -> None:
    turn = Phone.volunteer(items=TWO_COMMITMENTS).sends("MY")
    assert turn.text == (
        "Coming up:\n"
        "1) Kitchen, Sat 28/11 09:00, Hall\n"
        "2) Drivers, Sat 28/11 09:00 (waitlist #3)\n"
        "Text DROP and a number to drop one."
    )
    assert turn.effects == []


def test_my_in_spanish_and_with_nothing_booked() -> None:
    turn = Phone.volunteer(items=TWO_COMMITMENTS, language="es").sends("mis turnos")
    assert "2) Drivers, Sat 28/11 09:00 (espera #3)" in turn.text
    turn = Phone.volunteer().sends("MY")
    assert turn.text == "You have nothing coming up. Text SHIFTS or GIVE to sign up."


@pytest.mark.parametrize("language", ["en", "es", "hi"])
def test_a_long_my_list_is_cut_to_two_segments_soonest_first(language: str) -> None:
    items = tuple(
        CommitmentView(
            200 + i,
            "Sandbagging at the north levee",
            "Lincoln Elementary School, gym",
            "Sat 28/11 09:00",
            "waitlisted" if i % 3 == 2 else "confirmed",
            i,
        )
        for i in range(12)
    )
    phone = Phone.volunteer(items=items, language=language)
    text = phone.sends("MY").text
    assert segment_info(text).segments <= 2
    shown = menu_numbers(text)
    assert shown == list(range(1, len(shown) + 1))
    assert 1 <= len(shown) < len(items)
    assert "DROP" in text
    assert phone.sends("DROP 12").effects == [DropAssignment(211)]  # numbers keep their meaning


@pytest.mark.parametrize(("text", "assignment"), [("DROP 1", 31), ("DROP 2", 32), ("drop #2", 32)])
def test_drop_n_drops_that_commitment(text: str, assignment: int) -> None:
    phone = Phone.volunteer(items=TWO_COMMITMENTS)
    phone.sends("MY")
    turn = phone.sends(text)
    assert turn.effects == [DropAssignment(assignment)]
    assert turn.keys == []
    title = {31: "Kitchen", 32: "Drivers"}[assignment]
    assert turn.text == (
        f"You dropped {title}, Sat 28/11 09:00. Thanks for telling us. "
        "Text SHIFTS or GIVE to find another."
    )


@pytest.mark.parametrize("text", ["DROP 9", "DROP 0", "drop 3"])
def test_drop_out_of_range_asks_which(text: str) -> None:
    turn = Phone.volunteer(items=TWO_COMMITMENTS).sends(text)
    assert turn.keys == ["drop.which"]
    assert turn.text == "Which one? Text MY for your list, then DROP and its number, e.g. DROP 1."
    assert turn.effects == []


def test_bare_drop_answers_a_pending_reminder() -> None:
    phone = Phone.volunteer(items=TWO_COMMITMENTS, pending=PendingQuestion("reminder", 32))
    assert phone.sends("DROP").effects == [DropAssignment(32)]


def test_bare_drop_with_one_commitment_asks_to_confirm_then_drops_it() -> None:
    phone = Phone.volunteer(items=TWO_COMMITMENTS[:1])
    assert phone.sends("drop").effects == []
    assert phone.sends("yes").effects == [DropAssignment(31)]


@pytest.mark.parametrize(
    "pending", [None, PendingQuestion("callout", 5)], ids=["nothing", "callout"]
)
def test_bare_drop_with_several_commitments_asks_which(pending: PendingQuestion | None) -> None:
    turn = Phone.volunteer(items=TWO_COMMITMENTS, pending=pending).sends("DROP")
    assert turn.keys == ["raw"]
    assert turn.text.startswith("Which one do you want to drop?\n1) Kitchen")
    assert turn.effects == []


def test_drop_with_nothing_booked_says_so() -> None:
    assert Phone.volunteer().sends("DROP").keys == ["drop.none"]
    assert Phone.volunteer().sends("DROP 1").keys == ["drop.none"]


def test_cancel_is_never_a_drop() -> None:
    phone = Phone.volunteer(items=TWO_COMMITMENTS, pending=PendingQuestion("reminder", 31))
    turn = phone.sends("CANCEL")
    assert turn.keys == ["optout.confirmed"]
    assert not any(isinstance(e, DropAssignment) for e in turn.effects)


# --- IN / OUT ------------------------------------------------------------------------------


def test_in_and_out_check_in_and_out() -> None:
    phone = Phone.volunteer(items=TWO_COMMITMENTS)
    turn = phone.sends("IN")
    assert turn.effects == [CheckIn()]
    assert turn.keys == []
    assert turn.text == "Checked in to Kitchen. Thank you! Text OUT when you leave."
    turn = phone.sends("out")
    assert turn.effects == [CheckOut()]
    assert turn.text == (
        "Checked out of Kitchen: 3.5 hours. Thank you for helping! Text SHIFTS for more."
    )


def test_in_closes_an_open_menu() -> None:
    phone = Phone.volunteer(THREE_SHIFTS)
    phone.sends("SHIFTS")
    assert phone.sends("check in").effects == [CheckIn()]
    assert phone.session == IDLE


# --- YES / NO to a pending question --------------------------------------------------------


@pytest.mark.parametrize("text", ["YES", "yes!", "si", "ok", "हाँ"])
def test_yes_to_a_call_out(text: str) -> None:
    phone = Phone.volunteer(items=TWO_COMMITMENTS, pending=PendingQuestion("callout", 5))
    turn = phone.sends(text)
    assert turn.effects == [AnswerCallOut(5, True)]
    assert turn.text.startswith("You are in! Kitchen, Sat 28/11 09:00 at Hall.")
    again = phone.sends(text)  # answered: a second YES hears the place is theirs already
    assert again.effects == [AnswerCallOut(5, True)]
    assert again.text.startswith("You are already on Kitchen, Sat 28/11 09:00.")


@pytest.mark.parametrize("text", ["NO", "no thanks", "nope", "नहीं"])
def test_no_to_a_call_out(text: str) -> None:
    phone = Phone.volunteer(pending=PendingQuestion("callout", 5))
    turn = phone.sends(text)
    assert turn.effects == [AnswerCallOut(5, False)]
    assert turn.text == "No problem, thanks for letting us know. Text SHIFTS for other shifts."


def test_yes_to_a_reminder_confirms() -> None:
    phone = Phone.volunteer(items=TWO_COMMITMENTS, pending=PendingQuestion("reminder", 31))
    turn = phone.sends("Yes")
    assert turn.effects == [ConfirmAssignment(31)]
    assert turn.text == "Thanks, see you at Kitchen, Sat 28/11 09:00. Text DROP if plans change."


def test_no_to_a_reminder_explains_how_to_drop() -> None:
    phone = Phone.volunteer(items=TWO_COMMITMENTS, pending=PendingQuestion("reminder", 31))
    turn = phone.sends("no")
    assert turn.keys == ["reminder.no"]
    assert turn.effects == []
    assert turn.text == (
        "OK. Text DROP to free your place for someone else, or YES if you can come."
    )
    assert phone.sends("DROP").effects == [DropAssignment(31)]  # still pending


@pytest.mark.parametrize("text", ["YES", "NO"])
def test_yes_or_no_with_nothing_pending_is_not_understood(text: str) -> None:
    turn = Phone.volunteer(items=TWO_COMMITMENTS).sends(text)
    assert turn.keys == ["unknown"]
    assert turn.effects == []


def test_an_unknown_kind_of_pending_question_is_not_answered() -> None:
    turn = Phone.volunteer(pending=PendingQuestion("survey", 1)).sends("YES")
    assert turn.keys == ["unknown"]


def test_yes_to_a_call_out_while_the_menu_is_open() -> None:
    phone = Phone.volunteer(THREE_SHIFTS, pending=PendingQuestion("callout", 8))
    phone.sends("SHIFTS")
    assert phone.sends("YES").effects == [AnswerCallOut(8, True)]


# --- PAUSE / RESUME ------------------------------------------------------------------------


def test_pause_until_resumed() -> None:
    phone = Phone.volunteer()
    turn = phone.sends("PAUSE")
    assert turn.effects == [Pause(None)]
    assert turn.text == (
        "Paused: no asks or call-outs until you text RESUME. Your shifts stay booked."
    )
    # A name of its own: mypy would keep phone.context.status narrowed past phone.sends().
    paused = phone.context.status
    assert paused is VolunteerStatus.PAUSED
    turn = phone.sends("resume")
    assert turn.effects == [Resume()]
    assert turn.text == (
        "Welcome back! You will get asks and call-outs again. Text SHIFTS for open shifts."
    )
    assert phone.context.status is VolunteerStatus.ACTIVE


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("PAUSE 2w", 14),
        ("pause 2 weeks", 14),
        ("PAUSE 3 days", 3),
        ("PAUSE 10d", 10),
        ("pausa 2 semanas", 14),
        ("pausa 5 dias", 5),
        ("pause 1 month", 30),
        ("PAUSE 12m", 360),
    ],
)
def test_pause_for_a_while(text: str, days: int) -> None:
    turn = Phone.volunteer().sends(text)
    until = NOW + timedelta(days=days)
    assert turn.effects == [Pause(until)]
    assert turn.text == (
        f"Paused until {until:%a} {until.day} {until:%b}: no asks or call-outs. "
        "Text RESUME to come back earlier."
    )


def test_pause_2w_names_the_date() -> None:
    assert Phone.volunteer().sends("PAUSE 2w").text.startswith("Paused until Fri 4 Dec:")


@pytest.mark.parametrize("text", ["PAUSE soon", "pause 0d", "PAUSE 400d", "pause 53w", "pause 2x"])
def test_pause_with_a_duration_it_cannot_read_explains_itself(text: str) -> None:
    turn = Phone.volunteer().sends(text)
    assert turn.keys == ["pause.usage"]
    assert turn.text == (
        "To take a break, text PAUSE, or PAUSE 2w for two weeks (d = days, w = weeks)."
    )
    assert turn.effects == []


# --- new and opted-out numbers ---------------------------------------------------------------

SHIFT_TEXTS = [
    "SHIFTS",
    "MORE",
    "MY",
    "DROP",
    "DROP 2",
    "IN",
    "OUT",
    "PAUSE",
    "PAUSE 2w",
    "RESUME",
]


@pytest.mark.parametrize("text", SHIFT_TEXTS)
def test_a_new_number_is_onboarded_first(text: str) -> None:
    phone = Phone.volunteer(THREE_SHIFTS, TWO_COMMITMENTS, status=VolunteerStatus.NEW, name=None)
    turn = phone.sends(text)
    assert turn.keys == ["onboarding.ask_name"]
    assert turn.effects == []
    assert phone.session.flow == "onboarding"


def test_a_new_number_that_texts_a_menu_number_is_onboarded() -> None:
    phone = Phone.volunteer(THREE_SHIFTS, status=VolunteerStatus.NEW, name=None)
    assert phone.sends("1").keys == ["onboarding.ask_name"]


@pytest.mark.parametrize("text", [*SHIFT_TEXTS, "1", "NO"])
def test_an_opted_out_number_hears_nothing(text: str) -> None:
    phone = Phone.volunteer(
        THREE_SHIFTS,
        TWO_COMMITMENTS,
        status=VolunteerStatus.OPTED_OUT,
        pending=PendingQuestion("callout", 5),
    )
    phone.session = SessionState("shifts", "menu", {"ids": [11, 12, 13]}, NOW + timedelta(hours=1))
    before = phone.session
    turn = phone.sends(text)
    assert turn.silent
    assert phone.session == before
    assert phone.lookup.calls == []  # not even a query


# --- result replies ------------------------------------------------------------------------

FACTS = ShiftFacts(title="Kitchen", when="Sat 28/11 09:00", place="Community Hall")

RESULTS: list[tuple[Any, str]] = [
    (
        ClaimResult("confirmed", FACTS),
        "You are on Kitchen, Sat 28/11 09:00 at Community Hall. We will remind you. "
        "Text MY to see your shifts.",
    ),
    (
        ClaimResult("waitlisted", FACTS, 3),
        "Kitchen is full. You are number 3 on the waitlist; we will text you if a place opens. "
        "Text MY to see it.",
    ),
    (
        ClaimResult("already", FACTS),
        "You are already signed up for Kitchen, Sat 28/11 09:00. Text MY to see your shifts.",
    ),
    (
        ClaimResult("closed"),
        "Sorry, that shift is no longer open. Text SHIFTS for the current list.",
    ),
    (
        DropResult("dropped", FACTS),
        "You dropped Kitchen, Sat 28/11 09:00. Thanks for telling us. "
        "Text SHIFTS or GIVE to find another.",
    ),
    (
        DropResult("not_found"),
        "Which one? Text MY for your list, then DROP and its number, e.g. DROP 1.",
    ),
    (
        AttendanceResult("checked_in", FACTS),
        "Checked in to Kitchen. Thank you! Text OUT when you leave.",
    ),
    (
        AttendanceResult("already_in", FACTS),
        "You are already checked in to Kitchen. Text OUT when you leave.",
    ),
    (
        AttendanceResult("checked_out", FACTS, "2.5"),
        "Checked out of Kitchen: 2.5 hours. Thank you for helping! Text SHIFTS for more.",
    ),
    (
        AttendanceResult("no_shift"),
        "You have no shift starting soon. Text MY to see your shifts.",
    ),
    (
        AttendanceResult("not_in"),
        "You are not checked in to a shift. Text IN when you arrive.",
    ),
    (
        ConfirmResult("confirmed", FACTS),
        "Thanks, see you at Kitchen, Sat 28/11 09:00. Text DROP if plans change.",
    ),
    (
        ConfirmResult("not_found"),
        "That shift is no longer on your list. Text MY to see your shifts.",
    ),
    (
        CallOutResult("confirmed", FACTS),
        "You are in! Kitchen, Sat 28/11 09:00 at Community Hall. Text DROP if plans change.",
    ),
    (
        CallOutResult("full", FACTS),
        "Thank you! All places for Kitchen are filled now. We will ask again next time. "
        "Text SHIFTS for other shifts.",
    ),
    (
        CallOutResult("declined", FACTS),
        "No problem, thanks for letting us know. Text SHIFTS for other shifts.",
    ),
    (
        CallOutResult("already", FACTS),
        "You are already on Kitchen, Sat 28/11 09:00. Thank you! Text MY to see your shifts.",
    ),
]


def _context(language: str = "en") -> Context:
    return Context(VolunteerStatus.ACTIVE, "Maria", language, COMMUNITY, "sms", NOW, "+1")


@pytest.mark.parametrize(("result", "expected"), RESULTS, ids=lambda v: getattr(v, "outcome", ""))
def test_each_result_renders_its_catalog_text(result: Any, expected: str) -> None:
    assert Outcome(IDLE).render(_context(), (result,)) == (expected,)


@pytest.mark.parametrize("language", ["es", "hi"])
@pytest.mark.parametrize("result", [r for r, _ in RESULTS], ids=lambda v: v.outcome)
def test_each_result_renders_in_the_volunteers_language(language: str, result: Any) -> None:
    (text,) = Outcome(IDLE).render(_context(language), (result,))
    reply = result.reply()
    assert text == catalog.render(language, reply.key, {**_context().params(), **reply.params})
    for placeholder in ("title", "when", "place"):
        if "{" + placeholder + "}" in catalog.load(language)[reply.key]:
            assert str(reply.params[placeholder]) in text
    if language == "es":
        assert segment_info(text).encoding is Encoding.GSM7
    assert segment_info(text).segments <= {"es": 1, "hi": 3}[language]


def test_results_follow_replies_and_use_the_language_the_effects_leave() -> None:
    outcome = Outcome(IDLE, (Reply("language.switched"),), (SetLanguage("es"),))
    texts = outcome.render(_context(), (ClaimResult("closed"),))
    assert texts == (
        "Listo, te escribiremos en Espanol. Envia HELP para ayuda.",
        "Perdon, ese turno ya no esta abierto. Envia SHIFTS para ver la lista.",
    )


# --- formatting and parsing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Sat 28 Nov, 9:00"),
        ("es", "sab 28 nov, 9:00"),
        ("hi", "शनि 28 नव, 9:00"),
        ("xx", "Sat 28 Nov, 9:00"),  # an unshipped language falls back to English
    ],
)
def test_format_when(language: str, expected: str) -> None:
    assert format_when(datetime(2026, 11, 28, 9, 0), language) == expected


def test_format_when_covers_every_weekday_and_has_no_padding_on_the_date() -> None:
    monday = datetime(2026, 11, 30, 18, 5)
    assert [format_when(monday + timedelta(days=i), "en")[:3] for i in range(7)] == [
        "Mon",
        "Tue",
        "Wed",
        "Thu",
        "Fri",
        "Sat",
        "Sun",
    ]
    assert format_when(datetime(2027, 1, 3, 7, 30), "es") == "dom 3 ene, 7:30"


@pytest.mark.parametrize(
    ("argument", "days"),
    [
        ("2w", 14),
        ("1d", 1),
        ("3days", 3),
        ("1day", 1),
        ("2wk", 14),
        ("2weeks", 14),
        ("2semanas", 14),
        ("1semana", 7),
        ("4dias", 4),
        ("1m", 30),
        ("2months", 60),
        ("3meses", 90),
        ("365d", 365),
        ("52w", 364),
        (" 2W ", 14),
    ],
)
def test_parse_duration(argument: str, days: int) -> None:
    assert parse_duration(argument) == timedelta(days=days)


@pytest.mark.parametrize(
    "argument", ["0d", "0w", "366d", "53w", "13m", "999d", "", "w", "2", "2 w", "two weeks", "-1d"]
)
def test_parse_duration_rejects_nonsense_and_out_of_bounds(argument: str) -> None:
    assert parse_duration(argument) is None


def test_longest_pause_is_a_year() -> None:
    assert timedelta(days=365) == MAX_PAUSE


@pytest.mark.parametrize(
    ("text", "number"),
    [("1", 1), ("2.", 2), ("#2", 2), ("3)", 3), (" 12 ", 12), ("007", 7), ("999", 999), ("२", 2)],
)
def test_parse_number(text: str, number: int) -> None:
    assert parse_number(text) == number


@pytest.mark.parametrize("text", ["", "one", "1000", "1 2", "2..", "-1", "1.5", "#", "²"])
def test_parse_number_rejects(text: str) -> None:
    assert parse_number(text) is None
