"""The README documents everything a user can set, run, text or call (datasette-style).

Each list is derived from the code (the settings source, the click group, the keyword
vocabularies, the Procfile, the Makefile, the Flask url_map), so adding one of those without
documenting it fails here. ``test_checks_report_omissions`` shows every check can fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
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
TWILIO_PAGE = ROOT / "docs" / "twilio.md"

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
    """The body of the ``## title...`` section (empty when there is none)."""
    for part in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
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


def undocumented_settings(text: str) -> list[str]:
    names = env_vars_read_by(ROOT / "service" / "config.py")
    return absent(section(text, "Configuration"), {f"`{name}`" for name in names})


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


def test_readme_has_the_two_habits(readme: str) -> None:
    assert "make run" in readme
    assert "make test" in readme


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_readme_is_complete(readme: str, name: str) -> None:
    assert CHECKS[name](readme) == []


def test_keyword_statuses_match_the_flows(readme: str) -> None:
    assert misreported_keywords(readme) == []


def test_every_endpoint_is_documented(readme: str, tmp_path: Path) -> None:
    endpoints = app_endpoints(tmp_path)
    assert {"POST /twilio/inbound", "GET /healthz"} <= endpoints
    # docs/twilio.md documents the routes it adds (the lead folds them into the docs pages)
    documented = section(readme, "Endpoints") + section(TWILIO_PAGE.read_text("utf-8"), "Endpoints")
    assert absent(documented, endpoints) == []


def test_cancel_is_documented_as_opt_out(readme: str) -> None:
    assert (keyword := classify("CANCEL")) is not None and keyword.intent is Intent.STOP
    stop_rows = [words for words, _ in keyword_rows(readme) if "STOP" in words]
    assert any("CANCEL" in words for words in stop_rows)
    assert "never be used for dropping" in section(readme, "Keywords")


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
    """Every check complains about a README that documents nothing."""
    assert CHECKS[name]("# HandsUp\n\n## Keywords\n\n## Configuration\n")


def test_keyword_status_check_can_fail() -> None:
    wrong = misreported_keywords(
        "## Keywords\n\n| text | meaning | status |\n|---|---|---|\n"
        "| `STOP` | opt out | coming |\n| `TELEPORT` | beam me up | available |\n"
    )
    assert len(wrong) == 2


DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
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
