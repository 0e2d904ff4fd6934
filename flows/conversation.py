"""One conversation step, composed from the declared roster kinds into one routing table.

``compose(kinds)`` builds a ``Conversation`` from the global keywords (``flows.keywords``) and
every kind's declarations (``flows.kinds.RosterKind``): keywords, routes (volunteer status,
intent) → handler, flows to resume and pending questions to answer. It checks, when this
module is imported, that every (status, intent) pair has a handler and that no phrase means two
keywords. ``step(context, session, text)`` is the only entry point the shell calls: global
keywords first, then the volunteer's open flow, then the pending question, then the fallback
(thanks, or a text for a person).
Pure; imports only ``flows``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from types import MappingProxyType
from typing import Protocol, TypeVar

from flows import catalog, commitments, donations, forget, language, shifts
from flows import keywords as global_keywords
from flows.commitments import CommitmentLookup
from flows.donations import DonationLookup
from flows.engine import (
    IDLE,
    Context,
    Flow,
    FlowDefinitionError,
    OptIn,
    OptOut,
    Outcome,
    Reply,
    SessionState,
    SetLanguage,
    VolunteerStatus,
)
from flows.forget import FORGET
from flows.keywords import (
    GLOBAL_KEYWORDS,
    Intent,
    Keyword,
    KeywordSpec,
    is_opt_in_yes,
    is_opt_out,
)
from flows.kinds import Dropper, Handler, RosterKind, TapHandler
from flows.onboarding import ONBOARDING
from flows.parsing import is_thanks
from flows.shifts import ShiftLookup

_T = TypeVar("_T")
# A tapped payload that names an item: ``shift:12``, ``need:7``; a YES / NO button's carries
# the answer too: ``callout:3`` (YES), ``callout:3:no``.
TAP = re.compile(r"([a-z]+):([0-9]{1,18}(?::[a-z]{1,8})?)")

# The conversations every volunteer may have, whatever the roster kinds.
FLOWS: dict[str, Flow] = {flow.name: flow for flow in (ONBOARDING, FORGET)}


def _opt_out(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(IDLE, (Reply("optout.confirmed"),), (OptOut(source=context.channel),))


def _silent(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(session)


def _opt_in(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(IDLE, (Reply("optin.confirmed"),), (OptIn(source=context.channel),))


def _already_in(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(session, (Reply("optin.already"),))


def fallback(context: Context, session: SessionState, text: str) -> Outcome:
    """A text no keyword, flow or question takes. Thanks get a friendly answer (an open menu
    stays open); anything else is for a person: the shell flags it for the console inbox, and
    the reply says so and what to text (GIVE too where the community runs donations)."""
    if is_thanks(text):
        return Outcome(session, (Reply("thanks"),))
    if context.attachment:  # a photo or a location with a caption: the team has it
        return Outcome(IDLE, (Reply(f"received.{context.attachment}"),))
    return Outcome(IDLE, (Reply("unknown.give" if context.has_donations else "unknown"),))


def _help(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(session, (Reply("help"),))


def _onboard(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return ONBOARDING.begin(context)


def _forget(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return FORGET.begin(context)


def _already_joined(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(session, (Reply("onboarding.already_joined"),))


def _language(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    shipped = catalog.languages()
    if keyword.argument not in shipped:
        return Outcome(session, (Reply("language.unknown", {"languages": "/".join(shipped)}),))
    return Outcome(session, (Reply("language.switched"),), (SetLanguage(keyword.argument),))


_S = VolunteerStatus
_EVERYONE = (_S.NEW, _S.ACTIVE, _S.PAUSED)

# (status, keyword) → handler. Opted-out numbers get nothing but START and HELP answered.
GLOBAL_ROUTES: dict[tuple[VolunteerStatus, str], Handler] = {
    **{(status, Intent.STOP): _opt_out for status in _EVERYONE},
    (_S.OPTED_OUT, Intent.STOP): _silent,
    (_S.OPTED_OUT, Intent.START): _opt_in,
    (_S.OPTED_OUT, Intent.HELP): _help,
    (_S.OPTED_OUT, Intent.JOIN): _silent,
    (_S.OPTED_OUT, Intent.LANG): _silent,
    **{(status, Intent.HELP): _help for status in _EVERYONE},
    (_S.NEW, Intent.START): _onboard,
    (_S.NEW, Intent.JOIN): _onboard,
    (_S.ACTIVE, Intent.START): _already_in,
    (_S.PAUSED, Intent.START): _already_in,
    (_S.ACTIVE, Intent.JOIN): _already_joined,
    (_S.PAUSED, Intent.JOIN): _already_joined,
    **{(status, Intent.LANG): _language for status in _EVERYONE},
    # Anyone may ask to be forgotten, opted out or not (the one text they asked for).
    **{(status, Intent.FORGET): _forget for status in (*_EVERYONE, _S.OPTED_OUT)},
}


def _member_routes(intent: str, handler: Handler) -> dict[tuple[VolunteerStatus, str], Handler]:
    """A roster kind's command answers members; a new number is onboarded first (consent
    first) and an opted-out one hears nothing."""
    return {
        (_S.ACTIVE, intent): handler,
        (_S.PAUSED, intent): handler,
        (_S.NEW, intent): _onboard,
        (_S.OPTED_OUT, intent): _silent,
    }


def _answer(questions: Mapping[str, Flow], context: Context, text: str) -> Outcome | None:
    """The pending question's answer to ``text``, if one is open and takes it."""
    pending = context.pending
    question = questions.get(pending.kind) if pending is not None else None
    if pending is None or question is None:
        return None
    return question.answer(text, context, {"id": pending.id})


