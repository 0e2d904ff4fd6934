"""The inbound text's first statement (``service.conversations.inbound._insert``): one Core
``INSERT`` whose ``Message`` is held in the session exactly as stored, with nothing left to
load, and ``None`` for a MessageSid stored before."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from service.conversations import inbound
from service.conversations.inbound import InboundMessage, Location, MediaRef, inbound_row
from service.models import ChannelKind, Community, Message
from tests.conftest import WHATSAPP_NUMBER, whatsapp_channel

SENDER = "+13035550123"
NOW = datetime(2026, 12, 6, 11, 0, 0, 123456, tzinfo=UTC)
COLUMNS = [column.key for column in Message.__table__.columns]


def whatsapp_text(sid: str) -> InboundMessage:
    """A text with a value in every optional field: media, a location, a tapped button."""
    return InboundMessage(
        sid=sid,
        kind=ChannelKind.WHATSAPP,
        sender=SENDER,
        to=WHATSAPP_NUMBER,
        body="Jövök! 🙋 Tapped",
        num_media=1,
        media=(MediaRef("ME" + "1" * 32, "image/jpeg"),),
        location=Location(47.4979, 19.0402, "Deák Ferenc tér", "Depot"),
        payload="callout:7:yes",
    )


def test_the_new_text_is_held_as_stored_after_one_statement_with_nothing_to_load(
    session_factory: sessionmaker[Session], community: Community, statements: list[str]
) -> None:
    with session_factory() as session:
        row = inbound_row(whatsapp_channel(session, community), whatsapp_text("SM" + "a" * 32), NOW)
        statements.clear()
        message = inbound._insert(session, row)
        assert message is not None
        state = inspect(message)
        assert state.persistent and not state.unloaded and not state.expired_attributes
        held = {key: getattr(message, key) for key in COLUMNS}
        assert len(statements) == 1 and statements[0].lstrip().upper().startswith("INSERT")
        assert not session.dirty  # nothing to flush: the instance is as the row went in
        session.commit()
    assert held["location"] == {
        "latitude": 47.4979,
        "longitude": 19.0402,
        "address": "Deák Ferenc tér",
        "label": "Depot",
    }
    with session_factory() as session:
        stored = session.get_one(Message, held["id"])
        assert {key: getattr(stored, key) for key in COLUMNS} == held


def test_a_change_to_the_held_text_is_written_at_the_commit(
    session_factory: sessionmaker[Session], community: Community
) -> None:
    with session_factory() as session:
        row = inbound_row(whatsapp_channel(session, community), whatsapp_text("SM" + "b" * 32), NOW)
        message = inbound._insert(session, row)
        assert message is not None
        message.attention = "help"
        session.commit()
        message_id = message.id
    with session_factory() as session:
        assert session.get_one(Message, message_id).attention == "help"


def test_a_messagesid_stored_before_gives_none_and_changes_nothing(
    session_factory: sessionmaker[Session], community: Community
) -> None:
    text = whatsapp_text("SM" + "c" * 32)
    with session_factory() as session:
        channel = whatsapp_channel(session, community)
        first = inbound._insert(session, inbound_row(channel, text, NOW))
        session.commit()
        again = inbound._insert(session, inbound_row(channel, replace(text, body="changed"), NOW))
        session.commit()
    assert first is not None and again is None
    with session_factory() as session:
        stored = session.scalars(select(Message).where(Message.twilio_sid == text.sid)).one()
        assert stored.body == "Jövök! 🙋 Tapped"
