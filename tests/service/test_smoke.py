from tests.conftest import SmsHelper


def test_join(sms: SmsHelper) -> None:
    replies = sms.send("+12025550123", "JOIN")
    assert replies and "What is your name?" in replies[0]
