"""Phone numbers people type (console, CSV, CLI): a trailing label is ignored; an extension or a
vanity number is refused with a clear message; errors name the country the number was read in
and suggest the +CC form, never the library's raw text. Twilio's senders are read leniently
elsewhere (``parse_twilio_sender``); this strictness is only for what people type."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from service.models import Community
from service.volunteers.phones import InvalidPhoneNumber, to_e164
from tests.service.test_volunteer_io import run_import, volunteers


@pytest.mark.parametrize(
    "typed",
    ["(202) 555-0144 (mobile)", "202 555 0144 (Mobile phone)", "+1 202-555-0144 [cell]"],
)
def test_a_trailing_label_is_ignored(typed: str) -> None:
    assert to_e164(typed, "US") == "+12025550144"


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("+1 202 555 0144 x123", "x123"),
        ("202-555-0144 ext. 12", "ext. 12"),
        ("202-555-0144 ext 12", "ext 12"),
        ("+12025550144;ext=9", ";ext=9"),
        ("202.555.0144 #45", "#45"),
        ("(202) 555-0144 extension 7", "extension 7"),
    ],
)
def test_an_extension_is_refused_not_dropped(typed: str, shown: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as refused:
        to_e164(typed, "US")
    assert refused.value.reason == (
        f"it has an extension ({shown}), and an extension cannot receive texts:"
        " give the volunteer's own mobile number"
    )


@pytest.mark.parametrize("typed", ["1-800-FLOWERS", "+1 800 FLOWERS", "1 (800) GOT-JUNK"])
def test_a_vanity_number_is_refused(typed: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match="vanity number"):
        to_e164(typed, "US")


@pytest.mark.parametrize(
    ("typed", "region", "reason"),
    [
        (
            "0412 345 678",
            "US",
            "read as a US number (United States), it is not a valid number there; if it is from"
            " Australia, write +61 412 345 678",
        ),
        (
            "07911 123456",
            "US",
            "read as a US number (United States), it is not a valid number there; if it is from"
            " United Kingdom, write +44 7911 123456",
        ),
        (
            "(202) 555-0144",
            "GB",
            "read as a GB number (United Kingdom), it is not a valid number there; if it is from"
            " United States, write +1 202-555-0144",
        ),
        (
            "12345",
            "US",
            "read as a US number (United States), it is not a valid number there; if it is"
            " from another country, write it with + and the country code, like"
            " +61 412 345 678",
        ),
        ("+44 1234", "US", "it is not a valid United Kingdom number (+44): check the digits"),
    ],
)
def test_errors_name_the_country_read_and_suggest_the_plus_form(
    typed: str, region: str, reason: str
) -> None:
    with pytest.raises(InvalidPhoneNumber) as refused:
        to_e164(typed, region)
    assert refused.value.reason == reason
    assert str(refused.value) == f"{typed!r}: {reason}"
    assert "NumberParseException" not in str(refused.value)
    assert "(1)" not in str(refused.value)  # none of the library's own error text


def test_the_csv_import_says_the_same(db: Session, community: Community) -> None:
    text = "name,phone\nAna,0412 345 678\nBen,202-555-0144 x12\nCid,(202) 555-0145 (mobile)\n"
    report = run_import(db, community, text)
    assert report.created == 1
    assert set(volunteers(db, community)) == {"+12025550145"}
    reasons = [e.reason for e in report.errors]
    assert "if it is from Australia, write +61 412 345 678" in reasons[0]
    assert "an extension cannot receive texts" in reasons[1]
