"""The console's volunteers area: list, profile, add/edit, show number, CSV import and export."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from service.models import (
    AuditEvent,
    Community,
    Direction,
    Message,
    MessageStatus,
    Volunteer,
)
from service.rosters import shifts as rosters
from service.volunteers.phones import mask
from tests.conftest import COMMUNITY_NUMBER, SmsHelper
from tests.service.console.conftest import ConsoleClient

NOW = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
ANA = "+12025550111"
BEN = "+12025550112"
CHITRA = "+12025550113"
SCRIPT = "<script>alert(1)</script>"


def add(
    db: Session,
    community: Community,
    phone: str,
    name: str | None,
    *,
    status: VolunteerStatus = VolunteerStatus.ACTIVE,
    language: str = "en",
    skills: list[str] | None = None,
    **extra: object,
) -> Volunteer:
    volunteer = Volunteer(
        community_id=community.id,
        phone=phone,
        name=name,
        status=status,
        language=language,
        skills=skills or [],
        created_at=NOW,
        **extra,
    )
    db.add(volunteer)
    db.commit()
    return volunteer


@pytest.fixture
def three(db: Session, community: Community) -> dict[str, Volunteer]:
    return {
        "ana": add(db, community, ANA, "Ana Lopez", language="es", skills=["driver", "first aid"]),
        "ben": add(
            db, community, BEN, "Ben Carter", status=VolunteerStatus.PAUSED, skills=["cook"]
        ),
        "chitra": add(
            db,
            community,
            CHITRA,
            "Chitra Rao",
            status=VolunteerStatus.OPTED_OUT,
            language="hi",
            skills=["driver"],
        ),
    }


def names(page: str) -> list[str]:
    """The names in the list's table, in order."""
    return re.findall(
        r'<td data-label="Name"><a href="/console/volunteers/\d+">([^<]*)</a></td>', page
    )


def protect_numbers(db: Session, community: Community) -> None:
    db.get_one(Community, community.id).protect_numbers = True
    db.commit()


def audit_events(db: Session, action: str | None = None) -> list[AuditEvent]:
    db.expire_all()
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(db.scalars(query))


def all_volunteers(db: Session) -> list[Volunteer]:
    db.expire_all()
    return list(db.scalars(select(Volunteer).order_by(Volunteer.id)))


def no_full_number_in_audit(db: Session) -> None:
    for event_ in audit_events(db):
        assert "+1202555" not in json.dumps(event_.detail)
        assert "+1202555" not in event_.subject


