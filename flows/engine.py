"""The flow engine: typed values that flows exchange with the shell, and declarative flows.

A flow is a table of states; each state names the prompt it asks and the transitions that a
reply can take (a parser, a target state, a reply and effects). ``Flow`` validates itself when
it is built, so a broken flow fails at import, not in a volunteer's SMS. Pure; imports only
the stdlib and ``flows.catalog``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from flows import catalog
from flows.sms import short_name

END = "__end__"
SESSION_LIFETIME = timedelta(hours=24)


class VolunteerStatus(StrEnum):
    NEW = "new"  # no record yet, or never gave consent
    ACTIVE = "active"
    PAUSED = "paused"
    OPTED_OUT = "opted_out"


@dataclass(frozen=True)
class ShiftView:
    """An open shift as a menu line shows it (times already in the community's zone)."""

    id: int
    title: str
    place: str
    when: str
    spots_left: int


@dataclass(frozen=True)
class CommitmentView:
    """One of the volunteer's upcoming commitments, as ``MY`` lists it."""

    id: int  # the assignment id (or pledge id, for kind "pledge")
    title: str
    place: str
    when: str
    status: str  # confirmed, waitlisted, checked_in; pledged
    position: int | None = None  # waitlist position
    kind: str = "shift"  # or "pledge"


@dataclass(frozen=True)
class NeedView:
    """A donation need of the next cycle, as the GIVE menu shows it."""

    id: int  # the cycle need id
    item: str
    unit: str
    missing: int
    target: int
    when: str


class Lookup(Protocol):
    """Read-only queries a flow may make; the shell implements them over the database."""

    def open_shifts(self) -> Sequence[ShiftView]: ...

    def commitments(self) -> Sequence[CommitmentView]: ...

    def open_needs(self) -> Sequence[NeedView]: ...


class _NoLookup:
    def open_shifts(self) -> Sequence[ShiftView]:
        return ()

    def commitments(self) -> Sequence[CommitmentView]:
        return ()

    def open_needs(self) -> Sequence[NeedView]:
        return ()


NO_LOOKUP: Lookup = _NoLookup()


@dataclass(frozen=True)
class PendingQuestion:
    """The last question we texted that a bare YES / NO / DROP answers."""

    kind: str  # "reminder" (id: assignment) or "callout" (id: call-out)
    id: int


@dataclass(frozen=True)
class Context:
    """What a flow may know about the volunteer and the world for one step."""

    status: VolunteerStatus
    name: str | None
    language: str
    community_name: str
    channel: str
    now: datetime
    help_contact: str = ""
    lookup: Lookup = field(default_factory=lambda: NO_LOOKUP, compare=False)
    pending: PendingQuestion | None = None
    zone: str = "UTC"  # the community's IANA time zone, for dates shown to the volunteer

    def params(self) -> dict[str, object]:
        return {
            "community": self.community_name,
            "name": short_name(self.name or ""),
            "contact": self.help_contact,
        }


@dataclass(frozen=True)
class SessionState:
    """Where a volunteer is in a conversation. ``flow is None`` means no conversation."""

    flow: str | None = None
    state: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.flow is not None and (self.expires_at is None or now < self.expires_at)


IDLE = SessionState()


@dataclass(frozen=True)
class Reply:
    key: str
    params: Mapping[str, object] = field(default_factory=dict)


# Effects: what the shell must do besides replying. Frozen values, applied in one transaction.
# An effect whose outcome only the database knows (a claim on the last place) is answered by a
# Result, whose reply() flows also define, so every text stays in the catalogs.
@dataclass(frozen=True)
class Effect:
    """Base of every effect."""


class Result(Protocol):
    def reply(self) -> Reply: ...


@dataclass(frozen=True)
class OptOut(Effect):
    source: str


@dataclass(frozen=True)
class OptIn(Effect):
    source: str


@dataclass(frozen=True)
class SetName(Effect):
    name: str


@dataclass(frozen=True)
class RecordConsent(Effect):
    source: str
    wording_key: str


@dataclass(frozen=True)
class SetLanguage(Effect):
    language: str


@dataclass(frozen=True)
class Forget(Effect):
    """Erase the volunteer's personal data and texts (FORGET, confirmed)."""


@dataclass(frozen=True)
class Outcome:
    session: SessionState
    replies: tuple[Reply, ...] = ()
    effects: tuple[Effect, ...] = ()

    def render(self, context: Context, results: Sequence[Result] = ()) -> tuple[str, ...]:
        """The reply texts (then the replies of effect results), in the language and with the
        name the effects leave in place."""
        after = with_effects(context, self.effects)
        base = after.params()
        replies = (*self.replies, *(result.reply() for result in results))
        return tuple(
            catalog.render(after.language, reply.key, {**base, **reply.params}) for reply in replies
        )


Parser = Callable[[str], Any]  # returns None when the text does not match
Data = Mapping[str, Any]  # the session's data, e.g. which shift each menu number means


def _no_effects(value: Any, context: Context, data: Data) -> tuple[Effect, ...]:
    return ()


def _no_params(value: Any, context: Context, data: Data) -> Mapping[str, object]:
    return {}


@dataclass(frozen=True)
class Transition:
    """If ``parse(text)`` is not None: go to ``to``, say ``say``, emit ``effects(value, ctx)``."""

    parse: Parser
    to: str
    say: str | None = None
    effects: Callable[[Any, Context, Data], tuple[Effect, ...]] = _no_effects
    params: Callable[[Any, Context, Data], Mapping[str, object]] = _no_params


@dataclass(frozen=True)
class State:
    name: str
    prompt: str
    transitions: tuple[Transition, ...]
    reprompt: str


class FlowDefinitionError(ValueError):
    """A flow table that cannot work: unknown states, unreachable states, missing texts."""


@dataclass(frozen=True)
class Flow:
    name: str
    start: str
    states: tuple[State, ...]

    def __post_init__(self) -> None:
        by_name = {s.name: s for s in self.states}
        if len(by_name) != len(self.states):
            raise FlowDefinitionError(f"{self.name}: duplicate state names")
        if self.start not in by_name:
            raise FlowDefinitionError(f"{self.name}: start state {self.start!r} is not defined")
        for state in self.states:
            if not state.transitions:
                raise FlowDefinitionError(f"{self.name}.{state.name}: no way out (trap state)")
            for key in (state.prompt, state.reprompt):
                _require_key(self.name, key)
            for transition in state.transitions:
                if transition.to != END and transition.to not in by_name:
                    raise FlowDefinitionError(
                        f"{self.name}.{state.name}: transition to unknown state {transition.to!r}"
                    )
                if transition.say is not None:
                    _require_key(self.name, transition.say)
        reachable = {self.start}
        frontier = [self.start]
        while frontier:
            for transition in by_name[frontier.pop()].transitions:
                if transition.to != END and transition.to not in reachable:
                    reachable.add(transition.to)
                    frontier.append(transition.to)
        unreachable = set(by_name) - reachable
        if unreachable:
            raise FlowDefinitionError(f"{self.name}: unreachable states {sorted(unreachable)}")

    def state(self, name: str | None) -> State | None:
        return next((s for s in self.states if s.name == name), None)

    def begin(self, context: Context, data: Mapping[str, Any] | None = None) -> Outcome:
        """Enter the start state and ask its prompt."""
        start = self.state(self.start)
        assert start is not None
        session = SessionState(self.name, start.name, dict(data or {}), _expiry(context))
        return Outcome(session=session, replies=(Reply(start.prompt),))

    def advance(self, session: SessionState, text: str, context: Context) -> Outcome:
        """Apply one inbound text to the current state."""
        current = self.state(session.state)
        if current is None:  # a stored state that no longer exists: start over
            return self.begin(context)
        for transition in current.transitions:
            value = transition.parse(text)
            if value is None:
                continue
            effects = transition.effects(value, context, session.data)
            params = dict(transition.params(value, with_effects(context, effects), session.data))
            replies: list[Reply] = []
            if transition.say is not None:
                replies.append(Reply(transition.say, params))
            if transition.to == END:
                next_session = IDLE
            else:
                target = self.state(transition.to)
                assert target is not None
                next_session = SessionState(
                    self.name, target.name, dict(session.data), _expiry(context)
                )
                replies.append(Reply(target.prompt, params))
            return Outcome(next_session, tuple(replies), effects)
        return Outcome(
            SessionState(self.name, current.name, dict(session.data), _expiry(context)),
            (Reply(current.reprompt, dict(session.data.get("params", {}))),),
        )


def _expiry(context: Context) -> datetime:
    return context.now + SESSION_LIFETIME


def with_effects(context: Context, effects: tuple[Effect, ...]) -> Context:
    """The context as it will be once ``effects`` apply (so a reply can use a new name)."""
    for effect in effects:
        if isinstance(effect, SetName):
            context = replace(context, name=effect.name)
        elif isinstance(effect, SetLanguage):
            context = replace(context, language=effect.language)
        elif isinstance(effect, RecordConsent | OptIn):
            context = replace(context, status=VolunteerStatus.ACTIVE)
        elif isinstance(effect, OptOut):
            context = replace(context, status=VolunteerStatus.OPTED_OUT)
        elif isinstance(effect, Forget):
            context = replace(context, status=VolunteerStatus.OPTED_OUT, name=None)
    return context


def _require_key(flow: str, key: str) -> None:
    try:
        catalog.require(key)
    except catalog.CatalogError as exc:
        raise FlowDefinitionError(f"{flow}: {exc}") from exc
