"""What a volunteer has coming up across roster kinds: MY lists it, DROP n drops one.

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
from flows.engine import IDLE, Context, Outcome, Reply, SessionState
from flows.keywords import Keyword, KeywordSpec
from flows.kinds import Answerer, Dropper, RosterKind
from flows.parsing import parse_number, phrase_set, tokens
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
    lookup = context.lookup
    return lookup if isinstance(lookup, CommitmentLookup) else _NoCommitments()


def parse_drop(text: str) -> bool | None:
    """A bare DROP (in any shipped language): the answer a reminder may get."""
    return True if tokens(text) in DROP_WORDS else None


def list_commitments(context: Context) -> Outcome:
    items = list(_lookup(context).commitments())
    if not items:
        return Outcome(IDLE, (Reply("my.none"),))
    lines = [
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
    # Like the SHIFTS menu, the list fits in two segments: the soonest commitments first.
    shown = 1
    for end in range(2, len(lines) + 1):
        text = catalog.render(
            context.language, "my.list", {**context.params(), "lines": "\n".join(lines[:end])}
        )
        if not fits_menu_budget(text):
            break
        shown = end
    return Outcome(IDLE, (Reply("my.list", {"lines": "\n".join(lines[:shown])}),))


def drop(
    context: Context, argument: str, drops: Mapping[str, Dropper], answer: Answerer
) -> Outcome:
    """DROP n (n from MY), or a bare DROP answering the pending question (a reminder) or with
    one commitment."""
    items = list(_lookup(context).commitments())
    number = parse_number(argument) if argument else None
    if number is not None:
        if 1 <= number <= len(items):
            return _dropped(items[number - 1], drops)
        return Outcome(IDLE, (Reply("drop.which"),))
    answered = answer(context, CommitmentIntent.DROP.value)
    if answered is not None:
        return answered
    if len(items) == 1:
        return _dropped(items[0], drops)
    return Outcome(IDLE, (Reply("drop.which"),))


def _dropped(item: CommitmentView, drops: Mapping[str, Dropper]) -> Outcome:
    dropper = drops.get(item.kind)
    if dropper is None:  # a kind no composed roster kind drops
        return Outcome(IDLE, (Reply("drop.which"),))
    return Outcome(IDLE, (), (dropper(item.id),))


def kind(drops: Mapping[str, Dropper], answer: Answerer) -> RosterKind:
    """MY and DROP over the composed kinds' commitments, their droppers and their questions."""

    def my(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
        return list_commitments(context)

    def drop_one(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
        return drop(context, keyword.argument, drops, answer)

    return RosterKind(
        name="commitments",
        keywords=KEYWORDS,
        commands={CommitmentIntent.MY: my, CommitmentIntent.DROP: drop_one},
    )