@pytest.fixture
def queries(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app runs while the test is running."""
    engine: Engine = app.extensions["handsup"].engine
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


# --- the list -----------------------------------------------------------------------------


def test_search_and_filters_narrow_the_list(
    console: ConsoleClient, three: dict[str, Volunteer]
) -> None:
    assert names(console.text("/console/volunteers")) == ["Ana Lopez", "Ben Carter", "Chitra Rao"]
    assert names(console.text("/console/volunteers?q=ana")) == ["Ana Lopez"]
    assert names(console.text("/console/volunteers?q=RAO")) == ["Chitra Rao"]
    assert names(console.text("/console/volunteers?q=555-0112")) == ["Ben Carter"]
    assert names(console.text("/console/volunteers?q=(202) 555-0113")) == ["Chitra Rao"]
    assert names(console.text("/console/volunteers?skill=driver")) == ["Ana Lopez", "Chitra Rao"]
    assert names(console.text("/console/volunteers?status=paused")) == ["Ben Carter"]
    assert names(console.text("/console/volunteers?language=hi")) == ["Chitra Rao"]
    assert names(console.text("/console/volunteers?skill=driver&language=es")) == ["Ana Lopez"]
    assert names(console.text("/console/volunteers?q=nobody")) == []
    # A skill is matched whole, and LIKE wildcards are plain characters.
    assert names(console.text("/console/volunteers?skill=drive")) == []
    assert names(console.text("/console/volunteers?q=%25")) == []
    # Unknown filter values are ignored rather than failing.
    assert len(names(console.text("/console/volunteers?status=bogus&page=x"))) == 3


def test_list_shows_number_status_language_and_skills(
    console: ConsoleClient, three: dict[str, Volunteer]
) -> None:
    page = console.text("/console/volunteers")
    assert ANA in page  # a coordinator in an unprotected community sees full numbers
    assert "opted out" in page and "paused" in page
    assert "driver, first aid" in page


def test_list_paginates_fifty_a_page_keeping_filters(
    console: ConsoleClient, db: Session, community: Community
) -> None:
    db.add_all(
        Volunteer(
            community_id=community.id,
            phone=f"+1202555{n:04d}",
            name=f"Person {n:03d}",
            skills=["driver"] if n % 2 else [],
        )
        for n in range(120)
    )
    db.commit()
    first = console.text("/console/volunteers")
    assert len(names(first)) == 50
    assert names(first)[0] == "Person 000"
    assert "Page 1 of 3" in first
    third = console.text("/console/volunteers?page=3")
    assert names(third) == [f"Person {n:03d}" for n in range(100, 120)]
    assert "Page 3 of 3" in third
    beyond = console.text("/console/volunteers?page=99")  # clamped to the last page
    assert names(beyond) == names(third)
    drivers = console.text("/console/volunteers?skill=driver&page=2")
    assert names(drivers) == [f"Person {n:03d}" for n in range(101, 120, 2)]
    assert "Page 2 of 2" in drivers and "skill=driver" in drivers  # links keep the filter


def test_list_runs_the_same_queries_for_5_or_500_volunteers(
    console: ConsoleClient, db: Session, community: Community, queries: list[str]
) -> None:
    def add_many(start: int, stop: int) -> None:
        db.add_all(
            Volunteer(
                community_id=community.id,
                phone=f"+1202555{n:04d}",
                name=f"Person {n:03d}",
                skills=["driver"],
            )
            for n in range(start, stop)
        )
        db.commit()

    add_many(0, 5)
    queries.clear()
    console.text("/console/volunteers")
    few = len(queries)
    add_many(5, 500)
    queries.clear()
    page = console.text("/console/volunteers")
    assert len(names(page)) == 50 and "Page 1 of 10" in page
    assert len(queries) == few  # no per-row queries
    assert few <= 8


# --- the profile --------------------------------------------------------------------------


def volunteer_by_phone(db: Session, phone: str) -> Volunteer:
    db.expire_all()
    return db.scalars(select(Volunteer).where(Volunteer.phone == phone)).one()


def test_profile_shows_the_conversation_oldest_first(
    console: ConsoleClient, sms: SmsHelper, db: Session
) -> None:
    sms.join("+12025550123", "Maria")
    volunteer = volunteer_by_phone(db, "+12025550123")
    page = console.text(f"/console/volunteers/{volunteer.id}")
    assert "<h1>Maria</h1>" in page
    thread = page[page.index('<ol class="thread">') :]
    join, name, yes = (
        thread.index(">\n      JOIN"),
        thread.index(">\n      Maria"),
        thread.index(">\n      YES"),
    )
    assert join < name < yes
    assert 'class="outbound"' in thread and "Welcome" in thread
    assert thread.index("Welcome") > yes
    assert "active" in page
    assert "Consented" in page and "Not yet" not in page


def add_messages(db: Session, community: Community, volunteer: Volunteer, count: int) -> None:
    db.add_all(
        Message(
            community_id=community.id,
            volunteer_id=volunteer.id,
            direction=Direction.INBOUND if n % 2 == 0 else Direction.OUTBOUND,
            from_address=volunteer.phone,
            to_address=COMMUNITY_NUMBER,
            body=f"message number {n:03d}",
            status=MessageStatus.PROCESSED if n % 2 == 0 else MessageStatus.DELIVERED,
            created_at=NOW + timedelta(minutes=n),
        )
        for n in range(count)
    )
    db.commit()


def test_long_conversation_shows_the_newest_with_a_link_to_older(
    console: ConsoleClient, db: Session, community: Community
) -> None:
    ana = add(db, community, ANA, "Ana")
    add_messages(db, community, ana, 130)
    page = console.text(f"/console/volunteers/{ana.id}")
    shown = re.findall(r"message number (\d{3})", page)
    assert shown == [f"{n:03d}" for n in range(30, 130)]
    older = re.search(r'href="(/console/volunteers/\d+\?before=\d+)#conversation"', page)
    assert older, "a show-older link"
    earlier = console.text(older.group(1))
    assert re.findall(r"message number (\d{3})", earlier) == [f"{n:03d}" for n in range(30)]
    assert "?before=" not in earlier
    assert "Back to the newest messages" in earlier


def test_profile_shows_consent_and_upcoming_shifts(
    console: ConsoleClient, db: Session, community: Community
) -> None:
    ana = add(db, community, ANA, "Ana", consent_at=NOW, consent_source="import:list.csv")
    place = db.get_one(Community, community.id)
    now = datetime.now(UTC)
    shift = rosters.add_shift(
        db,
        place,
        title="Sandbags",
        place="School gym",
        starts_at=now + timedelta(days=2),
        ends_at=now + timedelta(days=2, hours=3),
        capacity=3,
    )
    rosters.claim(db, db.get_one(Volunteer, ana.id), place, shift.id, now)
    db.commit()
    page = console.text(f"/console/volunteers/{ana.id}")
    assert "import:list.csv" in page
    assert "01 Mar 2026 10:30" in page  # consent time in the community's zone
    assert "Sandbags" in page and "School gym" in page and "confirmed" in page


def test_untrusted_names_are_escaped_on_list_and_profile(
    console: ConsoleClient, db: Session, community: Community
) -> None:
    volunteer = add(db, community, ANA, SCRIPT, skills=["<b>x</b>"])
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for path in (
        "/console/volunteers",
        f"/console/volunteers/{volunteer.id}",
        f"/console/volunteers/{volunteer.id}/edit",
    ):
        page = console.text(path)
        assert SCRIPT not in page and "<b>x</b>" not in page, path
        assert escaped in page, path


def test_another_communitys_volunteer_is_not_found(
    console: ConsoleClient, db: Session, other_community: Community
) -> None:
    theirs = add(db, other_community, ANA, "Elsewhere")
    for path in (f"/console/volunteers/{theirs.id}", f"/console/volunteers/{theirs.id}/edit"):
        response = console.get(path)
        assert response.status_code == 404, path
        assert "Elsewhere" not in response.get_data(as_text=True)
    assert console.post(f"/console/volunteers/{theirs.id}/number").status_code == 404
    edit = console.post(f"/console/volunteers/{theirs.id}/edit", {"name": "Mine", "phone": ANA})
    assert edit.status_code == 404
    assert console.get("/console/volunteers/999999").status_code == 404
    assert "Elsewhere" not in console.text("/console/volunteers")
    assert volunteer_by_phone(db, ANA).name == "Elsewhere"
    assert audit_events(db) == []


# --- add and edit -------------------------------------------------------------------------


def new_form(**overrides: object) -> dict[str, object]:
    form: dict[str, object] = {
        "name": "Dana Diaz",
        "phone": "(202) 555-0144",
        "language": "es",
        "skills": "Driver, first aid,driver",
        "availability": "weekends",
        "urgent_ok": "1",
        "consent": "1",
    }
    form.update(overrides)
    return form


def test_add_a_volunteer(console: ConsoleClient, db: Session, community: Community) -> None:
    response = console.post("/console/volunteers/new", new_form())
    assert response.status_code == 302
    [dana] = all_volunteers(db)
    assert response.headers["Location"].endswith(f"/console/volunteers/{dana.id}")
    assert (dana.name, dana.phone, dana.language) == ("Dana Diaz", "+12025550144", "es")
    assert dana.skills == ["driver", "first aid"]
    assert dana.availability == "weekends" and dana.urgent_ok is True
    assert dana.status == VolunteerStatus.ACTIVE
    assert dana.consent_at is not None and dana.sms_consent_at is not None
    assert dana.consent_source == "console"
    [created] = audit_events(db, "created")
    assert created.subject == f"volunteer:{dana.id}"
    assert created.actor == "coord@example.org"
    assert created.community_id == community.id
    no_full_number_in_audit(db)
    assert "Added Dana Diaz" in console.text(f"/console/volunteers/{dana.id}")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"phone": "12345"}, "“12345” is not a phone number we can text: read as a US number"),
        ({"phone": "not-a-phone"}, "not a phone number we can text"),
        ({"phone": "(202) 555-0144 ext. 12"}, "an extension cannot receive texts"),
        ({"phone": "1-800-FLOWERS"}, "a vanity number (like 1-800-FLOWERS) cannot receive"),
        (
            {"phone": "0412 345 678"},
            "read as a US number (United States), it is not a valid number there; if it is from"
            " Australia, write +61 412 345 678",
        ),
        ({"phone": ""}, "Enter a phone number"),
        ({"name": "   "}, "Enter a name"),
        ({"name": "x" * 61}, "Enter a name"),
        ({"language": "fr"}, "Choose one of"),
        ({"consent": ""}, "agreed to get texts"),
        ({"skills": ",".join(f"s{n}" for n in range(21))}, "At most 20 skills"),
    ],
)
def test_add_with_a_bad_field_shows_the_error_and_stores_nothing(
    console: ConsoleClient, db: Session, overrides: dict[str, object], message: str
) -> None:
    response = console.post("/console/volunteers/new", new_form(**overrides))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    typed = new_form(**overrides)["availability"]
    assert f'value="{typed}"' in page  # what was typed is kept
    assert all_volunteers(db) == []
    assert audit_events(db) == []


def test_add_a_duplicate_number_is_refused(
    console: ConsoleClient, db: Session, community: Community
) -> None:
    ana = add(db, community, "+12025550144", "Ana")
    response = console.post("/console/volunteers/new", new_form(phone="+1 202 555 0144"))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "already belongs to a volunteer" in page
    assert f'href="/console/volunteers/{ana.id}"' in page
    assert [v.name for v in all_volunteers(db)] == ["Ana"]


def test_national_numbers_use_the_community_country(
    console: ConsoleClient, db: Session, community: Community
) -> None:
    gb = db.get_one(Community, community.id)
    gb.country = "GB"
    db.commit()
    assert (
        console.post("/console/volunteers/new", new_form(phone="020 7946 0018")).status_code == 302
    )
    assert [v.phone for v in all_volunteers(db)] == ["+442079460018"]


def test_edit_a_volunteer(console: ConsoleClient, db: Session, community: Community) -> None:
    ana = add(db, community, ANA, "Ana", skills=["cook"])
    form = console.text(f"/console/volunteers/{ana.id}/edit")
    assert f'value="{ANA}"' in form and 'value="cook"' in form
    response = console.post(
        f"/console/volunteers/{ana.id}/edit",
        {"name": "Ana Lopez", "phone": "202-555-0199", "language": "en", "skills": "cook, driver"},
    )
    assert response.status_code == 302
    [saved] = all_volunteers(db)
    assert (saved.name, saved.phone, saved.skills) == (
        "Ana Lopez",
        "+12025550199",
        ["cook", "driver"],
    )
    [changed] = audit_events(db, "changed")
    assert changed.subject == f"volunteer:{ana.id}"
    assert changed.detail["fields"] == ["name", "phone", "skills"]
    no_full_number_in_audit(db)


def test_edit_with_a_bad_or_taken_number_changes_nothing(
    console: ConsoleClient, db: Session, community: Community
) -> None:
    ana = add(db, community, ANA, "Ana")
    add(db, community, BEN, "Ben")
    bad = console.post(
        f"/console/volunteers/{ana.id}/edit",
        {"name": "Ana Lopez", "phone": "555", "language": "en"},
    )
    assert bad.status_code == 400
    assert "not a phone number we can text" in bad.get_data(as_text=True)
    taken = console.post(
        f"/console/volunteers/{ana.id}/edit", {"name": "Ana Lopez", "phone": BEN, "language": "en"}
    )
    assert taken.status_code == 400
    assert "already belongs to a volunteer" in taken.get_data(as_text=True)
    assert [(v.name, v.phone) for v in all_volunteers(db)] == [("Ana", ANA), ("Ben", BEN)]
    assert audit_events(db) == []


def test_post_without_csrf_token_is_refused(console: ConsoleClient, db: Session) -> None:
    response = console.post("/console/volunteers/new", new_form(), csrf=False)
    assert response.status_code == 400
    assert all_volunteers(db) == []


# --- numbers: viewers, protected communities, the audited reveal -------------------------


def assert_no_full_number(page: str, *phones: str) -> None:
    for phone in phones:
        assert phone not in page
        assert phone[2:] not in page  # not even without the country code


def test_viewer_sees_masked_numbers_and_cannot_change_anything(
    viewer_console: ConsoleClient, db: Session, three: dict[str, Volunteer]
) -> None:
    ana = three["ana"]
    for path in ("/console/volunteers", f"/console/volunteers/{ana.id}"):
        page = viewer_console.text(path)
        assert_no_full_number(page, ANA, BEN, CHITRA)
        assert mask(ANA) in page
        assert "Show number" not in page and "Edit" not in page
    assert viewer_console.get("/console/volunteers/new").status_code == 403
    assert viewer_console.get(f"/console/volunteers/{ana.id}/edit").status_code == 403
    assert viewer_console.get("/console/volunteers/import").status_code == 403
    assert viewer_console.post(f"/console/volunteers/{ana.id}/number").status_code == 403
    assert viewer_console.post("/console/volunteers/new", new_form()).status_code == 403
    assert (
        viewer_console.post(
            f"/console/volunteers/{ana.id}/edit", {"name": "X", "phone": BEN}
        ).status_code
        == 403
    )
    files: dict[str, object] = {"file": (io.BytesIO(b"name,phone\nEve,+12025550155\n"), "v.csv")}
    assert viewer_console.post("/console/volunteers/import", files).status_code == 403
    assert len(all_volunteers(db)) == 3
    assert audit_events(db) == []


def test_viewer_cannot_find_a_hidden_number_digit_by_digit(
    viewer_console: ConsoleClient, three: dict[str, Volunteer]
) -> None:
    assert names(viewer_console.text("/console/volunteers?q=0112")) == ["Ben Carter"]  # shown
    assert names(viewer_console.text("/console/volunteers?q=2025550")) == []  # hidden digits
    assert names(viewer_console.text("/console/volunteers?q=555")) == []
    # A whole number is no exception: guessing the hidden digits would confirm it (issue 16).
    assert names(viewer_console.text("/console/volunteers?q=(202) 555-0112")) == []


def test_protected_numbers_are_masked_for_a_coordinator_and_the_reveal_is_audited(
    console: ConsoleClient, db: Session, community: Community, three: dict[str, Volunteer]
) -> None:
    protect_numbers(db, community)
    ana = three["ana"]
    profile = console.text(f"/console/volunteers/{ana.id}")
    assert_no_full_number(profile, ANA)
    assert mask(ANA) in profile and "Show number" in profile
    assert_no_full_number(console.text("/console/volunteers"), ANA, BEN, CHITRA)
    edit = console.text(f"/console/volunteers/{ana.id}/edit")
    assert_no_full_number(edit, ANA)
    assert "Leave blank to keep it" in edit

    revealed = console.post(f"/console/volunteers/{ana.id}/number")
    assert revealed.status_code == 200
    assert revealed.headers["Cache-Control"] == "no-store"
    assert ANA in revealed.get_data(as_text=True)
    [viewed] = audit_events(db, "viewed number")
    assert (viewed.subject, viewed.actor) == (f"volunteer:{ana.id}", "coord@example.org")
    # The reveal is one response: the next page view is masked again.
    assert_no_full_number(console.text(f"/console/volunteers/{ana.id}"), ANA)
    no_full_number_in_audit(db)


def test_protected_edit_with_a_blank_number_keeps_it(
    console: ConsoleClient, db: Session, community: Community
) -> None:
    protect_numbers(db, community)
    ana = add(db, community, ANA, "Ana")
    response = console.post(
        f"/console/volunteers/{ana.id}/edit", {"name": "Ana L", "phone": "", "language": "en"}
    )
    assert response.status_code == 302
    assert [(v.name, v.phone) for v in all_volunteers(db)] == [("Ana L", ANA)]


def test_owner_may_reveal(owner_console: ConsoleClient, db: Session, community: Community) -> None:
    protect_numbers(db, community)
    ana = add(db, community, ANA, "Ana")
    assert ANA in owner_console.post(f"/console/volunteers/{ana.id}/number").get_data(as_text=True)
    assert len(audit_events(db, "viewed number")) == 1


# --- CSV import ---------------------------------------------------------------------------

MIXED = (
    "name,phone,language,skills\n"  # 1
    "Ana Lopez,+12025550111,es,Driver;first aid\n"  # 2 good: updates the existing Ana
    "Bad Phone,12345,en,\n"  # 3 invalid phone
    ",+12025550114,en,\n"  # 4 empty name
    "Pierre,+12025550115,fr,\n"  # 5 unknown language
    "<script>alert(1)</script>,+12025550116,en,\n"  # 6 good, hostile name
    "Ana Again,(202) 555-0111,en,cook\n"  # 7 repeats line 2: merged
    "Ben Carter,(202) 555-0123,en,cooking\n"  # 8 good, national format
)


def upload(console: ConsoleClient, text: str | bytes, filename: str = "people.csv") -> str:
    data = text.encode() if isinstance(text, str) else text
    response = console.post(
        "/console/volunteers/import",
        {"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_import_reports_bad_rows_by_line_and_imports_the_good_ones(
    console: ConsoleClient, db: Session, community: Community
) -> None:
    add(db, community, ANA, "Ana", skills=["swimmer"])
    page = upload(console, MIXED)

    assert "Imported 2 new, updated 1, merged 1 repeated row, rejected 3." in page
    errors = re.findall(r"<li>Line (\d+): ([^<]*)</li>", page)
    lines = [int(line) for line, _ in errors]
    assert lines == [3, 4, 5, 7]  # three rejected rows, then the note on the merged one
    reasons = dict((int(line), reason) for line, reason in errors)
    assert reasons[3].startswith("phone:") and "12345" in reasons[3]
    assert "name" in reasons[4]
    assert "&#39;fr&#39;" in reasons[5]
    assert reasons[7] == "same number as line 2: merged"
    assert SCRIPT not in page

    rows = {v.phone: v for v in all_volunteers(db)}
    assert set(rows) == {ANA, "+12025550116", "+12025550123"}
    ana = rows[ANA]  # updated, then merged with line 7: later cells win, skills add up
    assert (ana.name, ana.language) == ("Ana Again", "en")
    assert ana.skills == ["cook", "driver", "first aid", "swimmer"]
    assert rows["+12025550123"].consent_source == "import:people.csv"
    assert rows["+12025550116"].name == SCRIPT

    [imported] = audit_events(db, "imported")
    assert imported.detail == {
        "file": "people.csv",
        "created": 2,
        "updated": 1,
        "merged": 1,
        "rejected": 3,
    }
    no_full_number_in_audit(db)


def test_import_twice_updates_instead_of_duplicating(console: ConsoleClient, db: Session) -> None:
    text = "\ufeffname,phone\nAna,+12025550111\nBen,+12025550112\n"  # with an Excel BOM
    assert "Imported 2 new, updated 0, rejected 0." in upload(console, text)
    assert "Imported 0 new, updated 2, rejected 0." in upload(console, text)
    assert len(all_volunteers(db)) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("nom,tel\nAna,+12025550111\n", "the header must include name, phone"),
        (b"name,phone\n\xff\xfeAna,+12025550111\n", "not UTF-8"),
    ],
)
def test_import_of_an_unusable_file_is_refused(
    console: ConsoleClient, db: Session, content: str | bytes, message: str
) -> None:
    data = content.encode() if isinstance(content, str) else content
    response = console.post(
        "/console/volunteers/import",
        {"file": (io.BytesIO(data), "bad.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert all_volunteers(db) == []
    assert audit_events(db) == []


def test_import_without_a_file_asks_for_one(console: ConsoleClient) -> None:
    response = console.post("/console/volunteers/import", {}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose a CSV file" in response.get_data(as_text=True)


def test_import_of_500_rows_fits_and_a_larger_upload_is_refused(
    console: ConsoleClient, db: Session
) -> None:
    rows = "".join(f"Volunteer {n:03d},+1202555{n:04d},en,driver\n" for n in range(500))
    page = upload(console, "name,phone,language,skills\n" + rows)
    assert "Imported 500 new" in page
    assert int(db.scalar(select(func.count()).select_from(Volunteer)) or 0) == 500
    huge = "name,phone\n" + "x" * (70 * 1024)
    response = console.post(
        "/console/volunteers/import",
        {"file": (io.BytesIO(huge.encode()), "huge.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


# --- CSV export ---------------------------------------------------------------------------


def exported(browser: ConsoleClient, query: str = "") -> list[list[str]]:
    response = browser.get("/console/volunteers/export.csv" + query)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


@pytest.mark.parametrize("name", ["=cmd()", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\r=x"])
def test_export_neutralises_formula_cells(
    console: ConsoleClient, db: Session, community: Community, name: str
) -> None:
    add(db, community, ANA, name, skills=["=hyperlink()"], consent_source="@evil")
    header, row = exported(console)
    assert header[:2] == ["name", "phone"]
    assert row[0] == "'" + name
    assert row[1] == ANA  # the number itself is shown whole to a coordinator
    assert row[3] == "'=hyperlink()"
    assert row[6] == "'@evil"
    [event_] = audit_events(db, "exported")
    assert event_.detail["count"] == 1 and event_.detail["masked"] is False


def test_export_masks_numbers_for_viewers_and_in_protected_communities(
    viewer_console: ConsoleClient,
    console: ConsoleClient,
    db: Session,
    community: Community,
    three: dict[str, Volunteer],
) -> None:
    rows = exported(viewer_console)
    assert [r[1] for r in rows[1:]] == [mask(ANA), mask(BEN), mask(CHITRA)]
    assert [r[1] for r in exported(console)[1:]] == [ANA, BEN, CHITRA]
    protect_numbers(db, community)
    assert [r[1] for r in exported(console)[1:]] == [mask(ANA), mask(BEN), mask(CHITRA)]
    assert [e.detail["masked"] for e in audit_events(db, "exported")] == [True, False, True]


def test_export_follows_the_list_filters(
    console: ConsoleClient, db: Session, three: dict[str, Volunteer]
) -> None:
    rows = exported(console, "?skill=driver&q=" + ANA.replace("+", "%2B"))
    assert [r[0] for r in rows[1:]] == ["Ana Lopez"]
    [event_] = audit_events(db, "exported")
    assert event_.detail["filters"] == {"skill": "driver"}
    assert event_.detail["searched"] is True
    no_full_number_in_audit(db)
