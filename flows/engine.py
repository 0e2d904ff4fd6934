"""The flow engine: typed values that flows exchange with the shell, and declarative flows.

A flow is a table of states; each state names the prompt it asks (a catalog key) and the
transitions a reply can take: a parser, a guard, a target (a state, END, STAY or DEFER), a reply,
effects and the data the session keeps, each computable from the session's data and the
context. ``Flow`` validates itself when it is built, so a broken flow fails at import, not in a
volunteer's SMS. Nothing here knows a roster kind. Pure; imports only the stdlib,
``flows.catalog``, ``flows.dates``, ``flows.menus`` and ``flows.sms``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar, cast
from zoneinfo import ZoneInfo

from flows import catalog
from flows.dates import DateStyle
from flows.menus import Menu
from flows.sms import short_name

END = "__end__"
SESSION_LIFETIME = timedelta(hours=24)


class VolunteerStatus(StrEnum):
    NEW = "new"  # no record yet, or never gave consent
    ACTIVE = "active"
    PAUSED = "paused"
    OPTED_OUT = "opted_out"


class _NoLookup:
    """The lookup of a context built without one: every query finds nothing."""

    def __getattr__(self, name: str) -> Callable[..., tuple[()]]:
        if name.startswith("_"):
            raise AttributeError(name)
        return _nothing

    def __repr__(self) -> str:
        return "NO_LOOKUP"


def _nothing(*args: object, **kwargs: object) -> tuple[()]:
    return ()


# The read-only queries a flow may make are declared by each roster kind as a Protocol (its
# port); the shell passes one object answering all of them. The engine knows none of them.
NO_LOOKUP: object = _NoLookup()


@dataclass(frozen=True)
class PendingQuestion:
    """The last question we texted that a bare YES / NO / DROP answers."""

    kind: str  # a roster kind's question, a StrEnum value (shifts.ShiftQuestion, ...)
    id: int  # what it is about (an assignment, a call-out, a cycle need, a standing pledge)


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
    lookup: object = field(default_factory=lambda: NO_LOOKUP, compare=False)
    pending: PendingQuestion | None = None
    zone: str = "UTC"  # the community's IANA time zone, for dates shown to the volunteer
    # The community runs a donation roster (it has needs): replies that list what to text
    # next offer GIVE too.
    has_donations: bool = False
    country: str = ""  # the community's country (ISO 3166 alpha-2): how it writes dates
    clock: str = ""  # the community's clock setting ("12h", "24h"; "": its country's)
    # What came with the text besides words: "media" (a photo, video or file), "location"
    # (a shared WhatsApp location) or "" (nothing). The team sees it in the console inbox.
    attachment: str = ""
    # The text is a tapped WhatsApp button's payload or list item's id (never typed): only
    # then may a ``<prefix>:<id>`` payload act on the item it names (``RosterKind.taps``).
    tapped: bool = False

    def dates(self) -> DateStyle:
        """How this volunteer's texts write dates (``today`` is the community's local date)."""
        today = self.now.astimezone(ZoneInfo(self.zone)).date()
        return DateStyle(self.language, self.country, self.clock, today)

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
    # One of the replies (``menu.text``) as something to tap, where the channel can show it.
    menu: Menu | None = None

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

# Targets besides a state's name: END closes the conversation; STAY keeps the current state
# (its prompt is not asked again; only the transition's ``say`` is); DEFER leaves the text
# untaken, to the rest of the routing (an answer to a question we texted since).
STAY = "__stay__"
DEFER = "__defer__"


def _no_effects(value: Any, context: Context, data: Data) -> tuple[Effect, ...]:
    return ()


def _no_params(value: Any, context: Context, data: Data) -> Mapping[str, object]:
    return {}


def _always(value: Any, context: Context, data: Data) -> bool:
    return True


def _same_data(value: Any, context: Context, data: Data) -> Data:
    return data


def _stored_params(context: Context, data: Data) -> Mapping[str, object]:
    return dict(data.get("params", {}))


@dataclass(frozen=True)
class Transition:
    """If ``parse(text)`` is not None and ``when(value, ctx, data)`` holds: go to ``to`` (a
    state, END, STAY or DEFER), say ``say``, emit ``effects``, and keep ``data(...)``.

    Everything but the target may be computed from the parsed value, the context (its lookup,
    its pending question) and the session's data; a parser may match in several transitions
    whose guards pick one (a number on the menu, a number beyond it). ``ask`` False: enter
    ``to`` without asking its prompt again (back to a menu that stays open after a choice, or
    to a question already answered that takes a second answer).
    """

    parse: Parser
    to: str
    say: str | None = None
    effects: Callable[[Any, Context, Data], tuple[Effect, ...]] = _no_effects
    params: Callable[[Any, Context, Data], Mapping[str, object]] = _no_params
    when: Callable[[Any, Context, Data], bool] = _always
    data: Callable[[Any, Context, Data], Data] = _same_data
    ask: bool = True


@dataclass(frozen=True)
class State:
    """A question and the replies it takes. ``reprompt`` None: the state does not insist, a
    text no transition takes is passed on (a menu open behind other conversation).
    ``params`` fill the prompt and reprompt from the session's data."""

    name: str
    prompt: str
    transitions: tuple[Transition, ...]
    reprompt: str | None
    params: Callable[[Context, Data], Mapping[str, object]] = _stored_params


class FlowDefinitionError(ValueError):
    """A flow table that cannot work: unknown states, unreachable states, missing texts."""


