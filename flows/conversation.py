"""One conversation step: global keywords first, then the volunteer's open flow, then a default.

``step(context, session, text)`` is the only entry point the shell calls. The routing reads as
a table: (volunteer status, keyword) → handler. Pure; imports only ``flows``.
"""

from __future__ import annotations

from collections.abc import Callable

from flows import catalog
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
from flows.keywords import Intent, Keyword, classify, is_opt_in_yes
from flows.onboarding import ONBOARDING

FLOWS: dict[str, Flow] = {flow.name: flow for flow in (ONBOARDING,)}

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
}


def step(context: Context, session: SessionState, text: str) -> Outcome:
    """Answer one inbound text. Never raises for any text; always returns an Outcome."""
    keyword = classify(text)
    if keyword is not None:
        return ROUTES[(context.status, keyword.intent)](context, session, keyword)
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
    return Outcome(IDLE, (Reply("unknown"),))
