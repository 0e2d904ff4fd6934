"""The fake Twilio REST server, driven through the real Twilio SDK (in-process and as a process)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from service.sending.twilio_api import PooledHttpClient
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.fakes.twilio_server import FakeTwilio, FakeTwilioProcess

ANA = "+12025550123"
BEN = "+12025550124"
SENDER = "+12025550100"
WA_SENDER = "whatsapp:+12025550199"
SERVICE_SID = "MG" + "1" * 32
CONTENT_SID = "HX" + "2" * 32


def sdk_client(url: str) -> tuple[Client, PooledHttpClient]:
    http_client = PooledHttpClient(base_url=url, timeout=10)
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http_client), http_client


def close(http_client: PooledHttpClient) -> None:
    http_client.close()


@pytest.fixture
def sdk(fake_twilio: FakeTwilio) -> Iterator[Client]:
    client, http_client = sdk_client(fake_twilio.url)
    yield client
    close(http_client)


def send(sdk: Client, to: str, body: str, from_: str = SENDER) -> str:
    return str(sdk.messages.create(to=to, from_=from_, body=body).sid)


def test_list_filters_by_recipient_most_recent_first(sdk: Client, fake_twilio: FakeTwilio) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    sids = {}
    for body, to in [("a1", ANA), ("b1", BEN), ("a2", ANA), ("b2", BEN), ("a3", ANA)]:
        sids[body] = send(sdk, to, body)

    listed = sdk.messages.list(to=ANA, limit=20)

    assert [m.body for m in listed] == ["a3", "a2", "a1"]
    assert [m.sid for m in listed] == [sids["a3"], sids["a2"], sids["a1"]]
    assert {(m.to, m.from_) for m in listed} == {(ANA, SENDER)}
    recorded = {m.sid: m for m in fake_twilio.messages}
    for message in listed:
        assert isinstance(message.date_created, datetime)
        assert message.date_created.tzinfo is not None
        assert message.date_created == recorded[message.sid].date_created.replace(microsecond=0)
        assert before <= message.date_created <= datetime.now(UTC)
    # Paging follows next_page_uri; From and DateSent filters narrow the list.
    assert [m.body for m in sdk.messages.list(to=BEN, page_size=1)] == ["b2", "b1"]
    assert len(sdk.messages.list(from_=SENDER)) == 5
    assert sdk.messages.list(from_="+19995550000") == []
    assert len(sdk.messages.list(to=ANA, date_sent_after=before)) == 3
    assert sdk.messages.list(date_sent_after=datetime.now(UTC) + timedelta(minutes=5)) == []
    assert len(sdk.messages.list(date_sent_before=datetime.now(UTC) + timedelta(minutes=5))) == 5


def test_fetch_one_message_and_unknown_sid(sdk: Client) -> None:
    sid = send(sdk, ANA, "Shift at 9am")

    fetched = sdk.messages(sid).fetch()

    assert (fetched.sid, fetched.to, fetched.from_, fetched.body) == (
        sid,
        ANA,
        SENDER,
        "Shift at 9am",
    )
    assert fetched.status == "queued"
    with pytest.raises(TwilioRestException) as missing:
        sdk.messages("SM" + "f" * 32).fetch()
    assert (missing.value.status, missing.value.code) == (404, 20404)


def test_messaging_service_send_has_no_from(sdk: Client, fake_twilio: FakeTwilio) -> None:
    created = sdk.messages.create(to=ANA, messaging_service_sid=SERVICE_SID, body="Hi")

    assert created.messaging_service_sid == SERVICE_SID
    assert created.status == "accepted"
    assert created.from_ is None
    [sent] = fake_twilio.messages
    assert (sent.to, sent.from_, sent.messaging_service_sid, sent.body) == (
        ANA,
        "",
        SERVICE_SID,
        "Hi",
    )
    with pytest.raises(TwilioRestException) as no_sender:
        sdk.messages.create(to=ANA, body="Hi")
    assert no_sender.value.code == 21604
    with pytest.raises(TwilioRestException) as no_body:
        sdk.messages.create(to=ANA, messaging_service_sid=SERVICE_SID)
    assert (no_body.value.status, no_body.value.code) == (400, 21602)
    assert no_body.value.msg.endswith("Message body is required.")
    assert len(fake_twilio.messages) == 1


def test_template_send_parses_content_variables(sdk: Client, fake_twilio: FakeTwilio) -> None:
    variables = json.dumps({"1": "Ana", "2": "6pm"})

    created = sdk.messages.create(
        to=f"whatsapp:{ANA}",
        from_=WA_SENDER,
        content_sid=CONTENT_SID,
        content_variables=variables,
    )

    [sent] = fake_twilio.messages
    assert sent.sid == created.sid
    assert sent.content_sid == CONTENT_SID
    assert sent.content_variables == {"1": "Ana", "2": "6pm"}
    assert sent.body == ""
    assert sent.date_created.tzinfo == UTC
    with pytest.raises(TwilioRestException) as invalid:
        sdk.messages.create(
            to=f"whatsapp:{ANA}", from_=WA_SENDER, content_sid=CONTENT_SID, content_variables="{"
        )
    assert invalid.value.status == 400
    assert len(fake_twilio.messages) == 1


def test_fail_for_hits_only_that_number_for_the_given_times(
    sdk: Client, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.fail_for(ANA, status=400, code=21211, message="Invalid 'To'", times=2)

    with pytest.raises(TwilioRestException) as first:
        send(sdk, ANA, "one")
    assert (first.value.status, first.value.code) == (400, 21211)
    assert first.value.msg.endswith("Invalid 'To'")
    send(sdk, BEN, "unaffected")
    with pytest.raises(TwilioRestException):
        send(sdk, f"whatsapp:{ANA}", "two", from_=WA_SENDER)  # the WhatsApp address counts too
    send(sdk, ANA, "three")

    assert [m.body for m in fake_twilio.messages] == ["unaffected", "three"]


def test_fail_for_forever_runs_before_fail_next_until_reset(
    sdk: Client, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.fail_for(ANA, status=503, code=20500, times=None)
    fake_twilio.fail_next(status=429, code=20429)

    for _ in range(3):
        with pytest.raises(TwilioRestException) as failed:
            send(sdk, ANA, "again")
        assert failed.value.code == 20500
    with pytest.raises(TwilioRestException) as queued:  # the fail_next entry is still waiting
        send(sdk, BEN, "rate limited")
    assert queued.value.code == 20429
    send(sdk, BEN, "through")
    fake_twilio.reset()
    send(sdk, ANA, "after reset")

    assert [m.body for m in fake_twilio.messages] == ["after reset"]


def test_closed_whatsapp_window_refuses_free_form_but_not_templates(
    sdk: Client, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.close_whatsapp_window(ANA)

    with pytest.raises(TwilioRestException) as refused:
        send(sdk, f"whatsapp:{ANA}", "free form", from_=WA_SENDER)
    assert (refused.value.status, refused.value.code) == (400, 63016)
    assert "outside the allowed window" in refused.value.msg
    send(sdk, ANA, "SMS is not WhatsApp")
    send(sdk, f"whatsapp:{BEN}", "other numbers are open", from_=WA_SENDER)
    sdk.messages.create(to=f"whatsapp:{ANA}", from_=WA_SENDER, content_sid=CONTENT_SID)
    fake_twilio.open_whatsapp_window(ANA)
    send(sdk, f"whatsapp:{ANA}", "window reopened", from_=WA_SENDER)
    fake_twilio.close_whatsapp_window(ANA)
    fake_twilio.reset()
    send(sdk, f"whatsapp:{ANA}", "reset reopens", from_=WA_SENDER)

    assert [(m.to, m.content_sid) for m in fake_twilio.messages] == [(f"whatsapp:{ANA}", None)]


def test_latency_delays_each_post(sdk: Client, fake_twilio: FakeTwilio) -> None:
    fake_twilio.latency = 0.05
    try:
        started = time.monotonic()
        send(sdk, ANA, "slow")
        elapsed = time.monotonic() - started
    finally:
        fake_twilio.latency = 0.0

    assert elapsed >= 0.05
    assert fake_twilio.bodies([ANA]) == ["slow"]


def test_connections_are_kept_alive(fake_twilio: FakeTwilio) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", urlsplit(fake_twilio.url).port, timeout=5)
    try:
        statuses = []
        for _ in range(2):
            connection.request("GET", "/_fake/stats")
            response = connection.getresponse()
            statuses.append((response.status, response.version, response.will_close))
            response.read()
            sock = connection.sock
        assert statuses == [(200, 11, False), (200, 11, False)]
        assert sock is connection.sock is not None  # the same socket served both requests
    finally:
        connection.close()


@pytest.mark.slow
def test_process_mode_reports_what_the_sdk_sent() -> None:
    with FakeTwilioProcess(ACCOUNT_SID, AUTH_TOKEN) as fake:
        assert fake.url.startswith("http://127.0.0.1:")
        client, http_client = sdk_client(fake.url)
        try:
            send(client, ANA, "one")
            send(client, ANA, "two")
            client.messages.create(
                to=f"whatsapp:{BEN}",
                messaging_service_sid=SERVICE_SID,
                content_sid=CONTENT_SID,
                content_variables=json.dumps({"1": "Ben"}),
            )
            assert [m.body for m in client.messages.list(to=ANA)] == ["two", "one"]

            stats = fake.stats()
            messages = fake.messages()
            fake.set_latency(0.05)
            started = time.monotonic()
            send(client, BEN, "slow")
            elapsed = time.monotonic() - started
            fake.reset()
            after_reset = fake.stats()
        finally:
            close(http_client)

    assert stats == {
        "messages": 3,
        "requests": 4,
        "by_to": {ANA: 2, f"whatsapp:{BEN}": 1},
        "max_in_flight": 1,
    }
    assert [(m["to"], m["from"], m["body"]) for m in messages[:2]] == [
        (ANA, SENDER, "one"),
        (ANA, SENDER, "two"),
    ]
    assert messages[2] == {
        "sid": messages[2]["sid"],
        "to": f"whatsapp:{BEN}",
        "from": "",
        "body": "",
        "messaging_service_sid": SERVICE_SID,
        "content_sid": CONTENT_SID,
        "content_variables": {"1": "Ben"},
        "received_at": messages[2]["received_at"],
    }
    assert messages[0]["received_at"] <= messages[1]["received_at"] <= time.time()
    assert str(messages[2]["sid"]).startswith("SM")
    assert elapsed >= 0.05
    assert after_reset == {"messages": 0, "requests": 0, "by_to": {}, "max_in_flight": 0}
    with pytest.raises(urllib.error.URLError):  # the process is gone once the block exits
        urllib.request.urlopen(f"{fake.url}/_fake/stats", timeout=2)
