"""The volunteer's side over signed webhooks and the real database (issue 14, items 3 to 5):
menus that stay open after a choice, no drop without asking and no dead ends, and a person
behind the number for texts the flows cannot read. Each rule in English and Spanish.

Webhooks read the real clock, so shifts start two days from now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.models import (
    Assignment,
    AssignmentStatus,
    Community,
    Direction,
    Message,
    Pledge,
    Shift,
    Volunteer,
)
from service.rosters import callouts, donations
from service.rosters import shifts as rosters
from tests.conftest import SmsHelper

ANA = "+12025550161"
BEN = "+12025550162"
LANGUAGES = ["en", "es"]


@pytest.fixture
def place(db: Session, community: Community) -> Community:
    """The test community, in the test's session."""
    return db.get_one(Community, community.id)


def add_shift(
    db: Session, community: Community, title: str, capacity: int = 3, hours: int = 48
) -> Shift:
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)
    shift = rosters.add_shift(
        db,
        community,
        title=title,
        place="School gym",
        starts_at=starts,
        ends_at=starts + timedelta(hours=3),
        capacity=capacity,
    )
    db.commit()
    return shift


def member(sms: SmsHelper, phone: str, language: str, name: str = "Ana") -> None:
    sms.join(phone, name)
    if language != "en":
        sms.send(phone, f"LANG {language}")


def statuses(db: Session, phone: str) -> dict[str, AssignmentStatus]:
    db.expire_all()
    rows = db.execute(
        select(Shift.title, Assignment.status)
        .join(Assignment, Assignment.shift_id == Shift.id)
        .join(Volunteer, Volunteer.id == Assignment.volunteer_id)
        .where(Volunteer.phone == phone)
    ).all()
    return {title: status for title, status in rows}


def last_inbound(db: Session, phone: str) -> Message:
    db.expire_all()
    return db.scalars(
        select(Message)
        .where(Message.direction == Direction.INBOUND, Message.from_address == phone)
        .order_by(Message.id.desc())
        .limit(1)
    ).one()


# --- item 3: menus that stay open ----------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_two_sign_ups_from_one_menu_and_a_full_shift_listed_last(
    db: Session, place: Community, sms: SmsHelper, language: str
) -> None:
    full = add_shift(db, place, "Kitchen", capacity=1, hours=24)
    add_shift(db, place, "Sandbags", hours=48)
    add_shift(db, place, "Drivers", hours=72)
    member(sms, BEN, "en", "Ben")
    sms.send(BEN, "SHIFTS")
    sms.send(BEN, "1")  # Ben takes Kitchen's only place
    assert statuses(db, BEN) == {"Kitchen": AssignmentStatus.CONFIRMED}
    member(sms, ANA, language)

    menu = sms.send(ANA, "SHIFTS")[0].splitlines()
    assert menu[1].startswith("1) Sandbags, ")
    assert menu[2].startswith("2) Drivers, ")
    full_line = (
        "(full, text 3 to join the waitlist)"
        if language == "en"
        else "(lleno, envia 3 para la lista de espera)"
    )
    assert menu[3].startswith("3) Kitchen, ") and menu[3].endswith(full_line)
    assert "0 left" not in "\n".join(menu) and "quedan 0" not in "\n".join(menu)

    assert sms.send(ANA, "1")[0].startswith(
        "You are on Sandbags" if language == "en" else "Estas en Sandbags"
    )
    assert sms.send(ANA, "2")[0].startswith(
        "You are on Drivers" if language == "en" else "Estas en Drivers"
    )
    waitlisted = sms.send(ANA, "3")[0]
    assert waitlisted.startswith("Kitchen is full" if language == "en" else "Kitchen esta lleno")
    assert statuses(db, ANA) == {
        "Sandbags": AssignmentStatus.CONFIRMED,
        "Drivers": AssignmentStatus.CONFIRMED,
        "Kitchen": AssignmentStatus.WAITLISTED,
    }
    assert full.id  # Kitchen stays Ben's


@pytest.mark.parametrize("language", LANGUAGES)
def test_one_five_then_two_three_is_two_pledges(
    db: Session, place: Community, sms: SmsHelper, language: str
) -> None:
    donations.add_need(db, place, weekday=5, item="Rice", quantity=20, unit="kg")
    donations.add_need(db, place, weekday=5, item="Oil", quantity=10, unit="L")
    db.commit()
    member(sms, ANA, language)
    sms.send(ANA, "GIVE")
    thanks = "Thank you! " if language == "en" else "Gracias! "
    assert sms.send(ANA, "1 5")[0].startswith(f"{thanks}5 kg Rice")
    assert sms.send(ANA, "2 3")[0].startswith(f"{thanks}3 L Oil")
    db.expire_all()
    assert sorted(p.quantity for p in db.scalars(select(Pledge))) == [3, 5]


