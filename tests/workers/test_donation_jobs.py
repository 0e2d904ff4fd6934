"""Donation jobs against the fake Twilio server, with a frozen clock: the day-before pledge
reminder (once, skipped when no longer relevant, held back by quiet hours), the planning sweep,
gap asks with fair rotation and the weekly ask limit, and standing-pledge checks, each answered
by a signed webhook.

All times are New York local times in March 2030 (DST starts Sunday 10 March).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service import clock
from service.communities.registry import create_community
from service.models import (
    CallOut,
    CallOutAsk,
    Community,
    Cycle,
    CycleNeed,
    Direction,
    DonationAsk,
    Message,
    MessageKind,
    MessageStatus,
    Need,
    OutboxItem,
    Pledge,
    PledgeStatus,
    StandingPledge,
    Volunteer,
)
from service.rosters import donations
from service.rosters import shifts as rosters
from service.sending import eligibility
from tests.conftest import SmsHelper
from tests.fakes.twilio_server import FakeTwilio
from workers import dispatch
from workers import donations as donation_jobs
from workers import outbox as outbox_jobs

ZONE = ZoneInfo("America/New_York")
MONDAY = datetime(2030, 3, 4, 10, 0, tzinfo=ZONE)
REMINDER_TEXT = (
    "Reminder: bring 5 kg Rice to Church hall tomorrow, 10am-12pm. "
    "Text DONE after drop-off or DROP to cancel."
)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 3, day, hour, minute, tzinfo=ZONE)


def phone(n: int) -> str:
    return f"+1202555{n:04d}"


@pytest.fixture
def frozen() -> Iterator[None]:
    clock.freeze(MONDAY)
    yield
    clock.freeze(None)


@pytest.fixture
def place(db: Session, community: Community, frozen: None) -> Community:
    """The community with Rice 20 kg and Oil 10 L every Saturday 10:00-12:00 at Church hall."""
    here = db.get_one(Community, community.id)
    donations.add_need(db, here, weekday=5, item="Rice", quantity=20, unit="kg")
    donations.add_need(db, here, weekday=5, item="Oil", quantity=10, unit="L")
    donations.donation_schedule(db, here).place = "Church hall"
    db.flush()
    return here


def volunteer(
    db: Session,
    community: Community,
    n: int,
    *,
    status: VolunteerStatus = VolunteerStatus.ACTIVE,
    last_asked_at: datetime | None = None,
) -> Volunteer:
    person = Volunteer(
        community_id=community.id,
        phone=phone(n),
        name=f"V{n}",
        status=status,
        last_asked_at=last_asked_at,
    )
    db.add(person)
    db.flush()
    return person


def cycle_needs(db: Session, cycle: Cycle) -> dict[str, CycleNeed]:
    rows = db.execute(
        select(Need.item, CycleNeed)
        .join(Need, Need.id == CycleNeed.need_id)
        .where(CycleNeed.cycle_id == cycle.id)
    ).all()
    return {item: row for item, row in rows}


def cycle_on(db: Session, community: Community, day: int) -> Cycle:
    schedule = donations.donation_schedule(db, community)
    return donations.cycle_for(db, schedule, community, datetime(2030, 3, day).date())


def pledge(
    db: Session,
    community: Community,
    person: Volunteer,
    row: CycleNeed,
    quantity: int,
    *,
    weekly: bool = False,
) -> Pledge:
    result = donations.pledge(db, person, community, row.id, quantity, clock.now(), weekly=weekly)
    assert result.outcome in ("pledged", "capped"), result
    return db.scalars(
        select(Pledge).where(Pledge.cycle_need_id == row.id, Pledge.volunteer_id == person.id)
    ).one()


def rows_of(db: Session, job: str) -> list[OutboxItem]:
    db.expire_all()
    return list(db.scalars(select(OutboxItem).where(OutboxItem.job == job).order_by(OutboxItem.id)))


def drain(db: Session, session_factory: sessionmaker[Session]) -> list[str]:
    """Commit the test's session, then run every due outbox row and send every due message
    (as the worker's pump and its send jobs would)."""
    db.commit()
    results: list[str] = []
    ran: set[int] = set()
    while True:
        with session_factory() as session:
            due = session.scalars(
                select(OutboxItem.id)
                .where(OutboxItem.done_at.is_(None), OutboxItem.available_at <= clock.now())
                .order_by(OutboxItem.id)
            ).all()
            sendable = session.scalars(
                select(Message.id).where(
                    Message.status == MessageStatus.PENDING, Message.not_before <= clock.now()
                )
            ).all()
        todo = [row for row in due if row not in ran]
        if sendable:
            results.append(dispatch.send_batch(list(sendable)))
        if not todo and not sendable:
            return results
        for row in todo:
            ran.add(row)
            results.append(outbox_jobs.run_item(row))


def texts(fake: FakeTwilio, number: str, contains: str = "") -> list[str]:
    return [m.body for m in fake.sent_to(number) if contains in m.body]


# ----- the day-before reminder ----------------------------------------------------------------
@pytest.fixture
def pledged(db: Session, place: Community) -> tuple[Volunteer, Pledge, OutboxItem]:
    """Ana pledged 5 kg rice on Monday; her reminder row is due Friday 18:00."""
    ana = volunteer(db, place, 1)
    item = pledge(db, place, ana, cycle_needs(db, cycle_on(db, place, 9))["Rice"], 5)
    db.commit()
    (row,) = rows_of(db, donations.REMINDER_JOB)
    assert row.payload == {"pledge_id": item.id}
    assert row.available_at == local(8, 18)
    return ana, item, row


def test_the_pledge_reminder_reaches_twilio_once_even_when_run_twice(
    db: Session,
    pledged: tuple[Volunteer, Pledge, OutboxItem],
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
    worker: Any,
) -> None:
    ana, item, row = pledged
    clock.freeze(local(8, 18, 1))

    assert outbox_jobs.run_item(row.id).startswith("sent: SM")
    assert outbox_jobs.run_item(row.id) == "skipped: done"
    assert donation_jobs.send_pledge_reminder(item.id) == "skipped: not pending"  # a rerun

    assert texts(fake_twilio, ana.phone) == [REMINDER_TEXT]
    db.expire_all()
    sent = db.scalars(select(Message).where(Message.kind == "reminder")).one()
    assert sent.volunteer_id == ana.id and sent.twilio_sid == fake_twilio.messages[0].sid
    assert sent.send_before == local(9, 10)
    # the pump finds nothing more to do
    assert drain(db, session_factory) == []
    assert len(fake_twilio.messages) == 1


@pytest.mark.parametrize(
    ("case", "outcome"),
    [
        ("dropped", "skipped: not pledged"),
        ("delivered", "skipped: not pledged"),
        ("cycle-over", "skipped: cycle over"),
        ("paused", "skipped: volunteer paused"),
        ("opted-out", "skipped: volunteer opted_out"),
    ],
)
def test_the_pledge_reminder_is_skipped_when_no_longer_relevant(
    db: Session,
    place: Community,
    pledged: tuple[Volunteer, Pledge, OutboxItem],
    fake_twilio: FakeTwilio,
    worker: Any,
    case: str,
    outcome: str,
) -> None:
    ana, item, row = pledged
    clock.freeze(local(8, 18, 1))
    if case == "dropped":
        assert donations.drop_pledge(db, ana, place, item.id, clock.now()).outcome == "dropped"
    elif case == "delivered":
        donations.set_pledge_status(db, item, PledgeStatus.DELIVERED, clock.now())
    elif case == "cycle-over":
        clock.freeze(local(9, 12))  # a worker that was down until the drop-off ended
    elif case == "paused":
        ana.status = VolunteerStatus.PAUSED
    else:
        ana.status = VolunteerStatus.OPTED_OUT
    db.commit()

    assert outbox_jobs.run_item(row.id) == outcome
    assert donation_jobs.send_pledge_reminder(item.id) == outcome

    assert fake_twilio.messages == []
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Message)) == 0
    assert db.get_one(OutboxItem, row.id).done_at is not None


