"""Record audit events (who created, changed, exported, broadcast or saw a number).

Called by console views and CLI commands in the caller's transaction. Imports models only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from service.db import utcnow
from service.models import AuditEvent, Coordinator

CLI_ACTOR = "cli"


def record(
    session: Session,
    *,
    community_id: int,
    actor: Coordinator | None,
    action: str,
    actor_label: str = CLI_ACTOR,
    subject: str = "",
    now: datetime | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add one event; ``detail`` holds small JSON values (never a full phone number)."""
    event = AuditEvent(
        community_id=community_id,
        coordinator_id=actor.id if actor is not None else None,
        actor=actor.email if actor is not None else actor_label,
        action=action,
        subject=subject[:80],
        detail=detail,
        created_at=now or utcnow(),
    )
    session.add(event)
    return event
