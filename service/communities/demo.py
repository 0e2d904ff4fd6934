"""Seed a demo community (``handsup demo``, and ``make run``). Safe to run twice.

The community, its owner login, eight volunteers, three upcoming shifts, a Saturday donation
cycle, and two weeks of history (``demo_history``) so Reports and the dashboard have figures.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.communities.accounts import create_coordinator
from service.communities.demo_history import add_history
from service.communities.registry import create_community
from service.db import utcnow
from service.models import ChannelKind, Community, Role, Volunteer
from service.rosters.donations import add_need, donation_schedule
from service.rosters.shifts import add_shift
from service.volunteers.import_export import import_volunteers

DEMO_SLUG = "demo"
DEMO_NUMBER = "+12025550100"
DEMO_EMAIL = "demo@example.org"
DEMO_PASSWORD = "handsup-demo"  # noqa: S105 - a published demo login for local use only
DEMO_VOLUNTEERS = """name,phone,language,skills
Ana Lopez,+12025550111,es,driver;first aid
Ben Carter,+12025550112,en,driver
Chitra Rao,+12025550113,en,cooking
Dev Patel,+12025550114,en,first aid
Elena Ruiz,+12025550115,es,cooking
Farah Haddad,+12025550116,en,
Gus Okafor,+12025550117,en,driver
Hana Kim,+12025550118,en,cooking
"""


@dataclass(frozen=True)
class DemoLogin:
    community: Community
    email: str
    password: str
    created: bool


def seed_demo(session: Session) -> DemoLogin:
    existing = session.scalar(select(Community).where(Community.slug == DEMO_SLUG))
    if existing is not None:
        return DemoLogin(existing, DEMO_EMAIL, DEMO_PASSWORD, created=False)
    community = create_community(
        session,
        name="Riverside Mutual Aid",
        slug=DEMO_SLUG,
        number=DEMO_NUMBER,
        country="US",
        timezone="America/New_York",
        help_contact="demo@example.org",
    )
    create_coordinator(
        session, community=community, email=DEMO_EMAIL, password=DEMO_PASSWORD, role=Role.OWNER
    )
    import_volunteers(session, community, io.StringIO(DEMO_VOLUNTEERS), source="demo", now=utcnow())
    # Demo volunteers live in the simulator: texts to them never need Twilio.
    simulator = community.channel(ChannelKind.SIMULATOR)
    for volunteer in session.scalars(
        select(Volunteer).where(Volunteer.community_id == community.id)
    ):
        volunteer.preferred_channel_id = simulator.id if simulator else None
    add_history(session, community, utcnow())
    add_demo_shifts(session, community, utcnow())
    add_demo_needs(session, community)
    return DemoLogin(community, DEMO_EMAIL, DEMO_PASSWORD, created=True)


def add_demo_needs(session: Session, community: Community) -> None:
    """A Saturday donation cycle so GIVE has something to show."""
    for item, quantity, unit in (
        ("Rice", 20, "kg"),
        ("Cooking oil", 10, "L"),
        ("Drivers for route 3", 2, "people"),
    ):
        add_need(session, community, weekday=5, item=item, quantity=quantity, unit=unit)
    donation_schedule(session, community).place = "Church hall, 12 Elm St"


def add_demo_shifts(session: Session, community: Community, now: datetime) -> None:
    """Three upcoming shifts so SHIFTS has something to show (one needs the driver skill)."""
    zone = ZoneInfo(community.timezone)
    today = now.astimezone(zone).date()
    for days, start, hours, title, place, capacity, skill in (
        (1, 9, 4, "Sandbag team", "School gym", 3, None),
        (2, 17, 3, "Shelter kitchen", "Church hall", 2, None),
        (3, 10, 2, "Supply run", "Depot, 4 Mill Rd", 1, "driver"),
    ):
        starts = datetime.combine(today + timedelta(days=days), time(start), tzinfo=zone)
        add_shift(
            session,
            community,
            title=title,
            place=place,
            starts_at=starts,
            ends_at=starts + timedelta(hours=hours),
            capacity=capacity,
            skill=skill,
        )
