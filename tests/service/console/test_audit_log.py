"""The audit log page: owners and coordinators read it, newest first, 50 a page, filterable by
action, and only their own community's events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from service.communities import audit
from service.models import Community
from tests.service.console.conftest import ConsoleClient

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def seed(db: Session, community: Community, count: int, action: str = "exported") -> None:
    for n in range(count):
        audit.record(
            db,
            community_id=community.id,
            actor=None,
            action=action,
            subject=f"volunteer:{n}",
            now=START + timedelta(minutes=n),
            rows=n,
        )
    db.commit()


def test_viewers_are_refused(viewer_console: ConsoleClient) -> None:
    assert viewer_console.get("/console/audit").status_code == 403


def test_the_navigation_offers_the_audit_log_only_to_roles_that_may_read_it(
    viewer_console: ConsoleClient, console: ConsoleClient
) -> None:
    viewer_nav = viewer_console.text("/console/").split("<main>", 1)[0]
    coordinator_nav = console.text("/console/").split("<main>", 1)[0]
    assert 'href="/console/audit"' not in viewer_nav
    assert 'href="/console/settings"' in viewer_nav  # viewers read settings
    # Twice: the wide bar and the phone's Menu, one of them shown at a time.
    assert coordinator_nav.count('href="/console/audit"') == 2


def test_coordinator_reads_newest_first_with_local_times(
    console: ConsoleClient, db: Session, community: Community
) -> None:
    seed(db, community, 3)
    page = console.text("/console/audit")
    assert "viewers cannot" in page
    assert page.index("volunteer:2") < page.index("volunteer:1") < page.index("volunteer:0")
    assert "01 Mar 2026 07:02" in page  # 12:02 UTC in New York
    assert "rows:</span> 2" in page
    assert ">cli<" in page


def test_pages_of_fifty(owner_console: ConsoleClient, db: Session, community: Community) -> None:
    seed(db, community, 120)
    first = owner_console.text("/console/audit")
    assert "page 1 of 3" in first
    assert "volunteer:119" in first and "volunteer:70" in first
    assert "volunteer:69<" not in first
    third = owner_console.text("/console/audit?page=3")
    assert "volunteer:19<" in third and "volunteer:0<" in third
    assert "volunteer:20<" not in third
    assert "volunteer:0<" in owner_console.text("/console/audit?page=99")  # clamped
    assert "volunteer:119" in owner_console.text("/console/audit?page=-4")


def test_filter_by_action(console: ConsoleClient, db: Session, community: Community) -> None:
    seed(db, community, 2, "exported")
    seed(db, community, 1, "revealed number")
    page = console.text("/console/audit?action=revealed+number")
    assert page.count('<td data-label="Action">revealed number</td>') == 1
    assert '<td data-label="Action">exported</td>' not in page
    assert '<option value="exported"' in page  # the filter lists every action
    assert "No “broadcast” events yet" in console.text("/console/audit?action=broadcast")


def test_only_this_communitys_events(
    console: ConsoleClient, db: Session, community: Community, other_community: Community
) -> None:
    seed(db, other_community, 2, "secret action")
    seed(db, community, 1)
    page = console.text("/console/audit")
    assert "secret action" not in page
    assert '<td data-label="Action">exported</td>' in page


def test_settings_changes_show_up(owner_console: ConsoleClient) -> None:
    owner_console.post(
        "/console/settings",
        {
            "timezone": "America/Chicago",
            "quiet_start": "00:00",
            "quiet_end": "00:00",
            "reminders": "24h, 2h",
            "ask_limit_per_week": "3",
        },
    )
    page = owner_console.text("/console/audit")
    assert "changed settings" in page
    assert "owner@example.org" in page
    assert "fields:</span> timezone" in page
