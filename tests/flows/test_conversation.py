"""Conversations, read as transcripts: a phone texts, the flows answer.

``Phone`` plays the shell's part without a database: it calls ``conversation.step``, renders
the replies, then applies the effects to the volunteer (name, language, status) and keeps the
session, exactly as ``service/`` does in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from flows.conversation import step
from flows.engine import (
    IDLE,
    Context,
    OptIn,
    OptOut,
    RecordConsent,
    SessionState,
    SetLanguage,
    SetName,
    VolunteerStatus,
    with_effects,
)
from tests.flows.roster_fakes import Turn

NOW = datetime(2025, 6, 1, 15, 0, tzinfo=UTC)
COMMUNITY = "Riverside Flood Crew"
CONTACT = "+12025550142"


@dataclass
class Phone:
    context: Context
    session: SessionState = IDLE
    history: list[tuple[str, list[str]]] = field(default_factory=list)

    @classmethod
    def unknown(cls, *, channel: str = "sms") -> Phone:
        return cls(Context(VolunteerStatus.NEW, None, "en", COMMUNITY, channel, NOW, CONTACT))

    @classmethod
    def volunteer(
        cls,
        status: VolunteerStatus = VolunteerStatus.ACTIVE,
        *,
        name: str = "Maria",
        language: str = "en",
    ) -> Phone:
        return cls(Context(status, name, language, COMMUNITY, "sms", NOW, CONTACT))

    def sends(self, text: str) -> Turn:
        outcome = step(self.context, self.session, text)
        texts = list(outcome.render(self.context))
        self.context = with_effects(self.context, outcome.effects)
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
    assert phone.status is VolunteerStatus.NEW  # no consent yet

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
    assert phone.session == IDLE


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
        "Perdon, no entendi. Envia TURNOS para ver turnos, MIS TURNOS para los tuyos, AYUDA para "
        "ayuda o STOP para salir."
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
        "Sorry, I did not get that. Text SHIFTS for open shifts, MY for yours, HELP for help, "
        "or STOP to opt out."
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
