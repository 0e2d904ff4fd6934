"""Global keywords (flows.keywords): the opt-out family first, then START, HELP, JOIN, LANG,
the shift keywords and the donation keywords GIVE and DONE.

DESIGN.md: matching is case-insensitive and ignores surrounding punctuation/whitespace;
STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE opt out; consent withdrawal
"by any reasonable means" (plain words, shipped languages) opts out too.
"""

from __future__ import annotations

import itertools

import pytest

from flows.commitments import CommitmentIntent
from flows.conversation import ARGUMENT_KEYWORDS, PLAIN_KEYWORDS, classify
from flows.donations import DONE_WORDS, GIVE_WORDS, DonationIntent
from flows.keywords import (
    GLOBAL_KEYWORDS,
    HELP_WORDS,
    JOIN_WORDS,
    LANG_WORDS,
    START_WORDS,
    STOP_WORDS,
    WITHDRAWAL_PHRASES,
    Intent,
    Keyword,
    is_opt_out,
)
from flows.parsing import tokens
from flows.shifts import ShiftIntent

DESIGN_OPT_OUT_WORDS = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "REVOKE",
]


def _cases(word: str) -> list[str]:
    return [
        word.upper(),
        word.lower(),
        word.capitalize(),
        word.swapcase()[:1] + word[1:].lower(),
        "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(word)),
    ]


DECORATIONS = [
    "{}",
    "  {}  ",
    "{}.",
    "{}!",
    "{}!!!",
    "{}?",
    '"{}"',
    "({})",
    "¡{}!",
    "...{}...",
    "\t{}\r\n",
    "\u00a0{}\u00a0",  # non-breaking spaces, as some phones send
    "{}\u200b",  # a trailing zero-width space
    "*{}*",
    "-{}-",
    "{} 🛑",
]


@pytest.mark.parametrize(
    "text",
    sorted(
        {
            decoration.format(variant)
            for word in DESIGN_OPT_OUT_WORDS
            for variant in _cases(word)
            for decoration in DECORATIONS
        }
    ),
)
def test_every_carrier_opt_out_word_in_any_case_and_punctuation_opts_out(text: str) -> None:
    assert classify(text) == Keyword(Intent.STOP)


@pytest.mark.parametrize(
    "text", ["\uff33\uff34\uff2f\uff30", "\uff53\uff54\uff4f\uff50", "\uff33\uff54\uff4f\uff50"]
)
def test_full_width_stop_opts_out(text: str) -> None:
    assert classify(text) == Keyword(Intent.STOP)


@pytest.mark.parametrize(
    "text",
    ["stop all", "STOP ALL", "Stop-All", "opt out", "Opt-Out", "OPT_OUT", "opt.out"],
)
def test_two_word_spellings_of_opt_out_words(text: str) -> None:
    assert classify(text) == Keyword(Intent.STOP)


@pytest.mark.parametrize(
    "text",
    [
        "Please STOP",
        "Stop please!",
        "STOP please!!",
        "stop pls",
        "plz stop",
        "stop now",
        "stop now please",
        "stop, thanks",
        "Stop. Thanks.",
        "Stop thank you",
        "ok stop",
        "OK thanks, STOP",
        "hey stop",
        "just stop",
        "unsubscribe please",
        "please cancel",
        "quit now",
        "Por favor, STOP",
        "stop gracias",
        "Alto por favor",
        "kripya stop",
    ],
)
def test_opt_out_word_with_filler_words_opts_out(text: str) -> None:
    assert classify(text) == Keyword(Intent.STOP)


@pytest.mark.parametrize(
    "text",
    [
        "STOP STOP",
        "stop stop stop",
        "STOP! STOP!",
        "Stop. Stop!!",
        "stop end",
        "QUIT STOP",
        "unsubscribe unsubscribe",
        "stop stop please",
    ],
)
def test_repeated_or_combined_opt_out_words_opt_out(text: str) -> None:
    # Annoyed people send STOP twice ("did it work?"); that is still a withdrawal.
    assert classify(text) == Keyword(Intent.STOP)


