"""The community settings behind issue 14's items 1 and 2: the clock texts use and the default
language, from the CLI (``community-settings --clock --default-language``) and the console's
settings page."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.communities.settings import (
    SettingsError,
    parse_clock_format,
    parse_form,
    parse_language,
)
from service.models import Community, Volunteer
from service.volunteers.import_export import import_volunteers
from tests.service.conftest import Cli
from tests.service.console.conftest import ConsoleClient


def test_parsers() -> None:
    assert [parse_clock_format(raw) for raw in ("12h", "24", " 24H ", "", "country")] == [
        "12h",
        "24h",
        "24h",
        "",
        "",
    ]
    assert parse_language(" ES ") == "es" and parse_language("") == "en"
    for parse, bad in ((parse_clock_format, "25h"), (parse_language, "fr")):
        try:
            parse(bad)
        except SettingsError:
            pass
        else:
            raise AssertionError(bad)
    wanted, errors = parse_form(
        {
            "timezone": "UTC",
            "quiet_start": "21:00",
            "quiet_end": "08:00",
            "reminders": "",
            "ask_limit_per_week": "3",
            "clock": "13h",
            "default_language": "xx",
        }
    )
    assert wanted is None and {"clock", "default_language"} <= set(errors)


def test_community_settings_sets_clock_and_default_language(
    cli: Cli, db: Session, community: Community
) -> None:
    result = cli(
        "community-settings",
        "--community",
        "riverside",
        "--clock",
        "24h",
        "--default-language",
        "es",
    )
    assert result.exit_code == 0, result.output
    assert (
        "texts in es when a first text does not tell, times on the 24-hour clock" in result.stdout
    )
    db.expire_all()
    stored = db.get_one(Community, community.id)
    assert (stored.clock, stored.default_language) == ("24h", "es")
    back = cli("community-settings", "--community", "riverside", "--clock", "country")
    assert "times on the 12-hour clock (as in US)" in back.stdout
    assert cli("community-settings", "--community", "riverside", "--clock", "25h").exit_code != 0
    bad = cli("community-settings", "--community", "riverside", "--default-language", "fr")
    assert bad.exit_code != 0 and "en/es/hi" in bad.output


def test_the_console_sets_clock_and_default_language(
    owner_console: ConsoleClient, db: Session, community: Community
) -> None:
    page = owner_console.text("/console/settings")
    assert 'name="clock"' in page and 'name="default_language"' in page
    assert "Espanol (es)" in page
    form = {
        "timezone": "America/New_York",
        "quiet_start": "00:00",
        "quiet_end": "00:00",
        "reminders": "24h, 2h",
        "ask_limit_per_week": "3",
        "clock": "24h",
        "default_language": "hi",
    }
    assert owner_console.post("/console/settings", form).status_code == 302
    db.expire_all()
    stored = db.get_one(Community, community.id)
    assert (stored.clock, stored.default_language) == ("24h", "hi")
    assert "clock, default language" in owner_console.text("/console/settings")
    bad = owner_console.post("/console/settings", dict(form, default_language="fr"))
    assert bad.status_code == 400
    assert 'id="error-default_language"' in bad.get_data(as_text=True)


def test_new_volunteers_take_the_community_default_language(
    db: Session, community: Community, console: ConsoleClient
) -> None:
    stored = db.get_one(Community, community.id)
    stored.default_language = "es"
    db.commit()
    report = import_volunteers(
        db,
        stored,
        io.StringIO("name,phone\nAna,+12025550161\nBen,+12025550162\n"),
        source="test",
        now=datetime.now(UTC),
    )
    db.commit()
    assert not report.errors
    languages = db.scalars(select(Volunteer.language).where(Volunteer.name.in_(["Ana", "Ben"])))
    assert set(languages) == {"es"}
    assert 'value="es" selected' in console.text("/console/volunteers/new")
