"""Where an inbound text goes: the channel texted, its community, whether that community runs
donations, and whether the sender is itself a service number; cached per process for a short
time. Imports SQLAlchemy, ``service.models`` and ``service.rosters.donations`` only.

The rule (issue 18): every web and worker process keeps what it read for ``TTL_SECONDS``;
after that the next text reads the database again (texts that arrive while it does keep the
old entry for up to ``REFRESH_SECONDS`` more, rather than each reading it too). So a change
to a channel or a community (its name, help contact, time zone, language, Messaging Service,
templates; a new channel; a donation need turned on or off) reaches every process within
2.5 s, and the process that made it at once (``forget_all``, called by the console's
settings page). Channels and communities are never deleted by HandsUp; one removed by hand
stops being served within 2.5 s too. The cache is on only where ``cache_destinations``
turned it on for an engine (``create_app`` and the worker's runtime outside the test
environment, whose tests change a community between two texts); without it each text reads
the destination in one query as before.

A cached channel and community are detached copies; each text gets its own instance in its
session (``Session.merge(load=False)``: no SQL), so a request never shares a mutable row with
another greenlet, and anything it changes is flushed as usual.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar, cast

from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session, aliased, make_transient_to_detached

from service.db import Base
from service.models import Channel, ChannelKind, Community
from service.rosters.donations import runs_donations

TTL_SECONDS = 2.0
# Once an entry has expired, the text that found it so reads it again; texts arriving
# meanwhile go on with the old one for up to this long, instead of each reading it too (under
# surge hundreds of texts are in flight in a process, waiting for a connection).
REFRESH_SECONDS = 0.5
RowT = TypeVar("RowT", bound=Base)


@dataclass(frozen=True)
class Destination:
    channel: Channel
    community: Community
    has_donations: bool
    from_service: bool  # the sender is a channel address of this or another community


@dataclass(frozen=True)
class _Entry:
    expires: float
    channel: Channel  # detached copies, never attached to a session
    community: Community
    has_donations: bool


class DestinationCache:
    """The destinations of one engine's texts, and every channel address, for ``ttl`` s."""

    def __init__(self, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[tuple[ChannelKind, str], _Entry] = {}
        self._addresses: tuple[float, frozenset[str]] = (float("-inf"), frozenset())
        self._lock = threading.Lock()

    def forget(self) -> None:
        with self._lock:
            self._entries.clear()
            self._addresses = (float("-inf"), frozenset())

    def find(
        self,
        session: Session,
        kind: ChannelKind,
        to: str,
        sender: str,
        *,
        attach: bool = True,
    ) -> Destination | None:
        now = self.clock()
        entry = self._entries.get((kind, to))
        expires, addresses = self._addresses
        if entry is not None and entry.expires > now and expires > now:
            if not attach:  # the shared copies themselves: to be read, never changed
                return Destination(
                    entry.channel, entry.community, entry.has_donations, sender in addresses
                )
            return Destination(
                session.merge(entry.channel, load=False),
                session.merge(entry.community, load=False),
                entry.has_donations,
                sender in addresses,
            )
        with self._lock:  # this text reads it again; the others keep the old one meanwhile
            if entry is not None:
                self._entries[(kind, to)] = replace(entry, expires=now + REFRESH_SECONDS)
            if expires <= now:
                self._addresses = (now + REFRESH_SECONDS, addresses)
        found = read_destination(session, kind, to, sender)
        if expires <= now:
            fresh = frozenset(session.scalars(select(Channel.address)))
            with self._lock:
                self._addresses = (now + self.ttl, fresh)
        if found is not None:
            copy = _Entry(
                now + self.ttl,
                _detached_copy(found.channel),
                _detached_copy(found.community),
                found.has_donations,
            )
            with self._lock:
                self._entries[(kind, to)] = copy
        return found


def read_destination(
    session: Session, kind: ChannelKind, to: str, sender: str
) -> Destination | None:
    """The destination from the database, in one query."""
    service_number = aliased(Channel)
    from_service = select(service_number.id).where(service_number.address == sender)
    found = session.execute(
        select(Channel, Community, runs_donations(Community.id), from_service.exists())
        .join(Community, Community.id == Channel.community_id)
        .where(Channel.kind == kind, Channel.address == to)
    ).one_or_none()
    if found is None:
        return None
    return Destination(found[0], found[1], bool(found[2]), bool(found[3]))


def _detached_copy(row: RowT) -> RowT:
    """A clean, detached instance with ``row``'s column values and identity."""
    mapper = inspect(row).mapper
    copy = cast(RowT, mapper.class_())
    for attribute in mapper.column_attrs:
        setattr(copy, attribute.key, getattr(row, attribute.key))
    make_transient_to_detached(copy)
    return copy


_caches: weakref.WeakKeyDictionary[Engine, DestinationCache] = weakref.WeakKeyDictionary()


def cache_destinations(engine: Engine, ttl: float = TTL_SECONDS) -> DestinationCache:
    """Cache the destinations of texts read through ``engine`` (one web process's engine)."""
    cache = _caches[engine] = DestinationCache(ttl)
    return cache


def find_destination(
    session: Session,
    kind: ChannelKind,
    to: str,
    sender: str,
    *,
    attach: bool = True,
) -> Destination | None:
    """The destination of a text to ``to``: from the engine's cache when it has one. Without
    ``attach`` a cached channel and community are the cache's own detached copies (no merge
    into the session): for a caller that only reads their columns."""
    bind = session.get_bind()
    cache = _caches.get(bind) if isinstance(bind, Engine) else None
    if cache is None:
        return read_destination(session, kind, to, sender)
    return cache.find(session, kind, to, sender, attach=attach)


def forget_all() -> None:
    """Drop every cached destination of this process (after a change to a community)."""
    for cache in list(_caches.values()):
        cache.forget()
