"""Global keywords, checked before any flow: the opt-out family, opt-in, HELP, JOIN, LANG,
FORGET and the member commands.

A keyword is the whole message (case, accents and surrounding punctuation ignored). Opt-out
also accepts consent withdrawal in plain words ("please stop texting me", "unsubscribe me",
"no me escriban mas", "मैसेज मत भेजो"), as US rules require since April 2025.
Pure; imports only ``flows.parsing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from flows.parsing import contains_phrase, phrase_set, tokens


class Intent(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"
    JOIN = "join"
    LANG = "lang"
    SHIFTS = "shifts"
    MORE = "more"
    MY = "my"
    DROP = "drop"
    IN = "in"
    OUT = "out"
    PAUSE = "pause"
    RESUME = "resume"
    GIVE = "give"
    DONE = "done"
    FORGET = "forget"


# Carrier and Twilio opt-out words: honoured as the whole message.
STOP_WORDS = phrase_set(
    [
        "stop",
        "stopall",
        "stop all",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "optout",
        "opt out",
        "revoke",
        "parar",
        "alto",
        "baja",
        "बंद",
        "रोको",
        "रुको",
    ]
)
START_WORDS = phrase_set(["start", "unstop", "subscribe"])
# The only yes-words that re-subscribe an opted-out number (DESIGN.md: YES while opted out);
# looser ones ("ok", "sure", "y") are too easy to send by accident.
OPT_IN_YES_WORDS = phrase_set(["yes", "si", "sí", "हाँ", "हां"])
HELP_WORDS = phrase_set(["help", "info", "help me", "ayuda", "मदद"])
JOIN_WORDS = phrase_set(["join", "unirme", "unir", "जुड़ें"])
LANG_WORDS = phrase_set(["lang", "language", "idioma", "भाषा"])
SHIFTS_WORDS = phrase_set(["shifts", "shift", "turnos", "turno", "शिफ्ट"])
MORE_WORDS = phrase_set(["more", "mas", "और"])
MY_WORDS = phrase_set(["my", "mine", "my shifts", "mis turnos", "mis", "मेरे"])
DROP_WORDS = phrase_set(["drop", "soltar", "dejar", "छोड़ें"])
IN_WORDS = phrase_set(["in", "check in", "checkin", "llegue", "entrada", "पहुंचा", "पहुँचा"])
OUT_WORDS = phrase_set(["out", "check out", "checkout", "salida", "गया"])
PAUSE_WORDS = phrase_set(["pause", "pausa", "break", "रुकें"])
GIVE_WORDS = phrase_set(["give", "donate", "needs", "dar", "donar", "दान"])
DONE_WORDS = phrase_set(["done", "delivered", "dropped off", "listo", "entregado", "हो गया"])
RESUME_WORDS = phrase_set(["resume", "unpause", "reanudar", "seguir", "फिर से"])
# Erasure ("delete my number" stays an opt-out: it is one in plain words).
FORGET_WORDS = phrase_set(
    [
        "forget",
        "forget me",
        "erase me",
        "erase my data",
        "delete my data",
        "olvidame",
        "borrar mis datos",
        "borra mis datos",
        "भूल जाओ",
        "मुझे भूल जाओ",
    ]
)

# Keywords that stand alone (filler words allowed around them).
PLAIN_KEYWORDS: tuple[tuple[Intent, frozenset[tuple[str, ...]]], ...] = (
    (Intent.START, START_WORDS),
    (Intent.HELP, HELP_WORDS),
    (Intent.JOIN, JOIN_WORDS),
    (Intent.SHIFTS, SHIFTS_WORDS),
    (Intent.MORE, MORE_WORDS),
    (Intent.MY, MY_WORDS),
    (Intent.IN, IN_WORDS),
    (Intent.OUT, OUT_WORDS),
    (Intent.RESUME, RESUME_WORDS),
    (Intent.DROP, DROP_WORDS),
    (Intent.PAUSE, PAUSE_WORDS),
    (Intent.GIVE, GIVE_WORDS),
    (Intent.DONE, DONE_WORDS),
    (Intent.FORGET, FORGET_WORDS),
)
# Keywords with an argument, and how many words it may have: "LANG es", "DROP 2",
# "PAUSE 2 weeks".
ARGUMENT_KEYWORDS: tuple[tuple[Intent, frozenset[tuple[str, ...]], int], ...] = (
    (Intent.LANG, LANG_WORDS, 1),
    (Intent.DROP, DROP_WORDS, 1),
    (Intent.PAUSE, PAUSE_WORDS, 2),
)

# Words that do not change the meaning of a short opt-out ("please stop now").
_FILLER = frozenset(
    tokens(
        "please pls plz now thanks thank you thx just ok okay hey hi hello sir maam "
        "por favor gracias ya ahora kripya"
    )
)

# Plain-words withdrawal of consent: any of these runs of whole words anywhere in the text.
WITHDRAWAL_PHRASES = phrase_set(
    [
        "stop texting",
        "stop messaging",
        "stop sending",
        "stop contacting",
        "stop the texts",
        "stop these texts",
        "stop texts",
        "stop the messages",
        "stop these messages",
        "stop text",
        "unsubscribe me",
        "unsubscribe",
        "opt me out",
        "opt out",
        "remove me from the list",
        "remove me from your list",
        "remove me from this list",
        "take me off the list",
        "take me off your list",
        "take me off this list",
        "remove my number",
        "take my number off",
        "stop it",
        "stop msgs",
        "stop sms",
        "stop messages",
        "quit texting",
        "quit messaging",
        "wrong number",
        "dont text me",
        "do not text me",
        "dont message me",
        "do not message me",
        "dont contact me",
        "do not contact me",
        "no more texts",
        "no more messages",
        "leave me alone",
        "delete my number",
        "lose my number",
        # Spanish
        "no me escribas",
        "no me escriban",
        "no me envies",
        "no me envien",
        "no me manden",
        "no me mandes",
        "deja de escribirme",
        "dejen de escribirme",
        "dejen de enviarme",
        "deja de enviarme",
        "darme de baja",
        "dame de baja",
        "denme de baja",
        "no mas mensajes",
        "cancelar suscripcion",
        "ya no quiero mensajes",
        "no quiero mensajes",
        "numero equivocado",
        # Hindi
        "मत भेजो",
        "मत भेजें",
        "मैसेज बंद",
        "बंद करो",
        "बंद करें",
        "संदेश बंद",
        "message mat bhejo",
        "band karo",
    ]
)


# Whole-message (after filler words) withdrawals: "remove me", but not "remove me from sunday".
WITHDRAWAL_MESSAGES = phrase_set(
    ["remove me", "take me off", "unsubscribe me", "stop please", "cancelar", "cancel me"]
)

# A negated request is not a withdrawal: "please don't stop texting me".
NEGATIONS = phrase_set(
    [
        "dont stop",
        "do not stop",
        "never stop",
        "dont unsubscribe",
        "do not unsubscribe",
        "dont remove",
        "do not remove",
        "no pares",
        "no dejes",
        "no me des de baja",
    ]
)


@dataclass(frozen=True)
class Keyword:
    intent: Intent
    argument: str = ""


def classify(text: str) -> Keyword | None:
    """The global keyword in ``text``, or None when the text is not one."""
    words = tokens(text)
    if not words:
        return None
    if is_opt_out(words):
        return Keyword(Intent.STOP)
    meaningful = _without_filler(words)
    for intent, vocabulary in PLAIN_KEYWORDS:
        if words in vocabulary or meaningful in vocabulary:
            return Keyword(intent)
    for intent, vocabulary, max_words in ARGUMENT_KEYWORDS:
        if words[:1] in vocabulary and len(words) <= 1 + max_words:
            return Keyword(intent, "".join(words[1:]))
    return None


def is_opt_out(words: tuple[str, ...]) -> bool:
    meaningful = _without_filler(words)
    if meaningful in STOP_WORDS or meaningful in WITHDRAWAL_MESSAGES:
        return True
    # Nothing but opt-out words, repeated or combined: "STOP STOP", "stop. quit."
    if meaningful and all((w,) in STOP_WORDS for w in meaningful):
        return True
    if contains_phrase(words, NEGATIONS):
        return False
    return contains_phrase(words, WITHDRAWAL_PHRASES)


def is_opt_in_yes(text: str) -> bool:
    """A YES that re-subscribes an opted-out number (only the plain word, per language)."""
    return _without_filler(tokens(text)) in OPT_IN_YES_WORDS


def _without_filler(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w for w in words if w not in _FILLER)
