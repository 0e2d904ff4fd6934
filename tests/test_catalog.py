"""Message catalogs (flows.catalog): every language mirrors en.json and every text is short.

DESIGN.md: replies aim for one SMS segment, never more than three, GSM-7 for Latin-script
languages (no curly quotes, no emoji). Here: GSM-7 and at most two segments with realistic
long-ish values; ``test_single_segment_report`` lists the texts that need two.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest

from flows import catalog
from flows.conversation import FLOWS
from flows.sms import Encoding, segment_info

LANGUAGES = catalog.languages()
LATIN_LANGUAGES = ("en", "es")
ENGLISH = catalog.load("en")

# Realistic long-ish values: a 30-character community, a 20-character name, a phone contact.
LONG_PARAMS: dict[str, object] = {
    "community": "Riverside Flood Response Crew!",
    "name": "Maria Fernanda Gomez",
    "contact": "+12025550142",
    "languages": "/".join(LANGUAGES),
    "text": "Sandbags needed at the school gym by 6pm. Reply YES if you can help.",
}
# Texts whose length is chosen by a coordinator, not by the catalog.
COORDINATOR_TEXT_KEYS = {"broadcast"}


def _raw(language: str) -> dict[str, str]:
    path = resources.files("flows.catalog").joinpath(f"{language}.json")
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_long_params_are_as_long_as_promised() -> None:
    assert len(str(LONG_PARAMS["community"])) == 30
    assert len(str(LONG_PARAMS["name"])) == 20
    assert str(LONG_PARAMS["community"]).isascii()
    assert str(LONG_PARAMS["name"]).isascii()


def test_english_is_first_and_spanish_is_shipped() -> None:
    assert LANGUAGES[0] == "en"
    assert "es" in LANGUAGES
    assert len(set(LANGUAGES)) == len(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_file_is_valid_json_of_strings_with_a_language_name(language: str) -> None:
    raw = _raw(language)
    assert raw, language
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items())
    assert isinstance(raw.get("_language"), str)
    assert catalog.language_name(language) == raw["_language"]
    assert "_language" not in catalog.load(language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_exists_in_english(language: str) -> None:
    extra = set(catalog.load(language)) - set(ENGLISH)
    assert not extra, f"{language}.json has keys that en.json lacks: {sorted(extra)}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_english_key_is_translated(language: str) -> None:
    missing = set(ENGLISH) - set(catalog.load(language))
    assert not missing, f"{language}.json lacks {sorted(missing)} (they would fall back)"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_use_the_same_placeholders(language: str) -> None:
    for key, template in catalog.load(language).items():
        assert catalog.placeholders(template) == catalog.placeholders(ENGLISH[key]), (
            f"{language}:{key}"
        )


@pytest.mark.parametrize("language", LANGUAGES)
def test_templates_are_well_formed(language: str) -> None:
    allowed = {"community", "name", "contact", "languages", "text"}
    for key, template in catalog.load(language).items():
        assert template.strip() == template and template, f"{language}:{key}"
        assert catalog.placeholders(template) <= allowed, f"{language}:{key}"
        # renders with no params at all (missing values become blanks, never a KeyError)
        assert "{" not in catalog.render(language, key).replace("{}", "")


def test_every_key_a_flow_uses_is_in_english() -> None:
    used = {
        "optout.confirmed",
        "optin.confirmed",
        "optin.already",
        "help",
        "empty",
        "unknown",
        "onboarding.already_joined",
        "language.switched",
        "language.unknown",
    }
    for flow in FLOWS.values():
        for state in flow.states:
            used |= {state.prompt, state.reprompt}
            used |= {t.say for t in state.transitions if t.say}
    assert used <= set(ENGLISH)


def test_require_and_render_fail_for_unknown_keys() -> None:
    assert catalog.require("help") == "help"
    with pytest.raises(catalog.CatalogError):
        catalog.require("no.such.key")
    with pytest.raises(catalog.CatalogError):
        catalog.render("es", "no.such.key")


def test_unknown_language_falls_back_to_english() -> None:
    assert catalog.load("xx") == {}
    assert catalog.render("xx", "unknown") == ENGLISH["unknown"]


def test_render_fills_placeholders() -> None:
    text = catalog.render("en", "onboarding.welcome", {"name": "Ana", "community": "Crew"})
    assert text == (
        "Welcome, Ana! You are on the Crew volunteer list. Text HELP for help, "
        "LANG es for Espanol, or STOP to opt out."
    )


CASES = [(lang, key) for lang in LATIN_LANGUAGES for key in sorted(ENGLISH)]


@pytest.mark.parametrize(("language", "key"), CASES)
def test_message_is_gsm7_and_at_most_two_segments(language: str, key: str) -> None:
    text = catalog.render(language, key, LONG_PARAMS)
    info = segment_info(text)
    assert info.encoding is Encoding.GSM7, f"{language}:{key} is not GSM-7: {text!r}"
    assert 1 <= info.segments <= 2, f"{language}:{key} costs {info.segments} segments"


@pytest.mark.parametrize(("language", "key"), CASES)
def test_raw_template_is_gsm7(language: str, key: str) -> None:
    # no curly quotes, emoji or accents outside GSM-7 in the wording itself
    template = catalog.load(language)[key]
    assert segment_info(template).encoding is Encoding.GSM7, f"{language}:{key}: {template!r}"


@pytest.mark.parametrize("language", LATIN_LANGUAGES)
def test_every_message_says_what_to_text_next(language: str) -> None:
    for key, template in catalog.load(language).items():
        if key in COORDINATOR_TEXT_KEYS:
            continue
        assert any(word in template for word in ("STOP", "HELP", "JOIN", "START", "LANG")), (
            f"{language}:{key} names no keyword"
        )


def _multi_segment() -> list[str]:
    found = []
    for language, key in CASES:
        if key in COORDINATOR_TEXT_KEYS:
            continue
        info = segment_info(catalog.render(language, key, LONG_PARAMS))
        if info.segments > 1:
            found.append(f"{language}:{key}")
    return found


def test_single_segment_report() -> None:
    """Which texts need two segments with long-ish values. Update when the wording changes.

    Each extra segment doubles the cost and the send time of a reminder wave on a long code.
    """
    assert _multi_segment() == []
