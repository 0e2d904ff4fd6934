"""Issue 14, items 1, 2 and 7, as transcripts: dates nobody can misread (the month as a word,
the community's clock, "today" and "tomorrow"), a first contact answered in its own language
with each language's own keywords, and texts that count things in plural forms."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from flows import catalog
from flows.conversation import classify
from flows.donations import DoneResult
from flows.engine import NO_LOOKUP, Context, SetLanguage, VolunteerStatus
from flows.keywords import Intent
from flows.shifts import CallOutResult, ShiftFacts, ShiftIntent, format_when
from tests.flows.roster_fakes import FakeLookup, need, shift
from tests.flows.test_conversation import COMMUNITY, CONTACT, NOW, Phone


def DateStyle(*args: Any, **kwargs: Any) -> Any:
    """``flows.dates.DateStyle``, imported when a test runs, so that every test here fails on
    its own (not at collection) on code without ``flows.dates``."""
    from flows.dates import DateStyle as style

    return style(*args, **kwargs)


NUMERIC_DATE = re.compile(r"(?<![\d/])\d{1,2}/\d{1,2}(?![\d/])")
TUESDAY = datetime(2026, 12, 8, 9, 0)


def volunteer(
    language: str = "en", *, country: str = "", clock: str = "", lookup: object = None
) -> Phone:
    context = Context(
        VolunteerStatus.ACTIVE, "Maria", language, COMMUNITY, "sms", NOW, CONTACT, country=country
    )
    return Phone(replace(context, clock=clock, lookup=lookup if lookup is not None else NO_LOOKUP))


def new_number(default_language: str = "en") -> Phone:
    return Phone(
        Context(VolunteerStatus.NEW, None, default_language, COMMUNITY, "sms", NOW, CONTACT)
    )


# ----- 1. dates nobody can misread ----------------------------------------------------------
@pytest.mark.parametrize(
    ("language", "country", "clock", "expected"),
    [
        ("en", "GB", "", "Tue 8 Dec, 9:00"),
        ("en", "US", "", "Tue Dec 8, 9am"),
        ("en", "IN", "", "Tue 8 Dec, 9am"),
        ("en", "US", "24h", "Tue Dec 8, 9:00"),
        ("en", "DE", "12h", "Tue 8 Dec, 9am"),
        ("es", "ES", "", "mar 8 dic, 9:00"),
        ("es", "MX", "", "mar 8 dic, 9:00"),
        ("es", "US", "", "mar 8 dic, 9am"),
        ("hi", "IN", "", "मंगल 8 दिस, 9am"),
    ],
)
def test_dates_carry_the_month_as_a_word_and_the_community_clock(
    language: str, country: str, clock: str, expected: str
) -> None:
    assert format_when(TUESDAY, DateStyle(language, country, clock)) == expected


def test_times_on_the_twelve_hour_clock() -> None:
    us = DateStyle("en", "US")
    assert [
        us.time(TUESDAY.replace(hour=h, minute=m).time())
        for h, m in ((0, 0), (12, 0), (14, 30), (23, 5))
    ] == [
        "12am",
        "12pm",
        "2:30pm",
        "11:05pm",
    ]
    from flows.dates import Clock, clock_for

    assert clock_for("us") is Clock.H12 and clock_for("FR") is Clock.H24
    assert clock_for("FR", "12h") is Clock.H12 and clock_for("US", "24h") is Clock.H24


@pytest.mark.parametrize(
    ("language", "country", "today", "tomorrow"),
    [
        ("en", "US", "today, 9am", "tomorrow, 9am"),
        ("en", "GB", "today, 9:00", "tomorrow, 9:00"),
        ("es", "ES", "hoy, 9:00", "mañana, 9:00"),
        ("hi", "IN", "आज, 9am", "कल, 9am"),
    ],
)
def test_today_and_tomorrow(language: str, country: str, today: str, tomorrow: str) -> None:
    on_the_day = DateStyle(language, country, today=date(2026, 12, 8))
    the_day_before = DateStyle(language, country, today=date(2026, 12, 7))
    two_days_before = DateStyle(language, country, today=date(2026, 12, 6))
    assert on_the_day.when(TUESDAY) == today
    assert the_day_before.when(TUESDAY) == tomorrow
    assert not NUMERIC_DATE.search(two_days_before.when(TUESDAY))
    assert two_days_before.when(TUESDAY) == DateStyle(language, country).when(TUESDAY)


def test_context_knows_the_community_date_style() -> None:
    context = Context(
        VolunteerStatus.ACTIVE,
        "Ana",
        "en",
        COMMUNITY,
        "sms",
        datetime(2026, 12, 8, 3, 0, tzinfo=UTC),  # still the 7th in New York
        zone="America/New_York",
        country="US",
    )
    assert context.dates().when(TUESDAY) == "tomorrow, 9am"


@pytest.mark.parametrize(
    ("language", "country", "expected"),
    [
        (
            "en",
            "US",
            "Paused until Sun Jun 15: no asks or call-outs. Text RESUME to come back earlier.",
        ),
        (
            "en",
            "GB",
            "Paused until Sun 15 Jun: no asks or call-outs. Text RESUME to come back earlier.",
        ),
        (
            "es",
            "ES",
            "En pausa hasta el dom 15 jun: sin avisos ni llamadas. Envia RESUME para volver antes.",
        ),
    ],
)
def test_pause_until_names_the_month(language: str, country: str, expected: str) -> None:
    assert volunteer(language, country=country).sends("PAUSE 2w").text == expected


def test_hindi_pause_until_names_the_month() -> None:
    text = volunteer("hi", country="IN").sends("PAUSE 2w").text
    assert text.startswith("रवि 15 जून तक विराम")
    assert not NUMERIC_DATE.search(text)


# ----- 2. language from the first text -------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "language", "greeting"),
    [
        ("hola", "es", "Hola!"),
        ("UNIRME", "es", "Hola!"),
        ("quiero ayudar", "es", "Hola!"),
        ("Hola, quiero ser voluntaria", "es", "Hola!"),
        ("नमस्ते", "hi", "नमस्ते!"),
        ("जुड़ें", "hi", "नमस्ते!"),
        ("hi", "en", "Hi!"),
        ("JOIN", "en", "Hi!"),
    ],
)
def test_a_first_text_is_answered_in_its_language(first: str, language: str, greeting: str) -> None:
    phone = new_number()
    turn = phone.sends(first)
    assert turn.keys == ["onboarding.ask_name"]
    assert turn.text.startswith(greeting)
    assert phone.context.language == language
    assert (SetLanguage(language) in turn.effects) == (language != "en")


def test_a_spanish_first_text_onboards_in_spanish_to_the_end() -> None:
    phone = new_number()
    assert phone.sends("hola").text.startswith("Hola! Gracias por escribir a Riverside Flood Crew")
    assert phone.sends("Ana").text.startswith("Gracias Ana.")
    welcome = phone.sends("si").text
    assert welcome == (
        "Bienvenido/a, Ana! Ya estas en la lista de Riverside Flood Crew. Envia TURNOS para ver "
        "turnos, AYUDA para ayuda, STOP para salir."
    )
    assert phone.context.language == "es"


def test_a_hindi_first_text_onboards_in_hindi() -> None:
    phone = new_number()
    phone.sends("नमस्ते")
    assert phone.sends("Ravi").keys == ["onboarding.ask_consent"]
    assert phone.sends("हाँ").text.startswith("स्वागत है, Ravi!")
    assert phone.context.language == "hi"


@pytest.mark.parametrize("default", ["en", "es", "hi"])
def test_a_first_text_that_says_nothing_gets_the_community_default(default: str) -> None:
    phone = new_number(default)
    turn = phone.sends("Ana 123")
    assert turn.keys == ["onboarding.ask_name"]
    assert turn.effects == []
    assert turn.text == catalog.render(default, "onboarding.ask_name", {"community": COMMUNITY})


def test_only_the_first_text_sets_the_language() -> None:
    phone = new_number()
    phone.sends("hi")
    phone.sends("Hola")  # her name, not a language
    assert phone.context.language == "en"


def test_spanish_help_and_fallback_name_spanish_keywords() -> None:
    phone = volunteer("es")
    help_text = phone.sends("AYUDA").text
    assert "TURNOS" in help_text and "MIS TURNOS" in help_text
    unknown = phone.sends("que tal").text
    assert "TURNOS" in unknown and "MIS TURNOS" in unknown and "AYUDA" in unknown
    assert "SHIFTS" not in unknown and "HELP" not in unknown


def test_hindi_help_and_fallback_name_hindi_keywords() -> None:
    phone = volunteer("hi")
    help_text = phone.sends("मदद").text
    assert "शिफ्ट" in help_text and "मेरे" in help_text
    unknown = phone.sends("क्या हाल है").text
    assert "शिफ्ट" in unknown and "मेरे" in unknown and "मदद" in unknown


# What each language's HELP and fallback name, and what each must mean.
NAMED_KEYWORDS = {
    "en": {
        "help": {
            "SHIFTS": ShiftIntent.SHIFTS,
            "MY": "my",
            "PAUSE": ShiftIntent.PAUSE,
            "LANG es": Intent.LANG,
        },
        "unknown": {
            "SHIFTS": ShiftIntent.SHIFTS,
            "MY": "my",
            "HELP": Intent.HELP,
            "STOP": Intent.STOP,
        },
    },
    "es": {
        "help": {
            "TURNOS": ShiftIntent.SHIFTS,
            "MIS TURNOS": "my",
            "PAUSA": ShiftIntent.PAUSE,
            "IDIOMA en": Intent.LANG,
            "STOP": Intent.STOP,
            "START": Intent.START,
        },
        "unknown": {
            "TURNOS": ShiftIntent.SHIFTS,
            "MIS TURNOS": "my",
            "AYUDA": Intent.HELP,
            "STOP": Intent.STOP,
        },
    },
    "hi": {
        "help": {
            "शिफ्ट": ShiftIntent.SHIFTS,
            "मेरे": "my",
            "रुकें": ShiftIntent.PAUSE,
            "SHIFTS": ShiftIntent.SHIFTS,
            "LANG en": Intent.LANG,
            "STOP": Intent.STOP,
        },
        "unknown": {
            "शिफ्ट": ShiftIntent.SHIFTS,
            "मेरे": "my",
            "मदद": Intent.HELP,
            "STOP": Intent.STOP,
        },
    },
}


@pytest.mark.parametrize("language", sorted(NAMED_KEYWORDS))
@pytest.mark.parametrize("key", ["help", "unknown"])
def test_every_keyword_help_and_fallback_name_is_recognised(language: str, key: str) -> None:
    text = catalog.render(language, key, {"community": COMMUNITY, "contact": CONTACT})
    for phrase, intent in NAMED_KEYWORDS[language][key].items():
        assert phrase in text, f"{language}:{key} does not name {phrase!r}"
        keyword = classify(phrase)
        assert keyword is not None and keyword.intent == intent, (language, phrase, keyword)
    # and every keyword in Latin capitals that the text names means something
    for word in re.findall(r"(?<![A-Za-z])[A-Z]{2,}(?:\s[A-Z]{2,})*(?![A-Za-z])", text):
        assert classify(word) is not None, f"{language}:{key} names {word!r}, which means nothing"


# ----- 7. words that read like a person wrote them -------------------------------------------
def test_the_first_reply_reads_like_a_person_wrote_it() -> None:
    text = new_number().sends("hi").text
    assert "volunteers. What" not in text
    assert text == (
        "Hi! Thanks for texting Riverside Flood Crew about volunteering. What is your name? "
        "Reply with your name, or text STOP to opt out."
    )


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            "Rice: how many kg can you bring? Reply a number up to 12. Add WEEKLY to bring it "
            "every week.",
        ),
        (
            "es",
            "Rice: cuantos kg puedes traer? Responde un numero hasta 12. Agrega WEEKLY para "
            "traerlo cada semana.",
        ),
    ],
)
def test_the_quantity_question_asks_how_many_units(language: str, expected: str) -> None:
    phone = volunteer(language, lookup=FakeLookup(needs=[need(41)]))
    phone.sends("GIVE")
    assert phone.sends("1").text == expected


def test_a_need_without_a_unit_asks_how_many() -> None:
    phone = volunteer(
        lookup=FakeLookup(needs=[need(41, item="Drivers for route 3", unit="", missing=2)])
    )
    phone.sends("GIVE")
    assert phone.sends("1").text.startswith(
        "Drivers for route 3: how many can you bring? Reply a number up to 2."
    )


@pytest.mark.parametrize(
    ("language", "one", "two"),
    [
        ("en", "Please reply 1 to sign up, MORE", "Please reply a number from 1 to 2, MORE"),
        ("es", "Responde 1 para apuntarte, MORE", "Responde un numero del 1 al 2, MORE"),
    ],
)
def test_a_menu_of_one_never_says_1_to_1(language: str, one: str, two: str) -> None:
    phone = volunteer(language, lookup=FakeLookup(shifts=[shift(7)]))
    phone.sends("SHIFTS")
    assert phone.sends("9").text.startswith(one)
    phone = volunteer(language, lookup=FakeLookup(shifts=[shift(7), shift(8)]))
    phone.sends("SHIFTS")
    assert phone.sends("9").text.startswith(two)


@pytest.mark.parametrize(
    ("language", "count", "expected"),
    [
        ("en", 1, "Thank you! We marked your donation delivered."),
        ("en", 2, "Thank you! We marked 2 donations delivered."),
        ("es", 1, "Gracias! Marcamos tu donacion como entregada."),
        ("es", 2, "Gracias! Marcamos 2 donaciones como entregadas."),
    ],
)
def test_done_counts_donations(language: str, count: int, expected: str) -> None:
    text = catalog.render(language, DoneResult("delivered", count).reply().key, {"count": count})
    assert text.startswith(expected)
    assert "(s)" not in text and "(es)" not in text


@pytest.mark.parametrize(
    ("language", "need", "expected"),
    [
        ("en", 1, "we need 1 person for"),
        ("en", 4, "we need 4 people for"),
        ("es", 1, "necesitamos 1 persona para"),
        ("es", 4, "necesitamos 4 personas para"),
        ("hi", 1, "1 व्यक्ति चाहिए"),
        ("hi", 4, "4 लोग चाहिए"),
    ],
)
def test_a_call_out_counts_people(language: str, need: int, expected: str) -> None:
    assert expected in catalog.render(
        language, "callout.ask", {"need": need, "community": COMMUNITY}
    )


@pytest.mark.parametrize(
    ("language", "hours", "expected"),
    [("en", "1", "1 hour."), ("en", "2.5", "2.5 hours."), ("es", "1", "1 hora.")],
)
def test_hours_served_take_the_right_form(language: str, hours: str, expected: str) -> None:
    text = catalog.render(language, "attendance.checked_out", {"title": "Kitchen", "hours": hours})
    assert f"Kitchen: {expected}" in text


def test_every_reply_text_a_result_gives_has_no_numeric_date() -> None:
    facts = ShiftFacts("Kitchen", format_when(TUESDAY, DateStyle("en", "US")), "Hall")
    text = catalog.render("en", CallOutResult("confirmed", facts).reply().key, facts.params())
    assert text == "You are in! Kitchen, Tue Dec 8, 9am at Hall. Text DROP if plans change."
