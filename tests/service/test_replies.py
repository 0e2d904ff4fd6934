"""``service.conversations.replies.store_replies``: an answer's texts stored in one Core insert,
as sent (a TwiML answer) or queued for the send gate (a worker's deferred text), which the
session then notes as work due now for the outbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.conversations import inbound
from service.conversations.inbound import InboundMessage, inbound_row
from service.conversations.replies import store_replies
from service.models import ChannelKind, Community, Message, MessageKind, MessageStatus, Priority
from service.sending.outbox import queued_due_work
from tests.conftest import WHATSAPP_NUMBER, whatsapp_channel

NOW = datetime(2026, 12, 6, 11, 30, tzinfo=UTC)
SENDER = "+13035550124"


@pytest.mark.parametrize("pending", [False, True])
def test_the_texts_go_in_one_statement_in_order_and_pending_ones_are_due_now(
    session_factory: sessionmaker[Session],
    community: Community,
    statements: list[str],
    pending: bool,
) -> None:
    with session_factory() as session:
        channel = whatsapp_channel(session, community)
        text = InboundMessage(
            "SM" + "d" * 32, ChannelKind.WHATSAPP, SENDER, WHATSAPP_NUMBER, "SHIFTS"
        )
        message = inbound._insert(session, inbound_row(channel, text, NOW))
        assert message is not None
        queued_due_work(session)  # start from a clean note
        statements.clear()
        store_replies(session, channel, message, ["First", "Second"], NOW, pending=pending)
        assert len(statements) == 1 and not session.new
        assert queued_due_work(session) is pending
        session.commit()
        stored = session.scalars(
            select(Message).where(Message.reply_to_id == message.id).order_by(Message.id)
        ).all()
    assert [(m.body, m.idempotency_key) for m in stored] == [
        ("First", f"reply:{message.id}:0"),
        ("Second", f"reply:{message.id}:1"),
    ]
    for reply in stored:
        assert reply.kind == MessageKind.REPLY and reply.priority == Priority.URGENT
        assert reply.to_address == f"whatsapp:{SENDER}"
        assert reply.status == (MessageStatus.PENDING if pending else MessageStatus.REPLIED)
        assert reply.not_before == NOW and reply.sent_at == (None if pending else NOW)
