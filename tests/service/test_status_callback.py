"""POST /twilio/status: delivery status moves forward only; 21610 opts the volunteer out."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service.db import unit_of_work
from service.models import Community, Direction, Message, MessageStatus, Volunteer
from tests.conftest import SmsHelper

ANA = "+12025550123"
SID = "SM" + "1" * 32


def sent_message(factory: sessionmaker[Session], community: Community) -> tuple[int, int]:
    with unit_of_work(factory) as session:
        volunteer = Volunteer(community_id=community.id, phone=ANA, status=VolunteerStatus.ACTIVE)
        session.add(volunteer)
        session.flush()
        message = Message(
            community_id=community.id,
            volunteer_id=volunteer.id,
            direction=Direction.OUTBOUND,
            twilio_sid=SID,
            from_address="+12025550100",
            to_address=ANA,
            body="hi",
            status=MessageStatus.QUEUED,
        )
        session.add(message)
        session.flush()
        return message.id, volunteer.id


def test_status_moves_forward_and_never_back(
    sms: SmsHelper, session_factory: sessionmaker[Session], community: Community, db: Session
) -> None:
    message_id, _ = sent_message(session_factory, community)
    assert sms.status(SID, "sent") == 204
    assert sms.status(SID, "delivered") == 204
    assert sms.status(SID, "sent") == 204  # arrives late, out of order
    db.expire_all()
    assert db.get_one(Message, message_id).status == MessageStatus.DELIVERED
    assert sms.status(SID, "read") == 204
    db.expire_all()
    assert db.get_one(Message, message_id).status == MessageStatus.READ


def test_error_code_is_recorded(
    sms: SmsHelper, session_factory: sessionmaker[Session], community: Community, db: Session
) -> None:
    message_id, volunteer_id = sent_message(session_factory, community)
    assert sms.status(SID, "undelivered", "30003") == 204
    message = db.get_one(Message, message_id)
    assert (message.status, message.error_code) == (MessageStatus.UNDELIVERED, 30003)
    assert db.get_one(Volunteer, volunteer_id).status == VolunteerStatus.ACTIVE


def test_21610_opts_the_volunteer_out(
    sms: SmsHelper, session_factory: sessionmaker[Session], community: Community, db: Session
) -> None:
    _, volunteer_id = sent_message(session_factory, community)
    assert sms.status(SID, "failed", "21610") == 204
    volunteer = db.get_one(Volunteer, volunteer_id)
    assert volunteer.status == VolunteerStatus.OPTED_OUT
    assert volunteer.opt_out_source == "carrier:21610"
    # and the volunteer's next text gets silence, like any opted-out number
    assert sms.send(ANA, "hello") == []


def test_unknown_sid_is_accepted_and_ignored(sms: SmsHelper, db: Session) -> None:
    assert sms.status("SM" + "9" * 32, "delivered") == 204


def test_status_callback_requires_a_signature(sms: SmsHelper) -> None:
    form = {"MessageSid": SID, "MessageStatus": "delivered"}
    response = sms.client.post("/twilio/status", data=form)
    assert response.status_code == 403


def test_malformed_status_callbacks_get_400(sms: SmsHelper) -> None:
    assert sms.post("/twilio/status", {"MessageSid": SID}).status == 400
    assert sms.post("/twilio/status", {"MessageStatus": "sent"}).status == 400
    bad_code = {"MessageSid": SID, "MessageStatus": "failed", "ErrorCode": "abc"}
    assert sms.post("/twilio/status", bad_code).status == 400
