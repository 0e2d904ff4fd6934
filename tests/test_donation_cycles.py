"""Two weekly donation cycles driven by signed webhooks and the fake Twilio server, with a
frozen clock: needs, pledges (one capped), day-before reminders once each, DONE, a gap ask
that skips paused, opted-out and already-giving volunteers, and a standing pledge that rolls
into the second cycle after YES."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service import clock
from service.cli import main as cli
from service.config import Settings
from service.db import unit_of_work
from service.models import Community, Message, Pledge, PledgeStatus, Volunteer
from service.rosters import donations
from service.sending import outbox
from tests.conftest import SmsHelper
from tests.fakes.twilio_server import FakeTwilio
from workers.worker import HandsUpWorker

ZONE = ZoneInfo("America/New_York")
ANA, BEN, CHI, DEV, EVE, FAY = (f"+1202555013{i}" for i in range(1, 7))


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 3, day, hour, minute, tzinfo=ZONE)  # Mon 4 March 2030 ... Sat 9


@pytest.fixture
def frozen() -> Iterator[None]:
    yield
    clock.freeze(None)


def at(moment: datetime, session_factory: sessionmaker[Session], redis: Redis) -> None:
    """Move the clock, then do what the worker does: plan cycles, run what is due."""
    clock.freeze(moment)
    with unit_of_work(session_factory) as session:
        donations.plan_cycles(session, clock.now())
    while outbox.enqueue_due(session_factory, redis):  # jobs may queue further sends
        HandsUpWorker(list(outbox.QUEUES), connection=redis).work(burst=True)


def coverage(settings: Settings) -> list[list[str]]:
    result = CliRunner().invoke(
        cli,
        ["needs", "--community", "riverside"],
        env={
            "HANDSUP_ENV": "test",
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url or "",
        },
    )
    assert result.exit_code == 0, result.output
    return list(csv.reader(io.StringIO(result.stdout)))


def texts_to(fake: FakeTwilio, phone: str, start: str) -> list[str]:
    return [m.body for m in fake.sent_to(phone) if m.body.startswith(start)]


def test_two_weekly_cycles(
    sms: SmsHelper,
    community: Community,
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
    worker: Any,
    redis: Redis,
    db: Session,
    settings: Settings,
    frozen: None,
) -> None:
    clock.freeze(local(4, 10))  # Monday
    with unit_of_work(session_factory) as session:
        place = session.get_one(Community, community.id)
        place.quiet_start_minute, place.quiet_end_minute = 21 * 60, 8 * 60
        donations.add_need(session, place, weekday=5, item="Rice", quantity=20, unit="kg")
        donations.add_need(session, place, weekday=5, item="Oil", quantity=10, unit="L")
        schedule = donations.donation_schedule(session, place)
        schedule.place = "Church hall"

    for phone, name in (
        (ANA, "Ana"),
        (BEN, "Ben"),
        (CHI, "Chi"),
        (DEV, "Dev"),
        (EVE, "Eve"),
        (FAY, "Fay"),
    ):
        sms.join(phone, name)
    sms.send(EVE, "PAUSE")
    sms.send(FAY, "STOP")

    # GIVE lists what is missing; three volunteers pledge rice, the third is capped.
    menu = sms.send(ANA, "GIVE")[0]
    assert "1) Rice: 20 of 20 kg still needed" in menu and "2) Oil: 10 of 10 L" in menu
    assert sms.send(ANA, "1 5")[0].startswith("Thank you! 5 kg Rice for Sat Mar 9 at Church hall.")
    sms.send(BEN, "GIVE")
    assert "Rice: how many kg can you bring?" in sms.send(BEN, "1")[0]
    assert sms.send(BEN, "12 kg")[0].startswith("Thank you! 12 kg Rice")
    sms.send(CHI, "GIVE")
    capped = sms.send(CHI, "1 10")[0]
    assert capped.startswith("Thank you! Only 3 kg Rice was still needed for Sat Mar 9")
    # Ana also brings 4 L of oil every week.
    assert sms.send(ANA, "GIVE")[0].splitlines()[1] == "1) Oil: 10 of 10 L still needed"
    assert "every week" in sms.send(ANA, "1 4 weekly")[0]
    assert coverage(settings)[1:] == [["Rice", "20", "20", "0", "kg"], ["Oil", "10", "4", "0", "L"]]

    # Thursday 10:00, 48 h before: the oil gap is asked of Dev only (Ana, Ben and Chi gave,
    # Eve is paused, Fay opted out).
    at(local(7, 10, 1), session_factory, redis)
    gap_asks = [m for m in fake_twilio.messages if "still needs" in m.body]
    assert [m.to for m in gap_asks] == [DEV]
    assert gap_asks[0].body.startswith("Riverside Flood Crew still needs 6 L Oil for Sat Mar 9.")
    assert sms.send(DEV, "6")[0].startswith("Thank you! 6 L Oil for Sat Mar 9")

    # Friday 18:00: one reminder per pledge, sent once even if the worker runs twice.
    at(local(8, 18, 1), session_factory, redis)
    at(local(8, 18, 2), session_factory, redis)
    assert len(texts_to(fake_twilio, ANA, "Reminder: bring")) == 2  # rice and oil
    for phone in (BEN, CHI, DEV):
        assert len(texts_to(fake_twilio, phone, "Reminder: bring")) == 1, phone
    assert texts_to(fake_twilio, BEN, "Reminder")[0].startswith(
        "Reminder: bring 12 kg Rice to Church hall tomorrow, 10am-12pm."
    )
    assert fake_twilio.sent_to(EVE) == [] and fake_twilio.sent_to(FAY) == []

    # Saturday: two mark DONE.
    clock.freeze(local(9, 10, 30))
    assert sms.send(ANA, "DONE")[0].startswith("Thank you! We marked 2 donations delivered.")
    assert sms.send(BEN, "DONE")[0].startswith("Thank you! We marked your donation delivered.")
    assert coverage(settings)[1:] == [
        ["Rice", "20", "20", "17", "kg"],
        ["Oil", "10", "10", "4", "L"],
    ]

    # Second cycle: on Wednesday Ana is asked about her standing pledge and says YES.
    at(local(10, 12), session_factory, redis)  # Sunday: the next cycle is planned
    assert coverage(settings)[1:] == [["Rice", "20", "0", "0", "kg"], ["Oil", "10", "0", "0", "L"]]
    at(local(13, 10, 1), session_factory, redis)
    checks = texts_to(fake_twilio, ANA, "Riverside Flood Crew: will you bring")
    assert checks == [
        "Riverside Flood Crew: will you bring 4 L Oil to Church hall, Sat Mar 16? Reply YES or NO."
    ]
    assert sms.send(ANA, "YES")[0].startswith("Thanks! 4 L Oil for Sat Mar 16")
    assert coverage(settings)[1:][1] == ["Oil", "10", "4", "0", "L"]

    # Thursday: gap asks for the second cycle go to volunteers least recently asked first,
    # never to Eve (paused) or Fay (opted out), and not to Ana, who gives this cycle.
    at(local(14, 10, 1), session_factory, redis)
    second = [m.to for m in fake_twilio.messages if "still needs" in m.body][1:]
    assert EVE not in second and FAY not in second and ANA not in second
    # The asks are queued in that order (send lanes may deliver them in any order).
    db.expire_all()
    queued = db.scalars(
        select(Message.to_address)
        .where(Message.body.contains("still needs"), Message.body.contains("Sat Mar 16"))
        .order_by(Message.id)
    ).all()
    assert sorted(queued) == sorted(second)
    asked_order = list(dict.fromkeys(queued))
    assert asked_order.index(BEN) < asked_order.index(DEV)  # Dev was asked last week
    db.expire_all()
    ana = db.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one()
    assert ana.status == VolunteerStatus.ACTIVE
    assert (
        db.scalars(select(Pledge.status).where(Pledge.volunteer_id == ana.id))
        .all()
        .count(PledgeStatus.DELIVERED)
        == 2
    )
