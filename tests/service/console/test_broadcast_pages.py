"""The broadcast composer: preview (encoding, segments, recipients, estimated cost), send,
the broadcast's delivery counts, and the two-person rule."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service import clock
from service.db import unit_of_work
from service.models import (
    AuditEvent,
    Broadcast,
    Community,
    Coordinator,
    Message,
    Role,
    Volunteer,
)
from service.rosters.shifts import add_shift, claim
from service.sending import outbox
from tests.fakes.twilio_server import FakeTwilio
from tests.service.console.conftest import ConsoleClient, MakeCoordinator
from workers.worker import HandsUpWorker

PHONES = ["+12025550161", "+12025550162", "+12025550163"]


def volunteers(
    factory: sessionmaker[Session], community: Community, *extra: tuple[str, dict[str, Any]]
) -> None:
    """Three active volunteers (one a driver), plus ``extra`` (phone, fields)."""
    people: list[tuple[str, dict[str, Any]]] = [
        (PHONES[0], {"name": "Ana", "skills": ["driver"]}),
        (PHONES[1], {"name": "Ben"}),
        (PHONES[2], {"name": "Cleo"}),
        *extra,
    ]
    with unit_of_work(factory) as session:
        for phone, fields in people:
            fields.setdefault("status", VolunteerStatus.ACTIVE)
            session.add(
                Volunteer(community_id=community.id, phone=phone, consent_at=clock.now(), **fields)
            )


def form(text: str, segment: str = "everyone", **fields: object) -> dict[str, object]:
    return {
        "segment": segment,
        "text": text,
        "skill": "",
        "language": "",
        "roster_id": "",
        **fields,
    }


def fresh(db: Session) -> Session:
    db.expire_all()
    return db


def count(db: Session, model: Any, *where: Any) -> int:
    result = int(fresh(db).scalar(select(func.count()).select_from(model).where(*where)) or 0)
    db.commit()
    return result


def broadcast_id(location: str) -> int:
    found = re.search(r"/console/broadcasts/(\d+)$", location)
    assert found, location
    return int(found.group(1))


def test_the_composer_offers_segments_and_a_text_box(
    console: ConsoleClient, session_factory: sessionmaker[Session], community: Community
) -> None:
    volunteers(session_factory, community)
    page = console.text("/console/broadcasts/new")
    for value in ("everyone", "skill", "language", "roster"):
        assert f'name="segment" value="{value}"' in page
    assert '<textarea name="text"' in page
    assert '<option value="driver">' in page  # skills volunteers have
    assert 'action="/console/broadcasts/preview"' in page


def test_preview_of_a_gsm7_text_shows_recipients_segments_and_cost(
    console: ConsoleClient,
    session_factory: sessionmaker[Session],
    community: Community,
    db: Session,
) -> None:
    volunteers(session_factory, community)
    response = console.post("/console/broadcasts/preview", form("Sandbags at 5"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<dd class="recipients">3</dd>' in page
    assert '<td data-label="Encoding" class="encoding">GSM-7</td>' in page
    assert '<td data-label="Segments per message" class="segments">1</td>' in page
    assert '<dd class="segments-total">3</dd>' in page
    assert "about $0.02" in page  # 3 segments at $0.0083
    assert "estimated" in page
    assert 'name="text" value="Sandbags at 5"' in page  # the Send form carries the fields
    assert 'action="/console/broadcasts"' in page
    assert count(db, Message) == 0  # a preview sends nothing
    assert count(db, Broadcast) == 0


def test_preview_of_an_emoji_text_is_ucs2_with_more_segments(
    console: ConsoleClient, session_factory: sessionmaker[Session], community: Community
) -> None:
    volunteers(session_factory, community)
    text = "Storm tonight 🌧 " + "stay safe and dry " * 4  # > 70 UTF-16 units with the prefix
    page = console.post("/console/broadcasts/preview", form(text)).get_data(as_text=True)
    assert '<td data-label="Encoding" class="encoding">UCS-2</td>' in page
    assert '<td data-label="Segments per message" class="segments">2</td>' in page
    assert '<dd class="segments-total">6</dd>' in page
    assert "about $0.05" in page  # 6 x $0.0083 = $0.0498
    assert "sent as UCS-2" in page


def test_a_skill_segment_reaches_only_volunteers_with_it(
    console: ConsoleClient,
    session_factory: sessionmaker[Session],
    community: Community,
    db: Session,
) -> None:
    volunteers(session_factory, community)
    page = console.post("/console/broadcasts/preview", form("Drivers!", "skill", skill="Driver"))
    assert '<dd class="recipients">1</dd>' in page.get_data(as_text=True)
    response = console.post("/console/broadcasts", form("Drivers!", "skill", skill="driver"))
    assert response.status_code == 302
    sent = fresh(db).scalars(select(Message.to_address).where(Message.kind == "broadcast")).all()
    assert sent == [PHONES[0]]
    db.commit()


def test_sending_queues_messages_and_the_broadcast_page_counts_their_statuses(
    console: ConsoleClient,
    session_factory: sessionmaker[Session],
    community: Community,
    db: Session,
    redis: Redis,
    fake_twilio: FakeTwilio,
    worker: Any,
) -> None:
    volunteers(session_factory, community, ("+12025550164", {"status": VolunteerStatus.OPTED_OUT}))
    key = "k" * 32  # the preview form's one-time key
    response = console.post("/console/broadcasts", form("Road closed", request_key=key))
    assert response.status_code == 302
    bid = broadcast_id(response.location)
    assert count(db, Message, Message.broadcast_id == bid) == 3  # not the opted-out one
    page = console.text(f"/console/broadcasts/{bid}")
    assert "Road closed" in page
    assert (
        '<td data-label="Status" class="status">pending</td>'
        '<td data-label="Messages" class="count">3</td>' in page
    )
    again = console.post("/console/broadcasts", form("Road closed", request_key=key))  # twice
    assert broadcast_id(again.location) == bid
    assert count(db, Broadcast) == 1
    assert count(db, Message, Message.broadcast_id == bid) == 3
    events = fresh(db).scalars(select(AuditEvent).where(AuditEvent.action == "broadcast")).all()
    assert [(e.subject, e.detail["recipients"]) for e in events] == [(f"broadcast:{bid}", 3)]
    db.commit()
    # The console handed the rows to RQ; a worker sends them.
    HandsUpWorker(list(outbox.QUEUES), connection=redis).work(burst=True)
    assert sorted(m.to for m in fake_twilio.messages) == PHONES
    page = console.text(f"/console/broadcasts/{bid}")
    assert '<td data-label="Status" class="status">pending</td>' not in page
    assert re.search(
        r'<td data-label="Status" class="status">(queued|sent)</td>'
        r'<td data-label="Messages" class="count">3</td>',
        page,
    )
    listing = console.text("/console/broadcasts")
    assert f'href="/console/broadcasts/{bid}"' in listing and "Road closed" in listing


def test_bad_input_is_shown_again_with_a_reason(
    console: ConsoleClient,
    session_factory: sessionmaker[Session],
    community: Community,
    db: Session,
) -> None:
    volunteers(session_factory, community)
    empty = console.post("/console/broadcasts/preview", form("   "))
    assert empty.status_code == 400
    assert "Write the message first" in empty.get_data(as_text=True)
    no_skill = console.post("/console/broadcasts/preview", form("Hi", "skill"))
    assert no_skill.status_code == 400
    nobody = console.post("/console/broadcasts/preview", form("Hi", "skill", skill="pilot"))
    assert "No active volunteer is in this segment" in nobody.get_data(as_text=True)
    refused = console.post("/console/broadcasts", form("Hi", "skill", skill="pilot"))
    assert refused.status_code == 400
    too_long = console.post("/console/broadcasts", form("x" * 1601))
    assert too_long.status_code == 400
    other_roster = console.post("/console/broadcasts", form("Hi", "roster", roster_id="999"))
    assert other_roster.status_code == 400
    assert count(db, Broadcast) == 0 and count(db, Message) == 0


def test_two_person_rule_holds_a_whole_community_broadcast_for_another_coordinator(
    console: ConsoleClient,
    console_for: Callable[[], ConsoleClient],
    make_coordinator: MakeCoordinator,
    session_factory: sessionmaker[Session],
    community: Community,
    db: Session,
) -> None:
    volunteers(session_factory, community)
    with unit_of_work(session_factory) as session:
        home = session.get_one(Community, community.id)
        home.two_person_broadcasts = True
        home.two_person_threshold = 1  # more than one recipient: held
    preview = console.post("/console/broadcasts/preview", form("Everyone to the hall"))
    assert "a different coordinator must approve it" in preview.get_data(as_text=True)
    response = console.post("/console/broadcasts", form("Everyone to the hall"))
    bid = broadcast_id(response.location)
    held = fresh(db).get_one(Broadcast, bid)
    assert (held.status, held.recipients, held.created_by) == (
        "awaiting_approval",
        3,
        "coord@example.org",
    )
    db.commit()
    assert count(db, Message, Message.kind == "broadcast") == 0
    own_page = console.text(f"/console/broadcasts/{bid}")
    assert "Approve and send" not in own_page
    assert console.post(f"/console/broadcasts/{bid}/approve").status_code == 403
    assert count(db, Message, Message.kind == "broadcast") == 0

    made = make_coordinator(community, "second@example.org", Role.COORDINATOR)
    with unit_of_work(session_factory) as session:  # the operator attests the email
        session.get_one(Coordinator, made.id).email_verified_at = clock.now()
    second = console_for()
    assert second.login("second@example.org").status_code == 302
    assert "Approve and send" in second.text(f"/console/broadcasts/{bid}")
    assert "Awaiting approval" in second.text("/console/broadcasts")
    approved = second.post(f"/console/broadcasts/{bid}/approve")
    assert approved.status_code == 302
    done = fresh(db).get_one(Broadcast, bid)
    assert (done.status, done.approved_by) == ("queued", "second@example.org")
    assert done.decided_at is not None
    db.commit()
    assert count(db, Message, Message.broadcast_id == bid) == 3
    assert second.post(f"/console/broadcasts/{bid}/approve").status_code == 302  # no repeat
    assert "Nothing changed" in second.text(f"/console/broadcasts/{bid}")
    assert count(db, Message, Message.broadcast_id == bid) == 3
    actions = fresh(db).scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert [a for a in actions if "broadcast" in a] == ["broadcast", "approved broadcast"]
    db.commit()
    # A segment at or under the threshold is not held.
    narrow = console.post("/console/broadcasts", form("Drivers", "skill", skill="driver"))
    assert fresh(db).get_one(Broadcast, broadcast_id(narrow.location)).status == "queued"
    db.commit()


def test_a_held_broadcast_can_be_rejected_and_then_never_sent(
    console: ConsoleClient,
    owner_console: ConsoleClient,
    session_factory: sessionmaker[Session],
    community: Community,
    db: Session,
) -> None:
    volunteers(session_factory, community)
    with unit_of_work(session_factory) as session:
        session.get_one(Community, community.id).two_person_broadcasts = True
    bid = broadcast_id(console.post("/console/broadcasts", form("Party!")).location)
    assert owner_console.post(f"/console/broadcasts/{bid}/reject").status_code == 302
    rejected = fresh(db).get_one(Broadcast, bid)
    assert (rejected.status, rejected.approved_by) == ("rejected", "owner@example.org")
    db.commit()
    assert owner_console.post(f"/console/broadcasts/{bid}/approve").status_code == 302
    assert fresh(db).get_one(Broadcast, bid).status == "rejected"
    db.commit()
    assert count(db, Message) == 0
    actions = fresh(db).scalars(select(AuditEvent.action)).all()
    assert "rejected broadcast" in actions
    db.commit()


def test_viewers_cannot_preview_send_or_decide(
    viewer_console: ConsoleClient,
    console: ConsoleClient,
    session_factory: sessionmaker[Session],
    community: Community,
    db: Session,
) -> None:
    volunteers(session_factory, community)
    assert "Viewers cannot send" in viewer_console.text("/console/broadcasts/new")
    assert viewer_console.post("/console/broadcasts/preview", form("Hi")).status_code == 403
    assert viewer_console.post("/console/broadcasts", form("Hi")).status_code == 403
    with unit_of_work(session_factory) as session:
        session.get_one(Community, community.id).two_person_broadcasts = True
    bid = broadcast_id(console.post("/console/broadcasts", form("Hi all")).location)
    assert viewer_console.post(f"/console/broadcasts/{bid}/approve").status_code == 403
    assert viewer_console.post(f"/console/broadcasts/{bid}/reject").status_code == 403
    page = viewer_console.text(f"/console/broadcasts/{bid}")
    assert "Approve and send" not in page and "Reject" not in page
    assert fresh(db).get_one(Broadcast, bid).status == "awaiting_approval"
    db.commit()
    assert count(db, Message) == 0


def test_another_communitys_broadcast_is_not_found(
    console: ConsoleClient,
    session_factory: sessionmaker[Session],
    other_community: Community,
) -> None:
    with unit_of_work(session_factory) as session:
        held = Broadcast(
            community_id=other_community.id,
            text="secret plans",
            segment={},
            created_by="someone@example.org",
            status="awaiting_approval",
        )
        session.add(held)
        session.flush()
        bid = held.id
    assert console.get(f"/console/broadcasts/{bid}").status_code == 404
    assert console.post(f"/console/broadcasts/{bid}/approve").status_code == 404
    assert console.post(f"/console/broadcasts/{bid}/reject").status_code == 404
    assert "secret plans" not in console.text("/console/broadcasts")


def test_broadcast_text_is_escaped_everywhere(
    console: ConsoleClient, session_factory: sessionmaker[Session], community: Community
) -> None:
    volunteers(session_factory, community)
    evil = "<script>alert(1)</script>"
    preview = console.post("/console/broadcasts/preview", form(evil)).get_data(as_text=True)
    sent = console.post("/console/broadcasts", form(evil))
    pages = [preview, console.text(sent.location), console.text("/console/broadcasts")]
    for page in pages:
        assert evil not in page
        assert "&lt;script&gt;" in page


def test_language_and_roster_segments(
    console: ConsoleClient,
    session_factory: sessionmaker[Session],
    community: Community,
    db: Session,
) -> None:
    volunteers(session_factory, community, ("+12025550165", {"name": "Eva", "language": "es"}))
    with unit_of_work(session_factory) as session:
        home = session.get_one(Community, community.id)
        shift = add_shift(
            session,
            home,
            title="Sandbags",
            place="Depot",
            starts_at=clock.now() + timedelta(days=1),
            ends_at=clock.now() + timedelta(days=1, hours=2),
            capacity=3,
        )
        session.flush()
        ben = session.scalars(select(Volunteer).where(Volunteer.phone == PHONES[1])).one()
        claim(session, ben, home, shift.id, clock.now())
        roster_id = shift.roster_id
    page = console.text("/console/broadcasts/new")
    assert f'<option value="{roster_id}" >' in page
    spanish = console.post("/console/broadcasts/preview", form("Hola", "language", language="es"))
    assert '<dd class="recipients">1</dd>' in spanish.get_data(as_text=True)
    assert "Espa" in spanish.get_data(as_text=True)
    booked = console.post("/console/broadcasts/preview", form("Hi", "roster", roster_id=roster_id))
    assert '<dd class="recipients">1</dd>' in booked.get_data(as_text=True)
    console.post("/console/broadcasts", form("Bring gloves", "roster", roster_id=roster_id))
    sent = fresh(db).scalars(select(Message.to_address).where(Message.kind == "broadcast")).all()
    assert sent == [PHONES[1]]
    db.commit()
    # Only the filter the radio button names counts.
    preview = console.post("/console/broadcasts/preview", form("Hi", "everyone", language="es"))
    assert '<dd class="recipients">4</dd>' in preview.get_data(as_text=True)


def test_each_preview_carries_a_fresh_one_time_key(
    console: ConsoleClient, session_factory: sessionmaker[Session], community: Community
) -> None:
    volunteers(session_factory, community)
    keys = []
    for _ in range(2):
        page = console.post("/console/broadcasts/preview", form("Road closed")).get_data(
            as_text=True
        )
        found = re.search(r'name="request_key" value="([^"]+)"', page)
        assert found, "the send form carries its one-time key"
        keys.append(found.group(1))
    assert keys[0] != keys[1]
