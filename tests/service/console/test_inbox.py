"""The inbox: texts the service did not understand and HELP requests, a coordinator's reply
through the send gate (once, however often the form is submitted), and marking handled."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.db import unit_of_work
from service.models import (
    AuditEvent,
    CallOut,
    CallOutAsk,
    Community,
    Direction,
    Message,
    MessageStatus,
    Volunteer,
)
from service.rosters import shifts as rosters
from service.sending import outbox
from tests.conftest import COMMUNITY_NUMBER, SmsHelper
from tests.fakes.twilio_server import FakeTwilio
from tests.service.console.conftest import ConsoleClient
from tests.workers.test_outbound_engine import deliver as dispatch_and_run
from workers.worker import HandsUpWorker


def deliver(factory: sessionmaker[Session], redis: Redis) -> None:
    """Run the send jobs the console's kick already enqueued, then whatever else is due."""
    HandsUpWorker(list(outbox.QUEUES), connection=redis).work(burst=True)
    dispatch_and_run(factory, redis)


ANA = "+12025550161"
BEN = "+12025550162"


def inbound(db: Session, phone: str, attention: str | None = None) -> Message:
    db.expire_all()
    query = select(Message).where(
        Message.direction == Direction.INBOUND, Message.from_address == phone
    )
    if attention:
        query = query.where(Message.attention == attention)
    found = db.scalars(query.order_by(Message.id.desc())).first()
    assert found is not None
    db.commit()  # end the read transaction so the app can write
    return found


def nonce_for(page: str, message_id: int) -> str:
    form = page.split(f'action="/console/inbox/{message_id}/reply"', 1)[1]
    found = re.search(r'name="nonce" value="([^"]+)"', form)
    assert found
    return found.group(1)


def directs(db: Session) -> list[Message]:
    db.expire_all()
    rows = list(db.scalars(select(Message).where(Message.kind == "direct")))
    db.commit()
    return rows


def threads(page: str) -> list[str]:
    """The thread ids on an inbox page, top first."""
    return re.findall(r'<li class="thread-item[^"]*" id="thread-([^"]+)"', page)


def unread(page: str, key: str) -> int:
    found = re.search(rf'id="thread-{re.escape(key)}" data-unread="(\d+)"', page)
    assert found
    return int(found.group(1))


def volunteer_id(db: Session, phone: str) -> str:
    found = db.scalar(select(Volunteer.id).where(Volunteer.phone == phone))
    db.commit()
    assert found is not None
    return str(found)


def test_one_thread_per_volunteer_newest_first_with_the_unread_count(
    console: ConsoleClient, sms: SmsHelper, db: Session
) -> None:
    sms.join(ANA, "Ana")
    sms.join(BEN, "Ben")
    replies = sms.send(ANA, "blah blah")
    sms.send(ANA, "HELP")
    sms.send(BEN, "where do I go")
    sms.send(ANA, "SHIFTS")  # understood: shown in the thread, but not waiting
    page = console.text("/console/inbox")
    ana, ben = volunteer_id(db, ANA), volunteer_id(db, BEN)
    assert threads(page) == [ana, ben]  # Ana texted last
    assert (unread(page, ana), unread(page, ben)) == (2, 1)
    assert page.count('reply-form"') == 2  # one reply box per thread
    ana_thread = page.split(f'id="thread-{ana}"', 1)[1].split('class="thread-item', 1)[0]
    assert "HELP" in ana_thread and "blah blah" in ana_thread and "SHIFTS" in ana_thread
    assert replies[0] in ana_thread  # what the service answered, both ways
    assert ana_thread.index("blah blah") < ana_thread.index("SHIFTS")  # oldest first inside
    assert "Ana" in page and ANA in page  # a coordinator sees the full number


def test_mark_handled_covers_the_whole_thread(
    console: ConsoleClient, sms: SmsHelper, db: Session
) -> None:
    sms.join(ANA, "Ana")
    sms.join(BEN, "Ben")
    sms.send(ANA, "blah")
    sms.send(ANA, "HELP")
    sms.send(BEN, "huh")
    first = inbound(db, ANA, "unknown")  # any text of the thread names it
    assert console.post(f"/console/inbox/{first.id}/done").status_code == 302
    db.expire_all()
    waiting = db.scalars(
        select(Message.from_address).where(
            Message.attention.is_not(None), Message.attended_at.is_(None)
        )
    ).all()
    db.commit()
    assert waiting == [BEN]
    page = console.text("/console/inbox")
    assert "Marked handled (2 texts)" in page
    assert threads(page) == [volunteer_id(db, BEN)]
    assert volunteer_id(db, ANA) in threads(console.text("/console/inbox?show=all"))
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "marked handled")).all()
    assert event.detail == {"texts": 2}
    db.commit()


