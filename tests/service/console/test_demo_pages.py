"""The demo that ``make run`` seeds has two weeks of history: Reports and the dashboard show
real figures and a chart on first run, and nothing old is left for the worker to send."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.communities import demo
from service.db import unit_of_work
from service.models import (
    Broadcast,
    CallOut,
    CallOutAsk,
    CallOutStatus,
    Community,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    OutboxItem,
)
from service.web.console.read_models.reports import (
    Period,
    fill_rate,
    hours_served,
    no_show_rate,
)
from tests.service.console.conftest import ConsoleClient


@pytest.fixture
def seeded(session_factory: sessionmaker[Session]) -> Community:
    with unit_of_work(session_factory) as session:
        login = demo.seed_demo(session)
        assert login.created
        return login.community


def test_the_demo_has_two_weeks_of_attendance(
    seeded: Community, session_factory: sessionmaker[Session]
) -> None:
    with unit_of_work(session_factory) as session:
        community = session.get_one(Community, seeded.id)
        period = Period.ending(community, clock.now(), 3)
        hours = hours_served(session, community, period)
        fill, no_show = (
            fill_rate(session, community, period),
            no_show_rate(session, community, period),
        )
    assert len({row.volunteer_id for row in hours}) >= 6
    assert sum(row.minutes for row in hours) > 40 * 60
    assert fill.whole >= 20 and fill.value is not None and 0.8 < fill.value <= 1
    assert no_show.part == 2


def test_the_demo_has_delivered_broadcasts_and_an_answered_call_out(
    seeded: Community, session_factory: sessionmaker[Session]
) -> None:
    with unit_of_work(session_factory) as session:
        broadcasts = session.scalars(select(Broadcast)).all()
        statuses = session.scalars(
            select(Message.status).where(Message.kind == MessageKind.BROADCAST)
        ).all()
        callout = session.scalars(select(CallOut)).one()
        answers = session.scalars(
            select(CallOutAsk.answer).where(CallOutAsk.callout_id == callout.id)
        ).all()
        # The history is history: nothing due is left for make run's worker to send.
        waiting = session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.direction == Direction.OUTBOUND,
                Message.status.not_in((MessageStatus.DELIVERED, MessageStatus.REPLIED)),
            )
        )
        jobs = session.scalar(
            select(func.count())
            .select_from(OutboxItem)
            .where(OutboxItem.done_at.is_(None), OutboxItem.available_at <= clock.now())
        )
    assert len(broadcasts) == 2 and all(b.created_at < clock.now() for b in broadcasts)
    assert statuses and set(statuses) == {MessageStatus.DELIVERED}
    assert callout.status == CallOutStatus.FILLED and callout.filled == callout.need == 2
    assert sorted(a for a in answers if a) == ["no", "yes", "yes"]
    assert waiting == 0 and jobs == 0


def test_reports_and_dashboard_show_the_demo_figures(
    seeded: Community, console_for: Callable[[], ConsoleClient]
) -> None:
    browser = console_for()
    assert browser.login(demo.DEMO_EMAIL, demo.DEMO_PASSWORD).status_code == 302
    reports = browser.text("/console/reports")
    fill = reports.split('id="fill-rate"', 1)[1].split("</section>", 1)[0]
    assert re.search(r"\b(8\d|9\d|100)%", fill), fill
    assert "n/a" not in reports
    total = re.search(r"([\d.]+) hour\(s\) in all", reports)
    assert total and float(total.group(1)) > 40
    chart = re.search(r"<svg[^>]*hours-chart-title.*?</svg>", reports, re.S)
    assert chart, "the hours chart"
    heights = [float(h) for h in re.findall(r'<rect[^>]*height="([\d.]+)"', chart[0])]
    assert any(h > 10 for h in heights), chart[0]
    dashboard = browser.text("/console/")
    assert "Is the church hall open early on Saturday?" in dashboard  # a recent text


def test_seeding_twice_adds_no_second_history(
    seeded: Community, session_factory: sessionmaker[Session]
) -> None:
    with unit_of_work(session_factory) as session:
        assert not demo.seed_demo(session).created
        assert session.scalar(select(func.count()).select_from(Broadcast)) == 2
