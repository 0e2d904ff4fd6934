"""The docs document everything a user can set, run, text or call (datasette-style), and
say nothing false about what exists.

The docs are the README (a front door of at most 12 kB), every page of ``docs/`` and
``SECURITY.md``, read as one text. Each list is derived from the code (the settings source,
the click group, the keyword vocabularies, the Procfile, the Makefile, the Flask url_map), so
adding one of those without documenting it fails here. A sentence that says something is "not
built" or "planned" must be listed in ``NOT_YET`` with what it names, and fails once that
exists. ``test_checks_report_omissions`` shows every check can fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from flows import catalog, keywords
from flows.conversation import classify
from flows.keywords import Intent
from flows.parsing import contains_phrase, parse_yes, tokens
from service.app import create_app
from service.cli import main
from service.communities import demo
from service.config import Environment, Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_MAX_BYTES = 12 * 1024
# The pages the README must link (issue 17): configuration, CLI reference, keywords, sending and
# delivery, privacy and security, deployment, benchmarks, architecture.
FRONT_DOOR_LINKS = (
    "docs/configuration.md",
    "docs/cli.md",
    "docs/keywords.md",
    "docs/sending.md",
    "docs/privacy-and-security.md",
    "docs/deployment.md",
    "docs/benchmarks.md",
    "docs/architecture.md",
)


def documents() -> list[Path]:
    """The README, every page of docs/ (other areas add theirs there) and SECURITY.md."""
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    return pages + [path for path in [ROOT / "SECURITY.md"] if path.exists()]


def all_docs() -> str:
    return "\n\n".join(path.read_text(encoding="utf-8") for path in documents())


TWILIO_PAGE = ROOT / "docs" / "sending.md"  # its "What Twilio sends" part

# The keyword table of DESIGN.md (the product contract), row by row, implemented or not.
DESIGN_TABLE = (
    ("JOIN",),
    ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"),
    ("START", "UNSTOP", "YES"),
    ("HELP", "INFO"),
    ("SHIFTS",),
    ("GIVE",),
    ("MY",),
    ("DROP",),
    ("IN", "OUT"),
    ("DONE",),
    ("YES", "NO"),
    ("PAUSE", "RESUME"),
    ("LANG",),
    ("FORGET",),
)
DESIGN_KEYWORDS = tuple(dict.fromkeys(word for row in DESIGN_TABLE for word in row))
VOCABULARIES = {
    "STOP_WORDS": keywords.STOP_WORDS,
    "START_WORDS": keywords.START_WORDS,
    "HELP_WORDS": keywords.HELP_WORDS,
    "JOIN_WORDS": keywords.JOIN_WORDS,
    "LANG_WORDS": keywords.LANG_WORDS,
}
ENV_LOOKUP = re.compile(
    r"""\b(?:get|getenv)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|\benviron\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]"""
)
STATUSES = ("available", "coming")


# --- what the code defines ---------------------------------------------------------------


def env_vars_read_by(path: Path) -> set[str]:
    """Quoted UPPER_CASE names passed to get(...)/getenv(...) or environ[...] in a source file."""
    return {a or b for a, b in ENV_LOOKUP.findall(path.read_text(encoding="utf-8"))}


def cli_commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, click.Command]]:
    """Every leaf command under ``group`` as ("db upgrade", command)."""
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from cli_commands(command, path)
        else:
            yield " ".join(path), command


def command_words(command: click.Command) -> list[str]:
    """The long options and argument names a synopsis of ``command`` must show."""
    words: list[str] = []
    for param in command.params:
        if isinstance(param, click.Option):
            words.extend(opt for opt in param.opts if opt.startswith("--"))
        elif isinstance(param, click.Argument):
            words.append(param.human_readable_name)
    return words


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text(encoding="utf-8").splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and ":" in line)


def make_targets() -> list[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^\.PHONY:(.*)$", makefile, re.MULTILINE)
    assert match, "the Makefile has no .PHONY line"
    return match.group(1).split()


def app_endpoints(instance_path: Path) -> set[str]:
    """``METHOD /path`` for every route but /static (building the app opens no connection)."""
    settings = Settings(
        env=Environment.TEST, redis_url="redis://127.0.0.1:1/0", instance_path=instance_path
    )
    app = create_app(settings)
    try:
        return {
            f"{method} {rule.rule}"
            for rule in app.url_map.iter_rules()
            if not rule.rule.startswith("/static")
            for method in sorted(rule.methods or ())
            if method not in ("HEAD", "OPTIONS")
        }
    finally:
        app.extensions["handsup"].engine.dispose()


# --- what the README says ----------------------------------------------------------------


def section(text: str, title: str) -> str:
    """The body of the ``# title...`` or ``## title...`` section (empty when there is none):
    a page's own title (``# Keywords`` in docs/keywords.md) or a section of a page."""
    for part in re.split(r"^##? ", text, flags=re.MULTILINE)[1:]:
        if part.startswith(title):
            return part
    return ""


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.fullmatch(r"[|\s:-]+", line):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def keyword_rows(text: str) -> list[tuple[list[str], str]]:
    """(keywords in the first cell, status) for each row of the Keywords table."""
    rows = []
    for cells in table_rows(section(text, "Keywords")):
        status = cells[-1].lower()
        if status in STATUSES:
            words = [code.split()[0] for code in re.findall(r"`([^`]+)`", cells[0])]
            rows.append((words, status))
    return rows


