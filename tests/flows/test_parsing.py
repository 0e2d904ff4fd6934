"""Normalisation and typed parsers (flows.parsing): whole tokens, never substrings."""

from __future__ import annotations

import pytest

from flows.parsing import (
    MAX_NAME_LENGTH,
    contains_phrase,
    fold_accents,
    normalize,
    parse_name,
    parse_yes,
    phrase_set,
    tokens,
)

# --- normalize / tokens --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  STOP!!  ", "stop"),
        ("Don't", "dont"),
        ("don\u2019t", "dont"),  # curly apostrophe dropped, not spaced
        ("opt-out", "opt out"),
        ("Yes,please", "yes please"),
        ("\tLANG\r\nes\n", "lang es"),
        ("\uff33\uff34\uff2f\uff30", "stop"),  # full-width letters (NFKC)
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # casefold, not lower
        ("a\u00a0b\u2003c", "a b c"),  # non-breaking and em spaces
        ("stop\u200b", "stop"),  # zero-width space is a format char
        ("👍 ok 👍", "ok"),
        ("", ""),
        ("!!!", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_normalize_keeps_zero_width_joiners_inside_indic_words() -> None:
    assert "\u200d" in normalize("क्\u200dष")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sí", "si"),
        ("Ñandú", "Nandu"),
        ("más", "mas"),
        ("suscripción", "suscripcion"),
        ("हाँ", "हाँ"),
        ("नहीं", "नहीं"),
    ],
)
def test_fold_accents_strips_latin_accents_only(text: str, expected: str) -> None:
    assert fold_accents(text) == expected


def test_tokens_are_normalised_and_accent_folded() -> None:
    assert tokens("¡Sí, SEÑOR!") == ("si", "senor")
    assert tokens("   ") == ()
    assert tokens("मैसेज मत भेजो।") == ("मैसेज", "मत", "भेजो")


def test_phrase_set_and_contains_phrase_match_whole_token_runs() -> None:
    phrases = phrase_set(["stop texting", "Remove me"])
    assert phrases == {("stop", "texting"), ("remove", "me")}
    assert contains_phrase(tokens("please STOP texting me"), phrases)
    assert contains_phrase(tokens("remove me"), phrases)
    assert not contains_phrase(tokens("stop"), phrases)
    assert not contains_phrase(tokens("stopt texting"), phrases)
    assert not contains_phrase(tokens("texting stop"), phrases)
    assert not contains_phrase((), phrases)
    assert not contains_phrase(tokens("anything"), frozenset({()}))


# --- parse_yes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "YES",
        "Yes!",
        " y ",
        "Y.",
        "yeah",
        "yep",
        "yup",
        "ok",
        "OKAY",
        "sure",
        "si",
        "Sí",
        "SÍ",
        "sí.",
        "claro",
        "Si, claro",
        "yes please",
        "Yes, please!",
        "haan",
        "हाँ",
        "हां",
        "जी",
        "जी हाँ",
        "ठीक है",
        "Yes 👍",
    ],
)
def test_parse_yes_true(text: str) -> None:
    assert parse_yes(text) is True


@pytest.mark.parametrize(
    "text",
    ["no", "NO", "No.", "n", "nope", "nah", "no thanks", "No, gracias", "nahi", "नहीं", "ना"],
)
def test_parse_yes_false(text: str) -> None:
    assert parse_yes(text) is False


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "yess",
        "eyes",
        "nobody",
        "none",
        "not",
        "know",
        "si se puede",
        "yes no",
        "no yes",
        "maybe",
        "yes I can come but only after 5",
        "",
        "   ",
        "!!!",
        "👍",
        "sure thing",
        "okey dokey",
        "sin",
    ],
)
def test_parse_yes_none(text: str) -> None:
    assert parse_yes(text) is None


# --- parse_name ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ana", "Ana"),
        ("  Ana  ", "Ana"),
        ("Ana.", "Ana"),
        ('"Ana"', "Ana"),
        ("my name is Ana", "Ana"),
        ("My name is Ana María", "Ana María"),
        ("MY NAME IS Ana", "Ana"),
        ("name is Zed", "Zed"),
        ("I'm Bob", "Bob"),
        ("I\u2019m Bob", "Bob"),
        ("im bob", "bob"),
        ("I am  Carol   Smith", "Carol Smith"),
        ("This is Dan.", "Dan"),
        ("It's Eve!", "Eve"),
        ("me llamo José", "José"),
        ("Me llamo José Luis", "José Luis"),
        ("soy Lucía", "Lucía"),
        ("mi nombre es Pedro", "Pedro"),
        ("mera naam Ravi", "Ravi"),
        ("मेरा नाम राम", "राम"),
        ("O'Brien", "O'Brien"),
        ("Jean-Luc Picard", "Jean-Luc Picard"),
        ("Ana2", "Ana2"),
        ("x" * MAX_NAME_LENGTH, "x" * MAX_NAME_LENGTH),
    ],
)
def test_parse_name_accepts_names_and_strips_prefixes(text: str, expected: str) -> None:
    assert parse_name(text) == expected


def test_parse_name_keeps_a_name_that_only_looks_like_a_prefix() -> None:
    # nothing follows the prefix, so the words are the name (not an empty string)
    assert parse_name("Soy") == "Soy"
    assert parse_name("Imani") == "Imani"
    assert parse_name("Isabel") == "Isabel"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "...",
        "123",
        "42!",
        "+1 202 555 0142",
        "x" * (MAX_NAME_LENGTH + 1),
        "my name is " + "x" * (MAX_NAME_LENGTH + 1),
        "yes",
        "YES!",
        "Sí",
        "ok",
        "no",
        "Nope",
        "नहीं",
        "my name is yes",
        "Ana\x00",
        "Ana\u200b",  # invisible format characters are rejected, not stored
    ],
)
def test_parse_name_rejects(text: str) -> None:
    assert parse_name(text) is None


def test_parse_name_collapses_internal_whitespace() -> None:
    assert parse_name("Ana\t  Maria") == "Ana Maria"
    assert parse_name("Ana\nMaria") == "Ana Maria"
