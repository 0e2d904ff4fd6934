"""Plural forms in the catalogs (issue 14, item 7): every key of every language renders with
0, 1, 2 and 5 of everything it counts, stays within the SMS budget, and never hedges with
"(s)"; a text with a plural block reads differently for one and for many."""

from __future__ import annotations

import pytest

from flows import catalog
from flows.sms import Encoding, segment_info
from tests.test_catalog import (
    COORDINATOR_TEXT_KEYS,
    ENGLISH,
    LANGUAGES,
    LONG_PARAMS,
    MAX_SEGMENTS,
    NOT_A_WHOLE_MESSAGE,
)

COUNTED = ("count", "n", "need", "position", "left", "missing", "target", "quantity", "hours")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_every_key_renders_with_every_count(language: str, count: int) -> None:
    for key in ENGLISH:
        params = {**LONG_PARAMS, **{name: count for name in COUNTED}, "hours": str(count)}
        if key in COORDINATOR_TEXT_KEYS:
            params["text"] = "Bring gloves."
        text = catalog.render(language, key, params)
        assert text and "{" not in text and "}" not in text, f"{language}:{key}: {text!r}"
        assert "plural" not in text, f"{language}:{key}: {text!r}"
        if key in NOT_A_WHOLE_MESSAGE - COORDINATOR_TEXT_KEYS:
            continue
        info = segment_info(text)
        assert info.segments <= MAX_SEGMENTS[language], f"{language}:{key}: {text!r}"
        if language != "hi":
            assert info.encoding is Encoding.GSM7, f"{language}:{key}: {text!r}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_text_hedges_a_plural(language: str) -> None:
    for key, template in catalog.load(language).items():
        for hedge in ("(s)", "(es)", "/s "):
            assert hedge not in template, f"{language}:{key}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_plural_texts_differ_for_one_and_many(language: str) -> None:
    plural_keys = [key for key, template in ENGLISH.items() if catalog.plurals(template)]
    assert {"done.delivered", "callout.ask", "shifts.pick_number"} <= set(plural_keys)
    for key in plural_keys:
        one = catalog.render(language, key, {name: 1 for name in COUNTED})
        many = catalog.render(language, key, {name: 5 for name in COUNTED})
        assert one != many.replace("5", "1"), f"{language}:{key}"


def test_plural_rules_per_language() -> None:
    assert [catalog.plural_form("en", n) for n in (0, 1, 2, 5)] == [
        "other",
        "one",
        "other",
        "other",
    ]
    assert [catalog.plural_form("es", n) for n in (0, 1, 2)] == ["other", "one", "other"]
    assert [catalog.plural_form("hi", n) for n in (0, 1, 2)] == ["one", "one", "other"]
    assert catalog.plural_form("en", "2.5") == "other"
