"""The big database for ``bench.webhook_load --scale``: 1,000 communities, 200,000 volunteers
and 5,000,000 message rows in PostgreSQL (``handsup_scale`` on the load database's server).

999 filler communities (198 or 199 volunteers each, 25 messages per volunteer over the past year:
inbound texts with their replies and a delivered broadcast) are generated once with COPY (via
psycopg, FK triggers off for the session, the plain ``ix_messages_*`` indexes dropped during the
copy and rebuilt after), in one transaction, then ANALYZEd; a later run finds them and skips
the generation (``--rebuild`` forces it). Before each load run the load community (``bench-load``:
2,000 volunteers, the shift and call-out of ``bench.webhook_load``, 50,000 messages of history)
is deleted and created again, so runs start from the same state and the totals stay at 1,000 /
200,000 / 5,000,000 (plus what the run itself adds).

Run alone to build (or check) the data: ``.venv/bin/python -m bench.data_scale
[--database-url URL] [--rebuild]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import make_url, select, text

from bench.webhook_load import (
    COMMUNITY_NUMBER,
    COMMUNITY_SLUG,
    DEFAULT_DATABASE_URL,
    VOLUNTEERS,
    analyze,
    check_urls,
    phones_for,
    seed_load_community,
)
from service import migrate
from service.config import normalize_database_url
from service.db import make_engine, make_session_factory, unit_of_work

SCALE_DATABASE = "handsup_scale"
COMMUNITIES = 1_000
TOTAL_VOLUNTEERS = 200_000
TOTAL_MESSAGES = 5_000_000
FILLERS = COMMUNITIES - 1
FILLER_VOLUNTEERS = TOTAL_VOLUNTEERS - VOLUNTEERS  # 198,000: 198 or 199 per filler
MESSAGES_PER_VOLUNTEER = TOTAL_MESSAGES // TOTAL_VOLUNTEERS  # 25
FILLER_PREFIX = "filler-"
INBOUND_TEXTS = ("YES", "SHIFTS", "1", "MY", "HELP", "NO", "GIVE", "IN", "OUT", "DONE")
REPLY_TEXT = (
    "You are on Sandbags, Sat 9:00 at School gym. We will remind you the day before. "
    "Text MY to see your shifts, DROP 1 to drop it."
)
BROADCAST_TEXT = "Sandbags are needed at the school gym at noon. Bring gloves if you have them."
MESSAGE_COLUMNS = (
    "community_id",
    "channel_id",
    "volunteer_id",
    "direction",
    "kind",
    "twilio_sid",
    "from_address",
    "to_address",
    "body",
    "num_media",
    "status",
    "segments",
    "encoding",
    "priority",
    "not_before",
    "attempts",
    "created_at",
    "updated_at",
    "processed_at",
    "sent_at",
)


@dataclass(frozen=True)
class ScaleTarget:
    """The load community's number and its volunteers' phones."""

    number: str
    phones: list[str]


def default_url(load_url: str) -> str:
    """``handsup_scale`` on the load database's server."""
    url = make_url(normalize_database_url(load_url or DEFAULT_DATABASE_URL))
    return url.set(database=SCALE_DATABASE).render_as_string(hide_password=False)


def psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_database(url: str) -> None:
    from bench.broadcast import ensure_postgres_database

    ensure_postgres_database(url)


