"""The ``handsup`` command as people type it (issue 17, item 6): files as spreadsheets save
them, a shift in the past, a need typed twice, a password on a terminal, a database not yet
upgraded or not reachable, and an example in every ``--help``."""

from __future__ import annotations

import getpass
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import clock, migrate
from service.cli import common, main
from service.communities.accounts import verify_password
from service.models import Coordinator, Need, Shift, Volunteer
from tests.service.conftest import Cli, one_line_error
from tests.service.test_cli import community_args
from tests.test_docs import cli_commands


@pytest.fixture
def riverside(cli: Cli) -> str:
    result = cli(*community_args(slug="riverside", number="+12025550170"))
    assert result.exit_code == 0, result.output
    return "riverside"


def names(db: Session) -> list[str]:
    db.expire_all()
    return sorted(name or "" for name in db.scalars(select(Volunteer.name)))


# --- import-volunteers: the encodings spreadsheets save ---------------------------------------

CSV = "name,phone,language\nJosé Muñoz,+12025550190,es\nRenée Côté,2025550191,en\n"


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16", "utf-8-sig", "utf-16-le", "utf-8"])
def test_import_reads_the_encodings_spreadsheets_save(
    cli: Cli, riverside: str, db: Session, tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / f"volunteers-{encoding}.csv"
    path.write_bytes(CSV.replace("\n", "\r\n").encode(encoding))
    result = cli("import-volunteers", "--community", riverside, str(path))
    assert result.exit_code == 0, result.output
    assert "imported 2 new" in result.stdout
    assert names(db) == ["José Muñoz", "Renée Côté"]


def test_a_windows_1252_file_with_one_accented_name(
    cli: Cli, riverside: str, db: Session, tmp_path: Path
) -> None:
    """A short file is where detectors guess a neighbour code page ("Muńoz" in cp1250)."""
    path = tmp_path / "one.csv"
    path.write_bytes("name,phone\nJosé Muñoz,+12025550190\n".encode("cp1252"))
    assert cli("import-volunteers", "--community", riverside, str(path)).exit_code == 0
    assert names(db) == ["José Muñoz"]


def test_a_file_that_is_not_text_is_one_line(cli: Cli, riverside: str, tmp_path: Path) -> None:
    path = tmp_path / "photo.csv"
    path.write_bytes(bytes(range(256)) * 8)
    line = one_line_error(cli("import-volunteers", "--community", riverside, str(path)))
    assert "photo.csv" in line and "CSV UTF-8" in line


def test_a_utf8_marked_file_that_is_not_utf8_is_one_line(
    cli: Cli, riverside: str, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"\xef\xbb\xbfname,phone\nJos\xe9,+12025550190\n")
    line = one_line_error(cli("import-volunteers", "--community", riverside, str(path)))
    assert "says it is UTF-8 but is not" in line
    assert "codec" not in line  # Python's own words stay out


# --- add-shift refuses the past -------------------------------------------------------------


def test_add_shift_refuses_a_shift_in_the_past(cli: Cli, riverside: str, db: Session) -> None:
    yesterday = (clock.now() - timedelta(days=1)).strftime("%Y-%m-%dT09:00")
    later = (clock.now() - timedelta(days=1)).strftime("%Y-%m-%dT12:00")
    line = one_line_error(
        cli(
            "add-shift",
            "--community",
            riverside,
            "--title",
            "Sandbags",
            "--place",
            "Gym",
            "--starts",
            yesterday,
            "--ends",
            later,
            "--capacity",
            "3",
        )
    )
    assert "in the past" in line and yesterday in line
    assert db.scalar(select(func.count()).select_from(Shift)) == 0
    tomorrow = (clock.now() + timedelta(days=1)).strftime("%Y-%m-%dT09:00")
    ends = (clock.now() + timedelta(days=1)).strftime("%Y-%m-%dT12:00")
    ok = cli(
        "add-shift",
        "--community",
        riverside,
        "--title",
        "Sandbags",
        "--place",
        "Gym",
        "--starts",
        tomorrow,
        "--ends",
        ends,
        "--capacity",
        "3",
    )
    assert ok.exit_code == 0, ok.output


# --- add-need warns before a second need for the same item ------------------------------------

NEED = ("add-need", "--cycle-day", "saturday", "--quantity", "20", "--unit", "kg")


def need_count(db: Session) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(Need)) or 0)


