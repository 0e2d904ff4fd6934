"""Keyword matching, and the global keywords checked before any flow: the opt-out family,
opt-in, HELP, JOIN, LANG and FORGET.

A keyword is the whole message (case, accents and surrounding punctuation ignored). Opt-out
also accepts consent withdrawal in plain words ("please stop texting me", "unsubscribe me",
"no me escriban mas", "मैसेज मत भेजो"), as US rules require since April 2025. Roster kinds
declare their own keywords (``KeywordSpec``) in their modules; ``flows.conversation`` matches
them all together. Pure; imports only ``flows.parsing``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from flows.parsing import contains_phrase, phrase_set, tokens


class Intent(StrEnum):
    """The global keywords' intents (roster kinds declare theirs: ``flows.shifts.ShiftIntent``)."""

    STOP = "stop"
    START = "start"
    HELP = "help"
    JOIN = "join"
    LANG = "lang"
    FORGET = "forget"


@dataclass(frozen=True)
class KeywordSpec:
    """A keyword: its intent and its words in every shipped language.

    ``plain``: the words alone (filler words allowed around them) are the keyword;
    ``arguments``: how many words may follow as its argument ("LANG es", "DROP 2",
    "PAUSE 2 weeks"); 0 for none.
    """

    intent: str
    words: frozenset[tuple[str, ...]]
    plain: bool = True
    arguments: int = 0


START_WORDS = phrase_set(["start", "unstop", "subscribe"])
# The only yes-words that re-subscribe an opted-out number (DESIGN.md: YES while opted out);
# looser ones ("ok", "sure", "y") are too easy to send by accident.
OPT_IN_YES_WORDS = phrase_set(["yes", "si", "sí", "हाँ", "हां"])
HELP_WORDS = phrase_set(["help", "info", "help me", "ayuda", "मदद"])
JOIN_WORDS = phrase_set(["join", "unirme", "unir", "जुड़ें"])
LANG_WORDS = phrase_set(["lang", "language", "idioma", "भाषा"])
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

# The global keywords, in the order they are tried (a phrase means one keyword only).
GLOBAL_KEYWORDS: tuple[KeywordSpec, ...] = (
    KeywordSpec(Intent.START, START_WORDS),
    KeywordSpec(Intent.HELP, HELP_WORDS),
    KeywordSpec(Intent.JOIN, JOIN_WORDS),
    KeywordSpec(Intent.FORGET, FORGET_WORDS),
    KeywordSpec(Intent.LANG, LANG_WORDS, plain=False, arguments=1),
)

# ----- opt-out ------------------------------------------------------------------------------
# Consent withdrawn "by any reasonable means" (US rules since April 2025), in three layers, each a
# table of phrases matched as whole words: (1) the carrier words, alone, repeated or with filler
# ("STOP", "stop please", "STOPP", "ARRET svp"); (2) whole messages that ask to stop ("remove
# me", "I want to stop", "wrong number"); (3) unless the text keeps texts coming ("don't stop
# texting me", "I can't stop by") or is about a shift and not our texts ("cancel my shift",
# "unsubscribe me from the sunday shift"): a request anywhere in it ("please stop texting me",
# "revoke consent", "take me off the list", "no me escriban", "मैसेज मत भेजो"), or a stop verb
# followed closely by a word for our texts ("end these texts", "no quiero recibir mensajes").
# The corpus in tests/flows/opt_out_corpus.py holds these rules to 250+ phrases.

# Carrier and Twilio opt-out words (US and Canada) and each shipped language's own.
CARRIER_WORDS = ("stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke")
STOP_WORDS = phrase_set(
    [
        *CARRIER_WORDS,
        "stop all",
        "opt out",
        # Canada: the French carrier words
        "arret",
        "arreter",
        "desabonner",
        "desabonnement",
        # Spanish
        "parar",
        "para",
        "alto",
        "baja",
        "basta",
        "cancelar",
        # Hindi
        "बंद",
        "रोको",
        "रुको",
        "स्टॉप",
        "अनसब्सक्राइब",
    ]
)

