"""The community export: everything of one community (and nothing of another), as JSON and
spreadsheet-safe CSV in a ZIP, from the CLI and the console."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.communities.accounts import create_coordinator
from service.communities.registry import create_community
from service.db import unit_of_work
from service.models import AuditEvent, Community, Role, Volunteer, VolunteerStatus
from tests.conftest import SmsHelper
from tests.service.conftest import Cli


def _seed(session_factory: sessionmaker[Session], community: Community) -> None:
    with unit_of_work(session_factory) as session:
        other = create_community(
            session,
            name="Hillside Pantry",
            slug="hillside",
            number="+12025550111",
            country="US",
            timezone="America/Chicago",
        )
        session.add_all(
            [
                Volunteer(
                    community_id=community.id,
                    phone="+12025550131",
                    name='=HYPERLINK("x")',
                    status=VolunteerStatus.ACTIVE,
                ),
                Volunteer(
                    community_id=other.id,
                    phone="+12025550132",
                    name="Other Person",
                    status=VolunteerStatus.ACTIVE,
                ),
            ]
        )
        create_coordinator(
            session,
            community=session.get_one(Community, community.id),
            email="lead@example.org",
            password="correct horse battery",
            role=Role.OWNER,
        )


def _open(archive: bytes) -> tuple[dict, zipfile.ZipFile]:  # type: ignore[type-arg]
    bundle = zipfile.ZipFile(io.BytesIO(archive))
    return json.loads(bundle.read("community.json")), bundle


def test_cli_exports_one_community(
    cli: Cli,
    db: Session,
    session_factory: sessionmaker[Session],
    community: Community,
    sms: SmsHelper,
    tmp_path: Path,
) -> None:
    _seed(session_factory, community)
    sms.join("+12025550123", "Ana")
    out = tmp_path / "riverside.zip"
    result = cli("export-community", "--community", "riverside", "--out", str(out))
    assert result.exit_code == 0, result.output
    document, bundle = _open(out.read_bytes())
    assert document["format"] == "handsup-community-export" and document["version"] == 1
    tables = document["tables"]
    assert [c["slug"] for c in tables["community"]] == ["riverside"]
    names = sorted(v["name"] for v in tables["volunteers"])
    assert names == ['=HYPERLINK("x")', "Ana"]  # JSON keeps the data as it is
    assert tables["coordinators"] == [{"email": "lead@example.org", "role": "owner"}]
    assert len(tables["messages"]) == 6  # three texts in, three replies out
    raw = out.read_bytes().decode("latin-1")
    assert "Other Person" not in json.dumps(document) and "password" not in json.dumps(document)
    assert "scrypt" not in raw
    rows = list(csv.DictReader(io.StringIO(bundle.read("volunteers.csv").decode())))
    assert sorted(r["name"] for r in rows) == ['\'=HYPERLINK("x")', "Ana"]  # CSV is neutralised
    assert set(bundle.namelist()) >= {"community.json", "volunteers.csv", "messages.csv"}
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "exported community")).one()
    assert event.actor == "cli"


def test_console_export_is_for_owners(
    session_factory: sessionmaker[Session], community: Community, app: object
) -> None:
    from tests.service.console.conftest import ConsoleClient

    _seed(session_factory, community)
    with unit_of_work(session_factory) as session:
        create_coordinator(
            session,
            community=session.get_one(Community, community.id),
            email="coord@example.org",
            password="correct horse battery",
            role=Role.COORDINATOR,
        )
    owner = ConsoleClient(app.test_client())  # type: ignore[attr-defined]
    owner.login("lead@example.org", "correct horse battery")
    response = owner.get("/console/settings/export.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    document, _ = _open(response.data)
    assert [v["phone"] for v in document["tables"]["volunteers"]] == ["+12025550131"]
    coordinator = ConsoleClient(app.test_client())  # type: ignore[attr-defined]
    coordinator.login("coord@example.org", "correct horse battery")
    assert coordinator.get("/console/settings/export.zip").status_code == 403
