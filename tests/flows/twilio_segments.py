"""Fixtures: how many segments Twilio counts for a text, at the boundaries.

Sources (read 2025; cite them when a count is questioned):

- Twilio, "What the Heck is a Segment?" (twilio.com/blog/what-the-heck-is-a-segment): a segment
  is 140 octets (1,120 bits); GSM-7 uses 7 bits a character, so 160 characters fit one
  segment; UCS-2 uses 16 bits, so 70 fit; a multi-part message spends 6 octets of each part on
  the user data header (UDH), leaving 153 GSM-7 characters or 67 UCS-2 code units a part; one
  character outside GSM-7 turns the whole message into UCS-2.
- Twilio's segment calculator, TwilioDevEd/message-segment-calculator (src/libs/
  SegmentedMessage.ts, Segment.ts, EncodedChar.ts; tests/index.test.js, tests/segments.test.js):
  the text is split into grapheme clusters (grapheme-splitter) and a cluster is never split
  across parts; a CR LF pair counts as two characters; the GSM-7 extension characters
  ``| ^ € { } [ ] ~ \\`` (and form feed) cost two septets; in UCS-2 every cluster costs its
  UTF-16 code units (a GSM-7 character among them costs one unit, an escape character too).

``PUBLISHED`` are the calculator's own test cases (its counts, copied); ``DERIVED`` apply the
same rules at our boundaries (67, 70, 134, 153, 160, 201, 306) and to the clusters Twilio never
splits: an emoji with a skin tone, a ZWJ sequence, a flag, a Devanagari consonant with its
vowel sign. Each row: (id, text, encoding, segments, last part or None).
"""

from __future__ import annotations

from typing import NamedTuple

DIGITS = "1234567890"
EXTENSION_CHARS = "|^€{}[]~\\"


class SegmentFixture(NamedTuple):
    id: str
    text: str
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    last_part: str | None = None  # what the last part holds, where the source says


