"""Conversations, read as transcripts: a phone texts, the flows answer.

``Phone`` plays the shell's part without a database: it calls ``conversation.step``, answers
the roster effects with results from a fixed roster (``FakeShell``), renders the replies, then
applies the effects to the volunteer (name, language, status, the question answered) and keeps
the session, exactly as ``service/`` does in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from flows.commitments import CommitmentView
from flows.conversation import step
from flows.donations import AnswerStanding, NeedView, PledgeNeed
from flows.engine import (
    IDLE,
    Context,
    OptIn,
    OptOut,
    PendingQuestion,
    RecordConsent,
    Result,
    SessionState,
    SetLanguage,
    SetName,
    VolunteerStatus,
    with_effects,
)
from flows.shifts import AnswerCallOut, ClaimShift, ConfirmAssignment, DropAssignment, ShiftView
from tests.flows.roster_fakes import FakeLookup, FakeShell, Turn

NOW = datetime(2025, 6, 1, 15, 0, tzinfo=UTC)
COMMUNITY = "Riverside Flood Crew"
CONTACT = "+12025550142"


# Effects that answer the question we texted last (the shell clears it).
ANSWERS = (DropAssignment, ConfirmAssignment, AnswerCallOut, PledgeNeed, AnswerStanding)


@dataclass
class Phone:
    context: Context
    session: SessionState = IDLE
    history: list[tuple[str, list[str]]] = field(default_factory=list)
    lookup: FakeLookup = field(default_factory=FakeLookup)

    @classmethod
    def unknown(cls, *, channel: str = "sms", language: str = "en") -> Phone:
        lookup = FakeLookup()
        context = Context(
            VolunteerStatus.NEW, None, language, COMMUNITY, channel, NOW, CONTACT, lookup
        )
        return cls(context, lookup=lookup)

    @classmethod
    def volunteer(
        cls,
        status: VolunteerStatus = VolunteerStatus.ACTIVE,
        *,
        name: str = "Maria",
        language: str = "en",
        shifts: tuple[ShiftView, ...] = (),
        items: tuple[CommitmentView, ...] = (),
        needs: tuple[NeedView, ...] = (),
        pending: PendingQuestion | None = None,
        has_donations: bool = False,
    ) -> Phone:
        lookup = FakeLookup(shifts, items, needs)
        context = Context(status, name, language, COMMUNITY, "sms", NOW, CONTACT, lookup, pending)
        if has_donations:  # the community runs a donation roster
            context = replace(context, has_donations=True)
        return cls(context, lookup=lookup)

    def sends(self, text: str) -> Turn:
        outcome = step(self.context, self.session, text)
        results: list[Result] = FakeShell(self.lookup).results(outcome.effects)
        texts = list(outcome.render(self.context, results))
        self.context = with_effects(self.context, outcome.effects)
        if any(isinstance(effect, ANSWERS) for effect in outcome.effects):
            self.context = replace(self.context, pending=None)  # answered
        self.session = outcome.session
        self.history.append((text, texts))
        return Turn(outcome, texts)

    def waits(self, delta: timedelta) -> None:
        self.context = replace(self.context, now=self.context.now + delta)

    @property
    def status(self) -> VolunteerStatus:
        return self.context.status


def joined(name: str = "Maria") -> Phone:
    phone = Phone.unknown()
    phone.sends("hi")
    phone.sends(name)
    assert phone.sends("YES").keys == ["onboarding.welcome"]
    assert phone.status is VolunteerStatus.ACTIVE
    return phone


# --- onboarding ----------------------------------------------------------------------------


def test_unknown_number_is_asked_its_name_then_consent_then_welcomed() -> None:
    phone = Phone.unknown()

    turn = phone.sends("Hi, is this the flood crew?")
    assert turn.keys == ["onboarding.ask_name"]
    assert turn.text == (
        "Hi! Thanks for texting Riverside Flood Crew about volunteering. What is your name? "
        "Reply with your name, or text STOP to opt out."
    )
    assert turn.effects == []
    assert phone.session.flow == "onboarding"

    turn = phone.sends("My name is Maria")
    assert turn.keys == ["onboarding.ask_consent"]
    assert turn.text.startswith(
        "Thanks Maria. We will text you about volunteering with Riverside Flood Crew."
    )
    assert "Reply YES" in turn.text
    assert "STOP" in turn.text
    assert turn.effects == [SetName("Maria")]
    # A name of its own: mypy would keep phone.status narrowed past phone.sends().
    before_consent = phone.status
    assert before_consent is VolunteerStatus.NEW  # no consent yet

    turn = phone.sends("yes")
    assert turn.keys == ["onboarding.welcome"]
    assert turn.text.startswith("Welcome, Maria! You are on the Riverside Flood Crew volunteer")
    assert "HELP" in turn.text
    assert "STOP" in turn.text
    assert turn.effects == [RecordConsent(source="sms", wording_key="onboarding.ask_consent")]
    assert phone.status is VolunteerStatus.ACTIVE
    assert phone.context.name == "Maria"
    assert phone.session == IDLE


def test_join_starts_onboarding_and_consent_is_recorded_with_its_channel() -> None:
    phone = Phone.unknown(channel="whatsapp")
    assert phone.sends("JOIN").keys == ["onboarding.ask_name"]
    assert phone.sends("Ravi").effects == [SetName("Ravi")]
    assert phone.sends("Sí").effects == [
        RecordConsent(source="whatsapp", wording_key="onboarding.ask_consent")
    ]


def test_no_at_consent_declines_without_recording_consent() -> None:
    phone = Phone.unknown()
    phone.sends("hello")
    phone.sends("Maria")

    turn = phone.sends("No")
    assert turn.keys == ["onboarding.declined"]
    assert turn.text == "OK, we will not text you. Text JOIN any time to sign up."
    assert turn.effects == []
    assert phone.status is VolunteerStatus.NEW
    assert phone.session.state == "declined"  # a YES may still take the NO back


def test_a_non_name_is_asked_again() -> None:
    phone = Phone.unknown()
    phone.sends("hey")

    for not_a_name in ("12345", "yes", "?!"):
        turn = phone.sends(not_a_name)
        assert turn.keys == ["onboarding.ask_name_again"]
        assert "just your name" in turn.text
        assert turn.effects == []
        assert phone.session.state == "ask_name"

    assert phone.sends("Ana").keys == ["onboarding.ask_consent"]


def test_an_unclear_consent_answer_is_asked_again() -> None:
    phone = Phone.unknown()
    phone.sends("hey")
    phone.sends("Ana")

    turn = phone.sends("what is this for?")
    assert turn.keys == ["onboarding.ask_consent_again"]
    assert turn.text == (
        "Please reply YES to get volunteer texts from Riverside Flood Crew, NO if not, "
        "or STOP to opt out."
    )
    assert turn.effects == []
    assert phone.sends("yep").keys == ["onboarding.welcome"]


def test_onboarding_left_for_a_day_starts_over() -> None:
    phone = Phone.unknown()
    phone.sends("hey")
    phone.sends("Ana")
    phone.waits(timedelta(hours=24))

    turn = phone.sends("YES")
    assert turn.keys == ["onboarding.ask_name"]
    assert turn.effects == []
    assert phone.status is VolunteerStatus.NEW


def test_onboarding_continues_within_a_day() -> None:
    phone = Phone.unknown()
    phone.sends("hey")
    phone.sends("Ana")
    phone.waits(timedelta(hours=23, minutes=59))
    assert phone.sends("YES").keys == ["onboarding.welcome"]


def test_stop_during_onboarding_opts_out() -> None:
    phone = Phone.unknown()
    phone.sends("hey")
    turn = phone.sends("STOP")
    assert turn.keys == ["optout.confirmed"]
    assert turn.effects == [OptOut(source="sms")]
    assert phone.status is VolunteerStatus.OPTED_OUT
    assert phone.session == IDLE


def test_help_during_onboarding_answers_and_keeps_the_question_open() -> None:
    phone = Phone.unknown()
    phone.sends("hey")
    phone.sends("Ana")
    assert phone.sends("HELP").keys == ["help"]
    assert phone.sends("YES").keys == ["onboarding.welcome"]


def test_a_declined_number_can_join_later() -> None:
    phone = Phone.unknown()
    phone.sends("hey")
    phone.sends("Ana")
    phone.sends("no")
    assert phone.sends("JOIN").keys == ["onboarding.ask_name"]


def test_spanish_onboarding_after_switching_language() -> None:
    phone = Phone.unknown()
    phone.sends("hola")
    assert phone.sends("LANG es").text == (
        "Listo, te escribiremos en Espanol. Envia HELP para ayuda."
    )
    assert phone.sends("me llamo Lucia").text.startswith("Gracias Lucia.")
    assert phone.sends("si").text.startswith("Bienvenido/a, Lucia!")
    assert phone.status is VolunteerStatus.ACTIVE


# --- opting out and back in ----------------------------------------------------------------


def test_stop_sends_exactly_one_confirmation_and_records_the_opt_out() -> None:
    phone = joined()

    turn = phone.sends("STOP")
    assert turn.texts == [
        "You are unsubscribed from Riverside Flood Crew and will get no more texts. "
        "Text START to come back."
    ]
    assert turn.effects == [OptOut(source="sms")]
    assert phone.status is VolunteerStatus.OPTED_OUT


@pytest.mark.parametrize(
    "text",
    [
        "please stop texting me",
        "Unsubscribe me",
        "no me escriban mas",
        "मैसेज मत भेजो",
        "cancel",
        "END",
        "quit",
        "Stop please!",
    ],
)
def test_any_withdrawal_opts_out_with_one_confirmation(text: str) -> None:
    phone = joined()
    turn = phone.sends(text)
    assert turn.keys == ["optout.confirmed"]
    assert turn.effects == [OptOut(source="sms")]


@pytest.mark.parametrize(
    "text",
    [
        "hello?",
        "SHIFTS",
        "GIVE",
        "DONE",
        "1 5",
        "JOIN",
        "LANG es",
        "Maria",
        "no",
        "what happened",
        "",
        "🙂",
        "I can't stop by today",
        "x" * 2000,
    ],
)
def test_after_stop_other_texts_get_nothing_at_all(text: str) -> None:
    phone = joined()
    phone.sends("STOP")

    turn = phone.sends(text)
    assert turn.silent
    assert phone.status is VolunteerStatus.OPTED_OUT


def test_stop_again_while_opted_out_gets_nothing() -> None:
    phone = joined()
    phone.sends("STOP")
    for again in ("STOP", "stop", "UNSUBSCRIBE", "stop texting me"):
        assert phone.sends(again).silent
    assert phone.status is VolunteerStatus.OPTED_OUT


@pytest.mark.parametrize("text", ["START", "start", "UNSTOP", "YES", "yes", "Si"])
def test_start_or_yes_while_opted_out_opts_back_in(text: str) -> None:
    phone = joined()
    phone.sends("STOP")

    turn = phone.sends(text)
    assert turn.texts == [
        "Welcome back to Riverside Flood Crew! You will get volunteer texts again. "
        "Text HELP for help or STOP to opt out."
    ]
    assert turn.effects == [OptIn(source="sms")]
    assert phone.status is VolunteerStatus.ACTIVE


def test_help_while_opted_out_gets_help_but_does_not_opt_in() -> None:
    phone = joined()
    phone.sends("STOP")

    turn = phone.sends("HELP")
    assert turn.keys == ["help"]
    assert turn.text == (
        "Riverside Flood Crew volunteers. Coordinator: +12025550142. "
        "Text SHIFTS, MY, PAUSE, LANG es. STOP opts out, START rejoins. Msg&data rates may apply."
    )
    assert turn.effects == []
    assert phone.status is VolunteerStatus.OPTED_OUT


def test_the_full_out_and_back_cycle() -> None:
    phone = joined()
    assert phone.sends("STOP").keys == ["optout.confirmed"]
    assert phone.sends("hello?").silent
    assert phone.sends("INFO").keys == ["help"]
    assert phone.sends("START").keys == ["optin.confirmed"]
    assert phone.sends("hello?").keys == ["unknown"]
    assert phone.sends("STOP").keys == ["optout.confirmed"]


def test_start_while_subscribed_says_already_subscribed() -> None:
    phone = joined()
    turn = phone.sends("START")
    assert turn.keys == ["optin.already"]
    assert turn.effects == []


def test_yes_while_subscribed_is_not_an_opt_in() -> None:
    phone = joined()
    turn = phone.sends("YES")
    assert turn.keys == ["unknown"]
    assert turn.effects == []


def test_paused_volunteer_can_still_stop() -> None:
    phone = Phone.volunteer(VolunteerStatus.PAUSED)
    assert phone.sends("STOP").effects == [OptOut(source="sms")]


# --- everyday keywords ---------------------------------------------------------------------


def test_help_says_who_we_are_how_to_reach_a_coordinator_and_how_to_stop() -> None:
    turn = joined().sends("help")
    assert COMMUNITY in turn.text
    assert CONTACT in turn.text
    assert "STOP" in turn.text


def test_join_while_already_on_the_list() -> None:
    turn = joined("Maria").sends("JOIN")
    assert turn.text == (
        "You are already on the Riverside Flood Crew volunteer list, Maria. "
        "Text HELP for help or STOP to opt out."
    )
    assert turn.effects == []


def test_lang_es_switches_and_confirms_in_spanish() -> None:
    phone = joined()

    turn = phone.sends("LANG es")
    assert turn.effects == [SetLanguage("es")]
    assert turn.text == "Listo, te escribiremos en Espanol. Envia HELP para ayuda."
    assert phone.context.language == "es"

    assert phone.sends("qué?").text == (
        "Una persona del equipo leera tu mensaje. Envia TURNOS para ver turnos, MIS TURNOS para "
        "los tuyos, AYUDA para ayuda o STOP para salir."
    )
    assert phone.sends("LANG en").text == "OK, we will text you in English. Text HELP for help."
    assert phone.context.language == "en"


def test_lang_hi_switches_to_hindi_and_back() -> None:
    phone = joined()
    turn = phone.sends("LANG hi")
    assert turn.effects == [SetLanguage("hi")]
    assert turn.text == "ठीक है, अब हम आपको हिन्दी में लिखेंगे। मदद के लिए HELP भेजें।"
    assert phone.context.language == "hi"
    assert "SHIFTS" in phone.sends("क्या?").text  # keywords stay in Latin capitals
    assert phone.sends("भाषा en").keys == ["language.switched"]
    assert phone.context.language == "en"


def test_lang_with_an_unshipped_language_lists_the_shipped_ones() -> None:
    phone = joined()
    turn = phone.sends("LANG fr")
    assert turn.text == "Sorry, that language is not available. Text LANG en/es/hi."
    assert turn.effects == []
    assert phone.context.language == "en"


def test_unknown_text_names_the_keywords() -> None:
    turn = joined().sends("what shifts are there on saturday?")
    assert turn.keys == ["unknown"]
    assert turn.text == (
        "A person on our team will read your message. Text SHIFTS for open shifts, MY for yours, "
        "HELP for help, or STOP to opt out."
    )
    assert "SHIFTS" in turn.text
    assert "HELP" in turn.text
    assert "STOP" in turn.text
    assert turn.effects == []


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_text_such_as_media_only_gets_the_empty_reply(text: str) -> None:
    turn = joined().sends(text)
    assert turn.keys == ["empty"]
    assert turn.text == "We can only read text messages. Text HELP for help, or STOP to opt out."
    assert turn.effects == []


def test_empty_text_from_an_unknown_number_starts_onboarding() -> None:
    assert Phone.unknown().sends("").keys == ["onboarding.ask_name"]


def test_a_whole_transcript() -> None:
    phone = Phone.unknown()
    for inbound, expected in [
        ("Hi", ["onboarding.ask_name"]),
        ("I'm Sam", ["onboarding.ask_consent"]),
        ("ok", ["onboarding.welcome"]),
        ("LANG es", ["language.switched"]),
        ("ayuda", ["help"]),
        ("LANG en", ["language.switched"]),
        ("blah", ["unknown"]),
        ("STOP", ["optout.confirmed"]),
        ("blah", []),
        ("STOP", []),
        ("HELP", ["help"]),
        ("YES", ["optin.confirmed"]),
        ("JOIN", ["onboarding.already_joined"]),
    ]:
        assert phone.sends(inbound).keys == expected, (inbound, phone.history)
    assert phone.context.name == "Sam"
    assert phone.status is VolunteerStatus.ACTIVE


def test_member_keywords_during_onboarding_are_answers_not_commands() -> None:
    from datetime import UTC, datetime

    from flows.conversation import step
    from flows.engine import IDLE, Context, SetName, VolunteerStatus

    now = datetime(2030, 3, 1, 12, tzinfo=UTC)
    new = Context(VolunteerStatus.NEW, None, "es", "Riverside", "sms", now)
    asking_name = step(new, IDLE, "JOIN").session
    named = step(new, asking_name, "Dar")  # a name that is also a GIVE word
    assert named.effects == (SetName("Dar"),)
    assert named.session.state == "ask_consent"
    consent = step(new, named.session, "listo")  # "ok" in Spanish, also a DONE word
    assert consent.session.state == "ask_consent"  # asked again, not sent back to the start
    assert [r.key for r in consent.replies] == ["onboarding.ask_consent_again"]
    assert step(new, named.session, "STOP").effects[0].__class__.__name__ == "OptOut"


# --- menus that stay open (issue 14, item 3) -------------------------------------------------

KITCHEN = ShiftView(11, "Kitchen", "Community Hall", "Sat 28/11 09:00", 2)
SANDBAGS = ShiftView(12, "Sandbags", "North levee", "Sat 28/11 09:00", 5)
DRIVERS_FULL = ShiftView(13, "Drivers", "Depot", "Sat 28/11 09:00", 0)
RICE = NeedView(41, "Rice", "kg", 12, 20, "Sat 28/11")
OIL = NeedView(42, "Oil", "L", 10, 10, "Sat 28/11")


@pytest.mark.parametrize("language", ["en", "es"])
def test_after_a_sign_up_a_further_number_is_another_choice_from_the_same_menu(
    language: str,
) -> None:
    phone = Phone.volunteer(language=language, shifts=(KITCHEN, SANDBAGS))
    phone.sends("SHIFTS" if language == "en" else "turnos")

    first = phone.sends("1")
    assert first.effects == [ClaimShift(11)]
    second = phone.sends("2")
    assert second.effects == [ClaimShift(12)]
    assert second.text.startswith(
        "You are on Sandbags" if language == "en" else "Estas en Sandbags"
    )
    assert phone.sends("7").keys == ["shifts.pick_number"]  # still the same menu


def test_the_menu_stays_open_a_day_from_when_it_was_shown_not_from_the_last_sign_up() -> None:
    phone = Phone.volunteer(shifts=(KITCHEN, SANDBAGS))
    phone.sends("SHIFTS")
    phone.waits(timedelta(hours=23))
    assert phone.sends("1").effects == [ClaimShift(11)]
    phone.waits(timedelta(hours=1))
    turn = phone.sends("2")
    assert turn.effects == []
    assert turn.keys == ["unknown"]


@pytest.mark.parametrize(
    ("language", "full_line", "open_line"),
    [
        (
            "en",
            "3) Drivers, Sat 28/11 09:00, Depot (full, text 3 to join the waitlist)",
            "1) Kitchen, Sat 28/11 09:00, Community Hall (2 left)",
        ),
        (
            "es",
            "3) Drivers, Sat 28/11 09:00, Depot (lleno, envia 3 para la lista de espera)",
            "1) Kitchen, Sat 28/11 09:00, Community Hall (quedan 2)",
        ),
    ],
)
def test_full_shifts_are_listed_last_with_how_to_join_the_waitlist(
    language: str, full_line: str, open_line: str
) -> None:
    phone = Phone.volunteer(language=language, shifts=(DRIVERS_FULL, KITCHEN, SANDBAGS))
    menu = phone.sends("SHIFTS").text
    lines = menu.splitlines()
    assert lines[1] == open_line
    assert lines[3] == full_line
    assert "0 left" not in menu
    assert "quedan 0" not in menu
    turn = phone.sends("3")
    assert turn.effects == [ClaimShift(13)]
    assert "waitlist" in turn.text or "espera" in turn.text


@pytest.mark.parametrize("language", ["en", "es"])
def test_one_five_then_two_three_is_two_pledges(language: str) -> None:
    phone = Phone.volunteer(language=language, needs=(RICE, OIL))
    phone.sends("GIVE" if language == "en" else "donar")
    assert phone.sends("1 5").effects == [PledgeNeed(41, 5)]
    turn = phone.sends("2 3")
    assert turn.effects == [PledgeNeed(42, 3)]
    assert turn.text.startswith("Thank you! 3 L Oil" if language == "en" else "Gracias! 3 L Oil")


def test_a_number_then_a_quantity_leaves_the_give_menu_open_for_another() -> None:
    phone = Phone.volunteer(needs=(RICE, OIL))
    phone.sends("GIVE")
    assert phone.sends("1").keys == ["give.ask_quantity"]
    assert phone.sends("5").effects == [PledgeNeed(41, 5)]
    assert phone.sends("2").keys == ["give.ask_quantity"]
    assert phone.sends("4 weekly").effects == [PledgeNeed(42, 4, True)]
    assert phone.sends("1 2").effects == [PledgeNeed(41, 2)]


def test_a_gap_ask_texted_while_the_give_menu_stays_open_takes_its_quantity() -> None:
    phone = Phone.volunteer(needs=(RICE, OIL))
    phone.sends("GIVE")
    phone.sends("1 5")
    phone.context = replace(phone.context, pending=PendingQuestion("gap", 77))
    assert phone.sends("6").effects == [PledgeNeed(77, 6)]  # beyond the menu: the ask's answer


# --- no drop without asking, no dead ends (issue 14, item 4) --------------------------------

TWO_BOOKED = (
    CommitmentView(31, "Kitchen", "Hall", "Sat 28/11 09:00", "confirmed"),
    CommitmentView(32, "Drivers", "Depot", "Sun 29/11 10:00", "waitlisted", 3),
)


@pytest.mark.parametrize(
    ("language", "ask", "reply"),
    [
        ("en", "Which one do you want to drop?", "Reply its number, or NO to keep them all."),
        ("es", "Cual quieres dejar?", "Responde su numero, o NO para quedarte con todo."),
    ],
)
def test_a_bare_drop_with_bookings_lists_them_and_asks_which(
    language: str, ask: str, reply: str
) -> None:
    phone = Phone.volunteer(language=language, items=TWO_BOOKED)
    turn = phone.sends("DROP" if language == "en" else "soltar")
    assert turn.effects == []
    lines = turn.text.splitlines()
    assert lines[0] == ask
    assert lines[1] == "1) Kitchen, Sat 28/11 09:00, Hall"
    assert lines[2].startswith("2) Drivers, Sun 29/11 10:00 (")
    assert lines[3] == reply
    turn = phone.sends("2")
    assert turn.effects == [DropAssignment(32)]
    assert phone.session == IDLE


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_bare_drop_with_bookings_can_be_taken_back(language: str) -> None:
    phone = Phone.volunteer(language=language, items=TWO_BOOKED)
    phone.sends("DROP")
    assert phone.sends("9").keys == ["drop.pick_number"]
    turn = phone.sends("no")
    assert turn.effects == []
    assert turn.keys == ["drop.kept"]
    assert "MY" in turn.text


@pytest.mark.parametrize(
    ("language", "question", "yes"),
    [
        ("en", "Drop Kitchen, Sat 28/11 09:00? Reply YES to drop it, or NO to keep it.", "yes"),
        (
            "es",
            "Dejar Kitchen, Sat 28/11 09:00? Responde SI para dejarlo, o NO para quedartelo.",
            "si",
        ),
    ],
)
def test_a_bare_drop_with_one_booking_asks_to_confirm(
    language: str, question: str, yes: str
) -> None:
    phone = Phone.volunteer(language=language, items=TWO_BOOKED[:1])
    turn = phone.sends("DROP")
    assert turn.effects == []
    assert turn.text == question
    assert phone.sends(yes).effects == [DropAssignment(31)]

    phone = Phone.volunteer(language=language, items=TWO_BOOKED[:1])
    phone.sends("drop")
    kept = phone.sends("no")
    assert kept.effects == []
    assert kept.keys == ["drop.kept"]


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_bare_drop_that_answers_a_reminder_drops_that_shift(language: str) -> None:
    phone = Phone.volunteer(
        language=language, items=TWO_BOOKED, pending=PendingQuestion("reminder", 32)
    )
    assert phone.sends("DROP").effects == [DropAssignment(32)]


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "You have nothing booked to drop. Text SHIFTS or GIVE to sign up."),
        ("es", "No tienes nada reservado que dejar. Envia SHIFTS o GIVE para apuntarte."),
    ],
)
def test_drop_with_nothing_booked_says_nothing_is_booked(language: str, text: str) -> None:
    for drop in ("DROP 1", "DROP"):
        turn = Phone.volunteer(language=language).sends(drop)
        assert turn.effects == []
        assert turn.text == text


@pytest.mark.parametrize(
    ("language", "already"),
    [
        ("en", "You are already on Kitchen, Sat 28/11 09:00. Thank you!"),
        ("es", "Ya estas en Kitchen, Sat 28/11 09:00. Gracias!"),
    ],
)
def test_a_second_yes_to_a_call_out_says_the_place_is_already_theirs(
    language: str, already: str
) -> None:
    phone = Phone.volunteer(
        language=language, items=TWO_BOOKED[:1], pending=PendingQuestion("callout", 5)
    )
    first = phone.sends("YES")
    assert first.effects == [AnswerCallOut(5, True)]
    second = phone.sends("yes" if language == "en" else "si")
    assert second.effects == [AnswerCallOut(5, True)]
    assert second.text.startswith(already)


@pytest.mark.parametrize(
    ("language", "name", "yes", "welcome"),
    [
        ("en", "Maria", "YES", "Welcome, Maria!"),
        ("es", "Lucia", "si", "Bienvenido/a, Lucia!"),
    ],
)
def test_no_then_yes_at_the_consent_question_takes_the_yes(
    language: str, name: str, yes: str, welcome: str
) -> None:
    phone = Phone.unknown(language=language)
    phone.sends("hola" if language == "es" else "hi")
    phone.sends(name)
    assert phone.sends("no").keys == ["onboarding.declined"]
    turn = phone.sends(yes)
    assert turn.keys == ["onboarding.welcome"]
    assert turn.text.startswith(welcome)
    assert turn.effects == [RecordConsent(source="sms", wording_key="onboarding.ask_consent")]
    assert phone.status is VolunteerStatus.ACTIVE


def test_after_declining_any_other_text_starts_onboarding_over() -> None:
    phone = Phone.unknown()
    phone.sends("hi")
    phone.sends("Maria")
    phone.sends("no")
    assert phone.sends("what is this?").keys == ["onboarding.ask_name"]
    assert phone.status is VolunteerStatus.NEW


# --- a person behind the number (issue 14, item 5) -------------------------------------------


@pytest.mark.parametrize(
    ("language", "text", "reply"),
    [
        (
            "en",
            "is the end at 1pm?",
            "A person on our team will read your message. Text SHIFTS for open shifts, "
            "MY for yours, HELP for help, or STOP to opt out.",
        ),
        (
            "es",
            "no puedo ir el domingo",
            "Una persona del equipo leera tu mensaje. Envia TURNOS para ver turnos, "
            "MIS TURNOS para los tuyos, AYUDA para ayuda o STOP para salir.",
        ),
    ],
)
def test_a_text_the_flows_cannot_read_is_passed_to_a_person(
    language: str, text: str, reply: str
) -> None:
    turn = Phone.volunteer(language=language).sends(text)
    assert turn.keys == ["unknown"]
    assert turn.text == reply
    assert turn.effects == []


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "GIVE to donate"), ("es", "DONAR para donar")],
)
def test_the_fallback_mentions_give_when_the_community_runs_donations(
    language: str, words: str
) -> None:
    turn = Phone.volunteer(language=language, has_donations=True).sends("is the end at 1pm?")
    assert turn.keys == ["unknown.give"]
    assert words in turn.text
    assert {"en": "SHIFTS", "es": "TURNOS"}[language] in turn.text
    without = Phone.volunteer(language=language).sends("is the end at 1pm?").text
    assert words.split()[0] not in without


@pytest.mark.parametrize(
    ("language", "text", "reply"),
    [
        ("en", "thanks!", "Thank you too! Text MY to see what is coming up, or HELP for help."),
        ("en", "Thank you", None),
        ("en", "thx", None),
        ("en", "ty", None),
        ("en", "ok thanks :)", None),
        (
            "es",
            "Gracias!",
            "Gracias a ti! Envia MIS TURNOS para ver lo que tienes o AYUDA para ayuda.",
        ),
        ("es", "muchas gracias", None),
        ("hi", "धन्यवाद", "आपका भी धन्यवाद! अपनी सूची के लिए मेरे (MY) या मदद के लिए मदद (HELP) भेजें।"),
        ("hi", "शुक्रिया", None),
    ],
)
def test_thanks_get_a_short_friendly_answer(language: str, text: str, reply: str | None) -> None:
    turn = Phone.volunteer(language=language).sends(text)
    assert turn.keys == ["thanks"]
    assert turn.effects == []
    if reply is not None:
        assert turn.text == reply


def test_thanks_after_a_sign_up_keep_the_menu_open() -> None:
    phone = Phone.volunteer(shifts=(KITCHEN, SANDBAGS))
    phone.sends("SHIFTS")
    phone.sends("1")
    assert phone.sends("thank you!").keys == ["thanks"]
    assert phone.sends("2").effects == [ClaimShift(12)]


@pytest.mark.parametrize("text", ["thanks but I cannot come", "thank you for nothing, stop"])
def test_thanks_inside_a_longer_text_is_not_just_thanks(text: str) -> None:
    assert Phone.volunteer().sends(text).keys != ["thanks"]


def test_a_commitment_no_roster_kind_drops_is_never_dropped_by_yes() -> None:
    odd = CommitmentView(90, "Survey", "Online", "Sun 29/11", "confirmed", kind="survey")
    phone = Phone.volunteer(items=(odd, TWO_BOOKED[0]))
    asked = phone.sends("DROP")  # only what a roster kind can drop is offered
    assert asked.text.startswith("Drop Kitchen, ")
    assert phone.sends("YES").effects == [DropAssignment(31)]
    phone = Phone.volunteer(items=(odd,))
    assert phone.sends("DROP").keys == ["drop.none"]
