"""A coordinator's commands by text, from a registered phone: declared as one flow.

TODAY (or ROSTER), WHO n, NEEDS and HELP read; CALLOUT n k [text] and SAY text ask the shell
to prepare a send (``PrepareCallout``, ``PrepareSay``) whose reply says how many people it
reaches and what it costs, and YES code confirms one (``ConfirmCode``). A text that is none of
these is not taken (``step`` returns None) and goes on to the volunteer conversation, so a
coordinator who volunteers too still gets volunteer answers. Shifts are numbered in the order
the lookup lists them (today's and tomorrow's, soonest first), so WHO 2 and CALLOUT 2 3 mean
the line numbered 2 in TODAY. Replies fit the menu budget (``flows.sms``). Pure; imports
only ``flows``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

from flows import catalog
from flows.engine import (
    END,
    Context,
    Data,
    Effect,
    Flow,
    Outcome,
    Reply,
    State,
    Transition,
    lookup_port,
)
from flows.parsing import fold_accents, normalize
from flows.sms import fits_menu_budget, gsm_safe, short_name

MAX_NEED = 500  # people one CALLOUT may ask for (as in the console)
MAX_CALLOUT_TEXT = 160  # the ask is one SMS with the catalog's words around it (as in the console)
MAX_SAY_LENGTH = 300


class Command(StrEnum):
    TODAY = "today"
    WHO = "who"
    NEEDS = "needs"
    HELP = "help"
    CALLOUT = "callout"
    SAY = "say"
    CONFIRM = "confirm"  # YES and a code

    @property
    def reads(self) -> bool:
        """A read command (rate-limited); the others prepare or confirm a send."""
        return self in (Command.TODAY, Command.WHO, Command.NEEDS, Command.HELP)


@dataclass(frozen=True)
class Parsed:
    command: Command
    n: int | None = None  # the shift's number in TODAY
    need: int | None = None  # CALLOUT: how many people
    text: str = ""  # CALLOUT's or SAY's words; YES's code
    valid: bool = True  # False: the command's word with arguments it cannot use


_WORDS = {
    "today": Command.TODAY,
    "roster": Command.TODAY,
    "needs": Command.NEEDS,
    "help": Command.HELP,
}
_YES = frozenset({"yes", "y", "si", "ok", "हाँ", "हां"})
_WHO = re.compile(r"^who(?:\s+(\d{1,3}))?$", re.IGNORECASE)
_CALLOUT = re.compile(r"^callout\b\s*(.*)$", re.IGNORECASE | re.DOTALL)
_CALLOUT_ARGS = re.compile(r"^(\d{1,3})\s+(\d{1,3})(?:\s+(.*))?$", re.DOTALL)
_SAY = re.compile(r"^say\b\s*(.*)$", re.IGNORECASE | re.DOTALL)
_CODE = re.compile(r"^\d{4,8}$")


def parse_command(text: str) -> Parsed | None:
    """The coordinator command ``text`` is, or None (a volunteer's text)."""
    raw = " ".join(text.split())
    words = fold_accents(normalize(raw)).split()
    if not words:
        return None
    if len(words) == 1 and words[0] in _WORDS:
        return Parsed(_WORDS[words[0]])
    if len(words) == 2 and words[0] in _YES and _CODE.match(words[1]):
        return Parsed(Command.CONFIRM, text=words[1])
    who = _WHO.match(raw.rstrip(".?!"))
    if who:
        n = int(who.group(1)) if who.group(1) else None
        return Parsed(Command.WHO, n=n, valid=n is not None)
    callout = _CALLOUT.match(raw)
    if callout:
        args = _CALLOUT_ARGS.match(callout.group(1))
        if args is None:
            return Parsed(Command.CALLOUT, valid=False)
        n, need = int(args.group(1)), int(args.group(2))
        words_text = (args.group(3) or "").strip()
        ok = n >= 1 and 1 <= need <= MAX_NEED and len(words_text) <= MAX_CALLOUT_TEXT
        return Parsed(Command.CALLOUT, n=n, need=need, text=words_text, valid=ok)
    say = _SAY.match(raw)
    if say:
        said = say.group(1).strip()
        return Parsed(Command.SAY, text=said, valid=0 < len(said) <= MAX_SAY_LENGTH)
    return None


# ----- what the flow may ask the shell --------------------------------------------------


@dataclass(frozen=True)
class ShiftFill:
    """One of today's or tomorrow's shifts, as a coordinator sees it."""

    id: int
    title: str
    when: str
    confirmed: int
    capacity: int
    waitlisted: int


@dataclass(frozen=True)
class PersonLine:
    """Someone on a shift: first name and the number as this coordinator may see it."""

    name: str
    number: str


@dataclass(frozen=True)
class Gap:
    item: str
    missing: int
    target: int
    unit: str


@runtime_checkable
class CoordinatorLookup(Protocol):
    def day_shifts(self) -> Sequence[ShiftFill]: ...
    def people_on(self, shift_id: int) -> Sequence[PersonLine]: ...
    def next_gaps(self) -> tuple[str, Sequence[Gap]]: ...  # (the cycle's day, its gaps)


class _NoLookup:
    def day_shifts(self) -> Sequence[ShiftFill]:
        return ()

    def people_on(self, shift_id: int) -> Sequence[PersonLine]:
        return ()

    def next_gaps(self) -> tuple[str, Sequence[Gap]]:
        return "", ()


def _lookup(context: Context) -> CoordinatorLookup:
    return lookup_port(context, CoordinatorLookup, _NoLookup())


# ----- effects and their results ----------------------------------------------------------


@dataclass(frozen=True)
class PrepareCallout(Effect):
    shift_id: int
    need: int
    text: str


@dataclass(frozen=True)
class PrepareSay(Effect):
    text: str


@dataclass(frozen=True)
class ConfirmCode(Effect):
    code: str


SendOutcome = Literal[
    "confirm_callout",  # a code is on its way to the registered phone
    "confirm_say",
    "nobody",
    "sent_callout",
    "sent_say",
    "held",  # the two-person rule: a second coordinator must approve
    "approved",  # this YES was the second person's
    "not_second",
    "code_wrong",
    "code_throttled",
]


@dataclass(frozen=True)
class SendResult:
    """What the shell did with a prepare or confirm effect; the flow owns the texts."""

    outcome: SendOutcome
    count: int = 0
    cost: str = ""
    title: str = ""
    when: str = ""
    minutes: int = 0

    def reply(self) -> Reply:
        params = {"count": self.count, "cost": self.cost, "title": self.title, "when": self.when}
        if self.outcome == "code_throttled":
            params["count"] = self.minutes
        return Reply(f"coord.{self.outcome}", params)


# ----- the flow ---------------------------------------------------------------------------


def _is(command: Command, *, valid: bool = True) -> Any:
    def parse(text: str) -> Parsed | None:
        parsed = parse_command(text)
        if parsed is None or parsed.command != command or parsed.valid != valid:
            return None
        return parsed

    return parse


def _shift(value: Parsed, context: Context) -> tuple[int, ShiftFill] | None:
    shifts = _lookup(context).day_shifts()
    n = value.n or 0
    return (n, shifts[n - 1]) if 1 <= n <= len(shifts) else None


def _has_shift(value: Parsed, context: Context, data: Data) -> bool:
    return _shift(value, context) is not None


def _no_shift(value: Parsed, context: Context, data: Data) -> bool:
    return _shift(value, context) is None


def _fitted(
    context: Context,
    key: str,
    lines: Sequence[str],
    joiner: str = "\n",
    extra: Mapping[str, object] | None = None,
) -> str:
    """As many ``lines`` as fit the menu budget in ``key``, then how many more there are."""
    base = {**context.params(), **(extra or {})}
    shown: list[str] = []
    for index, line in enumerate(lines):
        rest = len(lines) - index - 1
        more = [catalog.render(context.language, "coord.more", {"count": rest})] if rest else []
        candidate = joiner.join([*shown, line, *more])
        if not fits_menu_budget(
            catalog.render(context.language, key, {**base, "lines": candidate})
        ):
            left = len(lines) - index
            shown.append(catalog.render(context.language, "coord.more", {"count": left}))
            break
        shown.append(line)
    return joiner.join(shown)


def _today_lines(context: Context) -> list[str]:
    lines = []
    for n, shift in enumerate(_lookup(context).day_shifts(), start=1):
        key = "coord.line_waitlist" if shift.waitlisted else "coord.line"
        params = {
            "n": n,
            "title": gsm_safe(shift.title),
            "when": shift.when,
            "count": shift.confirmed,
            "need": shift.capacity,
            "left": shift.waitlisted,
        }
        lines.append(catalog.render(context.language, key, params))
    return lines


def _today(value: Parsed, context: Context, data: Data) -> Mapping[str, object]:
    return {"lines": _fitted(context, "coord.today", _today_lines(context))}


def _has_shifts(value: Parsed, context: Context, data: Data) -> bool:
    return bool(_lookup(context).day_shifts())


def _no_shifts(value: Parsed, context: Context, data: Data) -> bool:
    return not _lookup(context).day_shifts()


def _who(value: Parsed, context: Context, data: Data) -> Mapping[str, object]:
    found = _shift(value, context)
    if found is None:
        return {"n": value.n}
    n, shift = found
    people = [
        f"{short_name(p.name) or '?'} {p.number}" for p in _lookup(context).people_on(shift.id)
    ]
    params: dict[str, object] = {"n": n, "title": gsm_safe(shift.title), "when": shift.when}
    key = "coord.who"
    params["lines"] = _fitted(context, key, people, ", ", params)
    return params


def _anyone_on(value: Parsed, context: Context, data: Data) -> bool:
    found = _shift(value, context)
    return found is not None and bool(_lookup(context).people_on(found[1].id))


def _nobody_on(value: Parsed, context: Context, data: Data) -> bool:
    found = _shift(value, context)
    return found is not None and not _lookup(context).people_on(found[1].id)


def _gaps(context: Context) -> tuple[str, Sequence[Gap]]:
    when, gaps = _lookup(context).next_gaps()
    return when, [gap for gap in gaps if gap.missing > 0]


def _needs(value: Parsed, context: Context, data: Data) -> Mapping[str, object]:
    when, gaps = _gaps(context)
    lines = [
        catalog.render(
            context.language,
            "coord.need_line",
            {"item": gsm_safe(g.item), "missing": g.missing, "target": g.target, "unit": g.unit},
        )
        for g in gaps
    ]
    return {"when": when, "lines": _fitted(context, "coord.needs", lines, extra={"when": when})}


def _has_gaps(value: Parsed, context: Context, data: Data) -> bool:
    return bool(_gaps(context)[1])


def _no_gaps(value: Parsed, context: Context, data: Data) -> bool:
    return not _gaps(context)[1]


def _prepare_callout(value: Parsed, context: Context, data: Data) -> tuple[Effect, ...]:
    found = _shift(value, context)
    assert found is not None and value.need is not None  # the guard checked
    return (PrepareCallout(found[1].id, value.need, value.text),)


def _prepare_say(value: Parsed, context: Context, data: Data) -> tuple[Effect, ...]:
    return (PrepareSay(value.text),)


def _confirm(value: Parsed, context: Context, data: Data) -> tuple[Effect, ...]:
    return (ConfirmCode(value.text),)


def _n(value: Parsed, context: Context, data: Data) -> Mapping[str, object]:
    return {"n": value.n}


def _to_end(
    parse: Any,
    say: str | None = None,
    *,
    when: Any = None,
    params: Any = None,
    effects: Any = None,
) -> Transition:
    extra: dict[str, Any] = {}
    if when is not None:
        extra["when"] = when
    if params is not None:
        extra["params"] = params
    if effects is not None:
        extra["effects"] = effects
    return Transition(parse=parse, to=END, say=say, **extra)


_C = Command
COMMANDS = Flow(
    name="coordinator",
    start="command",
    states=(
        State(
            name="command",
            prompt="coord.help",
            reprompt=None,  # not a command: the volunteer conversation takes the text
            transitions=(
                _to_end(_is(_C.HELP), "coord.help"),
                _to_end(_is(_C.TODAY), "coord.today", when=_has_shifts, params=_today),
                _to_end(_is(_C.TODAY), "coord.today_none", when=_no_shifts),
                _to_end(_is(_C.WHO), "coord.who", when=_anyone_on, params=_who),
                _to_end(_is(_C.WHO), "coord.who_none", when=_nobody_on, params=_who),
                _to_end(_is(_C.WHO), "coord.no_shift", when=_no_shift, params=_n),
                _to_end(_is(_C.WHO, valid=False), "coord.usage_who"),
                _to_end(_is(_C.NEEDS), "coord.needs", when=_has_gaps, params=_needs),
                _to_end(_is(_C.NEEDS), "coord.needs_none", when=_no_gaps),
                _to_end(_is(_C.CALLOUT), when=_has_shift, effects=_prepare_callout),
                _to_end(_is(_C.CALLOUT), "coord.no_shift", when=_no_shift, params=_n),
                _to_end(_is(_C.CALLOUT, valid=False), "coord.usage_callout"),
                _to_end(_is(_C.SAY), effects=_prepare_say),
                _to_end(_is(_C.SAY, valid=False), "coord.usage_say"),
                _to_end(_is(_C.CONFIRM), effects=_confirm),
            ),
        ),
    ),
)


def step(context: Context, text: str) -> Outcome | None:
    """The coordinator's command ``text`` as an outcome, or None when it is not one."""
    return COMMANDS.answer(text, context, {})
