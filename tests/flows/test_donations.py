"""Donation rosters by text (flows.donations), read as transcripts with a fake roster.

GIVE lists the next cycle's needs with what is still missing; a number asks the quantity, a
number and a quantity ("1 5", "2 3 kg weekly") pledge at once; a quantity answers a gap ask;
YES / NO answer the weekly check of a standing pledge; DONE marks today's pledges delivered;
MY lists pledges next to shifts and DROP n drops one. Effects whose outcome only the database
knows come back as Results, whose replies flows.donations defines.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flows import catalog
from flows.commitments import CommitmentView
from flows.conversation import step
from flows.donations import (
    MAX_QUANTITY,
    AnswerStanding,
    DoneResult,
    DropPledge,
    MarkDone,
    NeedView,
    PledgeFacts,
    PledgeNeed,
    PledgeResult,
    StandingResult,
    parse_choice_and_quantity,
    parse_quantity,
)
from flows.engine import (
    IDLE,
    Context,
    Effect,
    OptOut,
    Outcome,
    PendingQuestion,
    Reply,
    Result,
    SessionState,
    VolunteerStatus,
    with_effects,
)
from flows.shifts import AnswerCallOut, ConfirmAssignment, DropAssignment, DropResult, ShiftFacts
from flows.sms import Encoding, segment_info
from tests.flows.roster_fakes import FakeLookup, FakeShell, Turn, commitment, need, pledge

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # a Friday
COMMUNITY = "Riverside Food Circle"

THREE_NEEDS = (
    need(41, "Rice", "kg", 12, 20),
    need(42, "Cooking oil", "L", 10, 10),
    need(43, "Drivers for route 3", "people", 2, 2),
)
MENU = (
    "Needs for Sat 28/11:\n"
    "1) Rice: 12 of 20 kg still needed\n"
    "2) Cooking oil: 10 of 10 L still needed\n"
    "3) Drivers for route 3: 2 of 2 people still needed\n"
    "Reply a number, or number and amount (1 5)."
)
PICK_NUMBER = (
    "Please reply a number from 1 to 3, or number and amount (1 5). Text GIVE for the list."
)
ASK_RICE = (
    "Rice: how many kg can you bring? Reply a number up to 12. Add WEEKLY to bring it every week."
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
        needs: tuple[NeedView, ...] = THREE_NEEDS,
        items: tuple[CommitmentView, ...] = (),
        *,
        status: VolunteerStatus = VolunteerStatus.ACTIVE,
        language: str = "en",
        pending: PendingQuestion | None = None,
        name: str | None = "Maria",
    ) -> Phone:
        lookup = FakeLookup(items=items, needs=needs)
        context = Context(
            status, name, language, COMMUNITY, "sms", NOW, "+12025550142", lookup, pending
        )
        return cls(context, lookup)

    def sends(self, text: str) -> Turn:
        outcome = step(self.context, self.session, text)
        results: list[Result] = FakeShell(self.lookup).results(outcome.effects)
        texts = list(outcome.render(self.context, results))
        self.context = with_effects(self.context, outcome.effects)
        answers = (PledgeNeed, AnswerStanding, DropAssignment, ConfirmAssignment, AnswerCallOut)
        if any(isinstance(effect, answers) for effect in outcome.effects):
            self.context = replace(self.context, pending=None)  # answered
        self.session = outcome.session
        self.history.append((text, texts))
        return Turn(outcome, texts)

    def waits(self, delta: timedelta) -> None:
        self.context = replace(self.context, now=self.context.now + delta)


def menu_numbers(text: str) -> list[int]:
    return [int(line.split(")")[0]) for line in text.splitlines() if line[:1].isdigit()]


def long_needs(count: int = 25) -> tuple[NeedView, ...]:
    return tuple(
        NeedView(100 + i, f"Cooking oil (sunflower) {i + 1:02d}", "litres", 480, 500, "Sat 28/11")
        for i in range(count)
    )


# --- GIVE: the menu of what is missing -----------------------------------------------------


def test_give_lists_what_is_still_missing_numbered_in_the_lookups_order() -> None:
    phone = Phone.volunteer()
    turn = phone.sends("GIVE")
    assert turn.text == MENU
    assert turn.effects == []
    assert phone.session.flow == "give"
    assert phone.session.state == "menu"
    assert phone.session.data["ids"] == [41, 42, 43]
    assert phone.session.expires_at == NOW + timedelta(hours=24)
    assert phone.lookup.calls == ["open_needs"]


@pytest.mark.parametrize("text", ["give", "Give!", "donate", "needs", "dar", "donar", "दान"])
def test_give_spellings(text: str) -> None:
    assert Phone.volunteer().sends(text).text == MENU


def test_needs_already_covered_are_left_out_and_the_numbers_stay_contiguous() -> None:
    phone = Phone.volunteer((need(41, missing=0), need(42, "Oil", "L", 3, 10), need(43, missing=0)))
    turn = phone.sends("GIVE")
    assert turn.text == (
        "Needs for Sat 28/11:\n1) Oil: 3 of 10 L still needed\n"
        "Reply a number, or number and amount (1 5)."
    )
    assert phone.session.data["ids"] == [42]
    assert phone.sends("1 2").effects == [PledgeNeed(42, 2, False)]


def test_spanish_and_hindi_menus() -> None:
    turn = Phone.volunteer(THREE_NEEDS[:1], language="es").sends("dar")
    assert turn.text == (
        "Necesidades para Sat 28/11:\n"
        "1) Rice: faltan 12 de 20 kg\n"
        "Responde un numero, o numero y cantidad (1 5)."
    )
    turn = Phone.volunteer(THREE_NEEDS[:1], language="hi").sends("GIVE")
    assert "1) Rice: 20 में से 12 kg चाहिए" in turn.text
    assert "नंबर" in turn.text


@pytest.mark.parametrize(
    "needs", [(), (need(41, missing=0),)], ids=["nothing", "everything covered"]
)
def test_nothing_needed(needs: tuple[NeedView, ...]) -> None:
    phone = Phone.volunteer(needs)
    turn = phone.sends("GIVE")
    assert turn.keys == ["give.none"]
    assert turn.text == (
        "Nothing is needed right now, thank you! Text SHIFTS for shifts or HELP for help."
    )
    assert turn.effects == []
    assert phone.session == IDLE
    assert phone.sends("1").keys == ["unknown"]


@pytest.mark.parametrize("language", ["en", "es", "hi"])
def test_a_menu_of_25_long_needs_stays_within_two_segments(language: str) -> None:
    """Two GSM-7 segments; Hindi (UCS-2, under half the room per segment) may use three."""
    needs = long_needs(25)
    phone = Phone.volunteer(needs, language=language)
    turn = phone.sends("GIVE")
    info = segment_info(turn.text)
    assert info.segments <= (3 if language == "hi" else 2), info
    if language != "hi":
        assert info.encoding is Encoding.GSM7
    shown = menu_numbers(turn.text)
    assert shown == list(range(1, len(shown) + 1))
    assert 1 <= len(shown) < 25
    assert phone.session.data["ids"] == [n.id for n in needs[: len(shown)]]
    # a number beyond the page asks again, one on it asks the quantity
    assert phone.sends(str(len(shown) + 1)).keys == ["give.pick_number"]
    assert phone.sends(str(len(shown))).keys == ["give.ask_quantity"]


def test_a_single_need_longer_than_two_segments_is_still_shown() -> None:
    huge = NeedView(7, "Rice " * 80, "kg", 5, 5, "Sat 28/11")
    phone = Phone.volunteer((huge, need(8)))
    turn = phone.sends("GIVE")
    assert menu_numbers(turn.text) == [1]
    assert phone.session.data["ids"] == [7]


def test_a_paused_volunteer_can_still_give() -> None:
    phone = Phone.volunteer(status=VolunteerStatus.PAUSED)
    assert phone.sends("GIVE").text == MENU
    assert phone.sends("1 5").effects == [PledgeNeed(41, 5, False)]


# --- a number, then a quantity --------------------------------------------------------------


def test_a_number_asks_the_quantity_then_a_quantity_pledges() -> None:
    phone = Phone.volunteer()
    phone.sends("GIVE")
    turn = phone.sends("1")
    assert turn.outcome.replies == (
        Reply("give.ask_quantity", {"item": "Rice", "unit": "kg", "missing": 12}),
    )
    assert turn.text == ASK_RICE
    assert turn.effects == []
    assert (phone.session.flow, phone.session.state) == ("give", "quantity")
    assert phone.session.data["need"] == 41

    turn = phone.sends("5")
    assert turn.effects == [PledgeNeed(41, 5, False)]
    assert turn.keys == []  # the pledge's result answers
    assert turn.text == (
        "Thank you! 5 kg Rice for Sat 28/11 at Church hall. We will remind you the day before. "
        "Text MY to see it."
    )
    # the quantity question is closed; the menu stays open for another pledge
    assert (phone.session.flow, phone.session.state) == ("give", "menu")
    assert "need" not in phone.session.data
    assert phone.sends("5").keys == ["give.pick_number"]


@pytest.mark.parametrize(
    ("text", "quantity", "weekly"),
    [
        ("5", 5, False),
        ("5 kg", 5, False),
        ("5kg", 5, False),
        ("5 KG.", 5, False),
        ("05", 5, False),
        ("5 kilos", 5, False),
        ("12", 12, False),
        ("5 weekly", 5, True),
        ("5 kg weekly", 5, True),
        ("5 every week", 5, True),
        ("5 WEEKLY!", 5, True),
        ("5 semanal", 5, True),
        ("5 kg cada semana", 5, True),
    ],
)
def test_quantity_spellings(text: str, quantity: int, weekly: bool) -> None:
    phone = Phone.volunteer()
    phone.sends("GIVE")
    phone.sends("1")
    assert phone.sends(text).effects == [PledgeNeed(41, quantity, weekly)]


def test_a_weekly_pledge_says_so() -> None:
    phone = Phone.volunteer()
    phone.sends("GIVE")
    phone.sends("2")
    turn = phone.sends("4 weekly")
    assert turn.effects == [PledgeNeed(42, 4, True)]
    assert turn.text == (
        "Thank you! 4 L Cooking oil every week from Sat 28/11 at Church hall. "
        "We will ask you each week. Text MY to see it."
    )


@pytest.mark.parametrize("text", ["lots", "five", "0", "5.5", "10000", "1 5", "a few kg", "?"])
def test_a_quantity_it_cannot_read_asks_again(text: str) -> None:
    phone = Phone.volunteer()
    phone.sends("GIVE")
    phone.sends("1")
    asking = phone.session
    turn = phone.sends(text)
    assert turn.text == ASK_RICE
    assert turn.effects == []
    assert phone.session == asking
    assert phone.sends("3").effects == [PledgeNeed(41, 3, False)]


def test_an_over_pledge_is_capped_by_the_shell_and_the_reply_says_so() -> None:
    phone = Phone.volunteer()
    phone.sends("GIVE")
    phone.sends("1")
    turn = phone.sends("50")
    assert turn.effects == [PledgeNeed(41, 50, False)]  # the database caps, not the flow
    assert turn.text == (
        "Thank you! Only 12 kg Rice was still needed for Sat 28/11, so we noted 12. "
        "Text MY to see it."
    )


def test_the_quantity_question_uses_what_the_menu_showed() -> None:
    phone = Phone.volunteer()
    phone.sends("GIVE")
    phone.lookup.needs = ()  # covered meanwhile: the shell answers "closed"
    assert phone.sends("1").text == ASK_RICE
    turn = phone.sends("5")
    assert turn.effects == [PledgeNeed(41, 5, False)]
    assert turn.text == "Sorry, that need is no longer open. Text GIVE for the current list."


def test_a_keyword_leaves_the_quantity_question() -> None:
    phone = Phone.volunteer(items=(pledge(61),))
    phone.sends("GIVE")
    phone.sends("1")
    assert phone.sends("MY").keys == ["my.list"]
    assert phone.session == IDLE
    assert phone.sends("5").keys == ["unknown"]


def test_stop_during_the_quantity_question_opts_out() -> None:
    phone = Phone.volunteer()
    phone.sends("GIVE")
    phone.sends("1")
    turn = phone.sends("STOP")
    assert turn.effects == [OptOut("sms")]
    assert phone.session == IDLE


# --- number and quantity in one text --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "effect"),
    [
        ("1 5", PledgeNeed(41, 5, False)),
        ("1 5 kg", PledgeNeed(41, 5, False)),
        ("#1 5", PledgeNeed(41, 5, False)),
        ("2 3 L", PledgeNeed(42, 3, False)),
        ("2 3 kg weekly", PledgeNeed(42, 3, True)),
        ("3 2 people", PledgeNeed(43, 2, False)),
        ("3   2", PledgeNeed(43, 2, False)),
    ],
)
def test_number_and_quantity_pledge_at_once(text: str, effect: PledgeNeed) -> None:
    phone = Phone.volunteer()
    phone.sends("GIVE")
    turn = phone.sends(text)
    assert turn.effects == [effect]
    assert turn.keys == []
    assert turn.text.startswith("Thank you! ")
    assert (phone.session.flow, phone.session.state) == ("give", "menu")  # open for another


@pytest.mark.parametrize("text", ["9 5", "0 5", "4 1", "4", "0", "99"])
def test_a_number_out_of_range_asks_again_with_the_range(text: str) -> None:
    phone = Phone.volunteer()
    phone.sends("GIVE")
    menu = phone.session
    turn = phone.sends(text)
    assert turn.keys == ["give.pick_number"]
    assert turn.text == PICK_NUMBER
    assert turn.effects == []
    assert phone.session == menu  # the menu stays open
    assert phone.sends("3 1").effects == [PledgeNeed(43, 1, False)]


@pytest.mark.parametrize("text", ["1 0", "1 10000", "1 lots", "5.5", "1.5", "1,5", "123", "2x3"])
def test_a_menu_reply_it_cannot_read_asks_again_and_keeps_the_menu(text: str) -> None:
    # "1.5" is not item 1, quantity 5: a decimal is never split into a number and a quantity
    phone = Phone.volunteer()
    phone.sends("GIVE")
    menu = phone.session
    turn = phone.sends(text)
    assert turn.keys == ["give.pick_number"]
    assert turn.effects == []
    assert phone.session == menu


def test_words_in_the_menu_are_not_understood() -> None:
    phone = Phone.volunteer()
    phone.sends("GIVE")
    assert phone.sends("rice please").keys == ["unknown"]


def test_the_menu_closes_after_a_day_and_stays_open_after_a_pledge() -> None:
    phone = Phone.volunteer()
    phone.sends("GIVE")
    phone.waits(timedelta(hours=24))
    assert phone.sends("1").keys == ["unknown"]
    phone.sends("GIVE")
    phone.sends("1 5")
    assert phone.sends("2").keys == ["give.ask_quantity"]
    phone.waits(timedelta(hours=24))
    assert phone.sends("2").keys == ["unknown"]


def test_shifts_and_give_menus_do_not_mix() -> None:
    from tests.flows.roster_fakes import shift

    phone = Phone.volunteer()
    phone.lookup.shifts = (shift(11), shift(12))
    phone.sends("GIVE")
    phone.sends("SHIFTS")
    assert phone.session.flow == "shifts"
    assert phone.sends("1 5").keys == ["unknown"]  # not a shift menu reply
    phone.sends("SHIFTS")
    phone.sends("GIVE")
    assert phone.sends("2").keys == ["give.ask_quantity"]


# --- answers to a gap ask ------------------------------------------------------------------

GAP = PendingQuestion("gap", 42)


@pytest.mark.parametrize(
    ("text", "effect"),
    [
        ("4", PledgeNeed(42, 4, False)),
        ("4 L", PledgeNeed(42, 4, False)),
        ("4 litres weekly", PledgeNeed(42, 4, True)),
        ("10", PledgeNeed(42, 10, False)),
    ],
)
def test_a_quantity_answers_a_gap_ask_directly(text: str, effect: PledgeNeed) -> None:
    phone = Phone.volunteer(pending=GAP)
    turn = phone.sends(text)
    assert turn.effects == [effect]
    assert turn.keys == []
    assert turn.text.startswith(f"Thank you! {effect.quantity} L Cooking oil ")


@pytest.mark.parametrize("text", ["NO", "no thanks", "nope", "नहीं"])
def test_no_to_a_gap_ask(text: str) -> None:
    phone = Phone.volunteer(pending=GAP)
    turn = phone.sends(text)
    assert turn.keys == ["gap.declined"]
    assert turn.text == "No problem, thanks for letting us know. Text GIVE for other needs."
    assert turn.effects == []
    assert phone.session == IDLE


@pytest.mark.parametrize("text", ["lots", "0", "five", "YES"])
def test_other_replies_to_a_gap_ask_pledge_nothing_but_are_answered(text: str) -> None:
    turn = Phone.volunteer(pending=GAP).sends(text)
    assert turn.effects == []
    assert len(turn.texts) == 1


def test_a_gap_ask_while_the_menu_is_open() -> None:
    phone = Phone.volunteer(pending=GAP)
    phone.sends("GIVE")
    assert phone.sends("1").keys == ["give.ask_quantity"]  # a bare number is the menu's
    phone.sends("GIVE")
    assert phone.sends("5 L").effects == [PledgeNeed(42, 5, False)]  # not a menu reply
    phone = Phone.volunteer(pending=GAP)
    phone.sends("GIVE")
    assert phone.sends("NO").keys == ["gap.declined"]


def test_a_gap_answer_needs_an_active_volunteer() -> None:
    phone = Phone.volunteer(pending=GAP, status=VolunteerStatus.PAUSED)
    assert phone.sends("3").effects == [PledgeNeed(42, 3, False)]


# --- the weekly check of a standing pledge ---------------------------------------------------

STANDING = PendingQuestion("standing", 7)


@pytest.mark.parametrize("text", ["YES", "yes!", "si", "ok", "हाँ"])
def test_yes_to_the_weekly_check(text: str) -> None:
    phone = Phone.volunteer(pending=STANDING)
    turn = phone.sends(text)
    assert turn.effects == [AnswerStanding(7, True)]
    assert turn.keys == []
    assert turn.text == (
        "Thanks! 4 kg Rice for Sat 28/11 at Church hall is on the list. Text MY to see it."
    )


@pytest.mark.parametrize("text", ["NO", "no thanks", "नहीं"])
def test_no_to_the_weekly_check_skips_this_week(text: str) -> None:
    turn = Phone.volunteer(pending=STANDING).sends(text)
    assert turn.effects == [AnswerStanding(7, False)]
    assert turn.text == (
        "OK, we will skip this week and ask again next week. Text GIVE to give something else."
    )


def test_a_number_is_no_answer_to_the_weekly_check() -> None:
    turn = Phone.volunteer(pending=STANDING).sends("4")
    assert turn.keys == ["unknown"]
    assert turn.effects == []


@pytest.mark.parametrize(
    ("pending", "text", "expected"),
    [
        (STANDING, "YES", [AnswerStanding(7, True)]),
        (STANDING, "no", [AnswerStanding(7, False)]),
        (PendingQuestion("callout", 5), "YES", [AnswerCallOut(5, True)]),
        (PendingQuestion("reminder", 31), "YES", [ConfirmAssignment(31)]),
    ],
)
def test_yes_or_no_to_a_question_texted_during_the_quantity_question(
    pending: PendingQuestion, text: str, expected: list[Effect]
) -> None:
    phone = Phone.volunteer()
    phone.sends("GIVE")
    phone.sends("1")
    phone.context = replace(phone.context, pending=pending)  # asked meanwhile
    assert phone.sends(text).effects == expected


@pytest.mark.parametrize("pending", [None, GAP])
def test_yes_during_the_quantity_question_asks_again(pending: PendingQuestion | None) -> None:
    phone = Phone.volunteer(pending=pending)
    phone.sends("GIVE")
    phone.sends("1")
    assert phone.sends("YES").text == ASK_RICE
    assert phone.session.state == "quantity"


def test_no_during_the_quantity_question_declines_a_pending_gap_ask() -> None:
    phone = Phone.volunteer(pending=GAP)
    phone.sends("GIVE")
    phone.sends("1")
    assert phone.sends("NO").keys == ["gap.declined"]
    assert phone.session == IDLE


# --- DONE ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["DONE", "done!", "delivered", "dropped off", "listo", "हो गया"])
def test_done_marks_todays_pledges_delivered(text: str) -> None:
    phone = Phone.volunteer(items=(pledge(61), pledge(62, "2 L Oil")))
    turn = phone.sends(text)
    assert turn.effects == [MarkDone()]
    assert turn.keys == []
    assert turn.text == ("Thank you! We marked 2 donations delivered. Text GIVE to help next time.")


def test_done_with_nothing_to_drop_off() -> None:
    turn = Phone.volunteer(items=()).sends("DONE")
    assert turn.effects == [MarkDone()]
    assert turn.text == "You have no donation to drop off today. Text MY to see your pledges."


def test_done_closes_an_open_menu() -> None:
    phone = Phone.volunteer()
    phone.sends("GIVE")
    phone.sends("DONE")
    assert phone.session == IDLE


# --- MY and DROP with pledges --------------------------------------------------------------


def test_my_lists_pledges_next_to_shifts() -> None:
    phone = Phone.volunteer(items=(commitment(31, "Kitchen"), pledge(61)))
    assert phone.sends("MY").text == (
        "Coming up:\n"
        "1) Kitchen, Sat 28/11 09:00, Hall\n"
        "2) 5 kg Rice, Sat 28/11, Church hall\n"
        "Text DROP and a number to drop one."
    )


@pytest.mark.parametrize(
    ("text", "effect"), [("DROP 1", DropAssignment(31)), ("DROP 2", DropPledge(61))]
)
def test_drop_n_drops_a_shift_or_a_pledge(text: str, effect: Effect) -> None:
    phone = Phone.volunteer(items=(commitment(31, "Kitchen"), pledge(61)))
    phone.sends("MY")
    turn = phone.sends(text)
    assert turn.effects == [effect]
    assert turn.keys == []
    if isinstance(effect, DropPledge):
        assert turn.text == (
            "You dropped 5 kg Rice, Sat 28/11. Thanks for telling us. "
            "Text SHIFTS or GIVE to find another."
        )


def test_drop_1_on_a_pledge_line_drops_the_pledge() -> None:
    phone = Phone.volunteer(items=(pledge(61),))
    phone.sends("MY")
    assert phone.sends("DROP 1").effects == [DropPledge(61)]


def test_a_bare_drop_with_one_pledge_asks_then_drops_it() -> None:
    phone = Phone.volunteer(items=(pledge(61),))
    turn = phone.sends("DROP")
    assert turn.effects == []
    assert turn.text == ("Drop 5 kg Rice, Sat 28/11? Reply YES to drop it, or NO to keep it.")
    assert phone.sends("YES").effects == [DropPledge(61)]


def test_a_bare_drop_answering_a_shift_reminder_drops_the_shift_not_the_pledge() -> None:
    phone = Phone.volunteer(
        items=(pledge(61), commitment(31)), pending=PendingQuestion("reminder", 31)
    )
    assert phone.sends("DROP").effects == [DropAssignment(31)]


def test_a_bare_drop_with_a_pledge_and_a_shift_asks_which() -> None:
    phone = Phone.volunteer(items=(pledge(61), commitment(31)))
    turn = phone.sends("DROP")
    assert turn.effects == []
    assert turn.text.startswith("Which one do you want to drop?\n1) 5 kg Rice, Sat 28/11, ")
    assert phone.sends("1").effects == [DropPledge(61)]


# --- new and opted-out numbers ---------------------------------------------------------------

DONATION_TEXTS = ["GIVE", "DONE", "1", "1 5", "5 kg", "5 weekly", "NO", "DROP 1"]


@pytest.mark.parametrize("text", DONATION_TEXTS)
def test_a_new_number_is_onboarded_first(text: str) -> None:
    phone = Phone.volunteer(items=(pledge(61),), status=VolunteerStatus.NEW, pending=GAP, name=None)
    turn = phone.sends(text)
    assert turn.keys == ["onboarding.ask_name"]
    assert turn.effects == []
    assert phone.session.flow == "onboarding"
    assert phone.lookup.calls == []


@pytest.mark.parametrize("text", DONATION_TEXTS)
@pytest.mark.parametrize("pending", [GAP, STANDING])
def test_an_opted_out_number_hears_nothing(text: str, pending: PendingQuestion) -> None:
    phone = Phone.volunteer(items=(pledge(61),), status=VolunteerStatus.OPTED_OUT, pending=pending)
    phone.session = SessionState("give", "menu", {"ids": [41, 42, 43]}, NOW + timedelta(hours=1))
    before = phone.session
    turn = phone.sends(text)
    assert turn.silent
    assert phone.session == before
    assert phone.lookup.calls == []  # not even a query


# --- result replies ------------------------------------------------------------------------

FACTS = PledgeFacts(item="Rice", unit="kg", when="Sat 28/11", place="Church hall")

RESULTS: list[tuple[Any, str]] = [
    (
        PledgeResult("pledged", FACTS, 5),
        "Thank you! 5 kg Rice for Sat 28/11 at Church hall. We will remind you the day before. "
        "Text MY to see it.",
    ),
    (
        PledgeResult("pledged", FACTS, 5, weekly=True),
        "Thank you! 5 kg Rice every week from Sat 28/11 at Church hall. We will ask you each "
        "week. Text MY to see it.",
    ),
    (
        PledgeResult("capped", FACTS, 3),
        "Thank you! Only 3 kg Rice was still needed for Sat 28/11, so we noted 3. "
        "Text MY to see it.",
    ),
    (
        PledgeResult("capped", FACTS, 3, weekly=True),
        "Thank you! Only 3 kg Rice was still needed for Sat 28/11; we noted that and will "
        "check with you weekly. Text MY.",
    ),
    (
        PledgeResult("full", FACTS),
        "Thank you! Rice is fully covered for Sat 28/11 now. Text GIVE for other needs.",
    ),
    (
        PledgeResult("full", FACTS, weekly=True),
        "Thank you! Rice is fully covered for Sat 28/11 now. Text GIVE for other needs.",
    ),
    (
        PledgeResult("closed"),
        "Sorry, that need is no longer open. Text GIVE for the current list.",
    ),
    (
        DoneResult("delivered", 2),
        "Thank you! We marked 2 donations delivered. Text GIVE to help next time.",
    ),
    (
        DoneResult("nothing_today"),
        "You have no donation to drop off today. Text MY to see your pledges.",
    ),
    (
        StandingResult("pledged", FACTS, 4),
        "Thanks! 4 kg Rice for Sat 28/11 at Church hall is on the list. Text MY to see it.",
    ),
    (
        StandingResult("skipped", FACTS, 4),
        "OK, we will skip this week and ask again next week. Text GIVE to give something else.",
    ),
    (
        StandingResult("gone"),
        "That weekly pledge is no longer open. Text GIVE for current needs.",
    ),
    (
        DropResult("dropped", ShiftFacts("5 kg Rice", "Sat 28/11", "Church hall")),
        "You dropped 5 kg Rice, Sat 28/11. Thanks for telling us. "
        "Text SHIFTS or GIVE to find another.",
    ),
]


def _context(language: str = "en") -> Context:
    return Context(VolunteerStatus.ACTIVE, "Maria", language, COMMUNITY, "sms", NOW, "+1")


def _result_id(value: Any) -> str:
    if not hasattr(value, "outcome"):
        return ""
    outcome: str = value.outcome
    return type(value).__name__ + "-" + outcome + ("-weekly" if getattr(value, "weekly", 0) else "")


@pytest.mark.parametrize(("result", "expected"), RESULTS, ids=_result_id)
def test_each_result_renders_its_catalog_text(result: Any, expected: str) -> None:
    assert Outcome(IDLE).render(_context(), (result,)) == (expected,)


@pytest.mark.parametrize("language", ["es", "hi"])
@pytest.mark.parametrize("result", [r for r, _ in RESULTS], ids=_result_id)
def test_each_result_renders_in_the_volunteers_language(language: str, result: Any) -> None:
    (text,) = Outcome(IDLE).render(_context(language), (result,))
    reply = result.reply()
    assert text == catalog.render(language, reply.key, {**_context().params(), **reply.params})
    for placeholder in ("item", "unit", "when", "place", "quantity", "count"):
        if "{" + placeholder + "}" in catalog.load(language)[reply.key]:
            assert str(reply.params[placeholder]) in text
    if language == "es":
        assert segment_info(text).encoding is Encoding.GSM7
    assert segment_info(text).segments <= {"es": 1, "hi": 3}[language]


def test_results_follow_the_language_the_effects_leave() -> None:
    phone = Phone.volunteer()
    phone.sends("LANG es")
    phone.sends("GIVE")
    assert phone.sends("1 5").text == (
        "Gracias! 5 kg Rice para Sat 28/11 en Church hall. Te lo recordaremos el dia antes. "
        "Envia MY para verlo."
    )


# --- a whole transcript ----------------------------------------------------------------------


def test_a_whole_donation_transcript() -> None:
    phone = Phone.volunteer(items=(pledge(61),))
    phone.sends("GIVE")
    phone.sends("1")
    phone.sends("lots")
    phone.sends("5 kg weekly")
    phone.sends("DONE")
    phone.sends("MY")
    phone.sends("DROP 1")
    assert [text for text, _ in phone.history] == [
        "GIVE",
        "1",
        "lots",
        "5 kg weekly",
        "DONE",
        "MY",
        "DROP 1",
    ]
    replies = [texts for _, texts in phone.history]
    assert replies[0] == [MENU]
    assert replies[1] == replies[2] == [ASK_RICE]
    assert replies[3][0].startswith("Thank you! 5 kg Rice every week from Sat 28/11")
    assert replies[4] == [
        "Thank you! We marked your donation delivered. Text GIVE to help next time."
    ]
    assert replies[5][0].startswith("Coming up:\n1) 5 kg Rice, Sat 28/11, Church hall")
    assert replies[6][0].startswith("You dropped 5 kg Rice, Sat 28/11.")
    for texts in replies:
        assert len(texts) == 1
        assert segment_info(texts[0]).encoding is Encoding.GSM7
        assert segment_info(texts[0]).segments <= 2


# --- parsers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", (5, False)),
        ("  5  ", (5, False)),
        ("5 kg", (5, False)),
        ("5kg", (5, False)),
        ("5 KG.", (5, False)),
        ("3 litres", (3, False)),
        ("2 people", (2, False)),
        ("1", (1, False)),
        ("9999", (MAX_QUANTITY, False)),
        ("2 weekly", (2, True)),
        ("2 kg weekly", (2, True)),
        ("2 each week", (2, True)),
        ("2 cada semana", (2, True)),
        ("2 kilos semanal", (2, True)),
        ("5 किलो", (5, False)),
        ("5 किलो हर हफ्ते", (5, True)),
        ("२ किलो", (2, False)),
    ],
)
def test_parse_quantity(text: str, expected: tuple[int, bool]) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0",
        "00",
        "10000",
        "5.5",
        "5,5",
        "five",
        "lots",
        "kg",
        "weekly",
        "5 weekly kg",
        "1 5",
        "5 kg 3",
        "5 averyveryverylongunit",
    ],
)
def test_parse_quantity_rejects(text: str) -> None:
    assert parse_quantity(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 5", (1, 5, False)),
        ("1  5", (1, 5, False)),
        ("#1 5", (1, 5, False)),
        ("1 5 kg", (1, 5, False)),
        ("1 5kg", (1, 5, False)),
        ("2 3 kg weekly", (2, 3, True)),
        ("2 3 weekly", (2, 3, True)),
        ("12 20", (12, 20, False)),
        ("1 9999", (1, MAX_QUANTITY, False)),
        ("9 5", (9, 5, False)),  # the range is the menu's business
        ("0 5", (0, 5, False)),
        ("1 5 किलो", (1, 5, False)),
    ],
)
def test_parse_choice_and_quantity(text: str, expected: tuple[int, int, bool]) -> None:
    assert parse_choice_and_quantity(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "5 kg",
        "1 0",
        "1 00",
        "1 10000",
        "5.5",
        "1.5",
        "1,5",
        "five 5",
        "1 five",
        "1 5 5",
        "100 5",
    ],
)
def test_parse_choice_and_quantity_rejects(text: str) -> None:
    assert parse_choice_and_quantity(text) is None
