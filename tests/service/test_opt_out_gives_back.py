"""An opted-out volunteer gives back their upcoming places and pledges, whichever way the
opt-out came: a STOP (or its plain words, in any shipped language), a carrier's 21610 on a
status callback or a send, an erasure. Waitlists are promoted and told; coordinators see it in
the audit log and on the shift's roster. While opted out, a question after FORGET gets no
answer (issue 14, item 6).

Transcripts over signed webhooks, with the clock frozen in March 2030 (New York).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows import catalog
from flows.engine import VolunteerStatus
from service import clock
from service.communities.accounts import create_coordinator
from service.db import unit_of_work
from service.models import (
    Assignment,
    AssignmentStatus,
    AuditEvent,
    Community,
    CycleNeed,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Pledge,
    PledgeStatus,
    Role,
    Shift,
    StandingPledge,
    Volunteer,
)
from service.rosters import donations
from service.rosters import shifts as rosters
from service.sending.queue import queue_message
from service.volunteers.opt_out import GIVEN_BACK, opt_out
from tests.conftest import SmsHelper
from tests.fakes.twilio_server import FakeTwilio
from tests.service.console.conftest import PASSWORD, ConsoleClient
from workers import dispatch

ZONE = ZoneInfo("America/New_York")
ANA, BEN = "+12025550131", "+12025550132"
SID = "SM" + "7" * 32


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 3, day, hour, minute, tzinfo=ZONE)  # Mon 4 March 2030 ... Sat 9


@pytest.fixture
def monday() -> Iterator[datetime]:
    clock.freeze(local(4, 10))
    yield local(4, 10)
    clock.freeze(None)


@pytest.fixture
def roster(session_factory: sessionmaker[Session], community: Community, monday: datetime) -> int:
    """One place on Sandbags (Sat 9 March, 9:00) and 20 kg of rice needed every Saturday."""
    with unit_of_work(session_factory) as session:
        place = session.get_one(Community, community.id)
        shift = rosters.add_shift(
            session,
            place,
            title="Sandbags",
            place="School gym",
            starts_at=local(9, 9),
            ends_at=local(9, 13),
            capacity=1,
        )
        donations.add_need(session, place, weekday=5, item="Rice", quantity=20, unit="kg")
        donations.donation_schedule(session, place).place = "Church hall"
        session.flush()
        return shift.id


def _volunteer(db: Session, phone: str) -> Volunteer:
    db.expire_all()
    return db.scalars(select(Volunteer).where(Volunteer.phone == phone)).one()


def _status(db: Session, shift_id: int, phone: str) -> AssignmentStatus:
    return db.scalars(
        select(Assignment.status).where(
            Assignment.shift_id == shift_id, Assignment.volunteer_id == _volunteer(db, phone).id
        )
    ).one()


def _ana_holds_the_place_and_a_weekly_pledge_and_ben_waits(
    sms: SmsHelper, language: str = "en"
) -> None:
    sms.join(ANA, "Ana")
    if language != "en":
        sms.send(ANA, f"LANG {language}")
    sms.send(ANA, "SHIFTS")
    sms.send(ANA, "1")
    sms.send(ANA, "GIVE")
    sms.send(ANA, "1 5 weekly")
    sms.join(BEN, "Ben")
    sms.send(BEN, "SHIFTS")
    assert sms.send(BEN, "1")[0].startswith("Sandbags is full. You are number 1")


def _given_back(db: Session) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == GIVEN_BACK)))


def _promotion_to(db: Session, phone: str) -> list[str]:
    return list(
        db.scalars(
            select(Message.body).where(
                Message.direction == Direction.OUTBOUND,
                Message.to_address == phone,
                Message.kind == "notice",
            )
        )
    )


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "STOP"),
        ("en", "I want to stop"),
        ("es", "quiero darme de baja"),
        ("es", "no me escriban más"),
        ("hi", "मैसेज मत भेजो"),
    ],
)
def test_stop_gives_back_places_and_pledges_and_the_waitlist_is_promoted_and_told(
    sms: SmsHelper, db: Session, roster: int, language: str, text: str
) -> None:
    _ana_holds_the_place_and_a_weekly_pledge_and_ben_waits(sms, language)
    assert _status(db, roster, ANA) == AssignmentStatus.CONFIRMED

    reply = sms.send(ANA, text)

    assert reply == [
        catalog.render(language, "optout.confirmed", {"community": "Riverside Flood Crew"})
    ]
    ana = _volunteer(db, ANA)
    assert ana.status == VolunteerStatus.OPTED_OUT
    # her place went to Ben, who is told
    assert _status(db, roster, ANA) == AssignmentStatus.DROPPED
    assert _status(db, roster, BEN) == AssignmentStatus.CONFIRMED
    assert db.get_one(Shift, roster).confirmed_count == 1
    (told,) = _promotion_to(db, BEN)
    assert told.startswith("A place opened: you are now on Sandbags")
    # her pledge is released and her weekly pledge ends
    pledge = db.scalars(select(Pledge).where(Pledge.volunteer_id == ana.id)).one()
    assert pledge.status == PledgeStatus.DROPPED
    assert db.get_one(CycleNeed, pledge.cycle_need_id).pledged == 0
    standing = db.scalars(select(StandingPledge).where(StandingPledge.volunteer_id == ana.id))
    assert [s.active for s in standing] == [False]
    # coordinators see what she gave back
    (event,) = _given_back(db)
    assert (event.actor, event.subject) == ("volunteer (STOP)", f"volunteer:{ana.id}")
    assert [s.split(",")[0] for s in event.detail["shifts"]] == ["Sandbags"]
    assert [p.split(",")[0] for p in event.detail["pledges"]] == ["5 kg Rice"]
    assert event.detail["weekly_pledges_ended"] == 1


def test_a_second_stop_gives_back_nothing_more(sms: SmsHelper, db: Session, roster: int) -> None:
    _ana_holds_the_place_and_a_weekly_pledge_and_ben_waits(sms)
    sms.send(ANA, "STOP")
    assert sms.send(ANA, "STOP") == []  # opted out: ignored
    assert len(_given_back(db)) == 1
    assert len(_promotion_to(db, BEN)) == 1


def test_a_shift_in_progress_stays_with_the_volunteer_who_checked_in(
    sms: SmsHelper, db: Session, roster: int
) -> None:
    _ana_holds_the_place_and_a_weekly_pledge_and_ben_waits(sms)
    clock.freeze(local(9, 9, 30))
    assert "checked in" in sms.send(ANA, "IN")[0].lower()
    sms.send(ANA, "stop texting me")
    assert _status(db, roster, ANA) == AssignmentStatus.CHECKED_IN  # the hours are hers
    assert _status(db, roster, BEN) == AssignmentStatus.WAITLISTED


def test_a_carrier_opt_out_on_a_status_callback_gives_back_too(
    sms: SmsHelper, db: Session, roster: int, session_factory: sessionmaker[Session]
) -> None:
    _ana_holds_the_place_and_a_weekly_pledge_and_ben_waits(sms)
    with unit_of_work(session_factory) as session:
        ana = session.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one()
        message = queue_message(
            session, volunteer=ana, body="Reminder", kind=MessageKind.NOTICE, idempotency_key="r1"
        )
        message.twilio_sid, message.status = SID, MessageStatus.QUEUED

    assert sms.status(SID, "failed", "21610") == 204

    assert _volunteer(db, ANA).status == VolunteerStatus.OPTED_OUT
    assert _status(db, roster, ANA) == AssignmentStatus.DROPPED
    assert _status(db, roster, BEN) == AssignmentStatus.CONFIRMED
    (event,) = _given_back(db)
    assert event.actor == "carrier opt-out (21610)"


def test_a_carrier_opt_out_on_a_send_gives_back_too(
    sms: SmsHelper,
    db: Session,
    roster: int,
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
    worker: Any,
) -> None:
    _ana_holds_the_place_and_a_weekly_pledge_and_ben_waits(sms)
    with unit_of_work(session_factory) as session:
        ana = session.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one()
        message_id = queue_message(
            session, volunteer=ana, body="Reminder", kind=MessageKind.NOTICE, idempotency_key="r1"
        ).id
    fake_twilio.fail_next(status=400, code=21610, message="Attempt to send to unsubscribed")

    assert dispatch.send_message(message_id) == "failed: 21610"

    assert _volunteer(db, ANA).status == VolunteerStatus.OPTED_OUT
    assert _status(db, roster, ANA) == AssignmentStatus.DROPPED
    assert _status(db, roster, BEN) == AssignmentStatus.CONFIRMED
    assert [event.actor for event in _given_back(db)] == ["carrier opt-out (21610)"]


def test_an_erasure_gives_back_through_the_same_path(
    sms: SmsHelper, db: Session, roster: int
) -> None:
    _ana_holds_the_place_and_a_weekly_pledge_and_ben_waits(sms)
    ana_id = _volunteer(db, ANA).id
    sms.send(ANA, "FORGET")
    sms.send(ANA, "YES")
    assert _status(db, roster, BEN) == AssignmentStatus.CONFIRMED
    (event,) = _given_back(db)
    assert (event.actor, event.subject) == ("volunteer (FORGET)", f"volunteer:{ana_id}")


def test_the_coordinator_sees_who_opted_out_on_the_roster_and_in_the_audit_log(
    sms: SmsHelper,
    db: Session,
    roster: int,
    app: Flask,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    _ana_holds_the_place_and_a_weekly_pledge_and_ben_waits(sms)
    sms.send(ANA, "End texts")
    with unit_of_work(session_factory) as session:
        create_coordinator(
            session,
            community=session.get_one(Community, community.id),
            email="coord@example.org",
            password=PASSWORD,
            role=Role.COORDINATOR,
        )
    console = ConsoleClient(app.test_client())
    assert console.login("coord@example.org").status_code == 302

    page = console.text(f"/console/shifts/{roster}")
    confirmed = page.split('id="confirmed"')[1].split('id="waitlist"')[0]
    dropped = page.split('id="dropped"')[1].split('id="call-out"')[0]
    assert "Ben" in confirmed and "Ana" not in confirmed
    assert "Ana" in dropped and "opted out" in dropped
    log = console.text("/console/audit")
    assert GIVEN_BACK in log and "volunteer (STOP)" in log and "Sandbags" in log


@pytest.mark.parametrize(
    ("language", "forget", "question", "yes", "done"),
    [
        ("en", "FORGET", "?", "YES", "Done: Riverside Flood Crew erased"),
        ("es", "olvidame", "¿qué?", "si", "Listo: Riverside Flood Crew borro"),
        ("hi", "मुझे भूल जाओ", "क्या?", "हाँ", "हो गया: Riverside Flood Crew"),
    ],
)
def test_while_opted_out_a_question_after_forget_gets_no_answer(
    sms: SmsHelper,
    db: Session,
    monday: datetime,
    language: str,
    forget: str,
    question: str,
    yes: str,
    done: str,
) -> None:
    sms.join(ANA, "Ana")
    if language != "en":
        sms.send(ANA, f"LANG {language}")
    sms.send(ANA, "STOP")
    assert len(sms.send(ANA, forget)) == 1  # the confirmation question
    assert sms.send(ANA, question) == []
    assert sms.send(ANA, "what?") == []
    clock.freeze(monday + timedelta(minutes=5))
    (erased,) = sms.send(ANA, yes)
    assert erased.startswith(done)


def test_an_opt_out_forgets_the_question_we_last_asked(
    db: Session, community: Community, monday: datetime
) -> None:
    """After START, a YES must not answer a reminder sent before the opt-out."""
    ana = Volunteer(
        community_id=community.id,
        phone=ANA,
        status=VolunteerStatus.ACTIVE,
        pending_question={"kind": "reminder", "id": 1, "until": local(9, 9).isoformat()},
    )
    db.add(ana)
    db.flush()
    assert not opt_out(ana, "sms", monday)  # nothing to give back
    assert (ana.status, ana.pending_question) == (VolunteerStatus.OPTED_OUT, None)
    assert _given_back(db) == []  # and nothing to tell coordinators
