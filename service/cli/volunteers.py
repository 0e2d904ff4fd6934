"""Volunteer list commands: import and export volunteers as CSV.

May import ``service`` (never ``workers``) and click.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import BinaryIO, TextIO

import click

from service import clock
from service.cli.common import database
from service.communities.registry import find_community
from service.volunteers.import_export import (
    ImportFileError,
    decode_csv,
    export_volunteers,
    import_volunteers,
)

MAX_FILE_BYTES = 50 * 1024 * 1024  # far beyond any community's list; bounds the detection


@click.command("import-volunteers")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.argument("file", type=click.File("rb"))
def import_volunteers_cmd(slug: str, file: BinaryIO) -> None:
    """Import name,phone[,language,skills,availability] rows; the importer attests consent.

    The file may be UTF-8 (with or without a byte-order mark), UTF-16 or Windows-1252, as
    spreadsheets save it; the encoding is detected.

    \b
    Example:
      handsup import-volunteers --community riverside volunteers.csv
    """
    try:
        text, _encoding = decode_csv(file.read(MAX_FILE_BYTES))
    except ImportFileError as exc:
        raise click.ClickException(f"{file.name}: {exc}") from None
    with database() as session:
        community = find_community(session, slug)
        report = import_volunteers(
            session,
            community,
            io.StringIO(text, newline=""),
            source=f"import:{Path(file.name).name}",
            now=clock.now(),
        )
    click.echo(
        f"imported {report.created} new, updated {report.updated}, rejected {len(report.errors)}"
    )
    for error in report.errors:
        click.echo(str(error), err=True)
    if report.errors:
        sys.exit(1)


@click.command("export-volunteers")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option(
    "--out",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Output file (default: stdout).",
)
def export_volunteers_cmd(slug: str, out: TextIO) -> None:
    """Export volunteers as CSV, with status (active, paused, opted_out).

    \b
    Example:
      handsup export-volunteers --community riverside --out volunteers.csv
    """
    with database() as session:
        export_volunteers(session, find_community(session, slug), out)


COMMANDS: tuple[click.Command, ...] = (
    import_volunteers_cmd,
    export_volunteers_cmd,
)
