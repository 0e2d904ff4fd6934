"""Issue 14, items 1, 2 and 7 over signed webhooks: a first text answered (and remembered) in
its own language or the community's default one, dates with the month as a word on the
community's clock with "today" and "tomorrow", and plural forms in what the service sends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.db import unit_of_work
from service.models import Community, Volunteer
from service.rosters import donations
from service.rosters import shifts as rosters
from tests.conftest import SmsHelper

ZONE = ZoneInfo("America/New_York")
ANA, BEN, CHI = "+12025550181", "+12025550182", "+12025550183"


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 3, day, hour, minute, tzinfo=ZONE)  # Fri 1 March 2030, Sat 2 ...


@pytest.fixture
def frozen() -> Iterator[None]:
    clock.freeze(local(1, 8))  # Friday 08:00 in New York
    yield
    clock.freeze(None)


def language_of(db: Session, phone: str) -> str:
    db.expire_all()
    return db.scalars(select(Volunteer.language).where(Volunteer.phone == phone)).one()


def set_community(
    session_factory: sessionmaker[Session], community: Community, **values: object
) -> None:
    with unit_of_work(session_factory) as session:
        stored = session.get_one(Community, community.id)
        for name, value in values.items():
            setattr(stored, name, value)


def add_shifts(session_factory: sessionmaker[Session], community: Community) -> None:
    with unit_of_work(session_factory) as session:
        stored = session.get_one(Community, community.id)
        for title, starts in (("Sandbags", local(2, 9)), ("Kitchen", local(5, 18, 30))):
            rosters.add_shift(
                session,
                stored,
                title=title,
                place="School gym",
                starts_at=starts,
                ends_at=starts.replace(hour=starts.hour + 2),
                capacity=3,
            )


# ----- 2. language from the first text ------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "language", "greeting"),
    [
        ("hola", "es", "Hola!"),
        ("UNIRME", "es", "Hola!"),
        ("quiero ayudar", "es", "Hola!"),
        ("नमस्ते", "hi", "नमस्ते!"),
        ("जुड़ें", "hi", "नमस्ते!"),
        ("hello", "en", "Hi!"),
    ],
)
def test_a_new_number_is_onboarded_in_the_language_it_wrote(
    sms: SmsHelper, db: Session, first: str, language: str, greeting: str
) -> None:
    assert sms.send(ANA, first)[0].startswith(greeting)
    assert language_of(db, ANA) == language


def test_a_spanish_volunteer_joins_and_asks_for_help_in_spanish(
    sms: SmsHelper, db: Session
) -> None:
    sms.send(ANA, "hola")
    assert sms.send(ANA, "Ana")[0].startswith("Gracias Ana.")
    assert sms.send(ANA, "si")[0].startswith("Bienvenido/a, Ana!")
    help_text = sms.send(ANA, "AYUDA")[0]
    assert "TURNOS" in help_text and "MIS TURNOS" in help_text
    assert "AYUDA" in sms.send(ANA, "no se")[0]
    assert language_of(db, ANA) == "es"


def test_the_community_default_language_applies_when_the_text_does_not_tell(
    sms: SmsHelper, db: Session, community: Community, session_factory: sessionmaker[Session]
) -> None:
    set_community(session_factory, community, default_language="es")
    assert sms.send(ANA, "Ana")[0].startswith("Hola!")
    assert language_of(db, ANA) == "es"
    assert sms.send(BEN, "hello")[0].startswith("Hi!")  # an English first text stays English
    assert language_of(db, BEN) == "en"


# ----- 1. dates nobody can misread ----------------------------------------------------------
def test_a_us_community_writes_month_first_on_the_twelve_hour_clock(
    sms: SmsHelper, community: Community, session_factory: sessionmaker[Session], frozen: None
) -> None:
    add_shifts(session_factory, community)
    sms.join(ANA, "Ana")
    menu = sms.send(ANA, "SHIFTS")[0]
    assert "Sandbags, tomorrow, 9am, School gym" in menu
    assert "Kitchen, Tue Mar 5, 6:30pm, School gym" in menu
    assert "/3" not in menu
    assert sms.send(ANA, "2")[0].startswith("You are on Kitchen, Tue Mar 5, 6:30pm at School gym.")


def test_a_community_may_choose_the_24_hour_clock(
    sms: SmsHelper, community: Community, session_factory: sessionmaker[Session], frozen: None
) -> None:
    set_community(session_factory, community, clock="24h")
    add_shifts(session_factory, community)
    sms.join(ANA, "Ana")
    menu = sms.send(ANA, "SHIFTS")[0]
    assert "Sandbags, tomorrow, 9:00, School gym" in menu
    assert "Kitchen, Tue Mar 5, 18:30, School gym" in menu


def test_spanish_dates(
    sms: SmsHelper, community: Community, session_factory: sessionmaker[Session], frozen: None
) -> None:
    set_community(session_factory, community, country="ES", timezone="America/New_York")
    add_shifts(session_factory, community)
    sms.send(ANA, "hola")
    sms.send(ANA, "Ana")
    sms.send(ANA, "si")
    menu = sms.send(ANA, "TURNOS")[0]
    assert "Sandbags, mañana, 9:00, School gym" in menu
    assert "Kitchen, mar 5 mar, 18:30, School gym" in menu
    assert sms.send(ANA, "PAUSA 2w")[0].startswith("En pausa hasta el vie 15 mar:")


def test_pause_names_the_month(sms: SmsHelper, frozen: None) -> None:
    sms.join(ANA, "Ana")
    assert sms.send(ANA, "PAUSE 2w")[0].startswith("Paused until Fri Mar 15:")


# ----- 7. words that read like a person wrote them -------------------------------------------
@pytest.mark.parametrize(
    ("language", "first", "ask", "one_left", "delivered"),
    [
        (
            "en",
            "JOIN",
            "Drivers for route 3: how many can you bring? Reply a number up to 2.",
            "Please reply 1, or 1 and an amount (1 5).",
            "Thank you! We marked your donation delivered.",
        ),
        (
            "es",
            "hola",
            "Drivers for route 3: cuantos puedes traer? Responde un numero hasta 2.",
            "Responde 1, o 1 y una cantidad (1 5).",
            "Gracias! Marcamos tu donacion como entregada.",
        ),
    ],
)
def test_counts_and_units_read_naturally(
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
    frozen: None,
    language: str,
    first: str,
    ask: str,
    one_left: str,
    delivered: str,
) -> None:
    with unit_of_work(session_factory) as session:
        stored = session.get_one(Community, community.id)
        donations.add_need(session, stored, weekday=4, item="Drivers for route 3", quantity=2)
    assert sms.send(ANA, first)[0].startswith(("Hi! Thanks for texting", "Hola! Gracias"))
    sms.send(ANA, "Ana")
    sms.send(ANA, "YES" if language == "en" else "SI")
    menu = sms.send(ANA, "GIVE")[0]
    assert "1) Drivers for route 3: 2 of 2 still needed" in menu or "faltan 2 de 2" in menu
    assert "today" in menu or "hoy" in menu  # the cycle is this Friday
    assert sms.send(ANA, "1")[0].startswith(ask)
    sms.send(ANA, "1")  # one driver
    sms.send(ANA, "GIVE")
    assert sms.send(ANA, "7")[0].startswith(one_left)
    clock.freeze(local(1, 11))
    assert sms.send(ANA, "DONE")[0].startswith(delivered)
