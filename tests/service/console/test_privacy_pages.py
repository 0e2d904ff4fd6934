"""The console and erased volunteers: a forgotten number cannot be added back, and an erased
volunteer cannot be edited into someone again."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.models import Volunteer
from tests.conftest import SmsHelper
from tests.service.console.conftest import ConsoleClient

ANA = "+12025550123"


def _forget(sms: SmsHelper) -> None:
    sms.join(ANA, "Ana")
    sms.send(ANA, "FORGET")
    sms.send(ANA, "YES")


def test_a_forgotten_number_cannot_be_added_back(
    console: ConsoleClient, sms: SmsHelper, db: Session
) -> None:
    _forget(sms)
    form = {"name": "Ana", "phone": "(202) 555-0123", "language": "en", "consent": "1"}
    response = console.post("/console/volunteers/new", form)
    assert response.status_code == 400
    assert "This number asked to be forgotten" in response.get_data(as_text=True)
    db.expire_all()
    assert db.scalar(select(Volunteer).where(Volunteer.phone == ANA)) is None


def test_an_erased_volunteer_cannot_be_edited(
    console: ConsoleClient, sms: SmsHelper, db: Session
) -> None:
    _forget(sms)
    erased = db.scalars(select(Volunteer)).one()
    profile = console.text(f"/console/volunteers/{erased.id}")
    assert "Ana" not in profile and ANA not in profile
    form = {"name": "Somebody", "phone": "(202) 555-0199", "language": "en"}
    response = console.post(f"/console/volunteers/{erased.id}/edit", form)
    assert response.status_code == 400
    assert "erased on their request" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get_one(Volunteer, erased.id).name is None