def absent(text: str, needles: Iterator[str] | list[str] | set[str]) -> list[str]:
    return sorted(needle for needle in needles if needle not in text)


# --- the checks: each returns what is missing or wrong -----------------------------------


def documented_settings(text: str) -> set[str]:
    """Names in the first cell of any table row (the configuration tables of every page)."""
    return {
        name for cells in table_rows(text) for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])
    }


def undocumented_settings(text: str) -> list[str]:
    names = env_vars_read_by(ROOT / "service" / "config.py")
    return sorted(names - documented_settings(text))


def undocumented_test_settings(text: str) -> list[str]:
    return absent(text, {f"`{n}`" for n in env_vars_read_by(ROOT / "tests" / "conftest.py")})


def undocumented_commands(text: str) -> list[str]:
    missing = []
    lines = [line.strip() for line in text.splitlines()]
    for path, command in cli_commands(main):
        synopses = [line for line in lines if re.match(rf"handsup {path}(\s|$)", line)]
        if not synopses:
            missing.append(f"handsup {path}")
        elif not any(all(word in line for word in command_words(command)) for line in synopses):
            missing.append(f"handsup {path} {' '.join(command_words(command))}")
    return missing


def undocumented_design_keywords(text: str) -> list[str]:
    documented = {word for words, _ in keyword_rows(text) for word in words}
    return [keyword for keyword in DESIGN_KEYWORDS if keyword not in documented]


def undocumented_vocabulary(text: str) -> list[str]:
    words = tokens(section(text, "Keywords"))
    return sorted(
        f"{name}: {' '.join(phrase)}"
        for name, vocabulary in VOCABULARIES.items()
        for phrase in vocabulary
        if not contains_phrase(words, frozenset({phrase}))
    )


def misreported_keywords(text: str) -> list[str]:
    """Rows marked available whose words the flows do not answer, or coming rows they do."""
    wrong = []
    for words, status in keyword_rows(text):
        for word in words:
            recognised = classify(word) is not None
            if status == "available" and not (recognised or parse_yes(word) is not None):
                wrong.append(f"{word} is marked available but flows.keywords does not know it")
            if status == "coming" and recognised:
                wrong.append(f"{word} is marked coming but flows.keywords answers it")
    return wrong


def undocumented_languages(text: str) -> list[str]:
    return absent(section(text, "Keywords"), {f"`{code}`" for code in catalog.languages()})


def undocumented_processes(text: str) -> list[str]:
    processes = procfile()
    names = absent(text, {f"`{name}`" for name in processes})
    lines = absent(text, {f"{name}:{command}" for name, command in processes.items()})
    return names + lines


def undocumented_make_targets(text: str) -> list[str]:
    return absent(text, {f"make {target}" for target in make_targets()})


def undocumented_demo(text: str) -> list[str]:
    return absent(text, {demo.DEMO_SLUG, demo.DEMO_NUMBER, demo.DEMO_EMAIL, demo.DEMO_PASSWORD})


