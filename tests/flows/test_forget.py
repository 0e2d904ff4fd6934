"""FORGET, as a conversation: a confirmation first, then the erasure effect."""

from __future__ import annotations

import pytest

from flows.engine import Forget, VolunteerStatus
from flows.keywords import Intent, classify
from tests.flows.test_conversation import Phone, joined


@pytest.mark.parametrize(
    "text",
    [
        "FORGET",
        "forget me",
        "Forget me please",
        "erase my data",
        "delete my data",
        "Olvídame",
        "borrar mis datos",
        "मुझे भूल जाओ",
    ],
)
def test_forget_wordings(text: str) -> None:
    keyword = classify(text)
    assert keyword is not None and keyword.intent is Intent.FORGET


def test_delete_my_number_stays_an_opt_out() -> None:
    keyword = classify("please delete my number")
    assert keyword is not None and keyword.intent is Intent.STOP


def test_forget_asks_first_and_yes_erases() -> None:
    phone = joined()
    turn = phone.sends("FORGET")
    assert turn.keys == ["forget.confirm"]
    assert "Reply YES to erase" in turn.text and turn.effects == []
    turn = phone.sends("yes")
    assert turn.keys == ["forget.done"]
    assert turn.effects == [Forget()]
    assert "erased your name, number and texts" in turn.text
    assert phone.status is VolunteerStatus.OPTED_OUT and phone.context.name is None


def test_no_keeps_everything() -> None:
    phone = joined()
    phone.sends("FORGET")
    turn = phone.sends("no")
    assert turn.keys == ["forget.kept"] and turn.effects == []
    assert phone.status is VolunteerStatus.ACTIVE


def test_anything_else_asks_again_and_stop_still_opts_out() -> None:
    phone = joined()
    phone.sends("FORGET")
    assert phone.sends("what?").keys == ["forget.confirm_again"]
    turn = phone.sends("STOP")
    assert turn.keys == ["optout.confirmed"]
    assert phone.status is VolunteerStatus.OPTED_OUT


def test_an_opted_out_volunteer_can_be_forgotten_and_yes_does_not_opt_them_in() -> None:
    phone = Phone.volunteer(VolunteerStatus.OPTED_OUT)
    assert phone.sends("FORGET").keys == ["forget.confirm"]
    turn = phone.sends("YES")
    assert turn.keys == ["forget.done"] and turn.effects == [Forget()]
    assert phone.status is VolunteerStatus.OPTED_OUT


def test_the_confirmation_expires() -> None:
    from datetime import timedelta

    phone = joined()
    phone.sends("FORGET")
    phone.waits(timedelta(days=2))
    turn = phone.sends("yes")
    assert Forget() not in turn.effects


@pytest.mark.parametrize(
    ("language", "forget", "question", "yes"),
    [
        ("en", "FORGET", "?", "YES"),
        ("es", "olvidame", "¿qué?", "si"),
        ("hi", "मुझे भूल जाओ", "क्या?", "हाँ"),
    ],
)
def test_opted_out_only_the_confirmation_is_answered(
    language: str, forget: str, question: str, yes: str
) -> None:
    """While opted out, a question after FORGET gets no answer; the YES still erases."""
    phone = Phone.volunteer(VolunteerStatus.OPTED_OUT, language=language)
    assert phone.sends(forget).keys == ["forget.confirm"]
    for text in (question, "what do you mean", "1", "why?"):
        turn = phone.sends(text)
        assert (turn.texts, turn.effects) == ([], []), text
    assert phone.session.flow == "forget"  # the question stays open
    turn = phone.sends(yes)
    assert turn.keys == ["forget.done"] and turn.effects == [Forget()]


@pytest.mark.parametrize(("language", "no"), [("en", "NO"), ("es", "no"), ("hi", "नहीं")])
def test_opted_out_no_keeps_the_data_and_says_they_stay_unsubscribed(
    language: str, no: str
) -> None:
    phone = Phone.volunteer(VolunteerStatus.OPTED_OUT, language=language)
    phone.sends("FORGET")
    turn = phone.sends(no)
    assert turn.keys == ["forget.kept_unsubscribed"] and turn.effects == []
    assert "START" in turn.text
    assert phone.status is VolunteerStatus.OPTED_OUT
    assert phone.sends("?").texts == []  # and then nothing more


def test_an_active_volunteer_is_still_asked_again() -> None:
    phone = joined()
    phone.sends("FORGET")
    assert phone.sends("?").keys == ["forget.confirm_again"]


@pytest.mark.parametrize("text", ["ok", "ok?", "sure", "y", "vale", "claro"])
def test_a_loose_yes_asks_again_and_erases_nothing(text: str) -> None:
    phone = joined()
    phone.sends("FORGET")
    turn = phone.sends(text)
    assert turn.keys == ["forget.confirm_again"] and turn.effects == []
    assert phone.sends("YES").effects == [Forget()]