@pytest.mark.parametrize(
    "text",
    [
        # English
        "please stop texting me",
        "Please stop texting me.",
        "STOP TEXTING ME",
        "Stop texting me!!",
        "stop texting",
        "stop messaging me",
        "stop sending me these",
        "stop contacting me",
        "Stop the texts",
        "stop these messages please",
        "unsubscribe me",
        "Unsubscribe me please",
        "I'd like to opt out",
        "opt me out",
        "please remove me from this list",
        "remove me",
        "take me off your list",
        "don't text me",
        "Don\u2019t text me again",
        "do not text me",
        "dont message me anymore",
        "do not contact me",
        "No more texts please",
        "no more messages",
        "leave me alone",
        "delete my number",
        "lose my number",
        "Who is this? Please stop texting me",
        # Spanish
        "no me escriban mas",
        "No me escriban más",
        "no me escribas más por favor",
        "no me envies mensajes",
        "No me envíen nada",
        "por favor no me manden mensajes",
        "deja de escribirme",
        "Dejen de escribirme, gracias",
        "dejen de enviarme mensajes",
        "quiero darme de baja",
        "dame de baja",
        "no más mensajes",
        "Cancelar suscripción",
        "BAJA",
        "¡Alto!",
        "parar",
        # Hindi (Devanagari and romanised)
        "मैसेज मत भेजो",
        "मुझे मैसेज मत भेजो",
        "कृपया मैसेज मत भेजें",
        "मैसेज बंद करो",
        "बंद करो",
        "संदेश बंद",
        "बंद",
        "रोको",
        "message mat bhejo",
        "band karo",
    ],
)
def test_plain_words_withdrawal_of_consent_opts_out(text: str) -> None:
    assert classify(text) == Keyword(Intent.STOP)


@pytest.mark.parametrize(
    "text",
    [
        "I can't stop by today",
        "I cant stop by today, sorry",
        "I will stop by after work",
        "yesterday",
        "stopwatch",
        "stopped",
        "nonstop",
        "unstoppable",
        "the end of the road is flooded",
        "the end",
        "at the end of the street",
        "weekend",
        "ending at 5?",
        "cancel my shift",
        "can you cancel my shift",
        "I need to cancel",
        "cancelled",
        "I want to quit my job but I'll come",
        "quitting time",
        "revoked",
        "what happens if I text stop?",
        "bus stop on main st",
        "stop sign is down at 5th",
        "don't stop",
        "unsubscribed",
        "ending",
        "endless",
        "alto voltaje",  # Spanish: "high voltage"
        "baja california",
        "no",
        "yes",
        "",
        "   ",
        "!!!",
    ],
)
def test_ordinary_messages_are_not_opt_out(text: str) -> None:
    assert classify(text) != Keyword(Intent.STOP)


@pytest.mark.parametrize("text", ["START", "start", "Start!", " unstop ", "UNSTOP.", "subscribe"])
def test_start_words(text: str) -> None:
    assert classify(text) == Keyword(Intent.START)


@pytest.mark.parametrize("text", ["HELP", "help?", "Help!", "INFO", "info.", "¿Ayuda?", "मदद"])
def test_help_words(text: str) -> None:
    assert classify(text) == Keyword(Intent.HELP)


@pytest.mark.parametrize("text", ["JOIN", "join!", " Join ", "unirme", "जुड़ें"])
def test_join_words(text: str) -> None:
    assert classify(text) == Keyword(Intent.JOIN)


