"""What Twilio sends, as coordinators see it in the inbox: texts from short codes and sender
IDs (kept, never answered), photos through the console's proxy route, locations as
coordinates with a map link."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service import clock
from service.db import unit_of_work
from service.models import Community, Message, OutboxItem, Role
from service.volunteers import privacy
from tests.conftest import SmsHelper
from tests.fakes.twilio_server import FakeTwilio
from tests.service.console.conftest import ConsoleClient, MakeCoordinator
from tests.service.test_twilio_payloads import posted, sms_full, whatsapp
from workers.outbox import run_item


def test_unmatched_texts_show_in_the_inbox_without_a_reply_form(
    sms: SmsHelper, db: Session, console: ConsoleClient
) -> None:
    posted(sms, sms_full("VERIFY", "Your code is 123456"))
    page = console.text("/console/inbox")
    assert "Your code is 123456" in page and "VERIFY" in page
    assert "cannot be answered" in page
    assert "/reply" not in page  # no one to answer: only "Mark handled"
    assert "/done" in page


PHOTO = b"\xff\xd8\xff\xe0 a photo of a blocked road"
ANA = "+12025550123"


def send_photo(sms: SmsHelper, fake_twilio: FakeTwilio) -> tuple[str, str]:
    """Ana texts a photo (MMS, no words); returns its message and media SIDs."""
    sms.join(ANA, "Ana")
    sid, media_sid = "MM" + secrets.token_hex(16), "ME" + secrets.token_hex(16)
    url = fake_twilio.add_media(sid, media_sid, "image/jpeg", PHOTO)
    form = sms.form(ANA, "", sid=sid, NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    assert "got your photo" in posted(sms, form)[0]
    return sid, media_sid


def stored(db: Session, sid: str) -> Message:
    db.expire_all()
    message = db.scalars(select(Message).where(Message.twilio_sid == sid)).one()
    db.commit()
    return message


def test_a_photo_shows_through_the_proxy_route_and_never_twilios_url(
    sms: SmsHelper,
    db: Session,
    fake_twilio: FakeTwilio,
    viewer_console: ConsoleClient,
    other_community: Community,
    make_coordinator: MakeCoordinator,
    console_for: Callable[[], ConsoleClient],
) -> None:
    sid, _ = send_photo(sms, fake_twilio)
    message = stored(db, sid)
    page = viewer_console.text("/console/inbox")
    proxy = f"/console/media/{message.id}/0"
    assert f'src="{proxy}"' in page
    assert "api.twilio.com" not in page and fake_twilio.url not in page
    response = viewer_console.get(proxy)
    assert response.status_code == 200 and response.get_data() == PHOTO
    assert response.mimetype == "image/jpeg"
    assert "no-store" in response.headers["Cache-Control"]
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert viewer_console.get(f"/console/media/{message.id}/1").status_code == 404
    # another community's coordinator: 404, as for every id
    make_coordinator(other_community, "owner-b@example.org", Role.OWNER)
    stranger = console_for()
    assert stranger.login("owner-b@example.org").status_code == 302
    assert stranger.get(proxy).status_code == 404
    # signed out: to the login page, never the photo
    assert console_for().get(proxy).status_code in (302, 401)


def test_a_file_that_is_not_a_photo_downloads_and_never_renders(
    sms: SmsHelper, db: Session, fake_twilio: FakeTwilio, console: ConsoleClient
) -> None:
    sms.join(ANA, "Ana")
    sid, media_sid = "MM" + secrets.token_hex(16), "ME" + secrets.token_hex(16)
    url = fake_twilio.add_media(sid, media_sid, "text/html", b"<script>alert(1)</script>")
    form = sms.form(ANA, "", sid=sid, NumMedia="1", MediaUrl0=url, MediaContentType0="text/html")
    posted(sms, form)
    message = stored(db, sid)
    response = console.get(f"/console/media/{message.id}/0")
    assert response.status_code == 200
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment")
    inbox = console.text("/console/inbox")
    assert f'href="/console/media/{message.id}/0"' in inbox  # offered as a download
    assert f'src="/console/media/{message.id}/0"' not in inbox  # never shown as a picture


def test_a_location_shows_as_coordinates_with_a_map_link(
    sms: SmsHelper, db: Session, console: ConsoleClient
) -> None:
    for text in ("JOIN", "Ana", "YES"):
        posted(sms, whatsapp(text))
    posted(
        sms,
        whatsapp(
            "", MessageType="location", Latitude="38.8895", Longitude="-77.0353", Label="Monument"
        ),
    )
    page = console.text("/console/inbox")
    assert "38.889500, -77.035300" in page and "Monument" in page
    assert "openstreetmap.org/?mlat=38.889500&amp;mlon=-77.035300" in page


def test_forget_drops_the_media_and_asks_twilio_to_delete_it(
    sms: SmsHelper, db: Session, fake_twilio: FakeTwilio, console: ConsoleClient, worker: object
) -> None:
    sid, media_sid = send_photo(sms, fake_twilio)
    message_id = stored(db, sid).id
    sms.send(ANA, "FORGET")
    assert sms.send(ANA, "YES")[0].startswith("Done:")
    assert stored(db, sid).media is None
    assert fake_twilio.deleted_media == []  # not from the webhook: a job does it
    run_outbox_jobs(db)
    assert fake_twilio.deleted_media == [media_sid]
    assert media_sid not in fake_twilio.media
    assert console.get(f"/console/media/{message_id}/0").status_code == 404
    run_outbox_jobs(db)  # run again: nothing more
    assert fake_twilio.deleted_media == [media_sid]


def test_retention_drops_old_media_and_locations_and_deletes_the_media_at_twilio(
    sms: SmsHelper,
    db: Session,
    fake_twilio: FakeTwilio,
    session_factory: sessionmaker[Session],
    community: Community,
    worker: object,
) -> None:
    sid, media_sid = send_photo(sms, fake_twilio)
    now = clock.now()
    with unit_of_work(session_factory) as session:
        session.get_one(Community, community.id).retention_days = 30
        for message in session.scalars(select(Message)):
            message.created_at = now - timedelta(days=40)
    with unit_of_work(session_factory) as session:
        assert privacy.apply_retention(session, now) >= 1
    message = stored(db, sid)
    assert message.media is None and message.body == ""
    assert message.num_media == 1  # the count stays, as the rows do
    run_outbox_jobs(db)
    assert fake_twilio.deleted_media == [media_sid]


def run_outbox_jobs(db: Session) -> None:
    db.expire_all()
    ids = db.scalars(select(OutboxItem.id).where(OutboxItem.done_at.is_(None))).all()
    db.commit()
    for item_id in ids:
        run_item(item_id)
