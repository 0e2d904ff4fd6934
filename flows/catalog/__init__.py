"""Message catalogs: every text a volunteer receives, one JSON file per language.

Adding a language is adding one file, ``<code>.json``, with the same keys as ``en.json``.
Missing keys fall back to English. Pure; stdlib only.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
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


def language_name(language: str) -> str:
    resource = resources.files(__name__).joinpath(f"{language}.json")
    if not resource.is_file():
        return language
    meta = json.loads(resource.read_text(encoding="utf-8")).get("_language", language)
    return str(meta)


def require(key: str) -> str:
    """Fail fast (at import of a flow) when a key is missing from the English catalog."""
    if key not in load(DEFAULT_LANGUAGE):
        raise CatalogError(f"message key {key!r} is not in the {DEFAULT_LANGUAGE} catalog")
    return key


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return ""


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def render(language: str, key: str, params: Mapping[str, object] | None = None) -> str:
    """The text for ``key`` in ``language`` (English when missing), with params filled in."""
    template = load(language).get(key) or load(DEFAULT_LANGUAGE).get(key)
    if template is None:
        raise CatalogError(f"message key {key!r} is not in the {DEFAULT_LANGUAGE} catalog")
    return template.format_map(_Blank(params or {}))
