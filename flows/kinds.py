"""The plug-in interface of a roster kind: what a kind module declares so that
``flows.conversation`` can compose it (keywords, the commands they route to, flows, answers to
pending questions, the commitments it can drop). Pure; imports ``flows.engine`` and
``flows.keywords``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from flows.engine import Context, Effect, Flow, Outcome, SessionState
from flows.keywords import Keyword, KeywordSpec

# What a keyword does: (context, open session, keyword) → outcome.
Handler = Callable[[Context, SessionState, Keyword], Outcome]
# The effect that drops one commitment of a kind, by its id (DROP n from MY).
Dropper = Callable[[int], Effect]
# A tapped payload ``<prefix>:<id>``, given the id.
TapHandler = Callable[[Context, SessionState, str], Outcome | None]
# Offers a text to the pending question, if one is open and takes it.
Answerer = Callable[[Context, str], Outcome | None]


@dataclass(frozen=True)
class RosterKind:
    """One roster kind's declarations.

    ``keywords``: its intents and their words per language. ``commands``: what each intent
    does for a member (active or paused); a new number is onboarded first and an opted-out one
    hears nothing, for every kind alike. ``flows``: the conversations its commands open (menus),
    resumed while their session is open. ``questions``: the answers to questions it texts (a
    reminder, a gap ask), by ``PendingQuestion.kind``: a flow whose start state is entered with
    ``{"id": question id}``. ``drops``: for each ``CommitmentView.kind`` it lists in MY, the
    effect that DROP n emits. ``taps``: what a tapped WhatsApp button or list item whose
    payload is ``<prefix>:<id>`` does, by prefix: the id names the item itself (a shift, a
    need), so a tap never picks a line of a menu that changed since (None: not for this
    volunteer now, and the text is read as usual).
    """

    name: str
    keywords: tuple[KeywordSpec, ...]
    commands: Mapping[str, Handler]
    flows: tuple[Flow, ...] = ()
    questions: Mapping[str, Flow] = field(default_factory=dict)
    drops: Mapping[str, Dropper] = field(default_factory=dict)
    taps: Mapping[str, TapHandler] = field(default_factory=dict)
