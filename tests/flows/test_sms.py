"""SMS encoding and segment counting (flows.sms).

GSM-7: 160 septets in one segment, 153 per part once split; the extension table costs two.
UCS-2 (any character outside GSM-7): 70 UTF-16 units in one segment, 67 per part. A grapheme
cluster is never split across parts, as in Twilio's calculator (fixtures: twilio_segments.py).
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.sms import (
    GSM7_BASIC,
    GSM7_EXTENDED,
    Encoding,
    SegmentInfo,
    graphemes,
    is_gsm7,
    segment_info,
    split,
)
from tests.flows.twilio_segments import ALL as ALL_SEGMENT_FIXTURES
from tests.flows.twilio_segments import SegmentFixture

EXTENSION_CHARS = "^{}\\[~]|€"


def test_empty_text_is_zero_segments() -> None:
    assert segment_info("") == SegmentInfo(Encoding.GSM7, 0, 0)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (159, 1), (160, 1), (161, 2), (305, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_boundaries(length: int, segments: int) -> None:
    info = segment_info("a" * length)
    assert info.encoding is Encoding.GSM7
    assert info.units == length
    assert info.segments == segments


@pytest.mark.parametrize("char", list(EXTENSION_CHARS))
def test_each_extension_character_is_gsm7_and_costs_two_septets(char: str) -> None:
    info = segment_info(char)
    assert info.encoding is Encoding.GSM7
    assert info.units == 2


def test_extension_characters_push_a_message_over_the_single_segment_limit() -> None:
    assert segment_info("a" * 158 + "€").units == 160
    assert segment_info("a" * 158 + "€").segments == 1
    assert segment_info("a" * 159 + "[").units == 161
    assert segment_info("a" * 159 + "[").segments == 2
    assert segment_info("{}" * 40).segments == 1  # 80 chars, 160 septets
    assert segment_info("{}" * 40 + "x").segments == 2
    # an escape pair is never split: a 153-septet part holds 76 pairs, so 152 pairs fit in
    # two parts, and 153 pairs (306 septets) need a third
    assert segment_info("|" * 152).segments == 2
    assert segment_info("|" * 153).segments == 3
    assert segment_info("a" * 152 + "€" + "a" * 152).segments == 3
    assert segment_info("a" * 151 + "€" + "a" * 153).segments == 2


def test_surrogate_pairs_are_not_split_and_lone_surrogates_do_not_crash() -> None:
    assert segment_info("a" * 66 + "\U0001f600" + "a" * 67).segments == 3
    assert segment_info("\ud800").segments == 1


def test_short_name_is_gsm_safe_and_bounded() -> None:
    from flows.sms import short_name

    assert short_name("Lucía Fernández") == "Lucia"
    assert short_name("José") == "José"  # é is in GSM-7
    assert short_name("राम कुमार") == "राम"
    assert short_name("A" * 40) == "A" * 20
    assert short_name("") == ""


def test_form_feed_is_an_extension_character() -> None:
    assert segment_info("\f").units == 2


@pytest.mark.parametrize(
    ("text", "units", "segments"),
    [
        ("😀", 2, 1),  # astral plane: a surrogate pair, two UTF-16 units
        ("😀" + "a" * 68, 70, 1),
        ("😀" + "a" * 69, 71, 2),
        ("😀" + "a" * 132, 134, 2),
        ("😀" + "a" * 133, 135, 3),
        ("😀" + "a" * 199, 201, 3),
        ("😀" + "a" * 200, 202, 4),
    ],
)
def test_one_emoji_switches_to_ucs2_boundaries(text: str, units: int, segments: int) -> None:
    info = segment_info(text)
    assert info.encoding is Encoding.UCS2
    assert info.units == units
    assert info.segments == segments


@pytest.mark.parametrize(("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_curly_quote_switches_to_ucs2(length: int, segments: int) -> None:
    text = "\u2019" + "a" * (length - 1)  # one right single quotation mark
    info = segment_info(text)
    assert info.encoding is Encoding.UCS2
    assert info.units == length
    assert info.segments == segments


def test_extension_characters_cost_one_unit_in_ucs2() -> None:
    info = segment_info("😀" + "€" * 10)
    assert info.encoding is Encoding.UCS2
    assert info.units == 12


def test_one_non_gsm_character_anywhere_turns_a_short_gsm_text_into_two_ucs2_parts() -> None:
    text = "Welcome to the crew! Text HELP for help or STOP to opt out. See you soon."  # 74
    assert segment_info(text).segments == 1
    assert segment_info(text.replace("!", "\u2757")).encoding is Encoding.UCS2
    assert segment_info(text.replace("!", "\u2757")).segments == 2


@pytest.mark.parametrize(
    "text", ["Hola, ¿qué tal? Año, señor, Ñandu", "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¡¿§", "a\r\nb"]
)
def test_gsm7_texts(text: str) -> None:
    assert is_gsm7(text)
    assert segment_info(text).encoding is Encoding.GSM7


@pytest.mark.parametrize(
    "text",
    [
        "Lucía",
        "Ramón",
        "Ñandú",
        "naïve",
        "\u201cquoted\u201d",
        "it\u2019s",
        "😀",
        "नमस्ते",
        "Привет",
        "ç",
        "`",
        "\t",
    ],
)
def test_non_gsm7_texts(text: str) -> None:
    assert not is_gsm7(text)
    assert segment_info(text).encoding is Encoding.UCS2


def test_alphabet_tables_are_disjoint_and_complete() -> None:
    assert GSM7_BASIC.isdisjoint(GSM7_EXTENDED)
    assert len(GSM7_BASIC) == 127  # GSM 03.38 basic table: 128 positions minus ESC
    assert set(EXTENSION_CHARS) <= GSM7_EXTENDED


def test_menu_budget_is_two_gsm7_or_three_ucs2_segments() -> None:
    from flows.sms import fits_menu_budget

    assert fits_menu_budget("a" * 306) and not fits_menu_budget("a" * 307)
    assert fits_menu_budget("क" * 201) and not fits_menu_budget("क" * 202)


# --- as Twilio counts them: grapheme clusters are never split (tests/flows/twilio_segments.py) --


@pytest.mark.parametrize("fixture", ALL_SEGMENT_FIXTURES, ids=lambda f: f.id)
def test_segments_as_twilio_counts_them(fixture: SegmentFixture) -> None:
    info = segment_info(fixture.text)
    assert (info.encoding.value, info.segments) == (fixture.encoding, fixture.segments)
    parts = split(fixture.text)
    assert len(parts) == fixture.segments
    assert "".join(parts) == fixture.text
    if fixture.last_part is not None:
        assert parts[-1] == fixture.last_part


def test_there_are_enough_fixtures_at_every_boundary() -> None:
    assert len(ALL_SEGMENT_FIXTURES) >= 50
    lengths = {len(f.text) for f in ALL_SEGMENT_FIXTURES}
    assert {67, 70, 134, 153, 160, 201, 306} <= lengths


@pytest.mark.parametrize("fixture", ALL_SEGMENT_FIXTURES, ids=lambda f: f.id)
def test_every_part_fits_and_no_cluster_is_cut(fixture: SegmentFixture) -> None:
    parts = split(fixture.text)
    single, multi = (160, 153) if fixture.encoding == "GSM-7" else (70, 67)
    for part in parts:
        units = (
            sum(2 if ch in GSM7_EXTENDED else 1 for ch in part)
            if fixture.encoding == "GSM-7"
            else len(part.encode("utf-16-le", "surrogatepass")) // 2
        )
        assert units <= (single if len(parts) == 1 else multi)
    # every cluster of the whole text lies wholly within one part
    boundaries = set(itertools.accumulate(len(part) for part in parts))
    position = 0
    for cluster in graphemes(fixture.text):
        inside = set(range(position + 1, position + len(cluster)))
        assert not inside & boundaries, (cluster, position)
        position += len(cluster)


def test_the_issue_example_is_three_segments_with_the_thumb_whole() -> None:
    text = "a" * 65 + "👍🏽" + "b" * 65
    assert segment_info(text).segments == 3
    assert split(text) == ("a" * 65, "👍🏽" + "b" * 63, "bb")


def test_devanagari_conjuncts_are_kept_whole_which_never_counts_fewer_than_twilio() -> None:
    # Unicode 15.1 keeps a conjunct (consonant + virama + consonant) in one cluster; the
    # calculator's older grapheme-splitter may cut after the virama. Whole clusters can only
    # move a break earlier, so our count is Twilio's or one more: never fewer (budgets hold).
    conjunct = "\u0915\u094d\u0937"  # क्ष
    assert graphemes(conjunct) == [conjunct]
    text = "\u0915" * 65 + conjunct + "\u0915" * 66  # 134 units
    assert segment_info(text).segments == 3  # the calculator may say 2


def test_names_are_shortened_by_whole_characters() -> None:
    from flows.sms import short_name

    assert short_name("क" * 19 + "की") == "क" * 19 + "की"  # the vowel sign stays
    assert short_name("👍🏽" * 25) == "👍🏽" * 20


_ZWJ_SEQUENCES = ["\U0001f3f3\ufe0f\u200d\U0001f308", "👩\u200d👩\u200d👧\u200d👦"]
_CLUSTERS = st.sampled_from(
    [
        "a",
        "€",
        "|",
        "é",
        "\r\n",
        "\u2019",
        "क",
        "की",
        "क्ष",
        "😀",
        "👍🏽",
        "🇺🇸",
        "e\u0301",
        *_ZWJ_SEQUENCES,
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_CLUSTERS, max_size=120).map("".join) | st.text(max_size=400))
def test_any_text_splits_into_parts_that_fit_and_rejoin(text: str) -> None:
    info = segment_info(text)
    parts = split(text)
    assert "".join(parts) == text
    assert info.segments == len(parts)
    gsm = info.encoding is Encoding.GSM7
    single, multi = (160, 153) if gsm else (70, 67)
    clusters = graphemes(text)
    for part in parts:
        units = (
            sum(2 if ch in GSM7_EXTENDED else 1 for ch in part)
            if gsm
            else len(part.encode("utf-16-le", "surrogatepass")) // 2
        )
        oversized = any(len(c.encode("utf-16-le", "surrogatepass")) // 2 > multi for c in clusters)
        assert units <= (single if len(parts) == 1 else multi) or oversized


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENDED), min_size=150, max_size=700))
def test_gsm7_parts_are_filled_greedily(text: str) -> None:
    """Each part but the last is as full as Twilio fills it: the next character (an escape
    pair costs two septets) would not have fitted."""
    parts = split(text)

    def septets(part: str) -> int:
        return sum(2 if ch in GSM7_EXTENDED else 1 for ch in part)

    assert "".join(parts) == text
    if len(parts) > 1:
        for part, after in itertools.pairwise(parts):
            assert septets(part) + septets(after[0]) > 153