@pytest.mark.parametrize(
    ("text", "argument"),
    [
        ("LANG es", "es"),
        ("lang ES", "es"),
        ("Lang: es", "es"),
        ("LANG-es", "es"),
        ("LANG ES.", "es"),
        ("language en", "en"),
        ("idioma es", "es"),
        ("LANG hi", "hi"),
        ("भाषा hi", "hi"),
        ("LANG xx", "xx"),
        ("lang español", "espanol"),
        ("LANG", ""),
    ],
)
def test_lang_with_argument(text: str, argument: str) -> None:
    assert classify(text) == Keyword(Intent.LANG, argument)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("SHIFTS", ShiftIntent.SHIFTS),
        ("shift", ShiftIntent.SHIFTS),
        ("Turnos", ShiftIntent.SHIFTS),
        ("शिफ्ट", ShiftIntent.SHIFTS),
        ("MORE", ShiftIntent.MORE),
        ("mas", ShiftIntent.MORE),
        ("MY", CommitmentIntent.MY),
        ("my shifts", CommitmentIntent.MY),
        ("mis turnos", CommitmentIntent.MY),
        ("IN", ShiftIntent.IN),
        ("check-in", ShiftIntent.IN),
        ("OUT", ShiftIntent.OUT),
        ("check out", ShiftIntent.OUT),
        ("DROP", CommitmentIntent.DROP),
        ("PAUSE", ShiftIntent.PAUSE),
        ("pausa", ShiftIntent.PAUSE),
        ("RESUME", ShiftIntent.RESUME),
        ("reanudar", ShiftIntent.RESUME),
    ],
)
def test_shift_keywords(text: str, intent: Intent) -> None:
    for variant in _cases(text):
        for decoration in ("{}", " {}. ", "{}!", "*{}*", "\u00a0{}\u00a0"):
            assert classify(decoration.format(variant)) == Keyword(intent), variant
    assert classify(f"please {text} thanks") == Keyword(intent)  # filler words allowed


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("GIVE", DonationIntent.GIVE),
        ("donate", DonationIntent.GIVE),
        ("needs", DonationIntent.GIVE),
        ("dar", DonationIntent.GIVE),
        ("Donar", DonationIntent.GIVE),
        ("दान", DonationIntent.GIVE),
        ("DONE", DonationIntent.DONE),
        ("delivered", DonationIntent.DONE),
        ("dropped off", DonationIntent.DONE),
        ("dropped-off", DonationIntent.DONE),
        ("listo", DonationIntent.DONE),
        ("Entregado", DonationIntent.DONE),
        ("हो गया", DonationIntent.DONE),
    ],
)
def test_donation_keywords(text: str, intent: Intent) -> None:
    for variant in _cases(text):
        for decoration in ("{}", " {}. ", "{}!", "*{}*", "\u00a0{}\u00a0"):
            assert classify(decoration.format(variant)) == Keyword(intent), variant
    assert classify(f"please {text} thanks") == Keyword(intent)  # filler words allowed


@pytest.mark.parametrize(
    "text",
    [
        "give 5",
        "1 5",
        "5 kg weekly",
        "give me a call",
        "I'm done",
        "done deal",
        "all done now thanks",
        "what needs doing",
        "donated yesterday",
        "gaya",
        "गया",  # OUT in Hindi, not DONE
    ],
)
def test_donation_words_inside_a_sentence_are_no_donation_keyword(text: str) -> None:
    keyword = classify(text)
    assert keyword is None or keyword.intent not in (DonationIntent.GIVE, DonationIntent.DONE), (
        keyword
    )


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("DROP 2", Keyword(CommitmentIntent.DROP, "2")),
        ("drop #2", Keyword(CommitmentIntent.DROP, "2")),
        ("Drop 2.", Keyword(CommitmentIntent.DROP, "2")),
        ("soltar 1", Keyword(CommitmentIntent.DROP, "1")),
        ("PAUSE 2w", Keyword(ShiftIntent.PAUSE, "2w")),
        ("pause 2 weeks", Keyword(ShiftIntent.PAUSE, "2weeks")),
        ("PAUSE 3 days", Keyword(ShiftIntent.PAUSE, "3days")),
        ("pausa 2 semanas", Keyword(ShiftIntent.PAUSE, "2semanas")),
        ("pause soon", Keyword(ShiftIntent.PAUSE, "soon")),
    ],
)
def test_shift_keywords_with_an_argument(text: str, keyword: Keyword) -> None:
    assert classify(text) == keyword


@pytest.mark.parametrize(
    "text",
    [
        "drop 1 2",
        "pause for two weeks",
        "I'm in",
        "in a minute",
        "out of town",
        "more shifts please",
        "my name is Ana",
        "cancel my shift",
        "dropping by later",
        "resume tomorrow please ok",
    ],
)
def test_shift_words_inside_a_sentence_are_no_keyword(text: str) -> None:
    assert classify(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "lang es en",
        "my lang is es",
        "slang",
        "hello",
        "shifts please tell me",
        "yes",
        "YES",
        "si",
        "no",
        "y",
        "starting at 5",
        "start time?",
        "joined",
        "information",
        "1",
        "1 5",
        "5 kg",
        "2 3 kg weekly",
        "weekly",
        "giving",
        "donation",
        "i have done it",
    ],
)
def test_other_messages_are_no_global_keyword(text: str) -> None:
    assert classify(text) is None


@pytest.mark.parametrize("text", ["", " ", "\n\t", "...", "🙂", "\u200b"])
def test_empty_or_symbol_only_text_is_no_keyword(text: str) -> None:
    assert classify(text) is None


def test_opt_out_wins_over_other_keywords_in_the_same_message() -> None:
    assert classify("help, stop texting me") == Keyword(Intent.STOP)
    assert classify("lang es stop texting me") == Keyword(Intent.STOP)