def test_a_second_need_for_the_same_item_is_refused_when_piped(
    cli: Cli, riverside: str, db: Session
) -> None:
    assert cli(*NEED, "--community", riverside, "--item", "Rice").exit_code == 0
    line = one_line_error(cli(*NEED, "--community", riverside, "--item", " rice "))
    assert "the Saturday cycle already needs Rice: 20 kg" in line and "--yes" in line
    assert need_count(db) == 1
    # another item is no repeat
    assert cli(*NEED, "--community", riverside, "--item", "Beans").exit_code == 0
    assert need_count(db) == 2
    again = cli(*NEED, "--community", riverside, "--item", "Rice", "--yes")
    assert again.exit_code == 0, again.output
    assert need_count(db) == 3


@pytest.mark.parametrize(("answer", "added"), [("n\n", 0), ("y\n", 1)])
def test_a_second_need_is_asked_about_on_a_terminal(
    cli: Cli,
    riverside: str,
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    added: int,
) -> None:
    assert cli(*NEED, "--community", riverside, "--item", "Rice").exit_code == 0
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    monkeypatch.setattr("service.cli.donations.stdin_is_terminal", lambda: True)
    result = cli(*NEED, "--community", riverside, "--item", "RICE", input=answer)
    assert "Warning: the Saturday cycle already needs Rice: 20 kg" in result.stderr
    assert "Add a second need for it?" in result.stderr
    assert (result.exit_code == 0) == bool(added)
    assert need_count(db) == 1 + added


# --- create-coordinator: a password on a terminal ----------------------------------------------


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """stdin is a terminal; getpass answers from a script and records its prompts."""
    prompts: list[str] = []
    answers = iter(["correct horse battery", "correct horse battery"])

    def fake_getpass(prompt: str = "Password: ", stream: object = None) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    return prompts


def coordinator(db: Session, email: str) -> Coordinator:
    db.expire_all()
    return db.scalars(select(Coordinator).where(Coordinator.email == email)).one()


def test_create_coordinator_on_a_terminal_asks_twice_without_echo(
    cli: Cli, riverside: str, db: Session, terminal: list[str]
) -> None:
    args = ("create-coordinator", "--community", riverside, "--email", "ana@example.org")
    result = cli(*args, input="this line is not read\n")
    assert result.exit_code == 0, result.output
    assert len(terminal) == 2 and "again" in terminal[1]
    assert verify_password(coordinator(db, "ana@example.org"), "correct horse battery")


def test_two_different_passwords_change_nothing(
    cli: Cli, riverside: str, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["correct horse battery", "correct horse batterY"])
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="", stream=None: next(answers))
    args = ("create-coordinator", "--community", riverside, "--email", "ana@example.org")
    assert "differ" in one_line_error(cli(*args))
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Coordinator)) == 0


def test_a_piped_password_still_works(cli: Cli, riverside: str, db: Session) -> None:
    args = ("create-coordinator", "--community", riverside, "--email", "ben@example.org")
    assert cli(*args, input="piped password 123\n").exit_code == 0
    assert verify_password(coordinator(db, "ben@example.org"), "piped password 123")


# --- errors in our words -----------------------------------------------------------------------


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(
        main, list(args), env={"HANDSUP_ENV": "development", "DATABASE_URL": url, "REDIS_URL": None}
    )


def test_a_command_before_db_upgrade_says_so_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    for args in (["demo"], ["needs", "--community", "demo"], ["worker", "--burst"]):
        line = one_line_error(run(url, *args))
        assert "handsup db upgrade" in line, args
        assert "sqlalchemy" not in line.lower() and "no such table" not in line


def test_a_database_behind_this_version_says_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    first = sorted(migrate.script_revisions())[0]
    migrate.upgrade(url, first)
    line = one_line_error(run(url, "demo"))
    assert f"at revision {first}" in line and "handsup db upgrade" in line


def test_an_unreachable_database_is_one_line_in_our_words() -> None:
    line = one_line_error(run("postgresql://nobody@127.0.0.1:1/none", "demo"))
    assert "cannot use the database at DATABASE_URL (OperationalError)" in line
    assert "psycopg" not in line and "refused" not in line.lower()
    upgrade = one_line_error(run("postgresql://nobody@127.0.0.1:1/none", "db", "upgrade"))
    assert upgrade.startswith("Error: migration failed: cannot use the database")


def test_an_unknown_revision_is_named_in_our_words(cli: Cli) -> None:
    line = one_line_error(cli("db", "upgrade", "--revision", "nope"))
    assert "--revision 'nope' is not a revision" in line
    assert "Can't locate" not in line


# --- --help shows an example ------------------------------------------------------------------


@pytest.mark.parametrize("path", [path for path, _ in cli_commands(main)])
def test_every_command_help_shows_an_example(path: str) -> None:
    result = CliRunner().invoke(main, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    example = result.output.split("Example:", 1)
    assert len(example) == 2, result.output
    assert f"handsup {path}" in example[1]
