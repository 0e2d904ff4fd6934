"""What Twilio sends, as coordinators see it in the inbox: texts from short codes and sender
IDs (kept, never answered), photos through the console's proxy route, locations as
coordinates with a map link."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.conftest import SmsHelper
from tests.service.console.conftest import ConsoleClient
from tests.service.test_twilio_payloads import posted, sms_full


def test_unmatched_texts_show_in_the_inbox_without_a_reply_form(
    sms: SmsHelper, db: Session, console: ConsoleClient
) -> None:
    posted(sms, sms_full("VERIFY", "Your code is 123456"))
    page = console.text("/console/inbox")
    assert "Your code is 123456" in page and "VERIFY" in page
    assert "cannot be answered" in page
    assert "/reply" not in page  # no one to answer: only "Mark handled"
    assert "/done" in page
