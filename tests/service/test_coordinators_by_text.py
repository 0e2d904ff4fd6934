"""Coordinators by text: transcripts over signed webhooks (SMS and WhatsApp) from a
coordinator's registered phone: TODAY/ROSTER, WHO, NEEDS, HELP, CALLOUT and SAY with the
one-time code texted to the registered phone (right, wrong, expired, reused, throttled), the
two-person rule for a large SAY, a volunteer texting the same words, and a spoofed ``From``.

The clock is frozen (``service.clock``) so "today" and the code's ten minutes are exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from service import clock
from service.communities.accounts import create_coordinator
from service.coordinators import phones
from service.models import (
    AuditEvent,
    Broadcast,
    CallOut,
    CallOutAsk,
    CommandRequest,
    Community,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Role,
    Shift,
    Volunteer,
)
from service.rosters import donations
from service.rosters import shifts as rosters
from tests.conftest import WHATSAPP_NUMBER, SmsHelper, count_messages
from tests.fakes.twilio_server import FakeTwilio
from workers import dispatch

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # 10:00 in New York, a Friday
ANA = "+12025550160"  # coordinator, registered phone
BEN = "+12025550161"  # a second coordinator
VIEWER = "+12025550162"
STRANGER = "+12025550999"
PASSWORD = "correct horse battery"


def phone(n: int) -> str:
    return f"+1202555{1000 + n:04d}"


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    clock.freeze(NOW)
    yield
    clock.freeze(None)


@pytest.fixture
def field(db: Session, community: Community) -> Community:
    """Ana and Ben coordinate (registered phones), Vic views; twelve active volunteers;
    Sandbags today (3/3 and 2 waitlisted), Kitchen tomorrow (0/2), a shift in three days."""
    place = db.get_one(Community, community.id)
    place.quiet_start_minute = place.quiet_end_minute = 0
    place.two_person_broadcasts = False
    for email, number, role in (
        ("ana@example.org", ANA, Role.COORDINATOR),
        ("ben@example.org", BEN, Role.OWNER),
        ("vic@example.org", VIEWER, Role.VIEWER),
    ):
        account = create_coordinator(
            db, community=place, email=email, password=PASSWORD, role=role, verified=True
        )
        phones.set_verified(db, account, place, number, NOW)
    people = []
    for n in range(1, 13):
        person = Volunteer(
            community_id=place.id,
            phone=phone(n),
            name=f"Vol{n} Smith",
            status=VolunteerStatus.ACTIVE,
            language="en",
            consent_at=NOW - timedelta(days=30),
            sms_consent_at=NOW - timedelta(days=30),
            created_at=NOW - timedelta(days=30),
        )
        db.add(person)
        people.append(person)
    db.flush()
    sandbags = rosters.add_shift(
        db,
        place,
        title="Sandbags",
        place="Levee",
        starts_at=NOW + timedelta(hours=2),
        ends_at=NOW + timedelta(hours=5),
        capacity=3,
    )
    rosters.add_shift(
        db,
        place,
        title="Kitchen",
        place="Hall",
        starts_at=NOW + timedelta(hours=24),
        ends_at=NOW + timedelta(hours=27),
        capacity=2,
    )
    rosters.add_shift(
        db,
        place,
        title="Later",
        place="Hall",
        starts_at=NOW + timedelta(days=3),
        ends_at=NOW + timedelta(days=3, hours=2),
        capacity=2,
    )
    for person in people[:5]:
        rosters.claim(db, person, place, sandbags.id, NOW)
    db.commit()
    return place


def codes_to(db: Session, number: str) -> list[str]:
    """The codes texted to ``number`` (queued through the send gate), oldest first."""
    db.expire_all()
    bodies = db.scalars(
        select(Message.body)
        .where(Message.kind == MessageKind.CODE, Message.to_address.like(f"%{number}"))
        .order_by(Message.id)
    ).all()
    return [m.group(1) for body in bodies if (m := re.search(r"YES (\d{6})", body))]


def deliver(db: Session) -> None:
    """Send every pending text through the worker's send path (the fake Twilio records it)."""
    db.expire_all()
    for message_id in db.scalars(
        select(Message.id).where(Message.status == MessageStatus.PENDING).order_by(Message.id)
    ).all():
        dispatch.send_message(message_id)


def volunteer_texts(db: Session) -> int:
    db.expire_all()
    return int(
        count_messages(db, kind=MessageKind.BROADCAST)
        + count_messages(db, kind=MessageKind.CALLOUT)
    )


CHANNELS = ["sms", "whatsapp"]


