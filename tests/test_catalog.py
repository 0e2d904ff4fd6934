"""Message catalogs (flows.catalog): every language mirrors en.json and every text is short.

DESIGN.md: replies aim for one SMS segment, never more than three, GSM-7 for Latin-script
languages (no curly quotes, no emoji). Here: English and Spanish are GSM-7 and at most two
segments with realistic long-ish values (``test_single_segment_report`` lists the texts that
need two); Hindi is UCS-2 and at most three segments. Every message names a keyword to text
next, and keywords stay in Latin capitals in every language.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any, get_args, get_type_hints

import pytest

from flows import catalog, donations, menus, shifts
from flows.conversation import SHIPPED, classify
from flows.sms import Encoding, is_gsm7, segment_info

LANGUAGES = catalog.languages()
LATIN_LANGUAGES = ("en", "es")
UCS2_LANGUAGES = ("hi",)
MAX_SEGMENTS = {"en": 2, "es": 2, "hi": 3}
ENGLISH = catalog.load("en")

# Realistic long-ish values: a 30-character community, a 20-character name, a phone contact,
# a 30-character shift title and place, a formatted start time, two-digit counts; for
# donations a 23-character item, a long unit, three-digit quantities and a drop-off window.
LONG_PARAMS: dict[str, object] = {
    "community": "Riverside Flood Response Crew!",
    "name": "Maria Fernanda Gomez",
    "contact": "+12025550142",
    "languages": "/".join(LANGUAGES),
    "text": "Sandbags needed at the school gym by 6pm. Reply YES if you can help.",
    "title": "Sandbagging at the north levee",
    "place": "Lincoln Elementary School, gym",
    "when": "Wed 30/12 18:30",
    "need": 12,
    "position": 12,
    "hours": "10.5",
    "until": "30/12",
    "count": 30,
    "n": 30,
    "left": 12,
    "item": "Cooking oil (sunflower)",
    "unit": "litres",
    "quantity": 120,
    "missing": 480,
    "target": 500,
    "window": "10:00-12:00",
    "code": "482193",
    "cost": "1234.56",
}
# Texts whose length is chosen by a coordinator or by the lookup (menus, lists), not by the
# catalog alone; "days" and "months" are lists of abbreviations and "dates.*" the words for
# today and tomorrow, not messages; the line templates are fragments of a menu or list.
COORDINATOR_TEXT_KEYS = {"raw", "broadcast", "callout.ask", "coord.approve_code"}
LIST_KEYS = {"shifts.menu", "shifts.menu_more", "my.list", "drop.pick", "give.menu", "coord.today"}
FRAGMENT_KEYS = {
    "days",
    "months",
    "dates.today",
    "dates.tomorrow",
    "shifts.line",
    "shifts.line_full",
    "my.line",
    "my.line_waitlist",
    "give.line",
    "coord.line",
    "coord.line_waitlist",
    "coord.more",
    "coord.need_line",
}
# Parts of an interactive WhatsApp message (flows.menus): button labels, a list item's
# description, and the body above a list, which says to tap (or reply a number).
WHATSAPP_KEYS = {
    "button.choose",
    "button.yes",
    "button.no",
    "shifts.item",
    "shifts.item_full",
    "give.item",
    "shifts.pick",
    "give.pick",
}
NOT_A_WHOLE_MESSAGE = COORDINATOR_TEXT_KEYS | LIST_KEYS | FRAGMENT_KEYS | WHATSAPP_KEYS
# What a volunteer can text, as the catalogs spell it (Latin capitals in every language).
KEYWORDS = {
    "STOP",
    "START",
    "HELP",
    "JOIN",
    "LANG",
    "SHIFTS",
    "MORE",
    "MY",
    "DROP",
    "IN",
    "OUT",
    "YES",
    "NO",
    "SI",
    "PAUSE",
    "RESUME",
    "GIVE",
    "DONE",
    "WEEKLY",
    # a coordinator's commands (flows.coordinators), from a registered phone
    "TODAY",
    "WHO",
    "CALLOUT",
    "SAY",
    "NEEDS",
}
ALLOWED_PLACEHOLDERS = {
    "community",
    "name",
    "contact",
    "languages",
    "text",
    "title",
    "place",
    "when",
    "need",
    "position",
    "hours",
    "until",
    "count",
    "n",
    "left",
    "lines",
    "item",
    "unit",
    "quantity",
    "missing",
    "target",
    "window",
    "code",
    "cost",
}


RESULT_TYPES: tuple[Any, ...] = (
    shifts.ClaimResult,
    shifts.DropResult,
    shifts.AttendanceResult,
    shifts.ConfirmResult,
    shifts.CallOutResult,
    donations.PledgeResult,
    donations.DoneResult,
    donations.StandingResult,
)


def outcomes_of(result: Any) -> Any:
    return get_type_hints(result)["outcome"]


def keywords_in(template: str) -> set[str]:
    """The keywords a text names: English ones, or a language's own (TURNOS, AYUDA)."""
    named = set(re.findall(r"(?<![A-Za-z])[A-Z]{2,}(?![A-Za-z])", template))
    return {word for word in named if word in KEYWORDS or classify(word) is not None}