def test_cancel_is_an_opt_out_word_and_never_a_shift_drop() -> None:
    # DESIGN: CANCEL is a carrier opt-out word, so it is never used for dropping a shift.
    assert ("cancel",) in STOP_WORDS
    assert classify("CANCEL") == Keyword(Intent.STOP)


def test_is_opt_out_takes_tokens() -> None:
    assert is_opt_out(tokens("Stop!"))
    assert is_opt_out(("please", "stop"))
    assert not is_opt_out(())
    assert not is_opt_out(("please",))
    assert not is_opt_out(tokens("thank you"))


def test_vocabularies_are_normalised_and_do_not_overlap() -> None:
    sets = {
        "stop": STOP_WORDS,
        "start": START_WORDS,
        "help": HELP_WORDS,
        "join": JOIN_WORDS,
        "lang": LANG_WORDS,
    }
    for name, vocabulary in {**sets, "withdrawal": WITHDRAWAL_PHRASES}.items():
        assert vocabulary, name
        for phrase in vocabulary:
            assert phrase, f"{name}: an empty phrase would match everything"
            assert tokens(" ".join(phrase)) == phrase, f"{name}: {phrase} is not normalised"
    for (a, first), (b, second) in itertools.combinations(sets.items(), 2):
        assert not first & second, f"{a} and {b} share {first & second}"
    # every keyword vocabulary, shift and donation ones included: one meaning per phrase
    # the intents are StrEnum members typed as str: str() is their value
    every = {"stop": STOP_WORDS, **{str(intent): words for intent, words in PLAIN_KEYWORDS}}
    every |= {f"{intent} n": words for intent, words, _ in ARGUMENT_KEYWORDS}
    for name, vocabulary in every.items():
        for phrase in vocabulary:
            assert tokens(" ".join(phrase)) == phrase, f"{name}: {phrase} is not normalised"
    for (a, first), (b, second) in itertools.combinations(every.items(), 2):
        if a.split()[0] == b.split()[0]:
            continue  # "DROP" and "DROP n", "PAUSE" and "PAUSE 2w": the same keyword
        assert not first & second, f"{a} and {b} share {first & second}"
    assert tokens("GIVE") in GIVE_WORDS
    assert tokens("DONE") in DONE_WORDS
    for word in DESIGN_OPT_OUT_WORDS:
        assert tokens(word) in STOP_WORDS
    assert tokens("START") in START_WORDS
    assert tokens("UNSTOP") in START_WORDS
    assert {tokens("HELP"), tokens("INFO")} <= HELP_WORDS


@pytest.mark.parametrize(
    "text",
    [
        "stop it",
        "Stop msgs",
        "stop sms",
        "quit texting me",
        "wrong number",
        "Remove me",
        "take me off the list please",
        "remove me from your list",
        "cancelar",
        "ya no quiero mensajes",
        "numero equivocado",
    ],
)
def test_more_plain_withdrawals_opt_out(text: str) -> None:
    assert classify(text) == Keyword(Intent.STOP)


@pytest.mark.parametrize(
    "text",
    [
        "you can take me off the roster for sunday",
        "Remove me from sunday shift please",
        "please take me off saturday's shift",
        "please don't unsubscribe me",
        "don't stop texting me",
        "never stop texting me",
        "no pares de escribirme",
    ],
)
def test_roster_changes_and_negations_are_not_opt_outs(text: str) -> None:
    assert classify(text) is None


@pytest.mark.parametrize("text", ["help me", "HELP please", "Start please", "join please"])
def test_keywords_with_filler_words(text: str) -> None:
    keyword = classify(text)
    assert keyword is not None and keyword.intent in (Intent.HELP, Intent.START, Intent.JOIN)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("YES", True),
        ("si", True),
        ("Sí", True),
        ("yes please", True),
        ("ok", False),
        ("y", False),
        ("sure", False),
        ("yess", False),
    ],
)
def test_only_a_plain_yes_re_subscribes(text: str, expected: bool) -> None:
    from flows.keywords import is_opt_in_yes

    assert is_opt_in_yes(text) is expected


def test_flows_keywords_declares_only_the_global_family() -> None:
    """Roster keywords are declared by their kind's module (a new one touches no other)."""
    assert {intent.value for intent in Intent} == {
        "stop",
        "start",
        "help",
        "join",
        "lang",
        "forget",
    }
    assert {spec.intent for spec in GLOBAL_KEYWORDS} <= set(Intent)
    assert {ShiftIntent.SHIFTS, DonationIntent.GIVE, CommitmentIntent.MY} <= {
        intent for intent, _ in PLAIN_KEYWORDS
    }