def texter(sms: SmsHelper, channel: str) -> Any:
    def send(number: str, body: str) -> list[str]:
        if channel == "whatsapp":
            return sms.send(f"whatsapp:{number}", body, to=f"whatsapp:{WHATSAPP_NUMBER}")
        return sms.send(number, body)

    return send


# ----- read commands ------------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_today_and_roster_list_todays_and_tomorrows_shifts_with_fill(
    field: Community, sms: SmsHelper, db: Session, channel: str
) -> None:
    send = texter(sms, channel)
    [today] = send(ANA, "TODAY")
    assert "1) Sandbags" in today and "3/3, 2 waitlisted" in today
    assert "2) Kitchen" in today and "0/2" in today
    assert "Later" not in today  # three days away
    assert send(ANA, "roster") == [today]
    assert volunteer_texts(db) == 0
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "texted command")).all()
    assert [e.detail["command"] for e in events] == ["today", "today"]
    assert {e.actor for e in events} == {"ana@example.org"}


def texts_to(db: Session, number: str) -> list[str]:
    """What was queued to ``number`` as its own text (codes, WHO's full list)."""
    db.expire_all()
    return list(
        db.scalars(
            select(Message.body)
            .where(Message.kind == MessageKind.CODE, Message.to_address.like(f"%{number}"))
            .order_by(Message.id)
        ).all()
    )


@pytest.mark.parametrize("channel", CHANNELS)
def test_who_lists_first_names_and_numbers_as_the_console_shows_them(
    field: Community, sms: SmsHelper, db: Session, channel: str
) -> None:
    send = texter(sms, channel)
    [answer] = send(ANA, "WHO 1")
    # full numbers (the console shows them to a coordinator) go to the registered phone only,
    # never into the webhook's answer (a spoofed From would read them)
    assert "registered phone" in answer and phone(1) not in answer
    [who] = texts_to(db, ANA)
    assert "Vol1 " + phone(1) in who and "Vol3 " + phone(3) in who
    assert "Smith" not in who  # first names only
    assert "Vol4" not in who  # waitlisted, not on the shift
    community = db.get_one(Community, field.id)
    community.protect_numbers = True  # the console masks numbers then: so does WHO
    db.commit()
    [masked] = send(ANA, "WHO 1")
    assert phone(1) not in masked and "Vol1 ***" + phone(1)[-4:] in masked
    assert "Nobody" in send(ANA, "WHO 2")[0]
    assert "no shift 9" in send(ANA, "WHO 9")[0]
    assert "WHO 2" in send(ANA, "WHO")[0]  # usage
    assert len(texts_to(db, ANA)) == 1


def test_needs_lists_the_next_cycles_gaps(field: Community, sms: SmsHelper, db: Session) -> None:
    assert "No donation gaps" in sms.send(ANA, "NEEDS")[0]
    community = db.get_one(Community, field.id)
    donations.add_need(db, community, weekday=5, item="Water", quantity=40, unit="bottles")
    donations.add_need(db, community, weekday=5, item="Rice", quantity=10, unit="kg")
    db.commit()
    [needs] = sms.send(ANA, "NEEDS")
    assert "Water: 40 of 40 bottles missing" in needs
    assert "Rice: 10 of 10 kg missing" in needs


@pytest.mark.parametrize("channel", CHANNELS)
def test_help_lists_the_coordinator_commands_and_fits_one_segment(
    field: Community, sms: SmsHelper, channel: str
) -> None:
    [text] = texter(sms, channel)(ANA, "HELP")
    for word in ("TODAY", "WHO", "CALLOUT", "SAY", "NEEDS"):
        assert word in text
    assert len(text) <= 160


def test_read_commands_are_rate_limited_per_coordinator(
    field: Community, sms: SmsHelper, db: Session
) -> None:
    for _ in range(30):
        assert "Sandbags" in sms.send(ANA, "TODAY")[0]
    [slow] = sms.send(ANA, "TODAY")
    assert "Too many commands" in slow and "Sandbags" not in slow
    assert "Sandbags" in sms.send(BEN, "TODAY")[0]  # another coordinator is not limited
    clock.freeze(NOW + timedelta(minutes=16))
    assert "Sandbags" in sms.send(ANA, "TODAY")[0]


# ----- the volunteer's side -----------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("body", ["ROSTER", "CALLOUT 1 2", "WHO 1", "SAY hello all"])
def test_a_volunteer_texting_coordinator_words_gets_the_volunteer_answer(
    field: Community, sms: SmsHelper, db: Session, channel: str, body: str
) -> None:
    send = texter(sms, channel)
    [answer] = send(phone(7), body)
    assert "Sandbags" not in answer and "Vol1" not in answer and "/3" not in answer
    assert "code" not in answer.lower()
    assert answer == send(phone(8), "something else entirely")[0]  # the ordinary fallback
    assert volunteer_texts(db) == 0
    assert db.scalar(select(CommandRequest.id)) is None


