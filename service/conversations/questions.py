"""The question a volunteer's bare YES / NO / DROP answers (a reminder or a call-out)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flows.engine import PendingQuestion
from service.models import Volunteer


def pending_question(volunteer: Volunteer, now: datetime) -> PendingQuestion | None:
    """The last question we texted, if it has not expired."""
    data = volunteer.pending_question or {}
    try:
        expires = datetime.fromisoformat(str(data["expires_at"]))
        question = PendingQuestion(kind=str(data["kind"]), id=int(data["id"]))
    except (KeyError, TypeError, ValueError):
        return None
    return question if now < expires else None


def ask_question(
    volunteer: Volunteer, kind: StrEnum, question_id: int, expires_at: datetime
) -> None:
    """Remember that a bare YES / NO / DROP from this volunteer answers this question."""
    volunteer.pending_question = {
        "kind": kind,
        "id": question_id,
        "expires_at": expires_at.isoformat(),
    }