@dataclass(frozen=True)
class Flow:
    """A table of states. ``restart``: a stored state that no longer exists starts the flow
    over (False: the text is passed on, for flows only entered with data, like a menu).
    ``renew_on_retry``: every text the flow takes restarts the session's lifetime (False: the
    session lives SESSION_LIFETIME from when the flow was entered, whatever it took since, so
    a menu's numbers go stale a day after it was shown, even while it stays open)."""

    name: str
    start: str
    states: tuple[State, ...]
    restart: bool = True
    renew_on_retry: bool = True

    def __post_init__(self) -> None:
        by_name = {s.name: s for s in self.states}
        if len(by_name) != len(self.states):
            raise FlowDefinitionError(f"{self.name}: duplicate state names")
        if self.start not in by_name:
            raise FlowDefinitionError(f"{self.name}: start state {self.start!r} is not defined")
        for state in self.states:
            if not state.transitions:
                raise FlowDefinitionError(f"{self.name}.{state.name}: no way out (trap state)")
            _require_key(self.name, state.prompt)
            if state.reprompt is not None:
                _require_key(self.name, state.reprompt)
            for transition in state.transitions:
                if transition.to not in (END, STAY, DEFER) and transition.to not in by_name:
                    raise FlowDefinitionError(
                        f"{self.name}.{state.name}: transition to unknown state {transition.to!r}"
                    )
                if transition.say is not None:
                    _require_key(self.name, transition.say)
        reachable = {self.start}
        frontier = [self.start]
        while frontier:
            for transition in by_name[frontier.pop()].transitions:
                if transition.to in by_name and transition.to not in reachable:
                    reachable.add(transition.to)
                    frontier.append(transition.to)
        unreachable = set(by_name) - reachable
        if unreachable:
            raise FlowDefinitionError(f"{self.name}: unreachable states {sorted(unreachable)}")

    def state(self, name: str | None) -> State | None:
        return next((s for s in self.states if s.name == name), None)

    def begin(
        self,
        context: Context,
        data: Mapping[str, Any] | None = None,
        params: Mapping[str, object] | None = None,
    ) -> Outcome:
        """Enter the start state and ask its prompt."""
        return self.enter(self.start, context, data, params)

    def enter(
        self,
        name: str,
        context: Context,
        data: Mapping[str, Any] | None = None,
        params: Mapping[str, object] | None = None,
    ) -> Outcome:
        """Enter state ``name`` with ``data`` (e.g. the ids a menu numbers) and ask its prompt,
        filled with the state's params and ``params`` (e.g. the menu text computed on entry)."""
        target = self.state(name)
        if target is None:
            raise FlowDefinitionError(f"{self.name}: cannot enter unknown state {name!r}")
        kept = dict(data or {})
        session = SessionState(self.name, target.name, kept, _expiry(context))
        prompt_params = {**target.params(context, kept), **(params or {})}
        return Outcome(session=session, replies=(Reply(target.prompt, prompt_params),))

    def advance(self, session: SessionState, text: str, context: Context) -> Outcome | None:
        """Apply one inbound text to the current state; None when the text is passed on."""
        current = self.state(session.state)
        if current is None:  # a stored state that no longer exists
            return self.begin(context) if self.restart else None
        for transition in current.transitions:
            value = transition.parse(text)
            if value is None or not transition.when(value, context, session.data):
                continue
            if transition.to == DEFER:
                return None
            return self._follow(current, transition, value, session, context)
        if current.reprompt is None:
            return None
        reply = Reply(current.reprompt, dict(current.params(context, session.data)))
        return Outcome(self._continue(current, session, session.data, context), (reply,))

    def answer(self, text: str, context: Context, data: Mapping[str, Any]) -> Outcome | None:
        """Apply a text to the start state as if it were open with ``data``: the answer to a
        question we texted earlier (a reminder, a call-out), for which no session was stored."""
        return self.advance(SessionState(self.name, self.start, dict(data)), text, context)

    def _follow(
        self,
        current: State,
        transition: Transition,
        value: Any,
        session: SessionState,
        context: Context,
    ) -> Outcome:
        effects = transition.effects(value, context, session.data)
        after = with_effects(context, effects)
        params = dict(transition.params(value, after, session.data))
        data = transition.data(value, context, session.data)
        replies: list[Reply] = []
        if transition.say is not None:
            replies.append(Reply(transition.say, params))
        if transition.to == END:
            next_session = IDLE
        elif transition.to == STAY:
            next_session = self._continue(current, session, data, context)
        else:
            target = self.state(transition.to)
            assert target is not None
            next_session = self._continue(target, session, data, context)
            if transition.ask:
                replies.append(Reply(target.prompt, {**target.params(after, data), **params}))
        return Outcome(next_session, tuple(replies), effects)

    def _continue(
        self, target: State, session: SessionState, data: Data, context: Context
    ) -> SessionState:
        """The session in ``target`` after a text the flow took (its lifetime renewed or not)."""
        keep = not self.renew_on_retry and session.expires_at is not None
        expires = session.expires_at if keep else _expiry(context)
        return SessionState(self.name, target.name, dict(data), expires)


def _expiry(context: Context) -> datetime:
    return context.now + SESSION_LIFETIME


_Port = TypeVar("_Port")


def lookup_port(context: Context, port: type, empty: _Port) -> _Port:
    """The context's lookup as one roster kind's ``port`` (a runtime-checkable Protocol that
    ``empty`` implements), or ``empty`` when the shell's lookup does not offer it."""
    lookup = context.lookup
    return cast(_Port, lookup) if isinstance(lookup, port) else empty


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
