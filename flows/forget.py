"""FORGET: erase my data from this community, after a confirmation.

The erasure itself (name, number, texts; a hashed suppression entry left behind) is the
shell's ``Forget`` effect. Pure; imports ``flows.engine`` and ``flows.parsing``.
"""

from __future__ import annotations

from flows.engine import END, Context, Data, Effect, Flow, Forget, State, Transition
from flows.parsing import parse_yes


def _yes(text: str) -> bool | None:
    return True if parse_yes(text) is True else None


def _no(text: str) -> bool | None:
    return True if parse_yes(text) is False else None


def _forget(value: bool, context: Context, data: Data) -> tuple[Effect, ...]:
    return (Forget(),)


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
                Transition(parse=_no, to=END, say="forget.kept"),
            ),
        ),
    ),
)