def quiet(db: Session, community: Community, start: int, end: int) -> None:
    here = db.get_one(Community, community.id)
    here.quiet_start_minute, here.quiet_end_minute = start * 60, end * 60
    db.commit()


def test_the_pledge_reminder_waits_out_quiet_hours_that_end_before_the_drop_off(
    db: Session,
    place: Community,
    pledged: tuple[Volunteer, Pledge, OutboxItem],
    fake_twilio: FakeTwilio,
    worker: Any,
) -> None:
    ana, _, row = pledged
    quiet(db, place, 17, 9)  # Friday 17:00 to Saturday 09:00; the drop-off starts at 10:00
    clock.freeze(local(8, 18, 1))

    assert (
        outbox_jobs.run_item(row.id) == f"deferred until {local(9, 9).astimezone(UTC).isoformat()}"
    )

    assert fake_twilio.messages == []
    db.expire_all()
    waiting = db.get_one(OutboxItem, row.id)
    assert (waiting.available_at, waiting.enqueued_at, waiting.done_at) == (local(9, 9), None, None)
    assert db.scalar(select(func.count()).select_from(Message)) == 0
    db.commit()

    clock.freeze(local(9, 9))
    assert outbox_jobs.run_item(row.id).startswith("sent: SM")
    assert texts(fake_twilio, ana.phone) == [REMINDER_TEXT]


