"""SMS encoding rules: GSM-7 detection, and counting and splitting segments the way Twilio does.

Twilio never splits a user-perceived character (a grapheme cluster: an emoji with its skin tone,
a ZWJ sequence, a flag, a Devanagari consonant with its vowel sign) across two parts; nor do we.
Pure; imports the stdlib and ``regex`` (a text library, for its grapheme clusters).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

import regex

# GSM 03.38 basic character set (one septet each).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs two septets (escape + char).
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE_SEGMENT = 160
GSM7_MULTI_SEGMENT = 153
UCS2_SINGLE_SEGMENT = 70
UCS2_MULTI_SEGMENT = 67


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class SegmentInfo:
    encoding: Encoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


GSM7 = GSM7_BASIC | GSM7_EXTENDED


def is_gsm7(text: str) -> bool:
    return GSM7.issuperset(text)


_GRAPHEME = regex.compile(r"\X")


def graphemes(text: str) -> list[str]:
    """The user-perceived characters of ``text`` (Unicode extended grapheme clusters).

    A CR LF pair counts as two, as in Twilio's calculator (it may be split across parts).
    """
    if text.isascii():  # every ASCII character is a cluster of its own (CR LF counts as two)
        return list(text)
    clusters: list[str] = []
    for cluster in _GRAPHEME.findall(text):
        if cluster == "\r\n":
            clusters.extend(cluster)
        else:
            clusters.append(cluster)
    return clusters


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def split(text: str) -> tuple[str, ...]:
    """The parts Twilio sends ``text`` in: one part while it fits a single segment (160
    septets or 70 UTF-16 units), else parts of 153 septets or 67 units, each filled with whole
    grapheme clusters (an escape pair or an emoji with its modifiers is never cut in two)."""
    return _pack(text)[1]


def segment_info(text: str) -> SegmentInfo:
    """How many SMS segments ``text`` costs, and in which encoding (as Twilio counts them)."""
    info, _ = _pack(text)
    return info


def _gsm7_units(text: str) -> int:
    return len(text) + sum(text.count(ch) for ch in GSM7_EXTENDED)


def _pack(text: str) -> tuple[SegmentInfo, tuple[str, ...]]:
    """The segment count and the parts. Every menu is measured this way several times while it
    is fitted to its budget, so the common case (GSM-7 without escape pairs) is sliced."""
    if is_gsm7(text):
        units, encoding = _gsm7_units(text), Encoding.GSM7
        if units <= GSM7_SINGLE_SEGMENT:
            return _one_part(text, encoding, units)
        if units == len(text):  # no escape pairs: one septet per character
            parts = tuple(
                text[i : i + GSM7_MULTI_SEGMENT] for i in range(0, len(text), GSM7_MULTI_SEGMENT)
            )
        else:
            # Each GSM-7 character is a grapheme cluster of its own (GSM-7 has no combining
            # marks; a CR LF pair counts as two anyway): an escape pair is never cut.
            widths = [2 if ch in GSM7_EXTENDED else 1 for ch in text]
            parts = _fill(list(text), widths, GSM7_MULTI_SEGMENT)
    else:
        units, encoding = _utf16_units(text), Encoding.UCS2
        if units <= UCS2_SINGLE_SEGMENT:
            return _one_part(text, encoding, units)
        clusters = graphemes(text)
        widths = [_utf16_units(cluster) for cluster in clusters]
        parts = _fill(clusters, widths, UCS2_MULTI_SEGMENT)
    return SegmentInfo(encoding=encoding, units=units, segments=len(parts)), parts


def _one_part(text: str, encoding: Encoding, units: int) -> tuple[SegmentInfo, tuple[str, ...]]:
    parts = (text,) if text else ()
    return SegmentInfo(encoding=encoding, units=units, segments=len(parts)), parts


def _fill(clusters: list[str], widths: list[int], multi: int) -> tuple[str, ...]:
    """Parts of at most ``multi`` units, each filled with whole clusters."""
    packed: list[list[str]] = [[]]
    used = 0
    for cluster, width in zip(clusters, widths, strict=True):
        if used + width > multi and packed[-1]:
            packed.append([])
            used = 0
        packed[-1].append(cluster)
        used += width
    return tuple("".join(part) for part in packed)


def gsm_safe(text: str) -> str:
    """Replace Latin letters outside GSM-7 by their unaccented form ("Lucía" → "Lucia").

    Characters with no GSM-7 equivalent (other scripts, emoji) are kept: a name is never lost.
    """
    out = []
    for ch in text:
        if ch in GSM7:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        out.append(base if base and is_gsm7(base) else ch)
    return "".join(out)


MAX_SHORT_NAME = 20


def short_name(name: str) -> str:
    """The name as replies use it: the first word, GSM-safe, at most 20 user-perceived
    characters (a cut never separates a letter from its accent or vowel sign)."""
    first = name.split()[0] if name.split() else ""
    return "".join(graphemes(gsm_safe(first))[:MAX_SHORT_NAME])


# A menu or list may use two segments in GSM-7; in UCS-2 (Hindi) a segment holds less than half
# as much, so three (DESIGN.md: never more than three).
MENU_SEGMENTS = {Encoding.GSM7: 2, Encoding.UCS2: 3}


def fits_menu_budget(text: str) -> bool:
    info = segment_info(text)
    return info.segments <= MENU_SEGMENTS[info.encoding]
