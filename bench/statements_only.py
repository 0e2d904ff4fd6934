"""The statements of a storm text, and nothing else: how far the synchronous path could go if
its Python layers (the ORM, the flow engine, the send gate's bookkeeping) cost nothing.

``bench.webhook_load`` measures this app beside the floor and HandsUp, under the same gunicorn
command line. For each signed webhook it checks the signature, then runs, in one transaction
and through SQLAlchemy Core with hand-written SQL, the statements HandsUp sends on PostgreSQL
for a volunteer's repeat answer to the storm (``tests/test_query_bounds.py``'s
``callout_again``, measured on 2026-12-07; the first answer of each volunteer sends two
more):

1. store the text under the sender's advisory lock (``INSERT ... ON CONFLICT DO NOTHING``),
   already ``processed`` and from its volunteer, as the request will commit it;
2. read and lock the volunteer with their conversation and whether a text of theirs waits;
3. read the call-out, its shift, the volunteer's ask and place (``YES``), or the open shifts
   (``SHIFTS``);
4. write the conversation's state, when there is something to write: an ``INSERT`` for a
   volunteer's first text, an ``UPDATE`` once its lifetime would move by an hour or more
   (HandsUp writes it as the step ends, before its replies; a repeat within the hour, most
   of a storm, writes nothing: ``service.conversations.effects.renewed_within_step``);
5. store the reply;

and answers a fixed TwiML. No ORM objects, no flow step, no catalog lookup. Its rate over the
floor's is the most any rewrite of HandsUp's Python could reach without sending fewer
statements. ``tests/test_bench_statements_only.py`` checks, on PostgreSQL, that it sends the
same kinds of statement, in the same order, as HandsUp does for the same texts. Imports
``bench.webhook_load``'s constants, ``flows.engine``, ``service.config``, ``service.db`` and
``service.conversations.effects`` (the conversation's write rule).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from flask import Flask, Response, abort, request
from sqlalchemy import Engine, text
from twilio.request_validator import RequestValidator

from flows.engine import SESSION_LIFETIME
from service.conversations.effects import renewed_within_step

VOLUNTEER_COLUMNS = (
    "id, community_id, phone, name, language, status, skills, consent_at, consent_source, "
    "consent_wording, opted_out_at, opt_out_source, paused_until, urgent_ok, availability, "
    "last_asked_at, pending_question, whatsapp_inbound_at, sms_consent_at, undelivered_streak, "
    "unreachable_at, unreachable_code, preferred_channel_id, erased_at, created_at, updated_at"
)
SHIFT_COLUMNS = (
    "id, roster_id, community_id, title, place, starts_at, ends_at, capacity, confirmed_count, "
    "skill, queue_seq, schedule_version, status, created_at, updated_at"
)
PLACE_HOLDING = "('confirmed', 'waitlisted', 'checked_in')"

STORE_TEXT = text(
    "WITH sender_lock AS (SELECT pg_advisory_xact_lock(:community_id, hashtext(:sender)) "
    "AS taken) INSERT INTO messages (community_id, channel_id, volunteer_id, direction, kind, "
    "twilio_sid, from_address, to_address, body, num_media, status, segments, encoding, "
    "priority, not_before, attempts, created_at, updated_at, processed_at) SELECT "
    ":community_id, :channel_id, (SELECT volunteers.id FROM volunteers WHERE "
    "volunteers.community_id = :community_id AND volunteers.phone = :sender), 'inbound', "
    "'inbound', :sid, :sender, :to, :body, 0, 'processed', 1, 'GSM-7', 1, :now, 0, :now, :now, "
    ":now FROM sender_lock ON CONFLICT (twilio_sid) DO NOTHING "
    "RETURNING messages.id, messages.volunteer_id"
)
LOCK_VOLUNTEER = text(
    "SELECT "
    + ", ".join(f"volunteers.{name}" for name in VOLUNTEER_COLUMNS.split(", "))
    + ", (EXISTS (SELECT messages.id FROM messages WHERE messages.status = 'received' "
    "AND messages.community_id = :community_id AND messages.from_address IN (:phone, "
    ":whatsapp_phone) AND messages.id < :message_id)) OR (EXISTS (SELECT messages.id FROM "
    "messages WHERE messages.volunteer_id = volunteers.id AND messages.kind = 'reply' AND "
    "messages.status IN ('pending', 'sending'))) AS waiting, conversation.volunteer_id AS "
    "conversation_id, conversation.flow, conversation.state, conversation.data, "
    "conversation.expires_at, conversation.updated_at AS conversation_updated_at "
    "FROM volunteers LEFT OUTER JOIN conversation_sessions AS conversation "
    "ON volunteers.id = conversation.volunteer_id "
    "WHERE volunteers.community_id = :community_id AND volunteers.phone = :phone "
    "FOR UPDATE OF volunteers"
)
READ_CALLOUT = text(
    "SELECT callouts.id, callouts.community_id, callouts.shift_id, callouts.need, "
    "callouts.filled, callouts.text, callouts.status, callouts.waves_sent, callouts.created_at, "
    "callouts.updated_at, "
    + ", ".join(f"shifts.{name} AS shift_{name}" for name in SHIFT_COLUMNS.split(", "))
    + ", callout_asks.id AS ask_id, callout_asks.wave, callout_asks.asked_at, "
    "callout_asks.answered_at, callout_asks.answer, assignments.id AS assignment_id "
    "FROM callouts JOIN shifts ON shifts.id = callouts.shift_id "
    "LEFT OUTER JOIN callout_asks ON callout_asks.callout_id = callouts.id "
    "AND callout_asks.volunteer_id = :volunteer_id "
    "LEFT OUTER JOIN assignments ON assignments.shift_id = shifts.id "
    f"AND assignments.volunteer_id = :volunteer_id AND assignments.status IN {PLACE_HOLDING} "
    "WHERE callouts.id = :callout_id AND callouts.community_id = :community_id LIMIT 1"
)
READ_OPEN_SHIFTS = text(
    f"SELECT {SHIFT_COLUMNS} FROM shifts WHERE shifts.community_id = :community_id "
    "AND shifts.status IN ('open', 'full') AND shifts.starts_at > :now AND (shifts.id NOT IN "
    "(SELECT assignments.shift_id FROM assignments WHERE assignments.volunteer_id = "
    f":volunteer_id AND assignments.status IN {PLACE_HOLDING})) "
    "ORDER BY shifts.starts_at, shifts.id LIMIT 50"
)
STORE_REPLY = text(
    "INSERT INTO messages (community_id, channel_id, volunteer_id, direction, kind, "
    "idempotency_key, from_address, to_address, body, num_media, status, segments, encoding, "
    "reply_to_id, priority, not_before, attempts, created_at, updated_at, sent_at) VALUES "
    "(:community_id, :channel_id, :volunteer_id, 'outbound', 'reply', :key, :to, :sender, "
    ":reply, 0, 'replied', 1, 'GSM-7', :message_id, 0, :now, 0, :now, :now, :now) "
    "RETURNING messages.id"
)
START_CONVERSATION = text(
    "INSERT INTO conversation_sessions (volunteer_id, flow, state, data, expires_at, "
    "updated_at) VALUES (:volunteer_id, 'shifts', 'menu', CAST(:data AS JSON), :expires_at, "
    ":now)"
)
KEEP_CONVERSATION = text(
    "UPDATE conversation_sessions SET expires_at = :expires_at, updated_at = :now "
    "WHERE conversation_sessions.volunteer_id = :volunteer_id"
)
REPLY = "Thanks! All places are filled now. Text SHIFTS for other shifts."
SESSION_DATA = json.dumps({"ids": [1], "next": 1})


def answer_text(engine: Engine, form: dict[str, str], ids: dict[str, int]) -> None:
    """The four or five statements of one storm text, in one transaction."""
    now = datetime.now(UTC)
    sender = form["From"]
    row = {**ids, "sid": form["MessageSid"], "sender": sender, "to": form["To"], "now": now}
    with engine.begin() as connection:
        message_id = connection.execute(STORE_TEXT, {**row, "body": form["Body"]}).one().id
        volunteer = connection.execute(
            LOCK_VOLUNTEER,
            {
                "community_id": ids["community_id"],
                "phone": sender,
                "whatsapp_phone": f"whatsapp:{sender}",
                "message_id": message_id,
            },
        ).one()
        about = {**ids, "volunteer_id": volunteer.id, "now": now}
        if form["Body"].strip().upper() == "SHIFTS":
            connection.execute(READ_OPEN_SHIFTS, about).all()
        else:
            connection.execute(READ_CALLOUT, about).one()
        expires_at = now + SESSION_LIFETIME
        if volunteer.conversation_id is None:
            connection.execute(
                START_CONVERSATION, {**about, "data": SESSION_DATA, "expires_at": expires_at}
            )
        elif not renewed_within_step(volunteer.expires_at, expires_at):
            connection.execute(KEEP_CONVERSATION, {**about, "expires_at": expires_at})
        connection.execute(
            STORE_REPLY,
            {
                **row,
                **about,
                "key": f"reply:{message_id}:0",
                "reply": REPLY,
                "message_id": message_id,
            },
        ).scalar_one()


def storm_ids(engine: Engine, number: str) -> dict[str, int]:
    """The community, channel and open call-out of the storm's number."""
    with engine.connect() as connection:
        found = connection.execute(
            text(
                "SELECT channels.community_id, channels.id AS channel_id, callouts.id AS "
                "callout_id FROM channels JOIN callouts ON callouts.community_id = "
                "channels.community_id WHERE channels.address = :number "
                "ORDER BY callouts.id LIMIT 1"
            ),
            {"number": number},
        ).one()
    return dict(found._mapping)


def create_statements_app() -> Flask:
    """HandsUp's statements for each storm text, and nothing else (see the module)."""
    from bench.webhook_load import BARE_TWIML, COMMUNITY_NUMBER, INBOUND_PATH
    from service.config import normalize_database_url
    from service.db import make_engine

    app = Flask("statements")
    engine = make_engine(normalize_database_url(os.environ["DATABASE_URL"]))
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    url = os.environ["PUBLIC_BASE_URL"] + INBOUND_PATH
    ids = storm_ids(engine, COMMUNITY_NUMBER)

    @app.post(INBOUND_PATH)
    def inbound() -> Response:
        form = request.form
        if not validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
            abort(403)
        answer_text(engine, form.to_dict(), ids)
        return Response(BARE_TWIML, mimetype="text/xml")

    return app
