"""One definition of who may be sent what: the candidate queries (call-outs, gap asks,
broadcasts) run against the database agree with the send gate's per-recipient decision for
any volunteer (hypothesis), and an expired break ends at the same instant on every path."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from service import clock
from service.db import unit_of_work
from service.models import (
    Assignment,
    CallOut,
    Channel,
    ChannelKind,
    Community,
    Cycle,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Shift,
    Volunteer,
)
from service.rosters import callouts, donations
from service.rosters import shifts as rosters
from service.sending import eligibility
from service.sending.broadcasts import Segment, recipients
from service.sending.gate import (
    Decision,
    DeferSend,
    Outbound,
    Send,
    Suppress,
    decide,
    rules_for,
    sender_for,
)
from workers import reminders

DAY = datetime(2030, 3, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York
NIGHT = datetime(2030, 3, 2, 3, 0, tzinfo=UTC)  # 22:00 in New York, inside quiet hours
TEMPLATE = "HX" + "7" * 32
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

VOLUNTEERS = st.lists(
    st.fixed_dictionaries(
        {
            "status": st.sampled_from(list(VolunteerStatus)),
            # seconds from now the break ends (None: until RESUME)
            "pause_end": st.sampled_from([None, -86_400, -1, 0, 1, 3 * 86_400]),
            "urgent_ok": st.booleans(),
            "asks": st.integers(0, 4),  # asks sent in the last 7 days
            "old_asks": st.integers(0, 2),  # and just before them: they no longer count
            "unsent_asks": st.integers(0, 1),  # queued, not sent yet: they do not count
            "unreachable": st.booleans(),
            "channel": st.sampled_from(["default", "sms", "whatsapp"]),
            # hours since their last WhatsApp text (None: never)
            "window": st.sampled_from([None, 1.0, 23.99, 24.0, 25.0]),
            "sms_consent": st.booleans(),
        }
    ),
    min_size=1,
    max_size=6,
)
COMMUNITY = st.fixed_dictionaries(
    {
        "night": st.booleans(),
        "template": st.sampled_from([None, "default", "ask", "callout", "broadcast"]),
        "ask_limit": st.integers(1, 3),
        "sms_channel": st.booleans(),  # without one, WhatsApp cannot fall back to SMS
    }
)


def add_volunteer(
    db: Session, place: Community, channels: dict[ChannelKind, Channel], n: int, v: dict[str, Any]
) -> Volunteer:
    now = clock.now()
    pause_end = v["pause_end"]
    person = Volunteer(
        community_id=place.id,
        phone=f"+1303555{n:04d}",
        name=f"V{n}",
        status=v["status"],
        paused_until=None if pause_end is None else now + timedelta(seconds=pause_end),
        urgent_ok=v["urgent_ok"],
        unreachable_at=now - timedelta(days=1) if v["unreachable"] else None,
        preferred_channel_id={
            "default": None,
            "sms": channels[ChannelKind.SMS].id if ChannelKind.SMS in channels else None,
            "whatsapp": channels[ChannelKind.WHATSAPP].id,
        }[v["channel"]],
        whatsapp_inbound_at=None if v["window"] is None else now - timedelta(hours=v["window"]),
        sms_consent_at=now - timedelta(days=30) if v["sms_consent"] else None,
        skills=[],
    )
    db.add(person)
    db.flush()
    kinds = [MessageKind.CALLOUT, MessageKind.ASK]
    history = [(now - timedelta(hours=i + 1), True) for i in range(v["asks"])]
    history += [(now - timedelta(days=7, minutes=i), True) for i in range(v["old_asks"])]
    history += [(now, False) for _ in range(v["unsent_asks"])]
    for i, (at, sent) in enumerate(history):
        db.add(
            Message(
                community_id=place.id,
                volunteer_id=person.id,
                direction=Direction.OUTBOUND,
                kind=kinds[i % 2],
                from_address="+12025550100",
                to_address=person.phone,
                body="an ask",
                status=MessageStatus.DELIVERED if sent else MessageStatus.PENDING,
                created_at=at,
                sent_at=at if sent else None,
            )
        )
    db.flush()
    return person


def gate_decisions(
    db: Session,
    place: Community,
    people: list[Volunteer],
    kind: MessageKind,
    now: datetime,
    *,
    quiet_hours: bool = True,
) -> dict[int, Decision]:
    """What the send gate decides for a text of ``kind`` to each volunteer, as the dispatch
    planner asks it: the channel it would be queued on, the asks sent this week."""
    channels = db.scalars(select(Channel).where(Channel.community_id == place.id)).all()
    rules = rules_for(place, channels)
    if not quiet_hours:
        rules = replace(rules, quiet_start_minute=0, quiet_end_minute=0)
    asks = eligibility.asks_this_week(db, [p.id for p in people], now)
    decisions: dict[int, Decision] = {}
    for person in people:
        channel = eligibility.pick_channel(channels, person.preferred_channel_id)
        assert channel is not None
        outbound = Outbound(kind, sender_for(channel, place.messaging_service_sid))
        recipient = eligibility.recipient_for(person, asks.get(person.id, 0))
        decisions[person.id] = decide(outbound, recipient, rules, now)
    return decisions


def check_agreement(
    selected: set[int],
    decisions: dict[int, Decision],
    kind: MessageKind,
    night: bool,
    quiet_hours_aside: dict[int, Decision],
) -> None:
    """Selected iff the gate lets the text through now. Asks the gate would defer are not
    selected (the gap-ask job and the next call-out wave wait for the morning); a broadcast
    waits out quiet hours as a whole, so its recipients are those the gate would let through
    once quiet hours are set aside."""
    for person_id, decision in decisions.items():
        if isinstance(decision, DeferSend):  # only where the query also waits: at night
            assert night and decision.reason == "quiet hours", (kind, person_id, decision)
        judged = decision
        if kind == MessageKind.BROADCAST and isinstance(decision, DeferSend):
            judged = quiet_hours_aside[person_id]
        goes = isinstance(judged, Send)
        assert (person_id in selected) == goes, (kind, person_id, decision, judged)
        assert goes or isinstance(judged, Suppress | DeferSend)


@SETTINGS
@given(people=VOLUNTEERS, setup=COMMUNITY)
def test_the_candidate_queries_select_exactly_whom_the_gate_lets_through(
    db: Session, community: Community, people: list[dict[str, Any]], setup: dict[str, Any]
) -> None:
    now = NIGHT if setup["night"] else DAY
    clock.freeze(now)
    try:
        place = db.get_one(Community, community.id)
        place.quiet_start_minute, place.quiet_end_minute = 21 * 60, 8 * 60
        place.ask_limit_per_week = setup["ask_limit"]
        place.whatsapp_templates = {setup["template"]: TEMPLATE} if setup["template"] else {}
        channels = {c.kind: c for c in db.scalars(select(Channel))}
        if not setup["sms_channel"]:
            db.delete(channels.pop(ChannelKind.SMS))
        db.flush()
        volunteers = [add_volunteer(db, place, channels, n, v) for n, v in enumerate(people)]
        # transient call-out, shift and cycle: no one is on the shift or asked in them yet
        callout, shift, cycle = CallOut(id=0), Shift(id=0, skill=None), Cycle(id=0)
        big = len(volunteers) + 1
        selected = {
            MessageKind.CALLOUT: callouts.candidates(db, callout, shift, place, now, big),
            MessageKind.ASK: donations.gap_candidates(db, cycle, place, now, big),
        }
        by_kind = {kind: {v.id for v in chosen} for kind, chosen in selected.items()}
        by_kind[MessageKind.BROADCAST] = {p.id for p in recipients(db, place, Segment())}
        for kind, chosen_ids in by_kind.items():
            decisions = gate_decisions(db, place, volunteers, kind, now)
            aside = gate_decisions(db, place, volunteers, kind, now, quiet_hours=False)
            check_agreement(chosen_ids, decisions, kind, setup["night"], aside)
    finally:
        clock.freeze(None)
        db.rollback()


# ----- an expired break ends at the same moment everywhere ----------------------------------


def test_an_expired_pause_ends_for_broadcasts_call_outs_reminders_and_gap_asks_at_once(
    session_factory: sessionmaker[Session],
    community: Community,
    worker: Any,
    db: Session,
) -> None:
    back_at = DAY
    with unit_of_work(session_factory) as session:
        place = session.get_one(Community, community.id)
        person = Volunteer(
            community_id=place.id,
            phone="+13035550001",
            name="Ana",
            status=VolunteerStatus.ACTIVE,
            skills=[],
        )
        session.add(person)
        session.flush()
        shift = rosters.add_shift(
            session,
            place,
            title="Sandbags",
            place="School gym",
            starts_at=back_at + timedelta(days=2),
            ends_at=back_at + timedelta(days=2, hours=3),
            capacity=3,
        )
        assert rosters.claim(session, person, place, shift.id, back_at).outcome == "confirmed"
        urgent = rosters.add_shift(  # another shift, short of people
            session,
            place,
            title="Evacuation",
            place="Elm St",
            starts_at=back_at + timedelta(hours=1),
            ends_at=back_at + timedelta(hours=4),
            capacity=4,
        )
        donations.add_need(session, place, weekday=5, item="Rice", quantity=20, unit="kg")
        # PAUSE 1w, sent a week ago: the break ends at back_at; no text since
        person.status, person.paused_until = VolunteerStatus.PAUSED, back_at
        ids = (person.id, shift.id, urgent.id)

    def reached(now: datetime) -> dict[str, bool]:
        clock.freeze(now)
        try:
            with unit_of_work(session_factory) as session:
                place = session.get_one(Community, community.id)
                shift = session.get_one(Shift, ids[1])
                cycle = donations.next_cycle(session, place, now)
                assert cycle is not None
                seen = {
                    "broadcast": ids[0] in {p.id for p in recipients(session, place, Segment())},
                    "call-out": ids[0]
                    in {
                        v.id
                        for v in callouts.candidates(
                            session,
                            CallOut(id=0),
                            session.get_one(Shift, ids[2]),
                            place,
                            now,
                            limit=10,
                        )
                    },
                    "gap ask": ids[0]
                    in {v.id for v in donations.gap_candidates(session, cycle, place, now, 10)},
                }
                booking = session.scalars(
                    select(Assignment).where(Assignment.volunteer_id == ids[0])
                ).one()
                job = (booking.id, 60, booking.queue_seq, shift.schedule_version)
            result = reminders.send_reminder(*job)
            seen["reminder"] = result.startswith("sent")
            return seen
        finally:
            clock.freeze(None)

    held = reached(back_at - timedelta(seconds=1))
    assert held == {"broadcast": False, "call-out": False, "gap ask": False, "reminder": False}
    assert reached(back_at) == {
        "broadcast": True,
        "call-out": True,
        "gap ask": True,
        "reminder": True,
    }
    db.expire_all()
    assert db.get_one(Volunteer, ids[0]).status == VolunteerStatus.PAUSED  # no text needed