def fillers_present(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.scalar(
                text("SELECT count(*) FROM communities WHERE slug LIKE :p"),
                {"p": FILLER_PREFIX + "%"},
            )
    finally:
        engine.dispose()
    return int(found or 0)


def table_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table: int(connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
                for table in ("communities", "volunteers", "messages")
            }
    finally:
        engine.dispose()


def prepare(url: str, rebuild: bool = False) -> ScaleTarget:
    """Create and migrate the database; generate the fillers unless present."""
    ensure_database(url)
    if rebuild:
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    migrate.upgrade(url)
    present = fillers_present(url)
    if present == FILLERS:
        print(f"data scale: {FILLERS} filler communities present, generation skipped")
    else:
        if present:
            raise SystemExit(
                f"{present} of {FILLERS} filler communities in {url}: rerun with --rebuild"
            )
        generate_fillers(url)
    return ScaleTarget(COMMUNITY_NUMBER, phones_for(VOLUNTEERS))


def generate_fillers(url: str) -> None:
    started = time.perf_counter()
    now = datetime.now(UTC)
    with psycopg.connect(psycopg_url(url)) as connection:
        connection.execute("SET session_replication_role = replica")  # no FK triggers
        connection.execute("SET synchronous_commit = off")
        connection.execute("SET maintenance_work_mem = '256MB'")
        communities = insert_communities(connection, now)
        volunteers = copy_volunteers(connection, communities, now)
        print(f"data scale: {len(volunteers):,} filler volunteers copied", flush=True)
        indexes = connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'messages' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        rows = copy_messages(connection, communities, volunteers, now, "SMf")
        print(f"data scale: {rows:,} filler messages copied", flush=True)
        for _, definition in indexes:
            connection.execute(definition)
        connection.commit()
    engine = make_engine(url)
    analyze(engine)
    engine.dispose()
    print(f"data scale: fillers generated in {time.perf_counter() - started:.0f} s", flush=True)


def filler_number(n: int) -> str:
    return f"+1{4_045_550_000 + n}"


def insert_communities(
    connection: psycopg.Connection[Any], now: datetime
) -> dict[int, tuple[int, str]]:
    """The filler communities and their SMS and simulator channels: id -> (sms channel id,
    number)."""
    result: dict[int, tuple[int, str]] = {}
    with connection.cursor() as cursor:
        for n in range(FILLERS):
            number = filler_number(n)
            cursor.execute(
                "INSERT INTO communities (name, slug, country, timezone, help_contact, "
                "quiet_start_minute, quiet_end_minute, ask_limit_per_week, whatsapp_templates, "
                "require_totp, protect_numbers, two_person_broadcasts, created_at) VALUES "
                "(%s, %s, 'US', 'America/New_York', '', 1260, 480, 3, '{}', false, false, "
                "false, %s) RETURNING id",
                (f"Filler community {n}", f"{FILLER_PREFIX}{n:04d}", now),
            )
            row = cursor.fetchone()
            assert row is not None
            community_id = int(row[0])
            cursor.execute(
                "INSERT INTO channels (community_id, kind, address, created_at) VALUES "
                "(%s, 'sms', %s, %s), (%s, 'simulator', %s, %s) RETURNING id, kind",
                (community_id, number, now, community_id, number, now),
            )
            channel = next(r[0] for r in cursor.fetchall() if r[1] == "sms")
            result[community_id] = (int(channel), number)
    return result


def copy_volunteers(
    connection: psycopg.Connection[Any], communities: dict[int, tuple[int, str]], now: datetime
) -> list[tuple[int, int, str]]:
    """198,000 active volunteers over the fillers; returns (id, community id, phone)."""
    columns = (
        "community_id, phone, name, language, status, skills, consent_at, consent_source, "
        "sms_consent_at, urgent_ok, availability, undelivered_streak, created_at, updated_at"
    )
    k = 0
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY volunteers ({columns}) FROM STDIN") as copy:
            for index, community_id in enumerate(communities):
                share = FILLER_VOLUNTEERS // FILLERS + (index < FILLER_VOLUNTEERS % FILLERS)
                for _ in range(share):
                    phone = f"+1{6_000_000_000 + k}"
                    copy.write_row(
                        (community_id, phone, f"Volunteer {k}", "en", "active", "[]", now,
                         "bench", now, False, "", 0, now, now)
                    )  # fmt: skip
                    k += 1
        rows = cursor.execute(
            "SELECT id, community_id, phone FROM volunteers WHERE community_id = ANY(%s) "
            "ORDER BY id",
            (list(communities),),
        ).fetchall()
    return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]