@dataclass(frozen=True)
class Conversation:
    """A routing table composed from roster kinds (build it with ``compose``)."""

    keywords: tuple[KeywordSpec, ...]
    routes: Mapping[tuple[VolunteerStatus, str], Handler]
    intents: tuple[str, ...]
    flows: Mapping[str, Flow]
    questions: Mapping[str, Flow]
    kind_intents: frozenset[str]
    taps: Mapping[str, TapHandler] = field(default_factory=dict)

    def classify(self, text: str) -> Keyword | None:
        """The keyword in ``text``, global or a composed kind's, or None."""
        return global_keywords.classify(text, self.keywords)

    def step(self, context: Context, session: SessionState, text: str) -> Outcome:
        """Answer one inbound text. Never raises for any text; always returns an Outcome.

        A first contact (a new number, no conversation open) is answered in the language it
        was written in, which becomes the volunteer's ("hola" onboards in Spanish); a text
        that does not tell keeps the language the shell gave (the community's default). An
        opt-out only opts out."""
        if (
            context.status is VolunteerStatus.NEW
            and not session.active(context.now)
            and self.classify(text) != Keyword(Intent.STOP)  # an opt-out changes nothing else
        ):
            spoken = language.detect(text)
            if spoken is not None and spoken != context.language:
                outcome = self._step(replace(context, language=spoken), session, text)
                return replace(outcome, effects=(SetLanguage(spoken), *outcome.effects))
        return self._step(context, session, text)

    def _step(self, context: Context, session: SessionState, text: str) -> Outcome:
        tapped = self._tap(context, session, text) if context.tapped else None
        if tapped is not None:
            return tapped
        keyword = self.classify(text)
        if keyword is not None and not self._answers_onboarding(context, session, keyword):
            return self.routes[(context.status, keyword.intent)](context, session, keyword)
        is_open = session.active(context.now)
        if is_open and session.flow == FORGET.name:
            if context.status is VolunteerStatus.OPTED_OUT and not forget.is_answer(text):
                return Outcome(session)  # opted out: only the YES or NO is answered
            forgetting = FORGET.advance(session, text, context)  # before YES can opt in
            if forgetting is not None:
                return forgetting
        if context.status is VolunteerStatus.OPTED_OUT:
            if is_opt_in_yes(text):  # YES re-subscribes, but only while opted out
                return _opt_in(context, session, Keyword(Intent.START))
            return Outcome(session)
        if context.status is VolunteerStatus.NEW and not is_open:
            return ONBOARDING.begin(context)
        if not text.strip():  # media or a location without text, or an empty message
            if context.attachment:
                return Outcome(session, (Reply(f"received.{context.attachment}"),))
            return Outcome(session, (Reply("empty"),))
        flow = self.flows.get(session.flow or "") if is_open else None
        if flow is not None:
            outcome = flow.advance(session, text, context)
            if outcome is not None:
                return outcome
        answered = _answer(self.questions, context, text)
        if answered is not None:
            return answered
        return fallback(context, session, text)

    def _tap(self, context: Context, session: SessionState, text: str) -> Outcome | None:
        found = TAP.fullmatch(text.strip())
        if found is None or context.status is not VolunteerStatus.ACTIVE:
            return None
        handler = self.taps.get(found.group(1))
        return handler(context, session, found.group(2)) if handler is not None else None

    def _answers_onboarding(
        self, context: Context, session: SessionState, keyword: Keyword
    ) -> bool:
        """During onboarding a roster keyword is an answer, not a command: "Dar" is a name, and
        "listo" (DONE) to the consent question is not a request to start over."""
        return (
            context.status is VolunteerStatus.NEW
            and session.active(context.now)
            and session.flow == ONBOARDING.name
            and keyword.intent in self.kind_intents
        )


