"""The flow engine (flows.engine) and the routing table (flows.conversation.ROUTES).

Flows validate themselves when built; sessions expire; a stored state that no longer exists
restarts its flow; effects shape how replies are rendered.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from flows import conversation
from flows.commitments import CommitmentIntent, CommitmentView
from flows.conversation import FLOWS, INTENTS, ROUTES, Lookup, step
from flows.donations import (
    AnswerStanding,
    DonationIntent,
    DropPledge,
    MarkDone,
    NeedView,
    PledgeNeed,
)
from flows.engine import (
    END,
    IDLE,
    NO_LOOKUP,
    SESSION_LIFETIME,
    Context,
    Flow,
    FlowDefinitionError,
    OptIn,
    OptOut,
    Outcome,
    PendingQuestion,
    RecordConsent,
    Reply,
    SessionState,
    SetLanguage,
    SetName,
    State,
    Transition,
    VolunteerStatus,
    with_effects,
)
from flows.forget import FORGET
from flows.keywords import Intent, Keyword
from flows.onboarding import ONBOARDING
from flows.shifts import (
    AnswerCallOut,
    CheckIn,
    CheckOut,
    ClaimShift,
    ConfirmAssignment,
    DropAssignment,
    Pause,
    Resume,
    ShiftIntent,
    ShiftView,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def make_context(
    status: VolunteerStatus = VolunteerStatus.ACTIVE,
    *,
    name: str | None = "Ana",
    language: str = "en",
    now: datetime = NOW,
) -> Context:
    return Context(
        status=status,
        name=name,
        language=language,
        community_name="Riverside Flood Crew",
        channel="sms",
        now=now,
        help_contact="+12025550142",
    )


def _accept(text: str) -> str | None:
    return text if text == "go" else None


def _state(name: str, *transitions: Transition) -> State:
    return State(name=name, prompt="help", reprompt="unknown", transitions=transitions)


# --- Flow validation -----------------------------------------------------------------------


def test_a_valid_flow_builds() -> None:
    flow = Flow(
        "ok", "a", (_state("a", Transition(_accept, "b")), _state("b", Transition(_accept, END)))
    )
    assert flow.state("a") is not None
    assert flow.state("b") is not None
    assert flow.state("zzz") is None
    assert flow.state(None) is None


def test_missing_start_state_is_rejected() -> None:
    with pytest.raises(FlowDefinitionError, match="start state 'nowhere'"):
        Flow("broken", "nowhere", (_state("a", Transition(_accept, END)),))


def test_transition_to_unknown_state_is_rejected() -> None:
    with pytest.raises(FlowDefinitionError, match="unknown state 'ghost'"):
        Flow("broken", "a", (_state("a", Transition(_accept, "ghost")),))


def test_unreachable_state_is_rejected() -> None:
    with pytest.raises(FlowDefinitionError, match=r"unreachable states \['island'\]"):
        Flow(
            "broken",
            "a",
            (
                _state("a", Transition(_accept, END)),
                _state("island", Transition(_accept, "a")),  # points in, nothing points to it
            ),
        )


def test_state_reachable_only_through_another_state_is_fine() -> None:
    Flow(
        "chain",
        "a",
        (
            _state("a", Transition(_accept, "b")),
            _state("b", Transition(_accept, "c")),
            _state("c", Transition(_accept, "a"), Transition(_accept, END)),
        ),
    )


def test_trap_state_without_transitions_is_rejected() -> None:
    with pytest.raises(FlowDefinitionError, match=r"broken\.trap: no way out"):
        Flow("broken", "a", (_state("a", Transition(_accept, "trap")), _state("trap")))


def test_duplicate_state_names_are_rejected() -> None:
    with pytest.raises(FlowDefinitionError, match="duplicate"):
        Flow(
            "broken",
            "a",
            (_state("a", Transition(_accept, END)), _state("a", Transition(_accept, END))),
        )


@pytest.mark.parametrize("field", ["prompt", "reprompt"])
def test_state_text_missing_from_english_catalog_is_rejected(field: str) -> None:
    texts = {"prompt": "help", "reprompt": "unknown", field: "no.such.key"}
    with pytest.raises(FlowDefinitionError, match=r"no\.such\.key"):
        state = State(
            "a",
            transitions=(Transition(_accept, END),),
            prompt=texts["prompt"],
            reprompt=texts["reprompt"],
        )
        Flow("broken", "a", (state,))


def test_transition_reply_missing_from_english_catalog_is_rejected() -> None:
    with pytest.raises(FlowDefinitionError, match=r"also\.missing"):
        Flow("broken", "a", (_state("a", Transition(_accept, END, say="also.missing")),))


def test_flow_definition_error_is_a_value_error() -> None:
    assert issubclass(FlowDefinitionError, ValueError)


def test_shipped_flows_are_registered_under_their_names() -> None:
    assert FLOWS == {"onboarding": ONBOARDING, "forget": FORGET}
    for name, flow in FLOWS.items():
        assert flow.name == name


# --- begin / advance -----------------------------------------------------------------------

FLOW = Flow(
    "demo",
    "first",
    (
        State(
            "first",
            prompt="onboarding.ask_name",
            reprompt="onboarding.ask_name_again",
            transitions=(
                Transition(
                    _accept,
                    "second",
                    say="help",
                    effects=lambda value, ctx, data: (SetName("Gus"),),
                    params=lambda value, ctx, data: {"name": ctx.name},
                ),
            ),
        ),
        State(
            "second",
            prompt="onboarding.ask_consent",
            reprompt="onboarding.ask_consent_again",
            transitions=(Transition(_accept, END, say="onboarding.welcome"),),
        ),
    ),
)


def test_begin_asks_the_start_prompt_and_opens_a_24h_session() -> None:
    outcome = FLOW.begin(make_context(), {"k": 1})
    assert outcome.session == SessionState("demo", "first", {"k": 1}, NOW + SESSION_LIFETIME)
    assert outcome.replies == (Reply("onboarding.ask_name"),)
    assert outcome.effects == ()
    assert timedelta(hours=24) == SESSION_LIFETIME


def test_advance_follows_the_first_matching_transition() -> None:
    session = SessionState("demo", "first", {"k": 1}, NOW + timedelta(minutes=5))
    later = make_context(now=NOW + timedelta(minutes=1))
    outcome = FLOW.advance(session, "go", later)
    assert outcome is not None
    # the session keeps its data, moves on, and its lifetime restarts from now
    assert outcome.session == SessionState("demo", "second", {"k": 1}, later.now + SESSION_LIFETIME)
    assert outcome.effects == (SetName("Gus"),)
    # params are computed with the effects applied (the new name), for both replies
    assert outcome.replies == (
        Reply("help", {"name": "Gus"}),
        Reply("onboarding.ask_consent", {"name": "Gus"}),
    )


def test_advance_to_end_returns_to_idle() -> None:
    outcome = FLOW.advance(SessionState("demo", "second", {}, None), "go", make_context())
    assert outcome is not None
    assert outcome.session == IDLE
    assert outcome.replies == (Reply("onboarding.welcome", {}),)


def test_advance_without_a_match_reprompts_and_stays() -> None:
    session = SessionState("demo", "second", {"k": 2}, NOW)
    outcome = FLOW.advance(session, "what?", make_context())
    assert outcome is not None
    assert outcome.session == SessionState("demo", "second", {"k": 2}, NOW + SESSION_LIFETIME)
    assert outcome.replies == (Reply("onboarding.ask_consent_again"),)
    assert outcome.effects == ()


@pytest.mark.parametrize("stale", ["renamed_state", None, ""])
def test_a_state_that_no_longer_exists_restarts_the_flow(stale: str | None) -> None:
    session = SessionState("demo", stale, {"old": True}, NOW + timedelta(hours=1))
    outcome = FLOW.advance(session, "go", make_context())
    assert outcome is not None
    assert outcome.session == SessionState("demo", "first", {}, NOW + SESSION_LIFETIME)
    assert outcome.replies == (Reply("onboarding.ask_name"),)
    assert outcome.effects == ()


def test_step_restarts_onboarding_from_a_stale_state() -> None:
    session = SessionState("onboarding", "ask_pronouns", {}, NOW + timedelta(hours=1))
    outcome = step(make_context(VolunteerStatus.NEW, name=None), session, "YES")
    assert outcome.session.state == "ask_name"
    assert outcome.replies == (Reply("onboarding.ask_name"),)
    assert outcome.effects == ()


def test_transition_parser_returning_false_or_zero_still_matches() -> None:
    # only None means "no match": a parser may legitimately return False or 0
    flow = Flow(
        "falsy",
        "a",
        (_state("a", Transition(lambda text: 0 if text == "zero" else None, END, say="help")),),
    )
    outcome = flow.advance(SessionState("falsy", "a"), "zero", make_context())
    assert outcome is not None
    assert outcome.replies == (Reply("help", {}),)


# --- sessions and expiry -------------------------------------------------------------------


def test_session_activity() -> None:
    assert not IDLE.active(NOW)
    assert SessionState("onboarding", "ask_name").active(NOW)  # no expiry: open-ended
    expires = NOW + timedelta(hours=1)
    session = SessionState("onboarding", "ask_name", {}, expires)
    assert session.active(expires - timedelta(microseconds=1))
    assert not session.active(expires)
    assert not session.active(expires + timedelta(days=3))


def test_expired_session_is_not_advanced_for_a_new_volunteer() -> None:
    # "YES" would record consent in an open session; an expired one starts over instead
    expired = SessionState("onboarding", "ask_consent", {}, NOW - timedelta(seconds=1))
    context = make_context(VolunteerStatus.NEW, name="Ana")
    outcome = step(context, expired, "YES")
    assert outcome.replies == (Reply("onboarding.ask_name"),)
    assert outcome.session.state == "ask_name"
    assert outcome.session.expires_at == NOW + SESSION_LIFETIME
    assert not any(isinstance(e, RecordConsent) for e in outcome.effects)


def test_same_text_in_an_open_session_is_advanced() -> None:
    open_session = SessionState("onboarding", "ask_consent", {}, NOW + timedelta(seconds=1))
    outcome = step(make_context(VolunteerStatus.NEW, name="Ana"), open_session, "YES")
    assert outcome.replies[0].key == "onboarding.welcome"
    assert any(isinstance(e, RecordConsent) for e in outcome.effects)


@pytest.mark.parametrize("status", [VolunteerStatus.ACTIVE, VolunteerStatus.PAUSED])
def test_expired_session_is_not_advanced_for_a_known_volunteer(status: VolunteerStatus) -> None:
    expired = SessionState("onboarding", "ask_name", {}, NOW - timedelta(hours=25))
    outcome = step(make_context(status), expired, "Bob")
    assert outcome.replies == (Reply("unknown"),)
    assert outcome.session == IDLE
    assert outcome.effects == ()


def test_session_of_a_removed_flow_falls_back_to_unknown() -> None:
    session = SessionState("retired_flow", "x", {}, NOW + timedelta(hours=1))
    outcome = step(make_context(), session, "hello")
    assert outcome.replies == (Reply("unknown"),)
    assert outcome.session == IDLE


def _two_states(*, renew: bool) -> Flow:
    """In state a, "go" moves to b, asking its prompt; in b, "go" returns to a quietly."""
    return Flow(
        "quiet",
        "a",
        (
            _state("a", Transition(_accept, "b")),
            _state("b", Transition(_accept, "a", ask=False)),
        ),
        renew_on_retry=renew,
    )


def test_a_quiet_transition_enters_its_state_without_asking_the_prompt() -> None:
    flow = _two_states(renew=True)
    first = flow.advance(SessionState("quiet", "a", {}, NOW), "go", make_context())
    assert first is not None
    assert first.replies == (Reply("help"),)  # b's prompt
    back = flow.advance(first.session, "go", make_context())
    assert back is not None
    assert back.session.state == "a"
    assert back.replies == ()  # a's prompt is not asked again


@pytest.mark.parametrize(("renew", "kept"), [(False, True), (True, False)])
def test_a_flow_that_does_not_renew_keeps_its_lifetime_across_states(
    renew: bool, kept: bool
) -> None:
    flow = _two_states(renew=renew)
    shown = flow.begin(make_context())
    later = make_context(now=NOW + timedelta(hours=5))
    moved = flow.advance(shown.session, "go", later)
    assert moved is not None
    expected = shown.session.expires_at if kept else later.now + SESSION_LIFETIME
    assert moved.session.expires_at == expected
    back = flow.advance(moved.session, "go", make_context(now=NOW + timedelta(hours=9)))
    assert back is not None
    assert (back.session.expires_at == shown.session.expires_at) is kept


# --- effects, contexts and rendering -------------------------------------------------------


def test_with_effects_applies_each_effect_in_order() -> None:
    base = make_context(VolunteerStatus.NEW, name=None)
    after = with_effects(base, (SetName("Bo"), SetLanguage("es"), RecordConsent("sms", "k")))
    assert (after.name, after.language, after.status) == ("Bo", "es", VolunteerStatus.ACTIVE)
    assert with_effects(base, (OptOut("sms"),)).status is VolunteerStatus.OPTED_OUT
    out = make_context(VolunteerStatus.OPTED_OUT)
    assert with_effects(out, (OptIn("sms"),)).status is VolunteerStatus.ACTIVE
    assert with_effects(base, (SetName("A"), SetName("B"))).name == "B"
    assert with_effects(base, ()) == base
    assert base.name is None  # contexts are values: the original is untouched


def test_context_params_fill_blanks_for_missing_name() -> None:
    assert make_context(name=None).params() == {
        "community": "Riverside Flood Crew",
        "name": "",
        "contact": "+12025550142",
    }


def test_render_uses_the_language_and_name_left_by_the_effects() -> None:
    outcome = Outcome(IDLE, (Reply("onboarding.welcome"),), (SetLanguage("es"), SetName("Lu")))
    (text,) = outcome.render(make_context(name="Ana"))
    assert text.startswith("Bienvenido/a, Lu!")
    assert "Riverside Flood Crew" in text


def test_reply_params_override_context_params() -> None:
    outcome = Outcome(IDLE, (Reply("onboarding.welcome", {"name": "Override"}),))
    assert outcome.render(make_context(name="Ana"))[0].startswith("Welcome, Override!")


def test_render_unknown_language_falls_back_to_english() -> None:
    outcome = Outcome(IDLE, (Reply("unknown"),))
    assert outcome.render(make_context(language="xx")) == (
        "A person on our team will read your message. Text SHIFTS for open shifts, MY for yours, "
        "HELP for help, or STOP to opt out.",
    )


@dataclass(frozen=True)
class _FixedResult:
    key: str

    def reply(self) -> Reply:
        return Reply(self.key, {"title": "Kitchen"})


def test_render_appends_the_replies_of_effect_results_in_order() -> None:
    outcome = Outcome(IDLE, (Reply("my.none"),), (SetLanguage("es"),))
    texts = outcome.render(
        make_context(), (_FixedResult("callout.declined"), _FixedResult("attendance.checked_in"))
    )
    assert texts == (
        "No tienes nada proximo. Envia SHIFTS o GIVE para apuntarte.",
        "No pasa nada, gracias por avisar. Envia SHIFTS para ver otros turnos.",
        "Entrada registrada en Kitchen. Gracias! Envia OUT al salir.",
    )
    assert outcome.render(make_context()) == (
        "No tienes nada proximo. Envia SHIFTS o GIVE para apuntarte.",
    )


def test_context_defaults_to_no_lookup_and_no_pending_question() -> None:
    context = make_context()
    assert context.lookup is NO_LOOKUP
    lookup = cast(Lookup, context.lookup)  # the shell's lookup answers every roster's queries
    assert tuple(lookup.open_shifts()) == ()
    assert tuple(lookup.commitments()) == ()
    assert tuple(lookup.open_needs()) == ()
    assert context.pending is None


def test_values_are_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        IDLE.flow = "onboarding"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        make_context().status = VolunteerStatus.OPTED_OUT  # type: ignore[misc]


# --- the routing table ---------------------------------------------------------------------


def test_routes_cover_every_status_and_intent() -> None:
    expected = {(status, intent) for status in VolunteerStatus for intent in INTENTS}
    assert set(ROUTES) == expected
    assert len(ROUTES) == len(VolunteerStatus) * len(INTENTS)
    assert all(callable(handler) for handler in ROUTES.values())


# Effects the shell answers with a Result, whose reply() the volunteer gets.
RESULT_EFFECTS = (
    CheckIn,
    CheckOut,
    ClaimShift,
    DropAssignment,
    ConfirmAssignment,
    AnswerCallOut,
    PledgeNeed,
    DropPledge,
    MarkDone,
    AnswerStanding,
)
SHELL_EFFECTS = (OptOut, OptIn, SetName, RecordConsent, SetLanguage, Pause, Resume, *RESULT_EFFECTS)


class _BusyLookup:
    def open_shifts(self) -> tuple[ShiftView, ...]:
        return (ShiftView(7, "Kitchen", "Hall", "Sat 28/11 09:00", 2),)

    def commitments(self) -> tuple[CommitmentView, ...]:
        return (
            CommitmentView(31, "Kitchen", "Hall", "Sat 28/11 09:00", "confirmed"),
            CommitmentView(32, "Drivers", "Depot", "Sun 29/11 10:00", "waitlisted", 3),
            CommitmentView(33, "5 kg Rice", "Hall", "Sat 28/11", "pledged", kind="pledge"),
        )

    def open_needs(self) -> tuple[NeedView, ...]:
        return (NeedView(41, "Rice", "kg", 12, 20, "Sat 28/11"),)


def _contexts(status: VolunteerStatus) -> list[Context]:
    quiet = make_context(status)
    busy = replace(quiet, lookup=_BusyLookup(), pending=PendingQuestion("reminder", 31))
    asked = replace(busy, pending=PendingQuestion("gap", 41))
    return [quiet, busy, asked]


@pytest.mark.parametrize("status", list(VolunteerStatus))
@pytest.mark.parametrize("intent", list(INTENTS))
@pytest.mark.parametrize("argument", ["", "es", "2", "2w"])
def test_every_route_returns_an_outcome(
    status: VolunteerStatus, intent: str, argument: str
) -> None:
    for context in _contexts(status):
        outcome = ROUTES[(status, intent)](context, IDLE, Keyword(intent, argument))
        assert isinstance(outcome, Outcome)
        assert isinstance(outcome.session, SessionState)
        for effect in outcome.effects:
            assert isinstance(effect, SHELL_EFFECTS), effect
        assert sum(isinstance(e, RESULT_EFFECTS) for e in outcome.effects) <= 1
        if status is VolunteerStatus.OPTED_OUT:
            continue
        # everyone else hears back: a reply now, or the reply of the effect's result
        answered = bool(outcome.replies) or any(
            isinstance(e, RESULT_EFFECTS) for e in outcome.effects
        )
        assert answered, (status, intent, argument, outcome)
        assert all(text for text in outcome.render(context))


@pytest.mark.parametrize(
    ("status", "intent", "keys", "effects"),
    [
        (VolunteerStatus.NEW, Intent.STOP, ["optout.confirmed"], [OptOut("sms")]),
        (VolunteerStatus.ACTIVE, Intent.STOP, ["optout.confirmed"], [OptOut("sms")]),
        (VolunteerStatus.PAUSED, Intent.STOP, ["optout.confirmed"], [OptOut("sms")]),
        (VolunteerStatus.OPTED_OUT, Intent.STOP, [], []),
        (VolunteerStatus.OPTED_OUT, Intent.START, ["optin.confirmed"], [OptIn("sms")]),
        (VolunteerStatus.OPTED_OUT, Intent.HELP, ["help"], []),
        (VolunteerStatus.OPTED_OUT, Intent.JOIN, [], []),
        (VolunteerStatus.OPTED_OUT, Intent.LANG, [], []),
        (VolunteerStatus.NEW, Intent.START, ["onboarding.ask_name"], []),
        (VolunteerStatus.NEW, Intent.JOIN, ["onboarding.ask_name"], []),
        (VolunteerStatus.ACTIVE, Intent.START, ["optin.already"], []),
        (VolunteerStatus.PAUSED, Intent.START, ["optin.already"], []),
        (VolunteerStatus.ACTIVE, Intent.JOIN, ["onboarding.already_joined"], []),
        (VolunteerStatus.PAUSED, Intent.JOIN, ["onboarding.already_joined"], []),
        (VolunteerStatus.NEW, Intent.HELP, ["help"], []),
        (VolunteerStatus.ACTIVE, Intent.HELP, ["help"], []),
        (VolunteerStatus.PAUSED, Intent.HELP, ["help"], []),
        (VolunteerStatus.NEW, Intent.LANG, ["language.switched"], [SetLanguage("es")]),
        (VolunteerStatus.ACTIVE, Intent.LANG, ["language.switched"], [SetLanguage("es")]),
        (VolunteerStatus.PAUSED, Intent.LANG, ["language.switched"], [SetLanguage("es")]),
        # shift keywords, with nothing open and nothing booked
        (VolunteerStatus.ACTIVE, ShiftIntent.SHIFTS, ["shifts.none"], []),
        (VolunteerStatus.PAUSED, ShiftIntent.SHIFTS, ["shifts.none"], []),
        (VolunteerStatus.ACTIVE, ShiftIntent.MORE, ["shifts.none"], []),
        (VolunteerStatus.ACTIVE, CommitmentIntent.MY, ["my.none"], []),
        (VolunteerStatus.ACTIVE, CommitmentIntent.DROP, ["drop.none"], []),
        (VolunteerStatus.ACTIVE, ShiftIntent.IN, [], [CheckIn()]),
        (VolunteerStatus.PAUSED, ShiftIntent.IN, [], [CheckIn()]),
        (VolunteerStatus.ACTIVE, ShiftIntent.OUT, [], [CheckOut()]),
        (VolunteerStatus.ACTIVE, ShiftIntent.PAUSE, ["pause.open"], [Pause(None)]),
        (VolunteerStatus.PAUSED, ShiftIntent.PAUSE, ["pause.open"], [Pause(None)]),
        (VolunteerStatus.ACTIVE, ShiftIntent.RESUME, ["resume.done"], [Resume()]),
        (VolunteerStatus.PAUSED, ShiftIntent.RESUME, ["resume.done"], [Resume()]),
        # donation keywords, with nothing needed
        (VolunteerStatus.ACTIVE, DonationIntent.GIVE, ["give.none"], []),
        (VolunteerStatus.PAUSED, DonationIntent.GIVE, ["give.none"], []),
        (VolunteerStatus.ACTIVE, DonationIntent.DONE, [], [MarkDone()]),
        (VolunteerStatus.PAUSED, DonationIntent.DONE, [], [MarkDone()]),
        # consent first: a new number is onboarded whatever it asks for
        *[
            (VolunteerStatus.NEW, intent, ["onboarding.ask_name"], [])
            for intent in (
                ShiftIntent.SHIFTS,
                ShiftIntent.MORE,
                CommitmentIntent.MY,
                CommitmentIntent.DROP,
                ShiftIntent.IN,
            )
        ],
        *[
            (VolunteerStatus.NEW, intent, ["onboarding.ask_name"], [])
            for intent in (
                ShiftIntent.OUT,
                ShiftIntent.PAUSE,
                ShiftIntent.RESUME,
                DonationIntent.GIVE,
                DonationIntent.DONE,
            )
        ],
        # an opted-out number hears nothing
        *[
            (VolunteerStatus.OPTED_OUT, intent, [], [])
            for intent in (
                ShiftIntent.SHIFTS,
                ShiftIntent.MORE,
                CommitmentIntent.MY,
                CommitmentIntent.DROP,
                ShiftIntent.IN,
            )
        ],
        *[
            (VolunteerStatus.OPTED_OUT, intent, [], [])
            for intent in (
                ShiftIntent.OUT,
                ShiftIntent.PAUSE,
                ShiftIntent.RESUME,
                DonationIntent.GIVE,
                DonationIntent.DONE,
            )
        ],
    ],
)
def test_route_table_contract(
    status: VolunteerStatus, intent: str, keys: list[str], effects: list[object]
) -> None:
    arg = "es" if intent is Intent.LANG else ""
    outcome = ROUTES[(status, intent)](make_context(status), IDLE, Keyword(intent, arg))
    assert [r.key for r in outcome.replies] == keys
    assert list(outcome.effects) == effects


def test_opt_out_source_is_the_channel() -> None:
    context = Context(VolunteerStatus.ACTIVE, "Ana", "en", "C", "whatsapp", NOW)
    assert step(context, IDLE, "STOP").effects == (OptOut("whatsapp"),)


def test_opt_out_ends_any_open_session() -> None:
    session = SessionState("onboarding", "ask_consent", {}, NOW + timedelta(hours=1))
    assert step(make_context(VolunteerStatus.NEW), session, "stop").session == IDLE


def test_help_and_unknown_language_keep_the_open_session() -> None:
    session = SessionState("onboarding", "ask_consent", {"a": 1}, NOW + timedelta(hours=1))
    context = make_context(VolunteerStatus.NEW)
    assert step(context, session, "HELP").session == session
    outcome = step(context, session, "LANG xx")
    assert outcome.session == session
    assert outcome.replies == (Reply("language.unknown", {"languages": "en/es/hi"}),)
    assert outcome.effects == ()


def test_lang_without_argument_lists_the_languages() -> None:
    outcome = step(make_context(), IDLE, "LANG")
    assert [r.key for r in outcome.replies] == ["language.unknown"]
    assert outcome.render(make_context()) == (
        "Sorry, that language is not available. Text LANG en/es/hi.",
    )


def test_conversation_module_exports_step() -> None:
    assert conversation.step is step