def message_rows(
    communities: dict[int, tuple[int, str]],
    volunteers: Sequence[tuple[int, int, str]],
    now: datetime,
    prefix: str,
) -> Iterator[tuple[Any, ...]]:
    """25 rows per volunteer: 12 inbound texts with their replies, one delivered broadcast."""
    moments = [now - timedelta(minutes=37 * i + 5) for i in range(14_000)]  # about a year
    n = 0
    for volunteer_id, community_id, phone in volunteers:
        channel_id, number = communities[community_id]
        for j in range(MESSAGES_PER_VOLUNTEER):
            at = moments[(n * 7 + j) % len(moments)]
            if j == MESSAGES_PER_VOLUNTEER - 1:
                yield (community_id, channel_id, volunteer_id, "outbound", "broadcast",
                       f"{prefix}{n:031x}", number, phone, BROADCAST_TEXT, 0, "delivered", 1,
                       "GSM-7", 2, at, 1, at, at, None, at)  # fmt: skip
            elif j % 2 == 0:
                body = INBOUND_TEXTS[(n + j) % len(INBOUND_TEXTS)]
                yield (community_id, channel_id, volunteer_id, "inbound", "inbound",
                       f"{prefix}{n:031x}", phone, number, body, 0, "processed", 1, "GSM-7",
                       1, at, 0, at, at, at, None)  # fmt: skip
            else:
                yield (community_id, channel_id, volunteer_id, "outbound", "reply", None,
                       number, phone, REPLY_TEXT, 0, "replied", 1, "GSM-7", 1, at, 0, at, at,
                       None, at)  # fmt: skip
            n += 1


def copy_messages(
    connection: psycopg.Connection[Any],
    communities: dict[int, tuple[int, str]],
    volunteers: Sequence[tuple[int, int, str]],
    now: datetime,
    prefix: str,
) -> int:
    count = 0
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY messages ({', '.join(MESSAGE_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in message_rows(communities, volunteers, now, prefix):
            copy.write_row(row)
            count += 1
            if count % 1_000_000 == 0:
                print(f"data scale: {count:,} messages", flush=True)
    return count


def reset_load_community(url: str, target: ScaleTarget) -> int:
    """Delete the load community (cascading to its rows) and create it again with its 50,000
    messages of history; ANALYZE; returns its id."""
    started = time.perf_counter()
    engine = make_engine(url)
    with engine.begin() as connection:
        # Its messages first, with FK triggers off: ``messages.retry_of_id`` (and
        # ``callout_id``, ``channel_id``) have no index, so a plain cascade would check each
        # deleted message with a Seq Scan of the 5,000,000 rows (0.6 s each: hours). Only
        # messages of the same community refer to them, and they all go.
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(
            text(
                "DELETE FROM messages WHERE community_id IN "
                "(SELECT id FROM communities WHERE slug = :s)"
            ),
            {"s": COMMUNITY_SLUG},
        )
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM communities WHERE slug = :s"), {"s": COMMUNITY_SLUG})
        connection.execute(text("DELETE FROM outbox"))  # jobs about the deleted community
    factory = make_session_factory(engine)
    community_id = seed_load_community(factory, target.number, target.phones)
    from service.models import Channel, ChannelKind, Volunteer

    with unit_of_work(factory) as session:
        channel = session.scalars(
            select(Channel).where(
                Channel.community_id == community_id, Channel.kind == ChannelKind.SMS
            )
        ).one()
        volunteers = [
            (int(row.id), community_id, str(row.phone))
            for row in session.execute(
                select(Volunteer.id, Volunteer.phone)
                .where(Volunteer.community_id == community_id)
                .order_by(Volunteer.id)
            )
        ]
        channel_ref = {community_id: (channel.id, channel.address)}
    with psycopg.connect(psycopg_url(url)) as connection:
        connection.execute("SET session_replication_role = replica")
        history = copy_messages(
            connection, channel_ref, volunteers, datetime.now(UTC) - timedelta(days=1), "SMh"
        )
        connection.commit()
    analyze(engine)
    engine.dispose()
    counts = table_counts(url)
    print(
        f"data scale: load community reset with {history:,} messages of history in "
        f"{time.perf_counter() - started:.1f} s; database holds {counts['communities']:,} "
        f"communities, {counts['volunteers']:,} volunteers, {counts['messages']:,} messages"
    )
    return community_id


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.data_scale", description=__doc__)
    parser.add_argument("--database-url", help=f"default: {SCALE_DATABASE} on BENCH_DATABASE_URL")
    parser.add_argument("--rebuild", action="store_true", help="drop and generate again")
    args = parser.parse_args(argv)
    url = normalize_database_url(
        args.database_url or default_url(os.environ.get("BENCH_DATABASE_URL", ""))
    )
    check_urls(url, "redis://127.0.0.1:6379/0")
    target = prepare(url, rebuild=args.rebuild)
    reset_load_community(url, target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