# Words that do not change the meaning of a short message ("please stop now", "ARRET svp").
_FILLER = frozenset(
    tokens(
        "please pls plz now thanks thank you thx just ok okay hey hi hello sir maam sorry "
        "por favor gracias ya ahora kripya svp sil vous plait merci"
    )
)

# Whole messages (after filler words, and after a wish: "I want to", "quiero") that withdraw
# consent; inside a longer text they may mean a shift ("remove me from sunday").
WITHDRAWAL_MESSAGES = phrase_set(
    [
        "stop",
        "stop all",
        "stop it",
        "unsubscribe",
        "unsubscribe me",
        "opt out",
        "optout",
        "quit",
        "remove me",
        "take me off",
        "cancel me",
        "wrong number",
        "numero equivocado",
        "parar",
        "darme de baja",
        "me desabonner",
        "desabonnez moi",
        "arreter",
        "बंद करो",
        "बंद करें",
        "बंद कर दो",
        "रोक दो",
        "रोकें",
        "band karo",
        "band kar do",
    ]
)
_WISHES = tuple(
    sorted(
        phrase_set(
            [
                "i want to",
                "i wanna",
                "i would like to",
                "id like to",
                "i wish to",
                "i need to",
                "i",
                "quiero",
                "quisiera",
                "je veux",
            ]
        ),
        key=len,
        reverse=True,
    )
)

# Texts that keep our texts coming, or talk about someone stopping something else: never an
# opt-out, whatever else they say ("don't stop texting me", "I can't stop by today").
NEGATIONS = phrase_set(
    [
        "dont stop",
        "do not stop",
        "never stop",
        "cant stop",
        "cannot stop",
        "can not stop",
        "couldnt stop",
        "ill stop",
        "i will stop",
        "dont want to stop",
        "dont unsubscribe",
        "do not unsubscribe",
        "dont remove",
        "do not remove",
        "dont cancel",
        "do not cancel",
        "no pares",
        "no paren",
        "no dejes",
        "no dejen",
        "no deje",
        "no puedo parar",
        "no me des de baja",
        "no me den de baja",
        "no quiero darme de baja",
        "narretez pas",
        "बंद मत",
        "मत रोको",
        "मत रोकना",
        "मत रोकिए",
    ]
)

# A text about a shift or a pledge that names neither our texts nor the list is about the
# shift: "unsubscribe me from the sunday shift", "quiero darme de baja del turno".
_ROSTER_WORDS = frozenset(tokens("shift shifts pledge pledges turno turnos promesa donacion शिफ्ट"))
_TEXTS_OR_LIST = frozenset(
    tokens(
        "text texts texting txt txts msg msgs message messages messaging sms notifications "
        "alerts list number mensaje mensajes textos lista numero escribirme enviarme mandarme "
        "मैसेज संदेश एसएमएस सूची लिस्ट नंबर"
    )
)

# A request to stop anywhere in a text (unless negated or about a shift).
WITHDRAWAL_PHRASES = phrase_set(
    [
        # our texts
        "stop texting",
        "stop messaging",
        "stop contacting",
        "stop sending",
        "quit texting",
        "quit messaging",
        "dont text me",
        "do not text me",
        "dont message me",
        "do not message me",
        "dont contact me",
        "do not contact me",
        "leave me alone",
        # the list and the number
        "unsubscribe",
        "unsubscribe me",
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
        "delete my number",
        "lose my number",
        # consent itself
        "revoke consent",
        "revoke my consent",
        "withdraw consent",
        "withdraw my consent",
        "no longer consent",
        "dont consent",
        "do not consent",
        "consent revoked",
        "consent withdrawn",
        # Spanish
        "no me escribas",
        "no me escriban",
        "no me envies",
        "no me envien",
        "no me manden",
        "no me mandes",
        "no me contacten",
        "darme de baja",
        "dame de baja",
        "denme de baja",
        "cancelar suscripcion",
        "cancelar mi suscripcion",
        "quitenme de la lista",
        "quitame de la lista",
        "sacame de la lista",
        "saquenme de la lista",
        "borren mi numero",
        "borra mi numero",
        "eliminen mi numero",
        "elimina mi numero",
        "revoco mi consentimiento",
        "retiro mi consentimiento",
        # Hindi
        "सहमति वापस",
    ]
)

