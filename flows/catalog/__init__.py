"""Message catalogs: every text a volunteer receives, one JSON file per language.

Adding a language is adding one file, ``<code>.json``, with the same keys as ``en.json``.
Missing keys fall back to English. A text that counts something takes ICU-style plural forms:
``{count, plural, one {# donation} other {# donations}}`` (``#`` is the number); each catalog
names the counts that take its ``one`` form (``"_plural_one": "1"``; Hindi: ``"0,1"``).
Pure; stdlib only.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

DEFAULT_LANGUAGE = "en"


class CatalogError(KeyError):
    """A flow refers to a message key that the English catalog does not define."""


@cache
def load(language: str) -> Mapping[str, str]:
    """The messages of one language (empty when the language is not shipped)."""
    resource = resources.files(__name__).joinpath(f"{language}.json")
    if not resource.is_file():
        return {}
    data = json.loads(resource.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def languages() -> tuple[str, ...]:
    """Codes of every shipped language, English first."""
    codes = sorted(
        p.name.removesuffix(".json")
        for p in resources.files(__name__).iterdir()
        if p.name.endswith(".json")
    )
    return (DEFAULT_LANGUAGE, *[c for c in codes if c != DEFAULT_LANGUAGE])


@cache
def _meta(language: str) -> Mapping[str, str]:
    """The ``_``-prefixed entries of one language's file (its name, plural rule, words that
    tell a first text is in it)."""
    resource = resources.files(__name__).joinpath(f"{language}.json")
    if not resource.is_file():
        return {}
    data = json.loads(resource.read_text(encoding="utf-8"))
    return {k: str(v) for k, v in data.items() if k.startswith("_")}


def language_name(language: str) -> str:
    return _meta(language).get("_language", language)


def first_words(language: str) -> frozenset[str]:
    """Words that tell a first text is in ``language`` ("hola", "namaste"), lowercase."""
    return frozenset(_meta(language).get("_first_words", "").casefold().split())


def pattern(language: str, name: str) -> str:
    """A date or time pattern of ``language`` (``_day_pattern``, ``_when_pattern``, ``_am``,
    ...): its own, else English's; "" when neither has it."""
    return _meta(language).get(name) or _meta(DEFAULT_LANGUAGE).get(name, "")


def has_pattern(language: str, name: str) -> bool:
    """Does ``language`` itself define pattern ``name`` (no English fallback)?"""
    return name in _meta(language)


def script(language: str) -> str:
    """The Unicode script a language's own words are written in ("DEVANAGARI"; "" for Latin)."""
    return _meta(language).get("_script", "")


def require(key: str) -> str:
    """Fail fast (at import of a flow) when a key is missing from the English catalog."""
    if key not in load(DEFAULT_LANGUAGE):
        raise CatalogError(f"message key {key!r} is not in the {DEFAULT_LANGUAGE} catalog")
    return key


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return ""


_PLURAL_START = re.compile(r"\{(\w+), *plural, *")
_BRANCH = re.compile(r" *(one|other) *\{")


@dataclass(frozen=True)
class _Plural:
    """One ``{name, plural, one {...} other {...}}`` block of a template."""

    start: int
    end: int
    name: str
    forms: Mapping[str, str]


def _closing(template: str, at: int) -> int:
    """The index just after the brace that closes the one opened before ``at``."""
    depth = 1
    for index in range(at, len(template)):
        if template[index] == "{":
            depth += 1
        elif template[index] == "}":
            depth -= 1
            if depth == 0:
                return index + 1
    raise CatalogError(f"unbalanced braces in {template!r}")


def plurals(template: str) -> list[_Plural]:
    """The plural blocks of ``template``, in order."""
    found: list[_Plural] = []
    at = 0
    while (match := _PLURAL_START.search(template, at)) is not None:
        forms: dict[str, str] = {}
        index = match.end()
        while (branch := _BRANCH.match(template, index)) is not None:
            close = _closing(template, branch.end())
            forms[branch.group(1)] = template[branch.end() : close - 1]
            index = close
        if index >= len(template) or template[index] != "}" or "other" not in forms:
            raise CatalogError(f"a plural needs an 'other' form and a closing brace: {template!r}")
        found.append(_Plural(match.start(), index + 1, match.group(1), forms))
        at = index + 1
    return found


def plural_form(language: str, count: object) -> str:
    """``one`` or ``other``: the form ``language`` uses for ``count``."""
    try:
        number = int(str(count))
    except ValueError:
        return "other"
    raw = _meta(language).get("_plural_one") or _meta(DEFAULT_LANGUAGE).get("_plural_one", "1")
    ones = {int(n) for n in str(raw).split(",") if n.strip()}
    return "one" if number in ones else "other"


def _choose_plurals(language: str, template: str, params: Mapping[str, object]) -> str:
    parts: list[str] = []
    at = 0
    for block in plurals(template):
        count = params.get(block.name, "")
        form = block.forms.get(plural_form(language, count)) or block.forms["other"]
        parts += [template[at : block.start], form.replace("#", str(count))]
        at = block.end
    return "".join(parts) + template[at:]


def placeholders(template: str) -> set[str]:
    names: set[str] = set()
    blocks = plurals(template)
    for block in blocks:
        names.add(block.name)
        for form in block.forms.values():
            names |= placeholders(form)
    outside = _choose_plurals(DEFAULT_LANGUAGE, template, {}) if blocks else template
    return names | {name for _, name, _, _ in string.Formatter().parse(outside) if name}


def render(language: str, key: str, params: Mapping[str, object] | None = None) -> str:
    """The text for ``key`` in ``language`` (English when missing), with params filled in and
    each plural block in the form its count takes."""
    template = load(language).get(key) or load(DEFAULT_LANGUAGE).get(key)
    if template is None:
        raise CatalogError(f"message key {key!r} is not in the {DEFAULT_LANGUAGE} catalog")
    values = params or {}
    if "plural" in template:
        template = _choose_plurals(language, template, values)
    for name, value in values.items():
        if value == "":  # no unit: "5 rice", not "5  rice"
            template = template.replace(f" {{{name}}}", "")
    return template.format_map(_Blank(values))
