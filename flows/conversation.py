"""One conversation step: global keywords first, then the volunteer's open flow, then a default.

``step(context, session, text)`` is the only entry point the shell calls. The routing reads as
a table: (volunteer status, keyword) → handler. Pure; imports only ``flows``.
"""

from __future__ import annotations

from collections.abc import Callable

from flows import catalog, donations, shifts
from flows.engine import (
    IDLE,
    Context,
    Flow,
    OptIn,
    OptOut,
    Outcome,
    Reply,
    SessionState,
    SetLanguage,
    VolunteerStatus,
)
from flows.forget import FORGET
from flows.keywords import Intent, Keyword, classify, is_opt_in_yes
from flows.onboarding import ONBOARDING
from flows.parsing import parse_yes

FLOWS: dict[str, Flow] = {flow.name: flow for flow in (ONBOARDING, FORGET)}

Handler = Callable[[Context, SessionState, Keyword], Outcome]


def _opt_out(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(IDLE, (Reply("optout.confirmed"),), (OptOut(source=context.channel),))


def _silent(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(session)


def _opt_in(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(IDLE, (Reply("optin.confirmed"),), (OptIn(source=context.channel),))


def _already_in(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(session, (Reply("optin.already"),))


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


def _shifts(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return shifts.show_menu(context)


def _more(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    start = int(session.data.get("next", 0)) if session.flow == "shifts" else 0
    return shifts.show_menu(context, start)


def _my(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return shifts.list_commitments(context)


def _drop(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return shifts.drop(context, keyword.argument)


def _check_in(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(IDLE, (), (shifts.CheckIn(),))


def _check_out(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return Outcome(IDLE, (), (shifts.CheckOut(),))


def _pause(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return shifts.pause(context, keyword.argument)


def _resume(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return shifts.resume(context)


def _give(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return donations.show_needs(context)


def _done(context: Context, session: SessionState, keyword: Keyword) -> Outcome:
    return donations.done(context)


_S = VolunteerStatus
_EVERYONE = (_S.NEW, _S.ACTIVE, _S.PAUSED)

# (status, keyword) → handler. Opted-out numbers get nothing but START and HELP answered.
ROUTES: dict[tuple[VolunteerStatus, Intent], Handler] = {
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
_MEMBER_ROUTES: dict[Intent, Handler] = {
    Intent.SHIFTS: _shifts,
    Intent.MORE: _more,
    Intent.MY: _my,
    Intent.DROP: _drop,
    Intent.IN: _check_in,
    Intent.OUT: _check_out,
    Intent.PAUSE: _pause,
    Intent.RESUME: _resume,
    Intent.GIVE: _give,
    Intent.DONE: _done,
}
for _intent, _handler in _MEMBER_ROUTES.items():
    ROUTES[(_S.ACTIVE, _intent)] = _handler
    ROUTES[(_S.PAUSED, _intent)] = _handler
    ROUTES[(_S.NEW, _intent)] = _onboard  # consent first
    ROUTES[(_S.OPTED_OUT, _intent)] = _silent


def _answers_onboarding(context: Context, session: SessionState, keyword: Keyword) -> bool:
    """During onboarding a member keyword is an answer, not a command: "Dar" is a name, and
    "listo" (DONE) to the consent question is not a request to start over."""
    return (
        context.status is VolunteerStatus.NEW
        and session.active(context.now)
        and session.flow == ONBOARDING.name
        and keyword.intent in _MEMBER_ROUTES
    )


def step(context: Context, session: SessionState, text: str) -> Outcome:
    """Answer one inbound text. Never raises for any text; always returns an Outcome."""
    keyword = classify(text)
    if keyword is not None and not _answers_onboarding(context, session, keyword):
        return ROUTES[(context.status, keyword.intent)](context, session, keyword)
    if session.active(context.now) and session.flow == FORGET.name:
        return FORGET.advance(session, text, context)  # before YES can mean "opt me in"
    if context.status is VolunteerStatus.OPTED_OUT:
        if is_opt_in_yes(text):  # YES re-subscribes, but only while opted out
            return _opt_in(context, session, Keyword(Intent.START))
        return Outcome(session)
    if context.status is VolunteerStatus.NEW and not session.active(context.now):
        return ONBOARDING.begin(context)
    if not text.strip():  # media without text, or an empty message
        return Outcome(session, (Reply("empty"),))
    if session.active(context.now) and session.flow in FLOWS:
        return FLOWS[session.flow].advance(session, text, context)
    if session.active(context.now) and session.flow == "shifts":
        number = shifts.parse_number(text)
        if number is not None:
            return shifts.choose(context, session, number)
    if session.active(context.now) and session.flow == "give":
        chosen = donations.in_menu(context, session, text)
        if chosen is not None:
            return chosen
    gap = donations.answer_gap(context, text)
    if gap is not None:
        return gap
    yes = parse_yes(text)
    if yes is not None:
        answered = shifts.answer_pending(context, yes) or donations.answer_standing(context, yes)
        if answered is not None:
            return answered
        if context.pending is not None and context.pending.kind == "gap" and not yes:
            return Outcome(IDLE, (Reply("gap.declined"),))
    return Outcome(IDLE, (Reply("unknown"),))
