"""The per-process cache of where an inbound text goes (``service.conversations.destinations``):
it serves the channel and community without a query while fresh, gives each session its own
instance, sees a change once its TTL has passed or at once after ``forget_all``, and answers
"is the sender a service number" for any community's number."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from service.communities.registry import create_community
from service.conversations import destinations
from service.conversations.destinations import DestinationCache
from service.db import unit_of_work
from service.models import ChannelKind, Community
from tests.conftest import COMMUNITY_NUMBER, SmsHelper

OTHER_NUMBER = "+12025550300"
VOLUNTEER = "+13035550123"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rename(factory: sessionmaker[Session], community_id: int, name: str) -> None:
    with unit_of_work(factory) as session:
        session.get_one(Community, community_id).name = name


def cached_then_renamed(
    factory: sessionmaker[Session], community: Community
) -> tuple[Clock, DestinationCache]:
    """A cache with a 2 s TTL on a test clock that has read the community's destination,
    and the community renamed since."""
    clock = Clock()
    cache = DestinationCache(ttl=2.0, clock=clock)
    with factory() as session:
        first = cache.find(session, ChannelKind.SMS, COMMUNITY_NUMBER, VOLUNTEER)
        assert first is not None and first.community.name == community.name
    rename(factory, community.id, "Renamed Circle")
    return clock, cache


def test_a_fresh_entry_is_served_without_a_query_and_a_stale_one_is_read_again(
    session_factory: sessionmaker[Session], community: Community, statements: list[str]
) -> None:
    clock, cache = cached_then_renamed(session_factory, community)
    statements.clear()
    clock.now += 1.9
    with session_factory() as session:
        cached = cache.find(session, ChannelKind.SMS, COMMUNITY_NUMBER, VOLUNTEER)
        assert cached is not None
        assert statements == []  # no query while fresh
        assert cached.community.name == community.name  # at most TTL seconds stale
        assert cached.community in session and cached.channel in session
        assert cached.channel.community_id == community.id
    clock.now += 0.2
    with session_factory() as session:
        fresh = cache.find(session, ChannelKind.SMS, COMMUNITY_NUMBER, VOLUNTEER)
        assert fresh is not None and fresh.community.name == "Renamed Circle"
        assert statements  # read again


def test_while_one_text_reads_an_expired_entry_again_the_others_keep_the_old_one(
    session_factory: sessionmaker[Session], community: Community, statements: list[str]
) -> None:
    clock, cache = cached_then_renamed(session_factory, community)
    clock.now += 2.0
    with session_factory() as session:  # the text that found it expired: its read fails
        session.connection().invalidate()
        with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
            cache.find(session, ChannelKind.SMS, COMMUNITY_NUMBER, VOLUNTEER)
    statements.clear()
    clock.now += destinations.REFRESH_SECONDS - 0.125
    with session_factory() as session:  # a text meanwhile: the old entry, no query
        meanwhile = cache.find(session, ChannelKind.SMS, COMMUNITY_NUMBER, VOLUNTEER)
        assert meanwhile is not None and meanwhile.community.name == community.name
        assert statements == []
    clock.now += 0.125
    with session_factory() as session:  # no fresh read came back in time: read again
        fresh = cache.find(session, ChannelKind.SMS, COMMUNITY_NUMBER, VOLUNTEER)
        assert fresh is not None and fresh.community.name == "Renamed Circle"
        assert statements


def test_each_session_gets_its_own_instance_and_changes_do_not_leak_into_the_cache(
    session_factory: sessionmaker[Session], community: Community
) -> None:
    cache = DestinationCache(ttl=60.0)
    with session_factory() as session:
        cache.find(session, ChannelKind.SMS, COMMUNITY_NUMBER, VOLUNTEER)
    with session_factory() as one, session_factory() as two:
        a = cache.find(one, ChannelKind.SMS, COMMUNITY_NUMBER, VOLUNTEER)
        b = cache.find(two, ChannelKind.SMS, COMMUNITY_NUMBER, VOLUNTEER)
        assert a is not None and b is not None
        assert a.community is not b.community
        a.community.help_contact = "changed in one request"
        assert b.community.help_contact != "changed in one request"
        one.rollback()
    with session_factory() as session:
        again = cache.find(session, ChannelKind.SMS, COMMUNITY_NUMBER, VOLUNTEER)
        assert again is not None and again.community.help_contact == community.help_contact


def test_any_communitys_number_is_a_service_sender_and_an_unknown_number_is_none(
    session_factory: sessionmaker[Session], community: Community
) -> None:
    cache = DestinationCache(ttl=60.0)
    with unit_of_work(session_factory) as session:
        create_community(
            session,
            name="Hillside",
            slug="hillside",
            number=OTHER_NUMBER,
            country="US",
            timezone="America/New_York",
        )
    with session_factory() as session:
        for _ in range(2):  # a miss, then a hit
            found = cache.find(session, ChannelKind.SMS, COMMUNITY_NUMBER, OTHER_NUMBER)
            assert found is not None and found.from_service
            found = cache.find(session, ChannelKind.SMS, COMMUNITY_NUMBER, VOLUNTEER)
            assert found is not None and not found.from_service
        assert cache.find(session, ChannelKind.SMS, "+12025550999", VOLUNTEER) is None


def test_forget_all_makes_the_next_text_see_a_change_at_once(
    app: Flask, sms: SmsHelper, session_factory: sessionmaker[Session], community: Community
) -> None:
    """With the cache on (as in production): a text within the TTL of a change sees the old
    settings, and after ``forget_all`` (the console's settings page calls it) the new ones."""
    engine = app.extensions["handsup"].engine
    destinations.cache_destinations(engine, ttl=3600.0)
    sms.join(VOLUNTEER)
    rename(session_factory, community.id, "Renamed Circle")
    with session_factory() as session:
        assert session.scalar(select(Community.name)) == "Renamed Circle"
    stale = " ".join(sms.send(VOLUNTEER, "HELP"))
    destinations.forget_all()
    fresh = " ".join(sms.send(VOLUNTEER, "HELP"))
    assert "Renamed Circle" not in stale and community.name in stale
    assert "Renamed Circle" in fresh


def test_a_cached_row_is_this_sessions_persistent_instance_and_its_changes_are_written(
    session_factory: sessionmaker[Session], community: Community
) -> None:
    """As ``Session.merge(load=False)`` gave it: attached, with no history and no query, the
    same instance for a second find in the session, and a change to it flushed as usual."""
    cache = DestinationCache(ttl=60.0)
    with session_factory() as session:
        cache.find(session, ChannelKind.SMS, COMMUNITY_NUMBER, VOLUNTEER)
    with session_factory() as session:
        found = cache.find(session, ChannelKind.SMS, COMMUNITY_NUMBER, VOLUNTEER)
        assert found is not None
        state = inspect(found.community)
        assert state.persistent and found.community in session and not session.dirty
        assert found.community.name == community.name and found.channel.address
        again = cache.find(session, ChannelKind.SMS, COMMUNITY_NUMBER, VOLUNTEER)
        assert again is not None and again.community is found.community
        found.community.help_contact = "+12025550199"
        session.commit()
    with session_factory() as session:
        stored = session.get_one(Community, community.id)
        assert stored.help_contact == "+12025550199"
