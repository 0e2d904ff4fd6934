"""The opt-out classifier held to a corpus (tests/flows/opt_out_corpus.py): every opt-out is
caught, and not one near miss opts out (issue 14, item 6)."""

from __future__ import annotations

import pytest

from flows.conversation import classify, step
from flows.engine import OptOut
from flows.keywords import Intent
from tests.flows.opt_out_corpus import NEAR_MISSES, OPT_OUTS
from tests.flows.test_conversation import Phone

OPT_OUT_CASES = [(language, text) for language, texts in OPT_OUTS.items() for text in texts]
NEAR_MISS_CASES = [(language, text) for language, texts in NEAR_MISSES.items() for text in texts]


def _opts_out(text: str) -> bool:
    keyword = classify(text)
    return keyword is not None and keyword.intent == Intent.STOP


def test_the_corpus_is_large_and_covers_every_shipped_language() -> None:
    assert len(OPT_OUT_CASES) + len(NEAR_MISS_CASES) >= 200
    assert len(NEAR_MISS_CASES) >= 80
    for corpus in (OPT_OUTS, NEAR_MISSES):
        assert {"en", "es", "hi", "fr-CA"} <= corpus.keys()
    assert not {text for _, text in OPT_OUT_CASES} & {text for _, text in NEAR_MISS_CASES}


def test_every_opt_out_is_caught() -> None:
    missed = [(language, text) for language, text in OPT_OUT_CASES if not _opts_out(text)]
    assert missed == []


def test_no_near_miss_opts_out() -> None:
    false_opt_outs = [(language, text) for language, text in NEAR_MISS_CASES if _opts_out(text)]
    assert false_opt_outs == []


@pytest.mark.parametrize(("language", "text"), OPT_OUT_CASES)
def test_an_opt_out_gets_the_one_confirmation_in_the_volunteers_language(
    language: str, text: str
) -> None:
    phone = Phone.volunteer(language="en" if language == "fr-CA" else language)
    outcome = step(phone.context, phone.session, text)
    assert [reply.key for reply in outcome.replies] == ["optout.confirmed"]
    assert [type(effect) for effect in outcome.effects] == [OptOut]


@pytest.mark.parametrize(("language", "text"), NEAR_MISS_CASES)
def test_a_near_miss_keeps_the_volunteer_subscribed(language: str, text: str) -> None:
    phone = Phone.volunteer(language="en" if language == "fr-CA" else language)
    outcome = step(phone.context, phone.session, text)
    assert not any(isinstance(effect, OptOut) for effect in outcome.effects)
    assert "optout.confirmed" not in [reply.key for reply in outcome.replies]
