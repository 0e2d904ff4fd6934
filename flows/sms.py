"""SMS encoding rules: GSM-7 detection and segment counting. Pure; imports only the stdlib."""

from __future__ import annotations

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
    """How many SMS segments ``text`` costs, and in which encoding."""
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        single, multi, encoding = GSM7_SINGLE_SEGMENT, GSM7_MULTI_SEGMENT, Encoding.GSM7
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = UCS2_SINGLE_SEGMENT, UCS2_MULTI_SEGMENT, Encoding.UCS2
    segments = -(-units // multi) if units > single else min(units, 1)
    return SegmentInfo(encoding=encoding, units=units, segments=segments)