def test_filters_media_and_call_out_answers(
    console: ConsoleClient,
    sms: SmsHelper,
    db: Session,
    session_factory: sessionmaker[Session],
    community: Community,
) -> None:
    sms.join(ANA, "Ana")
    sms.join(BEN, "Ben")
    sms.send(ANA, "photo of the flooded road")
    sms.send(BEN, "SHIFTS")
    with unit_of_work(session_factory) as session:
        photo = session.scalars(
            select(Message).where(Message.body == "photo of the flooded road")
        ).one()
        photo.num_media = 2
        shift = rosters.add_shift(
            session,
            session.get_one(Community, community.id),
            title="Sandbags",
            place="Gym",
            starts_at=clock.now() + timedelta(hours=2),
            ends_at=clock.now() + timedelta(hours=4),
            capacity=3,
        )
        callout = CallOut(community_id=community.id, shift_id=shift.id, need=2, text="")
        session.add(callout)
        session.flush()
        ben = session.scalars(select(Volunteer).where(Volunteer.phone == BEN)).one()
        session.add(
            CallOutAsk(
                callout_id=callout.id,
                volunteer_id=ben.id,
                answered_at=clock.now(),
                answer="yes",
            )
        )
    ana, ben_key = volunteer_id(db, ANA), volunteer_id(db, BEN)
    media = console.text("/console/inbox?show=media")
    assert threads(media) == [ana]
    assert "2 attachments" in media
    answers = console.text("/console/inbox?show=callouts")
    assert threads(answers) == [ben_key]
    assert "call-out: yes" in answers
    assert threads(console.text("/console/inbox?show=all")) == [ben_key, ana]
    assert threads(console.text("/console/inbox?show=bogus")) == [ana]  # needs attention


def test_twenty_threads_a_page_and_the_next_page_follows(
    console: ConsoleClient, session_factory: sessionmaker[Session], community: Community
) -> None:
    start = clock.now() - timedelta(hours=1)
    with unit_of_work(session_factory) as session:
        for n in range(25):
            phone = f"+1202555{n:04d}"
            volunteer = Volunteer(community_id=community.id, phone=phone, name=f"V{n}")
            session.add(volunteer)
            session.flush()
            session.add(
                Message(
                    community_id=community.id,
                    volunteer_id=volunteer.id,
                    direction=Direction.INBOUND,
                    kind="inbound",
                    from_address=phone,
                    to_address=COMMUNITY_NUMBER,
                    body=f"text {n}",
                    status=MessageStatus.PROCESSED,
                    attention="unknown",
                    created_at=start + timedelta(minutes=n),
                )
            )
    first = console.text("/console/inbox")
    second = console.text("/console/inbox?page=2")
    assert len(threads(first)) == 20 and len(threads(second)) == 5
    assert "text 24" in first and "text 4" in second and "text 4<" not in first
    assert 'href="/console/inbox?show=attention&amp;page=2"' in first
    assert not set(threads(first)) & set(threads(second))


def test_a_viewer_sees_masked_numbers_and_cannot_reply(
    viewer_console: ConsoleClient, sms: SmsHelper, db: Session
) -> None:
    sms.join(ANA, "Ana")
    sms.send(ANA, "blah blah")
    page = viewer_console.text("/console/inbox")
    assert "blah blah" in page
    assert ANA not in page
    assert "0161" in page  # masked, the last digits kept
    assert "Send reply" not in page
    message = inbound(db, ANA, "unknown")
    response = viewer_console.post(
        f"/console/inbox/{message.id}/reply", {"text": "hi", "nonce": "abcdefgh1234"}
    )
    assert response.status_code == 403
    assert viewer_console.post(f"/console/inbox/{message.id}/done").status_code == 403
    assert directs(db) == []
    assert inbound(db, ANA).attended_at is None


def test_a_reply_is_a_direct_text_sent_once_however_often_it_is_submitted(
    console: ConsoleClient,
    sms: SmsHelper,
    db: Session,
    session_factory: sessionmaker[Session],
    redis: Redis,
    fake_twilio: FakeTwilio,
    worker: Any,
) -> None:
    sms.join(ANA, "Ana")
    sms.send(ANA, "can I bring my dog")
    message = inbound(db, ANA, "unknown")
    nonce = nonce_for(console.text("/console/inbox"), message.id)
    form = {"text": "Yes, dogs welcome!", "nonce": nonce}
    first = console.post(f"/console/inbox/{message.id}/reply", form)
    assert first.status_code == 302 and first.location.endswith("/console/inbox")
    again = console.post(f"/console/inbox/{message.id}/reply", form)  # a double click
    assert again.status_code == 302
    assert "already sent" in console.text("/console/inbox")
    [reply] = directs(db)
    assert reply.direction == Direction.OUTBOUND
    assert reply.to_address == ANA
    assert reply.reply_to_id == message.id
    assert reply.body == "Riverside Flood Crew: Yes, dogs welcome!"
    assert inbound(db, ANA).attended_at is not None
    assert "can I bring my dog" not in console.text("/console/inbox")
    deliver(session_factory, redis)
    assert [m.body for m in fake_twilio.sent_to(ANA)] == [
        "Riverside Flood Crew: Yes, dogs welcome!"
    ]
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "replied")).all()
    assert [e.subject for e in events] == [f"message:{message.id}"]
    assert events[0].actor == "coord@example.org"
    db.commit()


