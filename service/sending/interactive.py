"""Interactive WhatsApp messages: the Content API templates that show a community's menus and
YES / NO questions (what each one is, creating them once per community and language, their
SIDs), and the menu answer to an inbound text that must go through the send gate.

A TwiML ``<Message>`` cannot carry a ``ContentSid``: on WhatsApp, when the community has the
template for a menu, the inbound handler queues the menu as an outbound row (its numbered text
as the body, the menu in ``interactive``) and leaves that text out of the TwiML answer. The
send gate (``service.sending.gate``) decides at send time, like any other route, whether it
goes as the list-picker (inside the 24-hour window) or as text (an approved template outside
it, SMS, or the numbered text). Imports SQLAlchemy, the Twilio SDK's content types, ``flows``
(catalog, menus) and ``service.models``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.rest.content.v1.content import ContentList

from flows import catalog
from flows.menus import MAX_ITEMS, PURPOSES, Menu, MenuShape
from flows.sms import segment_info
from service.models import (
    Channel,
    ChannelKind,
    Community,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Priority,
    WhatsAppContent,
)

log = logging.getLogger(__name__)

# (language, purpose) -> content SID, for one community
Contents = dict[tuple[str, str], str]


def purpose_of(interactive: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """The (language, purpose) of a row's stored menu, which names its content template."""
    if not interactive:
        return None
    menu = Menu.from_json(dict(interactive))
    return menu.language, menu.purpose


def contents_of(session: Session, community_ids: Iterable[int]) -> dict[int, Contents]:
    """The synced content templates of ``community_ids`` (one query; none when empty)."""
    wanted = set(community_ids)
    found: dict[int, Contents] = defaultdict(dict)
    if not wanted:
        return found
    rows = session.execute(
        select(
            WhatsAppContent.community_id,
            WhatsAppContent.language,
            WhatsAppContent.purpose,
            WhatsAppContent.content_sid,
        ).where(WhatsAppContent.community_id.in_(wanted))
    )
    for community_id, language, purpose, sid in rows:
        found[community_id][(language, purpose)] = sid
    return found


def answer_with_menu(
    session: Session,
    channel: Channel,
    inbound: Message,
    volunteer_id: int,
    menu: Menu | None,
    texts: Sequence[str],
    now: datetime,
) -> tuple[str, ...]:
    """The texts for the TwiML answer to ``inbound``. On WhatsApp, a menu whose content
    template the community has is queued instead, as an outbound reply the send gate sends
    (a list-picker inside the window), and its numbered text leaves the TwiML answer."""
    if menu is None or channel.kind != ChannelKind.WHATSAPP or menu.text not in texts:
        return tuple(texts)
    template = session.scalar(
        select(WhatsAppContent.content_sid).where(
            WhatsAppContent.community_id == channel.community_id,
            WhatsAppContent.language == menu.language,
            WhatsAppContent.purpose == menu.purpose,
        )
    )
    if template is None:
        return tuple(texts)  # not synced: the numbered text, as on SMS
    info = segment_info(menu.text)
    session.add(
        Message(
            community_id=channel.community_id,
            channel_id=channel.id,
            volunteer_id=volunteer_id,
            direction=Direction.OUTBOUND,
            kind=MessageKind.REPLY,
            idempotency_key=f"reply:{inbound.id}:menu",
            from_address=channel.twilio_address,
            to_address=inbound.from_address,
            body=menu.text,
            interactive=menu.to_json(),
            status=MessageStatus.PENDING,
            priority=Priority.URGENT,
            not_before=now,
            segments=info.segments,
            encoding=info.encoding.value,
            reply_to_id=inbound.id,
            created_at=now,
        )
    )
    rest = list(texts)
    rest.remove(menu.text)
    return tuple(rest)


# ----- the content templates ----------------------------------------------------------------
def friendly_name(community: Community, language: str, purpose: str) -> str:
    """``handsup_riverside_en_list_3``: how a template is found again at Twilio."""
    slug = community.slug.replace("-", "_")
    return f"handsup_{slug}_{language}_{purpose.replace(':', '_')}"


