"""A coordinator's phone for running the community by text: registered with
``handsup create-coordinator --phone`` (the operator verifies it) or in the console's settings
page (a code texted to it through the send gate, entered to verify); SMS commands appear in
the console's audit log beside console actions."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from service import clock
from service.coordinators import phones
from service.models import (
    AuditEvent,
    Broadcast,
    Community,
    Coordinator,
    CoordinatorPhone,
    Message,
    MessageKind,
    MessageStatus,
    Role,
    Volunteer,
)
from tests.conftest import COMMUNITY_NUMBER, SmsHelper
from tests.fakes.twilio_server import FakeTwilio
from tests.service.conftest import Cli, one_line_error
from tests.service.console.conftest import ConsoleClient, MakeCoordinator
from workers import dispatch

PHONE = "+12025550170"


def _create(cli: Cli, *extra: str) -> Any:
    return cli(
        "create-coordinator",
        "--community",
        "riverside",
        "--email",
        "lead@example.org",
        *extra,
        input="correct horse battery\n",
    )


def test_cli_phone_is_registered_verified_and_audited(
    cli: Cli, db: Session, community: Community, sms: SmsHelper
) -> None:
    result = _create(cli, "--phone", "(202) 555-0170")
    assert result.exit_code == 0, result.output
    row = db.scalars(select(CoordinatorPhone)).one()
    assert row.phone == PHONE and row.verified_at is not None
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["added coordinator", "registered coordinator phone"]
    assert PHONE not in str(db.scalars(select(AuditEvent.detail)).all())  # masked
    assert "Commands:" in sms.send(PHONE, "HELP")[0]


def test_cli_refuses_a_bad_phone_and_a_service_number(cli: Cli, community: Community) -> None:
    assert "not a phone number" in one_line_error(_create(cli, "--phone", "call me"))
    assert "service number" in one_line_error(_create(cli, "--phone", COMMUNITY_NUMBER))


def _code(db: Session) -> str:
    db.expire_all()
    body = db.scalars(
        select(Message.body).where(Message.kind == MessageKind.CODE).order_by(Message.id.desc())
    ).first()
    assert body is not None
    found = re.search(r"code is (\d{6})", body)
    assert found, body
    return found.group(1)


def test_console_registers_a_phone_texts_a_code_and_verifies_it(
    console: ConsoleClient,
    db: Session,
    community: Community,
    sms: SmsHelper,
    worker: Any,
    fake_twilio: FakeTwilio,
) -> None:
    page = console.text("/console/settings")
    assert "Register and verify" in page
    response = console.post("/console/settings/phone", {"phone": "202-555-0170"})
    assert response.status_code == 302
    message = db.scalars(select(Message).where(Message.kind == MessageKind.CODE)).one()
    assert message.to_address == PHONE and message.status == MessageStatus.PENDING
    assert dispatch.send_message(message.id).startswith("sent:")  # through the send gate
    [texted] = fake_twilio.sent_to(PHONE)
    code = _code(db)
    assert code in texted.body
    # not verified yet: a text from it is a volunteer's
    assert "Commands:" not in sms.send(PHONE, "HELP")[0]
    assert "We texted a code" in console.text("/console/settings")
    wrong = console.post(
        "/console/settings/phone/verify", {"code": "000000" if code != "000000" else "111111"}
    )
    assert wrong.status_code == 400 and "not the code" in wrong.get_data(as_text=True)
    assert console.post("/console/settings/phone/verify", {"code": code}).status_code == 302
    assert f"Verified: <strong>{PHONE}</strong>" in console.text("/console/settings")
    assert "Commands:" in sms.send(PHONE, "HELP")[0]
    log = console.text("/console/audit")
    for action in ("registered coordinator phone", "verified coordinator phone", "texted command"):
        assert action in log
    # the SMS command is in the log beside the console actions, with the account and command
    commands = console.text("/console/audit?action=texted+command")
    assert "1 event" in commands and "coord@example.org" in commands and "help" in commands
    assert "message:" in commands and "sms" in commands


def test_console_refuses_bad_phones_and_throttles_codes(
    console: ConsoleClient, db: Session, community: Community
) -> None:
    bad = console.post("/console/settings/phone", {"phone": "nope"})
    assert bad.status_code == 400 and "not a phone number" in bad.get_data(as_text=True)
    assert console.post("/console/settings/phone/verify", {"code": "1"}).status_code == 400
    console.post("/console/settings/phone", {"phone": PHONE})
    code = _code(db)
    statuses = [
        console.post("/console/settings/phone/verify", {"code": "000001"}).status_code
        for _ in range(5)
    ]
    assert statuses[-1] == 429  # five tries in fifteen minutes (one was spent above)
    assert console.post("/console/settings/phone/verify", {"code": code}).status_code == 429


def test_a_viewer_cannot_register_a_phone(viewer_console: ConsoleClient) -> None:
    assert "Register and verify" not in viewer_console.text("/console/settings")
    assert viewer_console.post("/console/settings/phone", {"phone": PHONE}).status_code == 403


def test_a_number_is_one_coordinators_per_community(
    console: ConsoleClient, make_coordinator: MakeCoordinator, community: Community, db: Session
) -> None:
    console.post("/console/settings/phone", {"phone": PHONE})
    other = make_coordinator(community, "other@example.org", Role.COORDINATOR)
    place = db.get_one(Community, community.id)
    with pytest.raises(phones.PhoneError, match="another coordinator"):
        phones.start_verification(db, db.merge(other), place, PHONE, clock.now())


def test_a_large_say_held_by_text_is_approved_in_the_console(
    console: ConsoleClient,
    console_for: Any,
    make_coordinator: MakeCoordinator,
    community: Community,
    db: Session,
    sms: SmsHelper,
) -> None:
    place = db.get_one(Community, community.id)
    place.two_person_broadcasts, place.two_person_threshold = True, 1
    place.quiet_start_minute = place.quiet_end_minute = 0
    for n in range(3):
        db.add(
            Volunteer(
                community_id=place.id,
                phone=f"+1202555130{n}",
                name=f"V{n}",
                status=VolunteerStatus.ACTIVE,
                language="en",
            )
        )
    requester = db.scalars(
        select(Coordinator).where(Coordinator.email == "coord@example.org")
    ).one()
    phones.set_verified(db, requester, place, PHONE, clock.now())
    db.commit()
    assert "SAY to 3 people" in sms.send(PHONE, "SAY Shelter open at the school")[0]
    code = re.search(r"YES (\d{6})", _latest_code_body(db))
    assert code is not None
    assert "Held for a second coordinator" in sms.send(PHONE, f"YES {code.group(1)}")[0]
    broadcast = db.scalars(select(Broadcast)).one()
    assert broadcast.status == "awaiting_approval" and broadcast.created_by == "coord@example.org"
    made = make_coordinator(community, "second@example.org", Role.COORDINATOR)
    db.get_one(Coordinator, made.id).email_verified_at = clock.now()
    db.commit()
    second = console_for()
    assert second.login("second@example.org").status_code == 302
    assert second.post(f"/console/broadcasts/{broadcast.id}/approve").status_code == 302
    db.expire_all()
    assert db.get_one(Broadcast, broadcast.id).approved_by == "second@example.org"
    assert len(db.scalars(select(Message).where(Message.kind == MessageKind.BROADCAST)).all()) == 3
    log = second.text("/console/audit")
    assert "texted command" in log and "approved broadcast" in log


def _latest_code_body(db: Session) -> str:
    db.expire_all()
    body = db.scalars(
        select(Message.body).where(Message.kind == MessageKind.CODE).order_by(Message.id.desc())
    ).first()
    assert body is not None
    return body
