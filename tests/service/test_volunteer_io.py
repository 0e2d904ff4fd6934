"""CSV import and export of volunteers (service.volunteers.import_export), without the CLI."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import cast

import pytest
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from service.communities.registry import create_community
from service.models import Community, Volunteer
from service.volunteers.import_export import (
    EXPORT_COLUMNS,
    ImportFileError,
    ImportReport,
    RowError,
    export_to_string,
    export_volunteers,
    import_volunteers,
    neutralize,
)

NOW = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
LATER = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def run_import(
    db: Session,
    community: Community,
    text: str,
    *,
    source: str = "import:test.csv",
    now: datetime = NOW,
) -> ImportReport:
    report = import_volunteers(db, community, io.StringIO(text), source=source, now=now)
    db.commit()
    return report


def volunteers(db: Session, community: Community) -> dict[str, Volunteer]:
    db.expire_all()
    rows = db.scalars(select(Volunteer).where(Volunteer.community_id == community.id))
    return {v.phone: v for v in rows}


def errors_by_line(report: ImportReport) -> dict[int, str]:
    return {e.line: e.reason for e in report.errors}


def add_volunteer(
    db: Session,
    community: Community,
    phone: str,
    name: str,
    status: VolunteerStatus = VolunteerStatus.ACTIVE,
    **extra: object,
) -> Volunteer:
    volunteer = Volunteer(
        community_id=community.id,
        phone=phone,
        name=name,
        status=status,
        created_at=NOW,
        **extra,
    )
    db.add(volunteer)
    db.commit()
    return volunteer


# --- import -------------------------------------------------------------------------------

MIXED = (
    "name,phone,language,skills\n"  # 1
    "Ana Lopez,+12025550111,es,Driver;first aid\n"  # 2 good
    "Bad Phone,12345,en,\n"  # 3 invalid phone
    ",+12025550112,en,\n"  # 4 empty name
    "Pierre,+12025550113,fr,\n"  # 5 unknown language
    "\n"  # 6 blank: skipped, still counted
    "Ana Again,+1 202 555 0111,en,\n"  # 7 duplicate of line 2
    "Ben Carter,(202) 555-0123,en,cooking\n"  # 8 good, national format
)


def test_import_mixed_file(db: Session, community: Community) -> None:
    report = run_import(db, community, MIXED)

    assert report.created == 2
    assert report.updated == 0
    errors = errors_by_line(report)
    assert sorted(errors) == [3, 4, 5, 7]
    assert errors[3].startswith("phone:") and "12345" in errors[3]
    assert "name" in errors[4]
    assert "'fr'" in errors[5] and "en" in errors[5] and "es" in errors[5]
    assert "+12025550111" in errors[7] and "line 2" in errors[7]
    assert str(report.errors[0]) == f"line 3: {errors[3]}"

    rows = volunteers(db, community)
    assert set(rows) == {"+12025550111", "+12025550123"}
    ana, ben = rows["+12025550111"], rows["+12025550123"]
    assert (ana.name, ana.language, ana.skills) == ("Ana Lopez", "es", ["driver", "first aid"])
    assert (ben.name, ben.language, ben.skills) == ("Ben Carter", "en", ["cooking"])
    assert ana.status == VolunteerStatus.ACTIVE == ben.status


def test_import_attests_consent(db: Session, community: Community) -> None:
    run_import(db, community, "name,phone\nAna,+12025550111\n", source="import:list.csv")
    ana = volunteers(db, community)["+12025550111"]
    assert ana.consent_at == NOW
    assert ana.consent_source == "import:list.csv"
    assert ana.consent_wording and "attested" in ana.consent_wording
    assert ana.language == "en"  # default
    assert ana.skills == []
    assert ana.created_at == NOW


def test_consent_source_is_truncated_to_column_width(db: Session, community: Community) -> None:
    run_import(db, community, "name,phone\nAna,+12025550111\n", source="import:" + "x" * 80)
    assert volunteers(db, community)["+12025550111"].consent_source == ("import:" + "x" * 33)


def test_reimport_updates_and_keeps_first_consent(db: Session, community: Community) -> None:
    run_import(db, community, "name,phone,language,skills\nAna,+12025550111,en,driver\n")
    report = run_import(
        db,
        community,
        "name,phone,language,skills\nAna Lopez,2025550111,es,cooking|Driver\n",
        source="import:second.csv",
        now=LATER,
    )
    assert (report.created, report.updated, report.errors) == (0, 1, [])
    ana = volunteers(db, community)["+12025550111"]
    assert ana.name == "Ana Lopez"
    assert ana.language == "es"
    assert ana.skills == ["cooking", "driver"]  # merged, lower-cased, de-duplicated
    assert ana.consent_at == NOW
    assert ana.consent_source == "import:test.csv"


def test_import_keeps_opted_out_volunteer_opted_out(db: Session, community: Community) -> None:
    add_volunteer(
        db,
        community,
        "+12025550111",
        "Ana",
        VolunteerStatus.OPTED_OUT,
        opted_out_at=NOW,
        opt_out_source="sms",
    )
    report = run_import(db, community, "name,phone\nAna Lopez,(202) 555-0111\n", now=LATER)
    assert (report.created, report.updated, report.errors) == (0, 1, [])
    ana = volunteers(db, community)["+12025550111"]
    assert ana.status == VolunteerStatus.OPTED_OUT
    assert ana.opted_out_at == NOW
    assert ana.consent_at is None  # an import never re-attests consent of an opted-out number


def test_import_keeps_paused_volunteer_paused(db: Session, community: Community) -> None:
    add_volunteer(
        db,
        community,
        "+12025550111",
        "Ana",
        VolunteerStatus.PAUSED,
        consent_at=NOW,
        consent_source="sms",
    )
    run_import(db, community, "name,phone\nAna,+12025550111\n", now=LATER)
    ana = volunteers(db, community)["+12025550111"]
    assert ana.status == VolunteerStatus.PAUSED
    assert ana.consent_source == "sms"


def test_import_activates_new_volunteer(db: Session, community: Community) -> None:
    """A number that texted but never consented becomes active when a coordinator imports it."""
    add_volunteer(db, community, "+12025550111", "Ana", VolunteerStatus.NEW)
    run_import(db, community, "name,phone\nAna,+12025550111\n")
    ana = volunteers(db, community)["+12025550111"]
    assert ana.status == VolunteerStatus.ACTIVE
    assert ana.consent_at == NOW


def test_national_numbers_use_the_community_country(db: Session, community: Community) -> None:
    uk = create_community(
        db,
        name="Leeds Larder",
        slug="leeds",
        number="+442079460000",
        country="GB",
        timezone="Europe/London",
    )
    db.commit()
    text = "name,phone\nAmy,020 7946 0018\n"
    assert run_import(db, uk, text).created == 1
    assert set(volunteers(db, uk)) == {"+442079460018"}
    # The same national digits are not a valid US number: rejected, never a crash.
    report = run_import(db, community, text)
    assert report.created == 0
    assert [e.line for e in report.errors] == [2]
    assert volunteers(db, community) == {}


def test_header_is_case_and_space_insensitive(db: Session, community: Community) -> None:
    report = run_import(db, community, " Name , PHONE ,Language\nAna,+12025550111,ES\n")
    assert report.errors == []
    assert volunteers(db, community)["+12025550111"].language == "es"


def test_extra_columns_and_short_rows(db: Session, community: Community) -> None:
    text = "name,phone,notes\nAna,+12025550111,likes mornings,extra,cells\nBen\n"
    report = run_import(db, community, text)
    assert report.created == 1
    assert [(e.line, e.reason) for e in report.errors] == [(3, "phone: the phone number is empty")]


@pytest.mark.parametrize(
    "text",
    ["", "\n", "name,language\nAna,en\n", "phone\n+12025550111\n", "nom,tel\nAna,+1202\n"],
)
def test_file_without_required_columns_is_refused(
    db: Session, community: Community, text: str
) -> None:
    with pytest.raises(ImportFileError, match="line 1") as info:
        import_volunteers(db, community, io.StringIO(text), source="x", now=NOW)
    message = str(info.value)
    header = text.splitlines()[0] if text.strip() else ""
    for column in ("name", "phone"):
        if column not in header:
            assert column in message
    db.rollback()
    assert volunteers(db, community) == {}


def test_name_length_limit(db: Session, community: Community) -> None:
    text = f"name,phone\n{'a' * 60},+12025550111\n{'b' * 61},+12025550112\n   ,+12025550113\n"
    report = run_import(db, community, text)
    assert report.created == 1
    assert sorted(errors_by_line(report)) == [3, 4]
    assert "60" in errors_by_line(report)[3]


def test_quoted_cells_and_leading_apostrophe(db: Session, community: Community) -> None:
    text = 'name,phone,skills\n"Lopez, Ana",+12025550111,"a; B ;a"\n' + "'=1+1,'+12025550112,\n"
    report = run_import(db, community, text)
    assert report.errors == []
    rows = volunteers(db, community)
    assert rows["+12025550111"].name == "Lopez, Ana"
    assert rows["+12025550111"].skills == ["a", "b"]
    assert rows["+12025550112"].name == "=1+1"


def test_duplicate_after_a_rejected_first_occurrence_imports(
    db: Session, community: Community
) -> None:
    text = "name,phone,language\nAna,+12025550111,xx\nAna,+12025550111,en\n"
    report = run_import(db, community, text)
    assert report.created == 1
    assert sorted(errors_by_line(report)) == [2]


def test_volunteers_are_per_community(db: Session, community: Community) -> None:
    other = create_community(
        db,
        name="Other",
        slug="other",
        number="+12025550177",
        country="US",
        timezone="America/Chicago",
    )
    db.commit()
    run_import(db, community, "name,phone\nAna,+12025550111\n")
    report = run_import(db, other, "name,phone\nAnita,+12025550111\n")
    assert report.created == 1  # same number, separate community: a separate volunteer
    assert volunteers(db, community)["+12025550111"].name == "Ana"
    assert volunteers(db, other)["+12025550111"].name == "Anita"


def test_row_error_str() -> None:
    assert str(RowError(7, "phone: bad")) == "line 7: phone: bad"


# --- export -------------------------------------------------------------------------------


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_export_header_and_statuses(db: Session, community: Community) -> None:
    add_volunteer(
        db,
        community,
        "+12025550111",
        "Ana",
        VolunteerStatus.ACTIVE,
        language="es",
        skills=["driver", "first aid"],
        consent_at=NOW,
        consent_source="sms",
    )
    add_volunteer(db, community, "+12025550112", "Ben", VolunteerStatus.OPTED_OUT)
    add_volunteer(db, community, "+12025550113", "Chitra", VolunteerStatus.PAUSED)

    buffer = io.StringIO()
    count = export_volunteers(db, community, buffer)

    assert count == 3
    rows = parse(buffer.getvalue())
    assert (
        tuple(rows[0])
        == EXPORT_COLUMNS
        == (
            "name",
            "phone",
            "language",
            "skills",
            "status",
            "consent_at",
            "consent_source",
            "availability",
        )
    )
    assert rows[1] == [
        "Ana",
        "+12025550111",
        "es",
        "driver;first aid",
        "active",
        NOW.isoformat(),
        "sms",
        "",
    ]
    assert rows[2][:5] == ["Ben", "+12025550112", "en", "", "opted_out"]
    assert rows[2][5:] == ["", "", ""]
    assert rows[3][4] == "paused"
    assert len(rows) == 4


def test_export_only_this_community(db: Session, community: Community) -> None:
    other = create_community(
        db,
        name="Other",
        slug="other",
        number="+12025550177",
        country="US",
        timezone="America/Chicago",
    )
    db.commit()
    add_volunteer(db, other, "+12025550111", "Elsewhere")
    assert parse(export_to_string(db, community)) == [list(EXPORT_COLUMNS)]
    assert [r[0] for r in parse(export_to_string(db, other))[1:]] == ["Elsewhere"]


@pytest.mark.parametrize(
    "name",
    ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=cmd"],
)
def test_export_neutralises_formulas(db: Session, community: Community, name: str) -> None:
    add_volunteer(
        db, community, "+12025550111", name, skills=["=cmd|' /c calc'!A0"], consent_source="=evil"
    )
    row = parse(export_to_string(db, community))[1]
    assert row[0] == "'" + name
    assert row[3] == "'=cmd|' /c calc'!A0"
    assert row[6] == "'=evil"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Ana", "Ana"),
        ("", ""),
        ("a=b", "a=b"),
        ("'quoted", "'quoted"),
    ],
)
def test_neutralize(cell: str, expected: str) -> None:
    assert neutralize(cell) == expected


def test_export_then_import_round_trips(db: Session, community: Community) -> None:
    add_volunteer(
        db,
        community,
        "+12025550111",
        "=1+1",
        skills=["driver"],
        consent_at=NOW,
        consent_source="sms",
    )
    add_volunteer(db, community, "+12025550112", "Lopez, Ana", language="es")
    exported = export_to_string(db, community)
    db.execute(cast(Table, Volunteer.__table__).delete())
    db.commit()

    report = run_import(db, community, exported)
    assert (report.created, report.errors) == (2, [])
    rows = volunteers(db, community)
    assert rows["+12025550111"].name == "=1+1"
    assert rows["+12025550111"].skills == ["driver"]
    assert rows["+12025550112"].name == "Lopez, Ana"
    assert rows["+12025550112"].language == "es"


def test_availability_is_imported_and_exported(db: Session, community: Community) -> None:
    report = run_import(
        db,
        community,
        "name,phone,availability\nAna,+12025550111,weekends; evenings\nBen,+12025550112,"
        + "x" * 201
        + "\n",
    )
    assert (report.created, [e.line for e in report.errors]) == (1, [3])
    assert volunteers(db, community)["+12025550111"].availability == "weekends; evenings"
    rows = parse(export_to_string(db, community))
    assert rows[0][-1] == "availability" and rows[1][-1] == "weekends; evenings"


# --- console options: merged repeats, masked and narrowed export --------------------------


def test_merge_repeats_updates_the_first_rows_volunteer(db: Session, community: Community) -> None:
    add_volunteer(db, community, "+12025550111", "Ana", skills=["swimmer"])
    text = (
        "name,phone,language,skills\n"
        "Ana Lopez,+12025550111,es,driver\n"  # 2 updates the existing volunteer
        "Ben,+12025550112,en,\n"  # 3 new
        "Ana L,(202) 555-0111,en,cook\n"  # 4 repeats line 2
        "Ben Carter,+1 202 555 0112,en,\n"  # 5 repeats line 3
        "Bad,12345,en,\n"  # 6
    )
    report = import_volunteers(
        db, community, io.StringIO(text), source="import:x", now=NOW, merge_repeats=True
    )
    db.commit()
    assert (report.created, report.updated, report.merged) == (1, 1, 2)
    assert [e.line for e in report.errors] == [6]
    assert [str(n) for n in report.notes] == [
        "line 4: same number as line 2: merged",
        "line 5: same number as line 3: merged",
    ]
    rows = volunteers(db, community)
    assert set(rows) == {"+12025550111", "+12025550112"}
    assert (rows["+12025550111"].name, rows["+12025550111"].language) == ("Ana L", "en")
    assert rows["+12025550111"].skills == ["cook", "driver", "swimmer"]
    assert rows["+12025550112"].name == "Ben Carter"


def test_repeats_are_rejected_without_merge_repeats(db: Session, community: Community) -> None:
    report = run_import(db, community, "name,phone\nAna,+12025550111\nAna 2,2025550111\n")
    assert (report.created, report.merged, report.notes) == (1, 0, [])
    assert [str(e) for e in report.errors] == ["line 3: phone +12025550111 repeats line 2"]


def test_skills_may_be_separated_by_commas_in_a_quoted_cell(
    db: Session, community: Community
) -> None:
    run_import(db, community, 'name,phone,skills\nAna,+12025550111,"Driver, cook|x;y"\n')
    assert volunteers(db, community)["+12025550111"].skills == ["cook", "driver", "x", "y"]


def test_export_can_mask_numbers_and_narrow_rows(db: Session, community: Community) -> None:
    ana = add_volunteer(db, community, "+12025550111", "Ana")
    add_volunteer(db, community, "+12025550112", "Ben")
    buffer = io.StringIO()
    count = export_volunteers(
        db, community, buffer, phone=lambda p: p[:2] + "…" + p[-4:], volunteers=[ana]
    )
    assert count == 1
    assert [r[:2] for r in parse(buffer.getvalue())[1:]] == [["Ana", "+1…0111"]]