def definition(language: str, purpose: str) -> dict[str, Any]:
    """The Content API request body (``ContentCreateRequest``) minus its friendly name: a
    list-picker of n items (variables: 1 the body, then id, title and description of each
    item) or YES / NO quick replies (1 the body, 2 and 3 the YES and NO payloads). The button
    labels are the catalog's, in ``language``."""
    if purpose == MenuShape.YES_NO.value:
        return {
            "language": language,
            "variables": {"1": "Can you come? Reply YES.", "2": "callout:1", "3": "callout:1:no"},
            "types": {
                "twilio/quick-reply": {
                    "body": "{{1}}",
                    "actions": [
                        {"title": catalog.render(language, "button.yes"), "id": "{{2}}"},
                        {"title": catalog.render(language, "button.no"), "id": "{{3}}"},
                    ],
                }
            },
        }
    count = purpose.removeprefix("list:")
    if not (purpose.startswith("list:") and count.isdigit() and 1 <= int(count) <= MAX_ITEMS):
        raise ValueError(f"unknown content purpose {purpose!r}")
    variables = {"1": catalog.render(language, "shifts.pick")}
    items = []
    for index in range(int(count)):
        base = 2 + 3 * index
        items.append(
            {
                "id": f"{{{{{base}}}}}",
                "item": f"{{{{{base + 1}}}}}",
                "description": f"{{{{{base + 2}}}}}",
            }
        )
        variables.update(
            {
                str(base): f"shift:{index + 1}",
                str(base + 1): f"{index + 1}) Shift",
                str(base + 2): "-",
            }
        )
    return {
        "language": language,
        "variables": variables,
        "types": {
            "twilio/list-picker": {
                "body": "{{1}}",
                "button": catalog.render(language, "button.choose"),
                "items": items,
            }
        },
    }


class ContentApi(Protocol):
    """What the sync needs of the Content API (the Twilio SDK's ``content.v1.contents``)."""

    def list(self) -> Sequence[Any]: ...

    def create(self, content_create_request: ContentList.ContentCreateRequest) -> Any: ...


@dataclass
class SyncReport:
    created: int = 0  # new templates at Twilio
    adopted: int = 0  # found at Twilio by name (an earlier run stopped before it stored them)
    kept: int = 0  # stored already


def sync_contents(
    session: Session, community: Community, api: ContentApi, now: datetime
) -> SyncReport:
    """Make sure ``community`` has every content template, in every shipped language; each
    one created is stored (and committed) at once, so a second run creates nothing."""
    report = SyncReport()
    stored = {
        (language, purpose)
        for language, purpose in session.execute(
            select(WhatsAppContent.language, WhatsAppContent.purpose).where(
                WhatsAppContent.community_id == community.id
            )
        )
    }
    at_twilio: dict[str, str] | None = None
    for language in catalog.languages():
        for purpose in PURPOSES:
            if (language, purpose) in stored:
                report.kept += 1
                continue
            name = friendly_name(community, language, purpose)
            if at_twilio is None:  # listed once, and only when something is missing
                at_twilio = {str(c.friendly_name): str(c.sid) for c in api.list()}
            sid = at_twilio.get(name)
            if sid is None:
                request = ContentList.ContentCreateRequest(
                    {"friendly_name": name, **definition(language, purpose)}
                )
                sid = str(api.create(content_create_request=request).sid)
                report.created += 1
            else:
                report.adopted += 1
            session.add(
                WhatsAppContent(
                    community_id=community.id,
                    language=language,
                    purpose=purpose,
                    content_sid=sid,
                    friendly_name=name,
                    created_at=now,
                )
            )
            session.commit()
    log.info(
        "whatsapp templates of %s: %d created, %d adopted, %d kept",
        community.slug,
        report.created,
        report.adopted,
        report.kept,
    )
    return report
