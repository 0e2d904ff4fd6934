"""Text normalisation and typed parsers for volunteer replies. Pure; stdlib only.

Matching is by whole tokens against small synonym sets, never by substring, so "yesterday"
is not "yes" and "I can't stop by" is not an opt-out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_NAME_LENGTH = 60


def normalize(text: str) -> str:
    """Casefold, NFKC, turn punctuation and symbols into spaces, collapse whitespace.

    Apostrophes are dropped rather than spaced so "don't" becomes "dont".
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    chars: list[str] = []
    for ch in text:
        if ch in "'\u2019`\u00b4":
            continue
        category = unicodedata.category(ch)
        if category[0] in "PSZC" and ch not in "\u200c\u200d":
            chars.append(" ")
        else:
            chars.append(ch)
    return " ".join("".join(chars).split())


def fold_accents(text: str) -> str:
    """Strip Latin accents ("sí" → "si") while keeping other scripts intact."""
    decomposed = unicodedata.normalize("NFD", text)
    kept: list[str] = []
    for ch in decomposed:
        if unicodedata.combining(ch) and _previous_is_latin(kept):
            continue
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


def _previous_is_latin(kept: list[str]) -> bool:
    return bool(kept) and kept[-1].isascii()


def tokens(text: str) -> tuple[str, ...]:
    """Normalised, accent-folded tokens of a message."""
    return tuple(fold_accents(normalize(text)).split())


def phrase_set(phrases: Iterable[str]) -> frozenset[tuple[str, ...]]:
    """Build a set of token tuples from human-written phrases."""
    return frozenset(tokens(p) for p in phrases)


def contains_phrase(words: tuple[str, ...], phrases: frozenset[tuple[str, ...]]) -> bool:
    """True when any phrase occurs as a contiguous run of whole tokens in ``words``."""
    for phrase in phrases:
        n = len(phrase)
        if n and any(words[i : i + n] == phrase for i in range(len(words) - n + 1)):
            return True
    return False


YES_WORDS = phrase_set(
    [
        "yes",
        "y",
        "yeah",
        "yep",
        "yup",
        "ok",
        "okay",
        "sure",
        "si",
        "sí",
        "claro",
        "haan",
        "han",
        "ha",
        "हाँ",
        "हां",
        "जी",
        "जी हाँ",
        "ठीक है",
        "yes please",
        "si claro",
    ]
)
NO_WORDS = phrase_set(
    ["no", "n", "nope", "nah", "no thanks", "no gracias", "nahi", "nahin", "नहीं", "ना"]
)


def parse_yes(text: str) -> bool | None:
    """True for a yes, False for a no, None for anything else (whole message only)."""
    words = tokens(text)
    if words in YES_WORDS:
        return True
    if words in NO_WORDS:
        return False
    return None


def parse_number(text: str) -> int | None:
    """A menu or list number: ``2``, ``#2``, ``2.``, ``2)`` (up to three digits)."""
    match = re.fullmatch(r"\s*#?(\d{1,3})[.)]?\s*", text)
    return int(match.group(1)) if match else None


_NAME_PREFIXES = phrase_set(
    [
        "my name is",
        "name is",
        "im",
        "i am",
        "this is",
        "its",
        "me llamo",
        "soy",
        "mi nombre es",
        "mera naam",
        "मेरा नाम",
    ]
)


def parse_name(text: str) -> str | None:
    """A person's name from a free-text reply, or None when it does not look like one."""
    cleaned = " ".join(unicodedata.normalize("NFKC", text).split()).strip(" .,!?;:-\"'")
    if not cleaned:
        return None
    words = cleaned.split()
    folded = tokens(cleaned)
    for prefix in sorted(_NAME_PREFIXES, key=len, reverse=True):
        if (
            len(folded) > len(prefix)
            and folded[: len(prefix)] == prefix
            and len(words) > len(prefix)
        ):
            words = words[len(prefix) :]
            break
    name = " ".join(words).strip(" .,!?;:-\"'")
    if not name or len(name) > MAX_NAME_LENGTH:
        return None
    if not any(ch.isalpha() for ch in name):
        return None
    if any(unicodedata.category(ch)[0] == "C" for ch in name):
        return None
    if tokens(name) in YES_WORDS or tokens(name) in NO_WORDS:
        return None
    return name


# Thanks, alone or with a few words around them ("ok thanks!", "muchas gracias"): the whole
# message, so "thanks but I cannot come" is not just thanks.
THANKS_WORDS = phrase_set(
    [
        "thanks",
        "thank you",
        "thank u",
        "thx",
        "thnx",
        "thanx",
        "ty",
        "tysm",
        "gracias",
        "muchas gracias",
        "mil gracias",
        "धन्यवाद",
        "शुक्रिया",
        "dhanyavad",
        "dhanyawad",
        "shukriya",
    ]
)
_AROUND_THANKS = frozenset(
    tokens(
        "ok okay great cool so very much a lot lots many again all for everything "
        "you guys muchas mil bahut बहुत आपका जी"
    )
)


def is_thanks(text: str) -> bool:
    """True when the whole message is thanks (with a few friendly words around them)."""
    words = tokens(text)
    found = False
    i = 0
    while i < len(words):
        n = next((n for n in (3, 2, 1) if words[i : i + n] in THANKS_WORDS), 0)
        if n:
            found, i = True, i + n
        elif words[i] in _AROUND_THANKS:
            i += 1
        else:
            return False
    return found
