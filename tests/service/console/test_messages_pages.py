"""The message log: newest first, filters, error reasons and the gate's decisions, keyset
pages, masking, escaping, tenant scoping, and an index-served query."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session, sessionmaker

from service.db import unit_of_work
from service.models import Community, Direction, Message, MessageStatus, Volunteer
from service.sending import delivery
from tests.service.console.conftest import ConsoleClient

ANA = "+12025550161"
START = datetime(2030, 3, 1, 15, 0, tzinfo=UTC)


def seed(factory: sessionmaker[Session], community: Community, *rows: dict[str, Any]) -> list[int]:
    with unit_of_work(factory) as session:
        volunteer = Volunteer(community_id=community.id, phone=ANA, name="Ana")
        session.add(volunteer)
        session.flush()
        ids = []
        for index, fields in enumerate(rows):
            outbound = fields.get("direction", Direction.OUTBOUND) == Direction.OUTBOUND
            values: dict[str, Any] = {
                "community_id": community.id,
                "volunteer_id": volunteer.id,
                "direction": Direction.OUTBOUND,
                "kind": "notice",
                "from_address": "+12025550100" if outbound else ANA,
                "to_address": ANA if outbound else "+12025550100",
                "body": f"text {index}",
                "status": MessageStatus.DELIVERED,
                "created_at": START + timedelta(minutes=index),
                **fields,
            }
            message = Message(**values)
            session.add(message)
            session.flush()
            ids.append(message.id)
        return ids


def log_rows(page: str) -> list[str]:
    """The ids of the log's rows, in page order."""
    return re.findall(r'<tr class="message [a-z]+" id="message-(\d+)"', page)


def test_the_log_shows_each_message_with_status_reason_and_decision(
    console: ConsoleClient, session_factory: sessionmaker[Session], community: Community
) -> None:
    ids = seed(
        session_factory,
        community,
        {"direction": Direction.INBOUND, "kind": "inbound", "status": MessageStatus.PROCESSED},
        {"kind": "reply", "status": MessageStatus.REPLIED, "body": "Thanks!"},
        {"status": MessageStatus.UNDELIVERED, "error_code": 30003},
        {
            "kind": "broadcast",
            "status": MessageStatus.SUPPRESSED,
            "decision": "suppressed: recipient opted out",
        },
        {"status": MessageStatus.FAILED, "error_code": 99999, "error_message": "odd failure"},
    )
    page = console.text("/console/messages")
    assert log_rows(page) == [str(i) for i in reversed(ids)]  # newest first, both directions
    assert "the phone is unreachable (switched off or out of coverage) (30003)" in page
    assert "suppressed: recipient opted out" in page
    assert "odd failure" in page
    assert "Ana" in page and ANA in page
    assert "Fri 01 Mar 10:00" in page  # the community's time zone (New York)
    assert 'data-direction="inbound"' in page


def test_filters_by_status_direction_and_kind(
    console: ConsoleClient, session_factory: sessionmaker[Session], community: Community
) -> None:
    ids = seed(
        session_factory,
        community,
        {"direction": Direction.INBOUND, "kind": "inbound", "status": MessageStatus.PROCESSED},
        {"status": MessageStatus.FAILED, "error_code": 30005},
        {"kind": "broadcast", "status": MessageStatus.PENDING},
        {"kind": "broadcast", "status": MessageStatus.FAILED, "error_code": 30006},
    )
    failed = console.text("/console/messages?status=failed")
    assert log_rows(failed) == [str(ids[3]), str(ids[1])]
    assert "may no longer be in service" in failed
    assert '<option value="failed" selected>' in failed
    assert log_rows(console.text("/console/messages?direction=inbound")) == [str(ids[0])]
    assert log_rows(console.text("/console/messages?kind=broadcast")) == [str(ids[3]), str(ids[2])]
    both = console.text("/console/messages?kind=broadcast&status=failed")
    assert log_rows(both) == [str(ids[3])]
    assert len(log_rows(console.text("/console/messages?status=bogus"))) == 4  # ignored


def test_pages_follow_each_other_without_gaps_or_repeats(
    console: ConsoleClient, session_factory: sessionmaker[Session], community: Community
) -> None:
    ids = seed(session_factory, community, *({"kind": "reminder"} for _ in range(120)))
    seen: list[str] = []
    path = "/console/messages?kind=reminder"
    while True:
        page = console.text(path)
        rows = log_rows(page)
        assert len(rows) <= 50
        seen += rows
        found = re.search(r'rel="next" href="([^"]+)"', page)
        if not found:
            break
        path = found.group(1).replace("&amp;", "&")
        assert "kind=reminder" in path  # the filters are kept
    assert seen == [str(i) for i in reversed(ids)]


def test_a_viewer_sees_masked_numbers(
    viewer_console: ConsoleClient, session_factory: sessionmaker[Session], community: Community
) -> None:
    seed(session_factory, community, {})
    page = viewer_console.text("/console/messages")
    assert ANA not in page and "0161" in page


def test_bodies_are_escaped(
    console: ConsoleClient, session_factory: sessionmaker[Session], community: Community
) -> None:
    seed(session_factory, community, {"body": "<script>alert(1)</script>"})
    page = console.text("/console/messages")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_another_communitys_messages_stay_out(
    console: ConsoleClient,
    session_factory: sessionmaker[Session],
    community: Community,
    other_community: Community,
) -> None:
    mine = seed(session_factory, community, {"body": "ours"})
    with unit_of_work(session_factory) as session:
        theirs = Message(
            community_id=other_community.id,
            direction=Direction.OUTBOUND,
            kind="notice",
            from_address="+12025550111",
            to_address="+12025550177",
            body="theirs",
            status=MessageStatus.DELIVERED,
        )
        session.add(theirs)
        session.flush()
        their_id = theirs.id
    page = console.text("/console/messages")
    assert log_rows(page) == [str(mine[0])]
    assert "theirs" not in page
    assert console.get(f"/console/messages?before={their_id}").status_code == 404


def test_the_log_query_is_served_by_the_community_index(
    engine: Engine, session_factory: sessionmaker[Session], community: Community, db: Session
) -> None:
    with unit_of_work(session_factory) as session:
        session.execute(
            insert(Message),
            [
                {
                    "community_id": community.id,
                    "direction": Direction.OUTBOUND,
                    "kind": "broadcast",
                    "from_address": "+12025550100",
                    "to_address": ANA,
                    "status": MessageStatus.DELIVERED,
                    "created_at": START + timedelta(seconds=i),
                }
                for i in range(3000)
            ],
        )
    target = db.get_one(Community, community.id)
    page = delivery.message_log(db, target, direction=None, limit=51)
    assert len(page) == 51 and page[0].created_at > page[-1].created_at
    deeper = delivery.message_log(db, target, direction=None, before=page[-1], limit=51)
    assert deeper[0].created_at < page[-1].created_at
    db.commit()
    if engine.dialect.name != "sqlite":
        return
    compiled = delivery.message_log_query(community.id).limit(51).compile(dialect=engine.dialect)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_messages_community_created" in details, details
    assert "TEMP B-TREE" not in details  # no sort of the whole table
