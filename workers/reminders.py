"""Shift reminders: one job per (assignment, offset, shift start), idempotent.

A reminder re-checks everything when it fires: the assignment is still confirmed, the shift
still starts when the reminder was planned for (a moved shift has new reminders), the
volunteer is available (``service.sending.eligibility``: a break that has ended counts), and
quiet hours (it waits for them to end unless that is after the start).
"""

from __future__ import annotations

from flows import catalog
from flows.shifts import ShiftQuestion, reminder_buttons
from service import clock
from service.conversations.questions import ask_question
from service.db import unit_of_work
from service.models import (
    Assignment,
    AssignmentStatus,
    Community,
    MessageKind,
    Shift,
    ShiftStatus,
    Volunteer,
)
from service.rosters.shifts import facts, reminder_key
from service.sending import eligibility
from service.sending.queue import queue_message
from workers import dispatch
from workers.outbox import defer_past_quiet_hours
from workers.runtime import runtime


def send_reminder(assignment_id: int, offset: int, booking: int, version: int) -> str:
    rt = runtime()
    now = clock.now()
    with unit_of_work(rt.session_factory) as session:
        assignment = session.get(Assignment, assignment_id)
        if assignment is None or assignment.status != AssignmentStatus.CONFIRMED:
            return "skipped: not confirmed"
        if assignment.queue_seq != booking:
            return "skipped: an older booking"
        shift = session.get_one(Shift, assignment.shift_id)
        if shift.status == ShiftStatus.CANCELLED:
            return "skipped: cancelled"
        if shift.schedule_version != version:
            return "skipped: shift moved"
        if shift.starts_at <= now:
            return "skipped: already started"
        volunteer = session.get_one(Volunteer, assignment.volunteer_id)
        if not eligibility.available(volunteer.status, volunteer.paused_until, now):
            return f"skipped: volunteer {volunteer.status.value}"
        community = session.get_one(Community, shift.community_id)
        defer_past_quiet_hours(community, MessageKind.REMINDER, now, send_before=shift.starts_at)
        body = catalog.render(
            volunteer.language,
            "reminder.text",
            {
                "community": community.name,
                **facts(shift, community, volunteer.language, now).params(),
            },
        )
        message = queue_message(
            session,
            volunteer=volunteer,
            body=body,
            kind=MessageKind.REMINDER,
            idempotency_key=reminder_key(assignment, shift, offset),
            send_before=shift.starts_at,
        )
        if message.to_address.startswith("whatsapp:"):  # YES / NO buttons, if the gate may
            buttons = reminder_buttons(volunteer.language, body, assignment.id)
            message.interactive = buttons.to_json() if buttons else None
        ask_question(volunteer, ShiftQuestion.REMINDER, assignment.id, shift.starts_at)
        message_id = message.id
    return dispatch.send_message(message_id)