def test_a_reply_to_someone_who_opted_out_is_suppressed_and_never_sent(
    console: ConsoleClient,
    sms: SmsHelper,
    db: Session,
    session_factory: sessionmaker[Session],
    redis: Redis,
    fake_twilio: FakeTwilio,
    worker: Any,
) -> None:
    sms.join(ANA, "Ana")
    sms.send(ANA, "what is this")
    sms.send(ANA, "STOP")
    message = inbound(db, ANA, "unknown")
    nonce = nonce_for(console.text("/console/inbox"), message.id)
    console.post(f"/console/inbox/{message.id}/reply", {"text": "Sorry!", "nonce": nonce})
    assert "Not sent" in console.text("/console/inbox")
    [reply] = directs(db)
    assert reply.status == MessageStatus.SUPPRESSED
    assert "opted out" in (reply.decision or "")
    deliver(session_factory, redis)
    assert fake_twilio.sent_to(ANA) == []


def test_a_reply_in_quiet_hours_waits_for_them_to_end(
    console: ConsoleClient,
    sms: SmsHelper,
    db: Session,
    session_factory: sessionmaker[Session],
    community: Community,
) -> None:
    sms.join(ANA, "Ana")
    sms.send(ANA, "hmm")
    with unit_of_work(session_factory) as session:  # quiet from an hour ago to in an hour
        target = session.get_one(Community, community.id)
        local = clock.now().astimezone(ZoneInfo(target.timezone))
        minute = local.hour * 60 + local.minute  # (0 to 23:59 failed in the last minute)
        target.quiet_start_minute = (minute - 60) % (24 * 60)
        target.quiet_end_minute = (minute + 60) % (24 * 60)
    message = inbound(db, ANA, "unknown")
    nonce = nonce_for(console.text("/console/inbox"), message.id)
    console.post(f"/console/inbox/{message.id}/reply", {"text": "Tomorrow", "nonce": nonce})
    [reply] = directs(db)
    assert reply.status == MessageStatus.PENDING
    assert "quiet hours" in (reply.decision or "")
    assert "quiet hours" in console.text("/console/inbox")


def test_an_empty_reply_is_refused_and_nothing_is_queued(
    console: ConsoleClient, sms: SmsHelper, db: Session
) -> None:
    sms.join(ANA, "Ana")
    sms.send(ANA, "eh")
    message = inbound(db, ANA, "unknown")
    nonce = nonce_for(console.text("/console/inbox"), message.id)
    response = console.post(f"/console/inbox/{message.id}/reply", {"text": "  ", "nonce": nonce})
    assert response.status_code == 400
    assert "Write a reply first" in response.get_data(as_text=True)
    bad_nonce = console.post(f"/console/inbox/{message.id}/reply", {"text": "hi", "nonce": "x"})
    assert bad_nonce.status_code == 400
    assert directs(db) == []
    assert inbound(db, ANA).attended_at is None


def test_mark_handled_removes_the_thread_from_the_inbox(
    console: ConsoleClient, sms: SmsHelper, db: Session
) -> None:
    sms.join(ANA, "Ana")
    sms.send(ANA, "HELP")
    message = inbound(db, ANA, "help")
    assert console.post(f"/console/inbox/{message.id}/done").status_code == 302
    assert inbound(db, ANA).attended_at is not None
    assert "Nothing needs a look" in console.text("/console/inbox")
    assert directs(db) == []


def test_message_bodies_are_escaped(console: ConsoleClient, sms: SmsHelper, db: Session) -> None:
    sms.join(ANA, "Ana")
    sms.send(ANA, "<script>alert(1)</script>")
    page = console.text("/console/inbox")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_another_communitys_messages_are_not_found(
    console: ConsoleClient,
    session_factory: sessionmaker[Session],
    other_community: Community,
    db: Session,
) -> None:
    with unit_of_work(session_factory) as session:
        volunteer = Volunteer(community_id=other_community.id, phone=BEN, name="Ben")
        session.add(volunteer)
        session.flush()
        message = Message(
            community_id=other_community.id,
            volunteer_id=volunteer.id,
            direction=Direction.INBOUND,
            kind="inbound",
            from_address=BEN,
            to_address="+12025550111",
            body="elsewhere",
            status=MessageStatus.PROCESSED,
            attention="unknown",
        )
        session.add(message)
        session.flush()
        message_id = message.id
    assert "elsewhere" not in console.text("/console/inbox")
    form = {"text": "hi", "nonce": "abcdefgh1234"}
    assert console.post(f"/console/inbox/{message_id}/reply", form).status_code == 404
    assert console.post(f"/console/inbox/{message_id}/done").status_code == 404
    assert directs(db) == []