def render_long(language: str, key: str) -> str:
    """``key`` with the long values; a menu or list gets two realistic lines (one in UCS-2,
    where the menu pager fits one long line per page)."""
    params = dict(LONG_PARAMS)
    if key == "give.menu":
        lines = [catalog.render(language, "give.line", {**LONG_PARAMS, "n": n}) for n in (1, 2)]
        params["lines"] = "\n".join(lines[:1] if language in UCS2_LANGUAGES else lines)
    elif key in LIST_KEYS:
        commitments = key in ("my.list", "drop.pick")
        line = "my.line_waitlist" if commitments else "shifts.line"
        other = "my.line" if commitments else "shifts.line_full"
        lines = [
            catalog.render(language, line, {**LONG_PARAMS, "n": 1}),
            catalog.render(language, other, {**LONG_PARAMS, "n": 2}),
        ]
        params["lines"] = "\n".join(lines[:1] if language in UCS2_LANGUAGES else lines)
    return catalog.render(language, key, params)


def _raw(language: str) -> dict[str, str]:
    path = resources.files("flows.catalog").joinpath(f"{language}.json")
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_long_params_are_as_long_as_promised() -> None:
    assert len(str(LONG_PARAMS["community"])) == 30
    assert len(str(LONG_PARAMS["name"])) == 20
    assert str(LONG_PARAMS["community"]).isascii()
    assert str(LONG_PARAMS["name"]).isascii()
    assert len(str(LONG_PARAMS["title"])) == len(str(LONG_PARAMS["place"])) == 30


def test_english_is_first_and_spanish_and_hindi_are_shipped() -> None:
    assert LANGUAGES[0] == "en"
    assert {"es", "hi"} <= set(LANGUAGES)
    assert len(set(LANGUAGES)) == len(LANGUAGES)
    assert set(MAX_SEGMENTS) == set(LANGUAGES)  # a new language declares its budget here


