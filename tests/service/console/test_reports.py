"""The reports page (hours per volunteer and month, fill and no-show rates, an SVG chart) and
the hours CSV (neutralised, audited, numbers masked for viewers)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.models import AuditEvent, Community
from tests.service.console.conftest import ConsoleClient
from tests.service.test_reports import BEN, EVIL_NAME, NOW, seed_rosters


@pytest.fixture
def frozen() -> Iterator[datetime]:
    clock.freeze(NOW)
    yield NOW
    clock.freeze(None)


def test_the_reports_page_shows_rates_hours_and_a_chart(
    console: ConsoleClient,
    session_factory: sessionmaker[Session],
    community: Community,
    frozen: datetime,
) -> None:
    seed_rosters(session_factory, community)
    page = console.text("/console/reports")
    fill = page.split('id="fill-rate"', 1)[1].split("</section>", 1)[0]
    assert "86%" in fill and "6 of 7 places" in fill
    no_show = page.split('id="no-show-rate"', 1)[1].split("</section>", 1)[0]
    assert "17%" in no_show and "1 no-show(s) of 6" in no_show
    assert "9 hour(s) in all" in page
    svg = page.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert svg.count('<rect class="bar"') == 6  # one per month
    assert "2030-01: 7.5 h" in svg and "2029-10: 0 h" in svg
    assert "&#34;http://x&#34;" in page  # the name is escaped, in the table too
    assert EVIL_NAME not in page
    assert BEN in page
    longer = console.text("/console/reports?months=12")
    assert longer.split("<svg", 1)[1].count('<rect class="bar"') == 12
    assert "19 hour(s) in all" in longer


def test_the_csv_is_neutralised_and_audited(
    console: ConsoleClient,
    session_factory: sessionmaker[Session],
    community: Community,
    db: Session,
    frozen: datetime,
) -> None:
    seed_rosters(session_factory, community)
    response = console.get("/console/reports/hours.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["month", "volunteer_id", "name", "phone", "hours"]
    assert (rows[1][0], rows[1][2]) == ("2030-03", "Ana")  # newest month first
    evil = next(r for r in rows if "HYPERLINK" in r[2])
    assert evil[2] == "'" + EVIL_NAME and evil[3] == "'" + BEN
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "exported")).all()
    assert [(e.actor, e.subject, e.detail["rows"]) for e in events] == [
        ("coord@example.org", "hours.csv", 4)
    ]
    db.commit()


def test_a_viewer_gets_masked_numbers_in_page_and_csv(
    viewer_console: ConsoleClient,
    session_factory: sessionmaker[Session],
    community: Community,
    frozen: datetime,
) -> None:
    seed_rosters(session_factory, community)
    assert BEN not in viewer_console.text("/console/reports")
    body = viewer_console.get("/console/reports/hours.csv").get_data(as_text=True)
    assert BEN not in body and "0162" in body


def test_reports_leave_other_communities_out(
    console: ConsoleClient,
    session_factory: sessionmaker[Session],
    community: Community,
    other_community: Community,
    frozen: datetime,
) -> None:
    seed_rosters(session_factory, other_community)
    page = console.text("/console/reports")
    assert "No hours recorded" in page and "Ana" not in page
    body = console.get("/console/reports/hours.csv").get_data(as_text=True)
    assert body.strip() == "month,volunteer_id,name,phone,hours"