def test_a_viewer_phone_runs_no_commands(field: Community, sms: SmsHelper, db: Session) -> None:
    [answer] = sms.send(VIEWER, "TODAY")
    assert "Sandbags" not in answer


def test_a_coordinator_who_volunteers_gets_volunteer_answers_for_the_rest(
    field: Community, sms: SmsHelper, db: Session
) -> None:
    sms.join(ANA, "Ana")
    [menu] = sms.send(ANA, "SHIFTS")
    assert menu.startswith("Open shifts:") and "Reply a number" in menu
    assert "Sandbags" in sms.send(ANA, "TODAY")[0] and "waitlisted" in sms.send(ANA, "TODAY")[0]
    # Her commands are a coordinator's, not texts of her volunteer conversation; her SHIFTS is.
    db.expire_all()
    stored = db.execute(
        select(Message.body, Message.volunteer_id).where(Message.direction == Direction.INBOUND)
    ).all()
    ana = db.scalars(select(Volunteer.id).where(Volunteer.phone == ANA)).one()
    assert {body: who for body, who in stored if body in ("SHIFTS", "TODAY")} == {
        "SHIFTS": ana,
        "TODAY": None,
    }


def test_a_coordinators_stop_opts_out_of_volunteer_texts_not_the_role(
    field: Community, sms: SmsHelper, db: Session
) -> None:
    sms.join(ANA, "Ana")
    assert "unsubscribed" in sms.send(ANA, "STOP")[0]
    volunteer = db.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one()
    assert volunteer.status == VolunteerStatus.OPTED_OUT
    assert "Sandbags" in sms.send(ANA, "TODAY")[0]  # still a coordinator
    assert phones.commander(db, db.get_one(Community, field.id), ANA) is not None


# ----- CALLOUT and SAY: the code ------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_callout_answers_count_and_cost_and_the_right_code_starts_it(
    field: Community,
    sms: SmsHelper,
    db: Session,
    worker: Any,
    fake_twilio: FakeTwilio,
    channel: str,
) -> None:
    send = texter(sms, channel)
    [answer] = send(ANA, "CALLOUT 1 2 Bring gloves")
    assert "asks 6" in answer and "$" in answer and "Sandbags" in answer
    [code] = codes_to(db, ANA)
    assert code not in answer
    assert db.scalar(select(CallOut.id)) is None  # nothing sent yet
    deliver(db)
    [texted] = fake_twilio.sent_to(ANA)
    assert f"YES {code}" in texted.body and "6 people" in texted.body
    [done] = send(ANA, f"YES {code}")
    assert "Call-out started: 6 people asked for Sandbags" in done
    callout = db.scalars(select(CallOut)).one()
    assert callout.need == 2 and callout.text == "Bring gloves"
    asked = db.scalars(select(CallOutAsk.volunteer_id)).all()
    assert len(asked) == 6
    deliver(db)
    bodies = [m.body for m in fake_twilio.messages if m.to.removeprefix("whatsapp:") != ANA]
    assert len(bodies) == 6 and all("Bring gloves" in b for b in bodies)
    assert not any(ANA in b or ANA[-4:] in b for b in bodies)  # the coordinator's number: never
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["call-out", "texted command"]


def test_a_wrong_code_sends_nothing_and_is_counted_then_throttled(
    field: Community, sms: SmsHelper, db: Session
) -> None:
    sms.send(ANA, "SAY Levee road closed")
    [code] = codes_to(db, ANA)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert "wrong" in sms.send(ANA, f"YES {wrong}")[0]
    [locked] = sms.send(ANA, f"YES {code}")  # right, but after five wrong ones
    assert "Too many wrong codes" in locked
    assert db.scalar(select(Broadcast.id)) is None
    assert volunteer_texts(db) == 0
    clock.freeze(NOW + timedelta(minutes=9))  # still locked: the window is 15 minutes
    assert "Too many" in sms.send(ANA, f"YES {code}")[0]


def test_an_expired_code_sends_nothing(field: Community, sms: SmsHelper, db: Session) -> None:
    sms.send(ANA, "SAY Levee road closed")
    [code] = codes_to(db, ANA)
    clock.freeze(NOW + timedelta(minutes=10, seconds=1))
    assert "wrong, used or expired" in sms.send(ANA, f"YES {code}")[0]
    assert db.scalar(select(Broadcast.id)) is None


