"""Interactive WhatsApp messages (issue 15, item 4), driven by signed webhooks and the fake
Twilio server: the content templates are created once per community and language
(``handsup whatsapp-templates sync``); inside the 24-hour window SHIFTS and GIVE arrive as
list-pickers and call-outs and reminders with YES / NO buttons, whose payloads name the item,
so a tap is right even after the menu changed; SMS keeps the numbered text, outside the window
the approved template goes, and without synced templates the numbered text does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from click.testing import CliRunner, Result
from redis import Redis
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session, sessionmaker

from flows.engine import VolunteerStatus
from flows.menus import MAX_ITEM_TITLE, PURPOSES, Menu, MenuItem, MenuShape, clip
from service.cli import main
from service.config import Settings
from service.models import (
    Assignment,
    CallOut,
    Channel,
    ChannelKind,
    Community,
    Message,
    MessageKind,
    MessageStatus,
    OutboxItem,
    Shift,
    ShiftStatus,
    Volunteer,
    WhatsAppContent,
)
from service.rosters import callouts, donations
from service.rosters import shifts as rosters
from service.sending import outbox
from service.sending.eligibility import Recipient
from service.sending.gate import Outbound, RouteKind, Rules, Send, decide, sender_for
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SmsHelper
from tests.fakes.twilio_server import FakeTwilio, SentMessage
from tests.service.test_conversation_rules import add_shift, statuses
from tests.service.test_twilio_payloads import ANA, join_whatsapp, posted, whatsapp
from workers.reminders import send_reminder
from workers.worker import HandsUpWorker

BEN = "+12025550177"
LANGUAGES = 3  # en, es, hi


def sync(settings: Settings, database_url: str, db: Session, fake_twilio: FakeTwilio) -> Result:
    """``handsup whatsapp-templates sync`` with the Twilio account pointed at the fake."""
    db.commit()
    env: dict[str, str | None] = {
        "HANDSUP_ENV": "test",
        "DATABASE_URL": database_url,
        "HANDSUP_INSTANCE_PATH": str(settings.instance_path),
        "SECRET_KEY": None,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE_URL": fake_twilio.url,
        "PORT": None,
    }
    result = CliRunner().invoke(main, ["whatsapp-templates", "sync"], env=env)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def synced(
    settings: Settings,
    database_url: str,
    db: Session,
    fake_twilio: FakeTwilio,
    community: Community,
) -> dict[tuple[str, str], str]:
    """The community's content templates, created through the fake's Content API."""
    sync(settings, database_url, db, fake_twilio)
    rows = db.scalars(select(WhatsAppContent)).all()
    db.commit()
    return {(row.language, row.purpose): row.content_sid for row in rows}


def deliver(session_factory: sessionmaker[Session], redis: Redis) -> None:
    """What the worker process does: the pump hands due rows over, RQ runs them."""
    outbox.enqueue_due(session_factory, redis)
    HandsUpWorker(list(outbox.QUEUES), connection=redis).work(burst=True)


def sent_to(fake_twilio: FakeTwilio, phone: str) -> list[SentMessage]:
    return fake_twilio.sent_to(phone)


def tap(payload: str, title: str) -> dict[str, str]:
    """A tapped list item, as Twilio posts it."""
    return whatsapp(title, MessageType="interactive", ListId=payload, ListTitle=title)


def button(payload: str, text: str) -> dict[str, str]:
    """A tapped quick-reply button, as Twilio posts it."""
    return whatsapp(text, MessageType="button", ButtonPayload=payload, ButtonText=text)


# --- the templates ---------------------------------------------------------------------------


def test_sync_creates_each_template_once_per_language_and_a_second_run_creates_nothing(
    settings: Settings,
    database_url: str,
    db: Session,
    fake_twilio: FakeTwilio,
    community: Community,
) -> None:
    first = sync(settings, database_url, db, fake_twilio)
    wanted = LANGUAGES * len(PURPOSES)
    assert f"riverside: {wanted} created, 0 found at Twilio, 0 already stored" in first.output
    assert len(fake_twilio.contents) == wanted
    second = sync(settings, database_url, db, fake_twilio)
    assert f"riverside: 0 created, 0 found at Twilio, {wanted} already stored" in second.output
    assert len(fake_twilio.contents) == wanted  # nothing new at Twilio
    assert db.scalar(select(func.count()).select_from(WhatsAppContent)) == wanted
    by_name = {c.friendly_name: c for c in fake_twilio.contents.values()}
    three = by_name["handsup_riverside_en_list_3"].types["twilio/list-picker"]
    assert three["button"] == "Choose"
    assert [i["id"] for i in three["items"]] == ["{{2}}", "{{5}}", "{{8}}"]
    buttons = by_name["handsup_riverside_es_yes_no"].types["twilio/quick-reply"]["actions"]
    assert [(a["title"], a["id"]) for a in buttons] == [("Si", "{{2}}"), ("No", "{{3}}")]


def test_sync_finds_templates_an_interrupted_run_created(
    settings: Settings,
    database_url: str,
    db: Session,
    fake_twilio: FakeTwilio,
    community: Community,
) -> None:
    sync(settings, database_url, db, fake_twilio)
    contents = cast(Table, WhatsAppContent.__table__)
    db.execute(contents.delete().where(WhatsAppContent.language == "hi"))
    db.commit()  # as if the run had stopped after creating them at Twilio
    again = sync(settings, database_url, db, fake_twilio)
    assert f"0 created, {len(PURPOSES)} found at Twilio" in again.output
    assert len(fake_twilio.contents) == LANGUAGES * len(PURPOSES)


def test_sync_without_twilio_credentials_is_a_one_line_error(
    settings: Settings, database_url: str, db: Session, community: Community
) -> None:
    env: dict[str, str | None] = {
        "HANDSUP_ENV": "test",
        "DATABASE_URL": database_url,
        "TWILIO_ACCOUNT_SID": None,
        "TWILIO_AUTH_TOKEN": None,
    }
    result = CliRunner().invoke(main, ["whatsapp-templates", "sync"], env=env)
    assert result.exit_code != 0
    assert "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set" in result.output


# --- the transcript --------------------------------------------------------------------------


def test_shifts_arrive_as_a_list_and_a_tap_picks_the_shift_even_after_the_menu_changed(
    sms: SmsHelper,
    db: Session,
    community: Community,
    synced: dict[tuple[str, str], str],
    fake_twilio: FakeTwilio,
    session_factory: sessionmaker[Session],
    redis: Redis,
    worker: Any,
) -> None:
    kitchen = add_shift(db, community, "Kitchen", hours=72)
    levee = add_shift(db, community, "Levee patrol", hours=96)
    join_whatsapp(sms)
    fake_twilio.reset()

    # SHIFTS: the TwiML answer is empty; the list goes through the send gate
    assert posted(sms, whatsapp("SHIFTS")) == []
    deliver(session_factory, redis)
    (menu,) = sent_to(fake_twilio, ANA)
    assert menu.to == f"whatsapp:{ANA}"
    assert menu.content_sid == synced[("en", "list:2")]
    variables = menu.content_variables or {}
    assert variables["1"] == "Open shifts: tap Choose to sign up, or reply a number."
    assert (variables["2"], variables["3"]) == (f"shift:{kitchen.id}", "1) Kitchen")
    assert variables["4"].endswith("School gym (3 left)")
    assert (variables["5"], variables["6"]) == (f"shift:{levee.id}", "2) Levee patrol")
    row = db.scalars(select(Message).where(Message.twilio_sid == menu.sid)).one()
    assert row.kind == MessageKind.REPLY and row.body.startswith("Open shifts:\n1) Kitchen")
    assert row.decision == f"sent as interactive WhatsApp message {menu.content_sid}"

    # the menu changes: the first shift is cancelled, a sooner one now leads the list
    db.get_one(Shift, kitchen.id).status = ShiftStatus.CANCELLED
    db.commit()
    add_shift(db, community, "Sandbags", hours=24)
    reply = posted(sms, tap(f"shift:{levee.id}", "2) Levee patrol"))
    assert reply[0].startswith("You are on Levee patrol")
    assert set(statuses(db, ANA)) == {"Levee patrol"}
    # and a tap on the cancelled one says so, changing nothing
    assert posted(sms, tap(f"shift:{kitchen.id}", "1) Kitchen"))[0].startswith(
        "Sorry, that shift is no longer open"
    )
    assert set(statuses(db, ANA)) == {"Levee patrol"}

    # the same flow over SMS still reads as numbered text, in the TwiML answer
    sms.join(BEN, "Ben")
    fake_twilio.reset()
    (text,) = sms.send(BEN, "SHIFTS")
    assert text.startswith("Open shifts:\n1) Sandbags")
    assert "Reply a number to sign up." in text
    assert sms.send(BEN, "1")[0].startswith("You are on Sandbags")
    deliver(session_factory, redis)
    assert all(m.content_sid is None for m in sent_to(fake_twilio, BEN))


def test_a_retried_shifts_webhook_sends_the_list_once_and_no_text(
    sms: SmsHelper,
    db: Session,
    community: Community,
    synced: dict[tuple[str, str], str],
    fake_twilio: FakeTwilio,
    session_factory: sessionmaker[Session],
    redis: Redis,
    worker: Any,
) -> None:
    add_shift(db, community, "Kitchen", hours=72)
    join_whatsapp(sms)
    form = whatsapp("SHIFTS")
    assert posted(sms, form) == []
    assert posted(sms, form) == []  # Twilio's retry of the same MessageSid
    fake_twilio.reset()
    deliver(session_factory, redis)
    assert [m.content_sid for m in sent_to(fake_twilio, ANA)] == [synced[("en", "list:1")]]


def test_without_synced_templates_whatsapp_gets_the_numbered_text(
    sms: SmsHelper,
    db: Session,
    community: Community,
    fake_twilio: FakeTwilio,
    session_factory: sessionmaker[Session],
    redis: Redis,
    worker: Any,
) -> None:
    add_shift(db, community, "Kitchen", hours=72)
    join_whatsapp(sms)
    (text,) = posted(sms, whatsapp("SHIFTS"))
    assert text.startswith("Open shifts:\n1) Kitchen")
    pending = db.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.status == MessageStatus.PENDING, Message.interactive.is_not(None))
    )
    assert pending == 0


def test_give_arrives_as_a_list_and_a_tap_asks_the_amount_for_that_need(
    sms: SmsHelper,
    db: Session,
    community: Community,
    synced: dict[tuple[str, str], str],
    fake_twilio: FakeTwilio,
    session_factory: sessionmaker[Session],
    redis: Redis,
    worker: Any,
) -> None:
    place = db.get_one(Community, community.id)
    donations.add_need(db, place, weekday=5, item="Rice", quantity=20, unit="kg")
    donations.add_need(db, place, weekday=5, item="Oil", quantity=10, unit="L")
    db.commit()
    join_whatsapp(sms)
    fake_twilio.reset()
    assert posted(sms, whatsapp("GIVE")) == []
    deliver(session_factory, redis)
    (menu,) = sent_to(fake_twilio, ANA)
    variables = menu.content_variables or {}
    assert menu.content_sid == synced[("en", "list:2")]
    assert variables["1"].startswith("Needs for ")
    assert (variables["3"], variables["4"]) == ("1) Rice", "20 of 20 kg still needed")
    assert (variables["6"], variables["7"]) == ("2) Oil", "10 of 10 L still needed")
    assert variables["2"] == f"need:{variables['2'].removeprefix('need:')}"
    (ask,) = posted(sms, tap(variables["5"], "2) Oil"))  # the id names Oil, not line 2
    assert ask.startswith("Oil: how many L can you bring?")
    (pledged,) = posted(sms, whatsapp("4"))
    assert "Oil" in pledged and "Rice" not in pledged
    assert posted(sms, tap("need:999999", "1) Gone"))[0].startswith(
        "Sorry, that need is no longer open"
    )


# --- YES / NO buttons ------------------------------------------------------------------------


def test_a_call_out_has_yes_no_buttons_whose_payload_names_the_call_out(
    sms: SmsHelper,
    db: Session,
    community: Community,
    synced: dict[tuple[str, str], str],
    fake_twilio: FakeTwilio,
    session_factory: sessionmaker[Session],
    redis: Redis,
    worker: Any,
) -> None:
    join_whatsapp(sms)
    shift = add_shift(db, community, "Sandbags", hours=2)
    place = db.get_one(Community, community.id)
    callout = callouts.start_callout(
        db, db.get_one(Shift, shift.id), place, 1, "", datetime.now(UTC)
    )
    db.commit()
    fake_twilio.reset()
    deliver(session_factory, redis)
    (ask,) = sent_to(fake_twilio, ANA)
    assert ask.content_sid == synced[("en", "yes_no")]
    variables = ask.content_variables or {}
    assert variables["1"].startswith("URGENT from Riverside Flood Crew")
    assert (variables["2"], variables["3"]) == (f"callout:{callout.id}", f"callout:{callout.id}:no")
    # a call-out texted since (now the pending question) does not change what the button
    # answers: it names its own call-out
    kitchen = add_shift(db, community, "Kitchen", hours=3)
    callouts.start_callout(db, db.get_one(Shift, kitchen.id), place, 1, "", datetime.now(UTC))
    db.commit()
    asks = select(func.count()).select_from(Message).where(Message.kind == MessageKind.CALLOUT)
    assert db.scalar(asks) == 2
    reply = posted(sms, button(f"callout:{callout.id}", "Yes"))
    assert reply[0].startswith("You are in! Sandbags")
    assert set(statuses(db, ANA)) == {"Sandbags"}
    db.expire_all()
    assert db.get_one(CallOut, callout.id).filled == 1


def test_the_no_button_declines_the_call_out(
    sms: SmsHelper,
    db: Session,
    community: Community,
    synced: dict[tuple[str, str], str],
) -> None:
    join_whatsapp(sms)
    shift = add_shift(db, community, "Sandbags", hours=2)
    place = db.get_one(Community, community.id)
    callout = callouts.start_callout(
        db, db.get_one(Shift, shift.id), place, 1, "", datetime.now(UTC)
    )
    db.commit()
    posted(sms, button(f"callout:{callout.id}:no", "No"))
    assert statuses(db, ANA) == {}
    db.expire_all()
    assert db.get_one(CallOut, callout.id).filled == 0


def test_outside_the_window_a_call_out_goes_as_the_approved_template(
    sms: SmsHelper,
    db: Session,
    community: Community,
    synced: dict[tuple[str, str], str],
    fake_twilio: FakeTwilio,
    session_factory: sessionmaker[Session],
    redis: Redis,
    worker: Any,
) -> None:
    approved = "HX" + "a" * 32
    join_whatsapp(sms)
    volunteer = db.scalars(select(Volunteer).where(Volunteer.phone == ANA)).one()
    volunteer.whatsapp_inbound_at = datetime.now(UTC) - timedelta(days=2)
    place = db.get_one(Community, community.id)
    place.whatsapp_templates = {"default": approved}
    db.commit()
    fake_twilio.close_whatsapp_window(ANA)
    shift = add_shift(db, community, "Sandbags", hours=2)
    callouts.start_callout(db, db.get_one(Shift, shift.id), place, 1, "", datetime.now(UTC))
    db.commit()
    fake_twilio.reset()
    fake_twilio.close_whatsapp_window(ANA)
    deliver(session_factory, redis)
    (ask,) = sent_to(fake_twilio, ANA)
    assert ask.content_sid == approved
    variables = ask.content_variables or {}
    assert variables["1"] == "Riverside Flood Crew"
    assert variables["2"].startswith("URGENT from Riverside Flood Crew")


def test_a_reminder_has_yes_no_buttons_and_yes_confirms_that_very_place(
    sms: SmsHelper,
    db: Session,
    community: Community,
    synced: dict[tuple[str, str], str],
    fake_twilio: FakeTwilio,
    worker: Any,
) -> None:
    kitchen = add_shift(db, community, "Kitchen", hours=72)
    join_whatsapp(sms)
    posted(sms, tap(f"shift:{kitchen.id}", "1) Kitchen"))
    assignment = db.scalars(select(Assignment).where(Assignment.shift_id == kitchen.id)).one()
    job = db.scalars(
        select(OutboxItem).where(OutboxItem.job == rosters.REMINDER_JOB).order_by(OutboxItem.id)
    ).first()
    assert job is not None
    db.commit()
    fake_twilio.reset()
    assert send_reminder(**job.payload).startswith("sent: SM")
    (reminder,) = sent_to(fake_twilio, ANA)
    assert reminder.content_sid == synced[("en", "yes_no")]
    variables = reminder.content_variables or {}
    assert variables["1"].startswith("Reminder: Kitchen, ")
    assert (variables["2"], variables["3"]) == (
        f"reminder:{assignment.id}",
        f"reminder:{assignment.id}:no",
    )
    no = posted(sms, button(f"reminder:{assignment.id}:no", "No"))
    assert no[0].startswith("OK. Text DROP")
    yes = posted(sms, button(f"reminder:{assignment.id}", "Yes"))
    assert yes[0].startswith("Thanks, see you at Kitchen")
    db.expire_all()
    assert db.get_one(Assignment, assignment.id).confirmed_at is not None


# --- the gate decides ------------------------------------------------------------------------


def test_the_gate_sends_a_menu_interactively_only_inside_the_window_with_a_template() -> None:
    now = datetime(2030, 3, 1, 12, tzinfo=UTC)
    channel = Channel(id=7, community_id=1, kind=ChannelKind.WHATSAPP, address="+12025550100")
    sender = sender_for(channel)
    listed, approved = "HX" + "c" * 32, "HX" + "b" * 32
    rules = Rules(
        timezone="UTC",
        quiet_start_minute=0,
        quiet_end_minute=0,
        ask_limit_per_week=3,
        whatsapp_templates={"default": approved},
        whatsapp_contents={("en", "list:2"): listed},
    )
    inside = Recipient(VolunteerStatus.ACTIVE, whatsapp_inbound_at=now - timedelta(hours=1))
    menu = Outbound(MessageKind.REPLY, sender, interactive=("en", "list:2"))
    decided = decide(menu, inside, rules, now)
    assert isinstance(decided, Send)
    assert (decided.route, decided.content_sid) == (RouteKind.INTERACTIVE, listed)
    closed = decided.if_window_closed  # 63016 after all: the approved template
    assert isinstance(closed, Send) and (closed.route, closed.content_sid) == (
        RouteKind.TEMPLATE,
        approved,
    )
    # no template for this language or size: the text
    for other in (("es", "list:2"), ("en", "list:3"), None):
        plain = decide(Outbound(MessageKind.REPLY, sender, interactive=other), inside, rules, now)
        assert isinstance(plain, Send) and plain.route is RouteKind.FREEFORM
    # outside the window: the approved template, never the list
    outside = Recipient(VolunteerStatus.ACTIVE, whatsapp_inbound_at=now - timedelta(days=2))
    late = decide(menu, outside, rules, now)
    assert isinstance(late, Send) and (late.route, late.content_sid) == (
        RouteKind.TEMPLATE,
        approved,
    )


def test_menu_variables_follow_the_template_numbering() -> None:
    menu = Menu(
        MenuShape.LIST,
        "en",
        "Pick one.",
        (MenuItem("shift:1", "1) A", "a"), MenuItem("shift:2", "2) B", "b")),
    )
    assert menu.purpose == "list:2"
    assert menu.variables() == {
        "1": "Pick one.",
        "2": "shift:1",
        "3": "1) A",
        "4": "a",
        "5": "shift:2",
        "6": "2) B",
        "7": "b",
    }
    assert Menu.from_json(menu.to_json()) == menu
    assert clip("Sandbagging at the north levee", MAX_ITEM_TITLE) == "Sandbagging at the no..."