def compose(kinds: Sequence[RosterKind]) -> Conversation:
    """One routing table from the global keywords and ``kinds`` (plus MY and DROP over their
    commitments). Raises FlowDefinitionError when the table is incomplete or ambiguous."""
    questions: dict[str, Flow] = {}
    drops: dict[str, Dropper] = {}
    taps: dict[str, TapHandler] = {}
    for kind in kinds:
        questions.update(_unique(kind.name, "question", questions, kind.questions))
        drops.update(_unique(kind.name, "commitment kind", drops, kind.drops))
        taps.update(_unique(kind.name, "tap prefix", taps, kind.taps))
    every = (*kinds, commitments.kind(drops, partial(_answer, questions)))

    keywords: list[KeywordSpec] = list(GLOBAL_KEYWORDS)
    owner: dict[str, str] = {intent: "global" for intent in Intent}
    routes = dict(GLOBAL_ROUTES)
    for kind in every:
        for spec in kind.keywords:
            if owner.setdefault(spec.intent, kind.name) != kind.name:
                raise FlowDefinitionError(
                    f"{kind.name}: intent '{spec.intent}' is {owner[spec.intent]}'s already"
                )
            keywords.append(spec)
        for intent, handler in kind.commands.items():
            if owner.get(intent) != kind.name:
                raise FlowDefinitionError(f"{kind.name}: a command for '{intent}', no keyword")
            routes.update(_member_routes(intent, handler))
    _check_phrases(keywords)
    intents = tuple(dict.fromkeys(owner))
    _check_routes(routes, intents)

    flows: dict[str, Flow] = dict(FLOWS)
    for flow in (*(f for kind in every for f in kind.flows), *questions.values()):
        if flows.setdefault(flow.name, flow) is not flow:
            raise FlowDefinitionError(f"two flows are named {flow.name!r}")
    return Conversation(
        keywords=tuple(keywords),
        routes=MappingProxyType(routes),
        intents=intents,
        flows=MappingProxyType(flows),
        questions=MappingProxyType(questions),
        kind_intents=frozenset(owner) - frozenset(Intent),
        taps=MappingProxyType(taps),
    )


def _unique(
    kind: str, what: str, known: Mapping[str, _T], declared: Mapping[str, _T]
) -> Mapping[str, _T]:
    taken = set(known) & set(declared)
    if taken:
        raise FlowDefinitionError(f"{kind}: {what} {sorted(taken)} declared twice")
    return declared


def _check_phrases(keywords: Sequence[KeywordSpec]) -> None:
    """One meaning per phrase, and no keyword that the opt-out family would swallow."""
    meaning: dict[tuple[str, ...], str] = {}
    for spec in keywords:
        for phrase in spec.words:
            if not phrase or is_opt_out(phrase):
                raise FlowDefinitionError(
                    f"{spec.intent}: {' '.join(phrase)!r} cannot be a keyword"
                )
            other = meaning.setdefault(phrase, spec.intent)
            if other != spec.intent:
                raise FlowDefinitionError(
                    f"{' '.join(phrase)!r} means both '{other}' and '{spec.intent}'"
                )


def _check_routes(
    routes: Mapping[tuple[VolunteerStatus, str], Handler], intents: Sequence[str]
) -> None:
    """Route completeness: every (volunteer status, intent) pair has exactly one handler."""
    expected = {(status, intent) for status in VolunteerStatus for intent in intents}
    missing = expected - set(routes)
    if missing:
        names = sorted(f"{status.value}/{intent}" for status, intent in missing)
        raise FlowDefinitionError(f"no handler for {names}")
    stray = set(routes) - expected
    if stray:
        raise FlowDefinitionError(f"routes for unknown intents {sorted(str(i) for _, i in stray)}")


# The shipped roster kinds. A new kind is a module declaring a RosterKind, added here.
KINDS: tuple[RosterKind, ...] = (shifts.KIND, donations.KIND)
SHIPPED = compose(KINDS)
ROUTES = SHIPPED.routes
INTENTS = SHIPPED.intents
# The composed keyword table: (intent, words) that stand alone, and (intent, words, how many
# words of argument) for keywords with one.
PLAIN_KEYWORDS = tuple((spec.intent, spec.words) for spec in SHIPPED.keywords if spec.plain)
ARGUMENT_KEYWORDS = tuple(
    (spec.intent, spec.words, spec.arguments) for spec in SHIPPED.keywords if spec.arguments
)


class Lookup(ShiftLookup, DonationLookup, CommitmentLookup, Protocol):
    """The read-only port the shell implements for the shipped kinds (each kind declares its
    part; a context without one sees nothing open)."""


CLASSIFIED_TEXTS = 1024  # texts whose keyword ``classify`` remembers


@lru_cache(maxsize=CLASSIFIED_TEXTS)
def classify(text: str) -> Keyword | None:
    """The keyword in ``text`` among the global and the shipped kinds' keywords.

    Remembered for the last ``CLASSIFIED_TEXTS`` texts: the shell asks it of every text before
    it stores it (is it an opt-out?), and in a surge most texts are the same few words ("YES",
    "SHIFTS"); the answer is a frozen ``Keyword`` that only the text decides."""
    return SHIPPED.classify(text)


def step(context: Context, session: SessionState, text: str) -> Outcome:
    """Answer one inbound text. Never raises for any text; always returns an Outcome."""
    return SHIPPED.step(context, session, text)
