"""What a volunteer has coming up across roster kinds: MY lists it, DROP n drops one, a bare
DROP asks which one (or, with one, asks to confirm) unless it answers a reminder.

Each kind contributes its commitments through the shell's lookup (``CommitmentView.kind``)
and the effect that drops one (``RosterKind.drops``); ``flows.conversation`` builds the MY and
DROP commands from them with ``kind()``. Pure; imports ``flows.catalog``, ``flows.engine``,
``flows.keywords``, ``flows.kinds``, ``flows.parsing`` and ``flows.sms``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from flows import catalog
from flows.engine import (
    END,
    IDLE,
    STAY,
    Context,
    Data,
    Effect,
    Flow,
    Outcome,
    Reply,
    SessionState,
    State,
    Transition,
    lookup_port,
)
from flows.keywords import Keyword, KeywordSpec
from flows.kinds import Answerer, Dropper, RosterKind
from flows.parsing import parse_number, parse_yes, phrase_set, tokens
from flows.sms import fits_menu_budget


class CommitmentIntent(StrEnum):
    MY = "my"
    DROP = "drop"


MY_WORDS = phrase_set(["my", "mine", "my shifts", "mis turnos", "mis", "मेरे"])
DROP_WORDS = phrase_set(["drop", "soltar", "dejar", "छोड़ें"])
KEYWORDS = (
    KeywordSpec(CommitmentIntent.MY, MY_WORDS),
    KeywordSpec(CommitmentIntent.DROP, DROP_WORDS, arguments=1),  # "DROP 2"
)


@dataclass(frozen=True)
class CommitmentView:
    """One of the volunteer's upcoming commitments, as ``MY`` lists it."""

    id: int  # the assignment id (or pledge id, for kind "pledge")
    title: str
    place: str
    when: str
    status: str  # confirmed, waitlisted, checked_in; pledged
    position: int | None = None  # waitlist position
    kind: str = "shift"  # or "pledge": which kind's ``drops`` drops it


@runtime_checkable
class CommitmentLookup(Protocol):
    """The shell's query for MY: every kind's upcoming commitments, soonest first."""

    def commitments(self) -> Sequence[CommitmentView]: ...


class _NoCommitments:
    def commitments(self) -> Sequence[CommitmentView]:
        return ()


def _lookup(context: Context) -> CommitmentLookup:
    return lookup_port(context, CommitmentLookup, _NoCommitments())


def parse_drop(text: str) -> bool | None:
    """A bare DROP (in any shipped language): the answer a reminder may get."""
    return True if tokens(text) in DROP_WORDS else None


def _lines(context: Context, items: Sequence[CommitmentView]) -> list[str]:
    return [
        catalog.render(
            context.language,
            "my.line_waitlist" if item.status == "waitlisted" else "my.line",
            {
                "n": i,
                "title": item.title,
                "when": item.when,
                "place": item.place,
                "position": item.position or "",
            },
        )
        for i, item in enumerate(items, start=1)
    ]


def _fitting(context: Context, key: str, lines: Sequence[str]) -> int:
    """How many of ``lines`` the list ``key`` shows in two segments (the soonest first)."""
    shown = 1
    for end in range(2, len(lines) + 1):
        text = catalog.render(
            context.language, key, {**context.params(), "lines": "\n".join(lines[:end])}
        )
        if not fits_menu_budget(text):
            break
        shown = end
    return shown


def list_commitments(context: Context) -> Outcome:
    items = list(_lookup(context).commitments())
    if not items:
        return Outcome(IDLE, (Reply("my.none"),))
    lines = _lines(context, items)
    shown = _fitting(context, "my.list", lines)
    return Outcome(IDLE, (Reply("my.list", {"lines": "\n".join(lines[:shown])}),))


# ----- DROP: never without asking -------------------------------------------------------------
# Entered with {"items": [[kind, id], ...]}, the commitments asked about, numbered from 1: a
# number drops that one, YES drops the only one (the question was "Drop X?"), NO keeps them.
def _yes(text: str) -> bool | None:
    return True if parse_yes(text) is True else None


def _no(text: str) -> bool | None:
    return True if parse_yes(text) is False else None


