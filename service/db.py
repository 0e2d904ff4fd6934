"""Database plumbing: the declarative base, UTC timestamps, engine and session factories.

Models never commit; the caller (a request, a job, a CLI command) owns the unit of work.
Imports SQLAlchemy only.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, Enum, MetaData, Table, create_engine, event, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def str_enum(enum_class: type[StrEnum], length: int = 16) -> Enum:
    """Store a StrEnum as its value in a plain string column; load it back as the enum."""
    return Enum(
        enum_class,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def set_changed(row: object, **values: Any) -> list[str]:
    """Set each of ``row``'s attributes whose value differs from the one given; returns their
    names, in the order given. An attribute set to its own value still puts the row in the
    session's next flush, whose unit of work then compares every column of it (issue 18)."""
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    for name in changed:
        setattr(row, name, values[name])
    return changed


# A pooled connection idle for longer than this is pinged before use (see ``make_engine``).
PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with per-backend settings: SQLite gets foreign keys, WAL and a busy timeout.

    Elsewhere a pooled connection is pinged on checkout only when it has been idle for over
    ``PING_AFTER_IDLE_SECONDS`` (``pool_pre_ping=True`` pings every checkout: a round trip on
    every webhook, issue 18). A connection used a moment ago was alive then; one that a
    restart or failover broke since is caught by the first statement, whose disconnect error
    makes SQLAlchemy invalidate every pooled connection older than it, so the next checkout
    connects afresh. The webhook retries once on such an error
    (``service.web.twilio_webhooks``); other requests answer 503 (``service.web.unavailable``).
    """
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_after_idle(engine)
    return engine


def _ping_after_idle(engine: Engine) -> None:
    """Ping a connection on checkout when it has sat in the pool for a while (a restart, an
    idle timeout or a network blip may have cut it); recently used ones go out unpinged."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new, or used a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                # the pool drops every connection older than this one and connects afresh
                raise sa_exc.InvalidatePoolError() from error
            raise


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def take_sqlite_write_lock(session: Session) -> None:
    """On SQLite, start the transaction with a write so it holds the database lock.

    SQLite ignores ``SELECT ... FOR UPDATE``; a deferred transaction that reads and then
    writes can interleave with another. A first statement that writes (waiting on
    ``busy_timeout``) serialises read-modify-write sections the way row locks do elsewhere.
    No-op on other databases, which use ``with_for_update()``.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    dbapi_connection = session.connection().connection.dbapi_connection
    if dbapi_connection is not None and not dbapi_connection.in_transaction:
        session.execute(text("BEGIN IMMEDIATE"))


def insert_unless_present(
    dialect_name: str, model: type[Base] | Table, unique_column: str
) -> postgresql.Insert | sqlite.Insert:
    """``INSERT ... ON CONFLICT (unique_column) DO NOTHING`` for this kind of database
    (``session.get_bind().dialect.name``, ``connection.dialect.name``).

    ``model`` a mapped class (an ORM insert) or its ``Table`` (a Core one, cheaper when the
    caller needs no entity back). Add ``.values(...)`` and ``.returning(...)``: no row comes
    back when one with the same value exists. On PostgreSQL an insert that meets a concurrent,
    uncommitted twin waits for it to commit (then skips) or roll back (then inserts), so
    exactly one of them wins.
    """
    if dialect_name == "sqlite":
        return sqlite.insert(model).on_conflict_do_nothing(index_elements=[unique_column])
    return postgresql.insert(model).on_conflict_do_nothing(index_elements=[unique_column])


@functools.cache
def insert_id_unless_present(dialect_name: str, table: Table, unique_column: str) -> Executable:
    """``insert_unless_present`` of a Core ``table`` returning the new row's ``id`` (no row when
    one with the same value exists), built once per database kind and table: the row goes as
    the execute's parameters (building it per row would repeat SQLAlchemy's coercion)."""
    return insert_unless_present(dialect_name, table, unique_column).returning(table.c.id)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One session, committed when the block succeeds, rolled back when it raises."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# A PostgreSQL restart, failover or network blip, an invalidated connection, a pool timeout.
_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def is_database_unavailable(error: BaseException) -> bool:
    """True for errors that mean "the database cannot be reached now", not "this is a bug"."""
    if isinstance(error, _UNAVAILABLE):
        return True
    return isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated


def describe_error(error: BaseException) -> str:
    """The driver's first line (no SQL, no bound parameters: those may hold phone numbers)."""
    original = getattr(error, "orig", None) or error
    first_line = (str(original).strip().splitlines() or [""])[0]
    return f"{type(original).__name__}: {first_line[:200]}"