@pytest.mark.parametrize("quiet_end", [10, 11], ids=["at-the-start", "after-the-start"])
def test_the_pledge_reminder_is_sent_in_quiet_hours_that_would_outlast_the_drop_off_start(
    db: Session,
    place: Community,
    pledged: tuple[Volunteer, Pledge, OutboxItem],
    fake_twilio: FakeTwilio,
    worker: Any,
    quiet_end: int,
) -> None:
    ana, _, row = pledged
    quiet(db, place, 17, quiet_end)
    clock.freeze(local(8, 18, 1))

    assert outbox_jobs.run_item(row.id).startswith("sent: SM")

    assert texts(fake_twilio, ana.phone) == [REMINDER_TEXT]


# ----- planning -------------------------------------------------------------------------------
def test_plan_cycles_plans_gap_asks_and_standing_checks_once_per_cycle(
    db: Session, place: Community
) -> None:
    other = create_community(
        db,
        name="Hillside Pantry",
        slug="hillside",
        number="+12025550177",
        country="US",
        timezone="America/Los_Angeles",
    )
    donations.add_need(db, other, weekday=2, item="Milk", quantity=4, unit="L")

    assert donations.plan_cycles(db, MONDAY) == 4
    assert donations.plan_cycles(db, MONDAY) == 0
    assert donations.plan_cycles(db, local(5, 9)) == 0

    cycles = {c.community_id: c for c in db.scalars(select(Cycle))}
    assert sorted(cycles) == sorted([place.id, other.id])
    ours, theirs = cycles[place.id], cycles[other.id]
    assert ours.day.isoformat() == "2030-03-09" and theirs.day.isoformat() == "2030-03-06"
    assert sorted(cycle_needs(db, ours)) == ["Oil", "Rice"]
    planned = {
        (r.job, r.dedupe_key): (r.payload, r.available_at)
        for r in db.scalars(select(OutboxItem).order_by(OutboxItem.id))
    }
    assert planned == {
        (donations.GAP_JOB, f"gap-asks:{ours.id}"): ({"cycle_id": ours.id}, local(7, 10)),
        (donations.STANDING_JOB, f"standing-checks:{ours.id}"): (
            {"cycle_id": ours.id},
            local(6, 10),
        ),
        # Wednesday 10:00 in Los Angeles: 48 hours before is Monday 10:00 there; 3 days
        # before is already past, so now
        (donations.GAP_JOB, f"gap-asks:{theirs.id}"): (
            {"cycle_id": theirs.id},
            datetime(2030, 3, 4, 10, 0, tzinfo=ZoneInfo("America/Los_Angeles")),
        ),
        (donations.STANDING_JOB, f"standing-checks:{theirs.id}"): (
            {"cycle_id": theirs.id},
            MONDAY,
        ),
    }
    # once Saturday's drop-off is over, the sweep plans the following week, once
    assert donations.plan_cycles(db, local(9, 12)) == 4  # 16 March here, 13 March there
    assert donations.plan_cycles(db, local(9, 12)) == 0
    assert db.scalar(select(func.count()).select_from(Cycle)) == 4