CHECKS: dict[str, Callable[[str], list[str]]] = {
    "settings": undocumented_settings,
    "test settings": undocumented_test_settings,
    "commands": undocumented_commands,
    "design keywords": undocumented_design_keywords,
    "vocabulary": undocumented_vocabulary,
    "languages": undocumented_languages,
    "processes": undocumented_processes,
    "make targets": undocumented_make_targets,
    "demo": undocumented_demo,
}


# --- tests -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def docs() -> str:
    return all_docs()


def test_readme_has_the_two_habits(readme: str) -> None:
    assert "make run" in readme
    assert "make test" in readme


def test_readme_is_a_front_door(readme: str) -> None:
    """At most 12 kB, with the way to every reference page."""
    assert len(readme.encode("utf-8")) <= README_MAX_BYTES
    assert [page for page in FRONT_DOOR_LINKS if f"]({page})" not in readme] == []
    assert "## A 60-second tour" in readme
    images = re.findall(r"!\[[^\]]+\]\((docs/images/[\w.-]+\.png)\)", readme)
    assert len(images) >= 2  # the phone console and a text conversation
    assert all((ROOT / image).stat().st_size < 150_000 for image in images)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_docs_are_complete(docs: str, name: str) -> None:
    assert CHECKS[name](docs) == []


def test_keyword_statuses_match_the_flows(docs: str) -> None:
    assert misreported_keywords(docs) == []


def test_every_endpoint_is_documented(docs: str, tmp_path: Path) -> None:
    endpoints = app_endpoints(tmp_path)
    assert {"POST /twilio/inbound", "GET /healthz", "GET /favicon.ico"} <= endpoints
    assert absent(docs, endpoints) == []


def test_cancel_is_documented_as_opt_out(docs: str) -> None:
    assert (keyword := classify("CANCEL")) is not None and keyword.intent is Intent.STOP
    stop_rows = [words for words, _ in keyword_rows(docs) if "STOP" in words]
    assert any("CANCEL" in words for words in stop_rows)
    assert "never be used for dropping" in section(docs, "Keywords")


def test_extractors_find_what_they_look_for() -> None:
    """Guards against a check passing because its list came out empty."""
    assert {"DATABASE_URL", "SECRET_KEY", "HANDSUP_ENV", "PORT"} <= env_vars_read_by(
        ROOT / "service" / "config.py"
    )
    assert {"db upgrade", "simulate", "worker"} <= dict(cli_commands(main)).keys()
    assert {"release", "web", "worker"} <= procfile().keys()
    assert {"run", "test", "lint"} <= set(make_targets())
    assert ("stop",) in keywords.STOP_WORDS and ("en",) not in keywords.STOP_WORDS
    assert {"en", "es"} <= set(catalog.languages())


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_checks_report_omissions(name: str) -> None:
    """Every check complains about docs that document nothing."""
    assert CHECKS[name]("# HandsUp\n\n## Keywords\n\n## Configuration\n")


def test_keyword_status_check_can_fail() -> None:
    wrong = misreported_keywords(
        "## Keywords\n\n| text | meaning | status |\n|---|---|---|\n"
        "| `STOP` | opt out | coming |\n| `TELEPORT` | beam me up | available |\n"
    )
    assert len(wrong) == 2


DOCUMENTS = documents()
LOCAL_LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_local_links_resolve(document: Path) -> None:
    links = LOCAL_LINK.findall(document.read_text(encoding="utf-8"))
    missing = [link for link in links if not (document.parent / link).exists()]
    assert missing == []


def test_the_architecture_page_names_files_that_exist() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:flows|service|workers|tests)/[\w/]+\.py)", page))
    named -= {"flows/carpool.py", "service/rosters/carpool.py"}  # the walkthrough's new files
    assert len(named) >= 20
    assert sorted(p for p in named if not (ROOT / p).exists()) == []


def test_readme_links_the_architecture_page() -> None:
    assert "](docs/architecture.md)" in README.read_text(encoding="utf-8")


# --- status lines: nothing that exists is called "not built" or "planned" ------------------