def _digits(n: int) -> str:
    """The calculator's test bodies: "1234567890" repeated, cut to ``n`` characters."""
    return (DIGITS * (n // 10 + 1))[:n]


THUMBS_UP_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽: emoji + skin tone, 4 UTF-16 units
FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👩‍👩‍👧‍👦: 11 units
RAINBOW_FLAG = "\U0001f3f3\ufe0f\u200d\U0001f308"  # 🏳️‍🌈: ZWJ sequence, 6 units
FLAG_IT = "\U0001f1ee\U0001f1f9"  # 🇮🇹: two regional indicators, 4 units
FLAG_US = "\U0001f1fa\U0001f1f8"  # 🇺🇸
WINK = "\U0001f61c"  # 😜: 2 units
GRIN = "\U0001f600"  # 😀
KA = "\u0915"  # क: one unit
KI = "\u0915\u0940"  # की: consonant + vowel sign, one cluster of 2 units
TRIPLE_ACCENT = "e\u0301\u0301\u0301"  # é́́: one cluster of 4 units

PUBLISHED: tuple[SegmentFixture, ...] = (
    SegmentFixture("calc: GSM-7 in one segment (160)", _digits(160), "GSM-7", 1),
    SegmentFixture("calc: GSM-7 in two segments (161)", _digits(161), "GSM-7", 2),
    SegmentFixture("calc: GSM-7 in three segments (307)", _digits(307), "GSM-7", 3, "7"),
    SegmentFixture("calc: UCS-2 in one segment", WINK + _digits(69)[1:], "UCS-2", 1),
    SegmentFixture("calc: UCS-2 in two segments", WINK + _digits(70)[1:], "UCS-2", 2),
    SegmentFixture("calc: UCS-2 in three segments", WINK + _digits(134)[1:], "UCS-2", 3, "4"),
    SegmentFixture("calc: flag, one segment boundary", FLAG_IT + _digits(67)[1:], "UCS-2", 1),
    SegmentFixture("calc: flag, two segment boundary", FLAG_IT + _digits(68)[1:], "UCS-2", 2),
    SegmentFixture("calc: ZWJ flag, one segment", RAINBOW_FLAG + _digits(65)[1:], "UCS-2", 1),
    SegmentFixture("calc: ZWJ flag, two segments", RAINBOW_FLAG + _digits(66)[1:], "UCS-2", 2),
    *(
        SegmentFixture(f"calc: escape {c!r}, one segment", c + _digits(159)[1:], "GSM-7", 1)
        for c in EXTENSION_CHARS
    ),
    *(
        SegmentFixture(f"calc: escape {c!r}, two segments", c + _digits(160)[1:], "GSM-7", 2)
        for c in EXTENSION_CHARS
    ),
    *(
        SegmentFixture(f"calc: 70 x {c}", c * 70, "UCS-2", 1)
        for c in ("Á", "Ú", "ú", "ç", "í", "Í", "ó", "Ó")
    ),
    *(
        SegmentFixture(f"calc: 71 x {c}", c * 71, "UCS-2", 2)
        for c in ("Á", "Ú", "ú", "ç", "í", "Í", "ó", "Ó")
    ),
    SegmentFixture("calc: emoji + 69 ']' in one segment", GRIN + "]" * 68, "UCS-2", 1),
    SegmentFixture("calc: emoji + 70 ']' in two segments", GRIN + "]" * 69, "UCS-2", 2),
    SegmentFixture("calc: triple accent, one segment", TRIPLE_ACCENT + "a" * 66, "UCS-2", 1),
    SegmentFixture("calc: triple accent, two segments", TRIPLE_ACCENT + "a" * 67, "UCS-2", 2),
)

DERIVED: tuple[SegmentFixture, ...] = (
    SegmentFixture("empty text", "", "GSM-7", 0),
    # GSM-7 at 67, 70, 134, 153, 160, 201, 306 characters
    SegmentFixture("GSM-7 67", "a" * 67, "GSM-7", 1),
    SegmentFixture("GSM-7 70", "a" * 70, "GSM-7", 1),
    SegmentFixture("GSM-7 134", "a" * 134, "GSM-7", 1),
    SegmentFixture("GSM-7 153", "a" * 153, "GSM-7", 1),
    SegmentFixture("GSM-7 160", "a" * 160, "GSM-7", 1),
    SegmentFixture("GSM-7 161", "a" * 161, "GSM-7", 2),
    SegmentFixture("GSM-7 201", "a" * 201, "GSM-7", 2),
    SegmentFixture("GSM-7 306", "a" * 306, "GSM-7", 2),
    SegmentFixture("GSM-7 307", "a" * 307, "GSM-7", 3, "a"),
    SegmentFixture("GSM-7 459", "a" * 459, "GSM-7", 3),
    SegmentFixture("GSM-7 460", "a" * 460, "GSM-7", 4),
    # the extension table counts double, and an escape pair is never split
    SegmentFixture("80 escapes = 160 septets", "{}" * 40, "GSM-7", 1),
    SegmentFixture("80 escapes + 1 = 161 septets", "{}" * 40 + "x", "GSM-7", 2),
    SegmentFixture("158 + euro = 160 septets", "a" * 158 + "€", "GSM-7", 1),
    SegmentFixture("159 + bracket = 161 septets", "a" * 159 + "[", "GSM-7", 2),
    SegmentFixture("152 pipes = 304 septets", "|" * 152, "GSM-7", 2),
    SegmentFixture("153 pipes = 306 septets: 76 a part", "|" * 153, "GSM-7", 3, "|"),
    SegmentFixture("euro across the 153 boundary", "a" * 152 + "€" + "a" * 152, "GSM-7", 3),
    SegmentFixture("euro ending part one", "a" * 151 + "€" + "a" * 153, "GSM-7", 2),
    SegmentFixture("GSM-7 with accents of its own", "Hola, ¿qué tal? Año, señor", "GSM-7", 1),
    # CR LF is two characters, and may be split between parts
    SegmentFixture("CR LF across the boundary", "a" * 152 + "\r\n" + "a" * 152, "GSM-7", 2),
    # UCS-2 at 67, 70, 134, 153, 160, 201, 306 code units
    SegmentFixture("UCS-2 67", KA * 67, "UCS-2", 1),
    SegmentFixture("UCS-2 70", KA * 70, "UCS-2", 1),
    SegmentFixture("UCS-2 71", KA * 71, "UCS-2", 2),
    SegmentFixture("UCS-2 134", KA * 134, "UCS-2", 2),
    SegmentFixture("UCS-2 135", KA * 135, "UCS-2", 3),
    SegmentFixture("UCS-2 153", KA * 153, "UCS-2", 3),
    SegmentFixture("UCS-2 160", KA * 160, "UCS-2", 3),
    SegmentFixture("UCS-2 201", KA * 201, "UCS-2", 3),
    SegmentFixture("UCS-2 202", KA * 202, "UCS-2", 4),
    SegmentFixture("UCS-2 306", KA * 306, "UCS-2", 5),
    SegmentFixture("curly quote 70", "\u2019" + "a" * 69, "UCS-2", 1),
    SegmentFixture("curly quote 71", "\u2019" + "a" * 70, "UCS-2", 2),
    SegmentFixture("emoji + 199 = 201 units", GRIN + "a" * 199, "UCS-2", 3),
    SegmentFixture("emoji + 200 = 202 units", GRIN + "a" * 200, "UCS-2", 4),
    # an emoji with a skin tone is one cluster of 4 units
    SegmentFixture("skin tone alone", THUMBS_UP_MEDIUM, "UCS-2", 1),
    SegmentFixture("skin tone + 66 = 70", THUMBS_UP_MEDIUM + "a" * 66, "UCS-2", 1),
    SegmentFixture("skin tone + 67 = 71", THUMBS_UP_MEDIUM + "a" * 67, "UCS-2", 2),
    SegmentFixture(
        "skin tone across the 67 boundary (issue 14)",
        "a" * 65 + THUMBS_UP_MEDIUM + "b" * 65,
        "UCS-2",
        3,
        "bb",
    ),
    SegmentFixture("skin tone ending part one", "a" * 63 + THUMBS_UP_MEDIUM + "b" * 67, "UCS-2", 2),
    # a ZWJ sequence (family) is one cluster of 11 units
    SegmentFixture("family across the boundary", "a" * 60 + FAMILY + "b" * 63, "UCS-2", 3),
    SegmentFixture("family cut after a ZWJ", "a" * 62 + FAMILY + "b" * 61, "UCS-2", 3, "b" * 5),
    SegmentFixture("ZWJ flag across the boundary", "a" * 63 + RAINBOW_FLAG + "b" * 65, "UCS-2", 3),
    SegmentFixture("family ending part one", "a" * 56 + FAMILY + "b" * 67, "UCS-2", 2),
    SegmentFixture("family + 59 = 70", FAMILY + "a" * 59, "UCS-2", 1),
    SegmentFixture("family + 60 = 71", FAMILY + "a" * 60, "UCS-2", 2),
    # a flag is one cluster of two regional indicators
    SegmentFixture("flag across the boundary", "a" * 65 + FLAG_US + "b" * 65, "UCS-2", 3, "bb"),
    SegmentFixture("flag ending part one", "a" * 63 + FLAG_US + "b" * 67, "UCS-2", 2),
    SegmentFixture("two flags = 8 units", FLAG_US + FLAG_IT, "UCS-2", 1),
    # a Devanagari consonant and its vowel sign stay together
    SegmentFixture("vowel sign across the boundary", KA * 66 + KI + KA * 66, "UCS-2", 3, KA),
    SegmentFixture("vowel sign ending part one", KA * 65 + KI + KA * 67, "UCS-2", 2),
    SegmentFixture("Hindi greeting", "नमस्ते! आज शाम 5 बजे आइए।", "UCS-2", 1),
)

ALL: tuple[SegmentFixture, ...] = PUBLISHED + DERIVED
