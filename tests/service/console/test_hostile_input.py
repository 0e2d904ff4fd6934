"""Hostile query strings and forms against the console: every page that takes no id is asked
with SQL-ish, script-ish, wildcard and NUL values in every query parameter the console reads.
Never a 500; a NUL (which PostgreSQL text cannot hold) is a 400; searches match the value
literally; nothing is dropped or changed; the value is shown escaped, if at all."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flows.engine import VolunteerStatus
from service.models import Community, Volunteer
from tests.service.console.conftest import ConsoleClient

# Every query parameter a console view reads (grep request.args in service/console).
PARAMETERS = (
    "q",
    "skill",
    "language",
    "status",
    "page",
    "action",
    "kind",
    "direction",
    "before",
    "months",
    "when",
    "next",
)
HOSTILE = {
    # No digits in these: a search's digits also match phone numbers, by design.
    "sql quote": "' OR 'a'='a",
    "sql statement": "x'); DROP TABLE volunteers; --",
    "sql comment": "ana'--",
    "like wildcards": "%_%",
    "backslash": "\\",
    "script": '"><script>alert(1)</script>',
    "huge": "x" * 5000,
    "astral": "\U0001f600\U00010348",
}
SCRIPT = "<script>alert(1)</script>"


def parameterless_get_pages(app: Flask) -> list[str]:
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("console.")
        and "GET" in (rule.methods or ())
        and not rule.arguments
        and rule.endpoint not in ("console.logout",)
    )


@pytest.fixture
def volunteers(db: Session, community: Community) -> int:
    for name, phone in (("Ana Lopez", "+12025550111"), ("Ben Carter", "+12025550112")):
        db.add(
            Volunteer(
                community_id=community.id, phone=phone, name=name, status=VolunteerStatus.ACTIVE
            )
        )
    db.commit()
    return 2


def count_volunteers(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Volunteer)) or 0


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_query_values_never_fail_a_page(
    app: Flask, console: ConsoleClient, db: Session, volunteers: int, kind: str
) -> None:
    value = HOSTILE[kind]
    pages = parameterless_get_pages(app)
    assert "/console/volunteers" in pages and "/console/messages" in pages
    for page in pages:
        response = console.get(f"{page}?{urlencode(dict.fromkeys(PARAMETERS, value))}")
        assert response.status_code in (200, 302, 400, 403, 404), (page, kind, response.status_code)
        if response.status_code == 200 and response.mimetype == "text/html":
            assert SCRIPT not in response.get_data(as_text=True), (page, kind)
    assert count_volunteers(db) == volunteers


@pytest.mark.parametrize("kind", ["sql quote", "sql statement", "sql comment", "like wildcards"])
def test_sql_ish_searches_match_literally(
    console: ConsoleClient, db: Session, volunteers: int, kind: str
) -> None:
    page = console.text(f"/console/volunteers?{urlencode({'q': HOSTILE[kind]})}")
    assert "Ana Lopez" not in page and "Ben Carter" not in page
    assert "Ana Lopez" in console.text("/console/volunteers?q=ana")
    assert count_volunteers(db) == volunteers


def test_a_nul_in_a_query_or_a_form_is_a_400_that_changes_nothing(
    app: Flask, console: ConsoleClient, db: Session, volunteers: int
) -> None:
    for page in parameterless_get_pages(app):
        for parameter in PARAMETERS:
            response = console.get(f"{page}?{parameter}=a%00b")
            assert response.status_code == 400, (page, parameter, response.status_code)
    response = console.post(
        "/console/volunteers/new", {"name": "Eve\x00", "phone": "+12025550119", "language": "en"}
    )
    assert response.status_code == 400
    assert "not understood" in response.get_data(as_text=True)  # the console's own error page
    assert count_volunteers(db) == volunteers
