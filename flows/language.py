"""Which shipped language a first text is written in: "hola", "UNIRME", "quiero ayudar" are
Spanish, "नमस्ते", "जुड़ें" are Hindi, "hi" and "JOIN" are English; "Ana" or "123" say nothing
(the community's default language then applies).

Each catalog declares its words (``_first_words``) and, when not Latin, its script
(``_script``), so a new language is still one catalog file. Pure; imports only the stdlib,
``flows.catalog`` and ``flows.parsing``.
"""

from __future__ import annotations

import unicodedata

from flows import catalog
from flows.parsing import tokens


def _in_script(text: str, script: str) -> bool:
    return any(ch.isalpha() and unicodedata.name(ch, "").startswith(script) for ch in text)


def detect(text: str) -> str | None:
    """The shipped language ``text`` is written in, or None when it does not tell."""
    languages = catalog.languages()
    for language in languages:  # a script of its own settles it: "नमस्ते"
        script = catalog.script(language)
        if script and _in_script(text, script):
            return language
    words = tokens(text)
    scores = {
        language: sum(1 for word in words if word in catalog.first_words(language))
        for language in languages
    }
    best = max(scores.values(), default=0)
    winners = [language for language, score in scores.items() if score == best]
    return winners[0] if best and len(winners) == 1 else None