def test_language_names() -> None:
    assert catalog.language_name("en") == "English"
    assert catalog.language_name("es") == "Espanol"
    assert catalog.language_name("hi") == "हिन्दी"


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
    for key, template in catalog.load(language).items():
        assert template.strip() == template and template, f"{language}:{key}"
        assert catalog.placeholders(template) <= ALLOWED_PLACEHOLDERS, f"{language}:{key}"
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
        "unknown.give",
        "thanks",
        "onboarding.already_joined",
        "language.switched",
        "language.unknown",
        "raw",
        "days",
        "shifts.line",
        "shifts.line_full",
        "shifts.menu",
        "shifts.menu_more",
        "shifts.none",
        "shifts.pick_number",
        "my.list",
        "my.line",
        "my.line_waitlist",
        "my.none",
        "drop.which",
        "drop.pick",
        "drop.confirm",
        "drop.none",
        "reminder.no",
        "pause.open",
        "pause.until",
        "pause.usage",
        "resume.done",
        "give.menu",
        "give.line",
        "give.none",
        "give.pick_number",
        "give.ask_quantity",
        "gap.declined",
        "give.closed",
        *WHATSAPP_KEYS,
        "shifts.pick_more",
    }
    # every outcome a Result can report (the shell fills them in; flows own the texts)
    for result in RESULT_TYPES:
        used |= {result(outcome).reply().key for outcome in get_args(outcomes_of(result))}
    # a weekly pledge has its own texts
    used |= {
        donations.PledgeResult(outcome, quantity=1, weekly=True).reply().key
        for outcome in get_args(outcomes_of(donations.PledgeResult))
    }
    for flow in SHIPPED.flows.values():  # every composed flow, the roster kinds' too
        for state in flow.states:
            used |= {key for key in (state.prompt, state.reprompt) if key is not None}
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
        "Welcome, Ana! You are on the Crew volunteer list. Text SHIFTS for open shifts, "
        "HELP for help, STOP to opt out."
    )
    text = catalog.render("hi", "shifts.confirmed", {"title": "Rasoi", "when": "शनि 28/11 09:00"})
    assert "Rasoi" in text
    assert "शनि 28/11 09:00" in text


CASES = [(lang, key) for lang in LATIN_LANGUAGES for key in sorted(ENGLISH)]
HINDI_CASES = [(lang, key) for lang in UCS2_LANGUAGES for key in sorted(ENGLISH)]


@pytest.mark.parametrize(("language", "key"), CASES)
def test_message_is_gsm7_and_at_most_two_segments(language: str, key: str) -> None:
    text = render_long(language, key)
    info = segment_info(text)
    assert info.encoding is Encoding.GSM7, f"{language}:{key} is not GSM-7: {text!r}"
    assert 1 <= info.segments <= MAX_SEGMENTS[language], f"{language}:{key}: {info.segments}"


@pytest.mark.parametrize(("language", "key"), CASES)
def test_raw_template_is_gsm7(language: str, key: str) -> None:
    # no curly quotes, emoji or accents outside GSM-7 in the wording itself
    template = catalog.load(language)[key]
    assert segment_info(template).encoding is Encoding.GSM7, f"{language}:{key}: {template!r}"


@pytest.mark.parametrize(("language", "key"), HINDI_CASES)
def test_hindi_message_is_at_most_three_ucs2_segments(language: str, key: str) -> None:
    if key in COORDINATOR_TEXT_KEYS:
        # a coordinator's 68 characters alone take most of three UCS-2 segments: the template
        # around a short text must still fit
        text = catalog.render(language, key, {**LONG_PARAMS, "text": "Bring gloves."})
    else:
        text = render_long(language, key)
    info = segment_info(text)
    assert info.segments <= MAX_SEGMENTS[language], f"{language}:{key}: {text!r}"
    if key not in COORDINATOR_TEXT_KEYS and key != "my.line" and key != "shifts.line":
        assert info.encoding is Encoding.UCS2, f"{language}:{key} is not in Hindi: {text!r}"


@pytest.mark.parametrize("language", UCS2_LANGUAGES)
def test_hindi_is_written_in_devanagari(language: str) -> None:
    for key, template in catalog.load(language).items():
        if key in {"raw", "broadcast", "my.line"}:
            continue
        assert re.search("[\u0900-\u097f]", template), f"{language}:{key} is not in Hindi"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_says_what_to_text_next(language: str) -> None:
    for key, template in catalog.load(language).items():
        if key in NOT_A_WHOLE_MESSAGE - {"callout.ask", "shifts.menu_more", "my.list"}:
            continue
        assert keywords_in(template), f"{language}:{key} names no keyword"


