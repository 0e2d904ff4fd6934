"""Roster commands: add-shift, move-shift, cancel-shift, roster, attendance, call-out and
community-settings."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from service.models import (
    Assignment,
    AssignmentStatus,
    CallOutAsk,
    Community,
    Message,
    Roster,
    Shift,
    ShiftStatus,
    Volunteer,
)
from tests.service.conftest import Cli, one_line_error

FUTURE = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()


def add_shift(cli: Cli, *extra: str, capacity: str = "2") -> int:
    result = cli(
        "add-shift",
        "--community",
        "riverside",
        "--title",
        "Sandbags",
        "--place",
        "School gym",
        "--starts",
        f"{FUTURE}T09:00",
        "--ends",
        f"{FUTURE}T13:00",
        "--capacity",
        capacity,
        *extra,
    )
    assert result.exit_code == 0, result.output
    return int(result.stdout.strip())


def volunteer(db: Session, community: Community, phone: str, name: str) -> Volunteer:
    person = Volunteer(
        community_id=community.id, phone=phone, name=name, status=VolunteerStatus.ACTIVE
    )
    db.add(person)
    db.commit()
    return person


def test_add_shift_prints_the_id_and_stores_local_times_as_utc(
    cli: Cli, community: Community, db: Session
) -> None:
    shift_id = add_shift(cli, "--skill", "Driver")
    shift = db.get_one(Shift, shift_id)
    assert shift.starts_at == datetime.fromisoformat(f"{FUTURE}T09:00-05:00").astimezone(UTC)
    assert (shift.capacity, shift.skill, shift.status) == (2, "driver", ShiftStatus.OPEN)


def test_add_shift_rejects_bad_input_with_one_line(cli: Cli, community: Community) -> None:
    base = ["add-shift", "--community", "riverside", "--title", "T", "--place", "P"]
    assert "ISO 8601" in one_line_error(
        cli(*base, "--starts", "tomorrow", "--ends", f"{FUTURE}T10:00", "--capacity", "1")
    )
    assert "--ends must be after --starts" in one_line_error(
        cli(*base, "--starts", f"{FUTURE}T10:00", "--ends", f"{FUTURE}T09:00", "--capacity", "1")
    )
    assert "--capacity" in one_line_error(
        cli(*base, "--starts", f"{FUTURE}T09:00", "--ends", f"{FUTURE}T10:00", "--capacity", "0")
    )
    assert "no community" in one_line_error(
        cli(
            "add-shift",
            "--community",
            "nope",
            "--title",
            "T",
            "--place",
            "P",
            "--starts",
            f"{FUTURE}T09:00",
            "--ends",
            f"{FUTURE}T10:00",
            "--capacity",
            "1",
        )
    )


def test_roster_csv_lists_status_and_hours(cli: Cli, community: Community, db: Session) -> None:
    shift_id = add_shift(cli, capacity="1")
    ana = volunteer(db, community, "+12025550121", "=Ana")
    ben = volunteer(db, community, "+12025550122", "Ben")
    db.add(
        Assignment(
            shift_id=shift_id,
            volunteer_id=ana.id,
            status=AssignmentStatus.CHECKED_OUT,
            minutes_served=270,
        )
    )
    db.add(Assignment(shift_id=shift_id, volunteer_id=ben.id, status=AssignmentStatus.WAITLISTED))
    db.commit()
    result = cli("roster", "--shift", str(shift_id))
    assert result.exit_code == 0, result.output
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        ["name", "phone", "status", "hours"],
        ["'=Ana", "+12025550121", "checked out", "4.5"],
        ["Ben", "+12025550122", "waitlisted", ""],
    ]
    assert "no shift with id 999" in one_line_error(cli("roster", "--shift", "999"))


def test_attendance_corrects_a_no_show(cli: Cli, community: Community, db: Session) -> None:
    shift_id = add_shift(cli)
    ana = volunteer(db, community, "+12025550121", "Ana")
    db.add(Assignment(shift_id=shift_id, volunteer_id=ana.id, status=AssignmentStatus.NO_SHOW))
    db.commit()
    result = cli(
        "attendance",
        "--shift",
        str(shift_id),
        "--phone",
        "(202) 555-0121",
        "--status",
        "checked_out",
        "--hours",
        "3.5",
    )
    assert result.exit_code == 0, result.output
    db.expire_all()
    assignment = db.scalars(select(Assignment)).one()
    assert (assignment.status, assignment.minutes_served) == (AssignmentStatus.CHECKED_OUT, 210)
    assert "not on shift" in one_line_error(
        cli(
            "attendance", "--shift", str(shift_id), "--phone", "+12025550199", "--status", "no_show"
        )
    )


def test_cancel_shift_tells_everyone_once(cli: Cli, community: Community, db: Session) -> None:
    shift_id = add_shift(cli, capacity="1")
    for phone, status in (
        ("+12025550121", AssignmentStatus.CONFIRMED),
        ("+12025550122", AssignmentStatus.WAITLISTED),
    ):
        person = volunteer(db, community, phone, "V")
        db.add(Assignment(shift_id=shift_id, volunteer_id=person.id, status=status))
    db.commit()
    first = cli("cancel-shift", "--shift", str(shift_id))
    assert first.exit_code == 0 and "2 volunteer(s) told" in first.stdout
    second = cli("cancel-shift", "--shift", str(shift_id))
    assert second.exit_code == 0 and "0 volunteer(s) told" in second.stdout
    db.expire_all()
    notices = db.scalars(select(Message.body).where(Message.kind == "notice")).all()
    assert len(notices) == 2 and all("is cancelled" in body for body in notices)
    assert db.get_one(Shift, shift_id).status == ShiftStatus.CANCELLED


def test_move_shift_changes_the_time(cli: Cli, community: Community, db: Session) -> None:
    shift_id = add_shift(cli)
    result = cli(
        "move-shift",
        "--shift",
        str(shift_id),
        "--starts",
        f"{FUTURE}T10:00",
        "--ends",
        f"{FUTURE}T14:00",
    )
    assert result.exit_code == 0, result.output
    db.expire_all()
    assert db.get_one(Shift, shift_id).starts_at.astimezone(UTC).hour == 15  # 10:00 EST


def test_call_out_asks_and_reports(cli: Cli, community: Community, db: Session) -> None:
    # no quiet hours, so the real clock's time of day does not matter
    settings = cli(
        "community-settings",
        "--community",
        "riverside",
        "--quiet-start",
        "00:00",
        "--quiet-end",
        "00:00",
    )
    assert settings.exit_code == 0, settings.output
    shift_id = add_shift(cli, capacity="1")
    for i in range(4):
        volunteer(db, community, f"+1202555013{i}", f"V{i}")
    result = cli("call-out", "--shift", str(shift_id), "--need", "1", "--text", "Bring boots")
    assert result.exit_code == 0, result.output
    assert "asked 3 volunteer(s) for 1 place(s)" in result.stdout  # three per missing place
    assert db.scalar(select(func.count()).select_from(CallOutAsk)) == 3
    assert "--need" in one_line_error(cli("call-out", "--shift", str(shift_id), "--need", "0"))


def test_community_settings(cli: Cli, community: Community, db: Session) -> None:
    result = cli(
        "community-settings",
        "--community",
        "riverside",
        "--quiet-start",
        "22:30",
        "--quiet-end",
        "07:00",
        "--ask-limit",
        "5",
        "--reminders",
        "2h,24h,30m",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "riverside: quiet hours 22:30-07:00, ask limit 5/week, reminders 24h,2h,30m before each "
        "shift, texts kept forever"
    )
    db.expire_all()
    stored = db.get_one(Community, community.id)
    assert (stored.quiet_start_minute, stored.quiet_end_minute) == (22 * 60 + 30, 7 * 60)
    assert db.scalars(select(Roster.reminder_offsets)).one() == [1440, 120, 30]
    assert "HH:MM" in one_line_error(
        cli("community-settings", "--community", "riverside", "--quiet-start", "late")
    )
    assert "--reminders" in one_line_error(
        cli("community-settings", "--community", "riverside", "--reminders", "9d")
    )