# --- item 4: no drop without asking, no dead ends -------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_bare_drop_asks_which_or_to_confirm(
    db: Session, place: Community, sms: SmsHelper, language: str
) -> None:
    add_shift(db, place, "Sandbags", hours=24)
    add_shift(db, place, "Drivers", hours=48)
    member(sms, ANA, language)
    sms.send(ANA, "SHIFTS")
    sms.send(ANA, "1")
    sms.send(ANA, "2")

    asked = sms.send(ANA, "DROP")[0].splitlines()
    assert asked[0] == (
        "Which one do you want to drop?" if language == "en" else "Cual quieres dejar?"
    )
    assert asked[1].startswith("1) Sandbags, ") and asked[2].startswith("2) Drivers, ")
    assert statuses(db, ANA) == {
        "Sandbags": AssignmentStatus.CONFIRMED,
        "Drivers": AssignmentStatus.CONFIRMED,
    }
    dropped = sms.send(ANA, "2")[0]
    assert dropped.startswith("You dropped Drivers" if language == "en" else "Dejaste Drivers")
    assert statuses(db, ANA)["Drivers"] == AssignmentStatus.DROPPED

    confirm = sms.send(ANA, "DROP")[0]
    assert confirm.startswith("Drop Sandbags, " if language == "en" else "Dejar Sandbags, ")
    assert statuses(db, ANA)["Sandbags"] == AssignmentStatus.CONFIRMED
    sms.send(ANA, "NO")
    assert statuses(db, ANA)["Sandbags"] == AssignmentStatus.CONFIRMED
    sms.send(ANA, "DROP")
    sms.send(ANA, "YES" if language == "en" else "si")
    assert statuses(db, ANA)["Sandbags"] == AssignmentStatus.DROPPED


@pytest.mark.parametrize(
    ("language", "reply"),
    [
        ("en", "You have nothing booked to drop. Text SHIFTS or GIVE to sign up."),
        ("es", "No tienes nada reservado que dejar. Envia SHIFTS o GIVE para apuntarte."),
    ],
)
def test_drop_one_with_nothing_booked_says_nothing_is_booked(
    sms: SmsHelper, language: str, reply: str
) -> None:
    member(sms, ANA, language)
    assert sms.send(ANA, "DROP 1") == [reply]


@pytest.mark.parametrize(
    ("language", "already"),
    [("en", "You are already on Evacuation, "), ("es", "Ya estas en Evacuation, ")],
)
def test_a_second_yes_to_a_call_out_says_the_place_is_already_theirs(
    db: Session, place: Community, sms: SmsHelper, language: str, already: str
) -> None:
    place.quiet_start_minute = place.quiet_end_minute = 0
    shift = add_shift(db, place, "Evacuation", capacity=1, hours=2)
    member(sms, ANA, language)
    callout = callouts.start_callout(db, shift, place, 1, "", datetime.now(UTC))
    db.commit()

    first = sms.send(ANA, "YES")[0]
    assert first.startswith("You are in!" if language == "en" else "Estas dentro!")
    second = sms.send(ANA, "YES")[0]
    assert second.startswith(already)
    assert statuses(db, ANA) == {"Evacuation": AssignmentStatus.CONFIRMED}
    db.expire_all()
    assert db.get_one(type(callout), callout.id).filled == 1


@pytest.mark.parametrize(
    ("language", "hello", "no", "yes", "welcome"),
    [
        ("en", "JOIN", "No", "YES", "Welcome, Ana!"),
        ("es", "hola", "no", "si", "Bienvenido/a, Ana!"),
    ],
)
def test_no_then_yes_at_the_consent_question_takes_the_yes(
    db: Session,
    sms: SmsHelper,
    language: str,
    hello: str,
    no: str,
    yes: str,
    welcome: str,
) -> None:
    sms.send(ANA, hello)
    if language != "en":
        sms.send(ANA, f"LANG {language}")
    sms.send(ANA, "Ana")
    sms.send(ANA, no)
    assert sms.send(ANA, yes)[0].startswith(welcome)
    db.expire_all()
    person = db.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one()
    assert person.consent_at is not None
    assert person.name == "Ana"


# --- item 5: a person behind the number ------------------------------------------------------


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
def test_a_text_for_a_person_is_in_the_inbox_and_the_reply_says_so(
    db: Session, sms: SmsHelper, language: str, text: str, reply: str
) -> None:
    member(sms, ANA, language)
    assert sms.send(ANA, text) == [reply]
    assert last_inbound(db, ANA).attention == "unknown"


@pytest.mark.parametrize(
    ("language", "give"), [("en", "GIVE to donate"), ("es", "DONAR para donar")]
)
def test_the_fallback_mentions_give_when_the_community_has_needs(
    db: Session, place: Community, sms: SmsHelper, language: str, give: str
) -> None:
    member(sms, ANA, language)
    assert give.split()[0] not in sms.send(ANA, "is the end at 1pm?")[0]
    donations.add_need(db, place, weekday=5, item="Rice", quantity=20, unit="kg")
    db.commit()
    reply = sms.send(ANA, "is the end at 1pm?")[0]
    assert give in reply
    assert last_inbound(db, ANA).attention == "unknown"


@pytest.mark.parametrize(
    ("language", "text", "reply"),
    [
        ("en", "thanks!", "Thank you too! Text MY to see what is coming up, or HELP for help."),
        (
            "es",
            "gracias",
            "Gracias a ti! Envia MIS TURNOS para ver lo que tienes o AYUDA para ayuda.",
        ),
    ],
)
def test_thanks_get_a_short_friendly_answer(
    db: Session, sms: SmsHelper, language: str, text: str, reply: str
) -> None:
    member(sms, ANA, language)
    assert sms.send(ANA, text) == [reply]
    assert last_inbound(db, ANA).attention is None  # read by the flows: nothing to follow up