@pytest.mark.parametrize("language", LANGUAGES)
def test_menus_say_to_reply_with_a_number(language: str) -> None:
    for key in (
        "shifts.menu",
        "shifts.menu_more",
        "shifts.pick_number",
        "give.menu",
        "give.pick_number",
    ):
        template = catalog.load(language)[key]
        assert "{lines}" in template or "{count}" in template
        number = {"en": "number", "es": "numero", "hi": "नंबर"}[language]
        assert number in template, f"{language}:{key}"
    assert "MORE" in catalog.load(language)["shifts.menu_more"]
    assert "MORE" not in catalog.load(language)["shifts.menu"]  # the last page has no more


@pytest.mark.parametrize("language", LANGUAGES)
def test_keywords_stay_the_same_in_every_language(language: str) -> None:
    """A Spanish or Hindi text names the same keywords as the English one (minus YES/SI/NO,
    which each language spells its own way, and plus the ones a translation adds)."""
    spelled = {"YES", "SI", "NO"}
    for key, template in catalog.load(language).items():
        english = keywords_in(ENGLISH[key]) - spelled
        # a translation may name its language's own word for a keyword (TURNOS for SHIFTS)
        assert {_meaning(w) for w in english} <= _meanings(template), f"{language}:{key}"


def _meaning(word: str) -> str:
    """What a keyword named in a text does: its intent, or the word (WEEKLY, an answer)."""
    keyword = classify(word)
    return str(keyword.intent) if keyword is not None else word


def _meanings(template: str) -> set[str]:
    return {_meaning(w) for w in re.findall(r"(?<![A-Za-z])[A-Z]{2,}(?![A-Za-z])", template)}


@pytest.mark.parametrize("language", LANGUAGES)
def test_days_are_seven_weekday_abbreviations(language: str) -> None:
    days = catalog.load(language)["days"].split(",")
    assert len(days) == 7
    assert all(day and day == day.strip() for day in days)
    assert len(set(days)) == 7
    if language in LATIN_LANGUAGES:
        assert all(is_gsm7(day) and len(day) <= 3 for day in days)


def _multi_segment() -> list[str]:
    found = []
    for language, key in CASES:
        if key in NOT_A_WHOLE_MESSAGE:
            continue
        info = segment_info(render_long(language, key))
        if info.segments > 1:
            found.append(f"{language}:{key}")
    return found


def test_single_segment_report() -> None:
    """Which texts need two segments with long-ish values. Update when the wording changes.

    Each extra segment doubles the cost and the send time of a reminder wave on a long code.
    """
    assert _multi_segment() == []


@pytest.mark.parametrize("language", LATIN_LANGUAGES)
def test_call_out_with_a_coordinator_text_fits_two_segments(language: str) -> None:
    text = render_long(language, "callout.ask")
    assert str(LONG_PARAMS["text"]) in text
    assert segment_info(text).segments == 2  # URGENT + a sentence of the coordinator's


@pytest.mark.parametrize("language", LANGUAGES)
def test_whatsapp_button_labels_and_list_texts_fit_whatsapps_limits(language: str) -> None:
    """A button title at most 20 characters, a list item's description 72 (flows.menus), the
    body above a list one content variable (256)."""
    for key in ("button.choose", "button.yes", "button.no"):
        assert 0 < len(catalog.render(language, key)) <= menus.MAX_BUTTON, f"{language}:{key}"
    for key in ("shifts.item", "shifts.item_full", "give.item"):
        # the time and place (or amounts) fill the rest; menus.clip cuts a long place
        words = catalog.render(language, key, {"when": "", "place": "", "left": 12})
        assert len(words) <= menus.MAX_DESCRIPTION // 2, f"{language}:{key}: {words!r}"
    for key in ("shifts.pick", "shifts.pick_more", "give.pick"):
        assert len(render_long(language, key)) <= menus.MAX_VARIABLE, f"{language}:{key}"
