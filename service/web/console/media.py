"""Console: an inbound photo, video or file, through our own proxy route.

Twilio's media URLs need the account's credentials when HTTP auth is on for media, and a
browser must never hold them, so the console links ``/console/media/<message>/<n>`` and this
view fetches the item from Twilio (``service.conversations.media``). The message must belong to
the signed-in coordinator's community (404 otherwise, as for every id). Only raster images are
shown inline; anything else downloads, and the answer is sandboxed, so a file a volunteer sent
can never run as a page of the console.
"""

from __future__ import annotations

from flask import Response, abort
from flask.typing import ResponseReturnValue

from service.conversations import media
from service.models import Direction, Message, Role
from service.web.console import bp
from service.web.console.access import requires, scoped
from service.web.extensions import db_session, resources

INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


@bp.get("/media/<int:message_id>/<int:media_index>")
@requires(Role.VIEWER)
def inbound_media(message_id: int, media_index: int) -> ResponseReturnValue:
    dbs = db_session()
    message = scoped(dbs, Message, message_id)
    items = message.media or []
    if (
        message.direction != Direction.INBOUND
        or not message.twilio_sid
        or media_index >= len(items)
    ):
        abort(404)
    message_sid, item = message.twilio_sid, items[media_index]
    dbs.commit()  # end the read: the fetch below may take a moment
    try:
        found = media.fetch(resources().settings, message_sid, item["sid"])
    except media.MediaUnavailable:
        abort(404)
    inline = found.content_type in INLINE_TYPES
    response = Response(
        found.content, mimetype=found.content_type if inline else "application/octet-stream"
    )
    response.headers["Content-Disposition"] = (
        "inline" if inline else f'attachment; filename="attachment-{message_id}-{media_index}"'
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
