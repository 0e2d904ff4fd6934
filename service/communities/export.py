"""A community's data for portability: one ZIP with ``community.json`` (everything) and a
CSV per table (spreadsheet-safe cells), for ``handsup export-community`` and the console.

Only the community's own rows; no password hashes, two-factor secrets or Twilio credentials.
Imports models and ``service.volunteers.import_export.neutralize``.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from service.db import Base
from service.models import (
    Assignment,
    Broadcast,
    CallOut,
    Channel,
    Community,
    Coordinator,
    Cycle,
    CycleNeed,
    Membership,
    Message,
    Need,
    Pledge,
    Roster,
    Shift,
    StandingPledge,
    Volunteer,
)
from service.volunteers.import_export import neutralize

FORMAT = "handsup-community-export"
VERSION = 1
# Columns never exported (secrets, or internal dispatch state of no use elsewhere).
SKIPPED = {"password_hash", "totp_secret", "session_epoch", "lease_until", "claimed_at"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _rows(session: Session, model: type[Base], query: Select[Any]) -> list[dict[str, Any]]:
    """The rows ``query`` selects of ``model``, as plain dicts (read as Core rows: an export
    of tens of thousands of messages must not build an ORM object each)."""
    table = model.__table__
    columns = [c for c in table.columns if c.key not in SKIPPED]
    core = query.with_only_columns(*columns).order_by(table.c.id)
    return [
        {key: _plain(value) for key, value in row.items()}
        for row in session.execute(core).mappings()
    ]


def tables(session: Session, community: Community) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows for ``community``, keyed by table name."""
    cid = community.id
    own_shifts = select(Shift.id).where(Shift.community_id == cid)
    own_cycles = select(Cycle.id).where(Cycle.community_id == cid)
    own_cycle_needs = select(CycleNeed.id).where(CycleNeed.cycle_id.in_(own_cycles))
    own_needs = select(Need.id).where(Need.community_id == cid)
    members = (
        select(Membership.role, Coordinator.email)
        .join(Coordinator, Coordinator.id == Membership.coordinator_id)
        .where(Membership.community_id == cid)
        .order_by(Coordinator.email)
    )
    return {
        "community": _rows(session, Community, select(Community).where(Community.id == cid)),
        "channels": _rows(session, Channel, select(Channel).where(Channel.community_id == cid)),
        "coordinators": [
            {"email": email, "role": _plain(role)} for role, email in session.execute(members)
        ],
        "volunteers": _rows(
            session, Volunteer, select(Volunteer).where(Volunteer.community_id == cid)
        ),
        "rosters": _rows(session, Roster, select(Roster).where(Roster.community_id == cid)),
        "shifts": _rows(session, Shift, select(Shift).where(Shift.community_id == cid)),
        "assignments": _rows(
            session, Assignment, select(Assignment).where(Assignment.shift_id.in_(own_shifts))
        ),
        "callouts": _rows(session, CallOut, select(CallOut).where(CallOut.community_id == cid)),
        "needs": _rows(session, Need, select(Need).where(Need.community_id == cid)),
        "cycles": _rows(session, Cycle, select(Cycle).where(Cycle.community_id == cid)),
        "cycle_needs": _rows(
            session, CycleNeed, select(CycleNeed).where(CycleNeed.cycle_id.in_(own_cycles))
        ),
        "pledges": _rows(
            session, Pledge, select(Pledge).where(Pledge.cycle_need_id.in_(own_cycle_needs))
        ),
        "standing_pledges": _rows(
            session,
            StandingPledge,
            select(StandingPledge).where(StandingPledge.need_id.in_(own_needs)),
        ),
        "broadcasts": _rows(
            session, Broadcast, select(Broadcast).where(Broadcast.community_id == cid)
        ),
        "messages": _rows(session, Message, select(Message).where(Message.community_id == cid)),
    }


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    if not rows:
        return ""
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(value) for key, value in row.items()})
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return neutralize(json.dumps(value, ensure_ascii=False))
    return neutralize(str(value))


def export_zip(session: Session, community: Community, exported_at: datetime) -> bytes:
    """The ZIP archive's bytes."""
    data = tables(session, community)
    document = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": exported_at.isoformat(),
        "tables": data,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("community.json", json.dumps(document, ensure_ascii=False))
        for name, rows in data.items():
            archive.writestr(f"{name}.csv", _csv(rows))
    return buffer.getvalue()