NOT_BUILT = re.compile(
    r"\b(?:not (?:yet )?built|not yet (?:available|supported|implemented)|not implemented"
    r"|planned(?! (?:again|for)\b)|coming soon|no \w+ yet)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class NotYet:
    """What a "not built" sentence names: the sentence is false once any of it exists."""

    commands: str = ""  # a regex over the ``handsup`` command paths
    settings: tuple[str, ...] = ()  # environment variables read by service/config.py
    endpoints: tuple[str, ...] = ()  # "METHOD /path"
    code: str = ""  # a regex over the source of flows/, service/ and workers/


# Every sentence of the docs that says something is not there yet, by a phrase of it (lower
# case), with what it names.
NOT_YET: dict[str, NotYet] = {
    # Twilio setup: a WhatsApp sender is given only when the community is created.
    "there is no command yet to add it": NotYet(commands=r"whatsapp(?!-templates)|channel"),
}


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def status_sentences(text: str) -> list[str]:
    """The sentences that say something is not built, planned or not there yet."""
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z`*(\[])", flat(text))
    return [sentence for sentence in sentences if NOT_BUILT.search(sentence)]


def unlisted_status_sentences(text: str, not_yet: dict[str, NotYet] = NOT_YET) -> list[str]:
    return [
        sentence
        for sentence in status_sentences(text)
        if not any(phrase in sentence.lower() for phrase in not_yet)
    ]


def source_text() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8")
        for folder in ("flows", "service", "workers")
        for path in sorted((ROOT / folder).rglob("*.py"))
    )


def built_but_said_not(
    text: str, endpoints: set[str], not_yet: dict[str, NotYet] = NOT_YET
) -> list[str]:
    """Listed sentences whose feature exists (the sentence is false), or that no page says."""
    commands = [path for path, _ in cli_commands(main)]
    settings = env_vars_read_by(ROOT / "service" / "config.py")
    source = source_text()
    lowered = flat(text).lower()
    wrong = []
    for phrase, names in not_yet.items():
        if phrase not in lowered:
            wrong.append(f"no page says {phrase!r} any more: remove it from NOT_YET")
            continue
        exists = [
            *(f"handsup {c}" for c in commands if names.commands and re.search(names.commands, c)),
            *(s for s in names.settings if s in settings),
            *(e for e in names.endpoints if e in endpoints),
            *(
                [f"code matching {names.code!r}"]
                if names.code and re.search(names.code, source)
                else []
            ),
        ]
        if exists:
            wrong.append(f"{phrase!r} but {', '.join(exists)} exists: the sentence is false")
    return wrong


def test_every_not_built_sentence_is_listed(docs: str) -> None:
    assert unlisted_status_sentences(docs) == []


def test_nothing_said_to_be_planned_exists(docs: str, tmp_path: Path) -> None:
    assert built_but_said_not(docs, app_endpoints(tmp_path)) == []


def test_the_status_checks_can_fail(tmp_path: Path) -> None:
    false = "The coordinator console is planned but not built yet. Reminders are planned again."
    assert unlisted_status_sentences(false) == [
        "The coordinator console is planned but not built yet."
    ]
    said = "The demo is not built. Health checks are coming soon. Sam is planned. No web yet."
    wrong = built_but_said_not(
        said,
        app_endpoints(tmp_path),
        {
            "the demo is not built": NotYet(commands=r"^demo$"),
            "health checks are coming soon": NotYet(endpoints=("GET /healthz",)),
            "sam is planned": NotYet(settings=("DATABASE_URL",)),
            "no web yet": NotYet(code=r"def create_app"),
            "gone from every page": NotYet(),
        },
    )
    assert len(wrong) == 5, wrong


def test_the_twilio_page_lists_every_error_code_the_code_treats_specially() -> None:
    from service.sending.delivery import CODES

    rows = table_rows(section(TWILIO_PAGE.read_text("utf-8"), "Delivery outcomes"))
    documented = {int(row[0]): row for row in rows if row[0].isdigit()}
    assert sorted(documented) == sorted(CODES)
    for code, known in CODES.items():
        assert documented[code][1] == known.reason, code


def test_the_twilio_page_lists_every_parameter_handsup_acts_on() -> None:
    from service.web.twilio_form import ACTED_ON

    page = section(TWILIO_PAGE.read_text("utf-8"), "Inbound messages")
    assert absent(page, {f"`{name}`" for name in ACTED_ON}) == []