def test_a_code_works_once(field: Community, sms: SmsHelper, db: Session) -> None:
    [answer] = sms.send(ANA, "SAY Levee road closed, use Main St")
    assert "SAY to 12 people" in answer
    [code] = codes_to(db, ANA)
    assert "Sent to 12 people" in sms.send(ANA, f"YES {code}")[0]
    assert "wrong, used or expired" in sms.send(ANA, f"YES {code}")[0]
    assert len(db.scalars(select(Broadcast)).all()) == 1
    assert count_messages(db, kind=MessageKind.BROADCAST) == 12


def test_a_new_command_voids_the_earlier_code(
    field: Community, sms: SmsHelper, db: Session
) -> None:
    sms.send(ANA, "SAY first")
    sms.send(ANA, "SAY second")
    first, second = codes_to(db, ANA)
    assert "wrong" in sms.send(ANA, f"YES {first}")[0]
    assert "Sent to 12" in sms.send(ANA, f"YES {second}")[0]
    assert db.scalars(select(Broadcast.text)).one() == "second"


def test_another_coordinators_code_does_not_confirm_mine(
    field: Community, sms: SmsHelper, db: Session
) -> None:
    sms.send(ANA, "SAY from ana")
    [code] = codes_to(db, ANA)
    assert "wrong" in sms.send(BEN, f"YES {code}")[0]
    assert db.scalar(select(Broadcast.id)) is None


# ----- the two-person rule --------------------------------------------------------------


def test_a_large_say_waits_for_a_second_coordinators_yes_code(
    field: Community, sms: SmsHelper, db: Session, worker: Any, fake_twilio: FakeTwilio
) -> None:
    community = db.get_one(Community, field.id)
    community.two_person_broadcasts = True
    community.two_person_threshold = 5
    db.commit()
    sms.send(ANA, "SAY Evacuate the east bank now")
    [code] = codes_to(db, ANA)
    [held] = sms.send(ANA, f"YES {code}")
    assert "Held for a second coordinator" in held
    broadcast = db.scalars(select(Broadcast)).one()
    assert broadcast.status == "awaiting_approval"
    assert count_messages(db, kind=MessageKind.BROADCAST) == 0
    [approval] = codes_to(db, BEN)
    assert codes_to(db, VIEWER) == []  # a viewer cannot approve
    # the requester cannot be the second person, even holding the approval code
    assert "cannot be the second person" in sms.send(ANA, f"YES {approval}")[0]
    assert count_messages(db, kind=MessageKind.BROADCAST) == 0
    [approved] = sms.send(BEN, f"YES {approval}")
    assert "Approved: sent to 12 people" in approved
    db.expire_all()
    assert db.get_one(Broadcast, broadcast.id).approved_by == "ben@example.org"
    assert count_messages(db, kind=MessageKind.BROADCAST) == 12
    assert "wrong" in sms.send(BEN, f"YES {approval}")[0]  # single use
    deliver(db)
    volunteers = {phone(n) for n in range(1, 13)}
    reached = {m.to for m in fake_twilio.messages if "Evacuate" in m.body}
    assert reached == volunteers | {BEN}  # BEN's is the approval code, with the text


# ----- a spoofed sender ------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_spoofed_from_without_the_code_sends_nothing_to_volunteers(
    field: Community,
    sms: SmsHelper,
    db: Session,
    worker: Any,
    fake_twilio: FakeTwilio,
    channel: str,
) -> None:
    """A signed webhook claims to come from Ana's phone; the poster sees only the TwiML
    answers, never the code, which goes to Ana's real phone."""
    send = texter(sms, channel)
    answers = send(ANA, "SAY Free money, reply with your bank details")
    answers += send(ANA, "CALLOUT 1 5 Come now")
    answers += send(ANA, "WHO 1")
    assert not any(phone(n) in answer for answer in answers for n in range(1, 13))
    for guess in ("000000", "123456", "111111", "999999", "482193", "654321"):
        answers += send(ANA, f"YES {guess}")
    deliver(db)
    real_codes = codes_to(db, ANA)
    assert len(real_codes) == 2  # and WHO's list went to Ana's phone too
    for code in real_codes:
        assert not any(code in answer for answer in answers)
    assert db.scalar(select(Broadcast.id)) is None
    assert db.scalar(select(CallOut.id)) is None
    assert volunteer_texts(db) == 0
    assert db.get_one(Shift, db.scalars(select(Shift.id).order_by(Shift.id)).first()).capacity == 3
    volunteers = {phone(n) for n in range(1, 13)}
    assert not [m for m in fake_twilio.messages if m.to.removeprefix("whatsapp:") in volunteers]
    assert {m.to.removeprefix("whatsapp:") for m in fake_twilio.messages} == {ANA}