# ----- gap asks -------------------------------------------------------------------------------
def sent_ask(db: Session, person: Volunteer, kind: MessageKind, at: datetime) -> None:
    """The text an ask sent (an ask counts against the weekly limit once it was sent)."""
    db.add(
        Message(
            community_id=person.community_id,
            volunteer_id=person.id,
            direction=Direction.OUTBOUND,
            kind=kind,
            from_address="+12025550100",
            to_address=person.phone,
            body="an ask",
            status=MessageStatus.DELIVERED,
            created_at=at,
            sent_at=at,
        )
    )


@pytest.fixture
def crowd(db: Session, place: Community) -> dict[str, Any]:
    """Thursday 10:01 of the 9 March cycle: rice is 2 kg short, oil 9 L, and a crowd of
    volunteers with different ask histories."""
    now = local(7, 10, 1)
    this_week = cycle_needs(db, cycle_on(db, place, 9))
    last_week = cycle_needs(db, cycle_on(db, place, 2))
    shift = rosters.add_shift(
        db,
        place,
        title="Sandbags",
        place="School gym",
        starts_at=MONDAY - timedelta(days=20),
        ends_at=MONDAY - timedelta(days=20) + timedelta(hours=2),
        capacity=9,
    )
    callouts = [CallOut(community_id=place.id, shift_id=shift.id, need=1) for _ in range(3)]
    db.add_all(callouts)
    db.flush()

    def asked_by_callouts(person: Volunteer, *ages: float) -> None:
        for call, age in zip(callouts, ages, strict=False):
            db.add(
                CallOutAsk(
                    callout_id=call.id,
                    volunteer_id=person.id,
                    asked_at=now - timedelta(days=age),
                )
            )
            sent_ask(db, person, MessageKind.CALLOUT, now - timedelta(days=age))

    people: dict[str, Volunteer] = {}
    people["ana"] = volunteer(db, place, 1)  # gives rice this week
    people["ben"] = volunteer(db, place, 2)  # never asked
    people["hal"] = volunteer(db, place, 3, last_asked_at=now - timedelta(days=10))
    people["dev"] = volunteer(db, place, 4, last_asked_at=now - timedelta(days=5))
    people["chi"] = volunteer(db, place, 5, last_asked_at=now - timedelta(days=2))
    people["gus"] = volunteer(db, place, 6, last_asked_at=now - timedelta(days=6))
    people["ivy"] = volunteer(db, place, 7, last_asked_at=now - timedelta(days=8))
    people["eve"] = volunteer(db, place, 8, status=VolunteerStatus.PAUSED)
    people["fay"] = volunteer(db, place, 9, status=VolunteerStatus.OPTED_OUT)
    people["nia"] = volunteer(db, place, 10, status=VolunteerStatus.NEW)
    people["jo"] = volunteer(db, place, 11)  # gives oil this week
    people["kim"] = volunteer(db, place, 12)  # pledged, then dropped: may be asked
    # Dev: one gap ask 5 days ago; Chi: two call-out asks; Gus: two call-out asks and a gap
    # ask (3, the weekly limit); Ivy: three call-out asks 8 days ago (outside the window)
    db.add(
        DonationAsk(
            cycle_need_id=last_week["Rice"].id,
            volunteer_id=people["dev"].id,
            asked_at=now - timedelta(days=5),
        )
    )
    sent_ask(db, people["dev"], MessageKind.ASK, now - timedelta(days=5))
    db.add(
        DonationAsk(
            cycle_need_id=last_week["Oil"].id,
            volunteer_id=people["gus"].id,
            asked_at=now - timedelta(days=6),
        )
    )
    sent_ask(db, people["gus"], MessageKind.ASK, now - timedelta(days=6))
    asked_by_callouts(people["chi"], 2, 3)
    asked_by_callouts(people["gus"], 1, 3)
    asked_by_callouts(people["ivy"], 8, 8, 9)
    db.flush()

    pledge(db, place, people["ana"], this_week["Rice"], 18)
    pledge(db, place, people["jo"], this_week["Oil"], 1)
    dropped = pledge(db, place, people["kim"], this_week["Oil"], 2)
    donations.drop_pledge(db, people["kim"], place, dropped.id, MONDAY)
    db.commit()
    clock.freeze(now)
    return {"now": now, "needs": this_week, "people": people}


