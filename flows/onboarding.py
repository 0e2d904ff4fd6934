"""Onboarding: a new number is asked its name, then consent; then it is welcomed. A NO to the
consent question is taken back by a YES while the session lives (the name is kept); any other
text after a NO starts onboarding over.

Pure; imports ``flows.engine`` and ``flows.parsing``.
"""

from __future__ import annotations

from collections.abc import Mapping

from flows.engine import (
    END,
    Context,
    Data,
    Effect,
    Flow,
    RecordConsent,
    SetName,
    State,
    Transition,
)
from flows.parsing import parse_name, parse_yes
from flows.sms import short_name

CONSENT_PROMPT = "onboarding.ask_consent"


def _yes(text: str) -> bool | None:
    return True if parse_yes(text) is True else None


def _no(text: str) -> bool | None:
    return True if parse_yes(text) is False else None


def _anything(text: str) -> str:
    return text


def _set_name(name: str, context: Context, data: Data) -> tuple[Effect, ...]:
    return (SetName(name),)


def _consent(value: bool, context: Context, data: Data) -> tuple[Effect, ...]:
    return (RecordConsent(source=context.channel, wording_key=CONSENT_PROMPT),)


def _name_param(name: str, context: Context, data: Data) -> Mapping[str, object]:
    return {"name": short_name(name)}


ONBOARDING = Flow(
    name="onboarding",
    start="ask_name",
    states=(
        State(
            name="ask_name",
            prompt="onboarding.ask_name",
            reprompt="onboarding.ask_name_again",
            transitions=(
                Transition(
                    parse=parse_name, to="ask_consent", effects=_set_name, params=_name_param
                ),
            ),
        ),
        State(
            name="ask_consent",
            prompt=CONSENT_PROMPT,
            reprompt="onboarding.ask_consent_again",
            transitions=(
                Transition(parse=_yes, to=END, say="onboarding.welcome", effects=_consent),
                Transition(parse=_no, to="declined"),
            ),
        ),
        State(
            name="declined",
            prompt="onboarding.declined",
            reprompt=None,
            transitions=(
                Transition(parse=_yes, to=END, say="onboarding.welcome", effects=_consent),
                Transition(parse=_anything, to="ask_name"),
            ),
        ),
    ),
)