# A stop verb, then at most MAX_GAP small words, then a word for our texts: "end these texts",
# "I don't want to get any more text messages", "dejen de enviarme mensajes". Only plural or
# verb forms count as texts, so "when does it end text me" is not a request.
MAX_GAP = 5
STOP_VERBS = phrase_set(
    [
        "stop",
        "end",
        "quit",
        "cancel",
        "halt",
        "no more",
        "dont want",
        "do not want",
        "no longer want",
        "dont send",
        "do not send",
        "deja de",
        "dejen de",
        "deje de",
        "dejar de",
        "para de",
        "paren de",
        "no quiero",
        "no mas",
        "basta de",
        "cancelar",
        "cancela",
        "cancelen",
        "arretez de",
        "arrete de",
        "arreter de",
        "plus de",
    ]
)
TEXT_WORDS = phrase_set(
    [
        "texts",
        "texting",
        "txts",
        "msgs",
        "messages",
        "messaging",
        "sms",
        "notifications",
        "alerts",
        "mensajes",
        "textos",
        "escribirme",
        "enviarme",
        "mandarme",
        "contactarme",
        "textearme",
    ]
)
_GAP_WORDS = frozenset(
    tokens(
        "the these those this all any more anymore your my me to get getting receive "
        "receiving sending text "
        "los las estos esos sus tus mas recibir me de todos todas ningun "
        "des les ces mes menvoyer recevoir "
        "भेजना भेजने से मेरा मेरी नाम मुझे और अब कोई bhejna bhejne se mera naam mujhe aur"
    )
)
# Hindi puts the verb last: a word for our texts or the list, then the request ("मैसेज मत
# भेजो", "मैसेज भेजना बंद करो", "मुझे सूची से हटा दो", "sms band karo").
HINDI_TEXT_WORDS = phrase_set(
    ["मैसेज", "मेसेज", "संदेश", "एसएमएस", "sms", "message", "messages", "msg", "msgs"]
)
HINDI_LIST_WORDS = phrase_set(["सूची", "लिस्ट", "नंबर", "list", "number"])
HINDI_STOP_VERBS = phrase_set(
    [
        "मत भेजो",
        "मत भेजें",
        "मत भेजिए",
        "मत भेजना",
        "न भेजें",
        "ना भेजें",
        "बंद",
        "बंद करो",
        "बंद करें",
        "नहीं चाहिए",
        "mat bhejo",
        "mat bhejna",
        "band karo",
        "band kar do",
        "nahi chahiye",
        "nahin chahiye",
    ]
)
HINDI_REMOVE_VERBS = phrase_set(["हटा दो", "हटाओ", "हटाएं", "हटा दें", "hata do", "hatao"])


@dataclass(frozen=True)
class Keyword:
    intent: str  # an ``Intent`` or a roster kind's intent
    argument: str = ""


def classify(text: str, keywords: Sequence[KeywordSpec] = GLOBAL_KEYWORDS) -> Keyword | None:
    """The keyword in ``text`` (opt-out first, then ``keywords``), or None when there is none."""
    words = tokens(text)
    if not words:
        return None
    if is_opt_out(words):
        return Keyword(Intent.STOP)
    meaningful = _without_filler(words)
    for spec in keywords:
        if spec.plain and (words in spec.words or meaningful in spec.words):
            return Keyword(spec.intent)
    for spec in keywords:
        if spec.arguments and words[:1] in spec.words and len(words) <= 1 + spec.arguments:
            return Keyword(spec.intent, "".join(words[1:]))
    return None


