"""A volunteer's photo and location in the inbox, in a real browser: the photo loads through
the console's proxy route (never Twilio's URL), the location shows as coordinates with a map
link, and another community's coordinator gets 404 for that media URL."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.db import unit_of_work
from service.models import Community, Message, Role
from tests.browser.conftest import (
    REQUIRED,
    LiveSms,
    MakeCoordinator,
    browser_unavailable,
    login,
    screenshot,
)
from tests.conftest import WHATSAPP_NUMBER
from tests.fakes.twilio_server import FakeTwilio

_reason = browser_unavailable()
if _reason and not REQUIRED:
    pytest.skip(_reason, allow_module_level=True)

ANA = "+12025554567"
# A 2x1 PNG: the browser decodes it, so naturalWidth proves the proxy served a real image.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAYAAAD0In+KAAAAEUlEQVR42mP8z8DwnwEIGGEMAB7YA/1Q4H6BAAAAAElFTkSuQmCC"
)


def test_photo_and_location_show_in_the_inbox_and_stay_in_their_community(
    page: Any,
    browser: Any,
    live: Any,
    live_sms: LiveSms,
    fake_twilio: FakeTwilio,
    make_coordinator: MakeCoordinator,
    community: Community,
    session_factory: sessionmaker[Session],
) -> None:
    wa_ana, wa_us = f"whatsapp:{ANA}", f"whatsapp:{WHATSAPP_NUMBER}"
    for text in ("JOIN", "Ana", "YES"):
        live_sms.send(wa_ana, text, to=wa_us)
    sid, media_sid = "MM" + secrets.token_hex(16), "ME" + secrets.token_hex(16)
    url = fake_twilio.add_media(sid, media_sid, "image/png", PNG)
    photo = {"MessageSid": sid, "NumMedia": "1", "MediaUrl0": url, "MediaContentType0": "image/png"}
    assert "got your photo" in live_sms.send(wa_ana, "Bridge road flooded", to=wa_us, **photo)[0]
    where = {"Latitude": "38.8895", "Longitude": "-77.0353", "Label": "Washington Monument"}
    assert "got your location" in live_sms.send(wa_ana, "", to=wa_us, **where)[0]
    with unit_of_work(session_factory) as session:
        message_id = session.scalars(select(Message.id).where(Message.twilio_sid == sid)).one()

    make_coordinator(community, "coord@example.org", Role.COORDINATOR)
    login(page, "coord@example.org")
    page.goto("/console/inbox")
    proxy = f"/console/media/{message_id}/0"
    image = page.locator(f'img[src="{proxy}"]')
    # the thread opens on a tap (a <details>): its texts, with the photo, show then
    page.locator(f'li.thread-item:has(img[src="{proxy}"]) summary').click()
    image.wait_for()
    page.wait_for_function(
        'src => { const i = document.querySelector(`img[src="${src}"]`);'
        " return i && i.complete && i.naturalWidth > 0; }",
        arg=proxy,
    )
    assert image.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [2, 1]
    content = page.content()
    assert "Bridge road flooded" in content
    assert "api.twilio.com" not in content and fake_twilio.url not in content
    assert "38.889500, -77.035300" in content and "Washington Monument" in content
    map_link = page.get_by_role("link", name="map")
    assert "openstreetmap.org/?mlat=38.889500&mlon=-77.035300" in (
        map_link.get_attribute("href") or ""
    )
    screenshot(page, "inbox-photo-and-location")

    from service.communities.registry import create_community

    with unit_of_work(session_factory) as session:
        other = create_community(
            session,
            name="Hillside Pantry",
            slug="hillside",
            number="+12025550111",
            country="US",
            timezone="America/Chicago",
        )
    make_coordinator(other, "owner-b@example.org", Role.OWNER)
    stranger = browser.new_context(base_url=live.url)
    try:
        tab = stranger.new_page()
        login(tab, "owner-b@example.org")
        response = tab.goto(proxy)
        assert response is not None and response.status == 404
        assert response.body() != PNG
    finally:
        stranger.close()
