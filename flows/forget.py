"""FORGET: erase my data from this community, after a confirmation.

The erasure itself (name, number, texts; a hashed suppression entry left behind; upcoming
places and pledges given back) is the shell's ``Forget`` effect. An opted-out number may ask
too; it hears nothing but the question and the answer to its YES or NO (``is_answer``).
Pure; imports ``flows.engine``, ``flows.keywords`` and ``flows.parsing``.
"""

from __future__ import annotations

from flows.engine import (
    END,
    Context,
    Data,
    Effect,
    Flow,
    Forget,
    State,
    Transition,
    VolunteerStatus,
)
from flows.keywords import is_opt_in_yes
from flows.parsing import parse_yes


def is_answer(text: str) -> bool:
    """YES or NO: what the confirmation takes from an opted-out number (nothing else is
    answered while opted out, not even with a reminder of the question)."""
    return _yes(text) is not None or _no(text) is not None


def _yes(text: str) -> bool | None:
    """Only a plain YES erases (yes, si, हाँ): "ok?" or "sure" is too easy to send by accident
    for something that cannot be undone; the loose yes-words get the question again."""
    return True if is_opt_in_yes(text) else None


def _no(text: str) -> bool | None:
    return True if parse_yes(text) is False else None


def _forget(value: bool, context: Context, data: Data) -> tuple[Effect, ...]:
    return (Forget(),)


def _opted_out(value: bool, context: Context, data: Data) -> bool:
    return context.status is VolunteerStatus.OPTED_OUT


FORGET = Flow(
    name="forget",
    start="confirm",
    states=(
        State(
            name="confirm",
            prompt="forget.confirm",
            reprompt="forget.confirm_again",
            transitions=(
                Transition(parse=_yes, to=END, say="forget.done", effects=_forget),
                Transition(parse=_no, to=END, say="forget.kept_unsubscribed", when=_opted_out),
                Transition(parse=_no, to=END, say="forget.kept"),
            ),
        ),
    ),
)