def is_opt_out(words: tuple[str, ...]) -> bool:
    """Does a message (its ``tokens``) withdraw consent? See the rules above."""
    meaningful = _without_filler(words)
    if not meaningful:
        return False
    if all(_is_stop_word(word) for word in meaningful):  # "STOP", "stop stop", "ARRET svp"
        return True
    if meaningful in STOP_WORDS:  # "stop all", "opt out"
        return True
    if meaningful in WITHDRAWAL_MESSAGES or _without_wish(meaningful) in WITHDRAWAL_MESSAGES:
        return True
    if contains_phrase(words, NEGATIONS):
        return False
    if _ROSTER_WORDS.intersection(words) and not _TEXTS_OR_LIST.intersection(words):
        return False
    return (
        contains_phrase(words, WITHDRAWAL_PHRASES)
        or _followed(words, STOP_VERBS, TEXT_WORDS)
        or _followed(words, HINDI_TEXT_WORDS, HINDI_STOP_VERBS)
        or _followed(words, HINDI_LIST_WORDS, HINDI_REMOVE_VERBS)
    )


def _is_stop_word(word: str) -> bool:
    """A stop word, or a carrier word with a letter typed twice or stretched ("STOPP",
    "stooop", "quiit"); only the carrier words, so "parra" (a surname) is not "para"."""
    return (word,) in STOP_WORDS or _squeezed(word) in _SQUEEZED_CARRIER_WORDS


def _squeezed(word: str) -> str:
    return "".join(ch for i, ch in enumerate(word) if i == 0 or ch != word[i - 1])


_SQUEEZED_CARRIER_WORDS = frozenset(_squeezed(word) for word in CARRIER_WORDS)


def is_opt_in_yes(text: str) -> bool:
    """A YES that re-subscribes an opted-out number (only the plain word, per language)."""
    return _without_filler(tokens(text)) in OPT_IN_YES_WORDS


def _without_filler(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w for w in words if w not in _FILLER)


def _without_wish(words: tuple[str, ...]) -> tuple[str, ...]:
    """``words`` less a leading "I want to", "I'd like to", "quiero" (the longest that fits)."""
    for wish in _WISHES:
        if words[: len(wish)] == wish and len(words) > len(wish):
            return words[len(wish) :]
    return words


def _followed(
    words: tuple[str, ...],
    first: frozenset[tuple[str, ...]],
    then: frozenset[tuple[str, ...]],
) -> bool:
    """A phrase of ``first``, then at most ``MAX_GAP`` small words (``_GAP_WORDS``), then a
    phrase of ``then``: "stop" … "texts" in "stop sending me all these texts"."""
    for start in range(len(words)):
        length = _phrase_at(words, start, first)
        if not length:
            continue
        at = start + length
        for gap in range(MAX_GAP + 1):
            if _phrase_at(words, at, then):
                return True
            if gap == MAX_GAP or at >= len(words) or words[at] not in _GAP_WORDS:
                break
            at += 1
    return False


def _phrase_at(words: tuple[str, ...], at: int, phrases: frozenset[tuple[str, ...]]) -> int:
    """How many words the longest phrase of ``phrases`` starting at ``at`` has (0: none)."""
    for length in range(_LONGEST_PHRASE, 0, -1):
        if at + length <= len(words) and words[at : at + length] in phrases:
            return length
    return 0


_LONGEST_PHRASE = max(
    len(phrase)
    for phrases in (STOP_VERBS, TEXT_WORDS, HINDI_TEXT_WORDS, HINDI_STOP_VERBS)
    for phrase in (*phrases, *HINDI_LIST_WORDS, *HINDI_REMOVE_VERBS)
)