def _items(data: Data) -> list[tuple[str, int]]:
    return [(str(kind), int(item_id)) for kind, item_id in data.get("items", [])]


def _count(value: object, context: Context, data: Data) -> Mapping[str, object]:
    return {"count": len(_items(data))}


def drop_flow(drops: Mapping[str, Dropper]) -> Flow:
    """The question a bare DROP asks, over the composed kinds' droppers."""

    def listed(number: int, context: Context, data: Data) -> bool:
        items = _items(data)
        return 1 <= number <= len(items) and items[number - 1][0] in drops

    def drop_number(number: int, context: Context, data: Data) -> tuple[Effect, ...]:
        kind, item_id = _items(data)[number - 1]
        return (drops[kind](item_id),)

    def only_one(value: bool, context: Context, data: Data) -> bool:
        return len(_items(data)) == 1 and listed(1, context, data)

    def drop_only(value: bool, context: Context, data: Data) -> tuple[Effect, ...]:
        return drop_number(1, context, data)

    return Flow(
        name="drop",
        start="asked",
        restart=False,  # only DROP opens it, with what it asks about
        renew_on_retry=False,  # the numbers mean the list shown
        states=(
            State(
                name="asked",
                prompt="raw",  # "Drop X?" or the numbered list, computed when asked
                reprompt=None,  # other texts are not for this question
                transitions=(
                    Transition(parse=parse_number, to=END, when=listed, effects=drop_number),
                    Transition(parse=parse_number, to=STAY, say="drop.pick_number", params=_count),
                    Transition(parse=_yes, to=END, when=only_one, effects=drop_only),
                    Transition(parse=_no, to=END, say="drop.kept"),
                ),
            ),
        ),
    )


def drop(
    context: Context,
    argument: str,
    drops: Mapping[str, Dropper],
    answer: Answerer,
    asking: Flow,
) -> Outcome:
    """DROP n (n from MY); a bare DROP answers the pending question (a reminder: that shift is
    dropped), else asks which one (listing them) or, with one, asks to confirm."""
    items = list(_lookup(context).commitments())
    number = parse_number(argument) if argument else None
    if number is not None:
        if not items:
            return Outcome(IDLE, (Reply("drop.none"),))
        if 1 <= number <= len(items):
            return _dropped(items[number - 1], drops)
        return Outcome(IDLE, (Reply("drop.which"),))
    answered = answer(context, CommitmentIntent.DROP.value)
    if answered is not None:
        return answered
    items = [item for item in items if item.kind in drops]  # what a bare DROP can drop
    if not items:
        return Outcome(IDLE, (Reply("drop.none"),))
    params = context.params()
    if len(items) == 1:
        only = items[0]
        facts = {"title": only.title, "when": only.when, "place": only.place}
        text = catalog.render(context.language, "drop.confirm", {**params, **facts})
        return asking.begin(context, {"items": [[only.kind, only.id]]}, {"text": text})
    lines = _lines(context, items)
    shown = _fitting(context, "drop.pick", lines)
    text = catalog.render(
        context.language, "drop.pick", {**params, "lines": "\n".join(lines[:shown])}
    )
    data = {"items": [[item.kind, item.id] for item in items[:shown]]}
    return asking.begin(context, data, {"text": text})


def _dropped(item: CommitmentView, drops: Mapping[str, Dropper]) -> Outcome:
    dropper = drops.get(item.kind)
    if dropper is None:  # a kind no composed roster kind drops
        return Outcome(IDLE, (Reply("drop.which"),))
    return Outcome(IDLE, (), (dropper(item.id),))


def kind(drops: Mapping[str, Dropper], answer: Answerer) -> RosterKind:
    """MY and DROP over the composed kinds' commitments, their droppers and their questions."""
    asking = drop_flow(drops)

    def my(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
        return list_commitments(context)

    def drop_one(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
        return drop(context, keyword.argument, drops, answer, asking)

    return RosterKind(
        name="commitments",
        keywords=KEYWORDS,
        commands={CommitmentIntent.MY: my, CommitmentIntent.DROP: drop_one},
        flows=(asking,),
    )