def test_the_weekly_ask_limit_counts_call_out_and_gap_asks(
    db: Session, crowd: dict[str, Any]
) -> None:
    people = crowd["people"]
    weekly = eligibility.asks_this_week(db, [p.id for p in people.values()], crowd["now"])
    counts = {name: weekly.get(people[name].id, 0) for name in people}
    assert {k: v for k, v in counts.items() if v} == {"dev": 1, "chi": 2, "gus": 3}


def test_gap_asks_go_to_the_least_recently_asked_eligible_volunteers_once_per_cycle(
    db: Session,
    place: Community,
    crowd: dict[str, Any],
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
    worker: Any,
) -> None:
    people, rows, now = crowd["people"], crowd["needs"], crowd["now"]
    cycle_id = rows["Rice"].cycle_id

    assert donation_jobs.ask_gaps(cycle_id) == "asked 6"

    db.expire_all()
    asks = db.execute(
        select(DonationAsk.cycle_need_id, DonationAsk.volunteer_id, DonationAsk.asked_at)
        .join(CycleNeed, CycleNeed.id == DonationAsk.cycle_need_id)
        .where(CycleNeed.cycle_id == cycle_id)
        .order_by(DonationAsk.id)
    ).all()
    rice, oil = rows["Rice"].id, rows["Oil"].id
    name_of = {person.id: name for name, person in people.items()}
    # rice is 2 short: two asks, never-asked first (by id); oil is 9 short: the rest, least
    # recently asked first; Gus is at the weekly limit, Eve paused, Fay opted out, Nia not
    # onboarded, Ana and Jo already give this week
    assert [(need, name_of[who]) for need, who, _ in asks] == [
        (rice, "ben"),
        (rice, "kim"),
        (oil, "hal"),
        (oil, "ivy"),
        (oil, "dev"),
        (oil, "chi"),
    ]
    assert {at for _, _, at in asks} == {now}
    for name in ("ben", "kim", "hal", "ivy", "dev", "chi"):
        person = db.get_one(Volunteer, people[name].id)
        assert person.last_asked_at == now, name
        expected = rice if name in ("ben", "kim") else oil
        assert person.pending_question is not None
        assert (person.pending_question["kind"], person.pending_question["id"]) == (
            "gap",
            expected,
        ), name
    assert db.get_one(Volunteer, people["gus"].id).last_asked_at == now - timedelta(days=6)

    drain(db, session_factory)
    asked_phones = sorted(m.to for m in fake_twilio.messages)
    assert asked_phones == sorted(
        people[n].phone for n in ("ben", "kim", "hal", "ivy", "dev", "chi")
    )
    assert texts(fake_twilio, people["ben"].phone) == [
        "Riverside Flood Crew still needs 2 kg Rice for Sat Mar 9. "
        "Reply with the amount you can bring (e.g. 5), or NO."
    ]
    assert texts(fake_twilio, people["hal"].phone)[0].startswith(
        "Riverside Flood Crew still needs 9 L Oil for Sat Mar 9."
    )

    # run again (a retry, or the sweep a minute later): everyone eligible was asked already
    assert donation_jobs.ask_gaps(cycle_id) == "asked 0"
    drain(db, session_factory)
    assert len(fake_twilio.messages) == 6


