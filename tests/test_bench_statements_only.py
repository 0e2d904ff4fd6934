"""bench.statements_only sends what HandsUp sends for a storm text, and nothing else: the same
kinds of statement, on the same tables, in the same order, as the webhook for a volunteer's
repeat YES to a call-out and a repeat SHIFTS (PostgreSQL only: the app takes the sender's
advisory lock, as HandsUp does there). Otherwise its rate in ``bench.webhook_load`` would say
nothing about HandsUp's statements."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from bench import statements_only
from service.conversations import destinations
from service.models import Community
from tests.conftest import COMMUNITY_NUMBER, SmsHelper, new_sid
from tests.test_query_bounds import analyze, member_phone, seed

TABLE = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+(\w+)")
SENDER_LOCK = re.compile(r"^WITH \w+ AS \(SELECT pg_advisory_xact_lock\(.*?\) AS \w+\) ")


def shape(statement: str) -> tuple[str, ...]:
    """What a statement does, without its wording: whether it takes the sender's lock, its
    verb, whether it locks rows, and the tables it names."""
    flat = " ".join(statement.split())
    locked = SENDER_LOCK.match(flat)
    rest = flat[locked.end() :] if locked else flat
    verb = rest.split(" ", 1)[0].upper()
    tables = sorted(set(TABLE.findall(rest)) - {"sender_lock"})
    return (
        "sender lock" if locked else "",
        verb,
        "FOR UPDATE" if "FOR UPDATE" in rest else "",
        *tables,
    )


@pytest.fixture
def recorded(app: Flask, engine: Engine) -> Iterator[list[str]]:
    """Statements through the app's engine and the tests' own, in order."""
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    engines = (app.extensions["handsup"].engine, engine)
    for each in engines:
        event.listen(each, "before_cursor_execute", record)
    yield seen
    for each in engines:
        event.remove(each, "before_cursor_execute", record)


def test_the_statements_only_app_sends_what_the_webhook_sends_for_a_repeat_text(
    app: Flask,
    sms: SmsHelper,
    engine: Engine,
    session_factory: sessionmaker[Session],
    community: Community,
    recorded: list[str],
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the app takes PostgreSQL's advisory lock, as the webhook does there")
    destinations.cache_destinations(app.extensions["handsup"].engine, ttl=3600.0)  # production
    seed(session_factory, community, 5)
    analyze(engine)
    answerer, browser = member_phone(0), member_phone(1)
    sms.send(answerer, "YES")  # the first answer fills a place; the storm is mostly repeats
    sms.send(browser, "SHIFTS")
    sms.send(browser, "SHIFTS")
    ids = statements_only.storm_ids(engine, COMMUNITY_NUMBER)
    shapes: dict[str, list[tuple[str, ...]]] = {}
    for sender, body in ((answerer, "YES"), (browser, "SHIFTS")):
        recorded.clear()
        assert sms.send(sender, body), body  # HandsUp answered in the request
        shapes[f"webhook {body}"] = [shape(s) for s in recorded]
        recorded.clear()
        form = {"MessageSid": new_sid(), "From": sender, "To": COMMUNITY_NUMBER, "Body": body}
        statements_only.answer_text(engine, form, ids)
        shapes[f"statements only {body}"] = [shape(s) for s in recorded]
    for body in ("YES", "SHIFTS"):
        assert shapes[f"statements only {body}"] == shapes[f"webhook {body}"], shapes
    assert len(shapes["webhook YES"]) == 4, shapes  # callout_again with the cache warm
    assert ("sender lock", "INSERT", "", "messages", "volunteers") in shapes["webhook YES"]
