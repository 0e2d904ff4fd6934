"""Interactive menus: a menu or a YES / NO question as data, for the channels that can show it
as something to tap (a WhatsApp list-picker or quick-reply buttons). The numbered text stays
the message's fallback; the shell decides whether the interactive form goes out.

Every item carries the id of what it names (``shift:12``, ``need:7``, ``callout:3``), so a tap
acts on that very item even when the menu changed since it was shown. The limits are
WhatsApp's (Twilio Content API: list-picker item 24 characters, description 72, at most 10
items; a quick-reply or list button title 20; a content variable 256). Pure; imports only the
stdlib.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

MAX_ITEMS = 10
MAX_ITEM_TITLE = 24
MAX_DESCRIPTION = 72
MAX_BUTTON = 20
MAX_VARIABLE = 256  # Twilio refuses a longer ContentVariables value (error 50541)
ELLIPSIS = "..."


class MenuShape(StrEnum):
    LIST = "list"  # a list-picker: a button that opens up to 10 items
    YES_NO = "yes_no"  # two quick-reply buttons


@dataclass(frozen=True)
class MenuItem:
    id: str  # the payload a tap sends back: ``<prefix>:<id>``
    title: str
    description: str


@dataclass(frozen=True)
class Menu:
    """What to tap: ``body`` above it, its items (for YES / NO: the YES then the NO payload),
    in ``language`` (the button labels' catalog), and ``text``: the numbered text it stands
    for, which is sent instead wherever the menu cannot be."""

    shape: MenuShape
    language: str
    body: str
    items: tuple[MenuItem, ...]
    text: str = ""

    @property
    def purpose(self) -> str:
        """Which content template shows it: ``list:3`` (a list of 3 items), ``yes_no``."""
        return f"list:{len(self.items)}" if self.shape is MenuShape.LIST else self.shape.value

    def variables(self) -> dict[str, str]:
        """The template's variables: 1 the body, then id, title, description of each item
        (a YES / NO question: 2 and 3 are the YES and NO payloads)."""
        values = {"1": self.body}
        if self.shape is MenuShape.YES_NO:
            values.update({"2": self.items[0].id, "3": self.items[1].id})
            return values
        for index, item in enumerate(self.items):
            base = 2 + 3 * index
            values.update(
                {str(base): item.id, str(base + 1): item.title, str(base + 2): item.description}
            )
        return values

    def to_json(self) -> dict[str, Any]:
        return {
            "shape": self.shape.value,
            "language": self.language,
            "body": self.body,
            "items": [[i.id, i.title, i.description] for i in self.items],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Menu:
        return cls(
            shape=MenuShape(data["shape"]),
            language=str(data["language"]),
            body=str(data["body"]),
            items=tuple(MenuItem(str(a), str(b), str(c)) for a, b, c in data["items"]),
        )


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters (ending ``...`` when cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def item(item_id: str, number: int, title: str, description: str) -> MenuItem:
    """A list item titled ``1) Kitchen`` (its number on the text menu, so a typed number still
    means the same line), within WhatsApp's limits."""
    return MenuItem(
        item_id, clip(f"{number}) {title}", MAX_ITEM_TITLE), clip(description, MAX_DESCRIPTION)
    )


def list_menu(language: str, body: str, items: tuple[MenuItem, ...], text: str) -> Menu | None:
    """A list-picker for ``items`` (None when there is nothing to list or the body is too long
    for a content variable)."""
    if not items or len(body) > MAX_VARIABLE:
        return None
    return Menu(MenuShape.LIST, language, body, items[:MAX_ITEMS], text)


def yes_no(language: str, body: str, yes: str, no: str) -> Menu | None:
    """YES / NO buttons under ``body`` whose payloads are ``yes`` and ``no`` (None when the
    body is too long for a content variable: the text goes as it is)."""
    if len(body) > MAX_VARIABLE:
        return None
    return Menu(
        MenuShape.YES_NO,
        language,
        body,
        (MenuItem(yes, "", ""), MenuItem(no, "", "")),
        body,
    )


# Every shape a community's content templates cover: a list of 1 to 10 items, YES / NO.
PURPOSES: tuple[str, ...] = (*(f"list:{n}" for n in range(1, MAX_ITEMS + 1)), "yes_no")