def test_a_reply_to_a_gap_ask_pledges_directly(
    db: Session,
    place: Community,
    crowd: dict[str, Any],
    fake_twilio: FakeTwilio,
    worker: Any,
    sms: SmsHelper,
) -> None:
    people, rows = crowd["people"], crowd["needs"]
    assert donation_jobs.ask_gaps(rows["Rice"].cycle_id) == "asked 6"

    hal = sms.send(people["hal"].phone, "3")
    ben = sms.send(people["ben"].phone, "5 kg")
    kim = sms.send(people["kim"].phone, "1")
    dev = sms.send(people["dev"].phone, "NO")
    ivy = sms.send(people["ivy"].phone, "2 weekly")

    assert hal[0].startswith("Thank you! 3 L Oil for Sat Mar 9 at Church hall.")
    assert ben[0].startswith(
        "Thank you! Only 2 kg Rice was still needed for Sat Mar 9, so we noted 2"
    )
    assert kim[0].startswith("Thank you! Rice is fully covered for Sat Mar 9 now.")
    assert dev[0].startswith("No problem, thanks for letting us know.")
    assert ivy[0].startswith("Thank you! 2 L Oil every week from Sat Mar 9")
    db.expire_all()
    cycle = db.get_one(Cycle, rows["Rice"].cycle_id)
    assert [(c.item, c.pledged) for c in donations.coverage(db, cycle)] == [
        ("Rice", 20),
        ("Oil", 6),
    ]
    given = db.execute(
        select(Pledge.volunteer_id, Pledge.quantity, Pledge.status).where(
            Pledge.cycle_need_id == rows["Oil"].id, Pledge.status == PledgeStatus.PLEDGED
        )
    ).all()
    assert sorted(given) == sorted(
        [
            (people["jo"].id, 1, PledgeStatus.PLEDGED),
            (people["hal"].id, 3, PledgeStatus.PLEDGED),
            (people["ivy"].id, 2, PledgeStatus.PLEDGED),
        ]
    )
    standing = db.scalars(select(StandingPledge)).one()
    assert (standing.volunteer_id, standing.quantity) == (people["ivy"].id, 2)
    # the question is answered: a second number is not another pledge
    assert db.get_one(Volunteer, people["hal"].id).pending_question is None
    db.commit()
    sms.send(people["hal"].phone, "4")
    db.expire_all()
    assert db.get_one(CycleNeed, rows["Oil"].id).pledged == 6


def test_gap_asks_wait_for_quiet_hours_to_end(
    db: Session,
    place: Community,
    crowd: dict[str, Any],
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
    worker: Any,
) -> None:
    cycle_id = crowd["needs"]["Rice"].cycle_id
    quiet(db, place, 21, 8)
    clock.freeze(local(7, 22))
    donations.plan_cycles(db, clock.now())
    db.commit()
    (row,) = [r for r in rows_of(db, donations.GAP_JOB) if r.payload == {"cycle_id": cycle_id}]

    assert (
        outbox_jobs.run_item(row.id) == f"deferred until {local(8, 8).astimezone(UTC).isoformat()}"
    )
    assert db.scalar(select(func.count()).select_from(DonationAsk)) == 2  # the fixture's old asks
    db.commit()

    clock.freeze(local(8, 8))
    assert outbox_jobs.run_item(row.id) == "asked 6"
    drain(db, session_factory)
    assert len(fake_twilio.messages) == 6


def test_gap_asks_are_not_sent_in_quiet_hours_that_outlast_the_drop_off_start(
    db: Session, place: Community, crowd: dict[str, Any], worker: Any
) -> None:
    quiet(db, place, 21, 11)
    clock.freeze(local(8, 22))
    assert donation_jobs.ask_gaps(crowd["needs"]["Rice"].cycle_id) == "asked 0"
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(DonationAsk)) == 2


def test_gap_asks_and_standing_checks_stop_when_the_cycle_is_over(
    db: Session, place: Community, crowd: dict[str, Any], worker: Any
) -> None:
    cycle_id = crowd["needs"]["Rice"].cycle_id
    clock.freeze(local(9, 12))
    assert donation_jobs.ask_gaps(cycle_id) == "skipped: cycle over"
    assert donation_jobs.check_standing(cycle_id) == "skipped: cycle over"
    assert donation_jobs.ask_gaps(cycle_id + 100) == "skipped: cycle over"
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(DonationAsk)) == 2


def test_the_ask_limit_follows_the_community_setting(
    db: Session, place: Community, crowd: dict[str, Any], worker: Any
) -> None:
    db.get_one(Community, place.id).ask_limit_per_week = 2
    db.commit()
    assert donation_jobs.ask_gaps(crowd["needs"]["Rice"].cycle_id) == "asked 5"  # not Chi
    db.expire_all()
    asked = set(db.scalars(select(DonationAsk.volunteer_id)))
    assert crowd["people"]["chi"].id not in asked
    assert crowd["people"]["dev"].id in asked  # one ask: still under two


