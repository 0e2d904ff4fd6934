"""SMS encoding rules: GSM-7 detection and segment counting. Pure; imports only the stdlib."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

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


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def segment_info(text: str) -> SegmentInfo:
    """How many SMS segments ``text`` costs, and in which encoding.

    Multi-part messages are packed the way handsets split them: an escape pair (GSM-7) or a
    surrogate pair (UCS-2) is never split across two parts.
    """
    if is_gsm7(text):
        widths = [2 if ch in GSM7_EXTENDED else 1 for ch in text]
        single, multi, encoding = GSM7_SINGLE_SEGMENT, GSM7_MULTI_SEGMENT, Encoding.GSM7
    else:
        widths = [len(ch.encode("utf-16-le", "surrogatepass")) // 2 for ch in text]
        single, multi, encoding = UCS2_SINGLE_SEGMENT, UCS2_MULTI_SEGMENT, Encoding.UCS2
    units = sum(widths)
    if units <= single:
        return SegmentInfo(encoding=encoding, units=units, segments=min(units, 1))
    segments, used = 1, 0
    for width in widths:
        if used + width > multi:
            segments, used = segments + 1, 0
        used += width
    return SegmentInfo(encoding=encoding, units=units, segments=segments)


def gsm_safe(text: str) -> str:
    """Replace Latin letters outside GSM-7 by their unaccented form ("Lucía" → "Lucia").

    Characters with no GSM-7 equivalent (other scripts, emoji) are kept: a name is never lost.
    """
    out = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENDED:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        out.append(base if base and is_gsm7(base) else ch)
    return "".join(out)


MAX_SHORT_NAME = 20


def short_name(name: str) -> str:
    """The name as replies use it: the first word, GSM-safe, at most 20 characters."""
    first = name.split()[0] if name.split() else ""
    return gsm_safe(first)[:MAX_SHORT_NAME]


# A menu or list may use two segments in GSM-7; in UCS-2 (Hindi) a segment holds less than half
# as much, so three (DESIGN.md: never more than three).
MENU_SEGMENTS = {Encoding.GSM7: 2, Encoding.UCS2: 3}


def fits_menu_budget(text: str) -> bool:
    info = segment_info(text)
    return info.segments <= MENU_SEGMENTS[info.encoding]
