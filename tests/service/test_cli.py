"""The ``handsup`` command line, run in-process with click's CliRunner."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from service import migrate
from service.cli import main
from service.communities.accounts import verify_password
from service.config import Settings
from service.models import (
    Channel,
    ChannelKind,
    Community,
    Coordinator,
    Membership,
    Message,
    MessageKind,
    Role,
    Volunteer,
)
from tests.conftest import count_messages
from tests.service.conftest import Cli, one_line_error

COMMANDS = [
    ["db"],
    ["db", "upgrade"],
    ["create-community"],
    ["create-coordinator"],
    ["import-volunteers"],
    ["export-volunteers"],
    ["broadcast"],
    ["simulate"],
    ["demo"],
    ["worker"],
    ["dev"],
    ["add-shift"],
    ["move-shift"],
    ["cancel-shift"],
    ["roster"],
    ["attendance"],
    ["call-out"],
    ["community-settings"],
]


def fresh(db: Session) -> Session:
    db.expire_all()
    return db


def community_count(db: Session, slug: str | None = None) -> int:
    query = select(func.count()).select_from(Community)
    if slug is not None:
        query = query.where(Community.slug == slug)
    return int(fresh(db).scalar(query) or 0)


def community_args(**overrides: str) -> list[str]:
    options = {
        "name": "Eastside Pantry",
        "slug": "eastside",
        "number": "+12025550160",
        "country": "US",
        "timezone": "America/New_York",
    }
    options.update(overrides)
    args = ["create-community"]
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", value]
    return args


def write(tmp_path: Path, text: str, name: str = "volunteers.csv", encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return str(path)


# --- help ---------------------------------------------------------------------------------


def test_main_help(cli: Cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in (
        "db",
        "create-community",
        "create-coordinator",
        "import-volunteers",
        "export-volunteers",
        "broadcast",
        "simulate",
        "demo",
        "worker",
        "dev",
    ):
        assert command in result.output


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_has_help(cli: Cli, command: list[str], flag: str) -> None:
    result = cli(*command, flag)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert " ".join(command) in result.output


def test_unknown_command_fails(cli: Cli) -> None:
    assert cli("no-such-command").exit_code != 0


# --- db upgrade ---------------------------------------------------------------------------


def test_db_upgrade_on_migrated_database_is_a_no_op(cli: Cli, database_url: str) -> None:
    result = cli("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "head" in result.stdout
    assert migrate.current_heads(database_url)


def test_db_upgrade_creates_a_fresh_database(cli: Cli, tmp_path: Path, database_url: str) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'handsup.db'}"
    runner = CliRunner()
    result = runner.invoke(main, ["db", "upgrade"], env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fresh" / "handsup.db").exists()
    assert migrate.current_heads(url) == migrate.current_heads(database_url) != set()


def test_db_upgrade_to_unknown_revision_fails(cli: Cli) -> None:
    line = one_line_error(cli("db", "upgrade", "--revision", "nope"))
    assert "migration failed" in line


# --- create-community ---------------------------------------------------------------------


def test_create_community(cli: Cli, db: Session) -> None:
    result = cli(*community_args(), "--whatsapp-number", "+12025550161")
    assert result.exit_code == 0, result.output
    assert "eastside" in result.stdout
    community = fresh(db).scalar(select(Community).where(Community.slug == "eastside"))
    assert community is not None
    assert (community.name, community.country, community.timezone) == (
        "Eastside Pantry",
        "US",
        "America/New_York",
    )
    kinds = {c.kind: c.address for c in community.channels}
    assert kinds == {
        ChannelKind.SMS: "+12025550160",
        ChannelKind.SIMULATOR: "+12025550160",
        ChannelKind.WHATSAPP: "+12025550161",
    }


def test_create_community_accepts_local_number_and_lowercase_country(cli: Cli, db: Session) -> None:
    result = cli(*community_args(number="(202) 555-0160", country="us"))
    assert result.exit_code == 0, result.output
    channel = fresh(db).scalar(select(Channel).where(Channel.kind == ChannelKind.SMS))
    assert channel is not None and channel.address == "+12025550160"


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"country": "XX"}, ["--country", "XX"]),
        ({"country": "USA"}, ["--country"]),
        ({"timezone": "Mars/Olympus_Mons"}, ["--timezone", "Mars/Olympus_Mons"]),
        ({"timezone": "../etc/passwd"}, ["--timezone"]),
        ({"number": "12345"}, ["--number", "12345"]),
        ({"number": "not a number"}, ["--number"]),
        ({"slug": "Bad Slug!"}, ["--slug"]),
        ({"name": "   "}, ["--name"]),
    ],
)
def test_create_community_bad_input(
    cli: Cli, db: Session, overrides: dict[str, str], words: list[str]
) -> None:
    line = one_line_error(cli(*community_args(**overrides)))
    for word in words:
        assert word in line
    assert community_count(db) == 0


def test_create_community_bad_whatsapp_number(cli: Cli, db: Session) -> None:
    line = one_line_error(cli(*community_args(), "--whatsapp-number", "999"))
    assert "--whatsapp-number" in line
    assert community_count(db) == 0


def test_create_community_timezone_that_is_a_directory(cli: Cli, db: Session) -> None:
    """ZoneInfo("America") raises IsADirectoryError: still a one-line error, not a crash."""
    line = one_line_error(cli(*community_args(timezone="America")))
    assert "--timezone" in line


def test_create_community_duplicate_slug(cli: Cli, db: Session) -> None:
    assert cli(*community_args()).exit_code == 0
    line = one_line_error(cli(*community_args(number="+12025550162")))
    assert "eastside" in line and "already exists" in line
    assert community_count(db, "eastside") == 1


def test_create_community_number_already_used(cli: Cli, db: Session) -> None:
    assert cli(*community_args()).exit_code == 0
    line = one_line_error(cli(*community_args(slug="other")))
    assert "+12025550160" in line
    assert community_count(db) == 1


def test_create_community_missing_option(cli: Cli) -> None:
    result = cli("create-community", "--name", "X", "--slug", "x")
    assert result.exit_code == 2
    assert "--number" in result.stderr


# --- create-coordinator -------------------------------------------------------------------


def test_create_coordinator_reads_password_from_stdin(
    cli: Cli, db: Session, community: Community
) -> None:
    result = cli(
        "create-coordinator",
        "--community",
        "riverside",
        "--email",
        "Lead@Example.org",
        "--role",
        "owner",
        input="correct horse battery\n",
    )
    assert result.exit_code == 0, result.output
    assert "riverside" in result.stdout
    coordinator = fresh(db).scalar(
        select(Coordinator).where(Coordinator.email == "lead@example.org")
    )
    assert coordinator is not None
    assert verify_password(coordinator, "correct horse battery")
    assert not verify_password(coordinator, "correct horse battery\n")
    assert not verify_password(coordinator, "wrong password")
    assert "correct horse battery" not in coordinator.password_hash
    membership = db.scalar(select(Membership).where(Membership.coordinator_id == coordinator.id))
    assert membership is not None
    assert membership.community_id == community.id
    assert membership.role == Role.OWNER


def test_create_coordinator_default_role(cli: Cli, db: Session, community: Community) -> None:
    result = cli(
        "create-coordinator",
        "--community",
        "riverside",
        "--email",
        "c@example.org",
        input="long enough password\r\n",
    )
    assert result.exit_code == 0, result.output
    coordinator = fresh(db).scalar(select(Coordinator))
    assert coordinator is not None and verify_password(coordinator, "long enough password")
    membership = db.scalar(select(Membership))
    assert membership is not None and membership.role == Role.COORDINATOR


@pytest.mark.parametrize("password", ["short\n", "\n", ""])
def test_create_coordinator_short_password(
    cli: Cli, db: Session, community: Community, password: str
) -> None:
    line = one_line_error(
        cli(
            "create-coordinator",
            "--community",
            "riverside",
            "--email",
            "c@example.org",
            input=password,
        )
    )
    assert "password" in line
    assert fresh(db).scalar(select(func.count()).select_from(Coordinator)) == 0


def test_create_coordinator_bad_email(cli: Cli, db: Session, community: Community) -> None:
    line = one_line_error(
        cli(
            "create-coordinator",
            "--community",
            "riverside",
            "--email",
            "not-an-email",
            input="long enough password\n",
        )
    )
    assert "not-an-email" in line


def test_create_coordinator_unknown_community(cli: Cli) -> None:
    line = one_line_error(
        cli(
            "create-coordinator",
            "--community",
            "nowhere",
            "--email",
            "c@example.org",
            input="long enough password\n",
        )
    )
    assert "nowhere" in line


def test_create_coordinator_bad_role(cli: Cli, community: Community) -> None:
    result = cli(
        "create-coordinator",
        "--community",
        "riverside",
        "--email",
        "c@example.org",
        "--role",
        "admin",
        input="long enough password\n",
    )
    assert result.exit_code == 2
    assert "admin" in result.stderr


# --- import-volunteers --------------------------------------------------------------------

MIXED = (
    "name,phone,language,skills\n"  # line 1
    "Ana Lopez,+12025550111,es,driver;first aid\n"  # 2 good
    "Bad Phone,not-a-phone,en,\n"  # 3 invalid phone
    ",+12025550112,en,\n"  # 4 empty name
    "Pierre,+12025550113,fr,\n"  # 5 unknown language
    "Ana Twice,+1 (202) 555-0111,en,\n"  # 6 duplicate of line 2
    "Ben Carter,(202) 555-0123,en,cooking\n"  # 7 good, national format
)


def test_import_mixed_file(cli: Cli, db: Session, community: Community, tmp_path: Path) -> None:
    result = cli("import-volunteers", "--community", "riverside", write(tmp_path, MIXED))

    assert result.exit_code == 1
    assert "imported 2 new, updated 0, rejected 4" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert [e.split(":")[0] for e in errors] == ["line 3", "line 4", "line 5", "line 6"]
    assert errors[0].startswith("line 3: phone") and "not-a-phone" in errors[0]
    assert errors[1].startswith("line 4: name")
    assert errors[2].startswith("line 5: language") and "'fr'" in errors[2]
    assert errors[3].startswith("line 6: phone +12025550111") and "line 2" in errors[3]

    rows = {v.phone: v for v in fresh(db).scalars(select(Volunteer))}
    assert set(rows) == {"+12025550111", "+12025550123"}
    assert rows["+12025550123"].name == "Ben Carter"
    assert rows["+12025550111"].language == "es"
    assert rows["+12025550111"].skills == ["driver", "first aid"]
    for volunteer in rows.values():
        assert volunteer.status == VolunteerStatus.ACTIVE
        assert volunteer.consent_at is not None
        assert volunteer.consent_source == "import:volunteers.csv"


def test_import_all_good_file(cli: Cli, db: Session, community: Community, tmp_path: Path) -> None:
    text = "name,phone\nAna,+12025550111\nBen,202-555-0112\n"
    # A UTF-8 BOM (Excel's "CSV UTF-8") must not hide the first column name.
    result = cli(
        "import-volunteers", "--community", "riverside", write(tmp_path, text, encoding="utf-8-sig")
    )
    assert result.exit_code == 0, result.output
    assert "imported 2 new, updated 0, rejected 0" in result.stdout
    assert result.stderr == ""
    assert fresh(db).scalar(select(func.count()).select_from(Volunteer)) == 2

    again = cli("import-volunteers", "--community", "riverside", write(tmp_path, text))
    assert again.exit_code == 0
    assert "imported 0 new, updated 2, rejected 0" in again.stdout
    assert fresh(db).scalar(select(func.count()).select_from(Volunteer)) == 2


@pytest.mark.parametrize("text", ["name,language\nAna,en\n", "name;phone\nAna;+12025550111\n", ""])
def test_import_without_phone_column(
    cli: Cli, db: Session, community: Community, tmp_path: Path, text: str
) -> None:
    line = one_line_error(
        cli("import-volunteers", "--community", "riverside", write(tmp_path, text))
    )
    assert "phone" in line and "header" in line
    assert fresh(db).scalar(select(func.count()).select_from(Volunteer)) == 0


def test_import_keeps_opted_out_volunteer_opted_out(
    cli: Cli, db: Session, community: Community, tmp_path: Path
) -> None:
    db.add(
        Volunteer(
            community_id=community.id,
            phone="+12025550111",
            name="Ana",
            status=VolunteerStatus.OPTED_OUT,
        )
    )
    db.commit()
    result = cli(
        "import-volunteers",
        "--community",
        "riverside",
        write(tmp_path, "name,phone\nAna Lopez,(202) 555-0111\n"),
    )
    assert result.exit_code == 0, result.output
    assert "updated 1" in result.stdout
    ana = fresh(db).scalar(select(Volunteer))
    assert ana is not None
    assert ana.status == VolunteerStatus.OPTED_OUT
    assert ana.consent_at is None
    # ... and a broadcast right after still skips them.
    sent = cli("broadcast", "--community", "riverside", "--text", "Hello")
    assert sent.exit_code == 0, sent.output
    assert "queued 0 message(s)" in sent.stdout


def test_import_unknown_community(cli: Cli, tmp_path: Path) -> None:
    line = one_line_error(
        cli("import-volunteers", "--community", "nowhere", write(tmp_path, "name,phone\n"))
    )
    assert "nowhere" in line


def test_import_missing_file(cli: Cli, community: Community, tmp_path: Path) -> None:
    result = cli("import-volunteers", "--community", "riverside", str(tmp_path / "absent.csv"))
    assert result.exit_code == 2
    assert "absent.csv" in result.stderr


# --- export-volunteers --------------------------------------------------------------------


def seed_statuses(db: Session, community: Community) -> None:
    for phone, name, status in [
        ("+12025550111", "Ana", VolunteerStatus.ACTIVE),
        ("+12025550112", "Ben", VolunteerStatus.OPTED_OUT),
        ("+12025550113", "Chitra", VolunteerStatus.PAUSED),
        ("+12025550114", '=HYPERLINK("http://evil.example","x")', VolunteerStatus.ACTIVE),
    ]:
        db.add(Volunteer(community_id=community.id, phone=phone, name=name, status=status))
    db.commit()


def test_export_volunteers_to_stdout(cli: Cli, db: Session, community: Community) -> None:
    seed_statuses(db, community)
    result = cli("export-volunteers", "--community", "riverside")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == [
        "name",
        "phone",
        "language",
        "skills",
        "status",
        "consent_at",
        "consent_source",
        "availability",
    ]
    by_phone = {row[1]: row for row in rows[1:]}
    assert len(by_phone) == 4
    assert by_phone["+12025550111"][4] == "active"
    assert by_phone["+12025550112"][4] == "opted_out"
    assert by_phone["+12025550113"][4] == "paused"
    assert by_phone["+12025550114"][0] == '\'=HYPERLINK("http://evil.example","x")'
    assert by_phone["+12025550111"][0] == "Ana"


def test_export_volunteers_to_file(
    cli: Cli, db: Session, community: Community, tmp_path: Path
) -> None:
    seed_statuses(db, community)
    out = tmp_path / "out.csv"
    result = cli("export-volunteers", "--community", "riverside", "--out", str(out))
    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][0] == "name"
    assert [row[4] for row in rows[1:]] == ["active", "opted_out", "paused", "active"]
    assert rows[4][0].startswith("'=")


def test_export_then_import_round_trips(
    cli: Cli, db: Session, community: Community, tmp_path: Path
) -> None:
    result = cli(
        "import-volunteers",
        "--community",
        "riverside",
        write(tmp_path, "name,phone,language,skills\nAna,+12025550111,es,driver\n"),
    )
    assert result.exit_code == 0
    out = tmp_path / "out.csv"
    assert cli("export-volunteers", "--community", "riverside", "--out", str(out)).exit_code == 0
    again = cli("import-volunteers", "--community", "riverside", str(out))
    assert again.exit_code == 0, again.output
    assert "updated 1, rejected 0" in again.stdout


def test_export_unknown_community(cli: Cli) -> None:
    assert "nowhere" in one_line_error(cli("export-volunteers", "--community", "nowhere"))


# --- demo ---------------------------------------------------------------------------------


def test_demo_is_idempotent(cli: Cli, db: Session) -> None:
    first = cli("demo")
    assert first.exit_code == 0, first.output
    assert "'demo' created" in first.stdout
    second = cli("demo")
    assert second.exit_code == 0, second.output
    assert "already present" in second.stdout

    assert community_count(db) == 1
    assert community_count(db, "demo") == 1
    assert db.scalar(select(func.count()).select_from(Volunteer)) == 8
    assert db.scalar(select(func.count()).select_from(Coordinator)) == 1
    coordinator = db.scalar(select(Coordinator))
    assert coordinator is not None
    login = first.stdout.split("login ")[1].split()
    assert login[0] == coordinator.email
    assert verify_password(coordinator, login[2])


# --- simulate -----------------------------------------------------------------------------


def test_simulate_onboarding(cli: Cli, db: Session, community: Community) -> None:
    result = cli(
        "simulate", "--community", "riverside", "--from", "+12025550123", input="JOIN\nAna\nYES\n\n"
    )
    assert result.exit_code == 0, result.output
    replies = [line[2:] for line in result.stdout.splitlines() if line.startswith("< ")]
    assert len(replies) == 3
    assert "What is your name?" in replies[0]
    assert "Thanks Ana" in replies[1]
    assert "Welcome, Ana!" in replies[2]
    volunteer = fresh(db).scalar(select(Volunteer).where(Volunteer.phone == "+12025550123"))
    assert volunteer is not None
    assert volunteer.name == "Ana"
    assert volunteer.status == VolunteerStatus.ACTIVE


def test_simulate_stops_at_end_of_input_and_accepts_local_number(
    cli: Cli, db: Session, community: Community
) -> None:
    result = cli("simulate", "--community", "riverside", "--from", "(202) 555-0123", input="JOIN")
    assert result.exit_code == 0, result.output
    assert "+12025550123" in result.stdout
    assert "What is your name?" in result.stdout
    assert fresh(db).scalar(select(Volunteer.phone)) == "+12025550123"


def test_simulate_bad_sender(cli: Cli, community: Community) -> None:
    line = one_line_error(
        cli("simulate", "--community", "riverside", "--from", "nope", input="JOIN\n")
    )
    assert "nope" in line


def test_simulate_unknown_community(cli: Cli) -> None:
    line = one_line_error(
        cli("simulate", "--community", "nowhere", "--from", "+12025550123", input="JOIN\n")
    )
    assert "nowhere" in line


# --- broadcast ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   "])
def test_broadcast_empty_text(cli: Cli, db: Session, community: Community, text: str) -> None:
    line = one_line_error(cli("broadcast", "--community", "riverside", "--text", text))
    assert "--text" in line
    assert count_messages(fresh(db), kind="broadcast") == 0


def test_broadcast_too_long(cli: Cli, community: Community) -> None:
    line = one_line_error(cli("broadcast", "--community", "riverside", "--text", "x" * 1601))
    assert "1600" in line


def test_broadcast_queues_to_active_volunteers_only(
    cli: Cli, db: Session, community: Community
) -> None:
    for phone, status, skills in [
        ("+12025550111", VolunteerStatus.ACTIVE, ["driver"]),
        ("+12025550112", VolunteerStatus.ACTIVE, []),
        ("+12025550113", VolunteerStatus.OPTED_OUT, ["driver"]),
        ("+12025550114", VolunteerStatus.PAUSED, ["driver"]),
    ]:
        db.add(
            Volunteer(
                community_id=community.id, phone=phone, name="V", status=status, skills=skills
            )
        )
    db.commit()

    result = cli(
        "broadcast", "--community", "riverside", "--text", "Sandbags at 5", "--skill", "driver"
    )
    assert result.exit_code == 0, result.output
    assert "queued 1 message(s)" in result.stdout
    assert count_messages(fresh(db), kind="broadcast") == 1

    result = cli("broadcast", "--community", "riverside", "--text", "All hands")
    assert result.exit_code == 0, result.output
    assert "queued 2 message(s)" in result.stdout


def test_broadcast_dry_run_shows_the_cost_and_queues_nothing(
    cli: Cli, db: Session, community: Community
) -> None:
    for phone, language in [("+12025550111", "en"), ("+12025550112", "en"), ("+12025550113", "es")]:
        db.add(
            Volunteer(
                community_id=community.id,
                phone=phone,
                name="V",
                status=VolunteerStatus.ACTIVE,
                language=language,
            )
        )
    db.commit()
    result = cli(
        "broadcast",
        "--community",
        "riverside",
        "--text",
        "Agua potable en la escuela — ya",
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "en: 2 recipient(s), UCS-2, 1 segment(s) each",
        "es: 1 recipient(s), UCS-2, 1 segment(s) each",
        "total: 3 recipient(s), 3 segment(s)",
    ]
    assert count_messages(fresh(db), kind="broadcast") == 0


def test_broadcast_to_a_roster_reaches_those_booked_on_its_open_shifts(
    cli: Cli, db: Session, community: Community
) -> None:
    from datetime import UTC, datetime, timedelta

    from service.rosters import shifts as rosters

    people = []
    for phone in ("+12025550111", "+12025550112", "+12025550113"):
        volunteer = Volunteer(
            community_id=community.id, phone=phone, name="V", status=VolunteerStatus.ACTIVE
        )
        db.add(volunteer)
        people.append(volunteer)
    db.flush()
    now = datetime.now(UTC)
    shift = rosters.add_shift(
        db,
        community,
        title="Sandbags",
        place="School",
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=3),
        capacity=1,
    )
    assert rosters.claim(db, people[0], community, shift.id, now).outcome == "confirmed"
    assert rosters.claim(db, people[1], community, shift.id, now).outcome == "waitlisted"
    db.commit()
    result = cli(
        "broadcast",
        "--community",
        "riverside",
        "--text",
        "Bring gloves",
        "--roster",
        str(shift.roster_id),
    )
    assert result.exit_code == 0, result.output
    assert "queued 2 message(s)" in result.stdout
    sent_to = db.scalars(select(Message.to_address).where(Message.kind == "broadcast")).all()
    assert sorted(sent_to) == ["+12025550111", "+12025550112"]
    assert "no roster 999" in one_line_error(
        cli("broadcast", "--community", "riverside", "--text", "x", "--roster", "999")
    )


def test_sending_settings_set_a_messaging_service_templates_and_rates(
    cli: Cli, db: Session, community: Community
) -> None:
    service_sid, template = "MG" + "c" * 32, "HX" + "d" * 32
    result = cli(
        "sending-settings",
        "--community",
        "riverside",
        "--messaging-service-sid",
        service_sid,
        "--whatsapp-template",
        f"reminder={template}",
        "--sms-rate",
        "3",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"riverside: messaging service {service_sid}"
    assert "sms +12025550100: 3/s" in lines
    assert "whatsapp +12025550199: 10/s" in lines
    assert f"whatsapp template reminder: {template}" in lines
    place = fresh(db).get_one(Community, community.id)
    assert (place.messaging_service_sid, place.whatsapp_templates) == (
        service_sid,
        {"reminder": template},
    )
    result = cli(
        "sending-settings",
        "--community",
        "riverside",
        "--messaging-service-sid",
        "none",
        "--whatsapp-template",
        "reminder=",
        "--sms-rate",
        "0",
    )
    assert result.exit_code == 0, result.output
    assert "sms +12025550100: 1/s" in result.stdout.splitlines()  # the US long-code default
    place = fresh(db).get_one(Community, community.id)
    assert (place.messaging_service_sid, place.whatsapp_templates) == (None, {})
    assert "MG" in one_line_error(
        cli("sending-settings", "--community", "riverside", "--messaging-service-sid", "MG1")
    )
    assert "kind" in one_line_error(
        cli("sending-settings", "--community", "riverside", "--whatsapp-template", f"x={template}")
    )


def test_messages_lists_the_gate_decisions_with_numbers_masked(
    cli: Cli, db: Session, community: Community
) -> None:
    db.add(
        Volunteer(
            community_id=community.id,
            phone="+12025550111",
            name="V",
            status=VolunteerStatus.OPTED_OUT,
        )
    )
    db.add(
        Volunteer(
            community_id=community.id, phone="+12025550112", name="W", status=VolunteerStatus.ACTIVE
        )
    )
    db.commit()
    from service.sending.queue import queue_message

    for volunteer in fresh(db).scalars(select(Volunteer).order_by(Volunteer.id)):
        queue_message(
            db,
            volunteer=volunteer,
            body="Hi",
            kind=MessageKind.NOTICE,
            idempotency_key=volunteer.phone,
        )
    db.commit()
    result = cli("messages", "--community", "riverside")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(result.stdout.splitlines()))
    assert rows[0] == ["id", "created_at", "kind", "to", "status", "segments", "decision", "error"]
    assert [(r[3], r[4], r[6]) for r in rows[1:]] == [
        ("+1••••••0112", "pending", ""),
        ("+1••••••0111", "suppressed", "suppressed: recipient opted out"),
    ]
    only = cli("messages", "--community", "riverside", "--status", "suppressed")
    assert len(list(csv.reader(only.stdout.splitlines()))) == 2
    assert cli("messages", "--community", "riverside", "--status", "bogus").exit_code != 0


def test_broadcast_unknown_community(cli: Cli) -> None:
    line = one_line_error(cli("broadcast", "--community", "nowhere", "--text", "hi"))
    assert "nowhere" in line


# --- configuration errors -------------------------------------------------------------------


def test_bad_configuration_is_one_line(settings: Settings, database_url: str) -> None:
    result = CliRunner().invoke(
        main,
        ["demo"],
        env={
            "HANDSUP_ENV": "production",
            "SECRET_KEY": None,
            "REDIS_URL": "redis://x:1/0",
            "DATABASE_URL": database_url,
        },
    )
    line = one_line_error(result)
    assert "SECRET_KEY" in line