# ----- standing pledges -----------------------------------------------------------------------
@pytest.fixture
def standing(db: Session, place: Community) -> dict[str, Any]:
    """Weekly pledges made for the 9 March cycle; it is now Wednesday 13 March 10:01, when the
    16 March cycle's standing checks are due."""
    first = cycle_needs(db, cycle_on(db, place, 9))
    people = {
        "ana": volunteer(db, place, 1),
        "ben": volunteer(db, place, 2, status=VolunteerStatus.PAUSED),
        "chi": volunteer(db, place, 3),
        "dev": volunteer(db, place, 4),
        "fay": volunteer(db, place, 5),
    }
    pledge(db, place, people["ana"], first["Oil"], 4, weekly=True)
    pledge(db, place, people["ben"], first["Rice"], 2, weekly=True)
    pledge(db, place, people["chi"], first["Rice"], 3, weekly=True)
    pledge(db, place, people["dev"], first["Oil"], 1, weekly=True)
    pledge(db, place, people["fay"], first["Rice"], 5, weekly=True)
    chi_standing = db.scalars(
        select(StandingPledge).where(StandingPledge.volunteer_id == people["chi"].id)
    ).one()
    chi_standing.active = False  # stopped giving weekly
    people["fay"].status = VolunteerStatus.OPTED_OUT
    second = cycle_needs(db, cycle_on(db, place, 16))
    clock.freeze(local(10, 12))
    pledge(db, place, people["dev"], second["Oil"], 1)  # Dev already pledged this week
    db.commit()
    clock.freeze(local(13, 10, 1))
    return {"people": people, "needs": second}


def test_standing_checks_ask_only_active_pledgers_who_have_not_pledged_yet(
    db: Session,
    place: Community,
    standing: dict[str, Any],
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
    worker: Any,
    sms: SmsHelper,
) -> None:
    people, rows = standing["people"], standing["needs"]
    cycle_id = rows["Oil"].cycle_id

    assert donation_jobs.check_standing(cycle_id) == "asked 1"
    assert donation_jobs.check_standing(cycle_id) == "asked 1"  # a rerun: the same message
    drain(db, session_factory)

    ana = people["ana"]
    ask = (
        "Riverside Flood Crew: will you bring 4 L Oil to Church hall, Sat Mar 16? Reply YES or NO."
    )
    assert [m.body for m in fake_twilio.messages] == [ask]
    assert fake_twilio.messages[0].to == ana.phone
    db.expire_all()
    ana_standing = db.scalars(
        select(StandingPledge).where(StandingPledge.volunteer_id == ana.id)
    ).one()
    pending = db.get_one(Volunteer, ana.id).pending_question
    assert pending is not None and (pending["kind"], pending["id"]) == ("standing", ana_standing.id)
    db.commit()

    reply = sms.send(ana.phone, "YES")

    assert reply[0].startswith("Thanks! 4 L Oil for Sat Mar 16 at Church hall is on the list.")
    db.expire_all()
    row = db.scalars(
        select(Pledge).where(Pledge.cycle_need_id == rows["Oil"].id, Pledge.volunteer_id == ana.id)
    ).one()
    assert (row.quantity, row.status, row.standing_id) == (
        4,
        PledgeStatus.PLEDGED,
        ana_standing.id,
    )
    assert db.get_one(CycleNeed, rows["Oil"].id).pledged == 5  # Dev's 1 and Ana's 4
    db.commit()
    assert donation_jobs.check_standing(cycle_id) == "asked 0"


def test_no_to_a_standing_check_skips_the_week(
    db: Session,
    place: Community,
    standing: dict[str, Any],
    worker: Any,
    sms: SmsHelper,
) -> None:
    people, rows = standing["people"], standing["needs"]
    assert donation_jobs.check_standing(rows["Oil"].cycle_id) == "asked 1"

    reply = sms.send(people["ana"].phone, "NO")

    assert reply[0].startswith("OK, we will skip this week")
    db.expire_all()
    assert db.get_one(CycleNeed, rows["Oil"].id).pledged == 1
    assert (
        db.scalar(select(func.count()).where(Pledge.volunteer_id == people["ana"].id))
        == 1  # only last week's
    )
